// caching_allocator.h — keeps freed memory for reuse so that a warm training
// step never reaches the system allocator (malloc or cudaMalloc), even when
// its sizes vary from step to step (a mixture-of-experts step: every expert's
// token count changes with the routing).
//
// Design (best fit with splitting and coalescing):
//   * a request is rounded up to a multiple of 512 bytes (size_class);
//   * memory comes from the system in segments, which are cut into blocks:
//     requests up to 1 MiB share 2 MiB segments (the small pool), larger
//     ones take 20 MiB segments up to 10 MiB and their own rounded size
//     (to 2 MiB) above (the large pool), so long-lived small tensors do not
//     pin down the large segments;
//   * allocate() takes the smallest free block of its pool that fits and
//     splits off the rest when that rest is worth keeping (at least 512 bytes
//     in the small pool, more than 1 MiB in the large one);
//   * deallocate() merges the block with free neighbours of its segment, so
//     the memory of one step's varying sizes is whole again for the next;
//   * only when nothing fits does a new segment come from the system; the
//     small pool's new segments are an eighth of what it holds (2 MiB at
//     least), so a step needing a little more than any before leaves slack.
// Blocks start at multiples of 512 bytes from a segment's start, so every
// pointer keeps the system allocator's alignment (64 bytes CPU, 256 CUDA).
// Not thread-safe (the backends call it from the host thread only).
#pragma once
#include <cstddef>
#include <functional>
#include <set>
#include <unordered_map>

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
  // ptr must come from allocate(); bytes is not needed (the block knows its size).
  void deallocate(void* ptr, size_t bytes);
  void empty_cache();  // returns every segment with nothing in use to the system
  void reset_peak() { stats_.peak_bytes_in_use = stats_.bytes_in_use; }
  const AllocatorStats& stats() const { return stats_; }
  // A request's size once rounded: a multiple of 512 bytes, at least 512.
  static size_t size_class(size_t bytes);

  static constexpr size_t kRound = 512;
  static constexpr size_t kSmallRequest = size_t{1} << 20;  // the small pool's largest request
  static constexpr size_t kSmallSegment = size_t{2} << 20;
  static constexpr size_t kMediumRequest = size_t{10} << 20;  // large requests up to this share 20 MiB segments
  static constexpr size_t kMediumSegment = size_t{20} << 20;
  static constexpr size_t kLargeRound = size_t{2} << 20;

 private:
  struct Block {
    char* ptr = nullptr;
    size_t size = 0;
    bool free = true;
    bool small_pool = true;
    Block* prev = nullptr;  // neighbours within the same segment
    Block* next = nullptr;
  };
  struct BySizeThenAddress {
    bool operator()(const Block* a, const Block* b) const {
      return a->size != b->size ? a->size < b->size : a->ptr < b->ptr;
    }
  };
  using FreeSet = std::set<Block*, BySizeThenAddress>;

  FreeSet& pool(bool small) { return small ? small_free_ : large_free_; }
  Block* new_segment(size_t rounded, bool small);
  void release_segment(Block* b);

  RawAlloc raw_alloc_;
  RawFree raw_free_;
  FreeSet small_free_, large_free_;
  std::unordered_map<void*, Block*> in_use_;
  size_t small_reserved_ = 0;  // bytes of the small pool's segments
  AllocatorStats stats_;
};

}  // namespace mhc
