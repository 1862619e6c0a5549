// test_optimizer.cpp — the multi-tensor AdamW (Backend::adamw_multi and its
// CUDA launch plan, kernels/adamw_plan.h) and the memory of a warm training
// step: after a few steps, a dense and a mixture-of-experts step take nothing
// more from the system allocator.
#include <algorithm>
#include <numeric>
#include <set>

#include "test_helpers.h"
#include "kernels/adamw_plan.h"
#include "layers/dropout_seeds.h"
#include "train/config.h"
#include "train/optimizer.h"

using namespace mhc;
using Catch::Matchers::Contains;

namespace {

std::vector<float> random_floats(Rng& rng, int64_t n, double scale = 1.0) {
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>(rng.normal() * scale);
  return v;
}

// One tensor's host buffers for adamw_multi.
struct HostTensor {
  std::vector<float> p, g, m, v;
  std::vector<bf16> w;
  HostTensor(Rng& rng, int64_t n)
      : p(random_floats(rng, n)), g(random_floats(rng, n)), m(random_floats(rng, n, 0.1)), v(n), w(n) {
    for (int64_t i = 0; i < n; ++i) v[i] = 0.01f * p[i] * p[i];
  }
  AdamWTensor entry(float wd, bool working) {
    return {p.data(), g.data(), m.data(), v.data(), working ? w.data() : nullptr, static_cast<int64_t>(p.size()), wd};
  }
};

AdamWTensor fake(int64_t n) {
  static float f[1];
  return {f, f, f, f, nullptr, n, 0.f};
}

}  // namespace

TEST_CASE("cpu adamw_multi: one call over a list equals one call per tensor, bit for bit", "[optim]") {
  Backend& be = backend_for(Device::cpu);
  const std::vector<int64_t> sizes = {5, 0, 70001, 1, 4096};  // 70001: past the CPU's parallel grain
  const AdamWHyper h{3e-3f, 0.9f, 0.95f, 1e-8f, 0.19f, 0.0975f, 0.8f};
  Rng ra(4), rb(4);
  std::vector<HostTensor> a, b;
  for (int64_t n : sizes) {
    a.emplace_back(ra, n);
    b.emplace_back(rb, n);
  }
  std::vector<std::vector<float>> before;
  for (const HostTensor& t : a) before.push_back(t.p);
  std::vector<AdamWTensor> list;
  for (size_t i = 0; i < sizes.size(); ++i) list.push_back(a[i].entry(i % 2 ? 0.f : 0.1f, i != 3));
  be.adamw_multi(list.data(), static_cast<int64_t>(list.size()), h);
  for (size_t i = 0; i < sizes.size(); ++i) {
    const AdamWTensor one = b[i].entry(i % 2 ? 0.f : 0.1f, i != 3);
    be.adamw_multi(&one, 1, h);
  }
  for (size_t i = 0; i < sizes.size(); ++i) {
    INFO("tensor " << i << ", n = " << sizes[i]);
    CHECK(a[i].p == b[i].p);
    CHECK(a[i].m == b[i].m);
    CHECK(a[i].v == b[i].v);
    auto bits = [](const std::vector<bf16>& w) {
      std::vector<uint16_t> out;
      for (bf16 x : w) out.push_back(x.bits);
      return out;
    };
    CHECK(bits(a[i].w) == bits(b[i].w));
    if (sizes[i] > 0) CHECK(a[i].p != before[i]);  // the update moved the weights (the check can fail)
  }
  // The formula itself, on one element (weight decay 0.1, no working copy wanted for tensor 3).
  HostTensor c(ra, 1);
  const float p0 = c.p[0], g = c.g[0] * h.grad_scale;
  const float m1 = h.beta1 * c.m[0] + (1.f - h.beta1) * g, v1 = h.beta2 * c.v[0] + (1.f - h.beta2) * g * g;
  const AdamWTensor e = c.entry(0.1f, false);
  be.adamw_multi(&e, 1, h);
  const double want = p0 - h.lr * (0.1 * p0 + (m1 / h.bc1) / (std::sqrt(v1 / h.bc2) + h.eps));
  CHECK(c.p[0] == Approx(want).epsilon(1e-6));
}

