// caching_allocator.cpp — segments, best-fit blocks, splitting and merging; see the header.
#include "kernels/caching_allocator.h"

#include <algorithm>
#include <new>
#include <stdexcept>
#include <string>

namespace mhc {

CachingAllocator::CachingAllocator(RawAlloc raw_alloc, RawFree raw_free)
    : raw_alloc_(std::move(raw_alloc)), raw_free_(std::move(raw_free)) {}

CachingAllocator::~CachingAllocator() {
  empty_cache();
  // Blocks still in use at exit (tensors that outlive the backend) are left to the process.
}

size_t CachingAllocator::size_class(size_t bytes) {
  if (bytes == 0) bytes = 1;
  return (bytes + kRound - 1) / kRound * kRound;
}

CachingAllocator::Block* CachingAllocator::new_segment(size_t rounded, bool small) {
  size_t seg =
      small ? kSmallSegment
            : (rounded <= kMediumRequest ? kMediumSegment : (rounded + kLargeRound - 1) / kLargeRound * kLargeRound);
  // The small pool grows by an eighth of what it holds (2 MiB at least), so
  // a step that needs a little more than the ones before (a MoE routing that
  // is more uneven) finds the slack there the next time.
  if (small) seg = std::max(seg, (small_reserved_ / 8 + kSmallSegment - 1) / kSmallSegment * kSmallSegment);
  void* p = raw_alloc_(seg);
  if (!p) {
    // Out of memory: give back what is cached, then try again, then with no slack.
    empty_cache();
    p = raw_alloc_(seg);
    if (!p && seg > rounded) p = raw_alloc_(seg = rounded);
    if (!p) throw std::bad_alloc();
  }
  stats_.system_allocations++;
  stats_.bytes_reserved += static_cast<int64_t>(seg);
  if (small) small_reserved_ += seg;
  Block* b = new Block;
  b->ptr = static_cast<char*>(p);
  b->size = seg;
  b->small_pool = small;
  return b;
}

void* CachingAllocator::allocate(size_t bytes) {
  const size_t rounded = size_class(bytes);
  const bool small = rounded <= kSmallRequest;
  stats_.requests++;
  FreeSet& free_set = pool(small);
  Block key;
  key.size = rounded;
  Block* b = nullptr;
  auto it = free_set.lower_bound(&key);  // the smallest free block that fits (lowest address among equals)
  if (it != free_set.end()) {
    b = *it;
    free_set.erase(it);
  } else {
    b = new_segment(rounded, small);
  }
  // Split off the rest when it is worth keeping as a block of its own.
  const size_t rest = b->size - rounded;
  if (rest >= (small ? kRound : kSmallRequest + 1)) {
    Block* r = new Block;
    r->ptr = b->ptr + rounded;
    r->size = rest;
    r->small_pool = small;
    r->prev = b;
    r->next = b->next;
    if (b->next) b->next->prev = r;
    b->next = r;
    b->size = rounded;
    free_set.insert(r);
  }
  b->free = false;
  in_use_.emplace(b->ptr, b);
  stats_.bytes_in_use += static_cast<int64_t>(b->size);
  if (stats_.bytes_in_use > stats_.peak_bytes_in_use) stats_.peak_bytes_in_use = stats_.bytes_in_use;
  return b->ptr;
}

void CachingAllocator::deallocate(void* ptr, size_t /*bytes*/) {
  if (!ptr) return;
  auto it = in_use_.find(ptr);
  if (it == in_use_.end()) throw std::logic_error("CachingAllocator: deallocate of a pointer it did not hand out");
  Block* b = it->second;
  in_use_.erase(it);
  stats_.bytes_in_use -= static_cast<int64_t>(b->size);
  b->free = true;
  FreeSet& free_set = pool(b->small_pool);
  // Merge with free neighbours: the block absorbs the next one, the previous one absorbs the block.
  if (b->next && b->next->free) {
    Block* n = b->next;
    free_set.erase(n);
    b->size += n->size;
    b->next = n->next;
    if (n->next) n->next->prev = b;
    delete n;
  }
  if (b->prev && b->prev->free) {
    Block* p = b->prev;
    free_set.erase(p);
    p->size += b->size;
    p->next = b->next;
    if (b->next) b->next->prev = p;
    delete b;
    b = p;
  }
  free_set.insert(b);
}

void CachingAllocator::release_segment(Block* b) {
  raw_free_(b->ptr);
  stats_.system_frees++;
  stats_.bytes_reserved -= static_cast<int64_t>(b->size);
  if (b->small_pool) small_reserved_ -= b->size;
  delete b;
}

void CachingAllocator::empty_cache() {
  // A free block with no neighbours is a whole segment with nothing in use.
  for (FreeSet* s : {&small_free_, &large_free_}) {
    for (auto it = s->begin(); it != s->end();) {
      Block* b = *it;
      if (!b->prev && !b->next) {
        it = s->erase(it);
        release_segment(b);
      } else {
        ++it;
      }
    }
  }
}

}  // namespace mhc
