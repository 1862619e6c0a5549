// manifold_hyper_connection.cpp — see the header for the equations.
#include "layers/manifold_hyper_connection.h"

#include <stdexcept>
#include "autograd/ops.h"
#include "autograd/ops_mhc.h"
#include "autograd/tape.h"
#include "kernels/sinkhorn_contract.h"
#include "layers/recompute.h"

namespace mhc {

ManifoldHyperConnection::ManifoldHyperConnection(const SiteConfig& c, Rng& rng)
    : n_(c.streams), C_(c.width), iters_(c.sinkhorn_iters), gate_(c.gate), fused_(c.fused), eps_(c.norm_eps) {
  check_sinkhorn_args("mHC", n_, iters_);  // 1 ≤ n ≤ 8, 1 ≤ iterations ≤ the kernels' limit
  const int64_t cols = 2 * n_ + n_ * n_;
  phi = c.phi_init_std > 0 ? Tensor::randn({n_ * C_, cols}, rng, c.phi_init_std) : Tensor::zeros({n_ * C_, cols});
  alpha_pre = Tensor::full({1}, c.alpha_init);
  alpha_post = Tensor::full({1}, c.alpha_init);
  alpha_res = Tensor::full({1}, c.alpha_init);
  b_pre = Tensor::zeros({n_});
  b_post = Tensor::zeros({n_});
  b_res = Tensor::zeros({n_, n_});
  register_parameter("phi", &phi);
  register_parameter("alpha_pre", &alpha_pre);
  register_parameter("alpha_post", &alpha_post);
  register_parameter("alpha_res", &alpha_res);
  register_parameter("b_pre", &b_pre);
  register_parameter("b_post", &b_post);
  register_parameter("b_res", &b_res, Decay::never);  // a bias, though n × n
}

Tensor ManifoldHyperConnection::forward(const Tensor& x, const SubBlock& F) {
  if (x.dim() != 4 || x.size(2) != n_ || x.size(3) != C_)
    throw std::invalid_argument("mHC: expects a (B, T, " + std::to_string(n_) + ", " + std::to_string(C_) +
                                ") stream state, got " + x.shape().str());
  const int64_t B = x.size(0), T = x.size(1), n = n_;
  const DType dt = x.dtype();
  const bool fused = fused_ == SiteConfig::Fused::On || (fused_ == SiteConfig::Fused::Auto && fused_mhc_preferred(x));
  if (fused) return forward_fused(x, F);
  if (recompute_)
    throw std::invalid_argument(
        "mHC: selective recompute needs the fused site kernels (--hc.fused auto on CUDA, or on)");
  // Coefficient path, in f32 (f64 in gradient checks), also for bf16 streams.
  const DType ct = stat_dtype(dt);
  Tensor xc = x.to(ct);  // the streams, widened exactly (x itself for f32)     (B, T, n, C)
  Tensor v = rms_norm(xc.reshape({B, T, n * C_}), Tensor(), eps_);             // (B, T, nC)   Eq. 7
  Tensor proj = matmul(v, phi.to(ct));                                         // (B, T, 2n + n²)
  Tensor pre = proj.slice(-1, 0, n) * alpha_pre.to(ct) + b_pre.to(ct);         // (B, T, n)
  Tensor post = proj.slice(-1, n, 2 * n) * alpha_post.to(ct) + b_post.to(ct);  // (B, T, n)
  Tensor res = proj.slice(-1, 2 * n, 2 * n + n * n).reshape({B, T, n, n}) * alpha_res.to(ct) + b_res.to(ct);
  Tensor h_pre, h_post;  // (B, T, n)
  if (gate_ == PrePostGate::Sigmoid) {
    h_pre = sigmoid(pre);  // Eq. 8
    h_post = sigmoid(post) * 2.0;
  } else {
    h_pre = h_post = Tensor::ones({1, 1, n}, ct, x.device()).expand({B, T, n});
  }
  Tensor h_res = sinkhorn(res, iters_);  // (B, T, n, n)  Eq. 9
  keep_h_res(h_res);
  keep_stream_diversity(x);

  // Stream path: the f32 coefficients applied to the streams, as the fused
  // kernels do — products in f32 on the widened streams, rounded once to the
  // activations' dtype (bf16 coefficients would move in steps of 2^-8..2^-7
  // near H_post ≈ 1), and the coefficient gradients stay f32.
  Tensor h_in = mix_streams(h_pre.unsqueeze(-2), xc).reshape({B, T, C_}).to(dt);  // H_pre x   (B, T, C)
  Tensor y = F(h_in);                                                             // (B, T, C)
  // x_{l+1} = H_res x + H_postᵀ y   (Eq. 3), as one product per token:
  //   [H_res | H_postᵀ] (n × (n+1))  ·  [x; y] ((n+1) × C)
  Tensor h_out = concat({h_res, h_post.unsqueeze(-1)}, -1);  // (B, T, n, n + 1)
  return mix_streams(h_out, concat({xc, y.to(ct).unsqueeze(-2)}, -2)).to(dt);
}

Tensor ManifoldHyperConnection::forward_fused(const Tensor& x, const SubBlock& F) {
  const int64_t B = x.size(0), T = x.size(1), n = n_, P = 2 * n + n * n;
  const RecomputeHandle rc = recompute_ ? recompute_->enter(x) : RecomputeHandle{};
  // α and b as (P) vectors in the layout of the projection's columns.
  Tensor alpha = concat({alpha_pre.expand({n}), alpha_post.expand({n}), alpha_res.expand({n * n})}, 0);
  Tensor bias = concat({b_pre, b_post, b_res.reshape({n * n})}, 0);
  // (a)-(c): RMS + projection + σ / 2σ / Sinkhorn, one op  (Eq. 7-9)
  Tensor coeffs = mhc_coefficients(x, phi, alpha, bias, iters_, gate_ == PrePostGate::Sigmoid, eps_, rc);
  if (recording_) keep_h_res(coeffs.slice(-1, 2 * n, P).reshape({B, T, n, n}));
  keep_stream_diversity(x);
  Tensor h_in = mhc_pre(x, coeffs, rc);     // (d): H_pre x          (B, T, C)
  Tensor y = F(h_in);                       //                       (B, T, C)
  Tensor out = mhc_post(x, y, coeffs, rc);  // (e): H_res x + H_postᵀ y   (Eq. 3)
  if (recompute_) recompute_->leave(out);
  return out;
}

}  // namespace mhc
