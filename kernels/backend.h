// backend.h — the device interface: every primitive the autograd ops need,
// in raw-pointer terms. A CPU backend and a CUDA backend implement it; ops in
// autograd/ call backend_for(tensor.device()) and never mention a device.
// The method list, with each primitive's contract and the conventions they
// all share, is kernels/backend_ops.def; this file holds the argument types.
#pragma once
#include <cstddef>
#include <cstdint>

#include "kernels/dtype.h"
#include "kernels/layout.h"

namespace mhc {

// The elementwise maps with their names, listed once: the enums below,
// unary_op_name / binary_op_name, each backend's dispatch (one loop per op,
// the op a compile-time constant) and the CUDA comparison test expand them.
// clang-format off
#define MHC_UNARY_OPS(X) \
  X(Neg, "neg") X(Exp, "exp") X(Log, "log") X(Sigmoid, "sigmoid") X(Tanh, "tanh") X(Silu, "silu") \
  X(Gelu, "gelu") X(Sqrt, "sqrt") X(Square, "square") X(Relu, "relu") X(Abs, "abs")
#define MHC_BINARY_OPS(X) \
  X(Add, "add") X(Sub, "sub") X(Mul, "mul") X(Div, "div") X(Max, "maximum") X(Min, "minimum")
// clang-format on

#define MHC_ENUM_VALUE(value, name) value,
enum class UnaryOp : uint8_t { MHC_UNARY_OPS(MHC_ENUM_VALUE) };
enum class BinaryOp : uint8_t { MHC_BINARY_OPS(MHC_ENUM_VALUE) };
#undef MHC_ENUM_VALUE

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
  int64_t bytes_reserved = 0;  // held from the system, in use or cached
  int64_t bytes_in_use = 0;
  int64_t peak_bytes_in_use = 0;
  int64_t requests = 0;  // allocate() calls, served from cache or not
};

// The device interface. Its methods, their shapes and their contracts are
// listed once, in kernels/backend_ops.def; here each becomes a pure virtual.
class Backend {
 public:
  virtual ~Backend() = default;

#define MHC_BACKEND_METHOD(ret, name, params, qualifier) virtual ret name params qualifier = 0;
#define MHC_BACKEND_OP(name, params, args) virtual void name params = 0;
#include "kernels/backend_ops.def"
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
