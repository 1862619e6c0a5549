// token_cache.h — tokenising a corpus once and reusing the ids on later runs.
//
// The cache file <cache_dir>/tokens-<key>.bin, key = hash(text) combined with
// the tokenizer's fingerprint, holds (integers in the host's byte order; a
// file from a machine of the other order fails the version check and is redone):
//   8 bytes  magic "MHCTOKS\0"
//   u32      format version (1)
//   u32      reserved (0)
//   u64      key (must match the file name's)
//   u64      token count N
//   u64      checksum: FNV-1a of the N * 4 token bytes
//   N * i32  the token ids
// A file that fails any check is ignored and rewritten, never trusted.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "datasets/tokenizer.h"

namespace mhc {

// $MHC_CACHE_DIR if set, else $XDG_CACHE_HOME/mhc, else $HOME/.cache/mhc;
// "" (no caching) when none of these variables is set.
std::string default_cache_dir();

// The cache file tokenize_cached() reads and writes for this text and tokenizer.
std::string token_cache_path(const std::string& text, const Tokenizer& tok, const std::string& cache_dir);

// tok.encode(text), read from the cache when a valid entry exists, otherwise
// computed and stored (the folder is created when missing). An empty
// cache_dir disables caching. A cache that cannot be written only costs a
// warning on stderr. *cache_hit (when given) says whether the ids came from the cache.
// With write = false the cache is only read (the ranks of a data-parallel
// job other than rank 0: one process writes, and none of them warns twice).
std::vector<int32_t> tokenize_cached(const std::string& text, const Tokenizer& tok, const std::string& cache_dir,
                                     bool* cache_hit = nullptr, bool write = true);

}  // namespace mhc
