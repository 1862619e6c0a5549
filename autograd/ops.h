// ops.h — every differentiable operation. Each one computes its result with
// the backend of its inputs' device and, when gradients are wanted, records a
// tape node whose backward is written next to the forward in ops_*.cpp.
//
// Shapes follow NumPy broadcasting for elementwise ops. Axes may be negative.
#pragma once
#include <utility>
#include <vector>

#include "autograd/tensor.h"

namespace mhc {

// ---- elementwise (ops_elementwise.cpp) --------------------------------------
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor affine(const Tensor& x, double scale, double shift);  // scale * x + shift
Tensor neg(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor silu(const Tensor& x);  // x · σ(x)
Tensor gelu(const Tensor& x);  // exact: x · Φ(x)
Tensor sqrt(const Tensor& x);
Tensor square(const Tensor& x);
Tensor relu(const Tensor& x);
Tensor abs(const Tensor& x);
// Inverted dropout with a counter-based mask: y = x·keep/(1−p). The same
// seed gives the same mask on any device. p = 0 returns x unchanged.
Tensor dropout(const Tensor& x, double p, uint64_t seed);
// Not recorded: a += b in place (b broadcasts to a). For gradient buffers and optimizers.
void add_(const Tensor& a, const Tensor& b);

// ---- reductions (ops_reduce.cpp) --------------------------------------------
Tensor sum(const Tensor& x);  // all elements -> shape ()
Tensor sum(const Tensor& x, std::vector<int> axes, bool keepdim = false);
Tensor mean(const Tensor& x);
Tensor mean(const Tensor& x, std::vector<int> axes, bool keepdim = false);
// Max over one axis; the gradient flows to the first maximal entry.
Tensor max(const Tensor& x, int axis, bool keepdim = false);
// Sums a broadcast gradient back to `shape` (the inverse of broadcasting).
Tensor sum_to(const Tensor& g, const Shape& shape);

// ---- matrix products (ops_matmul.cpp) ---------------------------------------
// (..., M, K) @ (..., K, N) -> (..., M, N); batch dims broadcast. A 2-D right
// operand folds all of a's leading dims into one product.
Tensor matmul(const Tensor& a, const Tensor& b);

// ---- neural-network ops (ops_nn.cpp) ----------------------------------------
Tensor softmax(const Tensor& x, int axis);
Tensor log_softmax(const Tensor& x, int axis);
// Mean cross-entropy of logits (..., V) against integer targets (...), skipping
// targets equal to ignore_index. Fused and numerically stable (logsumexp).
Tensor cross_entropy(const Tensor& logits, const Tensor& targets, int32_t ignore_index = -100);
// Per-position cross-entropy (...), 0 at ignored targets (no averaging).
Tensor cross_entropy_rows(const Tensor& logits, const Tensor& targets, int32_t ignore_index = -100);
// RMSNorm over the last axis: x / sqrt(mean(x²) + eps) * weight. weight (C,)
// may be undefined for a norm without a learnable scale.
Tensor rms_norm(const Tensor& x, const Tensor& weight, double eps = 1e-6);
// Causal self-attention of q, k, v (B, T, H, D) -> (B, T, H, D), scaled by
// 1/√D, with optional dropout on the attention probabilities: one fused
// backend op that saves only the log-sum-exp (the T×T scores never exist).
Tensor causal_attention(const Tensor& q, const Tensor& k, const Tensor& v, double dropout_p = 0.0,
                        uint64_t dropout_seed = 0);
// The same attention composed from matmul, a −∞ mask above the diagonal,
// softmax and dropout (materialising the scores): the reference for tests.
Tensor causal_attention_composed(const Tensor& q, const Tensor& k, const Tensor& v, double dropout_p = 0.0,
                                 uint64_t dropout_seed = 0);
// Rotary position embedding of x (B, T, H, D) with f32 tables cos, sin (≥ T, D/2).
Tensor rope(const Tensor& x, const Tensor& cos, const Tensor& sin);
// Sinkhorn-Knopp projection of logits (..., n, n) onto (approximately) doubly
// stochastic matrices with `iters` column-then-row normalisations (mHC Eq. 9),
// with its own exact backward through all iterations.
Tensor sinkhorn(const Tensor& logits, int iters = 20);

// ---- indexing (ops_index.cpp) -----------------------------------------------
// Rows of weight (V, C) picked by integer ids (...) -> (..., C). Backward
// scatter-adds into the rows.
Tensor embedding(const Tensor& weight, const Tensor& ids);
Tensor concat(const std::vector<Tensor>& tensors, int axis);
// k largest entries along the last axis: values (recorded) and i32 indices.
std::pair<Tensor, Tensor> topk(const Tensor& x, int64_t k);
// Entries of x (..., N) at per-row indices idx (..., k) along the last axis.
Tensor gather_last(const Tensor& x, const Tensor& idx);
// x's entries at positions idx (1-D, i32) along `dim`.
Tensor index_select(const Tensor& x, int dim, const Tensor& idx);
// base + src scattered along `dim`: out[..., idx[i], ...] += src[..., i, ...].
Tensor index_add(const Tensor& base, int dim, const Tensor& idx, const Tensor& src);

// ---- MoE dispatch (ops_index.cpp; not differentiable) -------------------------
// Groups the top-k assignments expert_of (N, k) i32 by expert (see
// Backend::moe_dispatch): `order` and `token` are i32 (N·k) tensors on the
// same device; `offsets` (E + 1) are copied to the host — the one device→host
// transfer of a dispatch.
struct MoePlan {
  Tensor order;                  // assignment indices a = token·k + slot, grouped by expert
  Tensor token;                  // order / k
  std::vector<int64_t> offsets;  // expert e owns positions [offsets[e], offsets[e+1])
};
MoePlan moe_dispatch(const Tensor& expert_of, int64_t num_experts);

}  // namespace mhc
