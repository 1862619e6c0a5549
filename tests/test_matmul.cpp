// test_matmul.cpp — the BLAS path against the project's blocked reference
// loop, over orientations, batch strides, alpha/beta and awkward sizes.
#include <omp.h>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/cpu_threads.h"
#include "test_helpers.h"

using namespace mhc;

namespace {
template <class T>
std::vector<T> random_values(Rng& rng, int64_t n) {
  std::vector<T> v(n);
  for (auto& x : v) x = static_cast<T>(rng.normal());
  return v;
}

template <class T>
void compare_paths(int64_t batch, int64_t M, int64_t N, int64_t K, bool ta, bool tb, float alpha, float beta,
                   bool shared_b, Rng& rng) {
  const int64_t lda = ta ? M + 1 : K + 2, ldb = tb ? K + 3 : N + 1, ldc = N + 2;  // padded leading dims
  const int64_t a_rows = ta ? K : M, b_rows = tb ? N : K;
  const int64_t sa = a_rows * lda, sb = shared_b ? 0 : b_rows * ldb, sc = M * ldc;
  auto A = random_values<T>(rng, batch * sa);
  auto B = random_values<T>(rng, shared_b ? b_rows * ldb : batch * sb);
  auto C0 = random_values<T>(rng, batch * sc);
  auto C_ref = C0, C_blas = C0, C_dispatch = C0;
  GemmArgs g;
  g.dtype = std::is_same_v<T, float> ? DType::f32 : DType::f64;
  g.batch = batch;
  g.M = M;
  g.N = N;
  g.K = K;
  g.a = A.data();
  g.lda = lda;
  g.stride_a = sa;
  g.trans_a = ta;
  g.b = B.data();
  g.ldb = ldb;
  g.stride_b = sb;
  g.trans_b = tb;
  g.ldc = ldc;
  g.stride_c = sc;
  g.alpha = alpha;
  g.beta = beta;
  g.c = C_ref.data();
  cpu::gemm_reference(g);
  g.c = C_blas.data();
  cpu::gemm_blas(g);
  g.c = C_dispatch.data();
  backend_for(Device::cpu).gemm(g);
  const double tol = std::is_same_v<T, float> ? 1e-4 * std::sqrt(static_cast<double>(K) + 1) : 1e-11;
  double worst = 0, worst_d = 0;
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        const int64_t o = b * sc + i * ldc + j;
        worst = std::max(worst, std::abs(static_cast<double>(C_ref[o] - C_blas[o])));
        worst_d = std::max(worst_d, std::abs(static_cast<double>(C_ref[o] - C_dispatch[o])));
      }
  INFO("batch " << batch << " M " << M << " N " << N << " K " << K << " ta " << ta << " tb " << tb);
  CHECK(worst < tol);
  CHECK(worst_d < tol);
  // Padding between rows of C must be untouched.
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = N; j < ldc; ++j) CHECK(C_blas[b * sc + i * ldc + j] == C0[b * sc + i * ldc + j]);
}
}  // namespace

TEST_CASE("BLAS and the reference loop agree", "[matmul]") {
  Rng rng(21);
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      compare_paths<float>(1, 37, 29, 41, ta, tb, 1.f, 0.f, false, rng);
      compare_paths<double>(1, 5, 300, 130, ta, tb, 0.5f, 1.f, false, rng);  // crosses the N and K blocks
      compare_paths<float>(3, 70, 9, 200, ta, tb, 1.f, 0.5f, false, rng);    // crosses the M block
      compare_paths<float>(6, 4, 16, 4, ta, tb, 1.f, 0.f, true, rng);        // tiny batched: own-loop path
      compare_paths<double>(2, 1, 1, 1, ta, tb, 2.f, 0.f, false, rng);
      // Large enough to be split over threads, by rows (M ≥ N) and by columns.
      compare_paths<float>(1, 300, 127, 65, ta, tb, 1.f, 0.f, false, rng);
      compare_paths<float>(1, 127, 129, 65, ta, tb, 0.5f, 1.5f, false, rng);
    }
}

