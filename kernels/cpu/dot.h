// dot.h — the vectorised dot products the CPU kernels share: Σ a[i]·b[i] and
// Σ a[i]·b[i]·w[i], accumulated in T (f32 rows in f32, f64 in f64) with an
// OpenMP SIMD reduction whose order is fixed by the build, so reruns are
// bit-identical. Rows here are at most a few thousand long.
#pragma once
#include <cstdint>

namespace mhc::cpu {

template <class scalar_t>
inline scalar_t dot(const scalar_t* a, const scalar_t* b, int64_t n) {
  scalar_t s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

template <class scalar_t>
inline scalar_t dot3(const scalar_t* a, const scalar_t* b, const scalar_t* w, int64_t n) {
  scalar_t s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < n; ++i) s += a[i] * b[i] * w[i];
  return s;
}

}  // namespace mhc::cpu
