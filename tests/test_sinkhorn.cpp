// test_sinkhorn.cpp — Sinkhorn-Knopp (mHC Eq. 9): what the projection
// guarantees, its numerical safety, and its exact backward.
#include "test_helpers.h"

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
