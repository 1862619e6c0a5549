// cuda_sinkhorn.cu — Sinkhorn-Knopp (mHC Eq. 9) on many small n×n matrices
// (n ≤ 8, one per token), forward and exact backward.
//
// Thread mapping: one thread per matrix. The kernels are compiled once per
// n = 1..8, so every loop over the matrix has a compile-time trip count, is
// fully unrolled, and the matrix (≤ 64 floats) lives in registers. A warp
// reads 32 neighbouring matrices, i.e. one contiguous stretch of memory.
// No shared memory. Arithmetic is f32 for f32 and bf16 storage, in the same
// order as kernels/cpu/sinkhorn.cpp (a column or row sum in index order, one
// reciprocal, then a multiply), so f32 results match the CPU's to rounding of
// expf.
//
// Backward: the CPU keeps all 2·iters + 1 intermediate matrices; a thread
// cannot afford that many registers. Here the thread *recomputes* them: for
// each step, counted down from the last, it reruns the forward from P⁰ up to
// that step to get the matrix y that step produced and the sums s it divided
// by, then applies  g ← (g − Σ_axis(g ⊙ y)) / s.  That is O(iters²)
// normalisations per matrix (820 for 20 iterations, each ~3n² flops), which
// for one tiny matrix per thread is still cheap, needs no memory beyond four
// n×n register arrays, works for any iteration count, and reproduces the
// forward's intermediate values exactly (reconstructing them backwards by
// multiplying the sums back in would drift by a few ulps per step).
#include <string>

#include "kernels/cuda/cuda_helpers.cuh"

namespace mhc {

using namespace cuda;

namespace {

// Normalises the columns (AXIS 0) or rows (AXIS 1) of P (N×N) to sum 1 and
// returns their sums in s. The axis is a template argument so that every
// index is a compile-time constant and P stays in registers.
template <int N, int AXIS>
__device__ __forceinline__ void normalise(float (&P)[N * N], float (&s)[N]) {
#pragma unroll
  for (int k = 0; k < N; ++k) {
    float sum = 0.f;
#pragma unroll
    for (int j = 0; j < N; ++j) sum += P[AXIS == 0 ? j * N + k : k * N + j];
    s[k] = sum;
    const float inv = 1.f / sum;
#pragma unroll
    for (int j = 0; j < N; ++j) P[AXIS == 0 ? j * N + k : k * N + j] *= inv;
  }
}

// One backward step through a normalisation along AXIS, given its output Y
// and sums s:  G ← (G − Σ_axis(G ⊙ Y)) / s.
template <int N, int AXIS>
__device__ __forceinline__ void normalise_backward(float (&G)[N * N], const float (&Y)[N * N], const float (&s)[N]) {
#pragma unroll
  for (int k = 0; k < N; ++k) {
    float dot = 0.f;
#pragma unroll
    for (int j = 0; j < N; ++j) dot += G[AXIS == 0 ? j * N + k : k * N + j] * Y[AXIS == 0 ? j * N + k : k * N + j];
#pragma unroll
    for (int j = 0; j < N; ++j) {
      const int idx = AXIS == 0 ? j * N + k : k * N + j;
      G[idx] = (G[idx] - dot) / s[k];
    }
  }
}

// P⁰ = exp(L − max L).
template <int N, class T>
__device__ __forceinline__ void initial_matrix(const T* L, float (&P)[N * N]) {
  float m = -INFINITY;
#pragma unroll
  for (int i = 0; i < N * N; ++i) {
    P[i] = to_float(L[i]);
    m = i == 0 ? P[i] : fmaxf(m, P[i]);
  }
#pragma unroll
  for (int i = 0; i < N * N; ++i) P[i] = expf(P[i] - m);
}

template <int N, class T>
__global__ void sinkhorn_kernel(const T* logits, T* out, int64_t M, int iters) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t b = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; b < M; b += stride) {
    float P[N * N], s[N];
    initial_matrix<N>(logits + b * N * N, P);
    for (int it = 0; it < iters; ++it) {
      normalise<N, 0>(P, s);
      normalise<N, 1>(P, s);
    }
    T* o = out + b * N * N;
#pragma unroll
    for (int i = 0; i < N * N; ++i) o[i] = from_float<T>(P[i]);
  }
}

