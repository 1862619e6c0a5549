// test_amax_gain.cpp — the stability metric on hand-made matrices, and on
// matrices recorded from real sites.
#include <algorithm>

#include "layers/amax_gain.h"
#include "layers/residual_site.h"
#include "test_helpers.h"

using namespace mhc;

namespace {
Tensor repeat_matrix(const std::vector<double>& m, int64_t n, int64_t tokens) {
  std::vector<double> v(m.size() * static_cast<size_t>(tokens));
  for (int64_t t = 0; t < tokens; ++t) std::copy(m.begin(), m.end(), v.begin() + t * static_cast<int64_t>(m.size()));
  return Tensor::from_vector(v, {tokens, n, n}, DType::f64);
}
}  // namespace

TEST_CASE("a permutation has gain 1 everywhere", "[amax]") {
  const std::vector<double> perm = {0, 1, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 1, 0};
  std::vector<Tensor> sites(5, repeat_matrix(perm, 4, 3));
  for (const SiteGain& g : amax_gain(sites)) {
    CHECK(g.forward == 1.0);
    CHECK(g.backward == 1.0);
    CHECK(g.composite_forward == 1.0);
    CHECK(g.composite_backward == 1.0);
    CHECK(g.min_row_sum == 1.0);
    CHECK(g.composite_min_col_sum == 1.0);
  }
}

TEST_CASE("L sites of 2·I compose to 2^L", "[amax]") {
  const int L = 6;
  const std::vector<double> two_i = {2, 0, 0, 2};
  std::vector<Tensor> sites(L, repeat_matrix(two_i, 2, 4));
  auto g = amax_gain(sites);
  for (int l = 0; l < L; ++l) {
    CHECK(g[l].forward == 2.0);
    CHECK(g[l].composite_forward == std::pow(2.0, L - l));  // site l to the output: L − l factors
    CHECK(g[l].composite_backward == std::pow(2.0, L - l));
  }
  CHECK(g[0].composite_forward == 64.0);
}

TEST_CASE("gains average the per-token max over tokens, and the minimum exposes attenuation", "[amax]") {
  // Token 0: diag(3, 1) -> max row sum 3, min 1. Token 1: diag(1, 0.5) -> max 1, min 0.5.
  Tensor h = Tensor::from_vector(std::vector<double>{3, 0, 0, 1, 1, 0, 0, 0.5}, {2, 2, 2}, DType::f64);
  auto g = amax_gain({h});
  CHECK(g[0].forward == Approx((3.0 + 1.0) / 2));
  CHECK(g[0].min_row_sum == Approx((1.0 + 0.5) / 2));
  // Negative entries: the gain takes absolute row sums.
  Tensor neg = Tensor::from_vector(std::vector<double>{-2, 0, 0, 1}, {1, 2, 2}, DType::f64);
  CHECK(amax_gain({neg})[0].forward == 2.0);
  CHECK(amax_gain({neg})[0].min_row_sum == -2.0);
}

TEST_CASE("products of Sinkhorn matrices stay within 1 + tolerance", "[amax]") {
  Rng rng(1);
  std::vector<Tensor> sites;
  // Enough iterations that the columns converge too (rows are exact after any number).
  for (int l = 0; l < 24; ++l) sites.push_back(sinkhorn(Tensor::randn({64, 4, 4}, rng, 1.0, DType::f64), 64));
  for (const SiteGain& g : amax_gain(sites)) {
    CHECK(g.composite_forward <= 1.0 + 1e-9);
    CHECK(g.composite_backward <= 1.0 + 1e-6);
    CHECK(g.composite_min_row_sum >= 1.0 - 1e-9);
    CHECK(g.composite_min_col_sum >= 1.0 - 1e-6);
  }
  // Whereas unconstrained positive matrices (HC-like) grow with depth.
  std::vector<Tensor> free_sites;
  for (int l = 0; l < 24; ++l) free_sites.push_back(exp(Tensor::randn({64, 4, 4}, rng, 0.5, DType::f64)) * 0.3);
  CHECK(amax_gain(free_sites)[0].composite_forward > 100.0);
}

TEST_CASE("mismatched token counts are rejected", "[amax]") {
  CHECK_THROWS_WITH(amax_gain({Tensor::zeros({3, 2, 2}), Tensor::zeros({4, 2, 2})}), Catch::Contains("site 1"));
}

TEST_CASE("the token means of H_l and of the composite P_l are kept for heat maps", "[amax]") {
  // Two sites, two tokens of 2×2 matrices: site 0 is I then the swap; site 1 is 2·I then I.
  const std::vector<double> s0 = {1, 0, 0, 1, 0, 1, 1, 0}, s1 = {2, 0, 0, 2, 1, 0, 0, 1};
  const std::vector<SiteGain> g =
      amax_gain({Tensor::from_vector(s0, {2, 2, 2}, DType::f64), Tensor::from_vector(s1, {2, 2, 2}, DType::f64)});
  REQUIRE(g[0].mean_h.size() == 4);
  CHECK(g[0].mean_h == std::vector<double>{0.5, 0.5, 0.5, 0.5});
  CHECK(g[1].mean_h == std::vector<double>{1.5, 0, 0, 1.5});
  CHECK(g[1].mean_composite == g[1].mean_h);  // the last site is its own composite
  // P_0 = H_1 · H_0: token 0 gives 2·I, token 1 the swap; their mean:
  CHECK(g[0].mean_composite == std::vector<double>{1, 0.5, 0.5, 1});
}
