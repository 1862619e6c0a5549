// strided_plan.h — how K strided operands walk one shape, for the CPU and
// CUDA elementwise kernels alike. Size-1 dimensions are dropped and
// neighbours that are contiguous in every operand are merged, so the common
// cases (all contiguous, one side broadcast along a whole axis) become one
// long inner loop (CPU) or a cheap flat-index decomposition (CUDA).
#pragma once
#include <cstdint>

#include "kernels/layout.h"

namespace mhc {

template <int K>
struct StridedPlan {
  int ndim = 0;  // after collapsing; 0 means a single element
  int64_t shape[kMaxDims];
  int64_t stride[K][kMaxDims];
  int64_t rows() const {  // product of all but the innermost dimension
    int64_t r = 1;
    for (int d = 0; d + 1 < ndim; ++d) r *= shape[d];
    return r;
  }
  int64_t inner() const { return ndim ? shape[ndim - 1] : 1; }
  // Element offsets of row `r` (in every operand).
  void row_offsets(int64_t r, int64_t* off) const {
    for (int k = 0; k < K; ++k) off[k] = 0;
    for (int d = ndim - 2; d >= 0; --d) {
      const int64_t i = r % shape[d];
      r /= shape[d];
      for (int k = 0; k < K; ++k) off[k] += i * stride[k][d];
    }
  }
};

template <int K>
StridedPlan<K> make_plan(const Shape& shape, const Strides* const (&strides)[K]) {
  StridedPlan<K> p;
  for (int d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    if (p.ndim > 0) {
      // Merge with the previous kept dimension when every operand steps over it contiguously.
      const int q = p.ndim - 1;
      bool mergeable = true;
      for (int k = 0; k < K; ++k)
        if (p.stride[k][q] != (*strides[k])[d] * shape[d]) mergeable = false;
      if (mergeable) {
        p.shape[q] *= shape[d];
        for (int k = 0; k < K; ++k) p.stride[k][q] = (*strides[k])[d];
        continue;
      }
    }
    p.shape[p.ndim] = shape[d];
    for (int k = 0; k < K; ++k) p.stride[k][p.ndim] = (*strides[k])[d];
    p.ndim++;
  }
  return p;
}

}  // namespace mhc
