// adamw.cpp — the CPU multi-tensor AdamW update over a table of tensors
// (kernels/adamw_plan.h). CUDA: kernels/cuda/cuda_adamw.cu; tested in
// tests/test_optimizer.cpp.
#include <cmath>

#include "kernels/adamw_plan.h"
#include "kernels/cpu/cpu_backend.h"

namespace mhc {

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
