// cuda_backend.h — the CUDA implementation of Backend (one GPU, the legacy
// default stream, so every kernel, copy and cuBLAS call runs in issue order).
// The definitions are split by kind over the .cu files in this folder; each
// starts with a comment on how its kernels map threads to data.
//
// Numerics, for every floating primitive:
//   * f32 and bf16 storage; bf16 is loaded, converted to f32, computed in f32
//     and rounded (to nearest even) once on store. Per-row statistics (RMSNorm
//     rstd, cross-entropy and attention log-sum-exp) are f32 for both.
//   * f64 is rejected with an error naming the primitive, except by fill,
//     copy_strided, cast and gather, which move bits of any dtype.
//   * no floating-point atomics: every sum adds in an order fixed by the shape
//     (fixed block sizes, fixed chunk partitions), so reruns are bit-identical.
//
// Arguments: every entry point first calls its host-side check in
// kernels/cuda_contract.h (same name, same arguments), where the rules on
// dtypes and sizes live; past it, the .cu files only dispatch.
//
// Bad indices cannot throw from inside a kernel. The CUDA backend instead:
//   * cross_entropy: a target outside [0, V) (and not ignore_index) gives a NaN
//     loss for that row, and NaN gradients in the backward;
//   * gather / gather_last: an out-of-range index reads as NaN (0 for i32);
//   * index_add / scatter_add_last: out-of-range indices are skipped;
//   * moe_dispatch: assignments with an expert outside [0, E) are left out of
//     every expert's range; they are listed (in increasing a) after offsets[E].
// The op layer validates indices on the host where it can.
//
// Memory: allocate() serves blocks from a CachingAllocator over cudaMalloc, so a
// warm training step never calls cudaMalloc / cudaFree. Temporary buffers that
// kernels need (partial sums, sort buffers) come from the same cache and go
// back to it right after their kernels are queued: the next user of the block
// runs later on the same stream. cuBLAS gets a fixed workspace, allocated once
// when its handle is created (so it never allocates during a product).
#pragma once
#include <cublas_v2.h>

#include "kernels/backend.h"
#include "kernels/caching_allocator.h"

namespace mhc {

class CudaBackend final : public Backend {
 public:
  CudaBackend();
  ~CudaBackend() override;
  CudaBackend(const CudaBackend&) = delete;
  CudaBackend& operator=(const CudaBackend&) = delete;
  Device device() const override { return Device::cuda; }

  void* allocate(size_t bytes) override;
  void deallocate(void* ptr, size_t bytes) override;
  AllocatorStats allocator_stats() const override;
  void reset_peak_memory() override;
  void empty_cache() override;
  void copy_to_host(void* host_dst, const void* src, size_t bytes) override;
  void copy_from_host(void* dst, const void* host_src, size_t bytes) override;
  void copy_within(void* dst, const void* src, size_t bytes) override;
  void synchronize() override;

  void fill(DType t, void* y, int64_t n, double value) override;
  void copy_strided(DType t, const void* x, const Layout& lx, void* y, const Layout& ly) override;
  void cast(DType from, const void* x, DType to, void* y, int64_t n) override;
  void unary(UnaryOp op, DType t, const void* x, void* y, int64_t n) override;
  void unary_backward(UnaryOp op, DType t, const void* x, const void* y, const void* gy, void* gx,
                      int64_t n) override;
  void affine(DType t, const void* x, void* y, int64_t n, double scale, double shift) override;
  void binary(BinaryOp op, DType t, const void* a, const Layout& la, const void* b, const Layout& lb,
              void* out, const Shape& out_shape) override;
  void dropout(DType t, const void* x, void* y, int64_t n, float p, uint64_t seed) override;

  void sum(DType t, const void* x, void* y, int64_t outer, int64_t reduce, int64_t inner) override;

  void gemm(const GemmArgs& args) override;

  void softmax(DType t, const void* x, void* y, int64_t outer, int64_t dim, int64_t inner,
               bool log) override;
  void softmax_backward(DType t, const void* y, const void* gy, void* gx, int64_t outer, int64_t dim,
                        int64_t inner, bool log) override;
  // A target outside [0, V) that is not ignore_index: NaN loss for that row.
  void cross_entropy(DType t, const void* logits, const int32_t* targets, void* loss, void* lse,
                     int64_t rows, int64_t V, int32_t ignore_index) override;
  // A target outside [0, V) that is not ignore_index: NaN gradients for that row.
  void count_not_equal(const int32_t* x, int64_t n, int32_t value, float* out) override;
  void cross_entropy_backward(DType t, const void* logits, const int32_t* targets, const void* lse,
                              const void* gloss, void* glogits, int64_t rows, int64_t V,
                              int32_t ignore_index) override;
  void rmsnorm(DType t, const void* x, const void* w, void* y, void* rstd, int64_t rows, int64_t C,
               float eps) override;
  void rmsnorm_backward(DType t, const void* x, const void* w, const void* rstd, const void* gy,
                        void* gx, void* gw, int64_t rows, int64_t C) override;