TEST_CASE("beta = 0 ignores NaN in the output buffer", "[matmul]") {
  std::vector<float> A{1, 2, 3, 4}, B{1, 0, 0, 1}, C(4, std::nanf(""));
  GemmArgs g;
  g.M = g.N = g.K = 2;
  g.a = A.data();
  g.lda = 2;
  g.b = B.data();
  g.ldb = 2;
  g.c = C.data();
  g.ldc = 2;
  cpu::gemm_reference(g);
  CHECK(C == std::vector<float>{1, 2, 3, 4});
}

TEST_CASE("matmul op matches a naive triple loop", "[matmul]") {
  Rng rng(22);
  Tensor a = Tensor::randn({2, 3, 5}, rng), b = Tensor::randn({2, 5, 4}, rng);
  Tensor c = matmul(a, b);
  auto va = a.to_vector<float>(), vb = b.to_vector<float>(), vc = c.to_vector<float>();
  for (int n = 0; n < 2; ++n)
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 4; ++j) {
        double s = 0;
        for (int k = 0; k < 5; ++k) s += va[n * 15 + i * 5 + k] * vb[n * 20 + k * 4 + j];
        CHECK(vc[n * 12 + i * 4 + j] == Approx(s).margin(1e-5));
      }
}

// ---- CPU threads follow the machine's load (kernels/cpu/cpu_threads.h) ----------------------

TEST_CASE("cpu threads: as many as there are free cores, never fewer than one", "[threads]") {
  using mhc::threads_for_load;
  CHECK(threads_for_load(2, 2, 0.0) == 2);     // idle machine
  CHECK(threads_for_load(2, 2, 0.05) == 2);    // background noise
  CHECK(threads_for_load(2, 2, 0.67) == 1);    // one busy program sharing 2 cores with our 2 threads
  CHECK(threads_for_load(2, 2, 1.0) == 1);     // one busy program next to our 1 thread
  CHECK(threads_for_load(2, 2, 3.0) == 1);     // overloaded: still 1
  CHECK(threads_for_load(16, 16, 4.2) == 12);  // 0.2 of a core busy still counts as free
  CHECK(threads_for_load(16, 8, 4.0) == 8);    // 12 free cores, but at most the initial 8 threads
  CHECK(threads_for_load(16, 8, 10.0) == 6);
  CHECK(threads_for_load(4, 4, -0.1) == 4);  // measurement jitter below zero
}

TEST_CASE("cpu threads: busy time is read from the allowed CPUs' lines of /proc/stat", "[threads]") {
  const std::string stat =
      "cpu  500 0 300 9000 10 0 0 0 0 0\n"
      "cpu0 100 10 50 4000 5 3 2 1 0 0\n"
      "cpu1 400 0 250 5000 5 0 0 0 0 0\n"
      "intr 12345\n";
  int cpus = 0;
  // cpu0: user + nice + system + irq + softirq + steal = 100 + 10 + 50 + 3 + 2 + 1; idle and iowait are not busy.
  CHECK(mhc::busy_seconds_in_proc_stat(
            stat, [](int c) { return c == 0; }, 100.0, &cpus) == Approx(1.66));
  CHECK(cpus == 1);
  CHECK(mhc::busy_seconds_in_proc_stat(
            stat, [](int) { return true; }, 100.0, &cpus) == Approx(1.66 + 6.5));
  CHECK(cpus == 2);
  // Without nice time (a lower-priority program yields its core to ours): cpu0 loses its 10 ticks.
  CHECK(mhc::busy_seconds_in_proc_stat(
            stat, [](int c) { return c == 0; }, 100.0, &cpus, false) == Approx(1.56));
}

TEST_CASE("cpu threads: results do not depend on the thread count the load picks", "[threads]") {
  // The adaptation is safe only because every CPU kernel adds in a fixed
  // order: the same product at 1 and 2 threads is bit-identical.
  mhc::Rng rng(3);
  const int64_t M = 37, K = 53, N = 29;
  mhc::Tensor a = mhc::Tensor::randn({M, K}, rng), b = mhc::Tensor::randn({K, N}, rng);
  omp_set_num_threads(1);
  const std::vector<float> one = mhc::matmul(a, b).to_vector<float>();
  omp_set_num_threads(2);
  const std::vector<float> two = mhc::matmul(a, b).to_vector<float>();
  CHECK(one == two);
}
