// tokenizer.cpp — saving and loading tokenizer files (format in tokenizer.h).
#include "datasets/tokenizer.h"

#include <fmt/format.h>

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

}  // namespace mhc
