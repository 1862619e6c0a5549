// cuda_contract.h — what the CUDA backend accepts, checked on the host in
// plain C++ so that every build (with or without CUDA, with or without a GPU)
// compiles and tests it. Each CudaBackend entry point calls its function here
// first, with the same arguments; the function throws std::invalid_argument
// naming the primitive ("cuda <op>: ...") when the arguments break the
// contract, and returns otherwise. Past it, a .cu file only dispatches: a
// dtype it cannot dispatch is a logic error, not a user error.
//
// Dtypes (DType::f64 is never computed with on the GPU):
//   * data movement — fill, copy_strided, cast, gather — moves the bits of
//     any dtype (f32, f64, bf16, i32);
//   * every other floating primitive takes the stream dtype: f32 or bf16;
//   * mhc_gates and mhc_gates_backward take the dtype of their coefficient
//     tensors (q, α, b, coeffs, gh: stat_dtype of the streams), which is f32
//     beside f32 and bf16 streams: they accept f32 only;
//   * count_not_equal, moe_dispatch and adamw_multi have fixed types (i32, f32).
// Sizes: counts must not be negative; n of an mHC site is 1..8 and P = 2n + n²;
// Sinkhorn runs 1..kSinkhornMaxIters iterations; attention head dims are
// 1..kCudaMaxHeadDim; dropout probabilities lie in [0, 1); products, sorts and
// launch grids must fit the 32-bit sizes cuBLAS, CUB and CUDA grids take.
// The memory entry points (allocate, copies, synchronize) take nothing the GPU
// could refuse and have no function here.
#pragma once
#include <cstdint>
#include <initializer_list>

#include "kernels/backend.h"

namespace mhc::cuda_contract {

inline constexpr int64_t kCudaMaxHeadDim = 128;    // the fused attention kernels' widest head
inline constexpr int64_t kAttentionTileRows = 32;  // rows per block of the FMA attention kernels
inline constexpr int64_t kMaxGridY = 65535;        // CUDA's limit on gridDim.y (and z)

// Whether attention on these operands runs the bf16 tensor-core kernels
// (cuda_attention_tc.cu): bf16, D ∈ {32, 64, 96, 128}, and every operand
// 16-byte aligned. Otherwise the FMA kernels (cuda_attention.cu) run.
bool attention_uses_tensor_cores(DType t, int64_t D, std::initializer_list<const void*> operands);

// One check per compute primitive of kernels/backend_ops.def, with its name
// and arguments; defined in cuda_contract.cpp.
#define MHC_BACKEND_OP(name, params, args) void name params;
#include "kernels/backend_ops.def"

}  // namespace mhc::cuda_contract
