// test_model.cpp — the MoE layer (routing, dispatch, balancing) and the
// whole transformer (variants agree at init, gradients are right).
#include "layers/dropout_seeds.h"
#include "layers/transformer.h"
#include "test_helpers.h"

using namespace mhc;
using mhc::test::max_abs_diff;

namespace {

MoeConfig small_moe(int64_t routed = 4, int64_t k = 2, int64_t shared = 1) {
  MoeConfig c;
  c.routed = routed;
  c.top_k = k;
  c.shared = shared;
  c.hidden = 8;
  return c;
}

ModelConfig tiny_model(ResidualKind kind, int64_t streams, const std::string& ffn = "swiglu") {
  ModelConfig c;
  c.vocab_size = 7;
  c.block_size = 6;
  c.blocks = 2;
  c.width = 8;
  c.heads = 2;
  c.ffn = parse_ffn_type(ffn);
  c.moe = small_moe();
  c.site.kind = kind;
  c.site.streams = streams;
  return c;
}

}  // namespace

TEST_CASE("dropless dispatch equals a dense loop over experts", "[moe]") {
  Rng rng(1);
  for (RouterKind router : {RouterKind::Softmax, RouterKind::Sigmoid}) {
    MoeConfig mc = small_moe(5, 2, 1);
    mc.router = router;
    MoeFeedForward moe(6, mc, 0.0, 0.5, 0.5, rng);
    moe.bias = Tensor::randn({5}, rng, 0.1);  // selection bias in play
    Tensor x = Tensor::randn({2, 7, 6}, rng);
    NoGradGuard no_grad;
    Tensor y = moe.forward(x);
    // Reference: for every token, every expert, one at a time.
    Tensor xf = x.reshape({14, 6});
    Tensor logits = moe.router.forward(xf);
    Tensor s = router == RouterKind::Softmax ? softmax(logits, -1) : sigmoid(logits);
    auto sv = s.to_vector<double>(), bv = moe.bias.to_vector<double>();
    std::vector<float> ref(14 * 6, 0.f);
    for (int t = 0; t < 14; ++t) {
      std::vector<int> order = {0, 1, 2, 3, 4};
      std::stable_sort(order.begin(), order.end(),
                       [&](int a, int b) { return sv[t * 5 + a] + bv[a] > sv[t * 5 + b] + bv[b]; });
      double norm = router == RouterKind::Sigmoid ? sv[t * 5 + order[0]] + sv[t * 5 + order[1]] : 1.0;
      Tensor xt = xf.slice(0, t, t + 1);
      Tensor acc = moe.shared[0]->forward(xt);
      for (int j = 0; j < 2; ++j) acc = acc + moe.experts[order[j]]->forward(xt) * (sv[t * 5 + order[j]] / norm);
      auto a = acc.to_vector<float>();
      std::copy(a.begin(), a.end(), ref.begin() + t * 6);
    }
    auto yv = y.to_vector<float>();
    for (size_t i = 0; i < ref.size(); ++i) CHECK(yv[i] == Approx(ref[i]).margin(1e-5));
  }
}

TEST_CASE("the selection bias picks experts but never weights them", "[moe]") {
  Rng rng(2);
  MoeFeedForward moe(6, small_moe(4, 1, 0), 0.0, 0.5, 0.5, rng);
  Tensor x = Tensor::randn({1, 5, 6}, rng);
  NoGradGuard no_grad;
  // A huge bias on expert 3: every token goes there...
  moe.bias = Tensor::from_vector(std::vector<double>{0, 0, 0, 100}, {4});
  Tensor y = moe.forward(x);
  CHECK(moe.load() == std::vector<int64_t>{0, 0, 0, 5});
  // ...with weight s_3 (the unbiased softmax score), not s_3 + 100.
  Tensor xf = x.reshape({5, 6});
  Tensor s3 = softmax(moe.router.forward(xf), -1).slice(1, 3, 4);  // (5, 1)
  Tensor expected = moe.experts[3]->forward(xf) * s3;
  CHECK(max_abs_diff(y.reshape({5, 6}), expected) < 1e-6);
}

