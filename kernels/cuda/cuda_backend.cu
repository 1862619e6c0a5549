// cuda_backend.cu — the CUDA backend. Issue #2 only needs the target to build;
// the primitives arrive with the CUDA issue. Until then requesting the CUDA
// device reports that clearly.
#include <cuda_runtime.h>

#include <stdexcept>

#include "kernels/backend.h"

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
  throw std::runtime_error("the CUDA backend is not implemented yet in this build");
}

}  // namespace mhc
