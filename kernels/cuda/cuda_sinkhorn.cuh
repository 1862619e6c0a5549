// cuda_sinkhorn.cuh — Sinkhorn-Knopp on one n×n matrix held in registers
// by one thread: the forward and its exact O(iters) backward (see
// cuda_sinkhorn.cu for the scheme). Shared by the Sinkhorn kernels and the
// fused mHC gate kernels.
#pragma once
#include "kernels/cuda/cuda_helpers.cuh"
#include "kernels/sinkhorn_contract.h"

namespace mhc::cuda::sinkhorn_device {

constexpr float kExpFloor = kSinkhornExpFloor;  // see kernels/backend.h
constexpr int kMaxIters = kSinkhornMaxIters;    // the backward keeps 2·iters·n sums per thread

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

// Multiplies the columns (AXIS 0) or rows (AXIS 1) of Y by s: the matrix
// before a normalisation, from its output and its sums.
template <int N, int AXIS>
__device__ __forceinline__ void unnormalise(float (&Y)[N * N], const float (&s)[N]) {
#pragma unroll
  for (int k = 0; k < N; ++k)
#pragma unroll
    for (int j = 0; j < N; ++j) Y[AXIS == 0 ? j * N + k : k * N + j] *= s[k];
}

// Logits L in, P⁰ = exp(max(L − max L, −80)) out (in place); returns max L.
template <int N>
__device__ __forceinline__ float exp_shifted(float (&P)[N * N]) {
  float m = P[0];
#pragma unroll
  for (int i = 1; i < N * N; ++i) m = fmaxf(m, P[i]);
#pragma unroll
  for (int i = 0; i < N * N; ++i) P[i] = expf(fmaxf(P[i] - m, -kExpFloor));
  return m;
}

// Logits in, the t_max-step Sinkhorn-Knopp projection out (in place).
template <int N>
__device__ __forceinline__ void forward(float (&P)[N * N], int iters) {
  float s[N];
  exp_shifted<N>(P);
  for (int it = 0; it < iters; ++it) {
    normalise<N, 0>(P, s);
    normalise<N, 1>(P, s);
  }
}

// Given the logits L and G = ∂L/∂(output), replaces G by ∂L/∂(logits).
template <int N>
__device__ __forceinline__ void backward(const float (&L)[N * N], float (&G)[N * N], int iters) {
  float Y[N * N], s[N];
  float sums[2 * kMaxIters][N];  // the sums of every normalisation, in order
#pragma unroll
  for (int i = 0; i < N * N; ++i) Y[i] = L[i];
  const float m = exp_shifted<N>(Y);
  for (int it = 0; it < iters; ++it) {
    normalise<N, 0>(Y, s);
#pragma unroll
    for (int k = 0; k < N; ++k) sums[2 * it][k] = s[k];
    normalise<N, 1>(Y, s);
#pragma unroll
    for (int k = 0; k < N; ++k) sums[2 * it + 1][k] = s[k];
  }
  for (int step = 2 * iters - 1; step >= 0; --step) {
#pragma unroll
    for (int k = 0; k < N; ++k) s[k] = sums[step][k];
    if (step % 2 == 0) {  // a column step
      normalise_backward<N, 0>(G, Y, s);
      unnormalise<N, 0>(Y, s);
    } else {  // a row step
      normalise_backward<N, 1>(G, Y, s);
      unnormalise<N, 1>(Y, s);
    }
  }
  // Y is P⁰ again; through the exponential (0 where the floor held).
#pragma unroll
  for (int i = 0; i < N * N; ++i) G[i] = L[i] - m > -kExpFloor ? G[i] * Y[i] : 0.f;
}

}  // namespace mhc::cuda::sinkhorn_device
