// fast_math.h — a vectorisable single-precision exp, and the activations
// built on it. glibc's expf is a scalar call the compiler cannot vectorise
// (without -ffast-math), which made sigmoid/SiLU/softmax 10-20x slower than
// the arithmetic around them.
//
// exp(x) = 2^n · e^r with n = round(x / ln 2) and r = x − n·ln 2, |r| ≤ ln2/2.
// e^r is its Taylor series to r⁷ (truncation error < 5e-9 relative), and
// 2^n is built directly in the float's exponent bits. ln 2 is split in a
// high part exact in float and a low correction, so r is accurate.
// Accuracy: within 2 ulp of the true value over the whole range; exp(−∞) = 0,
// exp(+large) = +∞, NaN stays NaN. The f64 paths keep std::exp (gradient checks).
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

namespace mhc::cpu {

inline float exp_fast(float x) {
  constexpr float kLog2e = 1.44269504088896341f;
  constexpr float kLn2Hi = 0.693145751953125f;         // 12 significant bits: n·kLn2Hi is exact
  constexpr float kLn2Lo = 1.428606765330187045e-06f;  // ln 2 − kLn2Hi
  const float xc = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
  // Round to nearest by adding and removing 1.5·2²³ (the float's integer
  // grid at that magnitude); unlike std::floor this vectorises without
  // -fno-trapping-math.
  constexpr float kRound = 12582912.0f;
  const float n = (xc * kLog2e + kRound) - kRound;
  const float r = (xc - n * kLn2Hi) - n * kLn2Lo;
  // Horner form of 1 + r + r²/2! + ... + r⁷/7!
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  float y = p * scale;
  y = x < -87.0f ? 0.0f : y;                                   // underflow (and −∞) to 0
  y = x > 88.0f ? std::numeric_limits<float>::infinity() : y;  // overflow to +∞
  return x != x ? x : y;                                       // NaN in, NaN out
}

inline float sigmoid_fast(float x) { return 1.0f / (1.0f + exp_fast(-x)); }

// tanh(x) = 1 − 2 / (e^{2x} + 1): exact limits ±1; absolute error ~1e-7 near 0.
inline float tanh_fast(float x) { return 1.0f - 2.0f / (exp_fast(2.0f * x) + 1.0f); }

// erf by Abramowitz & Stegun 7.1.26 (|error| ≤ 1.5e-7, below f32 rounding
// of values near 1): erf(|x|) = 1 − t(a1 + t(a2 + … + t·a5))·e^{−x²},
// t = 1 / (1 + p|x|), odd in x.
inline float erf_fast(float x) {
  const float ax = x < 0 ? -x : x;
  const float t = 1.0f / (1.0f + 0.3275911f * ax);
  float poly = 1.061405429f;
  poly = poly * t - 1.453152027f;
  poly = poly * t + 1.421413741f;
  poly = poly * t - 0.284496736f;
  poly = poly * t + 0.254829592f;
  const float y = 1.0f - poly * t * exp_fast(-ax * ax);
  return x < 0 ? -y : y;
}

// Same-named overloads for double use the library functions, so templated
// kernels call exp_fast(x) for either type.
inline double exp_fast(double x) { return std::exp(x); }
inline double sigmoid_fast(double x) { return 1.0 / (1.0 + std::exp(-x)); }
inline double tanh_fast(double x) { return std::tanh(x); }
inline double erf_fast(double x) { return std::erf(x); }

}  // namespace mhc::cpu
