// Exercise 5, reference solution: one Sinkhorn-Knopp step (mHC Eq. 9, t_max = 1).
//   P = exp(H̃),  Q_ij = P_ij / c_j (c_j = Σ_i P_ij),  S_ij = Q_ij / r_i (r_i = Σ_j Q_ij)
// Backward, one normalisation at a time (y = x / s, s summed along an axis):
//   ∂L/∂x = (g − Σ_axis g ⊙ y) / s
// rows first (the last step of the forward), then columns, then exp: ∂L/∂H̃ = ∂L/∂P ⊙ P.
#include <cmath>

#include "tutorials/exercises/exercises.h"

namespace exercises {

namespace {
struct Step {
  Vec P, Q, S, c, r;
};

Step forward(const Vec& logits, int64_t n) {
  Step s{Vec(n * n), Vec(n * n), Vec(n * n), Vec(n, 0.0), Vec(n, 0.0)};
  for (int64_t k = 0; k < n * n; ++k) s.P[k] = std::exp(logits[k]);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) s.c[j] += s.P[i * n + j];
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) s.r[i] += (s.Q[i * n + j] = s.P[i * n + j] / s.c[j]);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) s.S[i * n + j] = s.Q[i * n + j] / s.r[i];
  return s;
}
}  // namespace

Vec sinkhorn_step_forward(const Vec& logits, int64_t n) { return forward(logits, n).S; }

Vec sinkhorn_step_backward(const Vec& logits, const Vec& g, int64_t n) {
  const Step s = forward(logits, n);
  Vec gQ(n * n), gP(n * n), gL(n * n);
  for (int64_t i = 0; i < n; ++i) {  // through the row normalisation S = Q / r
    double gs = 0;
    for (int64_t j = 0; j < n; ++j) gs += g[i * n + j] * s.S[i * n + j];
    for (int64_t j = 0; j < n; ++j) gQ[i * n + j] = (g[i * n + j] - gs) / s.r[i];
  }
  for (int64_t j = 0; j < n; ++j) {  // through the column normalisation Q = P / c
    double gq = 0;
    for (int64_t i = 0; i < n; ++i) gq += gQ[i * n + j] * s.Q[i * n + j];
    for (int64_t i = 0; i < n; ++i) gP[i * n + j] = (gQ[i * n + j] - gq) / s.c[j];
  }
  for (int64_t k = 0; k < n * n; ++k) gL[k] = gP[k] * s.P[k];  // through exp
  return gL;
}

}  // namespace exercises
