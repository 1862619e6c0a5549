// tokenize_files.h — `mhc tokenize`: text files to llm.c shards that
// `mhc train --data DIR` reads. Streaming: the text is read in 1 MiB pieces
// cut at line ends, so memory does not grow with the input (a BPE tokenizer
// is learnt from the first --sample_mb of it; a character tokenizer from a
// first pass that collects every character; GPT-2's is loaded as published).
// The last --val_fraction of the
// input (by bytes, at a line end) becomes the validation shards, as nanoGPT
// splits Tiny Shakespeare. The tokenizer is saved beside the shards
// (DIR/tokenizer.txt), so a run trained on them can decode its samples.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace mhc {

struct TokenizeOptions {
  std::vector<std::string> inputs;     // UTF-8 text files, read in order as one text
  std::string tokenizer = "bpe";       // char | bpe | gpt2:PATH
  int32_t vocab_size = 4096;           // bpe
  std::string out;                     // the folder of shards (created)
  int64_t shard_tokens = 100'000'000;  // ids per shard (llm.c's FineWeb shards: 10^8)
  double val_fraction = 0.1;
  double sample_mb = 16;  // bpe: MiB of text the merges are learnt from
  bool progress = true;   // a progress line on stderr
};

struct TokenizeSummary {
  std::vector<std::string> train_shards, val_shards;
  int64_t train_tokens = 0, val_tokens = 0, bytes = 0;
  double seconds = 0;
};

// Throws std::runtime_error naming the file for unreadable or non-text input.
TokenizeSummary tokenize_files(const TokenizeOptions& opt);

}  // namespace mhc
