// gpt2_tokenizer.cpp — see gpt2_tokenizer.h.
#define PCRE2_CODE_UNIT_WIDTH 8
#include "datasets/gpt2_tokenizer.h"

#include <fmt/format.h>
#include <pcre2.h>

#include <array>
#include <climits>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "fileio/file_io.h"
#include "fileio/utf8.h"
#include "fileio/xxh64.h"

namespace fs = std::filesystem;

namespace mhc {

namespace {

constexpr const char* kEndOfText = "<|endoftext|>";
constexpr const char* kPattern = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// GPT-2's bytes_to_unicode(): printable Latin-1 bytes stand for themselves,
// the other 68 for U+0100, U+0101, … in byte order.
const std::array<char32_t, 256>& byte_table() {
  static const std::array<char32_t, 256> table = [] {
    std::array<char32_t, 256> t{};
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      t[b] = printable ? static_cast<char32_t>(b) : next++;
    }
    return t;
  }();
  return table;
}

// The byte a symbol character stands for; -1 for a character outside the table.
int symbol_byte(char32_t cp) {
  static const std::unordered_map<char32_t, int> inverse = [] {
    std::unordered_map<char32_t, int> m;
    for (int b = 0; b < 256; ++b) m[byte_table()[b]] = b;
    return m;
  }();
  const auto it = inverse.find(cp);
  return it == inverse.end() ? -1 : it->second;
}

nlohmann::json read_json(const std::string& path) {
  try {
    return nlohmann::json::parse(read_file(path, "tokenizer file"));
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(path + ": not valid JSON: " + e.what());
  }
}

// encoder.json {symbol string: id} (or tokenizer.json's model.vocab) as symbols in id order.
std::vector<std::string> tokens_in_id_order(const nlohmann::json& vocab, const std::string& path) {
  if (!vocab.is_object() || vocab.empty())
    throw std::runtime_error(path + ": the vocabulary is not a non-empty JSON object");
  std::vector<std::string> tokens(vocab.size());
  for (const auto& [symbol, id] : vocab.items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() >= static_cast<int64_t>(vocab.size()))
      throw std::runtime_error(
          fmt::format("{}: the id of '{}' is {}, not one of 0 .. {}", path, symbol, id.dump(), vocab.size() - 1));
    tokens[id.get<size_t>()] = symbol;
  }
  for (size_t i = 0; i < tokens.size(); ++i)
    if (tokens[i].empty())
      throw std::runtime_error(
          fmt::format("{}: no token has id {} (ids must be 0 .. {} without gaps)", path, i, tokens.size() - 1));
  return tokens;
}

std::vector<std::string> merges_from_bpe_file(const std::string& path) {
  const std::string text = read_file(path, "tokenizer file");
  std::vector<std::string> merges;
  size_t start = 0, line = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string l = text.substr(start, end - start);
    if (!l.empty() && l.back() == '\r') l.pop_back();
    ++line, start = end + 1;
    if (l.empty() || (line == 1 && l.rfind("#version", 0) == 0)) continue;
    if (std::count(l.begin(), l.end(), ' ') != 1 || l.front() == ' ' || l.back() == ' ')
      throw std::runtime_error(
          fmt::format("{}:{}: a merge is two symbol strings separated by one space, not '{}'", path, line, l));
    merges.push_back(l);
  }
  return merges;
}

Gpt2Tokenizer from_hf_json(const std::string& path) {
  const nlohmann::json j = read_json(path);
  const auto* model = j.contains("model") ? &j["model"] : nullptr;
  if (!model || model->value("type", "") != "BPE" || !model->contains("vocab") || !model->contains("merges"))
    throw std::runtime_error(
        path +
        ": not a byte-level BPE tokenizer.json (expected \"model\": {\"type\": \"BPE\", \"vocab\", \"merges\"})");
  nlohmann::json vocab = (*model)["vocab"];
  if (j.contains("added_tokens") && j["added_tokens"].is_array())
    for (const auto& t : j["added_tokens"])
      if (t.contains("content") && t.contains("id") && !vocab.contains(t["content"].get<std::string>()))
        vocab[t["content"].get<std::string>()] = t["id"];
  std::vector<std::string> merges;
  for (const auto& m : (*model)["merges"]) {
    if (m.is_string())
      merges.push_back(m.get<std::string>());
    else if (m.is_array() && m.size() == 2)
      merges.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
    else
      throw std::runtime_error(path + ": a merge is \"a b\" or [\"a\", \"b\"], not " + m.dump());
  }
  return Gpt2Tokenizer(tokens_in_id_order(vocab, path), std::move(merges));
}

}  // namespace

