// cuda_reduce.cu — sum over the middle axis of x viewed as (outer, reduce, inner).
//
// Determinism: every output is added up in an order fixed by the shape alone.
// No atomics; the block sizes and chunk sizes below are constants or depend
// only on (outer, reduce, inner), never on the GPU model or on timing.
//
// Thread mapping, by case:
//   * inner == 1, reduce ≤ 32: one thread per output, adding in index order.
//   * inner == 1, longer rows: one block per row. Thread t adds elements
//     t, t + B, t + 2B, ... (B = block size, chosen from the row length), then
//     a fixed warp-shuffle tree and a tree over the warp sums (block_sum).
//     Scratch: B / 32 floats of shared memory.
//   * inner > 1: one thread per output column (o, i), walking the reduced axis
//     in order; neighbouring threads read neighbouring addresses (coalesced).
//   * few long reductions (not enough outputs to fill the GPU): two stages.
//     The reduced axis is cut into fixed chunks; stage 1 writes one f32 partial
//     sum per chunk (same kernels as above, per chunk); stage 2 sums the
//     partials, in chunk order, with the same routine.
// Accumulation is f32 for both f32 and bf16 inputs (bf16 is rounded once, on
// the final store). The CPU adds in f64, so f32 results agree to ~1e-6 relative.
#include "kernels/cuda/cuda_helpers.cuh"
#include "kernels/cuda/cuda_profile.h"

namespace mhc {

using namespace cuda;

namespace {

// Row sums: block per (row o, chunk c) of `chunk` elements; y[o * nchunks + c].
template <int kT, class TIn, class TOut>
__global__ void __launch_bounds__(kT)
    sum_rows_kernel(const TIn* x, TOut* y, int64_t outer, int64_t reduce, int64_t chunk, int64_t nchunks) {
  __shared__ float scratch[kT / 32];
  for (int64_t blk = blockIdx.x; blk < outer * nchunks; blk += gridDim.x) {
    const int64_t o = blk / nchunks, c = blk % nchunks;
    const int64_t begin = c * chunk, end = min(reduce, begin + chunk);
    const TIn* xr = x + o * reduce;
    float acc = 0.f;
    for (int64_t r = begin + threadIdx.x; r < end; r += kT) acc += to_float(xr[r]);
    const float total = block_sum<kT>(acc, scratch);
    if (threadIdx.x == 0) y[blk] = from_float<TOut>(total);
  }
}

// Column sums: one thread per output (o, c, i) of y (outer, nchunks, inner),
// adding rows [c·chunk, (c+1)·chunk) of x (outer, reduce, inner) in order.
template <class TIn, class TOut>
__global__ void sum_cols_kernel(const TIn* x, TOut* y, int64_t outer, int64_t reduce, int64_t inner, int64_t chunk,
                                int64_t nchunks) {
  const int64_t n_out = outer * nchunks * inner;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < n_out; idx += stride) {
    const int64_t i = idx % inner, rest = idx / inner;
    const int64_t c = rest % nchunks, o = rest / nchunks;
    const int64_t begin = c * chunk, end = min(reduce, begin + chunk);
    const TIn* xp = x + (o * reduce + begin) * inner + i;
    float acc = 0.f;
    for (int64_t r = begin; r < end; ++r, xp += inner) acc += to_float(*xp);
    y[idx] = from_float<TOut>(acc);
  }
}

// Shape thresholds (constants: the plan depends on the shape only).
constexpr int64_t kShortRow = 32;          // rows up to this long: a thread each
constexpr int64_t kRowSplitLen = 32768;    // rows longer than this ...
constexpr int64_t kRowSplitMaxRows = 512;  // ... and this few are cut into chunks
constexpr int64_t kRowChunk = 16384;
constexpr int64_t kColSplitLen = 256;        // column sums longer than this ...
constexpr int64_t kColSplitMaxOut = 131072;  // ... with this few outputs are cut into chunks
constexpr int64_t kColChunk = 128;

template <class TIn, class TOut>
void sum_impl(Backend& backend, const TIn* x, TOut* y, int64_t outer, int64_t reduce, int64_t inner) {
  if (outer * inner == 0) return;
  if (reduce == 0) {
    MHC_CUDA_CHECK(cudaMemsetAsync(y, 0, outer * inner * sizeof(TOut), nullptr));  // 0 in f32 and bf16
    return;
  }
  if (inner == 1) {
    if (reduce <= kShortRow) {
      // Short rows: one thread per row, in index order (a column sum with inner = 1).
      sum_cols_kernel<<<grid_for(outer, kThreads), kThreads>>>(x, y, outer, reduce, 1, reduce, 1);
      MHC_CUDA_CHECK_LAUNCH();
    } else if (reduce > kRowSplitLen && outer <= kRowSplitMaxRows) {
      const int64_t nchunks = ceil_div(reduce, kRowChunk);
      ScratchBuffer partial(backend, outer * nchunks * sizeof(float));
      sum_rows_kernel<512>
          <<<row_grid(outer * nchunks), 512>>>(x, partial.as<float>(), outer, reduce, kRowChunk, nchunks);
      MHC_CUDA_CHECK_LAUNCH();
      sum_impl(backend, partial.as<const float>(), y, outer, nchunks, 1);
    } else {
      with_row_block(reduce, [&](auto threads) {
        constexpr int kT = decltype(threads)::value;
        sum_rows_kernel<kT><<<row_grid(outer), kT>>>(x, y, outer, reduce, reduce, 1);
        MHC_CUDA_CHECK_LAUNCH();
      });
    }
    return;
  }
  if (reduce > kColSplitLen && outer * inner < kColSplitMaxOut) {
    const int64_t nchunks = ceil_div(reduce, kColChunk);
    ScratchBuffer partial(backend, outer * nchunks * inner * sizeof(float));
    sum_cols_kernel<<<grid_for(outer * nchunks * inner, kThreads), kThreads>>>(x, partial.as<float>(), outer, reduce,
                                                                               inner, kColChunk, nchunks);
    MHC_CUDA_CHECK_LAUNCH();
    sum_impl(backend, partial.as<const float>(), y, outer, nchunks, inner);
    return;
  }
  sum_cols_kernel<<<grid_for(outer * inner, kThreads), kThreads>>>(x, y, outer, reduce, inner, reduce, 1);
  MHC_CUDA_CHECK_LAUNCH();
}

}  // namespace

namespace cuda {

void sum_f32_to(Backend& backend, const float* x, DType out_t, void* y, int64_t outer, int64_t reduce, int64_t inner) {
  dispatch_f32_bf16(out_t, "sum", [&](auto tag) {
    using T = decltype(tag);
    sum_impl(backend, x, static_cast<T*>(y), outer, reduce, inner);
  });
}

}  // namespace cuda

void CudaBackend::sum(DType t, const void* x, void* y, int64_t outer, int64_t reduce, int64_t inner) {
  cuda_contract::sum(t, x, y, outer, reduce, inner);
  MHC_CUDA_PROFILE("sum");
  dispatch_f32_bf16(t, "sum", [&](auto tag) {
    using T = decltype(tag);
    sum_impl(*this, static_cast<const T*>(x), static_cast<T*>(y), outer, reduce, inner);
  });
}

}  // namespace mhc
