// hyper_connection.cpp — see the header for the equations.
#include "layers/hyper_connection.h"

#include <stdexcept>

#include "autograd/ops.h"

namespace mhc {

HyperConnection::HyperConnection(const SiteConfig& c, int64_t site_index, Rng& rng)
    : n_(c.streams), C_(c.width), dynamic_(c.hc_dynamic), eps_(c.norm_eps) {
  (void)rng;  // all parameters have deterministic initial values
  std::vector<double> am(n_, 0.0), ar(n_ * n_, 0.0);
  am[site_index % n_] = 1.0;                              // A_m = e_{k mod n}
  for (int64_t i = 0; i < n_; ++i) ar[i * n_ + i] = 1.0;  // A_r = I
  A_m = Tensor::from_vector(am, {n_});
  A_r = Tensor::from_vector(ar, {n_, n_});
  B_static = Tensor::ones({n_});
  register_parameter("A_m", &A_m);
  register_parameter("A_r", &A_r, Decay::never);  // starts at I: decay would pull it toward 0
  register_parameter("B", &B_static);
  if (dynamic_) {
    W = Tensor::zeros({C_, n_ + 2});
    s_alpha = Tensor::full({1}, c.scale_init);
    s_beta = Tensor::full({1}, c.scale_init);
    register_parameter("W", &W);
    register_parameter("s_alpha", &s_alpha);
    register_parameter("s_beta", &s_beta);
  }
}

Tensor HyperConnection::forward(const Tensor& x, const SubBlock& F) {
  if (x.dim() != 4 || x.size(2) != n_ || x.size(3) != C_)
    throw std::invalid_argument("HyperConnection: expects a (B, T, " + std::to_string(n_) + ", " + std::to_string(C_) +
                                ") stream state, got " + x.shape().str());
  const int64_t B = x.size(0), T = x.size(1);
  const DType dt = x.dtype();
  // The coefficient path — the streams' norm statistic, the projections, tanh,
  // A_m, A_r, B — and the gradients of its parameters are f32 (f64 in gradient
  // checks) even for bf16 streams: in bf16, I + s_α·tanh(…) with s_α = 0.01
  // would move in steps of 2^-8..2^-7, as large as its whole dynamic part.
  const DType ct = stat_dtype(dt);
  Tensor xc = x.to(ct);  // the streams, widened exactly (x itself for f32)     (B, T, n, C)
  Tensor a_m, a_r, b;    // (…, n), (…, n, n), (…, n)
  if (dynamic_) {
    Tensor xbar = rms_norm(xc, Tensor(), eps_);                  // per-stream norm over C   (B, T, n, C)
    Tensor d = tanh(matmul(xbar, W.to(ct)));                     // (B, T, n, n + 2)
    a_m = d.select(-1, 0) * s_alpha.to(ct) + A_m.to(ct);         // (B, T, n)
    b = d.select(-1, 1) * s_beta.to(ct) + B_static.to(ct);       // (B, T, n)
    a_r = d.slice(-1, 2, n_ + 2) * s_alpha.to(ct) + A_r.to(ct);  // (B, T, n, n)
  } else {
    a_m = A_m.to(ct).reshape({1, 1, n_}).expand({B, T, n_});
    b = B_static.to(ct).reshape({1, 1, n_}).expand({B, T, n_});
    a_r = A_r.to(ct).reshape({1, 1, n_, n_}).expand({B, T, n_, n_});
  }
  Tensor h_pre = a_m.unsqueeze(-2);      // H_pre = A_mᵀ    (B, T, 1, n)
  Tensor h_res = a_r.transpose(-1, -2);  // H_res = A_rᵀ    (B, T, n, n)
  keep_h_res(h_res);
  keep_stream_diversity(x);
  // The mixes apply the f32 coefficients to the streams: products in f32 on
  // the widened streams, rounded once to the streams' dtype.
  Tensor h_in = mix_streams(h_pre, xc).reshape({B, T, C_}).to(dt);  // (B, T, C)
  Tensor y = F(h_in);                                               // (B, T, C)
  // x_{l+1} = H_res x + H_postᵀ y   (Eq. 3), H_post = B, as one product per
  // token: [H_res | H_postᵀ] · [x; y]
  return mix_streams(concat({h_res, b.unsqueeze(-1)}, -1), concat({xc, y.to(ct).unsqueeze(-2)}, -2)).to(dt);
}

}  // namespace mhc
