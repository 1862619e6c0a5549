// char_tokenizer.h — the character-level tokenizer: one id per Unicode code
// point that occurs in the training text, ids in code-point order.
//
// File body (see tokenizer.h for the envelope):
//   vocab_size 65
//   U+000A
//   U+0020
//   U+0021 !        <- visible characters are repeated after the code for readers
//   ...
#pragma once
#include <array>

#include "datasets/tokenizer.h"

namespace mhc {

class CharTokenizer final : public Tokenizer {
 public:
  // The vocabulary is the sorted set of code points in `text`. Throws
  // std::invalid_argument for empty text or invalid UTF-8 (naming the byte offset).
  static CharTokenizer train(std::string_view text);
  // `code_points` must be strictly increasing valid code points (not empty).
  explicit CharTokenizer(std::vector<char32_t> code_points);

  std::string kind() const override { return "char"; }
  int32_t vocab_size() const override { return static_cast<int32_t>(code_points_.size()); }
  // Throws std::invalid_argument for invalid UTF-8 or a character outside the
  // vocabulary (naming the character and its byte offset).
  std::vector<int32_t> encode(std::string_view text) const override;
  std::string decode(const std::vector<int32_t>& ids) const override;
  uint64_t fingerprint() const override;

  const std::vector<char32_t>& code_points() const { return code_points_; }

  // Parses the kind-specific lines of a tokenizer file (used by Tokenizer::load).
  static CharTokenizer parse_file_body(const std::vector<std::string_view>& lines);

 protected:
  std::string file_body() const override;

 private:
  int32_t id_of(char32_t cp) const;  // -1 when cp is not in the vocabulary

  std::vector<char32_t> code_points_;    // id -> code point, increasing
  std::vector<std::string> utf8_of_id_;  // id -> its UTF-8 bytes, for decode
  std::array<int32_t, 128> ascii_id_;    // fast path for ASCII: code point -> id or -1
};

}  // namespace mhc
