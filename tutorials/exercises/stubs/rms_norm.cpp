// Exercise 2: the backward of RMSNorm. Fill in the body; check with
// `ctest --test-dir build -R '^exercise_rms_norm$'` (tutorials/exercises/README.md).
//   y_rc = x_rc r_r w_c,   r_r = (mean_c(x_rc²) + eps)^(−1/2)
// Hint: first find ∂r/∂x_k; every y_c of a row depends on every x_k of it.
#include "tutorials/exercises/exercises.h"

namespace exercises {

void rms_norm_backward(const Vec& x, const Vec& w, const Vec& g, int64_t N, int64_t C, double eps, Vec& dx, Vec& dw) {
  dx.assign(N * C, 0.0);
  dw.assign(C, 0.0);
  // TODO: dx = ∂L/∂x (N, C), dw = ∂L/∂w (C), summed over the rows
}

}  // namespace exercises
