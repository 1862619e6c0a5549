// generate.h — sampling text from a trained model: the last block_size
// tokens as context, temperature-scaled logits, optional top-k filtering,
// and a seeded draw from the softmax.
#pragma once
#include <vector>

#include "layers/transformer.h"

namespace mhc {

struct SampleOptions {
  int64_t tokens = 200;
  double temperature = 0.8;  // ≥ 0; lower is more conservative, 0 is greedy (argmax)
  int64_t top_k = 0;         // 0: the whole vocabulary
  uint64_t seed = 1;
};

// Throws std::invalid_argument naming the flag (--tokens, --temperature,
// --top_k) and its range for an option out of range; generate() checks too,
// `mhc sample` before it loads the run.
void check_sample_options(const SampleOptions& options);

std::vector<int32_t> generate(Transformer& model, std::vector<int32_t> prompt, const SampleOptions& options);

}  // namespace mhc
