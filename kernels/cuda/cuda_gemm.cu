// cuda_gemm.cu — matrix products through cuBLAS.
//
// Row-major <-> column-major: cuBLAS reads matrices column-major, and a
// row-major M×N matrix with leading dimension ld is, to cuBLAS, its N×M
// transpose with the same ld. So instead of C = op(A)·op(B) we ask cuBLAS for
//   Cᵀ = op(B)ᵀ · op(A)ᵀ        (N×M = (N×K)·(K×M), column-major)
// i.e. cuBLAS's "A" is our B and its "B" is our A, with m = N, n = M, and each
// trans flag passed through unchanged (a stored row-major K×N B is already
// op(B)ᵀ to cuBLAS; a stored N×K B with trans_b needs CUBLAS_OP_T).
//
// Types: f32 is CUDA_R_32F in and out with CUBLAS_COMPUTE_32F (no TF32: see
// the math mode in cuda_memory.cu), bf16 is CUDA_R_16BF in and out with f32
// accumulation (CUBLAS_COMPUTE_32F, f32 alpha/beta). batch == 1 calls
// cublasGemmEx; larger batches cublasGemmStridedBatchedEx (a stride of 0
// reuses one matrix). cuBLAS gives bit-identical results run to run on one
// GPU model with one stream (atomics mode is off by default).
//
// K == 0 never reaches cuBLAS: a small kernel writes C = beta·C (C = 0 when
// beta == 0, whatever C held).

#include "kernels/cuda/cuda_helpers.cuh"
#include "kernels/cuda/cuda_profile.h"

namespace mhc {

using namespace cuda;

namespace {

// C[b] = beta * C[b] over M×N with leading dimension ldc (beta == 0 writes 0).
template <class T>
__global__ void scale_c_kernel(T* c, int64_t batch, int64_t M, int64_t N, int64_t ldc, int64_t stride_c, float beta) {
  const int64_t n = batch * M * N;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < n; idx += stride) {
    const int64_t j = idx % N, rest = idx / N;
    const int64_t i = rest % M, b = rest / M;
    T* p = c + b * stride_c + i * ldc + j;
    *p = from_float<T>(beta == 0.f ? 0.f : beta * to_float(*p));
  }
}

// The contract checked that every size fits cuBLAS's 32-bit arguments.
int to_int(int64_t v) { return static_cast<int>(v); }

}  // namespace

void CudaBackend::gemm(const GemmArgs& g) {
  cuda_contract::gemm(g);
  MHC_CUDA_PROFILE("gemm");
  cudaDataType_t type = CUDA_R_32F;
  switch (g.dtype) {
    case DType::f32: type = CUDA_R_32F; break;
    case DType::bf16: type = CUDA_R_16BF; break;
    default: dtype_not_dispatched("gemm", g.dtype);
  }
  if (g.M == 0 || g.N == 0 || g.batch == 0) return;
  if (g.K == 0) {
    dispatch_f32_bf16(g.dtype, "gemm", [&](auto tag) {
      using T = decltype(tag);
      scale_c_kernel<<<grid_for(g.batch * g.M * g.N, kThreads), kThreads>>>(static_cast<T*>(g.c), g.batch, g.M, g.N,
                                                                            g.ldc, g.stride_c, g.beta);
      MHC_CUDA_CHECK_LAUNCH();
    });
    return;
  }
  // Our B is cuBLAS's A and vice versa (see the top of the file).
  const cublasOperation_t op_b = g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_a = g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  const int m = to_int(g.N), n = to_int(g.M), k = to_int(g.K);
  const int ldb = to_int(g.ldb), lda = to_int(g.lda), ldc = to_int(g.ldc);
  const float alpha = g.alpha, beta = g.beta;
  cublasHandle_t handle = cublas();
  if (g.batch == 1) {
    MHC_CUBLAS_CHECK(cublasGemmEx(handle, op_b, op_a, m, n, k, &alpha, g.b, type, ldb, g.a, type, lda, &beta, g.c, type,
                                  ldc, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  } else {
    MHC_CUBLAS_CHECK(cublasGemmStridedBatchedEx(handle, op_b, op_a, m, n, k, &alpha, g.b, type, ldb, g.stride_b, g.a,
                                                type, lda, g.stride_a, &beta, g.c, type, ldc, g.stride_c,
                                                to_int(g.batch), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  }
}

}  // namespace mhc