TEST_CASE("aux-loss-free bias balancing moves the load toward uniform", "[moe]") {
  Rng rng(3);
  MoeConfig mc = small_moe(8, 2, 0);
  mc.bias_rate = 0.02;
  MoeFeedForward moe(16, mc, 0.0, 0.02, 0.02, rng);
  // A router that favours experts 0 and 1 for inputs with a positive mean.
  std::vector<double> w(16 * 8);
  for (int c = 0; c < 16; ++c)
    for (int e = 0; e < 8; ++e) w[c * 8 + e] = 0.3 * rng.normal() + (e == 0 ? 0.4 : e == 1 ? 0.3 : 0.0);
  moe.router.weight = Tensor::from_vector(w, {16, 8}).set_requires_grad(true);
  Tensor x = Tensor::randn({4, 64, 16}, rng) + 0.5;
  const double mean_load = 4.0 * 64 * 2 / 8;
  auto deviation = [&](const std::vector<double>& load) {  // max relative deviation from the mean load
    double worst = 0;
    for (double l : load) worst = std::max(worst, std::abs(l - mean_load) / mean_load);
    return worst;
  };
  NoGradGuard no_grad;
  moe.forward(x);
  const double before = deviation(std::vector<double>(moe.load().begin(), moe.load().end()));
  moe.reset_load();
  // The sign update settles into a ±γ dither around balance: average the
  // load over the last 50 of 300 steps.
  std::vector<double> recent(8, 0.0);
  for (int step = 0; step < 300; ++step) {
    moe.forward(x);
    if (step >= 250)
      for (int e = 0; e < 8; ++e) recent[e] += static_cast<double>(moe.load()[e]) / 50.0;
    moe.update_bias();
  }
  const double after = deviation(recent);
  INFO("max relative load deviation before " << before << ", after " << after);
  CHECK(before > 1.0);
  CHECK(after < 0.2);
}

TEST_CASE("MoE gradients match finite differences", "[moe][gradcheck]") {
  Rng rng(4);
  MoeConfig mc = small_moe(3, 2, 1);
  mc.router = RouterKind::Sigmoid;
  mc.aux_loss = 0.1;
  mc.z_loss = 0.01;
  MoeFeedForward moe(4, mc, 0.0, 0.5, 0.5, rng);
  for (const auto& p : moe.parameters()) *p.tensor = p.tensor->to(DType::f64).detach().set_requires_grad(true);
  Tensor x = Tensor::randn({1, 3, 4}, rng, 1.0, DType::f64).set_requires_grad(true);
  auto params = moe.parameters();
  std::vector<Tensor> inputs = {x};
  for (const auto& p : params) inputs.push_back(*p.tensor);
  mhc::test::require_gradcheck(
      [&](const std::vector<Tensor>& in) {
        for (size_t i = 0; i < params.size(); ++i) *params[i].tensor = in[i + 1];
        Tensor y = moe.forward(in[0]);
        return sum(y) + moe.aux_loss() * 10.0;  // include the auxiliary losses' gradients
      },
      inputs, 1e-6);
}

TEST_CASE("residual, HC and mHC models give the same loss at init", "[model]") {
  Rng rng(5);
  Tensor tokens = Tensor::from_ints({1, 2, 3, 4, 5, 6, 0, 1, 2, 3, 4, 5}, {2, 6});
  Tensor targets = Tensor::from_ints({2, 3, 4, 5, 6, 0, 1, 2, 3, 4, 5, 6}, {2, 6});
  NoGradGuard no_grad;
  // RMSNorm is scale-invariant only up to its eps, and the variants feed it
  // scaled copies (mHC's H_pre sums n halves; the collapse sums n streams).
  // With the init's small activations (std 0.02) eps = 1e-6 shows at ~1e-5,
  // so the equivalence is checked with a negligible eps.
  auto cfg = [](ResidualKind kind, int64_t n, const std::string& ffn) {
    ModelConfig c = tiny_model(kind, n, ffn);
    c.norm_eps = 1e-12;
    c.site.phi_init_std = 0;  // exactly the residual model at step 0
    return c;
  };
  for (const std::string ffn : {"gelu", "moe"}) {
    Transformer residual(cfg(ResidualKind::Residual, 1, ffn), 42);
    const double base = residual.loss(tokens, targets).item();
    Transformer hc(cfg(ResidualKind::HC, 4, ffn), 42), m(cfg(ResidualKind::MHC, 4, ffn), 42);
    INFO("ffn " << ffn);
    CHECK(hc.loss(tokens, targets).item() == Approx(base).epsilon(1e-6));
    CHECK(m.loss(tokens, targets).item() == Approx(base).epsilon(1e-6));
  }
}

