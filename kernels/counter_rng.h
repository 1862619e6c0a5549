// counter_rng.h — a counter-based random generator: the i-th number of stream
// `seed` is a pure function hash(seed, i). CPU and CUDA kernels call the same
// function, so they draw identical dropout masks, and a backward pass can
// redraw a mask instead of storing it.
#pragma once
#include <cstdint>

#include "kernels/dtype.h"

namespace mhc {

// SplitMix64's finaliser applied to a Weyl sequence position: passes BigCrush
// as a generator and is cheap enough to call once per element.
MHC_HOST_DEVICE inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Uniform float in [0, 1) with 24 random bits.
MHC_HOST_DEVICE inline float counter_uniform(uint64_t seed, uint64_t i) {
  uint64_t r = mix64(mix64(seed) + (i + 1) * 0x9e3779b97f4a7c15ULL);
  return static_cast<float>(r >> 40) * (1.0f / 16777216.0f);
}

// Dropout keeps element i of stream `seed` with probability 1 − p.
MHC_HOST_DEVICE inline bool dropout_keep(uint64_t seed, uint64_t i, float p) { return counter_uniform(seed, i) >= p; }

// The mask element of attention probability (bh, t, s) — query t, key s of
// head row bh = b·H + h — in a (B, H, T, T) tensor. The fused attention
// kernels (CPU and CUDA) draw exactly the mask that dropout on the
// materialised probabilities would.
MHC_HOST_DEVICE inline uint64_t attention_mask_index(int64_t bh, int64_t t, int64_t s, int64_t T) {
  return static_cast<uint64_t>((bh * T + t) * T + s);
}

// keep / (1 − p) for attention probability (bh, t, s); 1 when p = 0.
MHC_HOST_DEVICE inline float attention_dropout_factor(float p, uint64_t seed, int64_t bh, int64_t t, int64_t s,
                                                      int64_t T) {
  if (p == 0.f) return 1.f;
  return dropout_keep(seed, attention_mask_index(bh, t, s, T), p) ? 1.f / (1.f - p) : 0.f;
}

}  // namespace mhc
