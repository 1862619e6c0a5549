// sinkhorn_reference.h — a plain scalar Sinkhorn-Knopp (mHC Eq. 9) in f64,
// forward and exact backward: the textbook loops, one matrix at a time, kept
// beside the tuned kernel (sinkhorn.cpp, tiles of 16 matrices, lane-major) as
// its readable statement. tests/test_sinkhorn.cpp checks that the two agree;
// tutorial 03 quotes this file. Not used by training.
#pragma once
#include <cstdint>
#include <vector>

namespace mhc::cpu {

// logits: M row-major n×n matrices (M, n, n) -> their projections (M, n, n).
//   P⁰ = exp(max(L − max L, −80)), then iters times: columns to sum 1, then rows.
std::vector<double> sinkhorn_reference(const std::vector<double>& logits, int64_t n, int iters);

// grad_out = ∂L/∂P (M, n, n) -> ∂L/∂logits (M, n, n), the exact gradient of
// the iters-step map (not of its limit).
std::vector<double> sinkhorn_reference_backward(const std::vector<double>& logits, const std::vector<double>& grad_out,
                                                int64_t n, int iters);

}  // namespace mhc::cpu
