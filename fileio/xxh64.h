// xxh64.h — the XXH64 hash (xxHash's 64-bit variant, seed 0 unless given),
// the checksum of checkpoint, export and token files. It comes from Debian's
// libxxhash-dev, compiled inline (XXH_INLINE_ALL: nothing to link, nothing
// for a GPU machine to install), behind a small incremental interface. It
// runs at memory speed, where the byte-at-a-time FNV-1a of hash.h manages
// well under 1 GB/s, and its values are every other XXH64's (xxhsum -H64,
// python's xxhash.xxh64), so a file's checksum can be checked outside mhc.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

#define XXH_INLINE_ALL
#pragma GCC diagnostic push
// GCC 12 warns, wrongly, of an out-of-bounds pointer for inputs under 32 bytes
// (xxhash forms the pointer bEnd - 32 but reads through it only when 32 or more remain).
#pragma GCC diagnostic ignored "-Warray-bounds"
#include <xxhash.h>
#pragma GCC diagnostic pop
#undef XXH_INLINE_ALL

namespace mhc {

class Xxh64 {
 public:
  explicit Xxh64(uint64_t seed = 0) { XXH64_reset(&state_, seed); }

  // Appends bytes; hashing pieces one after another equals hashing them joined.
  void update(const void* data, size_t size) { XXH64_update(&state_, data, size); }
  void update(std::string_view bytes) { update(bytes.data(), bytes.size()); }
  // The hash of everything appended so far (more may be appended after).
  uint64_t digest() const { return XXH64_digest(&state_); }

 private:
  XXH64_state_t state_;  // held by value: XXH_INLINE_ALL exposes its layout
};

inline uint64_t xxh64(std::string_view bytes, uint64_t seed = 0) { return XXH64(bytes.data(), bytes.size(), seed); }

}  // namespace mhc