template <int N, class T>
__global__ void sinkhorn_backward_kernel(const T* logits, const T* grad_out, T* grad_logits, int64_t M, int iters) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t b = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; b < M; b += stride) {
    float P0[N * N], Y[N * N], G[N * N], s[N];
    initial_matrix<N>(logits + b * N * N, P0);
    const T* go = grad_out + b * N * N;
#pragma unroll
    for (int i = 0; i < N * N; ++i) G[i] = to_float(go[i]);
    for (int step = 2 * iters - 1; step >= 0; --step) {
      // Y, s: the matrix after normalisation `step` and the sums it divided by.
#pragma unroll
      for (int i = 0; i < N * N; ++i) Y[i] = P0[i];
      for (int t = 0; t <= step; ++t) {
        if (t % 2 == 0) normalise<N, 0>(Y, s);
        else normalise<N, 1>(Y, s);
      }
      if (step % 2 == 0) normalise_backward<N, 0>(G, Y, s);  // a column step
      else normalise_backward<N, 1>(G, Y, s);                // a row step
    }
    T* gl = grad_logits + b * N * N;
#pragma unroll
    for (int i = 0; i < N * N; ++i) gl[i] = from_float<T>(G[i] * P0[i]);
  }
}

void check_n(int64_t n, int iters) {
  if (n < 1 || n > 8)
    throw std::invalid_argument("cuda sinkhorn: matrices must be n×n with 1 ≤ n ≤ 8, got n = " + std::to_string(n));
  if (iters < 0) throw std::invalid_argument("cuda sinkhorn: iterations must be ≥ 0");
}

// Calls f(std::integral_constant<int, n>{}) for n in 1..8.
template <class F>
void with_n(int64_t n, F&& f) {
  switch (n) {
    case 1: f(std::integral_constant<int, 1>{}); return;
    case 2: f(std::integral_constant<int, 2>{}); return;
    case 3: f(std::integral_constant<int, 3>{}); return;
    case 4: f(std::integral_constant<int, 4>{}); return;
    case 5: f(std::integral_constant<int, 5>{}); return;
    case 6: f(std::integral_constant<int, 6>{}); return;
    case 7: f(std::integral_constant<int, 7>{}); return;
    case 8: f(std::integral_constant<int, 8>{}); return;
  }
}

constexpr int kSinkhornThreads = 128;  // one matrix per thread; small blocks spread tokens over more SMs

}  // namespace

void CudaBackend::sinkhorn(DType t, const void* logits, void* out, int64_t M, int64_t n, int iters) {
  check_n(n, iters);
  dispatch_f32_bf16(t, "sinkhorn", [&](auto tag) {
    using T = decltype(tag);
    if (M == 0) return;
    with_n(n, [&](auto n_c) {
      constexpr int N = decltype(n_c)::value;
      sinkhorn_kernel<N><<<grid_for(M, kSinkhornThreads), kSinkhornThreads>>>(static_cast<const T*>(logits),
                                                                              static_cast<T*>(out), M, iters);
      MHC_CUDA_CHECK_LAUNCH();
    });
  });
}

void CudaBackend::sinkhorn_backward(DType t, const void* logits, const void* grad_out, void* grad_logits, int64_t M,
                                    int64_t n, int iters) {
  check_n(n, iters);
  dispatch_f32_bf16(t, "sinkhorn", [&](auto tag) {
    using T = decltype(tag);
    if (M == 0) return;
    with_n(n, [&](auto n_c) {
      constexpr int N = decltype(n_c)::value;
      sinkhorn_backward_kernel<N><<<grid_for(M, kSinkhornThreads), kSinkhornThreads>>>(
          static_cast<const T*>(logits), static_cast<const T*>(grad_out), static_cast<T*>(grad_logits), M, iters);
      MHC_CUDA_CHECK_LAUNCH();
    });
  });
}

}  // namespace mhc
