// backend.h — the device interface: every primitive the autograd ops need,
// in raw-pointer terms. A CPU backend and a CUDA backend implement it; ops in
// autograd/ call backend_for(tensor.device()) and never mention a device.
//
// Conventions for every primitive:
//   * pointers are device pointers of that backend, already offset to the
//     first element; counts are in elements, never bytes (except memcpy);
//   * inputs are contiguous unless a Layout is passed with them;
//   * outputs are contiguous and fully written (no primitive reads its output
//     unless its comment says "accumulates");
//   * reductions add in an order fixed by the shape alone, never by the
//     number of threads, so the same inputs give bit-identical results.
#pragma once
#include <cstddef>
#include <cstdint>

#include "kernels/dtype.h"
#include "kernels/layout.h"

namespace mhc {

enum class UnaryOp : uint8_t { Neg, Exp, Log, Sigmoid, Tanh, Silu, Gelu, Sqrt, Square, Relu, Abs };
enum class BinaryOp : uint8_t { Add, Sub, Mul, Div, Max, Min };

const char* unary_op_name(UnaryOp op);
const char* binary_op_name(BinaryOp op);

// C[b] = alpha * op(A[b]) · op(B[b]) + beta * C[b] for b in [0, batch).
// op(A) is M×K, op(B) is K×N, C is M×N row-major with leading dimension ldc.
// A stored row-major with leading dimension lda; trans_a means the stored
// matrix is K×M and is used transposed. A batch stride of 0 reuses one matrix.
struct GemmArgs {
  DType dtype = DType::f32;
  int64_t batch = 1, M = 0, N = 0, K = 0;
  const void* a = nullptr;
  int64_t lda = 0, stride_a = 0;
  bool trans_a = false;
  const void* b = nullptr;
  int64_t ldb = 0, stride_b = 0;
  bool trans_b = false;
  void* c = nullptr;
  int64_t ldc = 0, stride_c = 0;
  float alpha = 1.f, beta = 0.f;
};

// One f32 tensor of a multi-tensor AdamW update (Backend::adamw_multi): n
// contiguous elements each of the master weight, its gradient and the two
// moments, all updated in place, and optionally a bf16 working copy that
// receives bf16(param) after the update (the same rounding as cast).
struct AdamWTensor {
  float* param = nullptr;
  const float* grad = nullptr;
  float* m = nullptr;
  float* v = nullptr;
  bf16* working = nullptr;  // optional (null: none)
  int64_t n = 0;
  float weight_decay = 0.f;
};
// The step's shared terms: bc1 = 1 − β1^t and bc2 = 1 − β2^t for step t ≥ 1.
struct AdamWHyper {
  float lr = 0.f, beta1 = 0.9f, beta2 = 0.99f, eps = 1e-8f, bc1 = 1.f, bc2 = 1.f, grad_scale = 1.f;
};

struct AllocatorStats {
  int64_t system_allocations = 0;  // calls that reached the system allocator (malloc / cudaMalloc)
  int64_t system_frees = 0;
  int64_t bytes_reserved = 0;      // held from the system, in use or cached
  int64_t bytes_in_use = 0;
  int64_t peak_bytes_in_use = 0;
  int64_t requests = 0;            // allocate() calls, served from cache or not
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual Device device() const = 0;

  // ---- memory -------------------------------------------------------------
  virtual void* allocate(size_t bytes) = 0;  // cached; 64-byte aligned at least (CUDA: 256)
  virtual void deallocate(void* ptr, size_t bytes) = 0;
  virtual AllocatorStats allocator_stats() const = 0;
  virtual void reset_peak_memory() = 0;
  virtual void empty_cache() = 0;
  virtual void copy_to_host(void* host_dst, const void* src, size_t bytes) = 0;
  virtual void copy_from_host(void* dst, const void* host_src, size_t bytes) = 0;
  virtual void copy_within(void* dst, const void* src, size_t bytes) = 0;
  virtual void synchronize() = 0;

  // ---- elementwise ----------------------------------------------------------
  virtual void fill(DType t, void* y, int64_t n, double value) = 0;
  // y[idx] = x[idx] for every index of the shared shape; both sides strided.
  virtual void copy_strided(DType t, const void* x, const Layout& lx, void* y, const Layout& ly) = 0;
  virtual void cast(DType from, const void* x, DType to, void* y, int64_t n) = 0;
  virtual void unary(UnaryOp op, DType t, const void* x, void* y, int64_t n) = 0;
  // gx = gy * d op(x)/dx, given x and y = op(x).
  virtual void unary_backward(UnaryOp op, DType t, const void* x, const void* y, const void* gy,
                              void* gx, int64_t n) = 0;
  // y = scale * x + shift
  virtual void affine(DType t, const void* x, void* y, int64_t n, double scale, double shift) = 0;
  // out = a op b; la and lb are broadcast layouts over out's shape (stride 0
  // on broadcast dimensions); out is contiguous and may alias a or b exactly.
  virtual void binary(BinaryOp op, DType t, const void* a, const Layout& la, const void* b,
                      const Layout& lb, void* out, const Shape& out_shape) = 0;
  // y = x * keep / (1 - p), keep = uniform(seed, i) >= p (counter-based, so
  // CPU and CUDA draw the same mask and backward redraws it instead of storing it).
  virtual void dropout(DType t, const void* x, void* y, int64_t n, float p, uint64_t seed) = 0;

