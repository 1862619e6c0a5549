// rope_adamw.cpp — CPU rotary position embedding and the multi-tensor AdamW update.
#include <cmath>

#include "kernels/adamw_plan.h"
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

void CpuBackend::adamw_multi(const AdamWTensor* list, int64_t count, const AdamWHyper& h) {
  check_adamw_list("adamw_multi", list, count, h);
  for (int64_t k = 0; k < count; ++k) {
    const AdamWTensor& t = list[k];
    float* param = t.param;
    const float* grad = t.grad;
    float* m = t.m;
    float* v = t.v;
    bf16* working = t.working;
    const int64_t n = t.n;
    const float wd = t.weight_decay;
#pragma omp parallel for schedule(static, cpu::kElementChunk) if (n > cpu::kParallelGrain)
    for (int64_t i = 0; i < n; ++i) {
      const float g = grad[i] * h.grad_scale;
      m[i] = h.beta1 * m[i] + (1.f - h.beta1) * g;
      v[i] = h.beta2 * v[i] + (1.f - h.beta2) * g * g;
      const float update = (m[i] / h.bc1) / (std::sqrt(v[i] / h.bc2) + h.eps);
      param[i] -= h.lr * (wd * param[i] + update);
      if (working) working[i] = bf16::from_float(param[i]);
    }
  }
}

}  // namespace mhc
