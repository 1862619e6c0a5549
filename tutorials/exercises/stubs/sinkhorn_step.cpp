// Exercise 5: one Sinkhorn-Knopp normalisation step (mHC Eq. 9 with
// t_max = 1), forward and backward. Fill in both; check with
// `ctest --test-dir build -R '^exercise_sinkhorn_step$'` (tutorials/exercises/README.md).
//   P = exp(H̃);  Q_ij = P_ij / Σ_i' P_i'j  (columns);  S_ij = Q_ij / Σ_j' Q_ij'  (rows)
// Hint for the backward: one normalisation y = x / s at a time, the last one first.
#include "tutorials/exercises/exercises.h"

namespace exercises {

Vec sinkhorn_step_forward(const Vec& logits, int64_t n) {
  Vec S(n * n, 0.0);
  // TODO: S = the row normalisation of the column normalisation of exp(logits)
  return S;
}

Vec sinkhorn_step_backward(const Vec& logits, const Vec& g, int64_t n) {
  Vec dlogits(n * n, 0.0);
  // TODO: dlogits = ∂L/∂H̃ given g = ∂L/∂S
  return dlogits;
}

}  // namespace exercises
