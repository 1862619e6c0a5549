// token_cache.cpp — the on-disk token cache (file layout in token_cache.h).
#include "datasets/token_cache.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>

#include "fileio/file_io.h"
#include "fileio/hash.h"

namespace mhc {

namespace fs = std::filesystem;

namespace {

constexpr char kMagic[8] = {'M', 'H', 'C', 'T', 'O', 'K', 'S', '\0'};
constexpr uint32_t kVersion = 1;

struct CacheHeader {
  char magic[8];
  uint32_t version;
  uint32_t reserved;
  uint64_t key;
  uint64_t count;
  uint64_t checksum;
};
static_assert(sizeof(CacheHeader) == 40, "the header is written byte for byte");

uint64_t cache_key(const std::string& text, const Tokenizer& tok) {
  return hash_combine(fnv1a64(text), tok.fingerprint());
}

uint64_t tokens_checksum(const std::vector<int32_t>& tokens) {
  return fnv1a64(tokens.data(), tokens.size() * sizeof(int32_t));
}

// The ids stored in `path`, or nullopt with the reason in `problem` ("" when
// the file simply does not exist yet).
std::optional<std::vector<int32_t>> read_cache(const std::string& path, uint64_t key, int32_t vocab_size,
                                               std::string& problem) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return std::nullopt;
  std::string bytes;
  try {
    bytes = read_file(path, "token cache file");
  } catch (const std::exception& e) {
    problem = e.what();
    return std::nullopt;
  }
  CacheHeader header;
  if (bytes.size() < sizeof header) {
    problem = fmt::format("{} bytes, shorter than the {}-byte header", bytes.size(), sizeof header);
    return std::nullopt;
  }
  std::memcpy(&header, bytes.data(), sizeof header);
  if (std::memcmp(header.magic, kMagic, sizeof kMagic) != 0) {
    problem = "not a token cache file (bad magic)";
    return std::nullopt;
  }
  if (header.version != kVersion) {
    problem = fmt::format("format version {} (this program writes {})", header.version, kVersion);
    return std::nullopt;
  }
  if (header.key != key) {
    problem = fmt::format("it holds key {:016x}, not {:016x}", header.key, key);
    return std::nullopt;
  }
  const uint64_t expected_size = sizeof header + header.count * sizeof(int32_t);
  if (header.count > bytes.size() || bytes.size() != expected_size) {
    problem =
        fmt::format("{} bytes, but a file of {} tokens has {} (truncated?)", bytes.size(), header.count, expected_size);
    return std::nullopt;
  }
  std::vector<int32_t> tokens(header.count);
  std::memcpy(tokens.data(), bytes.data() + sizeof header, header.count * sizeof(int32_t));
  if (tokens_checksum(tokens) != header.checksum) {
    problem = "the checksum does not match the stored tokens (corrupt)";
    return std::nullopt;
  }
  for (int32_t id : tokens)
    if (id < 0 || id >= vocab_size) {
      problem = fmt::format("it holds id {}, outside the vocabulary [0, {})", id, vocab_size);
      return std::nullopt;
    }
  return tokens;
}

void write_cache(const std::string& path, uint64_t key, const std::vector<int32_t>& tokens) {
  CacheHeader header{};
  std::memcpy(header.magic, kMagic, sizeof kMagic);
  header.version = kVersion;
  header.key = key;
  header.count = tokens.size();
  header.checksum = tokens_checksum(tokens);
  std::string bytes(sizeof header + tokens.size() * sizeof(int32_t), '\0');
  std::memcpy(bytes.data(), &header, sizeof header);
  std::memcpy(bytes.data() + sizeof header, tokens.data(), tokens.size() * sizeof(int32_t));
  // The process id in the temporary name keeps two runs filling the same cache apart.
  write_file_atomically(path, bytes, fmt::format("{}.tmp.{}", path, static_cast<long>(getpid())));
}

}  // namespace

std::string default_cache_dir() {
  auto env = [](const char* name) -> std::string {
    const char* value = std::getenv(name);
    return value ? value : "";
  };
  if (const std::string dir = env("MHC_CACHE_DIR"); !dir.empty()) return dir;
  if (const std::string dir = env("XDG_CACHE_HOME"); !dir.empty()) return (fs::path(dir) / "mhc").string();
  if (const std::string dir = env("HOME"); !dir.empty()) return (fs::path(dir) / ".cache" / "mhc").string();
  return "";
}

std::string token_cache_path(const std::string& text, const Tokenizer& tok, const std::string& cache_dir) {
  return (fs::path(cache_dir) / fmt::format("tokens-{:016x}.bin", cache_key(text, tok))).string();
}

std::vector<int32_t> tokenize_cached(const std::string& text, const Tokenizer& tok, const std::string& cache_dir,
                                     bool* cache_hit, bool write) {
  if (cache_hit) *cache_hit = false;
  if (cache_dir.empty()) return tok.encode(text);

  const uint64_t key = cache_key(text, tok);
  const std::string path = token_cache_path(text, tok, cache_dir);
  std::string problem;
  if (auto cached = read_cache(path, key, tok.vocab_size(), problem)) {
    if (cache_hit) *cache_hit = true;
    return std::move(*cached);
  }
  if (!write) return tok.encode(text);
  if (!problem.empty()) fmt::print(stderr, "mhc: ignoring token cache '{}': {}; tokenising again\n", path, problem);

  std::vector<int32_t> tokens = tok.encode(text);
  std::error_code ec;
  fs::create_directories(cache_dir, ec);
  try {
    if (ec) throw std::runtime_error(fmt::format("cannot create folder '{}': {}", cache_dir, ec.message()));
    write_cache(path, key, tokens);
  } catch (const std::exception& e) {
    fmt::print(stderr, "mhc: warning: token cache not written: {}\n", e.what());
  }
  return tokens;
}

}  // namespace mhc
