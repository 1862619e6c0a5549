// cuda_index.cu — gathers, deterministic scatter-adds, top-k and MoE dispatch.
//
// Thread mapping:
//   * gather: a 2-D grid, output rows (o, i) on y and the `inner` elements of
//     a row on x (one thread per element when rows are shorter than a warp);
//     any dtype (the elements are moved as 2/4/8-byte words).
//   * index_add (the embedding backward: many tokens, few distinct rows):
//     no atomics. The indices are stably sorted together with their
//     positions (CUB's radix sort is stable), so equal destination rows
//     become runs listing their sources in increasing position. One block per
//     sorted position p does the work only if p starts a run: its threads
//     take columns t, t + B, ..., and each adds the run's source rows to the
//     destination in increasing source position — the CPU's order, so f32
//     results are bit-identical to the CPU's. (A row that is repeated very
//     often is summed by one block; splitting long runs into fixed chunks
//     would be the next optimisation.)
//   * gather_last: one thread per output element. scatter_add_last: one
//     thread per row, adding its k entries in increasing j (k is small).
//   * topk: one block per row, k rounds. Each value becomes a 64-bit key
//     (order-preserving bits of the value above the inverted column index),
//     so "larger value, then lower index" is just "larger key". Round j finds
//     the largest key below the key picked in round j − 1 with a block-wide
//     max (warp shuffles + shared memory): no sorting network, any row length.
//   * moe_dispatch: CUB stable radix sort of (expert, assignment) pairs gives
//     `order`; offsets[e] = number of sorted experts < e, by binary search.
// Temporary buffers (sort keys and values, CUB's scratch) come from the
// backend's caching allocator.
#include <algorithm>
#include <cub/device/device_radix_sort.cuh>

#include "kernels/cuda/cuda_helpers.cuh"
#include "kernels/cuda/cuda_profile.h"

namespace mhc {

using namespace cuda;

namespace {

// ---- gather -----------------------------------------------------------------------------

template <class U>
__global__ void gather_kernel(const U* x, const int32_t* idx, U* y, int64_t outer, int64_t dim, int64_t inner,
                              int64_t n_idx, U bad_bits) {
  const int64_t rows = outer * n_idx;
  const int64_t cstride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
    const int64_t o = r / n_idx, i = r % n_idx;
    const int32_t j = idx[i];
    const bool ok = j >= 0 && j < dim;
    const U* src = x + (o * dim + j) * inner;
    U* dst = y + r * inner;
    for (int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; c < inner; c += cstride)
      dst[c] = ok ? src[c] : bad_bits;
  }
}

// Short rows (inner < 32): one thread per output element instead.
template <class U>
__global__ void gather_flat_kernel(const U* x, const int32_t* idx, U* y, int64_t outer, int64_t dim, int64_t inner,
                                   int64_t n_idx, U bad_bits) {
  const int64_t n = outer * n_idx * inner;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < n; e += stride) {
    const int64_t c = e % inner, r = e / inner;
    const int64_t o = r / n_idx, i = r % n_idx;
    const int32_t j = idx[i];
    y[e] = (j >= 0 && j < dim) ? x[(o * dim + j) * inner + c] : bad_bits;
  }
}

template <class U>
void gather_typed(const void* x, const int32_t* idx, void* y, int64_t outer, int64_t dim, int64_t inner, int64_t n_idx,
                  U bad_bits) {
  const U* xp = static_cast<const U*>(x);
  U* yp = static_cast<U*>(y);
  if (inner < 32) {
    gather_flat_kernel<<<grid_for(outer * n_idx * inner, kThreads), kThreads>>>(xp, idx, yp, outer, dim, inner, n_idx,
                                                                                bad_bits);
  } else {
    const dim3 grid(grid_for(inner, kThreads, 64), static_cast<unsigned>(std::min<int64_t>(outer * n_idx, 65535)));
    gather_kernel<<<grid, kThreads>>>(xp, idx, yp, outer, dim, inner, n_idx, bad_bits);
  }
  MHC_CUDA_CHECK_LAUNCH();
}

// ---- stable sort of small integer keys (shared by index_add and moe_dispatch) -------------

// keys[i] = in-range ? raw[i] : sentinel (= range); values[i] = i.
__global__ void make_sort_input_kernel(const int32_t* raw, int64_t n, int64_t range, uint32_t* keys, int32_t* values) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const int32_t k = raw[i];
    keys[i] = (k >= 0 && k < range) ? static_cast<uint32_t>(k) : static_cast<uint32_t>(range);
    values[i] = static_cast<int32_t>(i);
  }
}