  // ---- reductions -----------------------------------------------------------
  // x viewed as (outer, reduce, inner) -> y (outer, inner) = Σ over the middle axis.
  virtual void sum(DType t, const void* x, void* y, int64_t outer, int64_t reduce, int64_t inner) = 0;

  // ---- matrix products ------------------------------------------------------
  virtual void gemm(const GemmArgs& args) = 0;

  // ---- normalisation and losses ---------------------------------------------
  // softmax (or log-softmax) over the middle axis of x viewed as (outer, dim, inner).
  virtual void softmax(DType t, const void* x, void* y, int64_t outer, int64_t dim, int64_t inner,
                       bool log) = 0;
  // Given y = softmax(x) (or log-softmax) and gy, writes gx.
  virtual void softmax_backward(DType t, const void* y, const void* gy, void* gx, int64_t outer,
                                int64_t dim, int64_t inner, bool log) = 0;
  // Per-row cross-entropy from logits (rows, V): loss[r] = logsumexp(x[r]) - x[r, target[r]],
  // 0 where target == ignore_index. lse (rows, stat_dtype(t)) is kept for the backward.
  virtual void cross_entropy(DType t, const void* logits, const int32_t* targets, void* loss,
                             void* lse, int64_t rows, int64_t V, int32_t ignore_index) = 0;
  // glogits[r] = gloss[r] * (softmax(x[r]) - onehot(target[r])); 0 for ignored rows.
  virtual void cross_entropy_backward(DType t, const void* logits, const int32_t* targets,
                                      const void* lse, const void* gloss, void* glogits,
                                      int64_t rows, int64_t V, int32_t ignore_index) = 0;
  // out[0] = max(1, #{i : x[i] != value}) as f32 (the number of targets that
  // count in a mean loss; at least 1 so an all-ignored batch averages to 0).
  virtual void count_not_equal(const int32_t* x, int64_t n, int32_t value, float* out) = 0;
  // y = x * rstd * w over rows of length C; rstd (rows, stat_dtype(t)) = 1/sqrt(mean(x²) + eps).
  // w may be null (no learnable scale).
  virtual void rmsnorm(DType t, const void* x, const void* w, void* y, void* rstd, int64_t rows,
                       int64_t C, float eps) = 0;
  // gx (rows, C); gw (C) is written (not accumulated) when w and gw are non-null.
  virtual void rmsnorm_backward(DType t, const void* x, const void* w, const void* rstd,
                                const void* gy, void* gx, void* gw, int64_t rows, int64_t C) = 0;

  // ---- indexing -------------------------------------------------------------
  // x viewed as (outer, dim, inner): y[o, i, :] = x[o, idx[i], :] for i < n_idx.
  virtual void gather(DType t, const void* x, const int32_t* idx, void* y, int64_t outer,
                      int64_t dim, int64_t inner, int64_t n_idx) = 0;
  // Accumulates: y[o, idx[i], :] += src[o, i, :]. Repeated indices add in
  // increasing i, deterministically.
  virtual void index_add(DType t, void* y, const int32_t* idx, const void* src, int64_t outer,
                         int64_t dim, int64_t inner, int64_t n_idx) = 0;
  // Per-row indices along the last axis: y[r, j] = x[r, idx[r, j]], x (rows, cols), idx (rows, k).
  virtual void gather_last(DType t, const void* x, const int32_t* idx, void* y, int64_t rows,
                           int64_t cols, int64_t k) = 0;
  // Accumulates: y[r, idx[r, j]] += src[r, j], in increasing j.
  virtual void scatter_add_last(DType t, void* y, const int32_t* idx, const void* src, int64_t rows,
                                int64_t cols, int64_t k) = 0;
  // Along the last axis of x (rows, cols): the k largest values in descending
  // order (ties: lower index first) and their indices.
  virtual void topk(DType t, const void* x, void* values, int32_t* indices, int64_t rows,
                    int64_t cols, int64_t k) = 0;

