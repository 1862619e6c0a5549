// gpt2_tokenizer.h — GPT-2's tokenizer as OpenAI published it (encoder.json
// + vocab.bpe) or as a Hugging Face tokenizer.json with byte-level BPE.
//
// Encoding, as GPT-2 does it:
//   1. "<|endoftext|>" anywhere in the text is one token (its own id);
//   2. the rest is cut by GPT-2's pre-tokenisation regex (PCRE2, with
//      Unicode letter and number classes):
//        's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//   3. each piece's bytes become symbols through GPT-2's byte-to-character
//      table (printable bytes stand for themselves; the others, space
//      included, for U+0100 onward: " " is "Ġ"), and the merges of vocab.bpe
//      are applied lowest rank first; each final symbol string is looked up
//      in the vocabulary.
// Decoding maps every id back to its symbol string and the symbols back to
// bytes: decode(encode(s)) == s for any bytes s.
//
// In a run directory (tokenizer.txt, see tokenizer.h) the whole vocabulary
// and the merges are kept, so a run does not depend on the files it was
// made from staying in place:
//   vocab 50257
//   <symbol string of id 0>   <- one line per id, in id order
//   ...
//   merges 50000
//   Ġ t                        <- one merge per line, rank order
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "datasets/tokenizer.h"

namespace mhc {

class Gpt2Tokenizer final : public Tokenizer {
 public:
  // PATH: a folder holding encoder.json and vocab.bpe (or tokenizer.json), or
  // a tokenizer.json file. Throws std::runtime_error naming the file and the problem.
  static Gpt2Tokenizer from_files(const std::string& path);
  // From symbol strings (id order) and merges ("a b", rank order).
  Gpt2Tokenizer(std::vector<std::string> tokens, std::vector<std::string> merges);
  Gpt2Tokenizer(Gpt2Tokenizer&&) noexcept;
  Gpt2Tokenizer& operator=(Gpt2Tokenizer&&) noexcept;
  ~Gpt2Tokenizer() override;

  std::string kind() const override { return "gpt2"; }
  int32_t vocab_size() const override { return static_cast<int32_t>(tokens_.size()); }
  std::vector<int32_t> encode(std::string_view text) const override;
  std::string decode(const std::vector<int32_t>& ids) const override;
  uint64_t fingerprint() const override;

  static Gpt2Tokenizer parse_file_body(const std::vector<std::string_view>& lines);

 protected:
  std::string file_body() const override;

 private:
  void encode_piece(std::string_view piece, std::vector<int32_t>& out) const;
  std::vector<std::string> tokens_;                 // id -> symbol string (UTF-8 of the byte-mapped characters)
  std::vector<std::string> merges_;                 // "a b", rank order
  std::unordered_map<std::string, int32_t> ids_;    // symbol string -> id
  std::unordered_map<std::string, int32_t> ranks_;  // "a b" -> rank
  int32_t end_of_text_ = -1;                        // the id of "<|endoftext|>", -1 when the vocabulary has none
};

// Step 2 alone: the pieces GPT-2's pattern cuts `text` into (no special
// tokens); they join to `text`. Bytes that are not valid UTF-8 are pieces of
// their own, as no alternative of the pattern matches them.
std::vector<std::string_view> gpt2_pieces(std::string_view text);

// GPT-2's table: byte b stands for the character byte_symbol(b) (UTF-8).
std::string byte_symbol(unsigned char b);

}  // namespace mhc
