// ops_mhc.h — the fused mHC site as three differentiable ops (docs/design.md §6),
// each one or two backend kernels instead of a dozen composed ops:
//
//   coeffs = mhc_coefficients(x, φ, α, b)     (a)+(b)+(c): RMS statistic and
//            projection in one pass over x, then σ / 2σ / Sinkhorn per token
//   h_in   = mhc_pre(x, coeffs)               (d): H_pre x
//   x'     = mhc_post(x, y, coeffs)           (e): H_res x + H_postᵀ y, merged
//
// coeffs (..., P), P = 2n + n², holds [H_pre | H_post | H_res (row-major)]
// in the coefficient dtype (f32 beside bf16/f32 streams, f64 beside f64).
//
// Selective recompute (docs/design.md §6, mHC Eq. 20): with a RecomputeGroup, the
// ops do not keep the stream states x of the group's sites; only the state
// entering the group, each site's sub-block output y and its coefficients are
// kept, and the backward rebuilds the states with mhc_post when it first
// needs one. Group::release() frees the states' memory after the forward.
#pragma once
#include <memory>
#include <vector>

#include "autograd/tensor.h"

namespace mhc {

class RecomputeGroup {
 public:
  explicit RecomputeGroup(const Tensor& x_start);
  // Site `index` of the group (0 = the first) keeps its sub-block output and
  // coefficients here during the forward.
  void keep(int index, const Tensor& y, const Tensor& coeffs);
  // The stream state entering site `index`, rebuilt on first use.
  Tensor state(int index);
  // Notes a state the group can rebuild (an output of one of its sites, other
  // than the last); release() frees their memory.
  void add_intermediate(const Tensor& x);
  void release();

 private:
  Tensor x0_;
  std::vector<Tensor> ys_, coeffs_, cache_, intermediates_;
};

struct RecomputeHandle {
  std::shared_ptr<RecomputeGroup> group;
  int index = 0;
  explicit operator bool() const { return group != nullptr; }
};

// Whether the fused kernels are the better choice for tensors like x (the
// CUDA backend says yes; the CPU keeps them as references).
bool fused_mhc_preferred(const Tensor& x);

// x (B, T, n, C), φ (nC, P), α and b (P) -> coeffs (B, T, P)
Tensor mhc_coefficients(const Tensor& x, const Tensor& phi, const Tensor& alpha, const Tensor& bias, int iters,
                        bool sigmoid_gates, double eps, const RecomputeHandle& recompute = {});
// x (B, T, n, C), coeffs (B, T, P) -> h_in (B, T, C)
Tensor mhc_pre(const Tensor& x, const Tensor& coeffs, const RecomputeHandle& recompute = {});
// x (B, T, n, C), y (B, T, C), coeffs (B, T, P) -> (B, T, n, C)
Tensor mhc_post(const Tensor& x, const Tensor& y, const Tensor& coeffs, const RecomputeHandle& recompute = {});

}  // namespace mhc
