// residual.cpp
#include "layers/residual.h"

#include <stdexcept>

#include "autograd/ops.h"

namespace mhc {

Tensor Residual::forward(const Tensor& x, const SubBlock& F) {
  if (x.dim() != 4 || x.size(2) != 1)
    throw std::invalid_argument("Residual: expects a (B, T, 1, C) stream state, got " + x.shape().str());
  const Shape state = x.shape();
  Tensor h = x.reshape({state[0], state[1], state[3]});  // (B, T, C)
  if (recording_) keep_h_res(Tensor::ones({state[0], state[1], 1, 1}, DType::f32, x.device()));
  last_diversity_ = 0;  // one stream
  return (h + F(h)).reshape(state);
}

}  // namespace mhc
