// test_sites.cpp — the residual, HC and mHC sites: equivalences at init,
// the orientation of H_res, and whole-site gradients.
#include <map>

#include "layers/hyper_connection.h"
#include "layers/manifold_hyper_connection.h"
#include "layers/residual.h"
#include "layers/streams.h"
#include "test_helpers.h"

using namespace mhc;
using mhc::test::max_abs_diff;

namespace {

// A small pre-norm sub-block: F(h) = tanh(RMSNorm(h) W1) W2.
struct ToyBlock {
  Tensor W1, W2;
  ToyBlock(int64_t C, Rng& rng, DType dt = DType::f32)
      : W1(Tensor::randn({C, 2 * C}, rng, 0.5, dt)), W2(Tensor::randn({2 * C, C}, rng, 0.5, dt)) {}
  Tensor operator()(const Tensor& h) const { return matmul(tanh(matmul(rms_norm(h, Tensor()), W1)), W2); }
};

SiteConfig config(ResidualKind kind, int64_t n, int64_t C) {
  SiteConfig c;
  c.kind = kind;
  c.streams = n;
  c.width = C;
  c.phi_init_std = 0;  // mHC starts exactly at the residual model: the equivalences below are exact
  return c;
}

// A stack of L sites over replicated streams, collapsed by summing, then a final norm.
Tensor run_model(ResidualKind kind, int64_t n, const Tensor& embed, const std::vector<ToyBlock>& blocks) {
  Rng rng(0);
  const int64_t C = embed.size(2);
  Tensor x = expand_streams(embed, n);
  for (size_t l = 0; l < blocks.size(); ++l) {
    auto site = make_site(config(kind, n, C), static_cast<int64_t>(l), rng);
    x = site->forward(x, blocks[l]);
  }
  StreamCollapse collapse(n, C, CollapseMode::Sum);
  return rms_norm(collapse.forward(x), Tensor());
}

}  // namespace

TEST_CASE("mHC with n = 1 and fixed H_pre = H_post = 1 is exactly the residual", "[sites]") {
  Rng rng(1);
  const int64_t C = 8;
  ToyBlock F(C, rng);
  Tensor x = Tensor::randn({2, 5, 1, C}, rng);
  SiteConfig c = config(ResidualKind::MHC, 1, C);
  c.gate = PrePostGate::Fixed;
  ManifoldHyperConnection m(c, rng);
  m.phi = Tensor::randn(m.phi.shape(), rng, 0.3).set_requires_grad(true);  // any coefficients: H_res of 1×1 is 1
  m.b_res = Tensor::full({1, 1}, 3.0).set_requires_grad(true);
  Residual r;
  CHECK(m.forward(x, F).to_vector<float>() == r.forward(x, F).to_vector<float>());  // bit-identical
}

TEST_CASE("at init, HC and mHC over replicated streams equal the pre-norm residual model", "[sites]") {
  Rng rng(2);
  const int64_t C = 16, L = 6;
  std::vector<ToyBlock> blocks;
  for (int l = 0; l < L; ++l) blocks.emplace_back(C, rng);
  Tensor embed = Tensor::randn({2, 3, C}, rng);
  NoGradGuard no_grad;
  Tensor residual = run_model(ResidualKind::Residual, 1, embed, blocks);
  for (int64_t n : {2, 4}) {
    INFO("streams " << n);
    CHECK(max_abs_diff(run_model(ResidualKind::HC, n, embed, blocks), residual) < 1e-5);
    CHECK(max_abs_diff(run_model(ResidualKind::MHC, n, embed, blocks), residual) < 1e-5);
  }
  // And the check can fail: a different block changes the output.
  std::vector<ToyBlock> other = blocks;
  other[3] = ToyBlock(C, rng);
  CHECK(max_abs_diff(run_model(ResidualKind::MHC, 4, embed, other), residual) > 1e-2);
}

