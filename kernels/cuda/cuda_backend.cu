// cuda_backend.cu — how the rest of the program reaches the CUDA backend:
// cuda_device_present() asks the runtime whether a GPU is visible, and
// cuda_backend() hands out the one CudaBackend (created on first use).
// backend.cpp calls both (only in builds with MHC_HAVE_CUDA).
// No kernels here: they live in the cuda_*.cu files next to this one.
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "kernels/cuda/cuda_backend.h"

namespace mhc {

bool cuda_device_present() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no device" error
    return false;
  }
  return n > 0;
}

Backend& cuda_backend() {
  static CudaBackend backend;
  return backend;
}

namespace cuda {

void dtype_not_dispatched(const char* op, DType t) {
  throw std::logic_error(std::string("cuda ") + op + ": dtype " + dtype_name(t) +
                         " reached a kernel dispatch; kernels/cuda_contract.cpp should have refused it");
}

}  // namespace cuda

}  // namespace mhc
