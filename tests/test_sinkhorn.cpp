// test_sinkhorn.cpp — Sinkhorn-Knopp (mHC Eq. 9): what the projection
// guarantees, its numerical safety, and its exact backward.
#include "test_helpers.h"

#include "kernels/cpu/sinkhorn_reference.h"

using namespace mhc;
using mhc::test::leaf;
using mhc::test::require_gradcheck;

namespace {
// Max |row sum − 1| and max |column sum − 1| over all matrices of P (M, n, n).
std::pair<double, double> sum_errors(const Tensor& P) {
  const int64_t n = P.size(-1), M = P.numel() / (n * n);
  auto v = P.to_vector<double>();
  double row_err = 0, col_err = 0;
  for (int64_t m = 0; m < M; ++m)
    for (int64_t i = 0; i < n; ++i) {
      double r = 0, c = 0;
      for (int64_t j = 0; j < n; ++j) {
        r += v[m * n * n + i * n + j];
        c += v[m * n * n + j * n + i];
      }
      row_err = std::max(row_err, std::abs(r - 1));
      col_err = std::max(col_err, std::abs(c - 1));
    }
  return {row_err, col_err};
}
}  // namespace

TEST_CASE("rows sum to 1 to rounding: rows are normalised last", "[sinkhorn]") {
  Rng rng(1);
  for (int n : {2, 4, 8}) {
    Tensor L32 = Tensor::randn({64, n, n}, rng, 2.0);
    CHECK(sum_errors(sinkhorn(L32, 20)).first < 1e-6);
    CHECK(sum_errors(sinkhorn(L32, 3)).first < 1e-6);
    Tensor L64 = L32.to(DType::f64);
    CHECK(sum_errors(sinkhorn(L64, 20)).first < 1e-14);
  }
}

TEST_CASE("column error shrinks as the iterations grow", "[sinkhorn]") {
  Rng rng(2);
  Tensor L = Tensor::randn({32, 4, 4}, rng, 1.5, DType::f64);
  double previous = 1e9;
  std::vector<double> errs;
  for (int t = 1; t <= 20; ++t) {
    const double err = sum_errors(sinkhorn(L, t)).second;
    errs.push_back(err);
    CHECK(err <= previous + 1e-15);
    previous = err;
  }
  CHECK(errs.back() < 1e-3 * errs.front());
}

TEST_CASE("a 1x1 matrix projects to exactly 1", "[sinkhorn]") {
  Tensor L = Tensor::from_vector(std::vector<double>{-3.0, 0.0, 42.0}, {3, 1, 1});
  CHECK(sinkhorn(L, 20).to_vector<float>() == std::vector<float>{1.f, 1.f, 1.f});
  CHECK(sinkhorn(L, 1).to_vector<float>() == std::vector<float>{1.f, 1.f, 1.f});
  // Zero iterations is no projection at all (and exp(L − max L) would depend on the shift): refused.
  CHECK_THROWS_WITH(sinkhorn(L, 0), Catch::Contains("at least 1 iteration"));
}

TEST_CASE("adding a constant to every logit changes nothing", "[sinkhorn]") {
  Rng rng(3);
  Tensor L = Tensor::randn({16, 4, 4}, rng, 1.0, DType::f64);
  Tensor P = sinkhorn(L, 20);
  for (double c : {-50.0, 7.5, 300.0}) CHECK(mhc::test::max_abs_diff(P, sinkhorn(L + c, 20)) < 1e-12);
}

TEST_CASE("huge logits stay finite (the max shift and floor before exp)", "[sinkhorn]") {
  Rng rng(4);
  std::vector<float> v(8 * 4 * 4);
  for (auto& x : v) x = rng.uniform() < 0.5 ? -80.f : 80.f;
  v[0] = 1000.f;
  v[17] = -1000.f;
  Tensor P = sinkhorn(Tensor::from_vector(v, {8, 4, 4}), 20);
  for (float x : P.to_vector<float>()) {
    CHECK(std::isfinite(x));
    CHECK(x >= 0.f);
  }
  CHECK(sum_errors(P).first < 1e-5);
  // And the gradient is finite too.
  Tensor Lg = Tensor::from_vector(v, {8, 4, 4}).set_requires_grad(true);
  sum(square(sinkhorn(Lg, 20))).backward();
  for (float g : Lg.grad().to_vector<float>()) CHECK(std::isfinite(g));
}