TEST_CASE("orientation: (H_res x)_i = Σ_j H_res[i,j] x_j", "[sites]") {
  // Two streams of width 1: x = (x_0, x_1) = (10, 1).
  Tensor x = Tensor::from_vector(std::vector<double>{10, 1}, {1, 1, 2, 1}, DType::f64);
  Tensor H = Tensor::from_vector(std::vector<double>{0.9, 0.1, 0.3, 0.7}, {1, 1, 2, 2}, DType::f64);
  // By hand: out_0 = 0.9·10 + 0.1·1 = 9.1, out_1 = 0.3·10 + 0.7·1 = 3.7.
  auto out = mix_streams(H, x).to_vector<double>();
  CHECK(out[0] == Approx(9.1));
  CHECK(out[1] == Approx(3.7));

  auto zero_block = [](const Tensor& h) { return h * 0.0; };
  SECTION("HC: H_res = A_rᵀ") {
    Rng rng(3);
    SiteConfig c = config(ResidualKind::HC, 2, 1);
    c.hc_dynamic = false;
    HyperConnection hc(c, 0, rng);
    // Row j of A_r: where stream j's content goes. Stream 0 keeps 0.6 and sends 0.4 to stream 1.
    hc.A_r = Tensor::from_vector(std::vector<double>{0.6, 0.4, 0.0, 1.0}, {2, 2}).set_requires_grad(true);
    hc.record_h_res(true);
    auto y = hc.forward(x.to(DType::f32), zero_block).to_vector<double>();
    CHECK(y[0] == Approx(0.6 * 10));               // out_0 = A_r[0,0] x_0 + A_r[1,0] x_1
    CHECK(y[1] == Approx(0.4 * 10 + 1.0 * 1));     // out_1 = A_r[0,1] x_0 + A_r[1,1] x_1
    auto h = hc.last_h_res().to_vector<double>();  // recorded as H_res = A_rᵀ
    CHECK(h[0] == Approx(0.6));
    CHECK(h[1] == 0.0);
    CHECK(h[2] == Approx(0.4));
    CHECK(h[3] == 1.0);
  }
  SECTION("mHC: one Sinkhorn iteration of a hand-picked bias") {
    Rng rng(4);
    SiteConfig c = config(ResidualKind::MHC, 2, 1);
    c.sinkhorn_iters = 1;
    ManifoldHyperConnection m(c, rng);
    m.b_res = Tensor::from_vector(std::vector<double>{std::log(3.0), 0.0, std::log(1.0), std::log(4.0)}, {2, 2})
                  .set_requires_grad(true);
    // exp: [[3, 1], [1, 4]]; columns /(4, 5): [[.75, .2], [.25, .8]];
    // rows /(.95, 1.05): [[.75/.95, .2/.95], [.25/1.05, .8/1.05]].
    const double h00 = .75 / .95, h01 = .2 / .95, h10 = .25 / 1.05, h11 = .8 / 1.05;
    auto y = m.forward(x.to(DType::f32), zero_block).to_vector<double>();
    CHECK(y[0] == Approx(h00 * 10 + h01 * 1).epsilon(1e-6));
    CHECK(y[1] == Approx(h10 * 10 + h11 * 1).epsilon(1e-6));
  }
}

TEST_CASE("the streams persist: an mHC site mixes, it does not re-expand", "[sites]") {
  // Distinct streams in, distinct streams out (a re-expansion would make them equal).
  Rng rng(5);
  SiteConfig c = config(ResidualKind::MHC, 4, 8);
  ManifoldHyperConnection m(c, rng);
  m.phi = Tensor::randn(m.phi.shape(), rng, 0.5).set_requires_grad(true);
  m.alpha_res = Tensor::full({1}, 1.0).set_requires_grad(true);
  Tensor x = Tensor::randn({1, 2, 4, 8}, rng);
  ToyBlock F(8, rng);
  Tensor y = m.forward(x, F);
  CHECK(max_abs_diff(y.select(2, 0), y.select(2, 1)) > 1e-3);
}

TEST_CASE("whole-site gradients match finite differences (all parameters)", "[sites][gradcheck]") {
  Rng rng(6);
  const int64_t C = 3;
  ToyBlock F(C, rng, DType::f64);
  Tensor W1 = F.W1.set_requires_grad(true), W2 = F.W2.set_requires_grad(true);
  auto rand = [&](const Shape& s, double std) {
    return Tensor::randn(s, rng, std, DType::f64).set_requires_grad(true);
  };

  SECTION("mHC, n = 3, t_max = 6") {
    const int64_t n = 3;
    SiteConfig c = config(ResidualKind::MHC, n, C);
    c.sinkhorn_iters = 6;
    ManifoldHyperConnection m(c, rng);
    std::vector<Tensor> in = {rand({1, 2, n, C}, 1.0),
                              rand({n * C, 2 * n + n * n}, 0.5),
                              rand({1}, 0.5),
                              rand({1}, 0.5),
                              rand({1}, 0.5),
                              rand({n}, 0.5),
                              rand({n}, 0.5),
                              rand({n, n}, 0.5),
                              W1,
                              W2};
    mhc::test::require_gradcheck(
        [&](const std::vector<Tensor>& p) {
          m.phi = p[1];
          m.alpha_pre = p[2];
          m.alpha_post = p[3];
          m.alpha_res = p[4];
          m.b_pre = p[5];
          m.b_post = p[6];
          m.b_res = p[7];
          ToyBlock G = F;
          G.W1 = p[8];
          G.W2 = p[9];
          return m.forward(p[0], G);
        },
        in, 1e-6);
  }
  SECTION("dynamic HC, n = 3") {
    const int64_t n = 3;
    SiteConfig c = config(ResidualKind::HC, n, C);
    HyperConnection hc(c, 1, rng);
    std::vector<Tensor> in = {rand({1, 2, n, C}, 1.0),
                              rand({C, n + 2}, 0.5),
                              rand({1}, 0.5),
                              rand({1}, 0.5),
                              rand({n}, 0.5),
                              rand({n, n}, 0.5),
                              rand({n}, 0.5),
                              W1,
                              W2};
    mhc::test::require_gradcheck(
        [&](const std::vector<Tensor>& p) {
          hc.W = p[1];
          hc.s_alpha = p[2];
          hc.s_beta = p[3];
          hc.A_m = p[4];
          hc.A_r = p[5];
          hc.B_static = p[6];
          ToyBlock G = F;
          G.W1 = p[7];
          G.W2 = p[8];
          return hc.forward(p[0], G);
        },
        in, 1e-6);
  }
  SECTION("learned-head collapse") {
    const int64_t n = 3;
    StreamCollapse collapse(n, C, CollapseMode::Learned);
    std::vector<Tensor> in = {rand({1, 2, n, C}, 1.0), rand({n * C, n}, 0.5), rand({1}, 0.5), rand({n}, 0.5)};
    mhc::test::require_gradcheck(
        [&](const std::vector<Tensor>& p) {
          collapse.phi_head = p[1];
          collapse.s = p[2];
          collapse.b_head = p[3];
          return collapse.forward(p[0]);
        },
        in, 1e-6);
  }
}

