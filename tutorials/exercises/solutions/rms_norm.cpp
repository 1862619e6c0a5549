// Exercise 2, reference solution: the backward of RMSNorm.
//   y_c = x_c r w_c,  r = (mean(x²) + eps)^(−1/2),  ∂r/∂x_k = −r³ x_k / C
//   ∂L/∂w_c = Σ_rows g_c x_c r
//   ∂L/∂x_k = r (g_k w_k) − (r³ / C) x_k Σ_c (g_c w_c x_c)
#include <cmath>

#include "tutorials/exercises/exercises.h"

namespace exercises {

void rms_norm_backward(const Vec& x, const Vec& w, const Vec& g, int64_t N, int64_t C, double eps, Vec& dx, Vec& dw) {
  dx.assign(N * C, 0.0);
  dw.assign(C, 0.0);
  for (int64_t row = 0; row < N; ++row) {
    const double* xr = x.data() + row * C;
    const double* gr = g.data() + row * C;
    double ms = 0;
    for (int64_t c = 0; c < C; ++c) ms += xr[c] * xr[c];
    const double r = 1.0 / std::sqrt(ms / static_cast<double>(C) + eps);
    double gwx = 0;  // Σ_c g_c w_c x_c
    for (int64_t c = 0; c < C; ++c) {
      gwx += gr[c] * w[c] * xr[c];
      dw[c] += gr[c] * xr[c] * r;
    }
    for (int64_t k = 0; k < C; ++k)
      dx[row * C + k] = r * gr[k] * w[k] - r * r * r / static_cast<double>(C) * xr[k] * gwx;
  }
}

}  // namespace exercises
