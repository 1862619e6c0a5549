// caching_allocator.cpp — size classes and free lists; see the header.
#include "kernels/caching_allocator.h"

#include <bit>
#include <new>
#include <stdexcept>
#include <string>

namespace mhc {

CachingAllocator::CachingAllocator(RawAlloc raw_alloc, RawFree raw_free)
    : raw_alloc_(std::move(raw_alloc)), raw_free_(std::move(raw_free)) {}

CachingAllocator::~CachingAllocator() { empty_cache(); }

size_t CachingAllocator::size_class(size_t bytes) {
  if (bytes == 0) bytes = 1;
  constexpr size_t kSmall = 1 << 20;
  if (bytes <= kSmall) return (bytes + 511) / 512 * 512;
  // Four classes per power of two: 1, 1.25, 1.5, 1.75 × 2^k (≤ 25% waste).
  size_t p = std::bit_floor(bytes);
  size_t step = p / 4;
  return (bytes + step - 1) / step * step;
}

void* CachingAllocator::allocate(size_t bytes) {
  const size_t cls = size_class(bytes);
  stats_.requests++;
  void* ptr = nullptr;
  auto it = free_blocks_.find(cls);
  if (it != free_blocks_.end() && !it->second.empty()) {
    ptr = it->second.back();
    it->second.pop_back();
  } else {
    ptr = raw_alloc_(cls);
    if (!ptr) {
      // Out of memory: give back what is cached and try once more.
      empty_cache();
      ptr = raw_alloc_(cls);
      if (!ptr) throw std::bad_alloc();
    }
    stats_.system_allocations++;
    stats_.bytes_reserved += static_cast<int64_t>(cls);
  }
  stats_.bytes_in_use += static_cast<int64_t>(cls);
  if (stats_.bytes_in_use > stats_.peak_bytes_in_use) stats_.peak_bytes_in_use = stats_.bytes_in_use;
  return ptr;
}

void CachingAllocator::deallocate(void* ptr, size_t bytes) {
  if (!ptr) return;
  const size_t cls = size_class(bytes);
  stats_.bytes_in_use -= static_cast<int64_t>(cls);
  free_blocks_[cls].push_back(ptr);
}

void CachingAllocator::empty_cache() {
  for (auto& [cls, blocks] : free_blocks_) {
    for (void* p : blocks) {
      raw_free_(p);
      stats_.system_frees++;
      stats_.bytes_reserved -= static_cast<int64_t>(cls);
    }
    blocks.clear();
  }
}

}  // namespace mhc
