// linear.h — y = x W (+ b). The weight is stored (in, out), so the forward
// is a plain product with no transpose. The weight is cast to the input's
// dtype (bf16 activations on CUDA use an f32 master weight).
#pragma once
#include "layers/module.h"

namespace mhc {

class Linear : public Module {
 public:
  // Weight ~ Normal(0, init_std); bias (if any) starts at 0.
  Linear(int64_t in, int64_t out, bool bias, double init_std, Rng& rng);
  Tensor forward(const Tensor& x) const;  // (..., in) -> (..., out)

  Tensor weight;  // (in, out)
  Tensor bias;    // (out) or undefined
};

}  // namespace mhc
