// expert_balancing.cpp — tutorial 04: the MoE feed-forward of layers/moe.h
// (DeepSeekMoE / DeepSeek-V3, docs/design.md §7) on a deliberately skewed router.
// It shows one token's routing (scores, bias, top-k, combine weights), the
// dropless dispatch plan, aux-loss-free bias balancing pulling the per-expert
// load toward uniform, and that the combine weights ignore the bias. It exits
// non-zero when balancing did not even out the load or the output does not
// match a dense reference. Each part's number is the section of README.md
// that shows its output (ctest checks those blocks, tutorials/README.md).
#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>

#include "autograd/ops.h"
#include "autograd/tape.h"
#include "layers/moe.h"

using namespace mhc;

namespace {

constexpr int64_t kWidth = 16;  // C
constexpr int64_t kRouted = 8;  // N_r
constexpr int64_t kTopK = 2;
constexpr int64_t kExpertHidden = 16;     // H
constexpr int64_t kBatch = 4, kSeq = 64;  // 256 tokens per step
constexpr int kSteps = 600;

void expect(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("tutorial check failed: ") + what);
}

double max_over_min(const std::vector<int64_t>& load) {
  const auto [lo, hi] = std::minmax_element(load.begin(), load.end());
  return *lo == 0 ? std::numeric_limits<double>::infinity() : static_cast<double>(*hi) / static_cast<double>(*lo);
}

// The k experts with the largest score[e] + bias[e] (ties: lower index first, like topk).
std::vector<int> top_k(const double* score, const std::vector<double>& bias, int64_t k) {
  std::vector<int> order(kRouted);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return score[a] + bias[a] > score[b] + bias[b]; });
  order.resize(k);
  return order;
}

// A batch of inputs whose features have mean +0.5: with the router below,
// such tokens all prefer experts 0 and 1.
Tensor skewed_batch(Rng& rng) { return Tensor::randn({kBatch, kSeq, kWidth}, rng) + 0.5; }  // (B, T, C)

// The layer of this page: 8 routed experts, top-2, one shared expert, a
// softmax router (made skewed by skew_router) with bias balancing.
MoeConfig moe_config() {
  MoeConfig cfg;
  cfg.routed = kRouted;
  cfg.top_k = kTopK;
  cfg.shared = 1;
  cfg.hidden = kExpertHidden;
  cfg.router = RouterKind::Softmax;
  cfg.bias_balance = true;
  cfg.bias_rate = 0.005;  // γ (the trainer's default is 1e-3; larger here so a few hundred steps suffice)
  cfg.aux_loss = 1.0;     // weight 1: we only read the Switch loss as a meter, nothing is differentiated
  return cfg;
}

// A skewed router W_g (C, N_r): every input feature pushes toward experts 0 and 1.
void skew_router(MoeFeedForward& moe, Rng& rng) {
  std::vector<double> w(kWidth * kRouted);
  for (int64_t c = 0; c < kWidth; ++c)
    for (int64_t e = 0; e < kRouted; ++e) w[c * kRouted + e] = 0.3 * rng.normal() + (e == 0 ? 0.4 : e == 1 ? 0.3 : 0.0);
  moe.router.weight = Tensor::from_vector(w, {kWidth, kRouted}).set_requires_grad(true);
}

// ---- 3. Dropless dispatch: the plan for the first 6 tokens --------------------
void show_dispatch(MoeFeedForward& moe, Rng& rng) {
  Tensor x = skewed_batch(rng).reshape({kBatch * kSeq, kWidth}).slice(0, 0, 6);  // (6, C)
  Tensor s = softmax(moe.router.forward(x), -1);                                 // (6, N_r)
  Tensor chosen = topk(s + moe.bias, kTopK).second;                              // (6, k) i32
  MoePlan plan = moe_dispatch(chosen, kRouted);
  auto ch = chosen.to_vector<int32_t>();
  auto tok = plan.token.to_vector<int32_t>();
  fmt::print("3. Dropless dispatch of 6 tokens (top-{} of {} experts)\n", kTopK, kRouted);
  for (int t = 0; t < 6; ++t) fmt::print("  token {} -> experts {} and {}\n", t, ch[t * 2], ch[t * 2 + 1]);
  fmt::print("  grouped by expert (plan.offsets / plan.token):\n");
  for (int64_t e = 0; e < kRouted; ++e) {
    fmt::print("    expert {}: [", e);
    for (int64_t i = plan.offsets[e]; i < plan.offsets[e + 1]; ++i)
      fmt::print("{}{}", i > plan.offsets[e] ? " " : "", tok[i]);
    fmt::print("]\n");
  }
  expect(plan.offsets.back() == 6 * kTopK, "every assignment is dispatched");
  fmt::print("\n");
}

// ---- 4. Bias balancing over training steps ------------------------------------
struct Balance {
  double initial_ratio = 0, final_ratio = 0;   // max/min load at step 0 and over the last 50 steps
  std::vector<std::vector<double>> bias_rows;  // the bias after each printed step
  std::vector<int> printed_steps;
};

