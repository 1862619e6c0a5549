// linear.cpp
#include "layers/linear.h"

#include "autograd/ops.h"

namespace mhc {

Linear::Linear(int64_t in, int64_t out, bool with_bias, double init_std, Rng& rng) {
  weight = Tensor::randn({in, out}, rng, init_std);
  register_parameter("weight", &weight);
  if (with_bias) {
    bias = Tensor::zeros({out});
    register_parameter("bias", &bias);
  }
}

Tensor Linear::forward(const Tensor& x) const {
  Tensor y = matmul(x, weight.to(x.dtype()));
  return bias.defined() ? y + bias.to(x.dtype()) : y;
}

}  // namespace mhc
