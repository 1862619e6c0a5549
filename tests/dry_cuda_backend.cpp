// dry_cuda_backend.cpp — see dry_cuda_backend.h. Each entry point: the CUDA
// contract check, the count, and (only where the header says so) real work.
#include "dry_cuda_backend.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

#include "kernels/cuda_contract.h"

namespace mhc::test {

namespace {
constexpr size_t kAlign = 256;  // cudaMalloc's alignment
Backend& host() { return backend_for(Device::cpu); }
}  // namespace

int64_t DryCudaBackend::calls(const std::string& op, DType t) const {
  auto it = calls_.find(op);
  return it == calls_.end() ? 0 : it->second[static_cast<size_t>(t)];
}

int64_t DryCudaBackend::calls(const std::string& op) const {
  int64_t total = 0;
  for (DType t : {DType::f32, DType::f64, DType::bf16, DType::i32}) total += calls(op, t);
  return total;
}

std::set<std::string> DryCudaBackend::ops_called() const {
  std::set<std::string> out;
  for (const auto& [op, counts] : calls_) out.insert(op);
  return out;
}

std::string DryCudaBackend::report() const {
  std::string out;
  for (const auto& [op, counts] : calls_) {
    out += op + ":";
    for (DType t : {DType::f32, DType::f64, DType::bf16, DType::i32})
      if (counts[static_cast<size_t>(t)]) out += std::string(" ") + dtype_name(t) + " ×" + std::to_string(counts[static_cast<size_t>(t)]);
    out += "; ";
  }
  return out;
}

// ---- memory ------------------------------------------------------------------------------

void* DryCudaBackend::allocate(size_t bytes) {
  const size_t padded = (std::max<size_t>(bytes, 1) + kAlign - 1) / kAlign * kAlign;
  void* p = std::aligned_alloc(kAlign, padded);
  if (!p) throw std::bad_alloc();
  std::memset(p, 0, padded);
  ++stats_.requests;
  ++stats_.system_allocations;
  stats_.bytes_in_use += static_cast<int64_t>(bytes);
  stats_.bytes_reserved += static_cast<int64_t>(bytes);
  stats_.peak_bytes_in_use = std::max(stats_.peak_bytes_in_use, stats_.bytes_in_use);
  return p;
}

void DryCudaBackend::deallocate(void* ptr, size_t bytes) {
  std::free(ptr);
  ++stats_.system_frees;
  stats_.bytes_in_use -= static_cast<int64_t>(bytes);
  stats_.bytes_reserved -= static_cast<int64_t>(bytes);
}

void DryCudaBackend::copy_to_host(void* host_dst, const void* src, size_t bytes) {
  if (bytes) std::memmove(host_dst, src, bytes);
}
void DryCudaBackend::copy_from_host(void* dst, const void* host_src, size_t bytes) {
  if (bytes) std::memmove(dst, host_src, bytes);
}
void DryCudaBackend::copy_within(void* dst, const void* src, size_t bytes) {
  if (bytes) std::memmove(dst, src, bytes);
}

// ---- data movement: real -------------------------------------------------------------------

void DryCudaBackend::fill(DType t, void* y, int64_t n, double value) {
  cuda_contract::fill(t, y, n, value);
  count("fill", t);
  host().fill(t, y, n, value);
}

void DryCudaBackend::copy_strided(DType t, const void* x, const Layout& lx, void* y, const Layout& ly) {
  cuda_contract::copy_strided(t, x, lx, y, ly);
  count("copy_strided", t);
  host().copy_strided(t, x, lx, y, ly);
}

void DryCudaBackend::cast(DType from, const void* x, DType to, void* y, int64_t n) {
  cuda_contract::cast(from, x, to, y, n);
  count("cast", from);
  host().cast(from, x, to, y, n);
}

void DryCudaBackend::gather(DType t, const void* x, const int32_t* idx, void* y, int64_t outer, int64_t dim,
                            int64_t inner, int64_t n_idx) {
  cuda_contract::gather(t, x, idx, y, outer, dim, inner, n_idx);
  count("gather", t);
  host().gather(t, x, idx, y, outer, dim, inner, n_idx);
}

// ---- arithmetic: checked and counted, not computed -----------------------------------------

void DryCudaBackend::unary(UnaryOp op, DType t, const void* x, void* y, int64_t n) {
  cuda_contract::unary(op, t, x, y, n);
  count("unary", t);
}

void DryCudaBackend::unary_backward(UnaryOp op, DType t, const void* x, const void* y, const void* gy, void* gx,
                                    int64_t n) {
  cuda_contract::unary_backward(op, t, x, y, gy, gx, n);
  count("unary_backward", t);
}

void DryCudaBackend::affine(DType t, const void* x, void* y, int64_t n, double scale, double shift) {
  cuda_contract::affine(t, x, y, n, scale, shift);
  count("affine", t);
}

void DryCudaBackend::binary(BinaryOp op, DType t, const void* a, const Layout& la, const void* b, const Layout& lb,
                            void* out, const Shape& out_shape) {
  cuda_contract::binary(op, t, a, la, b, lb, out, out_shape);
  count("binary", t);
}

void DryCudaBackend::dropout(DType t, const void* x, void* y, int64_t n, float p, uint64_t seed) {
  cuda_contract::dropout(t, x, y, n, p, seed);
  count("dropout", t);
}

void DryCudaBackend::sum(DType t, const void* x, void* y, int64_t outer, int64_t reduce, int64_t inner) {
  cuda_contract::sum(t, x, y, outer, reduce, inner);
  count("sum", t);
}

void DryCudaBackend::gemm(const GemmArgs& args) {
  cuda_contract::gemm(args);
  count("gemm", args.dtype);
}

void DryCudaBackend::softmax(DType t, const void* x, void* y, int64_t outer, int64_t dim, int64_t inner, bool log) {
  cuda_contract::softmax(t, x, y, outer, dim, inner, log);
  count("softmax", t);
}

void DryCudaBackend::softmax_backward(DType t, const void* y, const void* gy, void* gx, int64_t outer, int64_t dim,
                                      int64_t inner, bool log) {
  cuda_contract::softmax_backward(t, y, gy, gx, outer, dim, inner, log);
  count("softmax_backward", t);
}

void DryCudaBackend::cross_entropy(DType t, const void* logits, const int32_t* targets, void* loss, void* lse,
                                   int64_t rows, int64_t V, int32_t ignore_index) {
  cuda_contract::cross_entropy(t, logits, targets, loss, lse, rows, V, ignore_index);
  count("cross_entropy", t);
}

void DryCudaBackend::cross_entropy_backward(DType t, const void* logits, const int32_t* targets, const void* lse,
                                            const void* gloss, void* glogits, int64_t rows, int64_t V,
                                            int32_t ignore_index) {
  cuda_contract::cross_entropy_backward(t, logits, targets, lse, gloss, glogits, rows, V, ignore_index);
  count("cross_entropy_backward", t);
}

void DryCudaBackend::rmsnorm(DType t, const void* x, const void* w, void* y, void* rstd, int64_t rows, int64_t C,
                             float eps) {
  cuda_contract::rmsnorm(t, x, w, y, rstd, rows, C, eps);
  count("rmsnorm", t);
}

void DryCudaBackend::rmsnorm_backward(DType t, const void* x, const void* w, const void* rstd, const void* gy,
                                      void* gx, void* gw, int64_t rows, int64_t C) {
  cuda_contract::rmsnorm_backward(t, x, w, rstd, gy, gx, gw, rows, C);
  count("rmsnorm_backward", t);
}

void DryCudaBackend::index_add(DType t, void* y, const int32_t* idx, const void* src, int64_t outer, int64_t dim,
                               int64_t inner, int64_t n_idx) {
  cuda_contract::index_add(t, y, idx, src, outer, dim, inner, n_idx);
  count("index_add", t);
}

void DryCudaBackend::gather_last(DType t, const void* x, const int32_t* idx, void* y, int64_t rows, int64_t cols,
                                 int64_t k) {
  cuda_contract::gather_last(t, x, idx, y, rows, cols, k);
  count("gather_last", t);
}

void DryCudaBackend::scatter_add_last(DType t, void* y, const int32_t* idx, const void* src, int64_t rows,
                                      int64_t cols, int64_t k) {
  cuda_contract::scatter_add_last(t, y, idx, src, rows, cols, k);
  count("scatter_add_last", t);
}

void DryCudaBackend::sinkhorn(DType t, const void* logits, void* out, int64_t M, int64_t n, int iters) {
  cuda_contract::sinkhorn(t, logits, out, M, n, iters);
  count("sinkhorn", t);
}

void DryCudaBackend::sinkhorn_backward(DType t, const void* logits, const void* grad_out, void* grad_logits,
                                       int64_t M, int64_t n, int iters) {
  cuda_contract::sinkhorn_backward(t, logits, grad_out, grad_logits, M, n, iters);
  count("sinkhorn_backward", t);
}

void DryCudaBackend::attention(DType t, const void* q, const void* k, const void* v, void* out, void* lse, int64_t B,
                               int64_t T, int64_t H, int64_t D, double scale, float dropout, uint64_t seed) {
  cuda_contract::attention(t, q, k, v, out, lse, B, T, H, D, scale, dropout, seed);
  count("attention", t);
}

void DryCudaBackend::attention_backward(DType t, const void* q, const void* k, const void* v, const void* out,
                                        const void* lse, const void* gout, void* gq, void* gk, void* gv, int64_t B,
                                        int64_t T, int64_t H, int64_t D, double scale, float dropout,
                                        uint64_t seed) {
  cuda_contract::attention_backward(t, q, k, v, out, lse, gout, gq, gk, gv, B, T, H, D, scale, dropout, seed);
  count("attention_backward", t);
}

void DryCudaBackend::mhc_project(DType t, const void* x, const void* phi, void* q, void* rstd, int64_t M, int64_t K,
                                 int64_t P, float eps) {
  cuda_contract::mhc_project(t, x, phi, q, rstd, M, K, P, eps);
  count("mhc_project", t);
}

void DryCudaBackend::mhc_project_backward(DType t, const void* x, const void* phi, const void* q, const void* rstd,
                                          const void* gq, void* gx, int64_t M, int64_t K, int64_t P) {
  cuda_contract::mhc_project_backward(t, x, phi, q, rstd, gq, gx, M, K, P);
  count("mhc_project_backward", t);
}

void DryCudaBackend::mhc_gates(DType t, const void* q, const void* alpha, const void* bias, void* coeffs, int64_t M,
                               int64_t n, int iters, bool sigmoid_gates) {
  cuda_contract::mhc_gates(t, q, alpha, bias, coeffs, M, n, iters, sigmoid_gates);
  count("mhc_gates", t);
}

void DryCudaBackend::mhc_gates_backward(DType t, const void* q, const void* alpha, const void* bias,
                                        const void* gcoeffs, void* gh, int64_t M, int64_t n, int iters,
                                        bool sigmoid_gates) {
  cuda_contract::mhc_gates_backward(t, q, alpha, bias, gcoeffs, gh, M, n, iters, sigmoid_gates);
  count("mhc_gates_backward", t);
}

void DryCudaBackend::mhc_pre(DType t, const void* x, const void* coeffs, void* h_in, int64_t M, int64_t n,
                             int64_t C) {
  cuda_contract::mhc_pre(t, x, coeffs, h_in, M, n, C);
  count("mhc_pre", t);
}

void DryCudaBackend::mhc_pre_backward(DType t, const void* x, const void* coeffs, const void* g_hin, void* gx,
                                      void* gcoeffs, int64_t M, int64_t n, int64_t C) {
  cuda_contract::mhc_pre_backward(t, x, coeffs, g_hin, gx, gcoeffs, M, n, C);
  count("mhc_pre_backward", t);
}

void DryCudaBackend::mhc_post(DType t, const void* x, const void* y, const void* coeffs, void* out, int64_t M,
                              int64_t n, int64_t C) {
  cuda_contract::mhc_post(t, x, y, coeffs, out, M, n, C);
  count("mhc_post", t);
}

void DryCudaBackend::mhc_post_backward(DType t, const void* x, const void* y, const void* coeffs, const void* g_out,
                                       void* gx, void* gy, void* gcoeffs, int64_t M, int64_t n, int64_t C) {
  cuda_contract::mhc_post_backward(t, x, y, coeffs, g_out, gx, gy, gcoeffs, M, n, C);
  count("mhc_post_backward", t);
}

void DryCudaBackend::rope(DType t, const void* x, const float* cos, const float* sin, void* y, int64_t B, int64_t T,
                          int64_t H, int64_t D, bool inverse) {
  cuda_contract::rope(t, x, cos, sin, y, B, T, H, D, inverse);
  count("rope", t);
}

void DryCudaBackend::adamw_multi(const AdamWTensor* list, int64_t n_tensors, const AdamWHyper& h) {
  cuda_contract::adamw_multi(list, n_tensors, h);
  count("adamw_multi", DType::f32);
}

// ---- results host code reads back: valid but trivial -----------------------------------------

void DryCudaBackend::count_not_equal(const int32_t* x, int64_t n, int32_t value, float* out) {
  cuda_contract::count_not_equal(x, n, value, out);
  count("count_not_equal", DType::i32);
  const int64_t c = std::count_if(x, x + n, [value](int32_t v) { return v != value; });
  out[0] = static_cast<float>(std::max<int64_t>(c, 1));
}

void DryCudaBackend::topk(DType t, const void* x, void* values, int32_t* indices, int64_t rows, int64_t cols,
                          int64_t k) {
  cuda_contract::topk(t, x, values, indices, rows, cols, k);
  count("topk", t);
  // Distinct, in range, and spread over the columns (MoE: every expert gets tokens).
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < k; ++j) indices[r * k + j] = static_cast<int32_t>((r + j) % cols);
}

void DryCudaBackend::moe_dispatch(const int32_t* expert_of, int64_t tokens, int64_t k, int64_t E, int32_t* order,
                                  int32_t* token, int32_t* offsets) {
  cuda_contract::moe_dispatch(expert_of, tokens, k, E, order, token, offsets);
  count("moe_dispatch", DType::i32);
  // Stable grouping by expert, as backend.h specifies (out-of-range experts last, as on CUDA).
  const int64_t count = tokens * k;
  int64_t j = 0;
  for (int64_t e = 0; e < E; ++e) {
    offsets[e] = static_cast<int32_t>(j);
    for (int64_t a = 0; a < count; ++a)
      if (expert_of[a] == e) order[j++] = static_cast<int32_t>(a);
  }
  offsets[E] = static_cast<int32_t>(j);
  for (int64_t a = 0; a < count; ++a)
    if (expert_of[a] < 0 || expert_of[a] >= E) order[j++] = static_cast<int32_t>(a);
  for (int64_t i = 0; i < count; ++i) token[i] = static_cast<int32_t>(order[i] / k);
}

}  // namespace mhc::test
