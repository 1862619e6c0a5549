// token_files.h — training on token files that others prepared: nanoGPT's
// train.bin / val.bin and llm.c's .bin shards. Finds them from the --data
// value, tells the format from the files themselves, refuses bad files
// before training (naming the file and the problem) and maps them into memory.
//
//   nanoGPT  DIR/train.bin, DIR/val.bin: headerless little-endian uint16 ids
//   llm.c    DIR/*.bin or a glob: a header of 256 little-endian int32
//            (magic 20240520, version 1, token count, the rest unused), then
//            that many uint16 ids; shards named *train* train, *val* validate
//
// Memory: the files are mapped, never read into memory whole; opening them
// reads each once (in 1 MiB pieces) to check the ids and take a checksum.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "datasets/token_source.h"

namespace mhc {

inline constexpr int32_t kLlmcMagic = 20240520;
inline constexpr int32_t kLlmcVersion = 1;
inline constexpr size_t kLlmcHeaderBytes = 256 * sizeof(int32_t);
inline constexpr int64_t kGpt2VocabSize = 50257;  // the vocabulary of token files unless the model sets one

enum class TokenFormat { NanoGpt, Llmc };
std::string format_name(TokenFormat f);  // "nanoGPT train.bin/val.bin" | "llm.c shards"

// What a run records of each file it trained on, to tell on resume whether
// the data changed since.
struct TokenFileRecord {
  std::string name;  // the file name, without its folder (the folder may move)
  int64_t bytes = 0;
  uint64_t xxh64 = 0;  // of the whole file
  bool operator==(const TokenFileRecord& o) const { return name == o.name && bytes == o.bytes && xxh64 == o.xxh64; }
};

// Whether a --data value names token files rather than a text corpus: a
// folder, or a glob pattern (* ? [) that is not itself an existing file.
bool is_token_data(const std::string& data_flag);

// The files of each split, in name order. Throws std::runtime_error naming
// the folder or pattern and the expected formats when neither is found.
struct TokenFileSet {
  TokenFormat format = TokenFormat::NanoGpt;
  std::vector<std::string> train, val;
};
TokenFileSet find_token_files(const std::string& data_flag);

// Both splits mapped, after every file was checked: header (llm.c), size
// against the header count or an odd byte count, every id below `vocab`,
// neither split empty. Throws std::runtime_error naming the file and problem.
struct TokenData {
  TokenFormat format = TokenFormat::NanoGpt;
  std::unique_ptr<MappedTokens> train, val;
  std::vector<TokenFileRecord> records;  // training files, then validation files
};
TokenData open_token_files(const std::string& data_flag, int64_t vocab);

// Throws std::runtime_error naming the first file that differs between what a
// run recorded and what is there now (added, missing, other size or checksum).
void check_token_files_unchanged(const std::vector<TokenFileRecord>& recorded, const std::vector<TokenFileRecord>& now,
                                 const std::string& data_flag);

}  // namespace mhc
