// bench/matmul.cpp — GFLOP/s of the BLAS path and of the project's blocked
// reference loop on this machine, at the shapes a small model uses, with the
// BLAS / reference ratio measured in the same run.
#include <fmt/core.h>
#include <omp.h>

#include <vector>

#include "autograd/random.h"
#include "bench/bench_util.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/cpu_threads.h"

using namespace mhc;

int main() {
  mhc::adapt_cpu_threads_to_load(true);
  const double sgemm_gflops = bench::print_blas_header();  // the BLAS in use, and this CPU's rate now
  (void)sgemm_gflops;
  fmt::print("matmul on the CPU ({} OpenMP threads), f32, C = A·B\n", omp_get_max_threads());
  fmt::print("{:>22} {:>12} {:>12} {:>10}\n", "M x N x K", "BLAS GF/s", "ref GF/s", "BLAS/ref");
  struct Case {
    int64_t M, N, K;
  };
  const std::vector<Case> cases = {{768, 128, 128}, {768, 512, 128}, {768, 128, 512},
                                   {768, 65, 128},  {256, 256, 256}, {1024, 1024, 1024}};
  Rng rng(1);
  for (const Case& c : cases) {
    std::vector<float> A(c.M * c.K), B(c.K * c.N), C(c.M * c.N);
    for (auto& v : A) v = static_cast<float>(rng.normal());
    for (auto& v : B) v = static_cast<float>(rng.normal());
    GemmArgs g;
    g.M = c.M;
    g.N = c.N;
    g.K = c.K;
    g.a = A.data();
    g.lda = c.K;
    g.b = B.data();
    g.ldb = c.N;
    g.c = C.data();
    g.ldc = c.N;
    const double flops = 2.0 * c.M * c.N * c.K;
    const int reps = flops > 1e9 ? 5 : 30;
    const double t_blas = bench::median_ms([&] { cpu::gemm_blas(g); }, reps);
    const double t_ref = bench::median_ms([&] { cpu::gemm_reference(g); }, reps);
    fmt::print("{:>22} {:>12.1f} {:>12.1f} {:>9.1f}x\n", fmt::format("{} x {} x {}", c.M, c.N, c.K),
               flops / t_blas / 1e6, flops / t_ref / 1e6, t_ref / t_blas);
  }
  return 0;
}
