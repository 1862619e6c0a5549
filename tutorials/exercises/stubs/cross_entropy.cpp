// Exercise 1: the backward of mean cross-entropy. Fill in the body; check
// with `ctest --test-dir build -R '^exercise_cross_entropy$'` in a build configured with
// -DMHC_EXERCISES=stubs (tutorials/exercises/README.md).
//   L = (1/N) Σ_r [ log Σ_v exp(z_rv) − z_r,t_r ]
// Derive ∂L/∂z_rv for one row first; remember the 1/N and the upstream g.
#include "tutorials/exercises/exercises.h"

namespace exercises {

Vec cross_entropy_backward(const Vec& logits, const std::vector<int32_t>& targets, int64_t N, int64_t V, double g) {
  Vec dz(N * V, 0.0);
  // TODO: dz[r * V + v] = ∂L/∂z_rv, times g
  return dz;
}

}  // namespace exercises