std::string byte_symbol(unsigned char b) {
  std::string s;
  append_utf8(s, byte_table()[b]);
  return s;
}

namespace {

// GPT-2's pattern, compiled once (UTF-8, Unicode classes, invalid UTF-8 never matching).
const pcre2_code* pattern() {
  static const pcre2_code* code = [] {
    int err = 0;
    PCRE2_SIZE at = 0;
    pcre2_code* c = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(kPattern), PCRE2_ZERO_TERMINATED,
                                  PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &err, &at, nullptr);
    if (!c) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(err, msg, sizeof msg);
      throw std::runtime_error(fmt::format("GPT-2 pattern: {} at {}", reinterpret_cast<const char*>(msg), at));
    }
    pcre2_jit_compile(c, PCRE2_JIT_COMPLETE);  // faster where PCRE2 has a JIT; works without
    return c;
  }();
  return code;
}

}  // namespace

std::vector<std::string_view> gpt2_pieces(std::string_view text) {
  std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> match(
      pcre2_match_data_create_from_pattern(pattern(), nullptr), &pcre2_match_data_free);
  std::vector<std::string_view> pieces;
  size_t at = 0;
  while (at < text.size()) {
    const int rc =
        pcre2_match(pattern(), reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), at, 0, match.get(), nullptr);
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(match.get());
    const size_t from = rc > 0 ? ov[0] : text.size(), to = rc > 0 ? ov[1] : text.size();
    if (from > at) pieces.push_back(text.substr(at, from - at));  // bytes no alternative matches (invalid UTF-8)
    if (to > from) pieces.push_back(text.substr(from, to - from));
    at = to > from ? to : from + 1;  // the pattern never matches nothing; guard anyway
  }
  return pieces;
}

Gpt2Tokenizer::Gpt2Tokenizer(std::vector<std::string> tokens, std::vector<std::string> merges)
    : tokens_(std::move(tokens)), merges_(std::move(merges)) {
  if (tokens_.size() > static_cast<size_t>(INT32_MAX)) throw std::runtime_error("GPT-2 tokenizer: too many tokens");
  for (size_t i = 0; i < tokens_.size(); ++i) {
    if (tokens_[i].empty() || tokens_[i].find_first_of("\n\r") != std::string::npos)
      throw std::runtime_error(fmt::format("GPT-2 tokenizer: token {} is empty or holds a line break", i));
    ids_.emplace(tokens_[i], static_cast<int32_t>(i));
  }
  for (int b = 0; b < 256; ++b)
    if (!ids_.count(byte_symbol(static_cast<unsigned char>(b))))
      throw std::runtime_error(
          fmt::format("GPT-2 tokenizer: the vocabulary lacks the symbol of byte {} ('{}'), which "
                      "byte-level BPE needs for every byte",
                      b, byte_symbol(static_cast<unsigned char>(b))));
  for (size_t r = 0; r < merges_.size(); ++r) ranks_.emplace(merges_[r], static_cast<int32_t>(r));
  if (const auto it = ids_.find(kEndOfText); it != ids_.end()) end_of_text_ = it->second;
}

Gpt2Tokenizer::Gpt2Tokenizer(Gpt2Tokenizer&&) noexcept = default;
Gpt2Tokenizer& Gpt2Tokenizer::operator=(Gpt2Tokenizer&&) noexcept = default;
Gpt2Tokenizer::~Gpt2Tokenizer() = default;

Gpt2Tokenizer Gpt2Tokenizer::from_files(const std::string& path) {
  const fs::path p(path);
  if (fs::is_directory(p)) {
    if (fs::exists(p / "encoder.json") && fs::exists(p / "vocab.bpe"))
      return Gpt2Tokenizer(tokens_in_id_order(read_json((p / "encoder.json").string()), (p / "encoder.json").string()),
                           merges_from_bpe_file((p / "vocab.bpe").string()));
    if (fs::exists(p / "tokenizer.json")) return from_hf_json((p / "tokenizer.json").string());
    throw std::runtime_error("gpt2:" + path +
                             ": the folder holds neither encoder.json + vocab.bpe (OpenAI's GPT-2 files) "
                             "nor tokenizer.json (Hugging Face)");
  }
  if (!fs::exists(p)) throw std::runtime_error("gpt2:" + path + ": no such file or folder");
  return from_hf_json(path);
}