inline int bits_for(uint64_t v) {  // bits needed to write v (≥ 1)
  int b = 1;
  while (b < 32 && (v >> b) != 0) ++b;
  return b;
}

// Stable sort of n raw integer keys with values 0..n-1. Out-of-range keys
// (outside [0, range)) become `range` and sort last. Writes sorted keys and
// the matching positions; all buffers come from `backend`'s cache.
struct SortedPairs {
  ScratchBuffer keys_in, values_in, keys_out, values_out;
  SortedPairs(Backend& backend, int64_t n)
      : keys_in(backend, n * 4), values_in(backend, n * 4), keys_out(backend, n * 4), values_out(backend, n * 4) {}
};

void sort_pairs(Backend& backend, const int32_t* raw, int64_t n, int64_t range, SortedPairs& buf, int32_t* values_out) {
  make_sort_input_kernel<<<grid_for(n, kThreads), kThreads>>>(raw, n, range, buf.keys_in.as<uint32_t>(),
                                                              buf.values_in.as<int32_t>());
  MHC_CUDA_CHECK_LAUNCH();
  const int end_bit = bits_for(static_cast<uint64_t>(range));
  const int num = static_cast<int>(n);
  size_t temp_bytes = 0;
  MHC_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, temp_bytes, buf.keys_in.as<const uint32_t>(),
                                                 buf.keys_out.as<uint32_t>(), buf.values_in.as<const int32_t>(),
                                                 values_out, num, 0, end_bit, nullptr));
  ScratchBuffer temp(backend, temp_bytes);
  MHC_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(temp.as<void>(), temp_bytes, buf.keys_in.as<const uint32_t>(),
                                                 buf.keys_out.as<uint32_t>(), buf.values_in.as<const int32_t>(),
                                                 values_out, num, 0, end_bit, nullptr));
}

// ---- index_add -------------------------------------------------------------------------------

// Block per sorted position p (grid-stride); works only where a run of equal
// keys starts. y[o, key, :] += Σ_run src[o, pos, :] in increasing pos.
template <class T>
__global__ void index_add_runs_kernel(T* y, const uint32_t* keys, const int32_t* pos, const T* src, int64_t outer,
                                      int64_t dim, int64_t inner, int64_t n_idx) {
  for (int64_t p = blockIdx.x; p < n_idx; p += gridDim.x) {
    const uint32_t key = keys[p];
    if (key == static_cast<uint32_t>(dim)) continue;  // out-of-range indices sort last: skipped
    if (p > 0 && keys[p - 1] == key) continue;        // not the start of a run
    int64_t end = p + 1;
    while (end < n_idx && keys[end] == key) ++end;
    for (int64_t o = blockIdx.y; o < outer; o += gridDim.y) {
      T* yr = y + (o * dim + key) * inner;
      const T* so = src + o * n_idx * inner;
      for (int64_t c = threadIdx.x; c < inner; c += blockDim.x) {
        float acc = to_float(yr[c]);
        for (int64_t q = p; q < end; ++q) acc += to_float(so[static_cast<int64_t>(pos[q]) * inner + c]);
        yr[c] = from_float<T>(acc);
      }
    }
  }
}

// ---- per-row indices along the last axis ------------------------------------------------------

template <class T>
__global__ void gather_last_kernel(const T* x, const int32_t* idx, T* y, int64_t rows, int64_t cols, int64_t k) {
  const int64_t n = rows * k;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < n; e += stride) {
    const int64_t r = e / k;
    const int32_t j = idx[e];
    y[e] = (j >= 0 && j < cols) ? x[r * cols + j] : from_float<T>(NAN);
  }
}

// One thread per row. Entries hitting the same column are first added up in
// increasing j, then added to y once (bf16 storage is rounded once).
template <class T>
__global__ void scatter_add_last_kernel(T* y, const int32_t* idx, const T* src, int64_t rows, int64_t cols, int64_t k) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; r < rows; r += stride) {
    const int32_t* ir = idx + r * k;
    const T* sr = src + r * k;
    T* yr = y + r * cols;
    for (int64_t j = 0; j < k; ++j) {
      const int32_t col = ir[j];
      if (col < 0 || col >= cols) continue;
      bool seen = false;  // handled already, with an earlier j of the same column
      for (int64_t jj = 0; jj < j && !seen; ++jj) seen = ir[jj] == col;
      if (seen) continue;
      float acc = to_float(yr[col]);
      for (int64_t jj = j; jj < k; ++jj)
        if (ir[jj] == col) acc += to_float(sr[jj]);
      yr[col] = from_float<T>(acc);
    }
  }
}

