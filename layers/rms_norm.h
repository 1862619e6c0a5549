// rms_norm.h — RMSNorm with a learnable scale over the last axis:
//   y = x / sqrt(mean(x²) + eps) ⊙ w,  w initialised to 1.
#pragma once
#include "layers/module.h"

namespace mhc {

class RMSNorm : public Module {
 public:
  explicit RMSNorm(int64_t dim, double eps = 1e-6);
  Tensor forward(const Tensor& x) const;  // (..., dim) -> (..., dim)

  Tensor weight;  // (dim)
  double eps;
};

}  // namespace mhc