void Gpt2Tokenizer::encode_piece(std::string_view piece, std::vector<int32_t>& out) const {
  std::vector<std::string> word;
  for (unsigned char b : piece) word.push_back(byte_symbol(b));
  while (word.size() > 1) {
    int32_t best = INT32_MAX;
    size_t at = 0;
    for (size_t i = 0; i + 1 < word.size(); ++i)
      if (const auto it = ranks_.find(word[i] + " " + word[i + 1]); it != ranks_.end() && it->second < best)
        best = it->second, at = i;
    if (best == INT32_MAX) break;
    const std::string first = word[at], second = word[at + 1];
    std::vector<std::string> merged;
    for (size_t i = 0; i < word.size(); ++i) {  // every occurrence of the pair, left to right
      if (i + 1 < word.size() && word[i] == first && word[i + 1] == second)
        merged.push_back(first + second), ++i;
      else
        merged.push_back(word[i]);
    }
    word = std::move(merged);
  }
  for (const std::string& s : word) {
    const auto it = ids_.find(s);
    if (it == ids_.end())
      throw std::runtime_error("GPT-2 tokenizer: a merge makes '" + s + "', which is not in the vocabulary");
    out.push_back(it->second);
  }
}

std::vector<int32_t> Gpt2Tokenizer::encode(std::string_view text) const {
  std::vector<int32_t> out;
  size_t pos = 0;
  while (pos < text.size()) {
    // The text up to the next <|endoftext|> goes through the pattern; the marker is one token.
    size_t stop = end_of_text_ >= 0 ? text.find(kEndOfText, pos) : std::string_view::npos;
    const size_t end = stop == std::string_view::npos ? text.size() : stop;
    for (std::string_view piece : gpt2_pieces(text.substr(pos, end - pos))) encode_piece(piece, out);
    if (stop == std::string_view::npos) break;
    out.push_back(end_of_text_);
    pos = stop + std::string_view(kEndOfText).size();
  }
  return out;
}

std::string Gpt2Tokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string out;
  for (int32_t id : ids) {
    if (id < 0 || id >= vocab_size())
      throw std::out_of_range(
          fmt::format("GPT-2 tokenizer: id {} is outside the vocabulary 0 .. {}", id, vocab_size() - 1));
    const std::string& s = tokens_[id];
    for (size_t pos = 0; pos < s.size();) {
      int length = 1;
      const int b = symbol_byte(decode_utf8(s, pos, length));
      if (b < 0) {  // a token outside the byte table (an added token): its text as it is
        out.append(s, pos, length);
      } else {
        out.push_back(static_cast<char>(b));
      }
      pos += static_cast<size_t>(length);
    }
  }
  return out;
}

uint64_t Gpt2Tokenizer::fingerprint() const {
  Xxh64 h;
  h.update(file_body());
  return h.digest();
}

std::string Gpt2Tokenizer::file_body() const {
  std::string body = fmt::format("vocab {}\n", tokens_.size());
  for (const std::string& t : tokens_) body += t + "\n";
  body += fmt::format("merges {}\n", merges_.size());
  for (const std::string& m : merges_) body += m + "\n";
  return body;
}

Gpt2Tokenizer Gpt2Tokenizer::parse_file_body(const std::vector<std::string_view>& lines) {
  auto count = [&](size_t at, const char* key) -> size_t {
    const std::string prefix = std::string(key) + " ";
    if (at >= lines.size() || lines[at].substr(0, prefix.size()) != prefix)
      throw std::runtime_error(fmt::format("expected a '{} N' line at body line {}", key, at + 1));
    return std::stoul(std::string(lines[at].substr(prefix.size())));
  };
  const size_t n = count(0, "vocab");
  if (lines.size() < n + 2) throw std::runtime_error("the vocabulary is cut short");
  std::vector<std::string> tokens(lines.begin() + 1, lines.begin() + 1 + static_cast<std::ptrdiff_t>(n));
  const size_t m = count(n + 1, "merges");
  if (lines.size() != n + 2 + m)
    throw std::runtime_error(fmt::format("expected {} merges, found {}", m, lines.size() - n - 2));
  std::vector<std::string> merges(lines.begin() + static_cast<std::ptrdiff_t>(n + 2), lines.end());
  return Gpt2Tokenizer(std::move(tokens), std::move(merges));
}

}  // namespace mhc
