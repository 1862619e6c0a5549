// Exercise 3: the backward of softmax over the last axis. Fill in the body;
// check with `ctest --test-dir build -R '^exercise_softmax$'` (tutorials/exercises/README.md).
//   y_v = exp(x_v) / Σ_u exp(x_u)
// Hint: write the Jacobian ∂y_u/∂x_v, then contract it with g without building it.
#include "tutorials/exercises/exercises.h"

namespace exercises {

Vec softmax_backward(const Vec& x, const Vec& g, int64_t N, int64_t V) {
  Vec dx(N * V, 0.0);
  // TODO: dx[r * V + v] = ∂L/∂x_rv
  return dx;
}

}  // namespace exercises
