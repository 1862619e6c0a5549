// token_file_writer.h — writes small token files for the tests: nanoGPT's
// headerless uint16 files and llm.c shards (header fields settable, to make
// each kind of damaged file).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "test_files.h"

namespace mhc::test {

inline std::string u16_bytes(const std::vector<int32_t>& ids) {
  std::string out;
  for (int32_t id : ids) {
    out.push_back(static_cast<char>(id & 0xFF));
    out.push_back(static_cast<char>((id >> 8) & 0xFF));
  }
  return out;
}

inline void write_nanogpt(const std::string& path, const std::vector<int32_t>& ids) {
  write_bytes(path, u16_bytes(ids));
}

// An llm.c shard: 256 int32 (magic, version, count, zeros), then the ids.
inline void write_llmc(const std::string& path, const std::vector<int32_t>& ids, int32_t magic = 20240520,
                       int32_t version = 1, int64_t count = -1) {
  std::string header(1024, '\0');
  const int32_t fields[3] = {magic, version,
                             static_cast<int32_t>(count < 0 ? static_cast<int64_t>(ids.size()) : count)};
  for (int f = 0; f < 3; ++f)
    for (int b = 0; b < 4; ++b)
      header[4 * f + b] = static_cast<char>((static_cast<uint32_t>(fields[f]) >> (8 * b)) & 0xFF);
  write_bytes(path, header + u16_bytes(ids));
}

// ids 0, 1, …, n-1 wrapped below `modulo`, offset by `start`.
inline std::vector<int32_t> id_ramp(int64_t n, int32_t start = 0, int32_t modulo = 1000) {
  std::vector<int32_t> ids(n);
  for (int64_t i = 0; i < n; ++i) ids[i] = static_cast<int32_t>((start + i) % modulo);
  return ids;
}

}  // namespace mhc::test