  // ---- mHC ------------------------------------------------------------------
  // Sinkhorn-Knopp (mHC Eq. 9) on M matrices of n×n logits (row-major):
  //   P⁰ = exp(max(L − max(L), −80))   (max over each matrix: changes nothing,
  //        keeps exp finite; the floor at e^−80 ≈ 1.8e-35 keeps a row or column
  //        from underflowing to all zeros, which would divide 0/0, and only
  //        touches entries 80 below the largest, where the gradient is then 0)
  //   iters times: P ← T_r(T_c(P))  (normalise columns to sum 1, then rows)
  // Rows are normalised last, so every row of the output sums to 1.
  // 1 ≤ n ≤ 8 and iters ≥ 1, ≤ 64 on CUDA (kernels/sinkhorn_contract.h).
  // With at least one normalisation the max shift cancels, so the backward
  // may treat it as a constant.
  virtual void sinkhorn(DType t, const void* logits, void* out, int64_t M, int64_t n, int iters) = 0;
  // The exact gradient of that iters-step map with respect to the logits,
  // recomputing the iterations from the logits (nothing else is saved).
  // Per normalisation y = x / s (s summed along the axis):
  //   ∂L/∂x = (g − Σ_axis(g ⊙ y)) / s;  and through exp: ∂L/∂L = g ⊙ P⁰
  //   (0 where the floor was active).
  virtual void sinkhorn_backward(DType t, const void* logits, const void* grad_out, void* grad_logits,
                                 int64_t M, int64_t n, int iters) = 0;

  // ---- attention ---------------------------------------------------------------
  // Fused causal self-attention. q, k, v, out are (B, T, H, D) contiguous (the
  // layout a projection produces, no transpose needed):
  //   P[b,h,t,s] = softmax_s(scale · q[b,t,h]·k[b,s,h]) for s ≤ t
  //   out[b,t,h] = Σ_s P[b,h,t,s] · keep[b,h,t,s] / (1 − dropout) · v[b,s,h]
  // keep = counter_uniform(seed, ((b·H + h)·T + t)·T + s) ≥ dropout: the
  // same mask the composed path draws for a (B, H, T, T) probability tensor
  // (all ones when dropout = 0). lse (B, H, T, stat_dtype(t)) receives each
  // row's log-sum-exp of the scaled scores for the backward.
  virtual void attention(DType t, const void* q, const void* k, const void* v, void* out, void* lse, int64_t B,
                         int64_t T, int64_t H, int64_t D, double scale, float dropout, uint64_t seed) = 0;
  // Gradients of the above: gq, gk, gv (B, T, H, D), recomputing the
  // probabilities (and the dropout mask) from q, k, lse and the seed.
  virtual void attention_backward(DType t, const void* q, const void* k, const void* v, const void* out,
                                  const void* lse, const void* gout, void* gq, void* gk, void* gv, int64_t B,
                                  int64_t T, int64_t H, int64_t D, double scale, float dropout, uint64_t seed) = 0;

  // ---- mixture-of-experts dispatch -------------------------------------------------
  // Groups the tokens·k assignments of top-k routing by expert, stably.
  // Assignment a = token·k + slot goes to expert expert_of[a] ∈ [0, E).
  // Writes order[j] (expert e's assignments at j ∈ [offsets[e], offsets[e+1]),
  // in increasing a), token[j] = order[j] / k, and offsets (E + 1 entries).
  virtual void moe_dispatch(const int32_t* expert_of, int64_t tokens, int64_t k, int64_t E, int32_t* order,
                            int32_t* token, int32_t* offsets) = 0;

