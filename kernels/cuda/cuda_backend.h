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
// Beyond the CPU's contract: topk orders NaN above +∞ (the CPU leaves NaN
// order unspecified) and ties −0 with +0; attention takes head dims up to 128
// (kernels compiled for D = 32, 64, 96, 128; any other D ≤ 128 runs the next
// larger one with zero padding; a larger D throws).
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

  // Every method of kernels/backend_ops.def, defined in the .cu file of this
  // folder named for its kind (memory: cuda_memory.cu).
#define MHC_BACKEND_METHOD(ret, name, params, qualifier) ret name params qualifier override;
#define MHC_BACKEND_OP(name, params, args) void name params override;
#include "kernels/backend_ops.def"

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
  T* as() const {
    return static_cast<T*>(ptr_);
  }

 private:
  Backend& backend_;
  size_t bytes_;
  void* ptr_;
};

// Column sums of a contiguous f32 array viewed as (outer, reduce, inner):
// y (outer, inner) of dtype out_t (f32 or bf16) = Σ over the middle axis, in
// a fixed order (cuda_reduce.cu). Used by sum and by RMSNorm's weight gradient.
void sum_f32_to(Backend& backend, const float* x, DType out_t, void* y, int64_t outer, int64_t reduce, int64_t inner);

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
