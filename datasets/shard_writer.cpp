// shard_writer.cpp — see shard_writer.h.
#include "datasets/shard_writer.h"

#include <fmt/format.h>

#include <cstdint>
#include <filesystem>
#include <stdexcept>

#include "fileio/file_io.h"
#include "datasets/token_files.h"

namespace fs = std::filesystem;

namespace mhc {

namespace {
void put_i32(std::ostream& out, int32_t v) {
  const char b[4] = {static_cast<char>(v & 0xFF), static_cast<char>((v >> 8) & 0xFF),
                     static_cast<char>((v >> 16) & 0xFF), static_cast<char>((v >> 24) & 0xFF)};
  out.write(b, 4);
}
}  // namespace

ShardWriter::ShardWriter(std::string dir, std::string prefix, std::string split, int64_t shard_tokens)
    : dir_(std::move(dir)), prefix_(std::move(prefix)), split_(std::move(split)), shard_tokens_(shard_tokens) {
  if (shard_tokens < 1 || shard_tokens > INT32_MAX)
    throw std::invalid_argument(fmt::format("shard size {} tokens is outside [1, 2^31 - 1]", shard_tokens));
}

ShardWriter::~ShardWriter() {
  if (!out_.is_open()) return;
  out_.close();
  std::error_code ignored;
  fs::remove(temp_, ignored);
}

void ShardWriter::open_next() {
  path_ = (fs::path(dir_) / fmt::format("{}_{}_{:06d}.bin", prefix_, split_, written_.size())).string();
  temp_ = path_ + ".tmp";
  out_.open(temp_, std::ios::binary | std::ios::trunc);
  if (!out_) throw WriteError(temp_ + ": cannot create");
  out_.write(std::string(kLlmcHeaderBytes, '\0').data(), kLlmcHeaderBytes);  // filled in when the shard is complete
  in_shard_ = 0;
}

void ShardWriter::close_current() {
  out_.seekp(0);
  put_i32(out_, kLlmcMagic);
  put_i32(out_, kLlmcVersion);
  put_i32(out_, static_cast<int32_t>(in_shard_));
  out_.close();
  if (out_.fail()) throw WriteError(temp_ + ": write failed (disk full?)");
  fs::rename(temp_, path_);
  written_.push_back(path_);
}

void ShardWriter::add(const std::vector<int32_t>& ids) {
  std::string bytes;
  bytes.reserve(2 * ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    if (!out_.is_open()) open_next();
    const int32_t id = ids[i];
    if (id < 0 || id > 0xFFFF)
      throw std::runtime_error(
          fmt::format("token id {} does not fit llm.c's uint16 ids (a vocabulary above 65536)", id));
    bytes.push_back(static_cast<char>(id & 0xFF));
    bytes.push_back(static_cast<char>(id >> 8));
    if (++in_shard_, ++total_; in_shard_ == shard_tokens_) {
      out_.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
      bytes.clear();
      close_current();
    }
  }
  if (!bytes.empty()) out_.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (out_.is_open() && out_.fail()) throw WriteError(temp_ + ": write failed (disk full?)");
}

const std::vector<std::string>& ShardWriter::finish() {
  if (out_.is_open()) close_current();
  return written_;
}

}  // namespace mhc