  // ---- fused mHC site (docs/design.md §6) ---------------------------------------------
  // Whether the mHC layer should use these kernels when left to choose
  // (--hc.fused auto): the CUDA backend yes, the CPU backend no (it trains
  // with the unfused composition and keeps these as references).
  virtual bool prefers_fused_mhc() const = 0;
  // Per token m with n streams of width C (K = nC values v = vec(x[m])) and
  // P = 2n + n² coefficients. "Coefficient" tensors (phi, q, rstd, coeffs,
  // their gradients) have dtype stat_dtype(streams): f32 beside bf16/f32
  // streams, f64 beside f64 ones. The dtype argument t names the streams'
  // dtype in (a), (d) and (e); in (b, c), where every tensor is a
  // coefficient, it names the coefficient dtype (so f32 for bf16 streams).
  // The unfused composition in layers/manifold_hyper_connection.cpp is the
  // reference for all of them.
  //
  // (a) RMS statistic and projection in one pass over x:
  //     rstd = (mean(v²) + eps)^(−1/2),  q = rstd · (v φ)        x (M, K), φ (K, P) → q (M, P), rstd (M)
  virtual void mhc_project(DType t, const void* x, const void* phi, void* q, void* rstd, int64_t M, int64_t K,
                           int64_t P, float eps) = 0;
  //     gx = rstd · (φ gq) − v · (rstd² / K) · (gq · q)            (written, not accumulated)
  virtual void mhc_project_backward(DType t, const void* x, const void* phi, const void* q, const void* rstd,
                                    const void* gq, void* gx, int64_t M, int64_t K, int64_t P) = 0;
  // (b, c) gates and Sinkhorn: h̃ = α ⊙ q + b (α, b: (P) vectors), then
  //     coeffs = [σ(h̃_pre) | 2σ(h̃_post) | SinkhornKnopp(h̃_res, iters)]    (M, P)
  // (H_pre = H_post = 1 when sigmoid_gates is false). t = the coefficient
  // dtype, stat_dtype(streams): f32 (CUDA accepts nothing else) or f64.
  virtual void mhc_gates(DType t, const void* q, const void* alpha, const void* bias, void* coeffs, int64_t M,
                         int64_t n, int iters, bool sigmoid_gates) = 0;
  //     gh = ∂L/∂h̃ from gcoeffs, through σ, 2σ and the exact Sinkhorn backward.
  virtual void mhc_gates_backward(DType t, const void* q, const void* alpha, const void* bias, const void* gcoeffs,
                                  void* gh, int64_t M, int64_t n, int iters, bool sigmoid_gates) = 0;
  // (d) h_in[m, c] = Σ_j H_pre[m, j] x[m, j, c]                  x (M, n, C) → h_in (M, C)
  virtual void mhc_pre(DType t, const void* x, const void* coeffs, void* h_in, int64_t M, int64_t n, int64_t C) = 0;
  //     gx = H_preᵀ g (written);  gcoeffs[:, pre] = Σ_c g x (the other columns are set to 0)
  virtual void mhc_pre_backward(DType t, const void* x, const void* coeffs, const void* g_hin, void* gx,
                                void* gcoeffs, int64_t M, int64_t n, int64_t C) = 0;
  // (e) out[m, i, c] = Σ_j H_res[m, i, j] x[m, j, c] + H_post[m, i] y[m, c]    → out (M, n, C)
  virtual void mhc_post(DType t, const void* x, const void* y, const void* coeffs, void* out, int64_t M, int64_t n,
                        int64_t C) = 0;
  //     gx = H_resᵀ g,  gy = H_post · g (written);  gcoeffs[:, post] = Σ_c g y,
  //     gcoeffs[:, res] = Σ_c g xᵀ  (the pre columns are set to 0)
  virtual void mhc_post_backward(DType t, const void* x, const void* y, const void* coeffs, const void* g_out,
                                 void* gx, void* gy, void* gcoeffs, int64_t M, int64_t n, int64_t C) = 0;

  // ---- positions --------------------------------------------------------------
  // Rotary position embedding on x (B, T, H, D), D even, "rotate-half" pairs
  // (i, i + D/2) turned by angle[t, i]: cos/sin are (T, D/2) f32 tables.
  //   y_i = x_i cos − x_{i+D/2} sin,  y_{i+D/2} = x_i sin + x_{i+D/2} cos.
  // inverse = true turns by −angle (the backward pass).
  virtual void rope(DType t, const void* x, const float* cos, const float* sin, void* y, int64_t B,
                    int64_t T, int64_t H, int64_t D, bool inverse) = 0;

  // ---- optimiser ----------------------------------------------------------------
  // One AdamW step (decoupled weight decay) on every tensor of list[0, count),
  // f32 master weights updated in place, elementwise:
  //   g = grad · grad_scale;  m = β1 m + (1−β1) g;  v = β2 v + (1−β2) g²
  //   p = p − lr · (weight_decay · p + (m / bc1) / (sqrt(v / bc2) + eps))
  //   working = bf16(p)   (where a working copy is given)
  // Tensors with n = 0 are skipped. The CUDA backend covers the whole list
  // in one launch, or a few for a large list (kernels/adamw_plan.h).
  // Bad arguments (negative n, null pointers, bias corrections ≤ 0) throw
  // std::invalid_argument naming the tensor's position in the list.
  virtual void adamw_multi(const AdamWTensor* list, int64_t count, const AdamWHyper& h) = 0;
};

// The backend for a device. Throws a clear error for CUDA when the build has
// no CUDA backend or the machine has no GPU.
Backend& backend_for(Device device);
// Test hook, for tests only: while a stand-in is installed, backend_for(
// Device::cuda) returns it instead of the CUDA backend, in any build and
// with or without a GPU (tests/dry_cuda_backend.h uses it to run the model
// through the CUDA contract on the host). nullptr removes it. Returns the
// stand-in it replaces. cuda_available() still reports the real GPU.
Backend* set_cuda_backend_for_testing(Backend* stand_in);
bool cuda_available();
// With MHC_CUDA_PROFILE=1, forgets the GPU time recorded so far (benchmarks
// call it after their warm-up steps); otherwise does nothing.
void reset_kernel_profile();

}  // namespace mhc
