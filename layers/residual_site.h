// residual_site.h — the one interface every residual variant implements.
//
// A site wraps one sub-block F (an attention or a feed-forward sub-block;
// F begins with its own pre-norm). It takes the stream state
// x (B, T, n, C) and returns the next state of the same shape:
//
//   x_{l+1} = H_res · x_l + H_postᵀ · F(H_pre · x_l)        (mHC Eq. 3)
//
// with H_pre (1×n), H_post (1×n), H_res (n×n) per token. Rows of H_res are
// output streams: (H_res x)_i = Σ_j H_res[i,j] x_j. The three variants:
//   Residual                 n = 1, H_pre = H_post = H_res = 1: x + F(x)
//   HyperConnection          dynamic (or static) HC, unconstrained (Zhu et al.)
//   ManifoldHyperConnection  mHC: H_res projected by Sinkhorn-Knopp (Xie et al.)
// The model builds every sub-block through make_site(), so switching variant
// is one configuration value.
#pragma once
#include <functional>
#include <memory>
#include <string>

#include "layers/module.h"

namespace mhc {

// A sub-block F: (B, T, C) -> (B, T, C), pre-norm included.
using SubBlock = std::function<Tensor(const Tensor&)>;

enum class ResidualKind { Residual, HC, MHC };
inline constexpr EnumName<ResidualKind> kResidualKindNames[] = {
    {"residual", ResidualKind::Residual}, {"hc", ResidualKind::HC}, {"mhc", ResidualKind::MHC}};
ResidualKind parse_residual_kind(const std::string& name);  // "residual" | "hc" | "mhc"
std::string residual_kind_name(ResidualKind kind);

// How H_pre and H_post are made from their logits in mHC.
enum class PrePostGate {
  Sigmoid,  // the paper: H_pre = σ(H̃_pre), H_post = 2σ(H̃_post)
  Fixed,    // H_pre = H_post = 1 (an ablation; with n = 1 it is exactly the residual)
};
inline constexpr EnumName<PrePostGate> kPrePostGateNames[] = {{"sigmoid", PrePostGate::Sigmoid},
                                                              {"fixed", PrePostGate::Fixed}};

struct SiteConfig {
  ResidualKind kind = ResidualKind::Residual;
  int64_t streams = 1;  // n
  int64_t width = 0;    // C
  // HC
  bool hc_dynamic = true;    // false: static HC (no input-dependent terms)
  double scale_init = 0.01;  // s_α = s_β at init
  // mHC
  int sinkhorn_iters = 20;   // t_max
  double alpha_init = 0.01;  // α_pre = α_post = α_res at init
  // φ at init. Small random, so that the n streams can differ: with φ = 0
  // and b = 0 every stream gets the same coefficients, the replicated
  // streams stay identical forever (H_res and b_res get exactly zero
  // gradient) and mHC trains as a residual model. 0 gives exactly the
  // pre-norm residual at step 0 (used by the equivalence tests).
  double phi_init_std = 0.02;
  PrePostGate gate = PrePostGate::Sigmoid;
  // The fused site kernels (docs/design.md §6): Auto uses them where the backend
  // prefers (CUDA), On / Off force the choice (Off: the composed reference).
  enum class Fused { Auto, On, Off } fused = Fused::Auto;
  double norm_eps = 1e-6;
};
inline constexpr EnumName<SiteConfig::Fused> kFusedNames[] = {{"auto", SiteConfig::Fused::Auto},
                                                              {"on", SiteConfig::Fused::On},
                                                              {"off", SiteConfig::Fused::Off},
                                                              {"true", SiteConfig::Fused::On},
                                                              {"false", SiteConfig::Fused::Off}};  // aliases

class RecomputePlan;  // layers/recompute.h

class ResidualSite : public Module {
 public:
  // x: stream state (B, T, n, C) -> next stream state (B, T, n, C).
  virtual Tensor forward(const Tensor& x, const SubBlock& F) = 0;
  virtual int64_t streams() const = 0;

  // When recording is on, forward() keeps this site's per-token H_res of
  // the last call, detached, as (B, T, n, n) f32 — the input of amax_gain().
  void record_h_res(bool on) {
    recording_ = on;
    if (!on) last_h_res_ = Tensor();
  }
  const Tensor& last_h_res() const { return last_h_res_; }
  // When recording is on, forward() also measures how different its n input
  // streams are: per token, the variance across the streams relative to
  // their mean squared norm, Σ_i ‖x_i − x̄‖² / Σ_i ‖x_i‖² (0 when the streams
  // are identical, and for n = 1), averaged over tokens. The Amax gain cannot
  // see streams becoming alike; this can (tutorial 08).
  double last_stream_diversity() const { return last_diversity_; }
  // Selective recompute of the stream states (mHC with fused kernels only).
  void set_recompute(RecomputePlan* plan) { recompute_ = plan; }

 protected:
  void keep_h_res(const Tensor& h_res);         // (B, T, n, n)
  void keep_stream_diversity(const Tensor& x);  // x: the site's input (B, T, n, C)
  double last_diversity_ = 0;
  bool recording_ = false;
  Tensor last_h_res_;
  RecomputePlan* recompute_ = nullptr;
};

// site_index counts sites through the model (attention and FFN sub-blocks
// each have one); HC uses it to pick which stream a site reads at init.
std::unique_ptr<ResidualSite> make_site(const SiteConfig& config, int64_t site_index, Rng& rng);

// out[..., i, :] = Σ_j H[..., i, j] x[..., j, :]  — H (..., m, n), x (..., n, C) -> (..., m, C).
// The row convention of H_res, written once.
Tensor mix_streams(const Tensor& H, const Tensor& x);

}  // namespace mhc
