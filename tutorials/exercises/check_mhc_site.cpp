// check_mhc_site.cpp — exercise 6: one mHC site from its equations
// (mHC Eq. 3, 7-9), checked against layers/ManifoldHyperConnection in f64:
// the outputs of three tokens, then the gradient of your site with respect
// to the stream state x (central differences of your code) against the
// engine's backward through the same site.
#include "autograd/ops.h"
#include "layers/manifold_hyper_connection.h"
#include "tutorials/exercises/check.h"

using namespace exercises;

namespace {

// Parameters far from their initial values, so that H_res is not J/n and the
// gates are not ½ and 1: a site that ignores a term cannot pass by luck.
MhcSite draw_site(mhc::Rng& rng, int64_t n, int64_t C) {
  MhcSite s;
  s.n = n;
  s.C = C;
  s.phi = draw(rng, n * C * (2 * n + n * n), 0.5);
  s.alpha_pre = 0.8;
  s.alpha_post = 0.6;
  s.alpha_res = 1.3;
  s.b_pre = draw(rng, n, 0.5);
  s.b_post = draw(rng, n, 0.5);
  s.b_res = draw(rng, n * n, 0.5);
  s.iters = 20;
  s.eps = 1e-6;
  return s;
}

// The same site in layers/, its parameters replaced by the drawn ones (f64).
void load(mhc::ManifoldHyperConnection& m, const MhcSite& s) {
  const int64_t n = s.n;
  m.phi = f64(s.phi, {n * s.C, 2 * n + n * n});
  m.alpha_pre = f64({s.alpha_pre}, {1});
  m.alpha_post = f64({s.alpha_post}, {1});
  m.alpha_res = f64({s.alpha_res}, {1});
  m.b_pre = f64(s.b_pre, {n});
  m.b_post = f64(s.b_post, {n});
  m.b_res = f64(s.b_res, {n, n});
}

}  // namespace

int main() {
  Checker check("mhc_site");
  return check.run([&] {
    const int64_t n = 3, C = 4, T = 3;
    mhc::Rng rng(16);
    const MhcSite site = draw_site(rng, n, C);
    mhc::SiteConfig config;
    config.kind = mhc::ResidualKind::MHC;
    config.streams = n;
    config.width = C;
    config.sinkhorn_iters = site.iters;
    config.norm_eps = site.eps;
    config.fused = mhc::SiteConfig::Fused::Off;  // the composed reference
    mhc::ManifoldHyperConnection engine(config, rng);
    load(engine, site);

    // The sub-block F(h) = tanh(h W), token by token: for the engine on (1, T, C), for you on one C-vector.
    const Vec W = draw(rng, C * C, 0.7);
    const mhc::SubBlock F_engine = [&](const mhc::Tensor& h) { return mhc::tanh(mhc::matmul(h, f64(W, {C, C}))); };
    const SubBlockFn F = [&](const Vec& h) {
      Vec y(C, 0.0);
      for (int64_t c = 0; c < C; ++c) {
        for (int64_t k = 0; k < C; ++k) y[c] += h[k] * W[k * C + c];
        y[c] = std::tanh(y[c]);
      }
      return y;
    };
    auto yours = [&](const Vec& x) {  // all T tokens
      Vec out;
      for (int64_t t = 0; t < T; ++t) {
        const Vec token(x.begin() + t * n * C, x.begin() + (t + 1) * n * C);
        const Vec next = mhc_site_forward(token, site, F);
        out.insert(out.end(), next.begin(), next.end());
      }
      return out;
    };

    const Vec x = draw(rng, T * n * C), R = draw(rng, T * n * C);
    mhc::Tensor xt = f64(x, {1, T, n, C}).set_requires_grad(true);
    mhc::Tensor out = engine.forward(xt, F_engine);
    if (!check.compare("x_{l+1}, your site's output", yours(x), out.to_vector<double>(), {T, n, C},
                       "layers/ManifoldHyperConnection", kValueTolerance))
      return;
    mhc::sum(mhc::mul(out, f64(R, {1, T, n, C}))).backward();
    check.compare("dL/dx by central differences of your site",
                  central_differences([&](const Vec& v) { return dot(yours(v), R); }, x), xt.grad().to_vector<double>(),
                  {T, n, C}, "the engine's backward", kGradTolerance);
  });
}