TEST_CASE("mHC's default init lets the streams differ, and φ = 0 keeps them identical", "[model]") {
  // With φ = 0 and b = 0 every stream gets the same coefficients, the
  // replicated streams never separate, and the row normalisation that ends
  // Sinkhorn-Knopp gives H_res exactly zero gradient: mHC would train as a
  // residual model. The default small random φ breaks the symmetry.
  Tensor tokens = Tensor::from_ints({1, 2, 3, 4, 5, 6, 0, 1, 2, 3, 4, 5}, {2, 6});
  Tensor targets = Tensor::from_ints({2, 3, 4, 5, 6, 0, 1, 2, 3, 4, 5, 6}, {2, 6});
  // In f64: at the default init the streams differ only by O(α·φ) ≈ 1e-3 of
  // a branch output, so b_res's gradient is tiny (≈ 1e-11 here) and f32
  // rounding can cancel it to zero; what matters is that it is not exactly 0.
  auto b_res_grad = [&](double phi_std) {
    ModelConfig c = tiny_model(ResidualKind::MHC, 4, "gelu");
    c.site.phi_init_std = phi_std;
    Transformer m(c, 42);
    m.set_compute_dtype(DType::f64);
    for (const auto& p : m.parameters()) *p.tensor = p.tensor->to(DType::f64).detach().set_requires_grad(true);
    m.loss(tokens, targets).backward();
    double largest = 0;
    for (const auto& p : m.parameters())
      if (p.name.find("b_res") != std::string::npos)
        for (double g : p.tensor->grad().to_vector<double>()) largest = std::max(largest, std::abs(g));
    return largest;
  };
  CHECK(b_res_grad(0.0) == 0.0);
  const double at_default = b_res_grad(ModelConfig{}.site.phi_init_std);
  CHECK(at_default > 1e-14);
  CHECK(b_res_grad(0.3) > 10 * at_default);  // the larger φ, the sooner the streams separate
}

TEST_CASE("whole-model gradients match finite differences (mHC, MoE)", "[model][gradcheck]") {
  ModelConfig c = tiny_model(ResidualKind::MHC, 2, "moe");
  c.blocks = 1;
  c.width = 4;
  c.moe = small_moe(2, 1, 1);
  c.moe.hidden = 4;
  c.site.phi_init_std = 0.3;  // away from the symmetric init, so every gradient is non-trivial
  Transformer model(c, 7);
  model.set_compute_dtype(DType::f64);
  auto params = model.parameters();
  for (const auto& p : params) *p.tensor = p.tensor->to(DType::f64).detach().set_requires_grad(true);
  Tensor tokens = Tensor::from_ints({1, 2, 3, 4}, {1, 4}), targets = Tensor::from_ints({2, 3, 4, 5}, {1, 4});
  std::vector<Tensor> inputs;
  for (const auto& p : params) inputs.push_back(*p.tensor);
  mhc::test::require_gradcheck(
      [&](const std::vector<Tensor>& in) {
        for (size_t i = 0; i < params.size(); ++i) *params[i].tensor = in[i];
        return model.loss(tokens, targets);
      },
      inputs, 1e-6);
}

TEST_CASE("model config errors name the problem", "[model]") {
  ModelConfig c = tiny_model(ResidualKind::MHC, 4, "moe");
  c.heads = 3;
  CHECK_THROWS_WITH(Transformer(c, 1), Catch::Contains("not divisible by 3 heads"));
  c = tiny_model(ResidualKind::MHC, 4, "moe");
  c.moe.top_k = 9;
  CHECK_THROWS_WITH(Transformer(c, 1), Catch::Contains("top-k 9"));
  c = tiny_model(ResidualKind::Residual, 2);
  CHECK_THROWS_WITH(Transformer(c, 1), Catch::Contains("plain residual has exactly 1 stream"));
  c = tiny_model(ResidualKind::MHC, 1);  // mHC with one stream is allowed
  CHECK_NOTHROW(Transformer(c, 1));
  Transformer ok(tiny_model(ResidualKind::MHC, 2), 1);
  CHECK_THROWS_WITH(ok.forward(Tensor::from_ints(std::vector<int32_t>(7, 0), {1, 7})), Catch::Contains("block size"));
}

