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

inline constexpr int64_t kCudaMaxHeadDim = 128;      // the fused attention kernels' widest head
inline constexpr int64_t kAttentionTileRows = 32;    // rows per block of the FMA attention kernels
inline constexpr int64_t kMaxGridY = 65535;          // CUDA's limit on gridDim.y (and z)

// Whether attention on these operands runs the bf16 tensor-core kernels
// (cuda_attention_tc.cu): bf16, D ∈ {32, 64, 96, 128}, and every operand
// 16-byte aligned. Otherwise the FMA kernels (cuda_attention.cu) run.
bool attention_uses_tensor_cores(DType t, int64_t D, std::initializer_list<const void*> operands);

// ---- elementwise ---------------------------------------------------------------------
void fill(DType t, void* y, int64_t n, double value);
void copy_strided(DType t, const void* x, const Layout& lx, void* y, const Layout& ly);
void cast(DType from, const void* x, DType to, void* y, int64_t n);
void unary(UnaryOp op, DType t, const void* x, void* y, int64_t n);
void unary_backward(UnaryOp op, DType t, const void* x, const void* y, const void* gy, void* gx, int64_t n);
void affine(DType t, const void* x, void* y, int64_t n, double scale, double shift);
void binary(BinaryOp op, DType t, const void* a, const Layout& la, const void* b, const Layout& lb, void* out,
            const Shape& out_shape);
void dropout(DType t, const void* x, void* y, int64_t n, float p, uint64_t seed);

// ---- reductions and products ---------------------------------------------------------
void sum(DType t, const void* x, void* y, int64_t outer, int64_t reduce, int64_t inner);
void gemm(const GemmArgs& args);

// ---- normalisation and losses --------------------------------------------------------
void softmax(DType t, const void* x, void* y, int64_t outer, int64_t dim, int64_t inner, bool log);
void softmax_backward(DType t, const void* y, const void* gy, void* gx, int64_t outer, int64_t dim, int64_t inner,
                      bool log);
void cross_entropy(DType t, const void* logits, const int32_t* targets, void* loss, void* lse, int64_t rows,
                   int64_t V, int32_t ignore_index);
void cross_entropy_backward(DType t, const void* logits, const int32_t* targets, const void* lse, const void* gloss,
                            void* glogits, int64_t rows, int64_t V, int32_t ignore_index);
void count_not_equal(const int32_t* x, int64_t n, int32_t value, float* out);
void rmsnorm(DType t, const void* x, const void* w, void* y, void* rstd, int64_t rows, int64_t C, float eps);
void rmsnorm_backward(DType t, const void* x, const void* w, const void* rstd, const void* gy, void* gx, void* gw,
                      int64_t rows, int64_t C);

// ---- indexing --------------------------------------------------------------------------
void gather(DType t, const void* x, const int32_t* idx, void* y, int64_t outer, int64_t dim, int64_t inner,
            int64_t n_idx);
void index_add(DType t, void* y, const int32_t* idx, const void* src, int64_t outer, int64_t dim, int64_t inner,
               int64_t n_idx);
void gather_last(DType t, const void* x, const int32_t* idx, void* y, int64_t rows, int64_t cols, int64_t k);
void scatter_add_last(DType t, void* y, const int32_t* idx, const void* src, int64_t rows, int64_t cols, int64_t k);
void topk(DType t, const void* x, void* values, int32_t* indices, int64_t rows, int64_t cols, int64_t k);

// ---- Sinkhorn, attention, MoE dispatch -------------------------------------------------
void sinkhorn(DType t, const void* logits, void* out, int64_t M, int64_t n, int iters);
void sinkhorn_backward(DType t, const void* logits, const void* grad_out, void* grad_logits, int64_t M, int64_t n,
                       int iters);
void attention(DType t, const void* q, const void* k, const void* v, void* out, void* lse, int64_t B, int64_t T,
               int64_t H, int64_t D, double scale, float dropout, uint64_t seed);
void attention_backward(DType t, const void* q, const void* k, const void* v, const void* out, const void* lse,
                        const void* gout, void* gq, void* gk, void* gv, int64_t B, int64_t T, int64_t H, int64_t D,
                        double scale, float dropout, uint64_t seed);
void moe_dispatch(const int32_t* expert_of, int64_t tokens, int64_t k, int64_t E, int32_t* order, int32_t* token,
                  int32_t* offsets);

// ---- fused mHC site: t is the stream dtype, except for the gates (coefficient dtype) ----
void mhc_project(DType t, const void* x, const void* phi, void* q, void* rstd, int64_t M, int64_t K, int64_t P,
                 float eps);
void mhc_project_backward(DType t, const void* x, const void* phi, const void* q, const void* rstd, const void* gq,
                          void* gx, int64_t M, int64_t K, int64_t P);
void mhc_gates(DType t, const void* q, const void* alpha, const void* bias, void* coeffs, int64_t M, int64_t n,
               int iters, bool sigmoid_gates);
void mhc_gates_backward(DType t, const void* q, const void* alpha, const void* bias, const void* gcoeffs, void* gh,
                        int64_t M, int64_t n, int iters, bool sigmoid_gates);
void mhc_pre(DType t, const void* x, const void* coeffs, void* h_in, int64_t M, int64_t n, int64_t C);
void mhc_pre_backward(DType t, const void* x, const void* coeffs, const void* g_hin, void* gx, void* gcoeffs,
                      int64_t M, int64_t n, int64_t C);
void mhc_post(DType t, const void* x, const void* y, const void* coeffs, void* out, int64_t M, int64_t n, int64_t C);
void mhc_post_backward(DType t, const void* x, const void* y, const void* coeffs, const void* g_out, void* gx,
                       void* gy, void* gcoeffs, int64_t M, int64_t n, int64_t C);

// ---- positions and the optimiser --------------------------------------------------------
void rope(DType t, const void* x, const float* cos, const float* sin, void* y, int64_t B, int64_t T, int64_t H,
          int64_t D, bool inverse);
void adamw_multi(const AdamWTensor* list, int64_t count, const AdamWHyper& h);

}  // namespace mhc::cuda_contract
