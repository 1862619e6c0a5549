// generate.cpp
#include "train/generate.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "autograd/tape.h"
#include "layers/config_checks.h"

namespace mhc {

void check_sample_options(const SampleOptions& o) {
  if (!(o.temperature >= 0) || !std::isfinite(o.temperature))
    throw std::invalid_argument("--temperature must be a finite number ≥ 0 (0: always the most likely token)");
  int_in("--tokens", o.tokens, 0, 1 << 24);
  int_in("--top_k", o.top_k, 0, ModelConfig::kMaxVocab);
}

std::vector<int32_t> generate(Transformer& model, std::vector<int32_t> tokens, const SampleOptions& o) {
  check_sample_options(o);
  if (tokens.empty()) throw std::invalid_argument("sampling needs a prompt of at least one token");
  NoGradGuard no_grad;
  model.train(false);
  Rng rng(o.seed);
  const int64_t block = model.config().block_size, V = model.config().vocab_size;
  const Device device = model.wte.device();
  std::vector<double> p(V);
  for (int64_t i = 0; i < o.tokens; ++i) {
    const int64_t T = std::min<int64_t>(static_cast<int64_t>(tokens.size()), block);
    std::vector<int32_t> ctx(tokens.end() - T, tokens.end());
    Tensor logits = model.forward(Tensor::from_ints(ctx, {1, T}, device));
    std::vector<float> last = logits.select(1, T - 1).to_vector<float>();  // (V)
    if (o.temperature == 0) {  // greedy: the most likely token (the lowest id among ties)
      tokens.push_back(static_cast<int32_t>(std::max_element(last.begin(), last.end()) - last.begin()));
      continue;
    }
    // Temperature, then keep the top_k largest.
    double cutoff = -INFINITY;
    if (o.top_k > 0 && o.top_k < V) {
      std::vector<float> sorted = last;
      std::nth_element(sorted.begin(), sorted.begin() + (o.top_k - 1), sorted.end(), std::greater<float>());
      cutoff = sorted[o.top_k - 1];
    }
    const double m = *std::max_element(last.begin(), last.end());
    double total = 0;
    for (int64_t v = 0; v < V; ++v) {
      p[v] = last[v] < cutoff ? 0.0 : std::exp((last[v] - m) / o.temperature);
      total += p[v];
    }
    double u = rng.uniform() * total;
    int32_t next = static_cast<int32_t>(V - 1);
    for (int64_t v = 0; v < V; ++v) {
      u -= p[v];
      if (u < 0) {
        next = static_cast<int32_t>(v);
        break;
      }
    }
    tokens.push_back(next);
  }
  return tokens;
}

}  // namespace mhc
