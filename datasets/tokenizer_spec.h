// tokenizer_spec.h — a tokenizer as the command line names it, and making
// one: "char" and "bpe" are learnt from the text they will encode; a
// pretrained tokenizer ("gpt2:PATH", GPT-2's files) is loaded as published.
// `mhc tokenize` goes through this, so a new kind plugs in here alone.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "datasets/tokenizer.h"

namespace mhc {

struct TokenizerSpec {
  enum class Kind { Char, Bpe, Gpt2 };
  Kind kind = Kind::Char;
  std::string path;                                   // gpt2: encoder.json + vocab.bpe folder, or tokenizer.json
  int32_t vocab_size = 4096;                          // bpe: the vocabulary to learn
  bool learnt() const { return kind != Kind::Gpt2; }  // trained on the text, not loaded
};

// "char" | "bpe" | "gpt2:PATH"; throws std::invalid_argument listing them otherwise.
TokenizerSpec parse_tokenizer_spec(const std::string& text, int32_t bpe_vocab_size);

// A learnt tokenizer from `text` (for char: every character the data holds;
// for bpe: a sample of it), or a pretrained one from its files. Throws
// std::runtime_error naming the file when a pretrained tokenizer cannot be read.
std::unique_ptr<Tokenizer> make_tokenizer(const TokenizerSpec& spec, std::string_view text);

}  // namespace mhc
