// rms_norm.cpp
#include "layers/rms_norm.h"

#include "autograd/ops.h"

namespace mhc {

RMSNorm::RMSNorm(int64_t dim, double eps_) : eps(eps_) {
  weight = Tensor::ones({dim});
  register_parameter("weight", &weight);
}

Tensor RMSNorm::forward(const Tensor& x) const { return rms_norm(x, weight.to(x.dtype()), eps); }

}  // namespace mhc
