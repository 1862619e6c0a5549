// residual.h — the baseline pre-norm residual, n = 1 (docs/design.md §2):
//   x_{l+1} = x_l + F(x_l)
#pragma once
#include "layers/residual_site.h"

namespace mhc {

class Residual : public ResidualSite {
 public:
  Tensor forward(const Tensor& x, const SubBlock& F) override;  // x (B, T, 1, C)
  int64_t streams() const override { return 1; }
};

}  // namespace mhc