TEST_CASE("cpu adamw_multi: the bf16 working copy is the cast of the updated weight", "[optim]") {
  Backend& be = backend_for(Device::cpu);
  Rng rng(6);
  HostTensor t(rng, 3001);
  const AdamWTensor e = t.entry(0.1f, true);
  be.adamw_multi(&e, 1, AdamWHyper{1e-2f, 0.9f, 0.99f, 1e-8f, 0.1f, 0.01f, 1.f});
  std::vector<bf16> cast(t.p.size());
  be.cast(DType::f32, t.p.data(), DType::bf16, cast.data(), static_cast<int64_t>(t.p.size()));
  int64_t differ = 0, rounded = 0;
  for (size_t i = 0; i < cast.size(); ++i) {
    differ += cast[i].bits != t.w[i].bits;
    rounded += t.w[i].to_float() != t.p[i];
  }
  CHECK(differ == 0);
  CHECK(rounded > 0);  // bf16 really rounds these weights, so equal bits mean the same rounding
}

TEST_CASE("adamw_multi refuses bad lists, naming the tensor", "[optim]") {
  Backend& be = backend_for(Device::cpu);
  const AdamWHyper h;
  CHECK_THROWS_WITH(be.adamw_multi(nullptr, -1, h), Contains("adamw_multi: tensor count -1 is negative"));
  CHECK_THROWS_WITH(be.adamw_multi(nullptr, 3, h), Contains("the tensor list is null but count is 3"));
  std::vector<AdamWTensor> list = {fake(4), fake(-2)};
  CHECK_THROWS_WITH(be.adamw_multi(list.data(), 2, h), Contains("tensor 1 of 2 has n = -2 elements"));
  list[1] = fake(3);
  list[1].m = nullptr;
  CHECK_THROWS_WITH(be.adamw_multi(list.data(), 2, h),
                    Contains("tensor 1 of 2 (n = 3) has a null param, grad, m or v"));
  list[1] = AdamWTensor{};  // empty: no pointers needed
  CHECK_NOTHROW(plan_adamw_launches(list.data(), 2, h));
  AdamWHyper bad = h;
  bad.bc2 = 0.f;
  CHECK_THROWS_WITH(be.adamw_multi(list.data(), 2, bad), Contains("bias corrections") && Contains("must be positive"));
  CHECK_THROWS_WITH(plan_adamw_launches(list.data(), 2, h, 0), Contains("must be positive"));
  CHECK_NOTHROW(be.adamw_multi(nullptr, 0, h));
}

TEST_CASE("adamw launch plan: chunk boundaries, the last partial chunk, empty tensors, launch limits", "[optim]") {
  const AdamWHyper h;
  // chunk 10: n = 10 is one full chunk, 11 is a full one and one of 1, 0 gets no slot.
  std::vector<AdamWTensor> list = {fake(10), fake(0), fake(11), fake(3), fake(25)};
  auto plan = plan_adamw_launches(list.data(), 5, h, 10, 100, 100);
  REQUIRE(plan.size() == 1);
  CHECK(plan[0].tensors == std::vector<int64_t>{0, 2, 3, 4});
  // (slot, index) per block, in list order.
  std::vector<std::pair<int, int>> got;
  for (const AdamWChunk& c : plan[0].chunks) got.push_back({c.slot, c.index});
  CHECK(got == std::vector<std::pair<int, int>>{{0, 0}, {1, 0}, {1, 1}, {2, 0}, {3, 0}, {3, 1}, {3, 2}});

  // Every element is covered exactly once, whatever the limits.
  for (auto [slots, chunks] : {std::pair{1, 1}, std::pair{2, 3}, std::pair{3, 2}, std::pair{100, 4}}) {
    INFO("slots " << slots << ", chunks " << chunks);
    plan = plan_adamw_launches(list.data(), 5, h, 10, slots, chunks);
    std::vector<std::vector<int>> covered(5);
    for (const AdamWLaunch& l : plan) {
      CHECK(static_cast<int64_t>(l.tensors.size()) <= slots);
      CHECK(static_cast<int64_t>(l.chunks.size()) <= chunks);
      CHECK_FALSE(l.chunks.empty());
      for (const AdamWChunk& c : l.chunks) {
        const int64_t t = l.tensors.at(c.slot);
        const int64_t lo = c.index * 10, hi = std::min<int64_t>(list[t].n, lo + 10);
        REQUIRE(lo < hi);
        for (int64_t i = lo; i < hi; ++i) covered[t].push_back(static_cast<int>(i));
      }
    }
    for (int t = 0; t < 5; ++t) {
      std::vector<int> want(list[t].n);
      std::iota(want.begin(), want.end(), 0);
      CHECK(covered[t] == want);
    }
  }
  // A tensor split across launches continues its chunk numbering in the next.
  plan = plan_adamw_launches(list.data(), 5, h, 10, 100, 5);
  REQUIRE(plan.size() == 2);
  CHECK(plan[1].tensors.front() == 4);
  CHECK(plan[1].chunks.front().index == 1);

  // The real limits: a moe-1280-sized model (~400 tensors, ~0.5 G weights) takes a few launches.
  std::vector<AdamWTensor> model;
  for (int l = 0; l < 8; ++l) {
    for (int i = 0; i < 4; ++i) model.push_back(fake(1280 * 1280));
    for (int e = 0; e < 17 * 3; ++e) model.push_back(fake(1280 * 896));
    model.push_back(fake(1280));
  }
  plan = plan_adamw_launches(model.data(), static_cast<int64_t>(model.size()), h);
  CHECK(plan.size() >= 2);
  CHECK(plan.size() <= 8);
}

