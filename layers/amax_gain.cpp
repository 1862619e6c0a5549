// amax_gain.cpp — computed on the host in f64: n ≤ 8, so even thousands of
// tokens times dozens of sites cost little next to a training step.
#include "layers/amax_gain.h"

#include <cmath>
#include <stdexcept>

namespace mhc {

namespace {

struct RowColStats {
  double max_row = 0, max_col = 0, min_row = 0, min_col = 0;
};

RowColStats row_col_stats(const double* P, int64_t n) {
  RowColStats s;
  s.min_row = s.min_col = INFINITY;
  for (int64_t i = 0; i < n; ++i) {
    double row = 0, col = 0;
    for (int64_t j = 0; j < n; ++j) {
      row += P[i * n + j];
      col += P[j * n + i];
    }
    s.max_row = std::max(s.max_row, std::abs(row));
    s.max_col = std::max(s.max_col, std::abs(col));
    s.min_row = std::min(s.min_row, row);
    s.min_col = std::min(s.min_col, col);
  }
  return s;
}

}  // namespace

std::vector<SiteGain> amax_gain(const std::vector<Tensor>& h_res) {
  const int64_t L = static_cast<int64_t>(h_res.size());
  std::vector<SiteGain> out(L);
  if (L == 0) return out;
  const int64_t n = h_res[0].size(-1);
  const int64_t tokens = h_res[0].numel() / (n * n);
  std::vector<std::vector<double>> H(L);
  for (int64_t l = 0; l < L; ++l) {
    const Tensor& t = h_res[l];
    if (t.dim() < 2 || t.size(-1) != n || t.size(-2) != n || t.numel() != tokens * n * n)
      throw std::invalid_argument("amax_gain: site " + std::to_string(l) + " has shape " + t.shape().str() +
                                  ", expected " + std::to_string(tokens) + " tokens of " + std::to_string(n) + "×" +
                                  std::to_string(n));
    H[l] = t.to_vector<double>();
  }
  for (SiteGain& g : out) g.mean_h.assign(n * n, 0.0), g.mean_composite.assign(n * n, 0.0);
  std::vector<double> P(n * n), next(n * n);
  for (int64_t tok = 0; tok < tokens; ++tok) {
    // Walk from the last site down: P_{L−1} = H_{L−1}, P_l = P_{l+1} · H_l.
    for (int64_t l = L - 1; l >= 0; --l) {
      const double* Hl = H[l].data() + tok * n * n;
      if (l == L - 1) {
        std::copy(Hl, Hl + n * n, P.begin());
      } else {
        for (int64_t i = 0; i < n; ++i)
          for (int64_t j = 0; j < n; ++j) {
            double s = 0;
            for (int64_t k = 0; k < n; ++k) s += P[i * n + k] * Hl[k * n + j];
            next[i * n + j] = s;
          }
        P.swap(next);
      }
      const RowColStats single = row_col_stats(Hl, n), comp = row_col_stats(P.data(), n);
      SiteGain& g = out[l];
      for (int64_t e = 0; e < n * n; ++e) {
        g.mean_h[e] += Hl[e];
        g.mean_composite[e] += P[e];
      }
      g.forward += single.max_row;
      g.backward += single.max_col;
      g.min_row_sum += single.min_row;
      g.min_col_sum += single.min_col;
      g.composite_forward += comp.max_row;
      g.composite_backward += comp.max_col;
      g.composite_min_row_sum += comp.min_row;
      g.composite_min_col_sum += comp.min_col;
    }
  }
  for (SiteGain& g : out) {
    for (double* v : {&g.forward, &g.backward, &g.min_row_sum, &g.min_col_sum, &g.composite_forward,
                      &g.composite_backward, &g.composite_min_row_sum, &g.composite_min_col_sum})
      *v /= static_cast<double>(tokens);
    for (std::vector<double>* m : {&g.mean_h, &g.mean_composite})
      for (double& e : *m) e /= static_cast<double>(tokens);
  }
  return out;
}

}  // namespace mhc
