// test_mhc_fused.cpp — the fused mHC site (docs/design.md §6) against the composed
// reference, in f64 on the CPU reference kernels: every op's gradient by
// finite differences, the whole site (output and all gradients) fused vs
// unfused for n = 1, 2, 4, 8 and odd widths, and selective recompute giving
// bit-identical results with less memory.
#include "autograd/ops_mhc.h"
#include "layers/manifold_hyper_connection.h"
#include "layers/transformer.h"
#include "test_helpers.h"

using namespace mhc;
using mhc::test::leaf;
using mhc::test::max_abs_diff;
using mhc::test::require_gradcheck;

TEST_CASE("fused mHC ops match finite differences (f64)", "[mhc_fused][gradcheck]") {
  Rng rng(1);
  for (int64_t n : {1, 2, 3}) {
    const int64_t C = 5, P = 2 * n + n * n;
    INFO("n = " << n);
    Tensor x = leaf({1, 2, n, C}, rng), y = leaf({1, 2, C}, rng);
    Tensor phi = leaf({n * C, P}, rng, 0.5), alpha = leaf({P}, rng, 0.7), bias = leaf({P}, rng, 0.5);
    for (bool sig : {true, false})
      require_gradcheck([&](auto& in) { return mhc_coefficients(in[0], in[1], in[2], in[3], 4, sig, 1e-6); },
                        {x, phi, alpha, bias});
    Tensor coeffs = leaf({1, 2, P}, rng);
    require_gradcheck([](auto& in) { return mhc_pre(in[0], in[1]); }, {x, coeffs});
    require_gradcheck([](auto& in) { return mhc_post(in[0], in[1], in[2]); }, {x, y, coeffs});
  }
}

namespace {
// A sub-block with its own weight: F(h) = tanh(RMSNorm(h) W).
struct TanhBlock {
  Tensor W;
  Tensor operator()(const Tensor& h) const { return tanh(matmul(rms_norm(h, Tensor()), W)); }
};
}  // namespace

TEST_CASE("fused and composed mHC sites agree: output and every gradient", "[mhc_fused]") {
  Rng rng(2);
  for (int64_t n : {1, 2, 4, 8})
    for (int64_t C : {3, 7})
      for (PrePostGate gate : {PrePostGate::Sigmoid, PrePostGate::Fixed}) {
        INFO("n = " << n << ", C = " << C << ", gate " << (gate == PrePostGate::Sigmoid ? "sigmoid" : "fixed"));
        SiteConfig c;
        c.kind = ResidualKind::MHC;
        c.streams = n;
        c.width = C;
        c.sinkhorn_iters = 7;
        c.gate = gate;
        c.phi_init_std = 0.3;
        Rng r1(5), r2(5);
        c.fused = SiteConfig::Fused::On;
        ManifoldHyperConnection fused(c, r1);
        c.fused = SiteConfig::Fused::Off;
        ManifoldHyperConnection composed(c, r2);
        for (auto* site : {&fused, &composed})
          for (const auto& p : site->parameters())
            *p.tensor = p.tensor->to(DType::f64).detach().set_requires_grad(true);
        // Move the gates away from their symmetric init so every path matters.
        for (auto* site : {&fused, &composed}) {
          Rng r(9);
          site->b_res = Tensor::randn({n, n}, r, 0.5, DType::f64).set_requires_grad(true);
          site->b_pre = Tensor::randn({n}, r, 0.5, DType::f64).set_requires_grad(true);
          site->alpha_res = Tensor::full({1}, 0.8, DType::f64).set_requires_grad(true);
        }
        TanhBlock F{Tensor::randn({C, C}, rng, 0.5, DType::f64).set_requires_grad(true)};
        Tensor x = Tensor::randn({2, 3, n, C}, rng, 1.0, DType::f64).set_requires_grad(true);
        Tensor w = Tensor::randn({2, 3, n, C}, rng, 1.0, DType::f64);
        Tensor out_f = fused.forward(x, F), out_c = composed.forward(x, F);
        CHECK(max_abs_diff(out_f, out_c) < 1e-12);
        sum(out_f * w).backward();
        const Tensor gx_f = x.grad(), gW_f = F.W.grad();
        x.zero_grad();
        F.W.zero_grad();
        sum(out_c * w).backward();
        CHECK(max_abs_diff(gx_f, x.grad()) < 1e-11);
        CHECK(max_abs_diff(gW_f, F.W.grad()) < 1e-11);
        auto pf = fused.parameters(), pc = composed.parameters();
        for (size_t i = 0; i < pf.size(); ++i) {
          INFO(pf[i].name);
          // A fixed gate leaves α_pre, α_post unused: no gradient on one side, zeros on the other.
          auto grad_or_zero = [](const Tensor& p) {
            return p.grad().defined() ? p.grad() : Tensor::zeros(p.shape(), p.dtype());
          };
          CHECK(max_abs_diff(grad_or_zero(*pf[i].tensor), grad_or_zero(*pc[i].tensor)) < 1e-11);
        }
      }
}

TEST_CASE("selective recompute: identical loss and gradients, less memory", "[mhc_fused][recompute]") {
  auto make = [](bool recompute) {
    ModelConfig c;
    c.vocab_size = 30;
    c.block_size = 64;
    c.blocks = 4;
    c.width = 64;
    c.heads = 4;
    c.ffn = FfnType::SwiGLU;
    c.site.kind = ResidualKind::MHC;
    c.site.streams = 4;
    c.site.fused = SiteConfig::Fused::On;
    c.site.phi_init_std = 0.02;
    c.recompute = recompute;
    return std::make_unique<Transformer>(c, 3);
  };
  Rng rng(4);
  std::vector<int32_t> ids(8 * 64), tg(8 * 64);
  for (auto& t : ids) t = static_cast<int32_t>(rng.below(30));
  for (auto& t : tg) t = static_cast<int32_t>(rng.below(30));
  const Tensor x = Tensor::from_ints(ids, {8, 64}), y = Tensor::from_ints(tg, {8, 64});
  Backend& cpu = backend_for(Device::cpu);
  auto run = [&](Transformer& m, int64_t& peak_activation_bytes) {
    const int64_t before = cpu.allocator_stats().bytes_in_use;
    cpu.reset_peak_memory();
    Tensor loss = m.loss(x, y);
    loss.backward();
    peak_activation_bytes = cpu.allocator_stats().peak_bytes_in_use - before;
    return loss.item();
  };
  auto plain = make(false), recomputed = make(true);
  int64_t peak_plain = 0, peak_recompute = 0;
  const double l_plain = run(*plain, peak_plain);
  const double l_recompute = run(*recomputed, peak_recompute);
  CHECK(l_plain == l_recompute);  // bit-identical
  auto pp = plain->parameters(), pr = recomputed->parameters();
  for (size_t i = 0; i < pp.size(); ++i) {
    INFO(pp[i].name);
    CHECK(pp[i].tensor->grad().to_vector<float>() == pr[i].tensor->grad().to_vector<float>());
  }
  INFO("peak bytes during the step: plain " << peak_plain << ", recompute " << peak_recompute);
  CHECK(peak_recompute < peak_plain);
  // The default group size is the paper's √(nL/(n+2)): n = 4, L = 8 sites -> 2.
  CHECK(RecomputePlan::best_group_size(4, 8) == 2);
  CHECK(RecomputePlan::best_group_size(4, 12) == 3);
}
