// exercises.h — the functions the learner writes (tutorials/exercises/README.md).
//
// Everything is plain C++ on row-major std::vector<double>, so that an
// exercise is about the maths, not about the engine's Tensor API. Each
// function has a stub in stubs/ (the one you fill in) and a reference
// solution in solutions/; the checker check_NAME.cpp compares it with the
// engine (autograd/, layers/) in f64 and with central differences.
//
// Shapes are written (rows, cols); "g" is always the gradient of a scalar
// loss with respect to a function's output (the upstream gradient).
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

namespace exercises {

using Vec = std::vector<double>;

// 1. Mean cross-entropy of logits (N, V) against targets (N):
//      L = (1/N) Σ_r [ logsumexp(z_r) − z_r[t_r] ]
//    Return ∂L/∂z (N, V), scaled by the upstream scalar g.
Vec cross_entropy_backward(const Vec& logits, const std::vector<int32_t>& targets, int64_t N, int64_t V, double g);

// 2. RMSNorm over the last axis of x (N, C) with weight w (C):
//      y_rc = x_rc · r_r · w_c,   r_r = 1 / sqrt(mean_c(x_rc²) + eps)
//    Given g = ∂L/∂y (N, C), write ∂L/∂x into dx (N, C) and ∂L/∂w into dw (C).
void rms_norm_backward(const Vec& x, const Vec& w, const Vec& g, int64_t N, int64_t C, double eps, Vec& dx, Vec& dw);

// 3. Softmax over the last axis of x (N, V): y_rv = exp(x_rv) / Σ_u exp(x_ru).
//    Given g = ∂L/∂y (N, V), return ∂L/∂x (N, V).
Vec softmax_backward(const Vec& x, const Vec& g, int64_t N, int64_t V);

// 4. Matrix product Y = A B with A (M, K), B (K, N).
//    Given g = ∂L/∂Y (M, N), write ∂L/∂A into dA (M, K) and ∂L/∂B into dB (K, N).
void matmul_backward(const Vec& A, const Vec& B, const Vec& g, int64_t M, int64_t K, int64_t N, Vec& dA, Vec& dB);

// 5. One Sinkhorn-Knopp normalisation step (mHC Eq. 9 with t_max = 1) of an
//    n×n matrix of logits H̃:
//      P = exp(H̃);  Q = P with each column divided by its sum;  S = Q with each row divided by its sum.
//    Forward: return S (n, n). Backward: given g = ∂L/∂S, return ∂L/∂H̃ (n, n).
Vec sinkhorn_step_forward(const Vec& logits, int64_t n);
Vec sinkhorn_step_backward(const Vec& logits, const Vec& g, int64_t n);

// 6. One mHC site (mHC Eq. 3, 7-9) for one token. x is the token's stream
//    state (n, C); F maps a C-vector to a C-vector (the sub-block).
struct MhcSite {
  int64_t n = 0, C = 0;
  Vec phi;  // (nC, 2n + n²) = [φ_pre | φ_post | φ_res]
  double alpha_pre = 0, alpha_post = 0, alpha_res = 0;
  Vec b_pre, b_post;  // (n) each
  Vec b_res;          // (n, n)
  int iters = 20;     // Sinkhorn iterations, t_max
  double eps = 1e-6;  // the RMS norm's epsilon
};
using SubBlockFn = std::function<Vec(const Vec&)>;
// Returns x_{l+1} (n, C) = H_res x + H_postᵀ F(H_pre x).
Vec mhc_site_forward(const Vec& x, const MhcSite& site, const SubBlockFn& F);

}  // namespace exercises