TEST_CASE("model config refuses NaN, negative and oversized fields by name", "[model]") {
  struct Case {
    std::function<void(ModelConfig&)> change;
    std::string message;
  };
  const std::vector<Case> cases = {
      {[](ModelConfig& c) { c.dropout = NAN; }, "dropout: must be a finite number in [0, 1) (got nan)"},
      {[](ModelConfig& c) { c.attn_dropout = NAN; }, "attn_dropout: must be a finite number in [0, 1) (got nan)"},
      {[](ModelConfig& c) { c.site.phi_init_std = NAN; }, "phi_init_std: must be a finite number in [0, 10] (got nan)"},
      {[](ModelConfig& c) { c.site.alpha_init = INFINITY; },
       "alpha_init: must be a finite number in [0, 10] (got inf)"},
      {[](ModelConfig& c) { c.moe.bias_rate = NAN; }, "moe.bias_rate: must be a finite number in [0, 1]"},
      {[](ModelConfig& c) { c.moe.aux_loss = -1; }, "moe.aux_loss: must be a finite number in [0, 100] (got -1)"},
      {[](ModelConfig& c) { c.moe.z_loss = NAN; }, "moe.z_loss: must be a finite number in [0, 100]"},
      {[](ModelConfig& c) { c.moe.hidden = -4; }, "moe.hidden: must be an integer in [0, 1048576] (got -4)"},
      {[](ModelConfig& c) { c.ffn_hidden = -1; }, "ffn_hidden: must be an integer in [0, 1048576] (got -1)"},
      {[](ModelConfig& c) { c.width = int64_t(1) << 40; }, "width: must be an integer in [2, 65536]"},
      {[](ModelConfig& c) { c.blocks = 5000; }, "blocks: must be an integer in [1, 1024] (got 5000)"},
      {[](ModelConfig& c) { c.block_size = int64_t(1) << 50; }, "block_size: must be an integer in [1, 1048576]"},
      {[](ModelConfig& c) { c.vocab_size = int64_t(1) << 40; }, "vocab_size: must be an integer in [1, 2097152]"},
      {[](ModelConfig& c) { c.site.streams = 9; }, "mHC takes at most 8 streams"},
      {[](ModelConfig& c) { c.site.sinkhorn_iters = 65; }, "sinkhorn_iters: must be an integer in [1, 64] (got 65)"},
      {[](ModelConfig& c) { c.norm_eps = 0; }, "norm_eps: must be a finite number in (0, 1] (got 0)"},
      {[](ModelConfig& c) { c.rope_base = NAN; }, "rope_base: must be a finite number in (1, 1000000000000]"},
  };
  for (const Case& k : cases) {
    ModelConfig c = tiny_model(ResidualKind::MHC, 4, "moe");
    k.change(c);
    INFO(k.message);
    CHECK_THROWS_WITH(c.validate(), Catch::Contains("model config: " + k.message));
  }
  CHECK_NOTHROW(tiny_model(ResidualKind::MHC, 4, "moe").validate());
}

TEST_CASE("parameter_count from the config equals the built model's", "[model]") {
  std::vector<ModelConfig> configs;
  configs.push_back(tiny_model(ResidualKind::Residual, 1, "gelu"));
  configs.push_back(tiny_model(ResidualKind::HC, 3, "swiglu"));
  configs.back().tie_embeddings = true;
  configs.push_back(tiny_model(ResidualKind::HC, 2, "gelu"));
  configs.back().site.hc_dynamic = false;
  configs.back().ffn_hidden = 24;
  configs.push_back(tiny_model(ResidualKind::MHC, 4, "moe"));
  configs.back().dense_layers = 1;
  configs.back().collapse = CollapseMode::Learned;
  configs.push_back(tiny_model(ResidualKind::MHC, 2, "moe"));
  configs.back().moe.hidden = 0;  // the dense size
  for (const ModelConfig& c : configs) {
    INFO(residual_kind_name(c.site.kind) << " n = " << c.site.streams << ", " << ffn_type_name(c.ffn));
    CHECK(c.parameter_count() == static_cast<double>(Transformer(c, 1).parameter_count()));
  }
  // No overflow at the largest sizes the config accepts.
  ModelConfig big = tiny_model(ResidualKind::MHC, 8, "moe");
  big.width = ModelConfig::kMaxWidth;
  big.heads = 256;
  big.blocks = ModelConfig::kMaxBlocks;
  big.moe.routed = big.moe.shared = ModelConfig::kMaxExperts;
  big.moe.top_k = 2;
  big.moe.hidden = ModelConfig::kMaxHidden;
  big.vocab_size = ModelConfig::kMaxVocab;
  CHECK_NOTHROW(big.validate());
  CHECK(big.parameter_count() > 4e17);
  CHECK(big.parameter_count() < 9.2e18);  // within int64
}