// ---- top-k -----------------------------------------------------------------------------------

// Order-preserving key: larger value -> larger key; equal values -> the lower
// column gets the larger key. −0 is treated as +0; every NaN (whatever its
// sign bit) lands above +∞.
__device__ __forceinline__ uint64_t topk_key(float v, int64_t col) {
  if (v == 0.f) v = 0.f;
  if (isnan(v)) v = __int_as_float(0x7fc00000);
  uint32_t u = __float_as_uint(v);
  u = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
  return (static_cast<uint64_t>(u) << 32) | (0xffffffffu - static_cast<uint32_t>(col));
}

__device__ __forceinline__ uint64_t warp_max_u64(uint64_t v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) {
    const uint64_t other = __shfl_xor_sync(kFullMask, v, offset);
    v = other > v ? other : v;
  }
  return v;
}

template <int kT, class T>
__global__ void __launch_bounds__(kT)
    topk_kernel(const T* x, T* values, int32_t* indices, int64_t rows, int64_t cols, int64_t k) {
  constexpr int kWarps = kT / 32;
  __shared__ uint64_t scratch[kWarps];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const T* xr = x + row * cols;
    uint64_t bound = 0;  // the key picked last round (no real key is 0: its low half is never 0 here)
    for (int64_t j = 0; j < k; ++j) {
      uint64_t best = 0;
      for (int64_t c = threadIdx.x; c < cols; c += kT) {
        const uint64_t key = topk_key(to_float(xr[c]), c);
        if ((j == 0 || key < bound) && key > best) best = key;
      }
      best = warp_max_u64(best);
      if constexpr (kWarps > 1) {
        if (lane == 0) scratch[warp] = best;
        __syncthreads();
        best = lane < kWarps ? scratch[lane] : 0;
        best = warp_max_u64(best);
        __syncthreads();
      }
      bound = best;
      if (threadIdx.x == 0) {
        const int64_t col = 0xffffffffu - static_cast<uint32_t>(best & 0xffffffffu);
        indices[row * k + j] = static_cast<int32_t>(col);
        values[row * k + j] = xr[col];
      }
    }
  }
}

// ---- MoE dispatch ----------------------------------------------------------------------------

// offsets[e] = first sorted position whose key is ≥ e (binary search), e in [0, E].
__global__ void expert_offsets_kernel(const uint32_t* sorted_keys, int64_t count, int64_t E, int32_t* offsets) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e <= E; e += stride) {
    int64_t lo = 0, hi = count;
    while (lo < hi) {
      const int64_t mid = (lo + hi) / 2;
      if (sorted_keys[mid] < static_cast<uint64_t>(e))
        lo = mid + 1;
      else
        hi = mid;
    }
    offsets[e] = static_cast<int32_t>(lo);
  }
}

// token[j] = order[j] / k: the token each sorted assignment came from.
__global__ void token_of_kernel(const int32_t* order, int64_t count, int64_t k, int32_t* token) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; j < count; j += stride)
    token[j] = static_cast<int32_t>(order[j] / k);
}

}  // namespace

void CudaBackend::gather(DType t, const void* x, const int32_t* idx, void* y, int64_t outer, int64_t dim, int64_t inner,
                         int64_t n_idx) {
  cuda_contract::gather(t, x, idx, y, outer, dim, inner, n_idx);
  MHC_CUDA_PROFILE("gather");
  if (outer * n_idx * inner == 0) return;
  switch (t) {
    case DType::f32: return gather_typed<uint32_t>(x, idx, y, outer, dim, inner, n_idx, 0x7fc00000u);
    case DType::i32: return gather_typed<uint32_t>(x, idx, y, outer, dim, inner, n_idx, 0u);
    case DType::bf16: return gather_typed<uint16_t>(x, idx, y, outer, dim, inner, n_idx, uint16_t{0x7fc0});
    case DType::f64: return gather_typed<uint64_t>(x, idx, y, outer, dim, inner, n_idx, 0x7ff8000000000000ull);
  }
}

