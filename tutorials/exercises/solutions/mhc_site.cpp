// Exercise 6, reference solution: one mHC site for one token (mHC Eq. 3, 7-9).
//   v = vec(x) / sqrt(mean(vec(x)²) + eps)                       (Eq. 7, no learnable scale)
//   H̃_pre = α_pre (v φ_pre) + b_pre,  H̃_post = α_post (v φ_post) + b_post,
//   H̃_res = α_res mat(v φ_res) + b_res                           (Eq. 7)
//   H_pre = σ(H̃_pre),  H_post = 2σ(H̃_post),  H_res = Sinkhorn-Knopp(H̃_res)   (Eq. 8-9)
//   x_{l+1} = H_res x + H_postᵀ F(H_pre x)                        (Eq. 3)
#include <algorithm>
#include <cmath>

#include "tutorials/exercises/exercises.h"

namespace exercises {

namespace {
double sigmoid(double z) { return 1.0 / (1.0 + std::exp(-z)); }

// iters column-then-row normalisations of exp(H̃ − max H̃) (the shift cancels).
Vec sinkhorn(const Vec& logits, int64_t n, int iters) {
  const double m = *std::max_element(logits.begin(), logits.end());
  Vec H(n * n);
  for (int64_t k = 0; k < n * n; ++k) H[k] = std::exp(logits[k] - m);
  for (int it = 0; it < iters; ++it) {
    for (int64_t j = 0; j < n; ++j) {
      double c = 0;
      for (int64_t i = 0; i < n; ++i) c += H[i * n + j];
      for (int64_t i = 0; i < n; ++i) H[i * n + j] /= c;
    }
    for (int64_t i = 0; i < n; ++i) {
      double r = 0;
      for (int64_t j = 0; j < n; ++j) r += H[i * n + j];
      for (int64_t j = 0; j < n; ++j) H[i * n + j] /= r;
    }
  }
  return H;
}
}  // namespace

Vec mhc_site_forward(const Vec& x, const MhcSite& s, const SubBlockFn& F) {
  const int64_t n = s.n, C = s.C, K = n * C, P = 2 * n + n * n;
  double ms = 0;
  for (double xi : x) ms += xi * xi;
  const double rstd = 1.0 / std::sqrt(ms / static_cast<double>(K) + s.eps);
  Vec q(P, 0.0);  // q = v φ
  for (int64_t k = 0; k < K; ++k)
    for (int64_t p = 0; p < P; ++p) q[p] += x[k] * rstd * s.phi[k * P + p];
  Vec h_pre(n), h_post(n), res(n * n);
  for (int64_t i = 0; i < n; ++i) {
    h_pre[i] = sigmoid(s.alpha_pre * q[i] + s.b_pre[i]);
    h_post[i] = 2.0 * sigmoid(s.alpha_post * q[n + i] + s.b_post[i]);
  }
  for (int64_t k = 0; k < n * n; ++k) res[k] = s.alpha_res * q[2 * n + k] + s.b_res[k];
  const Vec h_res = sinkhorn(res, n, s.iters);

  Vec h_in(C, 0.0);  // H_pre x
  for (int64_t j = 0; j < n; ++j)
    for (int64_t c = 0; c < C; ++c) h_in[c] += h_pre[j] * x[j * C + c];
  const Vec y = F(h_in);
  Vec out(K, 0.0);  // H_res x + H_postᵀ y
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0; c < C; ++c) {
      for (int64_t j = 0; j < n; ++j) out[i * C + c] += h_res[i * n + j] * x[j * C + c];
      out[i * C + c] += h_post[i] * y[c];
    }
  return out;
}

}  // namespace exercises
