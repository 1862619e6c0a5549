// tokenizer_spec.cpp — see tokenizer_spec.h.
#include "datasets/tokenizer_spec.h"

#include <stdexcept>

#include "datasets/bpe_tokenizer.h"
#include "datasets/char_tokenizer.h"
#include "datasets/gpt2_tokenizer.h"

namespace mhc {

TokenizerSpec parse_tokenizer_spec(const std::string& text, int32_t bpe_vocab_size) {
  TokenizerSpec spec;
  spec.vocab_size = bpe_vocab_size;
  if (text == "char")
    spec.kind = TokenizerSpec::Kind::Char;
  else if (text == "bpe")
    spec.kind = TokenizerSpec::Kind::Bpe;
  else if (text.rfind("gpt2:", 0) == 0 && text.size() > 5)
    spec.kind = TokenizerSpec::Kind::Gpt2, spec.path = text.substr(5);
  else
    throw std::invalid_argument("--tokenizer: '" + text + "' is none of char | bpe | gpt2:PATH");
  return spec;
}

std::unique_ptr<Tokenizer> make_tokenizer(const TokenizerSpec& spec, std::string_view text) {
  switch (spec.kind) {
    case TokenizerSpec::Kind::Char: return std::make_unique<CharTokenizer>(CharTokenizer::train(text));
    case TokenizerSpec::Kind::Bpe: return std::make_unique<BpeTokenizer>(BpeTokenizer::train(text, spec.vocab_size));
    case TokenizerSpec::Kind::Gpt2: break;
  }
  return std::make_unique<Gpt2Tokenizer>(Gpt2Tokenizer::from_files(spec.path));
}

}  // namespace mhc