void CudaBackend::index_add(DType t, void* y, const int32_t* idx, const void* src, int64_t outer, int64_t dim,
                            int64_t inner, int64_t n_idx) {
  cuda_contract::index_add(t, y, idx, src, outer, dim, inner, n_idx);
  MHC_CUDA_PROFILE("index_add");
  dispatch_f32_bf16(t, "index_add", [&](auto tag) {
    using T = decltype(tag);
    if (outer * n_idx * inner == 0 || dim == 0) return;
    SortedPairs sorted(*this, n_idx);
    sort_pairs(*this, idx, n_idx, dim, sorted, sorted.values_out.as<int32_t>());
    const int threads = inner <= 32 ? 32 : (inner <= 128 ? 128 : 256);
    const dim3 grid(grid_for(n_idx, 1, int64_t{1} << 30), static_cast<unsigned>(std::min<int64_t>(outer, 65535)));
    index_add_runs_kernel<<<grid, threads>>>(static_cast<T*>(y), sorted.keys_out.as<const uint32_t>(),
                                             sorted.values_out.as<const int32_t>(), static_cast<const T*>(src), outer,
                                             dim, inner, n_idx);
    MHC_CUDA_CHECK_LAUNCH();
  });
}

void CudaBackend::gather_last(DType t, const void* x, const int32_t* idx, void* y, int64_t rows, int64_t cols,
                              int64_t k) {
  cuda_contract::gather_last(t, x, idx, y, rows, cols, k);
  MHC_CUDA_PROFILE("gather_last");
  dispatch_f32_bf16(t, "gather_last", [&](auto tag) {
    using T = decltype(tag);
    if (rows * k == 0) return;
    gather_last_kernel<<<grid_for(rows * k, kThreads), kThreads>>>(static_cast<const T*>(x), idx, static_cast<T*>(y),
                                                                   rows, cols, k);
    MHC_CUDA_CHECK_LAUNCH();
  });
}

void CudaBackend::scatter_add_last(DType t, void* y, const int32_t* idx, const void* src, int64_t rows, int64_t cols,
                                   int64_t k) {
  cuda_contract::scatter_add_last(t, y, idx, src, rows, cols, k);
  MHC_CUDA_PROFILE("scatter_add_last");
  dispatch_f32_bf16(t, "scatter_add_last", [&](auto tag) {
    using T = decltype(tag);
    if (rows * k == 0) return;
    scatter_add_last_kernel<<<grid_for(rows, kThreads), kThreads>>>(static_cast<T*>(y), idx, static_cast<const T*>(src),
                                                                    rows, cols, k);
    MHC_CUDA_CHECK_LAUNCH();
  });
}

void CudaBackend::topk(DType t, const void* x, void* values, int32_t* indices, int64_t rows, int64_t cols, int64_t k) {
  cuda_contract::topk(t, x, values, indices, rows, cols, k);
  MHC_CUDA_PROFILE("topk");
  dispatch_f32_bf16(t, "topk", [&](auto tag) {
    using T = decltype(tag);
    if (rows * k == 0) return;
    const T* xp = static_cast<const T*>(x);
    T* vp = static_cast<T*>(values);
    if (cols <= 64) {
      topk_kernel<32><<<row_grid(rows), 32>>>(xp, vp, indices, rows, cols, k);
    } else if (cols <= 1024) {
      topk_kernel<128><<<row_grid(rows), 128>>>(xp, vp, indices, rows, cols, k);
    } else {
      topk_kernel<512><<<row_grid(rows), 512>>>(xp, vp, indices, rows, cols, k);
    }
    MHC_CUDA_CHECK_LAUNCH();
  });
}

void CudaBackend::moe_dispatch(const int32_t* expert_of, int64_t tokens, int64_t k, int64_t E, int32_t* order,
                               int32_t* token, int32_t* offsets) {
  cuda_contract::moe_dispatch(expert_of, tokens, k, E, order, token, offsets);
  MHC_CUDA_PROFILE("moe_dispatch");
  const int64_t count = tokens * k;
  if (count == 0) {
    MHC_CUDA_CHECK(cudaMemsetAsync(offsets, 0, (E + 1) * sizeof(int32_t), nullptr));
    return;
  }
  SortedPairs sorted(*this, count);
  sort_pairs(*this, expert_of, count, E, sorted, order);
  expert_offsets_kernel<<<grid_for(E + 1, kThreads), kThreads>>>(sorted.keys_out.as<const uint32_t>(), count, E,
                                                                 offsets);
  MHC_CUDA_CHECK_LAUNCH();
  token_of_kernel<<<grid_for(count, kThreads), kThreads>>>(order, count, k, token);
  MHC_CUDA_CHECK_LAUNCH();
}

}  // namespace mhc