// One printed row: the step's load, its max/min, over the last 25 steps, and the Switch loss.
void print_load_row(int step, const std::vector<std::vector<int64_t>>& history, double switch_loss) {
  const std::vector<int64_t>& load = history.back();
  fmt::print("{:>5} |", step);
  for (int64_t l : load) fmt::print(" {:>3}", l);
  std::vector<int64_t> window(kRouted, 0);  // load summed over the last (up to) 25 steps
  for (size_t i = history.size() > 25 ? history.size() - 25 : 0; i < history.size(); ++i)
    for (int64_t e = 0; e < kRouted; ++e) window[e] += history[i][e];
  fmt::print(" | {:>7.2f} | {:>15.2f} | {:>11.3f}\n", max_over_min(load), max_over_min(window), switch_loss);
}

Balance balance_over_steps(MoeFeedForward& moe, Rng& rng) {
  fmt::print(" step |  e0  e1  e2  e3  e4  e5  e6  e7 | max/min | 25-step max/min | Switch loss\n");
  fmt::print("------+---------------------------------+---------+-----------------+------------\n");
  Balance out;
  std::vector<double> recent_load(kRouted, 0.0);  // mean over the last 50 steps (the ±γ dither averages out)
  std::vector<std::vector<int64_t>> history;      // every step's load, for the 25-step means
  moe.train(true);                                // only training-mode forwards count load
  for (int step = 0; step < kSteps; ++step) {
    moe.forward(skewed_batch(rng));
    const double switch_loss = moe.aux_loss().item();
    moe.update_bias();  // b_e += γ·sign(mean load − load_e); the load of this step moves to last_step_load()
    const std::vector<int64_t>& load = moe.last_step_load();
    history.push_back(load);
    if (step == 0) out.initial_ratio = max_over_min(load);
    if (step >= kSteps - 50)
      for (int64_t e = 0; e < kRouted; ++e) recent_load[e] += static_cast<double>(load[e]) / 50.0;
    const bool print_row = step == 0 || step == 10 || step == 25 || step == 50 || step == 100 || step == 200 ||
                           step == 400 || step == kSteps - 1;
    if (print_row) {
      print_load_row(step, history, switch_loss);
      out.bias_rows.push_back(moe.bias.to_vector<double>());
      out.printed_steps.push_back(step);
    }
  }
  const auto [lo, hi] = std::minmax_element(recent_load.begin(), recent_load.end());
  out.final_ratio = *hi / *lo;
  fmt::print("mean of the last 50 steps:");
  for (double l : recent_load) fmt::print(" {:.0f}", l);
  fmt::print("  max/min {:.2f}\n\n", out.final_ratio);
  return out;
}

void print_bias_rows(const Balance& b) {
  fmt::print(" step | bias b after the step's update\n");
  fmt::print("------+-----------------------------------------------------\n");
  for (size_t r = 0; r < b.bias_rows.size(); ++r) {
    fmt::print("{:>5} |", b.printed_steps[r]);
    for (double v : b.bias_rows[r]) fmt::print(" {:+.2f}", v);
    fmt::print("\n");
  }
  fmt::print("\n");
}

// ---- 5. The bias picks experts but never weights them -------------------------
void print_one_token(const std::vector<double>& s, const std::vector<double>& bias) {
  const std::vector<double> no_bias(kRouted, 0.0);
  fmt::print("5. The bias picks, but never weighs\n  one token after balancing:\n");
  fmt::print("  expert      :");
  for (int64_t e = 0; e < kRouted; ++e) fmt::print(" {:>6}", e);
  fmt::print("\n  score s     :");
  for (int64_t e = 0; e < kRouted; ++e) fmt::print(" {:>6.3f}", s[e]);
  fmt::print("\n  bias b      :");
  for (int64_t e = 0; e < kRouted; ++e) fmt::print(" {:>+6.3f}", bias[e]);
  fmt::print("\n  s + b       :");
  for (int64_t e = 0; e < kRouted; ++e) fmt::print(" {:>6.3f}", s[e] + bias[e]);
  const std::vector<int> by_s = top_k(s.data(), no_bias, kTopK), by_sb = top_k(s.data(), bias, kTopK);
  fmt::print("\n  top-{} of s     : experts {} and {}\n", kTopK, by_s[0], by_s[1]);
  fmt::print("  top-{} of s + b : experts {} and {}  (the layer's choice)\n", kTopK, by_sb[0], by_sb[1]);
  fmt::print("  combine weights g = s of the chosen: {:.3f} and {:.3f}\n\n", s[by_sb[0]], s[by_sb[1]]);
}

struct Combine {
  double err_unbiased = 0, err_biased = 0, magnitude = 0;  // magnitude: the largest |shared| + Σ g_e |E_e|
  int64_t changed = 0;                                     // tokens whose choice the bias changed
};

