// rope.cpp — CPU rotary position embedding: each head's pair (x_i, x_{i+D/2})
// turned by the angle of its position (f32 cos / sin tables, (T, D/2));
// `inverse` turns it back (the backward). CUDA: kernels/cuda/cuda_rope.cu;
// tested in tests/test_ops_gradcheck.cpp and tests/test_cuda_backend.cpp.
#include <cmath>

#include "kernels/cpu/cpu_backend.h"

namespace mhc {

void CpuBackend::rope(DType t, const void* x, const float* cos, const float* sin, void* y, int64_t B, int64_t T,
                      int64_t H, int64_t D, bool inverse) {
  const int64_t half = D / 2;
  const float sign = inverse ? -1.f : 1.f;
  dispatch_float(t, "rope", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    const scalar_t* xp = static_cast<const scalar_t*>(x);
    scalar_t* yp = static_cast<scalar_t*>(y);
#pragma omp parallel for schedule(static) if (B * T * H * D > cpu::kParallelGrain)
    for (int64_t bt = 0; bt < B * T; ++bt) {
      const int64_t pos = bt % T;
      const float* c = cos + pos * half;
      const float* s = sin + pos * half;
      for (int64_t h = 0; h < H; ++h) {
        const scalar_t* xr = xp + (bt * H + h) * D;
        scalar_t* yr = yp + (bt * H + h) * D;
        for (int64_t i = 0; i < half; ++i) {
          const scalar_t a = xr[i], b = xr[i + half];
          const scalar_t ci = c[i], si = sign * s[i];
          yr[i] = a * ci - b * si;
          yr[i + half] = a * si + b * ci;
        }
      }
    }
  });
}

}  // namespace mhc