namespace {

// The bench's (and the trainer's) step: forward, backward, norm, AdamW, MoE bias.
struct StepRig {
  std::unique_ptr<Transformer> model;
  std::unique_ptr<AdamW> opt;
  Rng rng{11};
  int64_t B, T, vocab = 65;
  explicit StepRig(const TrainConfig& c) : B(c.optim.batch_size), T(c.model.block_size) {
    ModelConfig m = c.model;
    m.vocab_size = vocab;
    model = std::make_unique<Transformer>(m, 1);
    opt = std::make_unique<AdamW>(model->parameters(), AdamWConfig{});
  }
  void step(int64_t i) {
    std::vector<int32_t> x(B * T), y(B * T);  // a new batch every step: MoE routing changes with it
    for (auto& t : x) t = static_cast<int32_t>(rng.below(vocab));
    for (auto& t : y) t = static_cast<int32_t>(rng.below(vocab));
    DropoutSeeds::begin_step(1, static_cast<uint64_t>(i));
    opt->zero_grad();
    Tensor loss = model->loss(Tensor::from_ints(x, {B, T}), Tensor::from_ints(y, {B, T}));
    loss.backward();
    const double norm = opt->grad_norm();
    opt->step(1e-3, norm > 1.0 ? 1.0 / norm : 1.0);
    for (MoeFeedForward* m : model->moe_layers()) m->update_bias();
  }
};

}  // namespace

TEST_CASE("a warm training step takes nothing from the system allocator (dense and MoE, cpu)", "[optim][alloc]") {
  Backend& cpu = backend_for(Device::cpu);
  for (auto [preset_name, kind] :
       {std::pair{"cpu-char", ResidualKind::MHC}, std::pair{"tiny-moe", ResidualKind::Residual},
        std::pair{"tiny-moe", ResidualKind::MHC}}) {
    TrainConfig c = preset(preset_name);
    c.model.site.kind = kind;
    c.model.site.streams = kind == ResidualKind::Residual ? 1 : 4;
    c.optim.batch_size = 8;
    INFO(preset_name << " " << residual_kind_name(kind));
    StepRig rig(c);
    for (int64_t i = 0; i < 3; ++i) rig.step(i);  // warm-up
    std::set<std::vector<int64_t>> loads;         // the first MoE layer's load, per step
    const int64_t requests = cpu.allocator_stats().requests;
    for (int64_t i = 3; i < 8; ++i) {
      const int64_t before = cpu.allocator_stats().system_allocations;
      rig.step(i);
      CHECK(cpu.allocator_stats().system_allocations - before == 0);
      if (!rig.model->moe_layers().empty()) loads.insert(rig.model->moe_layers().front()->last_step_load());
    }
    CHECK(cpu.allocator_stats().requests - requests > 1000);  // the steps did allocate, from the cache
    // MoE: the experts' token counts, and with them the tensor sizes, changed between steps.
    if (c.model.ffn == FfnType::Moe) CHECK(loads.size() > 1);
  }
}