TEST_CASE("uniform logits give J/n exactly (the mHC init)", "[sinkhorn]") {
  for (int n : {2, 4, 8}) {
    Tensor P = sinkhorn(Tensor::zeros({3, n, n}), 20);
    for (float x : P.to_vector<float>()) CHECK(x == 1.f / n);
  }
}

TEST_CASE("backward matches f64 finite differences for n = 2, 4, 8 and t_max = 1, 5, 20", "[sinkhorn][gradcheck]") {
  Rng rng(5);
  for (int n : {2, 4, 8})
    for (int iters : {1, 5, 20}) {
      Tensor L = leaf({3, n, n}, rng);
      INFO("n = " << n << ", t_max = " << iters);
      require_gradcheck([iters](auto& in) { return sinkhorn(in[0], iters); }, {L}, 1e-6);
    }
}

// The tuned kernel (kernels/cpu/sinkhorn.cpp: tiles of 16 matrices, lane-major,
// vectorised) against the plain loops of kernels/cpu/sinkhorn_reference.cpp.
// f64 forward: bit-identical — both take the same max, call std::exp on the
// same floored shift, add each sum over j = 0…n−1 in order and multiply by 1/s;
// none of those steps can be contracted into an FMA, so nothing may differ.
// f32 forward: within f32 rounding (the tuned f32 path uses exp_fast, ≤ 2 ulp).
// f64 backward: to 1e-13 of the gradient's scale (f32: 2e-5) — the reference divides by
// s where the kernel multiplies by 1/s, and the compiler may fuse the dot
// products' multiply-adds in either.
TEST_CASE("the tuned CPU kernel equals the plain scalar reference", "[sinkhorn][reference]") {
  Backend& cpu = backend_for(Device::cpu);
  Rng rng(6);
  const int64_t M = 37;  // two full tiles of 16 and a partial one
  for (int64_t n = 1; n <= 8; ++n)
    for (int iters : {1, 5, 20})
      for (double scale : {1.0, 10.0}) {
        INFO("n = " << n << ", t_max = " << iters << ", logit std " << scale);
        std::vector<double> L(M * n * n), G(M * n * n);
        for (auto& x : L) x = scale * rng.normal();
        for (auto& g : G) g = rng.normal();
        L[1 % L.size()] = -200.0;  // one entry under the exp floor
        const std::vector<double> P_ref = cpu::sinkhorn_reference(L, n, iters);

        std::vector<double> P(L.size());
        cpu.sinkhorn(DType::f64, L.data(), P.data(), M, n, iters);
        CHECK(P == P_ref);

        std::vector<float> L32(L.begin(), L.end()), P32(L.size());
        cpu.sinkhorn(DType::f32, L32.data(), P32.data(), M, n, iters);
        double err32 = 0;
        for (size_t i = 0; i < P.size(); ++i) err32 = std::max(err32, std::abs(P32[i] - P_ref[i]));
        CHECK(err32 < 2e-6);

        const std::vector<double> GL_ref = cpu::sinkhorn_reference_backward(L, G, n, iters);
        std::vector<double> GL(L.size());
        cpu.sinkhorn_backward(DType::f64, L.data(), G.data(), GL.data(), M, n, iters);
        double err = 0, size = 0;
        for (size_t i = 0; i < GL.size(); ++i) {
          err = std::max(err, std::abs(GL[i] - GL_ref[i]));
          size = std::max(size, std::abs(GL_ref[i]));
        }
        CHECK(err <= 1e-13 * size);
        if (n > 1) CHECK(GL_ref[1] == 0.0);  // the floored entry gets no gradient

        std::vector<float> G32(G.begin(), G.end()), GL32(L.size());
        cpu.sinkhorn_backward(DType::f32, L32.data(), G32.data(), GL32.data(), M, n, iters);
        double err_b32 = 0;
        for (size_t i = 0; i < GL.size(); ++i) err_b32 = std::max(err_b32, std::abs(GL32[i] - GL_ref[i]));
        CHECK(err_b32 <= 2e-5 * size);
      }
  // The reference refuses what the kernels refuse, and ragged input.
  CHECK_THROWS_WITH(cpu::sinkhorn_reference(std::vector<double>(9), 3, 0), Catch::Contains("at least 1 iteration"));
  CHECK_THROWS_WITH(cpu::sinkhorn_reference(std::vector<double>(10), 3, 20), Catch::Contains("whole number"));
}
