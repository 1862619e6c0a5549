// caching_allocator.h — keeps freed blocks for reuse so that a warm training
// step, which asks for the same sizes every time, never reaches the system
// allocator (malloc or cudaMalloc). Sizes are rounded up to a small set of
// classes (multiples of 512 bytes below 1 MiB, then four classes per power of
// two) and each class has its own free list.
#pragma once
#include <cstddef>
#include <functional>
#include <unordered_map>
#include <vector>

#include "kernels/backend.h"

namespace mhc {

class CachingAllocator {
 public:
  using RawAlloc = std::function<void*(size_t)>;
  using RawFree = std::function<void(void*)>;
  CachingAllocator(RawAlloc raw_alloc, RawFree raw_free);
  ~CachingAllocator();
  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;

  void* allocate(size_t bytes);
  void deallocate(void* ptr, size_t bytes);
  void empty_cache();  // returns every cached (unused) block to the system
  void reset_peak() { stats_.peak_bytes_in_use = stats_.bytes_in_use; }
  const AllocatorStats& stats() const { return stats_; }
  static size_t size_class(size_t bytes);

 private:
  RawAlloc raw_alloc_;
  RawFree raw_free_;
  std::unordered_map<size_t, std::vector<void*>> free_blocks_;
  AllocatorStats stats_;
};

}  // namespace mhc
