// token_files.cpp — finding, checking and mapping nanoGPT and llm.c token files.
#include "datasets/token_files.h"

#include <fcntl.h>
#include <glob.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <tuple>
#include <utility>

#include "fileio/xxh64.h"

namespace fs = std::filesystem;

namespace mhc {

namespace {

const char* kExpected =
    "nanoGPT's train.bin and val.bin in one folder (headerless little-endian uint16 token ids), or llm.c shards "
    "(a folder or glob of .bin files with a 256 x int32 header: magic 20240520, version 1, token count; then the "
    "uint16 ids; *train* shards for training, *val* for validation)";

int32_t le_i32(const unsigned char* p) {
  return static_cast<int32_t>(static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
                              static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24);
}

// The first `n` bytes of a file (fewer if it is shorter).
std::string head(const std::string& path, size_t n) {
  std::string out(n, '\0');
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error(path + ": cannot open: " + std::strerror(errno));
  const ssize_t got = ::pread(fd, out.data(), n, 0);
  ::close(fd);
  out.resize(got > 0 ? static_cast<size_t>(got) : 0);
  return out;
}

bool starts_with_magic(const std::string& path) {
  const std::string h = head(path, 4);
  return h.size() == 4 && le_i32(reinterpret_cast<const unsigned char*>(h.data())) == kLlmcMagic;
}

std::string base_name(const std::string& path) { return fs::path(path).filename().string(); }

// llm.c shards by name: *train* to training, *val* to validation.
TokenFileSet llmc_split(const std::vector<std::string>& files) {
  TokenFileSet set;
  set.format = TokenFormat::Llmc;
  for (const std::string& f : files) {
    const std::string name = base_name(f);
    if (name.find("train") != std::string::npos)
      set.train.push_back(f);
    else if (name.find("val") != std::string::npos)
      set.val.push_back(f);
  }
  return set;
}

TokenFileSet find_in_folder(const std::string& dir) {
  std::vector<std::string> bins;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && e.path().extension() == ".bin") bins.push_back(e.path().string());
  std::sort(bins.begin(), bins.end());
  for (const std::string& b : bins)
    if (starts_with_magic(b)) return llmc_split(bins);
  const fs::path train = fs::path(dir) / "train.bin", val = fs::path(dir) / "val.bin";
  if (fs::is_regular_file(train) && fs::is_regular_file(val))
    return {TokenFormat::NanoGpt, {train.string()}, {val.string()}};
  std::string found;
  for (const std::string& b : bins) found += (found.empty() ? "" : ", ") + base_name(b);
  throw std::runtime_error(fmt::format(
      "--data {}: a folder of token files must hold {}; found {}", dir, kExpected,
      found.empty() ? "no .bin files" : "only " + found + " (no llm.c magic, and not both train.bin and val.bin)"));
}

TokenFileSet find_by_glob(const std::string& pattern) {
  glob_t g{};
  const int rc = ::glob(pattern.c_str(), 0, nullptr, &g);
  std::vector<std::string> files;
  for (size_t i = 0; rc == 0 && i < g.gl_pathc; ++i)
    if (fs::is_regular_file(g.gl_pathv[i])) files.emplace_back(g.gl_pathv[i]);
  ::globfree(&g);
  if (files.empty())
    throw std::runtime_error(fmt::format("--data {}: the pattern matches no files; expected {}", pattern, kExpected));
  std::sort(files.begin(), files.end());
  return llmc_split(files);  // a glob names llm.c shards; one without the magic is refused when checked
}

// The number of ids in one file, after checking its header and size.
struct FileLayout {
  size_t header_bytes;
  int64_t tokens;
};
FileLayout check_layout(const std::string& path, TokenFormat format, int64_t bytes) {
  if (format == TokenFormat::NanoGpt) {
    if (bytes % 2 != 0)
      throw std::runtime_error(
          fmt::format("{}: {} bytes, an odd number: a nanoGPT token file holds whole uint16 ids "
                      "(2 bytes each)",
                      path, bytes));
    return {0, bytes / 2};
  }
  if (bytes < static_cast<int64_t>(kLlmcHeaderBytes))
    throw std::runtime_error(
        fmt::format("{}: {} bytes, shorter than the {}-byte header of an llm.c shard", path, bytes, kLlmcHeaderBytes));
  const std::string h = head(path, 12);
  const auto* p = reinterpret_cast<const unsigned char*>(h.data());
  if (le_i32(p) != kLlmcMagic)
    throw std::runtime_error(fmt::format("{}: wrong magic {} (an llm.c shard starts with {}); expected {}", path,
                                         le_i32(p), kLlmcMagic, kExpected));
  if (le_i32(p + 4) != kLlmcVersion)
    throw std::runtime_error(
        fmt::format("{}: llm.c shard version {}, expected {} (uint16 token ids)", path, le_i32(p + 4), kLlmcVersion));
  const int64_t count = le_i32(p + 8);
  const int64_t want = static_cast<int64_t>(kLlmcHeaderBytes) + 2 * count;
  if (count < 0 || want != bytes)
    throw std::runtime_error(
        fmt::format("{}: the header says {} tokens ({} bytes with the header), but the file has {} "
                    "bytes (cut short, or not written by llm.c's scripts)",
                    path, count, want, bytes));
  return {kLlmcHeaderBytes, count};
}

// The index of the first of `n` little-endian uint16 ids at `bytes` that is
// at or above `vocab`; -1 when there is none. The common case (none) is one
// branch-free pass the compiler vectorises.
int64_t first_id_at_or_above(const unsigned char* bytes, int64_t n, int64_t vocab) {
  unsigned largest = 0;
  for (int64_t k = 0; k < n; ++k) largest = std::max<unsigned>(largest, bytes[2 * k] | bytes[2 * k + 1] << 8);
  if (largest < vocab) return -1;
  for (int64_t k = 0; k < n; ++k)
    if ((bytes[2 * k] | bytes[2 * k + 1] << 8) >= vocab) return k;
  return -1;
}

// Reads the file once, in 1 MiB pieces (not through the map: the pages read
// are not kept in this process's memory): its checksum, and the first id at
// or above `vocab` is refused.
uint64_t scan(const std::string& path, size_t header_bytes, int64_t vocab) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error(path + ": cannot open: " + std::strerror(errno));
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  std::vector<unsigned char> buf(1 << 20);
  Xxh64 h;
  int64_t offset = 0;
  for (;;) {
    const ssize_t got = ::read(fd, buf.data(), buf.size());
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      const int err = errno;
      ::close(fd);
      throw std::runtime_error(path + ": read error: " + std::strerror(err));
    }
    if (got == 0) break;
    h.update(buf.data(), static_cast<size_t>(got));
    // Ids start at header_bytes, an even offset, and every piece but the last has an even size.
    const int64_t first = std::max<int64_t>(0, static_cast<int64_t>(header_bytes) - offset);
    if (int64_t at = first_id_at_or_above(buf.data() + first, (got - first) / 2, vocab); at >= 0) {
      ::close(fd);
      const int64_t byte = offset + first + 2 * at;
      throw std::runtime_error(
          fmt::format("{}: token {} (byte offset {}) is id {}, at or above the vocabulary of {} "
                      "(--model.vocab_size; GPT-2's is {})",
                      path, (byte - static_cast<int64_t>(header_bytes)) / 2, byte,
                      buf[first + 2 * at] | buf[first + 2 * at + 1] << 8, vocab, kGpt2VocabSize));
    }
    offset += got;
  }
  ::close(fd);
  return h.digest();
}

