// Exercise 3, reference solution: the backward of softmax.
//   ∂y_u/∂x_v = y_u ([u = v] − y_v)   so   ∂L/∂x_v = y_v (g_v − Σ_u g_u y_u)
#include <algorithm>
#include <cmath>

#include "tutorials/exercises/exercises.h"

namespace exercises {

Vec softmax_backward(const Vec& x, const Vec& g, int64_t N, int64_t V) {
  Vec dx(N * V);
  Vec y(V);
  for (int64_t r = 0; r < N; ++r) {
    const double* xr = x.data() + r * V;
    const double m = *std::max_element(xr, xr + V);
    double s = 0;
    for (int64_t v = 0; v < V; ++v) s += (y[v] = std::exp(xr[v] - m));
    double gy = 0;
    for (int64_t v = 0; v < V; ++v) {
      y[v] /= s;
      gy += g[r * V + v] * y[v];
    }
    for (int64_t v = 0; v < V; ++v) dx[r * V + v] = y[v] * (g[r * V + v] - gy);
  }
  return dx;
}

}  // namespace exercises
