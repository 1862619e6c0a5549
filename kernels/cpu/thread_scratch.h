// thread_scratch.h — per-thread scratch buffers for OpenMP parallel regions,
// allocated before the region starts.
//
// An exception cannot leave an OpenMP parallel region: one thrown inside it
// ends the program (std::terminate), whatever a caller would have caught. In
// the CPU kernels the only thing inside a region that can throw is the
// allocation of a thread's scratch space (std::bad_alloc), so that happens
// here, on the calling thread, before the region; inside, each thread takes
// its own slice with get(). Checks that can fail run before the region too.
//
//   ThreadScratch<float> scratch(T);   // may throw, outside the region
//   #pragma omp parallel
//   {
//     float* p = scratch.get();        // T elements, this thread's alone
//     ...
//   }
#pragma once
#include <omp.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace mhc::cpu {

template <class T>
class ThreadScratch {
 public:
  // Room for `per_thread` elements (value-initialised) for each thread a
  // region started from this thread can have.
  // Throws std::length_error or std::bad_alloc when that is more than there can be.
  explicit ThreadScratch(size_t per_thread) : stride_(padded(per_thread)), buf_(total(stride_)) {}

  // The calling thread's slice (inside the region).
  T* get() { return buf_.data() + stride_ * static_cast<size_t>(omp_get_thread_num()); }

 private:
  // Slices start on separate 64-byte cache lines (no false sharing).
  static size_t padded(size_t n) {
    const size_t line = sizeof(T) >= 64 ? 1 : 64 / sizeof(T);
    if (n > SIZE_MAX - line) throw std::length_error("ThreadScratch: " + std::to_string(n) + " elements per thread");
    return (n + line - 1) / line * line;
  }
  static size_t total(size_t stride) {
    const size_t threads = static_cast<size_t>(std::max(1, omp_get_max_threads()));
    if (stride > SIZE_MAX / threads)
      throw std::length_error("ThreadScratch: " + std::to_string(stride) + " elements for each of " +
                              std::to_string(threads) + " threads");
    return stride * threads;
  }
  size_t stride_;
  std::vector<T> buf_;
};

}  // namespace mhc::cpu
