// cuda_contract.cpp — the host-side argument checks of the CUDA backend; see
// cuda_contract.h. Plain C++: compiled into every build.
#include "kernels/cuda_contract.h"

#include <climits>
#include <cmath>
#include <stdexcept>
#include <string>
#include <utility>

#include "kernels/adamw_plan.h"
#include "kernels/sinkhorn_contract.h"

namespace mhc::cuda_contract {

namespace {

[[noreturn]] void refuse(const char* op, const std::string& why) {
  throw std::invalid_argument(std::string("cuda ") + op + ": " + why);
}

bool valid_dtype(DType t) { return t == DType::f32 || t == DType::f64 || t == DType::bf16 || t == DType::i32; }

// Data movement: the bits of any dtype.
void any_dtype(const char* op, DType t) {
  if (!valid_dtype(t)) refuse(op, "unknown dtype code " + std::to_string(static_cast<int>(t)));
}

// Floating primitives: f32 or bf16 storage, f32 arithmetic.
void stream_dtype(const char* op, DType t) {
  if (t != DType::f32 && t != DType::bf16)
    refuse(op, std::string("dtype ") + dtype_name(t) + " is not supported on the GPU (use f32 or bf16)");
}

// The mHC coefficient path: f32 beside f32 and bf16 streams.
void coefficient_dtype(const char* op, DType t) {
  if (t != DType::f32)
    refuse(op, std::string("dtype ") + dtype_name(t) +
                   " is not supported: the coefficient path is f32 on the GPU (pass the dtype of the coefficient "
                   "tensors, stat_dtype of the streams)");
}

void nonnegative(const char* op, std::initializer_list<std::pair<const char*, int64_t>> sizes) {
  for (const auto& [name, v] : sizes)
    if (v < 0) refuse(op, std::string(name) + " = " + std::to_string(v) + " must not be negative");
}

void fits_int32(const char* op, const char* what, int64_t v) {
  if (v > INT32_MAX)
    refuse(op, std::string(what) + " = " + std::to_string(v) + " does not fit the 32-bit sizes the GPU kernels take");
}

void site_streams(const char* op, int64_t n) {
  if (n < 1 || n > kSinkhornMaxN) refuse(op, "n must be in 1..8, got " + std::to_string(n));
}

// P = 2n + n² for the site's n.
void site_columns(const char* op, int64_t P) {
  int64_t n = 1;
  while (n < kSinkhornMaxN && 2 * n + n * n < P) ++n;
  if (P < 3 || 2 * n + n * n != P) refuse(op, "P = " + std::to_string(P) + " is not 2n + n² for any n in 1..8");
}

void sinkhorn_args(const char* op, int64_t n, int iters) {
  check_sinkhorn_args((std::string("cuda ") + op).c_str(), n, iters, kSinkhornMaxIters);
}

void dropout_probability(const char* op, float p) {
  if (!(p >= 0.f && p < 1.f)) refuse(op, "dropout probability " + std::to_string(p) + " is outside [0, 1)");
}

void same_shape(const char* op, const char* what, const Shape& got, const Shape& want) {
  if (got != want) refuse(op, std::string(what) + " has shape " + got.str() + ", expected " + want.str());
}

void attention_args(const char* op, DType t, int64_t B, int64_t T, int64_t H, int64_t D, float dropout,
                    bool tensor_cores) {
  stream_dtype(op, t);
  nonnegative(op, {{"B", B}, {"T", T}, {"H", H}});
  if (D < 1 || D > kCudaMaxHeadDim)
    refuse(op, "head dim D = " + std::to_string(D) + " is not supported (the fused kernels handle 1 ≤ D ≤ " +
                   std::to_string(kCudaMaxHeadDim) + ")");
  dropout_probability(op, dropout);
  if (B * T * H == 0) return;
  if (tensor_cores) {
    if (B * H > kMaxGridY) refuse(op, "B·H = " + std::to_string(B * H) + " is above 65535 (tensor-core grid)");
  } else {
    fits_int32(op, "B·H·⌈T/32⌉ (blocks)", B * H * ((T + kAttentionTileRows - 1) / kAttentionTileRows));
  }
}

}  // namespace

bool attention_uses_tensor_cores(DType t, int64_t D, std::initializer_list<const void*> operands) {
  if (t != DType::bf16 || (D != 32 && D != 64 && D != 96 && D != 128)) return false;
  for (const void* p : operands)
    if (reinterpret_cast<uintptr_t>(p) % 16 != 0) return false;
  return true;
}

// ---- elementwise ---------------------------------------------------------------------

void fill(DType t, void*, int64_t, double) { any_dtype("fill", t); }

void copy_strided(DType t, const void*, const Layout& lx, void*, const Layout& ly) {
  any_dtype("copy_strided", t);
  same_shape("copy_strided", "the destination", ly.shape, lx.shape);
}

void cast(DType from, const void*, DType to, void*, int64_t) {
  any_dtype("cast", from);
  any_dtype("cast", to);
}

void unary(UnaryOp op, DType t, const void*, void*, int64_t) { stream_dtype(unary_op_name(op), t); }

void unary_backward(UnaryOp op, DType t, const void*, const void*, const void*, void*, int64_t) {
  stream_dtype(unary_op_name(op), t);
}

void affine(DType t, const void*, void*, int64_t, double, double) { stream_dtype("affine", t); }

void binary(BinaryOp op, DType t, const void*, const Layout& la, const void*, const Layout& lb, void*,
            const Shape& out_shape) {
  const char* name = binary_op_name(op);
  stream_dtype(name, t);
  same_shape(name, "the first operand's layout", la.shape, out_shape);
  same_shape(name, "the second operand's layout", lb.shape, out_shape);
}

void dropout(DType t, const void*, void*, int64_t, float p, uint64_t) {
  stream_dtype("dropout", t);
  dropout_probability("dropout", p);
}

// ---- reductions and products ---------------------------------------------------------

void sum(DType t, const void*, void*, int64_t outer, int64_t reduce, int64_t inner) {
  stream_dtype("sum", t);
  nonnegative("sum", {{"outer", outer}, {"reduce", reduce}, {"inner", inner}});
}

void gemm(const GemmArgs& g) {
  stream_dtype("gemm", g.dtype);
  nonnegative("gemm", {{"batch", g.batch}, {"M", g.M}, {"N", g.N}, {"K", g.K}});
  if (g.M == 0 || g.N == 0 || g.batch == 0 || g.K == 0) return;  // never reaches cuBLAS
  // cuBLAS takes 32-bit sizes, and (row-major terms) leading dimensions at
  // least the stored row length.
  const std::initializer_list<std::pair<const char*, int64_t>> sizes = {
      {"M", g.M}, {"N", g.N}, {"K", g.K}, {"batch", g.batch}, {"lda", g.lda}, {"ldb", g.ldb}, {"ldc", g.ldc}};
  for (const auto& [what, v] : sizes) fits_int32("gemm", what, v);
  const int64_t row_a = g.trans_a ? g.M : g.K, row_b = g.trans_b ? g.K : g.N;
  if (g.lda < row_a)
    refuse("gemm", "lda = " + std::to_string(g.lda) + " is below the stored row length " + std::to_string(row_a));
  if (g.ldb < row_b)
    refuse("gemm", "ldb = " + std::to_string(g.ldb) + " is below the stored row length " + std::to_string(row_b));
  if (g.ldc < g.N) refuse("gemm", "ldc = " + std::to_string(g.ldc) + " is below N = " + std::to_string(g.N));
}

// ---- normalisation and losses --------------------------------------------------------

void softmax(DType t, const void*, void*, int64_t outer, int64_t dim, int64_t inner, bool log) {
  const char* op = log ? "log_softmax" : "softmax";
  stream_dtype(op, t);
  nonnegative(op, {{"outer", outer}, {"dim", dim}, {"inner", inner}});
}

void softmax_backward(DType t, const void* y, const void* gy, void* gx, int64_t outer, int64_t dim, int64_t inner,
                      bool log) {
  softmax(t, y, gx, outer, dim, inner, log);
}

void cross_entropy(DType t, const void*, const int32_t*, void*, void*, int64_t rows, int64_t V, int32_t) {
  stream_dtype("cross_entropy", t);
  nonnegative("cross_entropy", {{"rows", rows}, {"V", V}});
}

void cross_entropy_backward(DType t, const void* logits, const int32_t* targets, const void*, const void*,
                            void* glogits, int64_t rows, int64_t V, int32_t ignore_index) {
  cross_entropy(t, logits, targets, glogits, glogits, rows, V, ignore_index);
}

void count_not_equal(const int32_t*, int64_t n, int32_t, float*) { nonnegative("count_not_equal", {{"n", n}}); }

void rms_norm(DType t, const void*, const void*, void*, void*, int64_t rows, int64_t C, float) {
  stream_dtype("rms_norm", t);
  nonnegative("rms_norm", {{"rows", rows}, {"C", C}});
}

void rms_norm_backward(DType t, const void* x, const void* w, const void*, const void*, void* gx, void*, int64_t rows,
                       int64_t C) {
  rms_norm(t, x, w, gx, gx, rows, C, 0.f);
}

// ---- indexing --------------------------------------------------------------------------

void gather(DType t, const void*, const int32_t*, void*, int64_t outer, int64_t dim, int64_t inner, int64_t n_idx) {
  any_dtype("gather", t);
  nonnegative("gather", {{"outer", outer}, {"dim", dim}, {"inner", inner}, {"n_idx", n_idx}});
}

void index_add(DType t, void*, const int32_t*, const void*, int64_t outer, int64_t dim, int64_t inner, int64_t n_idx) {
  stream_dtype("index_add", t);
  nonnegative("index_add", {{"outer", outer}, {"dim", dim}, {"inner", inner}, {"n_idx", n_idx}});
  fits_int32("index_add", "n_idx (sorted indices)", n_idx);
}

void gather_last(DType t, const void*, const int32_t*, void*, int64_t rows, int64_t cols, int64_t k) {
  stream_dtype("gather_last", t);
  nonnegative("gather_last", {{"rows", rows}, {"cols", cols}, {"k", k}});
}

void scatter_add_last(DType t, void*, const int32_t*, const void*, int64_t rows, int64_t cols, int64_t k) {
  stream_dtype("scatter_add_last", t);
  nonnegative("scatter_add_last", {{"rows", rows}, {"cols", cols}, {"k", k}});
}

void topk(DType t, const void*, void*, int32_t*, int64_t rows, int64_t cols, int64_t k) {
  stream_dtype("topk", t);
  nonnegative("topk", {{"rows", rows}});
  if (k < 0 || k > cols)
    refuse("topk", "k = " + std::to_string(k) + " but the axis has " + std::to_string(cols) + " entries");
  fits_int32("topk", "the row length", cols);
}

// ---- Sinkhorn, attention, MoE dispatch -------------------------------------------------

void sinkhorn(DType t, const void*, void*, int64_t M, int64_t n, int iters) {
  stream_dtype("sinkhorn", t);
  nonnegative("sinkhorn", {{"M", M}});
  sinkhorn_args("sinkhorn", n, iters);
}

void sinkhorn_backward(DType t, const void*, const void*, void*, int64_t M, int64_t n, int iters) {
  stream_dtype("sinkhorn_backward", t);
  nonnegative("sinkhorn_backward", {{"M", M}});
  sinkhorn_args("sinkhorn_backward", n, iters);
}

void attention(DType t, const void* q, const void* k, const void* v, void* out, void*, int64_t B, int64_t T, int64_t H,
               int64_t D, double, float dropout, uint64_t) {
  attention_args("attention", t, B, T, H, D, dropout, attention_uses_tensor_cores(t, D, {q, k, v, out}));
}

void attention_backward(DType t, const void* q, const void* k, const void* v, const void*, const void*,
                        const void* gout, void* gq, void* gk, void* gv, int64_t B, int64_t T, int64_t H, int64_t D,
                        double, float dropout, uint64_t) {
  attention_args("attention_backward", t, B, T, H, D, dropout,
                 attention_uses_tensor_cores(t, D, {q, k, v, gout, gq, gk, gv}));
}

void moe_dispatch(const int32_t*, int64_t tokens, int64_t k, int64_t E, int32_t*, int32_t*, int32_t*) {
  nonnegative("moe_dispatch", {{"tokens", tokens}, {"k", k}, {"E", E}});
  fits_int32("moe_dispatch", "tokens·k (sorted assignments)", tokens * k);
  fits_int32("moe_dispatch", "E", E);
}

// ---- fused mHC site ------------------------------------------------------------------------

void mhc_project(DType t, const void*, const void*, void*, void*, int64_t M, int64_t K, int64_t P, float) {
  stream_dtype("mhc_project", t);
  nonnegative("mhc_project", {{"M", M}, {"K", K}});
  site_columns("mhc_project", P);
}

void mhc_project_backward(DType t, const void*, const void*, const void*, const void*, const void*, void*, int64_t M,
                          int64_t K, int64_t P) {
  stream_dtype("mhc_project_backward", t);
  nonnegative("mhc_project_backward", {{"M", M}, {"K", K}});
  site_columns("mhc_project_backward", P);
}

void mhc_gates(DType t, const void*, const void*, const void*, void*, int64_t M, int64_t n, int iters, bool) {
  coefficient_dtype("mhc_gates", t);
  nonnegative("mhc_gates", {{"M", M}});
  sinkhorn_args("mhc_gates", n, iters);
}

void mhc_gates_backward(DType t, const void*, const void*, const void*, const void*, void*, int64_t M, int64_t n,
                        int iters, bool) {
  coefficient_dtype("mhc_gates_backward", t);
  nonnegative("mhc_gates_backward", {{"M", M}});
  sinkhorn_args("mhc_gates_backward", n, iters);
}

void mhc_pre(DType t, const void*, const void*, void*, int64_t M, int64_t n, int64_t C) {
  stream_dtype("mhc_pre", t);
  nonnegative("mhc_pre", {{"M", M}, {"C", C}});
  site_streams("mhc_pre", n);
}

void mhc_pre_backward(DType t, const void*, const void*, const void*, void*, void*, int64_t M, int64_t n, int64_t C) {
  stream_dtype("mhc_pre_backward", t);
  nonnegative("mhc_pre_backward", {{"M", M}, {"C", C}});
  site_streams("mhc_pre_backward", n);
}

void mhc_post(DType t, const void*, const void*, const void*, void*, int64_t M, int64_t n, int64_t C) {
  stream_dtype("mhc_post", t);
  nonnegative("mhc_post", {{"M", M}, {"C", C}});
  site_streams("mhc_post", n);
}

void mhc_post_backward(DType t, const void*, const void*, const void*, const void*, void*, void*, void*, int64_t M,
                       int64_t n, int64_t C) {
  stream_dtype("mhc_post_backward", t);
  nonnegative("mhc_post_backward", {{"M", M}, {"C", C}});
  site_streams("mhc_post_backward", n);
}

// ---- positions and the optimiser --------------------------------------------------------

void rope(DType t, const void*, const float*, const float*, void*, int64_t B, int64_t T, int64_t H, int64_t D, bool) {
  stream_dtype("rope", t);
  nonnegative("rope", {{"B", B}, {"T", T}, {"H", H}, {"D", D}});
  if (D % 2 != 0) refuse("rope", "head dim D = " + std::to_string(D) + " must be even");
}

void adamw_multi(const AdamWTensor* list, int64_t count, const AdamWHyper& h) {
  check_adamw_list("cuda adamw_multi", list, count, h);
}

}  // namespace mhc::cuda_contract
