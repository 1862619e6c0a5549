// cuda_sinkhorn.cu — Sinkhorn-Knopp (mHC Eq. 9) on many small n×n matrices
// (n ≤ 8, one per token), forward and exact backward.
//
// Thread mapping: one thread per matrix. The kernels are compiled once per
// n = 1..8, so every loop over the matrix has a compile-time trip count, is
// fully unrolled, and the matrix (≤ 64 floats) lives in registers. A warp
// reads 32 neighbouring matrices, i.e. one contiguous stretch of memory.
// Arithmetic is f32 for f32 and bf16 storage.
//
// P⁰ = exp(max(L − max L, −80)): the floor keeps a row or column from
// underflowing to all zeros (see kernels/backend_ops.def), as on the CPU.
//
// Backward, recomputed on-chip in O(iters): the thread runs the forward
// once, keeping only the sums s of every normalisation (2·iters·n floats, in
// local memory) and the final matrix. It then walks the steps in reverse:
// with y the output of step t (the final matrix at first),
//   g ← (g − Σ_axis(g ⊙ y)) / s              (the gradient through step t)
//   y ← y ⊙ s                                (the matrix before step t)
// Multiplying the sums back undoes each division up to rounding (a few ulps
// over 40 steps), so nothing else needs to be stored or recomputed.

#include "kernels/cuda/cuda_helpers.cuh"
#include "kernels/cuda/cuda_sinkhorn.cuh"
#include "kernels/cuda/cuda_profile.h"

namespace mhc {

using namespace cuda;

namespace {

using namespace sinkhorn_device;

template <int N, class T>
__global__ void sinkhorn_kernel(const T* logits, T* out, int64_t M, int iters) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t b = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; b < M; b += stride) {
    float P[N * N];
#pragma unroll
    for (int i = 0; i < N * N; ++i) P[i] = to_float(logits[b * N * N + i]);
    forward<N>(P, iters);
#pragma unroll
    for (int i = 0; i < N * N; ++i) out[b * N * N + i] = from_float<T>(P[i]);
  }
}

template <int N, class T>
__global__ void sinkhorn_backward_kernel(const T* logits, const T* grad_out, T* grad_logits, int64_t M, int iters) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t b = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; b < M; b += stride) {
    float L[N * N], G[N * N];
#pragma unroll
    for (int i = 0; i < N * N; ++i) {
      L[i] = to_float(logits[b * N * N + i]);
      G[i] = to_float(grad_out[b * N * N + i]);
    }
    backward<N>(L, G, iters);
#pragma unroll
    for (int i = 0; i < N * N; ++i) grad_logits[b * N * N + i] = from_float<T>(G[i]);
  }
}

constexpr int kSinkhornThreads = 128;  // one matrix per thread; small blocks spread tokens over more SMs

}  // namespace

void CudaBackend::sinkhorn(DType t, const void* logits, void* out, int64_t M, int64_t n, int iters) {
  cuda_contract::sinkhorn(t, logits, out, M, n, iters);
  MHC_CUDA_PROFILE("sinkhorn");
  dispatch_f32_bf16(t, "sinkhorn", [&](auto tag) {
    using T = decltype(tag);
    if (M == 0) return;
    with_sinkhorn_n(n, [&](auto n_c) {
      constexpr int N = decltype(n_c)::value;
      sinkhorn_kernel<N><<<grid_for(M, kSinkhornThreads), kSinkhornThreads>>>(static_cast<const T*>(logits),
                                                                              static_cast<T*>(out), M, iters);
      MHC_CUDA_CHECK_LAUNCH();
    });
  });
}

void CudaBackend::sinkhorn_backward(DType t, const void* logits, const void* grad_out, void* grad_logits, int64_t M,
                                    int64_t n, int iters) {
  cuda_contract::sinkhorn_backward(t, logits, grad_out, grad_logits, M, n, iters);
  MHC_CUDA_PROFILE("sinkhorn_backward");
  dispatch_f32_bf16(t, "sinkhorn", [&](auto tag) {
    using T = decltype(tag);
    if (M == 0) return;
    with_sinkhorn_n(n, [&](auto n_c) {
      constexpr int N = decltype(n_c)::value;
      sinkhorn_backward_kernel<N><<<grid_for(M, kSinkhornThreads), kSinkhornThreads>>>(
          static_cast<const T*>(logits), static_cast<const T*>(grad_out), static_cast<T*>(grad_logits), M, iters);
      MHC_CUDA_CHECK_LAUNCH();
    });
  });
}

}  // namespace mhc