  void gather(DType t, const void* x, const int32_t* idx, void* y, int64_t outer, int64_t dim,
              int64_t inner, int64_t n_idx) override;
  void index_add(DType t, void* y, const int32_t* idx, const void* src, int64_t outer, int64_t dim,
                 int64_t inner, int64_t n_idx) override;
  void gather_last(DType t, const void* x, const int32_t* idx, void* y, int64_t rows, int64_t cols,
                   int64_t k) override;
  void scatter_add_last(DType t, void* y, const int32_t* idx, const void* src, int64_t rows,
                        int64_t cols, int64_t k) override;
  // NaN compares above +∞ here (the CPU leaves NaN order unspecified); −0 ties with +0.
  void topk(DType t, const void* x, void* values, int32_t* indices, int64_t rows, int64_t cols,
            int64_t k) override;

  void sinkhorn(DType t, const void* logits, void* out, int64_t M, int64_t n, int iters) override;
  void sinkhorn_backward(DType t, const void* logits, const void* grad_out, void* grad_logits, int64_t M,
                         int64_t n, int iters) override;
  // Head dims up to 128 (the kernels are compiled for D = 32, 64, 96, 128; any
  // other D ≤ 128 runs the next larger one with zero padding); larger D throws.
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
  void rope(DType t, const void* x, const float* cos, const float* sin, void* y, int64_t B, int64_t T,
            int64_t H, int64_t D, bool inverse) override;
  void adamw_multi(const AdamWTensor* list, int64_t count, const AdamWHyper& h) override;

  // The cuBLAS handle (created on first use, with its workspace and math mode set).
  cublasHandle_t cublas();

 private:
  CachingAllocator allocator_;
  cublasHandle_t cublas_ = nullptr;
  void* cublas_workspace_ = nullptr;
};

namespace cuda {

// A temporary device buffer from the backend's cache, returned on scope exit.
// Safe to drop right after queuing the kernels that use it: everything runs
// in order on one stream, so the block's next user runs after them.
class ScratchBuffer {
 public:
  ScratchBuffer(Backend& backend, size_t bytes)
      : backend_(backend), bytes_(bytes), ptr_(bytes ? backend.allocate(bytes) : nullptr) {}
  ~ScratchBuffer() {
    if (ptr_) backend_.deallocate(ptr_, bytes_);
  }
  ScratchBuffer(const ScratchBuffer&) = delete;
  ScratchBuffer& operator=(const ScratchBuffer&) = delete;
  template <class T>
  T* as() const { return static_cast<T*>(ptr_); }

 private:
  Backend& backend_;
  size_t bytes_;
  void* ptr_;
};

// Column sums of a contiguous f32 array viewed as (outer, reduce, inner):
// y (outer, inner) of dtype out_t (f32 or bf16) = Σ over the middle axis, in
// a fixed order (cuda_reduce.cu). Used by sum and by RMSNorm's weight gradient.
void sum_f32_to(Backend& backend, const float* x, DType out_t, void* y, int64_t outer, int64_t reduce,
                int64_t inner);

// Tensor-core attention for bf16 (kernels/cuda/cuda_attention_tc.cu); taken
// when cuda_contract::attention_uses_tensor_cores says so.
void attention_forward_tc(const void* q, const void* k, const void* v, void* out, float* lse, int64_t B, int64_t T,
                          int64_t H, int64_t D, float scale, float dropout, uint64_t seed);
void attention_backward_tc(const void* q, const void* k, const void* v, const void* gout, const float* lse,
                           const float* delta, void* gq, void* gk, void* gv, int64_t B, int64_t T, int64_t H, int64_t D,
                           float scale, float dropout, uint64_t seed);

// A dtype reached a kernel dispatch that cannot handle it. The contract
// (kernels/cuda_contract.h) refuses bad dtypes before any dispatch, so this
// is a logic error in the backend, never a user error.
[[noreturn]] void dtype_not_dispatched(const char* op, DType t);

}  // namespace cuda

}  // namespace mhc