std::unique_ptr<MappedTokens> open_split(const std::vector<std::string>& files, TokenFormat format, int64_t vocab,
                                         std::vector<TokenFileRecord>& records) {
  std::vector<MappedTokens::Part> parts;
  for (const std::string& f : files) {
    const auto bytes = static_cast<int64_t>(fs::file_size(f));
    const FileLayout layout = check_layout(f, format, bytes);
    records.push_back({base_name(f), bytes, scan(f, layout.header_bytes, vocab)});
    parts.push_back({MappedFile(f), layout.header_bytes, layout.tokens});
  }
  return std::make_unique<MappedTokens>(std::move(parts));
}

}  // namespace

std::string format_name(TokenFormat f) {
  return f == TokenFormat::NanoGpt ? "nanoGPT train.bin/val.bin" : "llm.c shards";
}

bool is_token_data(const std::string& data_flag) {
  if (data_flag.empty()) return false;
  // The error_code forms: a path that cannot be looked at (a symlink loop,
  // no permission) is not token data; reading it as text then says why.
  std::error_code ec;
  if (fs::is_directory(data_flag, ec)) return true;
  return data_flag.find_first_of("*?[") != std::string::npos && !fs::exists(data_flag, ec);
}

TokenFileSet find_token_files(const std::string& data_flag) {
  return fs::is_directory(data_flag) ? find_in_folder(data_flag) : find_by_glob(data_flag);
}

TokenData open_token_files(const std::string& data_flag, int64_t vocab) {
  const TokenFileSet set = find_token_files(data_flag);
  const char* where = set.format == TokenFormat::NanoGpt ? "" : " (llm.c shards are split by name: *train*, *val*)";
  for (const auto& [files, split] : {std::pair{&set.train, "training"}, std::pair{&set.val, "validation"}})
    if (files->empty())
      throw std::runtime_error(
          fmt::format("--data {}: no {} files{}; expected {}", data_flag, split, where, kExpected));
  TokenData data;
  data.format = set.format;
  data.train = open_split(set.train, set.format, vocab, data.records);
  data.val = open_split(set.val, set.format, vocab, data.records);
  for (const auto& [split, name, files] :
       {std::tuple{data.train.get(), "training", &set.train}, std::tuple{data.val.get(), "validation", &set.val}})
    if (split->size() == 0)
      throw std::runtime_error(fmt::format("--data {}: the {} split is empty: {} hold{} no tokens", data_flag, name,
                                           fmt::join(*files, ", "), files->size() == 1 ? "s" : ""));
  return data;
}

void check_token_files_unchanged(const std::vector<TokenFileRecord>& recorded, const std::vector<TokenFileRecord>& now,
                                 const std::string& data_flag) {
  const std::string fix =
      "; the run's checkpoint continues only on the data it started with (restore those files, or "
      "start a new run)";
  for (size_t i = 0; i < std::max(recorded.size(), now.size()); ++i) {
    if (i >= now.size())
      throw std::runtime_error(
          fmt::format("--data {}: {} is missing: the run was started with it{}", data_flag, recorded[i].name, fix));
    if (i >= recorded.size())
      throw std::runtime_error(
          fmt::format("--data {}: {} is new: the run was started without it{}", data_flag, now[i].name, fix));
    const TokenFileRecord &a = recorded[i], &b = now[i];
    if (a.name != b.name)
      throw std::runtime_error(
          fmt::format("--data {}: {} stands where the run had {}{}", data_flag, b.name, a.name, fix));
    if (a.bytes != b.bytes || a.xxh64 != b.xxh64)
      throw std::runtime_error(fmt::format(
          "--data {}: {} changed since the run started ({} bytes, checksum {:016x} then; {} bytes, checksum {:016x} now){}",
          data_flag, a.name, a.bytes, a.xxh64, b.bytes, b.xxh64, fix));
  }
}

}  // namespace mhc
