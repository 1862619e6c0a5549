// cuda_rope.cu — rotary position embedding. One thread per rotated pair
// (b, t, h, i < D/2): it reads x_i and x_{i+D/2} of one head, turns them by
// angle[t, i] (f32 cos/sin tables, (T, D/2)), and writes both. A warp covers
// consecutive i of one head, so the reads of each half, and of the tables,
// are coalesced. No shared memory. CPU reference: kernels/cpu/rope.cpp;
// compared with it in tests/test_cuda_backend.cpp.
#include "kernels/cuda/cuda_helpers.cuh"
#include "kernels/cuda/cuda_profile.h"

namespace mhc {

using namespace cuda;

namespace {

template <class T>
__global__ void rope_kernel(const T* x, const float* cos, const float* sin, T* y, int64_t rows, int64_t T_, int64_t H,
                            int64_t half, float sign) {
  // rows = B·T·H heads of D = 2·half elements each.
  const int64_t n = rows * half;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < n; e += stride) {
    const int64_t r = e / half, i = e % half;
    const int64_t pos = (r / H) % T_;
    const T* xr = x + r * 2 * half;
    T* yr = y + r * 2 * half;
    const float a = to_float(xr[i]), b = to_float(xr[i + half]);
    const float c = cos[pos * half + i], s = sign * sin[pos * half + i];
    yr[i] = from_float<T>(a * c - b * s);
    yr[i + half] = from_float<T>(a * s + b * c);
  }
}

}  // namespace

void CudaBackend::rope(DType t, const void* x, const float* cos, const float* sin, void* y, int64_t B, int64_t T,
                       int64_t H, int64_t D, bool inverse) {
  cuda_contract::rope(t, x, cos, sin, y, B, T, H, D, inverse);
  MHC_CUDA_PROFILE("rope");
  dispatch_f32_bf16(t, "rope", [&](auto tag) {
    using E = decltype(tag);
    const int64_t rows = B * T * H, half = D / 2;
    if (rows * half == 0) return;
    rope_kernel<<<grid_for(rows * half, kThreads), kThreads>>>(static_cast<const E*>(x), cos, sin, static_cast<E*>(y),
                                                               rows, T, H, half, inverse ? -1.f : 1.f);
    MHC_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace mhc
