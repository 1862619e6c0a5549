// hash.h — the 64-bit hashes used as cache keys and file checksums:
// FNV-1a over bytes (simple, stable across compilers and machines) and a
// splitmix64-style mixer for combining two hashes into one.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace mhc {

inline constexpr uint64_t kFnvOffset = 0xcbf29ce484222325ULL;
inline constexpr uint64_t kFnvPrime = 0x100000001b3ULL;

// FNV-1a over `size` bytes, continuing from `hash` (pass the result of an
// earlier call to hash several pieces as if they were one).
inline uint64_t fnv1a64(const void* data, size_t size, uint64_t hash = kFnvOffset) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < size; ++i) {
    hash ^= bytes[i];
    hash *= kFnvPrime;
  }
  return hash;
}
inline uint64_t fnv1a64(std::string_view text, uint64_t hash = kFnvOffset) {
  return fnv1a64(text.data(), text.size(), hash);
}

// Combines two hashes so that hash_combine(a, b) != hash_combine(b, a).
inline uint64_t hash_combine(uint64_t a, uint64_t b) {
  uint64_t x = a ^ (b + 0x9e3779b97f4a7c15ULL + (a << 6) + (a >> 2));
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace mhc
