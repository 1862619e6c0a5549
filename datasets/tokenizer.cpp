// tokenizer.cpp — saving and loading tokenizer files (format in tokenizer.h).
#include "datasets/tokenizer.h"

#include <fmt/format.h>

#include <algorithm>
#include <exception>
#include <stdexcept>

#include "datasets/bpe_tokenizer.h"
#include "datasets/char_tokenizer.h"
#include "datasets/gpt2_tokenizer.h"
#include "fileio/file_io.h"
#include "fileio/hash.h"

namespace mhc {

namespace {

constexpr std::string_view kMagicLine = "mhc-tokenizer 1";
constexpr std::string_view kChecksumPrefix = "checksum ";

// Splits `text` into lines without their '\n'. A final line without '\n' is kept.
std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

}  // namespace

void Tokenizer::save(const std::string& path) const {
  std::string contents = fmt::format("{}\nkind {}\n", kMagicLine, kind());
  contents += file_body();
  contents += fmt::format("{}{:016x}\n", kChecksumPrefix, fnv1a64(contents));
  write_file_atomically(path, contents, path + ".tmp");
}

std::unique_ptr<Tokenizer> Tokenizer::load(const std::string& path) {
  const std::string contents = read_file(path, "tokenizer file");
  auto fail = [&](const std::string& problem) -> std::runtime_error {
    return std::runtime_error(fmt::format("tokenizer file '{}': {}", path, problem));
  };
  if (contents.empty()) throw fail("the file is empty");

  const std::vector<std::string_view> lines = split_lines(contents);
  if (lines[0] != kMagicLine) {
    if (lines[0].substr(0, 14) == "mhc-tokenizer ")
      throw fail(fmt::format("unsupported format version (first line '{}', expected '{}')", lines[0], kMagicLine));
    throw fail(fmt::format("not an mhc tokenizer file (first line should be '{}')", kMagicLine));
  }

  // The last line must be the checksum of everything before it.
  const std::string_view last = lines.back();
  if (contents.back() != '\n' || last.substr(0, kChecksumPrefix.size()) != kChecksumPrefix)
    throw fail("truncated: the closing 'checksum' line is missing (was the file cut short?)");
  const size_t checked_bytes = contents.size() - last.size() - 1;
  const std::string computed = fmt::format("{:016x}", fnv1a64(std::string_view(contents).substr(0, checked_bytes)));
  const std::string_view stored = last.substr(kChecksumPrefix.size());
  if (stored.size() < computed.size()) throw fail("truncated: the closing 'checksum' line is cut short");
  if (stored != computed)
    throw fail(fmt::format("corrupt: checksum {} does not match the contents (computed {})", stored, computed));

  if (lines.size() < 3 || lines[1].substr(0, 5) != "kind ")
    throw fail("the second line should be 'kind char', 'kind bpe' or 'kind gpt2'");
  const std::string_view kind = lines[1].substr(5);
  const std::vector<std::string_view> body(lines.begin() + 2, lines.end() - 1);
  try {
    if (kind == "char") return std::make_unique<CharTokenizer>(CharTokenizer::parse_file_body(body));
    if (kind == "bpe") return std::make_unique<BpeTokenizer>(BpeTokenizer::parse_file_body(body));
    if (kind == "gpt2") return std::make_unique<Gpt2Tokenizer>(Gpt2Tokenizer::parse_file_body(body));
  } catch (const std::exception& e) {
    throw fail(e.what());
  }
  throw fail(fmt::format("unknown tokenizer kind '{}' (expected 'char', 'bpe' or 'gpt2')", kind));
}

namespace {

// Where text may be cut without changing its ids: just after a single line
// end between two non-blank ASCII characters ("x\ny"). Every tokenizer here
// ends a token there anyway: GPT-2's pattern takes that "\n" alone (its
// `\s+(?!\S)` and `\s+` match the same one character whether y follows or
// the text ends), mhc's BPE words end at it (after punctuation, the word
// keeps it), and the character tokenizer cuts anywhere. Neighbours outside
// ASCII never qualify: GPT-2's `\s` is Unicode's, so a no-break space (U+00A0)
// or an ideographic space (U+3000) beside the line end joins its whitespace run.
bool safe_cut(std::string_view text, size_t p) {
  auto plain = [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u > 0x20 && u < 0x7f;  // printable ASCII, not a space
  };
  return p >= 2 && p < text.size() && text[p - 1] == '\n' && plain(text[p - 2]) && plain(text[p]);
}

}  // namespace

std::vector<std::string_view> split_at_safe_cuts(std::string_view text, size_t part_bytes) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (start < text.size()) {
    size_t cut = std::min(text.size(), start + std::max<size_t>(part_bytes, 1));
    while (cut < text.size() && !safe_cut(text, cut)) ++cut;
    parts.push_back(text.substr(start, cut - start));
    start = cut;
  }
  return parts;
}

std::vector<int32_t> encode_on_all_cores(const Tokenizer& tok, std::string_view text) {
  const std::vector<std::string_view> parts = split_at_safe_cuts(text, 1 << 16);
  std::vector<std::vector<int32_t>> ids(parts.size());
  std::vector<std::exception_ptr> failed(parts.size());  // an exception may not leave an OpenMP loop
#pragma omp parallel for schedule(dynamic, 1)
  for (size_t i = 0; i < parts.size(); ++i) {
    try {
      ids[i] = tok.encode(parts[i]);
    } catch (...) {
      failed[i] = std::current_exception();
    }
  }
  for (const std::exception_ptr& e : failed)
    if (e) std::rethrow_exception(e);  // the first part's error, as one encode call would throw it
  std::vector<int32_t> all;
  for (const std::vector<int32_t>& v : ids) all.insert(all.end(), v.begin(), v.end());
  return all;
}

}  // namespace mhc
