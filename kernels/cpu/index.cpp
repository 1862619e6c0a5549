// index.cpp — CPU gathers, index-adds (scatter-add) and top-k.
// Scatter-adds are deterministic: each destination row is owned by one
// thread, which adds its sources in increasing source index.
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/thread_scratch.h"

namespace mhc {

using cpu::kParallelGrain;

namespace {
[[noreturn]] void bad_index(const char* op, int64_t i, int32_t v, int64_t dim) {
  throw std::out_of_range(std::string(op) + ": index " + std::to_string(v) + " at position " + std::to_string(i) +
                          " is outside [0, " + std::to_string(dim) + ")");
}
void check_indices(const char* op, const int32_t* idx, int64_t n, int64_t dim) {
  for (int64_t i = 0; i < n; ++i)
    if (idx[i] < 0 || idx[i] >= dim) bad_index(op, i, idx[i], dim);
}
}  // namespace

void CpuBackend::gather(DType t, const void* x, const int32_t* idx, void* y, int64_t outer, int64_t dim, int64_t inner,
                        int64_t n_idx) {
  check_indices("gather", idx, n_idx, dim);
  const size_t es = dtype_size(t);
  const char* xp = static_cast<const char*>(x);
  char* yp = static_cast<char*>(y);
  const int64_t rows = outer * n_idx;
#pragma omp parallel for schedule(static) if (rows * inner > kParallelGrain && rows > 1)
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t o = r / n_idx, i = r % n_idx;
    std::memcpy(yp + (r * inner) * es, xp + ((o * dim + idx[i]) * inner) * es, inner * es);
  }
}

void CpuBackend::index_add(DType t, void* y, const int32_t* idx, const void* src, int64_t outer, int64_t dim,
                           int64_t inner, int64_t n_idx) {
  check_indices("index_add", idx, n_idx, dim);
  dispatch_float(t, "index_add", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    scalar_t* yp = static_cast<scalar_t*>(y);
    const scalar_t* sp = static_cast<const scalar_t*>(src);
    // Thread k owns destination rows with (o*dim + row) % nthreads == k; every
    // thread scans all sources in order, so each row sums in increasing i.
#pragma omp parallel if (outer * n_idx * inner > kParallelGrain)
    {
      const int nt = omp_get_num_threads(), tid = omp_get_thread_num();
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < n_idx; ++i) {
          const int64_t row = o * dim + idx[i];
          if (row % nt != tid) continue;
          scalar_t* yr = yp + row * inner;
          const scalar_t* sr = sp + (o * n_idx + i) * inner;
          for (int64_t c = 0; c < inner; ++c) yr[c] += sr[c];
        }
    }
  });
}

void CpuBackend::gather_last(DType t, const void* x, const int32_t* idx, void* y, int64_t rows, int64_t cols,
                             int64_t k) {
  check_indices("gather_last", idx, rows * k, cols);
  dispatch_float(t, "gather_last", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    const scalar_t* xp = static_cast<const scalar_t*>(x);
    scalar_t* yp = static_cast<scalar_t*>(y);
#pragma omp parallel for schedule(static) if (rows * k > kParallelGrain)
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < k; ++j) yp[r * k + j] = xp[r * cols + idx[r * k + j]];
  });
}

void CpuBackend::scatter_add_last(DType t, void* y, const int32_t* idx, const void* src, int64_t rows, int64_t cols,
                                  int64_t k) {
  check_indices("scatter_add_last", idx, rows * k, cols);
  dispatch_float(t, "scatter_add_last", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    scalar_t* yp = static_cast<scalar_t*>(y);
    const scalar_t* sp = static_cast<const scalar_t*>(src);
#pragma omp parallel for schedule(static) if (rows * k > kParallelGrain)
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < k; ++j) yp[r * cols + idx[r * k + j]] += sp[r * k + j];
  });
}

void CpuBackend::topk(DType t, const void* x, void* values, int32_t* indices, int64_t rows, int64_t cols, int64_t k) {
  if (k > cols || k < 0)
    throw std::invalid_argument("topk: k = " + std::to_string(k) + " but the axis has " + std::to_string(cols) +
                                " entries");
  dispatch_float(t, "topk", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    const scalar_t* xp = static_cast<const scalar_t*>(x);
    scalar_t* vp = static_cast<scalar_t*>(values);
    cpu::ThreadScratch<int32_t> orders(cols);
#pragma omp parallel if (rows * cols > kParallelGrain)
    {
      int32_t* order = orders.get();  // (cols)
#pragma omp for schedule(static)
      for (int64_t r = 0; r < rows; ++r) {
        const scalar_t* xr = xp + r * cols;
        std::iota(order, order + cols, 0);
        // Larger value first; equal values keep the lower index first.
        std::partial_sort(order, order + k, order + cols,
                          [&](int32_t a, int32_t b) { return xr[a] > xr[b] || (xr[a] == xr[b] && a < b); });
        for (int64_t j = 0; j < k; ++j) {
          indices[r * k + j] = order[j];
          vp[r * k + j] = xr[order[j]];
        }
      }
    }
  });
}

}  // namespace mhc
