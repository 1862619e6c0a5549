// char_tokenizer.cpp — training, encoding, decoding and the file body of the
// character-level tokenizer.
#include "datasets/char_tokenizer.h"

#include <algorithm>
#include <charconv>
#include <set>
#include <stdexcept>

#include "fileio/hash.h"
#include "fileio/utf8.h"

namespace mhc {

CharTokenizer CharTokenizer::train(std::string_view text) {
  if (text.empty()) throw std::invalid_argument("CharTokenizer::train: the text is empty");
  std::set<char32_t> seen;
  int length = 0;
  for (size_t pos = 0; pos < text.size(); pos += length) seen.insert(decode_utf8(text, pos, length));
  return CharTokenizer(std::vector<char32_t>(seen.begin(), seen.end()));
}

CharTokenizer::CharTokenizer(std::vector<char32_t> code_points) : code_points_(std::move(code_points)) {
  if (code_points_.empty()) throw std::invalid_argument("CharTokenizer: the vocabulary is empty");
  ascii_id_.fill(-1);
  for (size_t id = 0; id < code_points_.size(); ++id) {
    const char32_t cp = code_points_[id];
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      throw std::invalid_argument(
          fmt::format("CharTokenizer: U+{:X} is not a valid code point", static_cast<uint32_t>(cp)));
    if (id > 0 && cp <= code_points_[id - 1])
      throw std::invalid_argument(
          fmt::format("CharTokenizer: the vocabulary must be strictly increasing, but entry {} is {} after {}", id,
                      describe_code_point(cp), describe_code_point(code_points_[id - 1])));
    if (cp < 128) ascii_id_[cp] = static_cast<int32_t>(id);
    std::string bytes;
    append_utf8(bytes, cp);
    utf8_of_id_.push_back(std::move(bytes));
  }
}

int32_t CharTokenizer::id_of(char32_t cp) const {
  if (cp < 128) return ascii_id_[cp];
  const auto it = std::lower_bound(code_points_.begin(), code_points_.end(), cp);
  if (it == code_points_.end() || *it != cp) return -1;
  return static_cast<int32_t>(it - code_points_.begin());
}

std::vector<int32_t> CharTokenizer::encode(std::string_view text) const {
  std::vector<int32_t> ids;
  ids.reserve(text.size());
  int length = 0;
  for (size_t pos = 0; pos < text.size(); pos += length) {
    const char32_t cp = decode_utf8(text, pos, length);
    const int32_t id = id_of(cp);
    if (id < 0)
      throw std::invalid_argument(
          fmt::format("CharTokenizer::encode: character {} at byte offset {} is not in the vocabulary of {} "
                      "characters (the tokenizer was trained on other text)",
                      describe_code_point(cp), pos, code_points_.size()));
    ids.push_back(id);
  }
  return ids;
}

std::string CharTokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string text;
  text.reserve(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= vocab_size())
      throw std::invalid_argument(
          fmt::format("CharTokenizer::decode: id {} at position {} is outside [0, {})", ids[i], i, vocab_size()));
    text += utf8_of_id_[ids[i]];
  }
  return text;
}

uint64_t CharTokenizer::fingerprint() const {
  uint64_t hash = fnv1a64("char");
  for (char32_t cp : code_points_) {
    // Four little-endian bytes per code point, the same on every machine.
    const unsigned char bytes[4] = {static_cast<unsigned char>(cp), static_cast<unsigned char>(cp >> 8),
                                    static_cast<unsigned char>(cp >> 16), static_cast<unsigned char>(cp >> 24)};
    hash = fnv1a64(bytes, 4, hash);
  }
  return hash;
}

std::string CharTokenizer::file_body() const {
  std::string body = fmt::format("vocab_size {}\n", code_points_.size());
  for (char32_t cp : code_points_) {
    body += fmt::format("U+{:04X}", static_cast<uint32_t>(cp));
    if (is_visible(cp)) {
      body += ' ';
      append_utf8(body, cp);
    }
    body += '\n';
  }
  return body;
}

CharTokenizer CharTokenizer::parse_file_body(const std::vector<std::string_view>& lines) {
  constexpr std::string_view kHeader = "vocab_size ";
  if (lines.empty() || lines[0].substr(0, kHeader.size()) != kHeader)
    throw std::runtime_error("the char vocabulary should start with a 'vocab_size N' line");
  const std::string_view count_text = lines[0].substr(kHeader.size());
  size_t count = 0;
  const auto [end, ec] = std::from_chars(count_text.data(), count_text.data() + count_text.size(), count);
  if (ec != std::errc() || end != count_text.data() + count_text.size())
    throw std::runtime_error(fmt::format("bad vocab_size line '{}'", lines[0]));
  if (lines.size() - 1 != count)
    throw std::runtime_error(fmt::format("vocab_size says {} characters but {} are listed", count, lines.size() - 1));

  std::vector<char32_t> code_points;
  for (size_t i = 1; i < lines.size(); ++i) {
    const std::string_view line = lines[i];
    const std::string_view code = line.substr(0, line.find(' '));
    uint32_t cp = 0;
    const char* hex_end = code.data() + code.size();
    const bool ok = code.size() > 2 && code.substr(0, 2) == "U+" &&
                    std::from_chars(code.data() + 2, hex_end, cp, 16).ptr == hex_end;
    if (!ok) throw std::runtime_error(fmt::format("vocabulary entry {} '{}' is not of the form U+XXXX", i - 1, line));
    code_points.push_back(cp);
  }
  return CharTokenizer(std::move(code_points));
}

}  // namespace mhc
