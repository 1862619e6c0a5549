// moe.cpp — routing, dropless dispatch and combine; see the header.
#include "layers/moe.h"

#include <stdexcept>

#include "autograd/ops.h"
#include "autograd/tape.h"
#include "layers/dropout_seeds.h"

namespace mhc {

MoeFeedForward::MoeFeedForward(int64_t width, const MoeConfig& c, double dropout, double init_std, double out_init_std,
                               Rng& rng)
    : router(width, c.routed, false, init_std, rng), cfg_(c), C_(width), dropout_(dropout), load_(c.routed, 0) {
  if (c.routed < 1) throw std::invalid_argument("MoE: needs at least one routed expert");
  if (c.top_k < 1 || c.top_k > c.routed)
    throw std::invalid_argument("MoE: top-k " + std::to_string(c.top_k) + " must be between 1 and the " +
                                std::to_string(c.routed) + " routed experts");
  if (c.hidden < 1) throw std::invalid_argument("MoE: expert hidden size must be positive");
  bias = Tensor::zeros({c.routed});
  register_child("router", &router);
  register_buffer("router_bias", &bias);
  for (int64_t i = 0; i < c.shared; ++i) {
    shared.push_back(std::make_unique<FeedForward>(width, c.hidden, FfnType::SwiGLU, 0.0, init_std, out_init_std, rng));
    register_child("shared." + std::to_string(i), shared.back().get());
  }
  for (int64_t e = 0; e < c.routed; ++e) {
    experts.push_back(
        std::make_unique<FeedForward>(width, c.hidden, FfnType::SwiGLU, 0.0, init_std, out_init_std, rng));
    register_child("experts." + std::to_string(e), experts.back().get());
  }
}

Tensor MoeFeedForward::forward(const Tensor& x) {
  const int64_t B = x.size(0), T = x.size(1), N = B * T, E = cfg_.routed, k = cfg_.top_k;
  const DType dt = x.dtype();
  Tensor xf = x.reshape({N, C_});  // (N, C)
  // Router, in f32 (f64 stays f64 for gradient checks).
  const DType rt = dt == DType::f64 ? DType::f64 : DType::f32;
  Tensor logits = router.forward(xf.to(rt));                                              // (N, E)
  Tensor s = cfg_.router == RouterKind::Softmax ? softmax(logits, -1) : sigmoid(logits);  // (N, E)
  Tensor chosen;                                                                          // (N, k) i32
  {
    NoGradGuard no_grad;  // selection uses s + b; no gradient flows through the choice
    chosen = topk(s.detach() + bias.to(s.dtype()), k).second;
  }
  Tensor g = gather_last(s, chosen);  // (N, k) unbiased scores
  if (cfg_.router == RouterKind::Sigmoid) g = g / sum(g, {-1}, true);

  // Dropless dispatch: group assignments by expert, run each expert on its tokens.
  MoePlan plan = moe_dispatch(chosen, E);
  Tensor g_flat = g.reshape({N * k, 1});
  std::vector<Tensor> outputs;
  for (int64_t e = 0; e < E; ++e) {
    const int64_t lo = plan.offsets[e], hi = plan.offsets[e + 1];
    if (training()) load_[e] += hi - lo;
    if (hi == lo) continue;
    Tensor tokens = plan.token.slice(0, lo, hi);
    Tensor ye = experts[e]->forward(index_select(xf, 0, tokens));             // (count, C)
    Tensor ge = index_select(g_flat, 0, plan.order.slice(0, lo, hi)).to(dt);  // (count, 1)
    outputs.push_back(ye * ge);
  }
  Tensor out = index_add(Tensor::zeros({N, C_}, dt, x.device()), 0, plan.token, concat(outputs, 0));
  for (auto& expert : shared) out = out + expert->forward(xf);

  // Optional auxiliary losses.
  aux_loss_ = Tensor();
  if (cfg_.aux_loss > 0) {
    // Switch: N_r Σ_e f_e P_e, f_e = share of assignments, P_e = mean router probability.
    std::vector<double> f(E);
    for (int64_t e = 0; e < E; ++e)
      f[e] = static_cast<double>(plan.offsets[e + 1] - plan.offsets[e]) / static_cast<double>(N * k);
    Tensor P = mean(s, {0});
    Tensor fe = Tensor::from_vector(f, {E}, P.dtype(), P.device());
    aux_loss_ = sum(fe * P) * (static_cast<double>(E) * cfg_.aux_loss);
  }
  if (cfg_.z_loss > 0) {
    // z-loss: mean over tokens of logsumexp(logits)², with lse = l_0 − log_softmax(l)_0.
    Tensor lse = logits.select(-1, 0) - log_softmax(logits, -1).select(-1, 0);
    Tensor z = mean(square(lse)) * cfg_.z_loss;
    aux_loss_ = aux_loss_.defined() ? aux_loss_ + z : z;
  }
  Tensor y = out.reshape({B, T, C_});
  return training() && dropout_ > 0 ? dropout(y, dropout_, DropoutSeeds::next()) : y;
}

void MoeFeedForward::reset_load() { std::fill(load_.begin(), load_.end(), 0); }

void MoeFeedForward::set_load(std::vector<int64_t> load) {
  if (load.size() != load_.size())
    throw std::invalid_argument("MoeFeedForward::set_load: " + std::to_string(load.size()) + " counts for " +
                                std::to_string(load_.size()) + " experts");
  load_ = std::move(load);
}

void MoeFeedForward::update_bias() {
  last_step_load_ = load_;
  if (!cfg_.bias_balance) {
    reset_load();
    return;
  }
  const int64_t E = cfg_.routed;
  double mean_load = 0;
  for (int64_t l : load_) mean_load += static_cast<double>(l);
  mean_load /= static_cast<double>(E);
  std::vector<double> delta(E);
  for (int64_t e = 0; e < E; ++e) {
    const double diff = mean_load - static_cast<double>(load_[e]);
    delta[e] = cfg_.bias_rate * (diff > 0 ? 1.0 : (diff < 0 ? -1.0 : 0.0));
  }
  NoGradGuard no_grad;
  add_(bias, Tensor::from_vector(delta, {E}, bias.dtype(), bias.device()));
  reset_load();
}

}  // namespace mhc
