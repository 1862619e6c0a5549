// cuda_profile.h — an opt-in per-primitive GPU timer. With MHC_CUDA_PROFILE=1
// in the environment, every CudaBackend primitive is bracketed by a pair of
// CUDA events; at exit the program prints, per primitive, the GPU time it
// took, how often it ran and the mean per call — the first thing to read when
// a step is slower than its FLOP and byte counts predict. Off (one branch
// per call) otherwise.
#pragma once
#include <cuda_runtime.h>

namespace mhc::cuda {

// Forgets everything timed so far (call after warm-up steps).
void profile_reset();

class ProfileScope {
 public:
  explicit ProfileScope(const char* name);
  ~ProfileScope();
  ProfileScope(const ProfileScope&) = delete;
  ProfileScope& operator=(const ProfileScope&) = delete;

 private:
  const char* name_;
  int slot_ = -1;
};

}  // namespace mhc::cuda

#define MHC_CUDA_PROFILE(name) ::mhc::cuda::ProfileScope mhc_profile_scope_(name)
