// dry_cuda_backend.h — a stand-in for the CUDA backend, for tests that must
// run without a GPU. Every call goes through the CUDA contract first
// (kernels/cuda_contract.h, exactly the checks CudaBackend makes) and is
// counted per entry point and dtype; a contract violation throws, as it would
// on the GPU. It does no arithmetic:
//   * memory is host memory (zeroed, 256-byte aligned like cudaMalloc's);
//   * data movement (fill, copy_strided, cast, gather, the copies) is real;
//   * compute outputs are left as they are (zeros in fresh memory), except
//     where host code reads results back and needs them valid: topk writes
//     distinct indices (r + j) mod cols, moe_dispatch groups the assignments
//     by expert for real, count_not_equal counts for real;
//   * prefers_fused_mhc() is true, as on CUDA.
// DryCudaScope installs one for Device::cuda (set_cuda_backend_for_testing)
// for its lifetime; every tensor on Device::cuda must be gone before it ends.
#pragma once
#include <array>
#include <map>
#include <set>
#include <string>

#include "kernels/backend.h"

namespace mhc::test {

class DryCudaBackend final : public Backend {
 public:
  Device device() const override { return Device::cuda; }

  // How often the contract of an entry point was checked with dtype t (the
  // first dtype argument; f32 for adamw_multi, i32 for count_not_equal and moe_dispatch).
  int64_t calls(const std::string& op, DType t) const;
  int64_t calls(const std::string& op) const;  // with any dtype
  std::set<std::string> ops_called() const;
  std::string report() const;  // "op: f32 ×3, bf16 ×1; ..." for failure messages
  void reset_counts() { calls_.clear(); }

  void* allocate(size_t bytes) override;
  void deallocate(void* ptr, size_t bytes) override;
  AllocatorStats allocator_stats() const override { return stats_; }
  void reset_peak_memory() override { stats_.peak_bytes_in_use = stats_.bytes_in_use; }
  void empty_cache() override {}
  void copy_to_host(void* host_dst, const void* src, size_t bytes) override;
  void copy_from_host(void* dst, const void* host_src, size_t bytes) override;
  void copy_within(void* dst, const void* src, size_t bytes) override;
  void synchronize() override {}

