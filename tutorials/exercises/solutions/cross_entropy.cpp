// Exercise 1, reference solution: the backward of mean cross-entropy.
//   L = (1/N) Σ_r [ log Σ_v exp(z_rv) − z_r,t_r ]
//   ∂L/∂z_rv = (softmax(z_r)_v − [v = t_r]) / N
#include <algorithm>
#include <cmath>

#include "tutorials/exercises/exercises.h"

namespace exercises {

Vec cross_entropy_backward(const Vec& logits, const std::vector<int32_t>& targets, int64_t N, int64_t V, double g) {
  Vec dz(N * V);
  for (int64_t r = 0; r < N; ++r) {
    const double* z = logits.data() + r * V;
    const double m = *std::max_element(z, z + V);  // exp(z − m): the same softmax, no overflow
    double s = 0;
    for (int64_t v = 0; v < V; ++v) s += std::exp(z[v] - m);
    for (int64_t v = 0; v < V; ++v) {
      const double p = std::exp(z[v] - m) / s;
      dz[r * V + v] = g * (p - (v == targets[r] ? 1.0 : 0.0)) / static_cast<double>(N);
    }
  }
  return dz;
}

}  // namespace exercises
