// hyper_connection.h — Hyper-Connections (Zhu et al., arXiv 2409.19606,
// Eq. 10–14), dynamic or static. Per token, with x̄ = RMSNorm(x) per stream:
//
//   A_m(x) = s_α · tanh(x̄ W_m) + A_m       (n×1)   H_pre  = A_mᵀ
//   A_r(x) = s_α · tanh(x̄ W_r) + A_r       (n×n)   H_res  = A_rᵀ
//   B(x)   = s_β · tanh(x̄ W_β)ᵀ + B        (1×n)   H_post = B
//
// Row j of A_r comes from stream j's features and says where stream j's
// content goes, hence H_res = A_rᵀ in the row convention of residual_site.h.
// Init (docs/design.md §3): W = 0, s_α = s_β = 0.01, A_m = e_{k mod n} (site k reads
// stream k mod n), A_r = I, B = 1 — a pre-norm transformer at step 0.
// Nothing constrains H_res: the product over depth can grow without bound,
// which is the instability mHC removes. As in mHC, the coefficient path
// (norm statistic, projections, tanh, A_m, A_r, B, and their gradients) is
// f32 even when the streams are bf16; the mixes round once, to the streams.
#pragma once
#include "layers/residual_site.h"

namespace mhc {

class HyperConnection : public ResidualSite {
 public:
  HyperConnection(const SiteConfig& config, int64_t site_index, Rng& rng);
  Tensor forward(const Tensor& x, const SubBlock& F) override;  // x (B, T, n, C)
  int64_t streams() const override { return n_; }

  // The dynamic projections side by side: columns [W_m | W_β | W_r (n)].
  Tensor W;         // (C, n + 2), zero at init (dynamic HC only)
  Tensor s_alpha;   // (1)
  Tensor s_beta;    // (1)
  Tensor A_m;       // (n)      static part of A_m
  Tensor A_r;       // (n, n)   static part of A_r
  Tensor B_static;  // (n)      static part of B

 private:
  int64_t n_, C_;
  bool dynamic_;
  double eps_;
};

}  // namespace mhc
