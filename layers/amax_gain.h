// amax_gain.h — the stability metric of mHC §3 (Fig. 3, 7, 8; docs/design.md §5).
//
// For the per-token residual mixing matrices H_res of L sites, and for each
// site l, two matrices per token: the site's own H_l and the composite
// P_l = H_{L−1} ⋯ H_{l+1} H_l (from site l to the output).
//   forward gain  = max_i |Σ_j P[i,j]|   (largest absolute row sum)
//   backward gain = max_j |Σ_i P[i,j]|   (largest absolute column sum)
// Each is taken per token first (the max), then averaged over tokens.
// The smallest row and column sums are reported too (averaged the same
// way), since the max alone hides attenuation. For a doubly stochastic H
// all four are 1; HC's unconstrained H can make the composite explode.
// The token means of H_l and P_l (n × n, row-major) are kept for heat maps
// (the analogue of the paper's Fig. 8).
#pragma once
#include <vector>

#include "autograd/tensor.h"

namespace mhc {

struct SiteGain {
  double forward = 0, backward = 0;  // single site
  double min_row_sum = 0, min_col_sum = 0;
  double composite_forward = 0, composite_backward = 0;  // site l to the output
  double composite_min_row_sum = 0, composite_min_col_sum = 0;
  std::vector<double> mean_h, mean_composite;  // (n, n): H_l and P_l averaged over tokens
};

// h_res[l]: site l's matrices, (..., n, n), the same number of tokens for
// every site (e.g. (B, T, n, n) from ResidualSite::last_h_res()).
std::vector<SiteGain> amax_gain(const std::vector<Tensor>& h_res);

}  // namespace mhc