  void fill(DType t, void* y, int64_t n, double value) override;
  void copy_strided(DType t, const void* x, const Layout& lx, void* y, const Layout& ly) override;
  void cast(DType from, const void* x, DType to, void* y, int64_t n) override;
  void unary(UnaryOp op, DType t, const void* x, void* y, int64_t n) override;
  void unary_backward(UnaryOp op, DType t, const void* x, const void* y, const void* gy, void* gx,
                      int64_t n) override;
  void affine(DType t, const void* x, void* y, int64_t n, double scale, double shift) override;
  void binary(BinaryOp op, DType t, const void* a, const Layout& la, const void* b, const Layout& lb, void* out,
              const Shape& out_shape) override;
  void dropout(DType t, const void* x, void* y, int64_t n, float p, uint64_t seed) override;
  void sum(DType t, const void* x, void* y, int64_t outer, int64_t reduce, int64_t inner) override;
  void gemm(const GemmArgs& args) override;
  void softmax(DType t, const void* x, void* y, int64_t outer, int64_t dim, int64_t inner, bool log) override;
  void softmax_backward(DType t, const void* y, const void* gy, void* gx, int64_t outer, int64_t dim, int64_t inner,
                        bool log) override;
  void cross_entropy(DType t, const void* logits, const int32_t* targets, void* loss, void* lse, int64_t rows,
                     int64_t V, int32_t ignore_index) override;
  void cross_entropy_backward(DType t, const void* logits, const int32_t* targets, const void* lse,
                              const void* gloss, void* glogits, int64_t rows, int64_t V,
                              int32_t ignore_index) override;
  void count_not_equal(const int32_t* x, int64_t n, int32_t value, float* out) override;
  void rmsnorm(DType t, const void* x, const void* w, void* y, void* rstd, int64_t rows, int64_t C,
               float eps) override;
  void rmsnorm_backward(DType t, const void* x, const void* w, const void* rstd, const void* gy, void* gx, void* gw,
                        int64_t rows, int64_t C) override;
  void gather(DType t, const void* x, const int32_t* idx, void* y, int64_t outer, int64_t dim, int64_t inner,
              int64_t n_idx) override;
  void index_add(DType t, void* y, const int32_t* idx, const void* src, int64_t outer, int64_t dim, int64_t inner,
                 int64_t n_idx) override;
  void gather_last(DType t, const void* x, const int32_t* idx, void* y, int64_t rows, int64_t cols,
                   int64_t k) override;
  void scatter_add_last(DType t, void* y, const int32_t* idx, const void* src, int64_t rows, int64_t cols,
                        int64_t k) override;
  void topk(DType t, const void* x, void* values, int32_t* indices, int64_t rows, int64_t cols, int64_t k) override;
  void sinkhorn(DType t, const void* logits, void* out, int64_t M, int64_t n, int iters) override;
  void sinkhorn_backward(DType t, const void* logits, const void* grad_out, void* grad_logits, int64_t M, int64_t n,
                         int iters) override;
  void attention(DType t, const void* q, const void* k, const void* v, void* out, void* lse, int64_t B, int64_t T,
                 int64_t H, int64_t D, double scale, float dropout, uint64_t seed) override;
  void attention_backward(DType t, const void* q, const void* k, const void* v, const void* out, const void* lse,
                          const void* gout, void* gq, void* gk, void* gv, int64_t B, int64_t T, int64_t H, int64_t D,
                          double scale, float dropout, uint64_t seed) override;
  void moe_dispatch(const int32_t* expert_of, int64_t tokens, int64_t k, int64_t E, int32_t* order, int32_t* token,
                    int32_t* offsets) override;
  bool prefers_fused_mhc() const override { return true; }
  void mhc_project(DType t, const void* x, const void* phi, void* q, void* rstd, int64_t M, int64_t K, int64_t P,
                   float eps) override;
  void mhc_project_backward(DType t, const void* x, const void* phi, const void* q, const void* rstd, const void* gq,
                            void* gx, int64_t M, int64_t K, int64_t P) override;
  void mhc_gates(DType t, const void* q, const void* alpha, const void* bias, void* coeffs, int64_t M, int64_t n,
                 int iters, bool sigmoid_gates) override;
  void mhc_gates_backward(DType t, const void* q, const void* alpha, const void* bias, const void* gcoeffs, void* gh,
                          int64_t M, int64_t n, int iters, bool sigmoid_gates) override;
  void mhc_pre(DType t, const void* x, const void* coeffs, void* h_in, int64_t M, int64_t n, int64_t C) override;
  void mhc_pre_backward(DType t, const void* x, const void* coeffs, const void* g_hin, void* gx, void* gcoeffs,
                        int64_t M, int64_t n, int64_t C) override;
  void mhc_post(DType t, const void* x, const void* y, const void* coeffs, void* out, int64_t M, int64_t n,
                int64_t C) override;
  void mhc_post_backward(DType t, const void* x, const void* y, const void* coeffs, const void* g_out, void* gx,
                         void* gy, void* gcoeffs, int64_t M, int64_t n, int64_t C) override;
  void rope(DType t, const void* x, const float* cos, const float* sin, void* y, int64_t B, int64_t T, int64_t H,
            int64_t D, bool inverse) override;
  void adamw_multi(const AdamWTensor* list, int64_t count, const AdamWHyper& h) override;

 private:
  void count(const char* op, DType t) { ++calls_[op][static_cast<size_t>(t)]; }
  std::map<std::string, std::array<int64_t, 4>> calls_;  // indexed by DType
  AllocatorStats stats_;
};

// Installs `backend` as Device::cuda's backend while in scope.
class DryCudaScope {
 public:
  explicit DryCudaScope(DryCudaBackend& backend) : previous_(set_cuda_backend_for_testing(&backend)) {}
  ~DryCudaScope() { set_cuda_backend_for_testing(previous_); }
  DryCudaScope(const DryCudaScope&) = delete;
  DryCudaScope& operator=(const DryCudaScope&) = delete;

 private:
  Backend* previous_;
};

}  // namespace mhc::test
