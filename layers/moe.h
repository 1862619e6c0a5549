// moe.h — the mixture-of-experts feed-forward (DeepSeekMoE / DeepSeek-V3;
// docs/design.md §7), without its pre-norm:
//
//   out(x) = Σ_{shared i} E_i(x) + Σ_{e ∈ TopK(s + b)} g_e · E_e(x)
//
// Experts are SwiGLU MLPs. The router scores s = softmax(x W_g) (or σ(x W_g))
// pick the top-k experts of s + b, where b is a per-expert bias that is not
// trained by gradient but nudged after every step toward balanced load
// (aux-loss-free balancing: b_e += γ · sign(mean load − load_e)). The combine
// weights g use the unbiased scores of the selected experts (renormalised to
// sum 1 for the sigmoid router). Dispatch is dropless: every assignment is
// computed. Optional Switch-style auxiliary loss N_r Σ f_e P_e and router
// z-loss, each with its own weight (off by default).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "layers/feedforward.h"

namespace mhc {

enum class RouterKind { Softmax, Sigmoid };
inline constexpr EnumName<RouterKind> kRouterKindNames[] = {{"softmax", RouterKind::Softmax},
                                                            {"sigmoid", RouterKind::Sigmoid}};

struct MoeConfig {
  int64_t routed = 8;  // N_r
  int64_t top_k = 2;
  int64_t shared = 1;  // K_s
  int64_t hidden = 0;  // 0: chosen by the model config
  RouterKind router = RouterKind::Softmax;
  bool bias_balance = true;  // aux-loss-free balancing
  double bias_rate = 1e-3;   // γ
  double aux_loss = 0;       // Switch loss weight
  double z_loss = 0;         // router z-loss weight
};

class MoeFeedForward : public Module {
 public:
  MoeFeedForward(int64_t width, const MoeConfig& config, double dropout, double init_std, double out_init_std,
                 Rng& rng);
  Tensor forward(const Tensor& x);  // (B, T, C) -> (B, T, C)

  // The auxiliary losses of the last forward (scalar, recorded), undefined when both weights are 0.
  const Tensor& aux_loss() const { return aux_loss_; }
  // Assignments per expert summed over training-mode forwards since the
  // last update_bias() (or reset_load()); evaluation does not count.
  const std::vector<int64_t>& load() const { return load_; }
  // The load the last update_bias() balanced against (what the trainer logs).
  const std::vector<int64_t>& last_step_load() const { return last_step_load_; }
  void reset_load();
  // Replaces the counted load (data-parallel training: with its sum over all ranks, before update_bias()).
  void set_load(std::vector<int64_t> load);
  // b_e += γ · sign(mean load − load_e), then resets the load. Only the reset when balancing is off.
  void update_bias();

  Linear router;                                      // (C, N_r), f32
  Tensor bias;                                        // (N_r) f32 buffer: selection only
  std::vector<std::unique_ptr<FeedForward>> experts;  // N_r routed
  std::vector<std::unique_ptr<FeedForward>> shared;   // K_s always on

 private:
  MoeConfig cfg_;
  int64_t C_;
  double dropout_;
  std::vector<int64_t> load_, last_step_load_;
  Tensor aux_loss_;
};

}  // namespace mhc