TEST_CASE("make_site builds the requested variant and rejects bad configurations", "[sites]") {
  Rng rng(7);
  CHECK(make_site(config(ResidualKind::Residual, 1, 4), 0, rng)->streams() == 1);
  CHECK(make_site(config(ResidualKind::HC, 4, 4), 0, rng)->streams() == 4);
  CHECK(make_site(config(ResidualKind::MHC, 4, 4), 0, rng)->streams() == 4);
  CHECK_THROWS_WITH(make_site(config(ResidualKind::Residual, 2, 4), 0, rng), Catch::Contains("exactly 1 stream"));
  CHECK_THROWS_WITH(make_site(config(ResidualKind::MHC, 0, 4), 0, rng), Catch::Contains("at least 1 stream"));
  CHECK_THROWS_WITH(parse_residual_kind("mhcc"), Catch::Contains("unknown residual variant"));
  auto site = make_site(config(ResidualKind::MHC, 4, 4), 0, rng);
  CHECK_THROWS_WITH(site->forward(Tensor::zeros({1, 1, 2, 4}), [](const Tensor& h) { return h; }),
                    Catch::Contains("stream state"));
}

TEST_CASE("weight decay applies to weight matrices, not to HC / mHC mixing terms", "[sites]") {
  Rng rng(3);
  auto decays = [](const ResidualSite& site) {
    std::map<std::string, bool> out;
    for (const auto& p : site.parameters()) out[p.name] = p.weight_decay;
    return out;
  };
  const auto mhc = decays(*make_site(config(ResidualKind::MHC, 4, 8), 0, rng));
  CHECK(mhc.at("phi"));          // (nC, 2n + n²): a projection weight
  CHECK_FALSE(mhc.at("b_res"));  // (n, n), but a bias
  CHECK_FALSE(mhc.at("alpha_res"));
  CHECK_FALSE(mhc.at("b_pre"));
  const auto hc = decays(*make_site(config(ResidualKind::HC, 4, 8), 0, rng));
  CHECK(hc.at("W"));          // (C, n + 2): the dynamic projection
  CHECK_FALSE(hc.at("A_r"));  // (n, n), starts at I
  CHECK_FALSE(hc.at("A_m"));
}

TEST_CASE("stream_diversity: 0 for identical streams and one stream, 1 for streams around a zero mean", "[sites]") {
  Rng rng(21);
  SiteConfig c;
  c.kind = ResidualKind::MHC;
  c.streams = 2;
  c.width = 6;
  c.fused = SiteConfig::Fused::Off;
  auto site = make_site(c, 0, rng);
  auto F = [](const Tensor& h) { return h * 0.5; };
  site->record_h_res(true);
  // Identical streams: no spread.
  site->forward(expand_streams(Tensor::randn({2, 3, 6}, rng), 2), F);
  CHECK(site->last_stream_diversity() == Approx(0.0).margin(1e-12));
  // x_1 = v, x_2 = −v: the mean is 0, so the spread is the whole norm.
  Tensor v = Tensor::randn({2, 3, 1, 6}, rng);
  site->forward(concat({v, v * -1.0}, 2), F);
  CHECK(site->last_stream_diversity() == Approx(1.0).epsilon(1e-6));
  // x_1 = v, x_2 = 0: per token ‖v/2‖²·2 / ‖v‖² = 1/2.
  site->forward(concat({v, v * 0.0}, 2), F);
  CHECK(site->last_stream_diversity() == Approx(0.5).epsilon(1e-6));
  // Not recording: not measured (the value stays).
  site->record_h_res(false);
  site->forward(concat({v, v * -1.0}, 2), F);
  CHECK(site->last_stream_diversity() == Approx(0.5).epsilon(1e-6));
  // One stream: 0 by definition.
  SiteConfig r;
  r.kind = ResidualKind::Residual;
  r.width = 6;
  auto residual = make_site(r, 0, rng);
  residual->record_h_res(true);
  residual->forward(Tensor::randn({2, 3, 1, 6}, rng), F);
  CHECK(residual->last_stream_diversity() == 0.0);
}
