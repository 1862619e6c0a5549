// choice_eval.cpp — multiple-choice (HellaSwag-style) scoring; see choice_eval.h.
#include "train/choice_eval.h"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "autograd/tape.h"
#include "fileio/json_io.h"

namespace mhc {

namespace {

// Whether the tokenizer can encode a space (a character tokenizer trained
// on text without one cannot).
bool has_space(const Tokenizer& tokenizer) {
  try {
    return !tokenizer.encode(" ").empty();
  } catch (const std::exception&) {
    return false;
  }
}

// One line's example, or throws naming what is wrong with it.
ChoiceExample parse_example(const Json& v, const Tokenizer& tokenizer, bool space) {
  const Json* ctx = json::find(v, "ctx");
  const Json* endings = json::find(v, "endings");
  const Json* label = json::find(v, "label");
  if (!ctx || !ctx->is_string()) throw std::runtime_error("no string \"ctx\"");
  if (!endings || !endings->is_array() || endings->size() < 2)
    throw std::runtime_error("no list of at least 2 \"endings\"");
  if (!label || !label->is_number_integer()) throw std::runtime_error("no integer \"label\"");
  ChoiceExample e;
  e.context = tokenizer.encode(ctx->get<std::string>());
  for (const Json& end : *endings) {
    if (!end.is_string() || end.get<std::string>().empty())
      throw std::runtime_error("an ending that is not a non-empty string");
    e.endings.push_back(tokenizer.encode((space ? " " : "") + end.get<std::string>()));
  }
  e.label = label->get<int64_t>();
  if (e.label < 0 || e.label >= static_cast<int64_t>(e.endings.size()))
    throw std::runtime_error(
        fmt::format("label {} is not the index of one of its {} endings", e.label, e.endings.size()));
  return e;
}

// Σ and mean over the ending's tokens of -log p(token | everything before it).
std::pair<double, double> ending_loss(Transformer& model, const std::vector<int32_t>& context,
                                      const std::vector<int32_t>& ending) {
  const int64_t block = model.config().block_size;
  std::vector<int32_t> seq = context;
  seq.insert(seq.end(), ending.begin(), ending.end());
  // x = seq[0 .. L-1), predicting seq[1 .. L); keep the last block + 1 tokens.
  if (static_cast<int64_t>(seq.size()) > block + 1) seq.erase(seq.begin(), seq.end() - (block + 1));
  const int64_t L = static_cast<int64_t>(seq.size()) - 1, V = model.config().vocab_size;
  const int64_t n = std::min<int64_t>(static_cast<int64_t>(ending.size()), L);  // the ending's targets in x
  const std::vector<int32_t> x(seq.begin(), seq.end() - 1);
  const std::vector<float> logits =
      model.forward(Tensor::from_ints(x, {1, L}, model.wte.device())).to(DType::f32).to_vector<float>();  // (1, L, V)
  double sum = 0;
  for (int64_t t = L - n; t < L; ++t) {
    const float* row = logits.data() + t * V;
    const double m = *std::max_element(row, row + V);
    double z = 0;
    for (int64_t v = 0; v < V; ++v) z += std::exp(static_cast<double>(row[v]) - m);
    sum += m + std::log(z) - row[seq[static_cast<size_t>(t + 1)]];
  }
  return {sum, sum / static_cast<double>(n)};
}

}  // namespace

std::vector<ChoiceExample> read_choice_file(const std::string& path, const Tokenizer& tokenizer) {
  const std::vector<Json> lines = json::parse_lines_file(path);
  std::vector<ChoiceExample> out;
  const bool space = has_space(tokenizer);
  for (size_t i = 0; i < lines.size(); ++i) {
    try {
      out.push_back(parse_example(lines[i], tokenizer, space));
    } catch (const std::exception& e) {
      throw std::runtime_error(fmt::format("{}: example {}: {}", path, i + 1, e.what()));
    }
  }
  if (out.empty()) throw std::runtime_error(path + ": no examples (one JSON object per line: ctx, endings, label)");
  return out;
}

ChoiceScore score_choices(Transformer& model, const std::vector<ChoiceExample>& examples) {
  NoGradGuard no_grad;
  model.train(false);
  ChoiceScore s;
  for (const ChoiceExample& e : examples) {
    size_t best = 0, best_norm = 0;
    double best_sum = INFINITY, best_mean = INFINITY;
    for (size_t k = 0; k < e.endings.size(); ++k) {
      const auto [sum, mean] = ending_loss(model, e.context, e.endings[k]);
      if (sum < best_sum) best_sum = sum, best = k;
      if (mean < best_mean) best_mean = mean, best_norm = k;
    }
    ++s.examples;
    s.correct += static_cast<int64_t>(best) == e.label;
    s.correct_norm += static_cast<int64_t>(best_norm) == e.label;
  }
  return s;
}

}  // namespace mhc
