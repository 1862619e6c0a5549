// shard_writer.h — writing token ids as llm.c shards: a 256 × int32 header
// (magic 20240520, version 1, token count) and the ids as little-endian
// uint16, a new shard every `shard_tokens` ids. Each shard is written under a
// temporary name and renamed once complete, so a shard on disk is whole.
#pragma once
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

namespace mhc {

class ShardWriter {
 public:
  // Shards DIR/<prefix>_<split>_000000.bin, …; split is "train" or "val".
  ShardWriter(std::string dir, std::string prefix, std::string split, int64_t shard_tokens);
  ~ShardWriter();  // a shard not finished is removed
  ShardWriter(const ShardWriter&) = delete;
  ShardWriter& operator=(const ShardWriter&) = delete;

  // Appends ids; throws std::runtime_error for an id outside [0, 65535] (uint16)
  // and WriteError when the disk refuses.
  void add(const std::vector<int32_t>& ids);
  // Completes the last shard; returns every shard written, in order.
  const std::vector<std::string>& finish();
  int64_t tokens() const { return total_; }

 private:
  void open_next();
  void close_current();
  std::string dir_, prefix_, split_;
  int64_t shard_tokens_, in_shard_ = 0, total_ = 0;
  std::ofstream out_;
  std::string temp_, path_;
  std::vector<std::string> written_;
};

}  // namespace mhc
