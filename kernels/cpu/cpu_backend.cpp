// cpu_backend.cpp — host memory for the CPU backend: 64-byte aligned blocks
// behind the caching allocator.
#include "kernels/cpu/cpu_backend.h"

#include <cstdlib>
#include <cstring>

namespace mhc {

CpuBackend::CpuBackend()
    : allocator_([](size_t bytes) { return std::aligned_alloc(64, (bytes + 63) / 64 * 64); },
                 [](void* p) { std::free(p); }) {}

Device CpuBackend::device() const { return Device::cpu; }
// The CPU trains with the unfused composition (faster here); the fused
// primitives stay as the references the CUDA kernels are tested against.
bool CpuBackend::prefers_fused_mhc() const { return false; }
void CpuBackend::synchronize() {}

void* CpuBackend::allocate(size_t bytes) { return allocator_.allocate(bytes); }
void CpuBackend::deallocate(void* ptr, size_t bytes) { allocator_.deallocate(ptr, bytes); }
AllocatorStats CpuBackend::allocator_stats() const { return allocator_.stats(); }
void CpuBackend::reset_peak_memory() { allocator_.reset_peak(); }
void CpuBackend::empty_cache() { allocator_.empty_cache(); }

void CpuBackend::copy_to_host(void* host_dst, const void* src, size_t bytes) {
  if (bytes) std::memcpy(host_dst, src, bytes);
}
void CpuBackend::copy_from_host(void* dst, const void* host_src, size_t bytes) {
  if (bytes) std::memcpy(dst, host_src, bytes);
}
void CpuBackend::copy_within(void* dst, const void* src, size_t bytes) {
  if (bytes) std::memmove(dst, src, bytes);
}

}  // namespace mhc
