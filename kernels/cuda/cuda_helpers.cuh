// cuda_helpers.cuh — small pieces every CUDA kernel file uses:
//   * f32 / bf16 load-and-convert helpers (bf16 storage, f32 arithmetic);
//   * a dtype dispatch that runs a host lambda with the element type;
//   * deterministic warp and block reductions (a fixed butterfly / tree, so
//     the result depends only on the block size, never on timing);
//   * launch-size helpers (grid-stride loops, fixed caps).
// Device code only sees what is here; it is included by .cu files alone.
#pragma once
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>

#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda_contract.h"
#include "kernels/dtype.h"

namespace mhc::cuda {

// The device element type of bf16 storage. Same bits as mhc::bf16.
using bfloat = __nv_bfloat16;
static_assert(sizeof(bfloat) == sizeof(mhc::bf16), "bf16 layouts differ");

// ---- conversions ---------------------------------------------------------------------

__device__ __forceinline__ float to_float(float x) { return x; }
__device__ __forceinline__ float to_float(bfloat x) { return __bfloat162float(x); }

template <class T>
__device__ __forceinline__ T from_float(float x);
template <>
__device__ __forceinline__ float from_float<float>(float x) {
  return x;
}
template <>
__device__ __forceinline__ bfloat from_float<bfloat>(float x) {
  return __float2bfloat16_rn(x);
}

// Four consecutive elements moved as one aligned load / store (16 bytes for
// f32, 8 for bf16). Callers check the alignment on the host.
template <class T>
struct alignas(4 * sizeof(T)) Pack4 {
  T v[4];
};

template <class T>
__device__ __forceinline__ void load4(const T* p, float (&out)[4]) {
  const Pack4<T> pack = *reinterpret_cast<const Pack4<T>*>(p);
#pragma unroll
  for (int i = 0; i < 4; ++i) out[i] = to_float(pack.v[i]);
}

template <class T>
__device__ __forceinline__ void store4(T* p, const float (&in)[4]) {
  Pack4<T> pack;
#pragma unroll
  for (int i = 0; i < 4; ++i) pack.v[i] = from_float<T>(in[i]);
  *reinterpret_cast<Pack4<T>*>(p) = pack;
}

inline bool aligned_to(const void* p, size_t bytes) { return reinterpret_cast<uintptr_t>(p) % bytes == 0; }

// ---- dtype dispatch ------------------------------------------------------------------

// Calls f(scalar_t{}) with scalar_t = float (f32) or bfloat (bf16). The
// entry point's contract check has refused every other dtype already.
template <class F>
void dispatch_f32_bf16(DType t, const char* op, F&& f) {
  switch (t) {
    case DType::f32: f(float{}); return;
    case DType::bf16: f(bfloat{}); return;
    default: dtype_not_dispatched(op, t);
  }
}

// σ(x) with the accurate expf (matches the CPU's reference within rounding).
__device__ __forceinline__ float sigmoidf(float x) { return 1.f / (1.f + expf(-x)); }

// ---- reductions ------------------------------------------------------------------------

constexpr unsigned kFullMask = 0xffffffffu;

// Butterfly over the 32 lanes: every lane ends with the same, bit-identical
// sum (each step adds the same two numbers on both partner lanes).
__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(kFullMask, v, offset);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) v = fmaxf(v, __shfl_xor_sync(kFullMask, v, offset));
  return v;
}

// The two block reductions: the warp butterfly and the value idle lanes add.
struct SumOp {
  static __device__ float warp(float v) { return warp_sum(v); }
  static constexpr float kIdentity = 0.f;
};
struct MaxOp {
  static __device__ float warp(float v) { return warp_max(v); }
  static constexpr float kIdentity = -INFINITY;
};

// Block-wide reduction for a block of kThreads (a multiple of 32, ≤ 1024)
// threads: warp butterflies, then warp 0 combines the warp results in the
// same way. Every thread gets the result. `scratch` holds kThreads / 32
// floats; the trailing __syncthreads lets the caller reuse it straight away.
template <int kThreads, class Op>
__device__ __forceinline__ float block_reduce(float v, float* scratch) {
  static_assert(kThreads % 32 == 0 && kThreads <= 1024, "block size");
  constexpr int kWarps = kThreads / 32;
  v = Op::warp(v);
  if constexpr (kWarps == 1) {
    return v;
  } else {
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    const float total = Op::warp(lane < kWarps ? scratch[lane] : Op::kIdentity);
    __syncthreads();
    return total;
  }
}

template <int kThreads>
__device__ __forceinline__ float block_sum(float v, float* scratch) {
  return block_reduce<kThreads, SumOp>(v, scratch);
}

template <int kThreads>
__device__ __forceinline__ float block_max(float v, float* scratch) {
  return block_reduce<kThreads, MaxOp>(v, scratch);
}

// ---- launch sizes ------------------------------------------------------------------------

constexpr int kThreads = 256;         // the default block for elementwise kernels
constexpr int64_t kMaxBlocks = 4096;  // grid-stride loops cover the rest (≥ 8 waves on an H100)

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Blocks for `items` work items at `per_block` items per block, capped.
inline unsigned grid_for(int64_t items, int64_t per_block, int64_t cap = kMaxBlocks) {
  int64_t blocks = ceil_div(items, per_block);
  if (blocks < 1) blocks = 1;
  if (blocks > cap) blocks = cap;
  return static_cast<unsigned>(blocks);
}

// Row kernels (one block per row) pick their block size from the row length
// alone, so the reduction tree is fixed by the shape: short rows get a warp.
enum class RowBlock { k32, k128, k512 };
inline RowBlock row_block_for(int64_t len) {
  if (len <= 256) return RowBlock::k32;
  if (len <= 4096) return RowBlock::k128;
  return RowBlock::k512;
}
// Calls f(std::integral_constant<int, threads>{}) for the row length's block size.
template <class F>
void with_row_block(int64_t len, F&& f) {
  switch (row_block_for(len)) {
    case RowBlock::k32: f(std::integral_constant<int, 32>{}); return;
    case RowBlock::k128: f(std::integral_constant<int, 128>{}); return;
    case RowBlock::k512: f(std::integral_constant<int, 512>{}); return;
  }
}

// Rows handled by a grid of one block per row (grid-stride beyond the cap).
inline unsigned row_grid(int64_t rows) { return grid_for(rows, 1, int64_t{1} << 20); }

}  // namespace mhc::cuda
