// backend.cpp — picks the backend for a device (and the tests' stand-in for
// CUDA), and names of op enums.
#include "kernels/backend.h"

#include <stdexcept>

#include "kernels/cpu/cpu_backend.h"

namespace mhc {

#ifdef MHC_HAVE_CUDA
Backend& cuda_backend();     // kernels/cuda/cuda_backend.cu
bool cuda_device_present();  // kernels/cuda/cuda_backend.cu
namespace cuda {
void profile_reset();  // kernels/cuda/cuda_profile.cu
}
#endif

void reset_kernel_profile() {
#ifdef MHC_HAVE_CUDA
  cuda::profile_reset();
#endif
}

bool cuda_available() {
#ifdef MHC_HAVE_CUDA
  return cuda_device_present();
#else
  return false;
#endif
}

namespace {
Backend* cuda_stand_in = nullptr;  // set_cuda_backend_for_testing
}  // namespace

Backend* set_cuda_backend_for_testing(Backend* stand_in) {
  Backend* previous = cuda_stand_in;
  cuda_stand_in = stand_in;
  return previous;
}

Backend& backend_for(Device device) {
  if (device == Device::cpu) {
    static CpuBackend cpu;
    return cpu;
  }
  if (cuda_stand_in) return *cuda_stand_in;
#ifdef MHC_HAVE_CUDA
  if (!cuda_device_present())
    throw std::runtime_error("device cuda requested, but no CUDA GPU is visible on this machine");
  return cuda_backend();
#else
  throw std::runtime_error(
      "device cuda requested, but this build has no CUDA backend "
      "(configure with -DMHC_CUDA=ON on a machine with nvcc)");
#endif
}

const char* unary_op_name(UnaryOp op) {
  switch (op) {
#define MHC_NAME_CASE(value, name) \
  case UnaryOp::value: return name;
    MHC_UNARY_OPS(MHC_NAME_CASE)
#undef MHC_NAME_CASE
  }
  return "?";
}

const char* binary_op_name(BinaryOp op) {
  switch (op) {
#define MHC_NAME_CASE(value, name) \
  case BinaryOp::value: return name;
    MHC_BINARY_OPS(MHC_NAME_CASE)
#undef MHC_NAME_CASE
  }
  return "?";
}

}  // namespace mhc
