// cuda_memory.cu — device memory for the CUDA backend: the caching allocator
// over cudaMalloc / cudaFree, host <-> device copies, synchronisation, and the
// lazily created cuBLAS handle.
//
// Design: allocate() is served from CachingAllocator's segments (best fit,
// split and merged); only a request that no free block fits reaches
// cudaMalloc, so a warm training step allocates nothing from the driver.
// Everything runs on the legacy default stream, so a block freed here can be
// handed to the next request at once: its earlier users were queued first and
// finish first. copy_to_host / copy_from_host are synchronous cudaMemcpy
// (the host buffer is usable when they return); copy_within is queued.
#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/cuda_check.h"

namespace mhc {

namespace {

void* device_malloc(size_t bytes) {
  void* p = nullptr;
  if (cudaMalloc(&p, bytes) != cudaSuccess) {
    cudaGetLastError();  // clear the error; the allocator empties its cache and retries once
    return nullptr;
  }
  return p;
}

// Never throws: also runs from the destructor at program exit, when the CUDA
// runtime may already be shutting down.
void device_free(void* p) {
  if (cudaFree(p) != cudaSuccess) cudaGetLastError();
}

// cuBLAS's recommended workspace on Hopper.
constexpr size_t kCublasWorkspaceBytes = size_t{32} << 20;

}  // namespace

CudaBackend::CudaBackend() : allocator_(device_malloc, device_free) {}

CudaBackend::~CudaBackend() {
  // At exit the runtime may be gone already; errors are ignored here.
  if (cublas_) cublasDestroy(cublas_);
  if (cublas_workspace_) device_free(cublas_workspace_);
}

cublasHandle_t CudaBackend::cublas() {
  if (!cublas_) {
    MHC_CUBLAS_CHECK(cublasCreate(&cublas_));
    // f32 products: CUBLAS_COMPUTE_32F with the default math mode never uses
    // TF32 (that needs CUBLAS_COMPUTE_32F_FAST_TF32 or the TF32 math mode),
    // so CPU and CUDA f32 results agree to f32 rounding. bf16 products still
    // use tensor cores; DISALLOW_REDUCED_PRECISION_REDUCTION keeps any split-K
    // partial sums in f32 instead of bf16.
    MHC_CUBLAS_CHECK(cublasSetMathMode(
        cublas_, static_cast<cublasMath_t>(CUBLAS_DEFAULT_MATH | CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION)));
    MHC_CUBLAS_CHECK(cublasSetPointerMode(cublas_, CUBLAS_POINTER_MODE_HOST));
    // A fixed workspace so cuBLAS never allocates during a product. Taken
    // straight from cudaMalloc (once per process), outside the tensor cache.
    MHC_CUDA_CHECK(cudaMalloc(&cublas_workspace_, kCublasWorkspaceBytes));
    MHC_CUBLAS_CHECK(cublasSetWorkspace(cublas_, cublas_workspace_, kCublasWorkspaceBytes));
    MHC_CUBLAS_CHECK(cublasSetStream(cublas_, nullptr));  // the legacy default stream, like every kernel
  }
  return cublas_;
}

void* CudaBackend::allocate(size_t bytes) { return allocator_.allocate(bytes); }
void CudaBackend::deallocate(void* ptr, size_t bytes) { allocator_.deallocate(ptr, bytes); }
AllocatorStats CudaBackend::allocator_stats() const { return allocator_.stats(); }
void CudaBackend::reset_peak_memory() { allocator_.reset_peak(); }

void CudaBackend::empty_cache() {
  // cudaFree synchronises the device, so no queued kernel still uses a block.
  allocator_.empty_cache();
}

void CudaBackend::copy_to_host(void* host_dst, const void* src, size_t bytes) {
  if (bytes) MHC_CUDA_CHECK(cudaMemcpy(host_dst, src, bytes, cudaMemcpyDeviceToHost));
}

void CudaBackend::copy_from_host(void* dst, const void* host_src, size_t bytes) {
  if (bytes) MHC_CUDA_CHECK(cudaMemcpy(dst, host_src, bytes, cudaMemcpyHostToDevice));
}

void CudaBackend::copy_within(void* dst, const void* src, size_t bytes) {
  if (!bytes || dst == src) return;
  const auto d = reinterpret_cast<uintptr_t>(dst), s = reinterpret_cast<uintptr_t>(src);
  const bool overlap = d < s + bytes && s < d + bytes;
  if (!overlap) {
    MHC_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, nullptr));
    return;
  }
  // Overlapping ranges (memmove semantics): go through a temporary block.
  cuda::ScratchBuffer tmp(*this, bytes);
  MHC_CUDA_CHECK(cudaMemcpyAsync(tmp.as<void>(), src, bytes, cudaMemcpyDeviceToDevice, nullptr));
  MHC_CUDA_CHECK(cudaMemcpyAsync(dst, tmp.as<void>(), bytes, cudaMemcpyDeviceToDevice, nullptr));
}

void CudaBackend::synchronize() { MHC_CUDA_CHECK(cudaDeviceSynchronize()); }
Device CudaBackend::device() const { return Device::cuda; }
bool CudaBackend::prefers_fused_mhc() const { return true; }

}  // namespace mhc
