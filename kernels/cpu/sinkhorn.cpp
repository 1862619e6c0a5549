// sinkhorn.cpp — CPU Sinkhorn-Knopp (mHC Eq. 9) forward and its exact
// backward through all iterations, one small n×n matrix per token.
//
// The backward recomputes the forward from the logits, keeping every
// intermediate matrix (2·iters + 1 of them, n ≤ 8: a few KiB), then walks the
// steps in reverse. For a normalisation y = x / s along an axis,
//   ∂L/∂x = (g − Σ_axis(g ⊙ y)) / s.
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/cpu/cpu_backend.h"

namespace mhc {

namespace {

// Entries more than this far below a matrix's largest logit are floored
// (see backend.h): e^−80 is a normal number in f32 and n·e^−80 cannot underflow.
constexpr double kExpFloor = 80.0;

// Normalises the columns (axis 0) or rows (axis 1) of P (n×n) to sum 1 in
// place and returns the sums in s.
template <class T>
void normalise(T* P, T* s, int64_t n, int axis) {
  for (int64_t k = 0; k < n; ++k) {
    T sum = 0;
    for (int64_t j = 0; j < n; ++j) sum += axis == 0 ? P[j * n + k] : P[k * n + j];
    s[k] = sum;
    const T inv = T(1) / sum;
    for (int64_t j = 0; j < n; ++j) (axis == 0 ? P[j * n + k] : P[k * n + j]) *= inv;
  }
}

// Forward for one matrix. states (optional) receives P⁰ and then the matrix
// after each of the 2·iters normalisations; sums receives their sums.
template <class T>
void sinkhorn_one(const T* L, T* P, int64_t n, int iters, T* states, T* sums) {
  const int64_t nn = n * n;
  T m = L[0];
  for (int64_t i = 1; i < nn; ++i) m = std::max(m, L[i]);
  for (int64_t i = 0; i < nn; ++i) P[i] = std::exp(std::max(L[i] - m, T(-kExpFloor)));
  if (states) std::copy(P, P + nn, states);
  T scratch[8];
  for (int it = 0; it < iters; ++it) {
    for (int axis = 0; axis < 2; ++axis) {
      const int step = 2 * it + axis;
      normalise(P, sums ? sums + step * n : scratch, n, axis);
      if (states) std::copy(P, P + nn, states + (step + 1) * nn);
    }
  }
}

template <class T>
void sinkhorn_backward_one(const T* L, const T* gout, T* gL, int64_t n, int iters, std::vector<T>& states,
                           std::vector<T>& sums) {
  const int64_t nn = n * n;
  states.resize((2 * iters + 1) * nn);
  sums.resize(2 * iters * n);
  T P[64];
  sinkhorn_one(L, P, n, iters, states.data(), sums.data());
  T g[64];
  std::copy(gout, gout + nn, g);
  for (int step = 2 * iters - 1; step >= 0; --step) {
    const int axis = step % 2;  // 0: columns, 1: rows
    const T* y = states.data() + (step + 1) * nn;
    const T* s = sums.data() + step * n;
    for (int64_t k = 0; k < n; ++k) {
      // Along the k-th column (axis 0) or row (axis 1).
      T dot = 0;
      for (int64_t j = 0; j < n; ++j) {
        const int64_t idx = axis == 0 ? j * n + k : k * n + j;
        dot += g[idx] * y[idx];
      }
      for (int64_t j = 0; j < n; ++j) {
        const int64_t idx = axis == 0 ? j * n + k : k * n + j;
        g[idx] = (g[idx] - dot) / s[k];
      }
    }
  }
  const T* P0 = states.data();
  T m = L[0];
  for (int64_t i = 1; i < nn; ++i) m = std::max(m, L[i]);
  for (int64_t i = 0; i < nn; ++i) gL[i] = L[i] - m > T(-kExpFloor) ? g[i] * P0[i] : T(0);
}

void check_n(int64_t n, int iters) {
  if (n < 1 || n > 8)
    throw std::invalid_argument("sinkhorn: matrices must be n×n with 1 ≤ n ≤ 8, got n = " + std::to_string(n));
  if (iters < 0) throw std::invalid_argument("sinkhorn: iterations must be ≥ 0");
}

}  // namespace

void CpuBackend::sinkhorn(DType t, const void* logits, void* out, int64_t M, int64_t n, int iters) {
  check_n(n, iters);
  dispatch_float(t, "sinkhorn", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    const scalar_t* L = static_cast<const scalar_t*>(logits);
    scalar_t* P = static_cast<scalar_t*>(out);
#pragma omp parallel for schedule(static) if (M * n * n * iters > cpu::kParallelGrain)
    for (int64_t b = 0; b < M; ++b) sinkhorn_one<scalar_t>(L + b * n * n, P + b * n * n, n, iters, nullptr, nullptr);
  });
}

void CpuBackend::sinkhorn_backward(DType t, const void* logits, const void* grad_out, void* grad_logits,
                                   int64_t M, int64_t n, int iters) {
  check_n(n, iters);
  dispatch_float(t, "sinkhorn", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    const scalar_t* L = static_cast<const scalar_t*>(logits);
    const scalar_t* G = static_cast<const scalar_t*>(grad_out);
    scalar_t* GL = static_cast<scalar_t*>(grad_logits);
#pragma omp parallel if (M * n * n * iters > cpu::kParallelGrain)
    {
      std::vector<scalar_t> states, sums;
#pragma omp for schedule(static)
      for (int64_t b = 0; b < M; ++b)
        sinkhorn_backward_one<scalar_t>(L + b * n * n, G + b * n * n, GL + b * n * n, n, iters, states, sums);
    }
  });
}

}  // namespace mhc