// Dense reference: every expert on every token, then keep the chosen ones,
// combined with g = s (what the layer should do) and with g = s + b.
Combine compare_with_dense(MoeFeedForward& moe, const Tensor& xf, const Tensor& y, const std::vector<double>& s,
                           const std::vector<double>& bias) {
  const int64_t N = kBatch * kSeq;
  const std::vector<double> no_bias(kRouted, 0.0);
  std::vector<std::vector<float>> expert_out;  // per expert: (N, C)
  for (auto& e : moe.experts) expert_out.push_back(e->forward(xf).to_vector<float>());
  const std::vector<float> shared_out = moe.shared[0]->forward(xf).to_vector<float>();  // (N, C)
  const std::vector<float> yv = y.to_vector<float>();
  Combine c;
  for (int64_t t = 0; t < N; ++t) {
    const double* st = s.data() + t * kRouted;
    const std::vector<int> pick = top_k(st, bias, kTopK);
    if (pick != top_k(st, no_bias, kTopK)) ++c.changed;
    for (int64_t ch = 0; ch < kWidth; ++ch) {
      double with_s = shared_out[t * kWidth + ch], with_sb = with_s, mag = std::abs(with_s);
      for (int e : pick) {
        mag += st[e] * std::abs(expert_out[e][t * kWidth + ch]);
        with_s += st[e] * expert_out[e][t * kWidth + ch];
        with_sb += (st[e] + bias[e]) * expert_out[e][t * kWidth + ch];
      }
      c.magnitude = std::max(c.magnitude, mag);
      c.err_unbiased = std::max(c.err_unbiased, std::abs(yv[t * kWidth + ch] - with_s));
      c.err_biased = std::max(c.err_biased, std::abs(yv[t * kWidth + ch] - with_sb));
    }
  }
  return c;
}

}  // namespace

int main() {
  Rng rng(3);
  const MoeConfig cfg = moe_config();
  MoeFeedForward moe(kWidth, cfg, 0.0, 0.3, 0.3, rng);  // expert weights ~ N(0, 0.3²): outputs of order 1
  skew_router(moe, rng);
  NoGradGuard no_grad;  // no backward anywhere: the bias is not a gradient-trained weight

  show_dispatch(moe, rng);

  fmt::print("4. Aux-loss-free balancing, gamma = {}, {} tokens x top-{} = {} assignments per step\n", cfg.bias_rate,
             kBatch * kSeq, kTopK, kBatch * kSeq * kTopK);
  fmt::print("   (ideal load {} per expert)\n\n", kBatch * kSeq * kTopK / kRouted);
  const Balance balance = balance_over_steps(moe, rng);
  print_bias_rows(balance);

  moe.train(false);  // evaluation: the load is not counted
  const int64_t N = kBatch * kSeq;
  Tensor x = skewed_batch(rng);                                      // (B, T, C)
  Tensor xf = x.reshape({N, kWidth});                                // (N, C)
  Tensor y = moe.forward(x).reshape({N, kWidth});                    // (N, C)
  auto s = softmax(moe.router.forward(xf), -1).to_vector<double>();  // (N, N_r) unbiased scores
  const std::vector<double> bias = moe.bias.to_vector<double>();
  print_one_token(s, bias);
  const Combine c = compare_with_dense(moe, xf, y, s, bias);
  fmt::print("  the layer's output against a dense reference over {} tokens:\n", N);
  fmt::print("  the bias changed the choice of {} tokens ({:.0f}%)\n", c.changed,
             100.0 * static_cast<double>(c.changed) / static_cast<double>(N));
  // What f32 rounding allows: the layer computes each expert on its routed
  // tokens only, a product of another shape than the dense reference's, so
  // its sums over C and the hidden width H run in another order; each such
  // sum may differ by (C + H) · 2⁻²⁴ of its terms' magnitude, and the combine
  // adds a few roundings more. Four times that covers both; a wrong weight
  // (g = s + b below) misses by orders of magnitude.
  const double rounding = 4.0 * static_cast<double>(kWidth + kExpertHidden) * std::ldexp(1.0, -24) * c.magnitude;
  fmt::print("  max |y - (shared + sum g_e E_e)|, g = s     : within f32 rounding: {}\n",
             c.err_unbiased < rounding ? "yes" : "no");
  fmt::print("  max |y - (shared + sum g_e E_e)|, g = s + b : {:.2e}\n\n", c.err_biased);
  expect(c.err_unbiased < rounding, "the layer combines with g = s");

  fmt::print("balance: max/min load {:.2f} at step 0 -> {:.2f} (mean of the last 50 steps)\n", balance.initial_ratio,
             balance.final_ratio);
  expect(balance.initial_ratio > 3.0, "the router starts skewed");
  expect(balance.final_ratio < 1.5, "bias balancing evens out the load");
  expect(c.err_unbiased < 1e-5, "combine weights are the unbiased scores");
  expect(c.err_biased > 100 * c.err_unbiased, "using s + b as weights would give a different output");
  expect(c.changed > 0, "the bias changes some choices");
  fmt::print("ok\n");
  return 0;
}
