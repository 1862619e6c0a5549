// cuda_check.h — error checking for CUDA runtime and cuBLAS calls.
//
//   MHC_CUDA_CHECK(cudaMemcpy(...));     // throws on any error code
//   MHC_CUBLAS_CHECK(cublasGemmEx(...));
//   kernel<<<grid, block>>>(...);
//   MHC_CUDA_CHECK_LAUNCH();             // after every kernel launch
//
// Each throws std::runtime_error naming file:line, the failing expression and
// the library's own description of the error. A launch check only sees launch
// errors (bad configuration, missing kernel image); a fault inside a kernel
// surfaces at the next synchronising call (a copy to the host, synchronize()).
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

namespace mhc::cuda {

[[noreturn]] inline void throw_cuda_error(cudaError_t err, const char* expr, const char* file, int line) {
  throw std::runtime_error(std::string(file) + ":" + std::to_string(line) + ": CUDA error in `" + expr +
                           "`: " + cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ")");
}

[[noreturn]] inline void throw_cublas_error(cublasStatus_t status, const char* expr, const char* file, int line) {
  throw std::runtime_error(std::string(file) + ":" + std::to_string(line) + ": cuBLAS error in `" + expr +
                           "`: " + cublasGetStatusName(status) + " (" + cublasGetStatusString(status) + ")");
}

}  // namespace mhc::cuda

#define MHC_CUDA_CHECK(expr)                                                                                   \
  do {                                                                                                         \
    const cudaError_t mhc_cuda_err_ = (expr);                                                                  \
    if (mhc_cuda_err_ != cudaSuccess) ::mhc::cuda::throw_cuda_error(mhc_cuda_err_, #expr, __FILE__, __LINE__); \
  } while (0)

#define MHC_CUBLAS_CHECK(expr)                                                        \
  do {                                                                                \
    const cublasStatus_t mhc_cublas_status_ = (expr);                                 \
    if (mhc_cublas_status_ != CUBLAS_STATUS_SUCCESS)                                  \
      ::mhc::cuda::throw_cublas_error(mhc_cublas_status_, #expr, __FILE__, __LINE__); \
  } while (0)

// cudaGetLastError both reports and clears a launch error.
#define MHC_CUDA_CHECK_LAUNCH() MHC_CUDA_CHECK(cudaGetLastError())
