// streams.h — making the n residual streams at the model input and merging
// them before the final norm (docs/design.md §1). Streams are expanded once and
// collapsed once; no block re-expands them, so they persist across depth.
#pragma once
#include "layers/module.h"

namespace mhc {

// The token embedding replicated n times: (B, T, C) -> (B, T, n, C).
Tensor expand_streams(const Tensor& x, int64_t n);

enum class CollapseMode {
  Sum,      // h = Σ_j x_j (HC)
  Learned,  // h = Σ_j w_j x_j,  w = σ(s · (RMSNorm(vec x) φ_head) + b_head)
};
inline constexpr EnumName<CollapseMode> kCollapseModeNames[] = {{"sum", CollapseMode::Sum},
                                                                {"learned", CollapseMode::Learned}};

class StreamCollapse : public Module {
 public:
  StreamCollapse(int64_t streams, int64_t width, CollapseMode mode, double norm_eps = 1e-6);
  Tensor forward(const Tensor& x) const;  // (B, T, n, C) -> (B, T, C)

  Tensor phi_head;  // (nC, n), zero at init (learned mode)
  Tensor s;         // (1), 0.01 at init
  Tensor b_head;    // (n), zero at init: w = ½ for every stream

 private:
  int64_t n_, C_;
  CollapseMode mode_;
  double eps_;
};

}  // namespace mhc
