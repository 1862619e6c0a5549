// manifold_hyper_connection.h — mHC (Xie et al., arXiv 2512.24880, Eq. 7–9;
// docs/design.md §4). Per token and site, with x (n×C) the stream state:
//
//   v  = RMSNorm(vec x)                          over all nC values (Eq. 7)
//   H̃_pre  = α_pre  · (v φ_pre)  + b_pre         (1×n)
//   H̃_post = α_post · (v φ_post) + b_post        (1×n)
//   H̃_res  = α_res  · mat(v φ_res) + b_res       (n×n, row-major)   (Eq. 8)
//   H_pre = σ(H̃_pre),  H_post = 2σ(H̃_post),  H_res = SinkhornKnopp(H̃_res)  (Eq. 8–9)
//   x_{l+1} = H_res x + H_postᵀ F(H_pre x)                               (Eq. 3)
//
// φ = [φ_pre | φ_post | φ_res] is one (nC, 2n + n²) projection. The norm has
// no learnable scale: it would fold into φ (the paper folds it, Eq. 14–16).
// The whole coefficient path (norm, projection, σ, Sinkhorn) runs in f32
// even when the streams are bf16. Init: φ ~ N(0, 0.02²) (φ = 0 is allowed,
// but keeps the streams identical), α = 0.01, b = 0, so H_pre ≈ ½,
// H_post ≈ 1, H_res ≈ J/n (exactly, with φ = 0): with replicated streams the
// model is a pre-norm transformer at step 0 to within φ's noise.
#pragma once
#include "layers/residual_site.h"

namespace mhc {

class ManifoldHyperConnection : public ResidualSite {
 public:
  ManifoldHyperConnection(const SiteConfig& config, Rng& rng);
  // x (B, T, n, C). The fused kernels (ops_mhc.h) or the composed reference
  // below, per SiteConfig::fused; both compute the same function.
  Tensor forward(const Tensor& x, const SubBlock& F) override;
  int64_t streams() const override { return n_; }

  Tensor phi;                               // (nC, 2n + n²)
  Tensor alpha_pre, alpha_post, alpha_res;  // (1) each
  Tensor b_pre, b_post;                     // (n)
  Tensor b_res;                             // (n, n)

 private:
  Tensor forward_fused(const Tensor& x, const SubBlock& F);
  int64_t n_, C_;
  int iters_;
  PrePostGate gate_;
  SiteConfig::Fused fused_;
  double eps_;
};

}  // namespace mhc
