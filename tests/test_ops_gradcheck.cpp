// test_ops_gradcheck.cpp — every differentiable op against central finite
// differences in f64, on random shapes that include broadcasting and
// non-contiguous views (transposes, slices, expands).
#include "test_helpers.h"

using namespace mhc;
using mhc::test::leaf;
using mhc::test::require_gradcheck;

namespace {
// A random shape of `ndim` dims with sizes in [1, 4].
Shape random_shape(Rng& rng, int ndim) {
  Shape s;
  for (int i = 0; i < ndim; ++i) s.push_back(1 + static_cast<int64_t>(rng.below(4)));
  return s;
}
}  // namespace

TEST_CASE("binary ops broadcast and differentiate", "[gradcheck]") {
  Rng rng(1);
  for (int trial = 0; trial < 6; ++trial) {
    Shape sa = random_shape(rng, 3);
    // b broadcasts: some dims set to 1, and sometimes a missing leading dim.
    Shape sb = sa;
    for (int d = 0; d < 3; ++d)
      if (rng.below(2)) sb[d] = 1;
    if (trial % 2) sb.erase(0);
    Tensor a = leaf(sa, rng), b = leaf(sb, rng);
    Tensor bpos = Tensor::uniform(sb, rng, 0.5, 2.0, DType::f64).set_requires_grad(true);
    SECTION("trial " + std::to_string(trial)) {
      require_gradcheck([](auto& in) { return add(in[0], in[1]); }, {a, b});
      require_gradcheck([](auto& in) { return sub(in[0], in[1]); }, {a, b});
      require_gradcheck([](auto& in) { return mul(in[0], in[1]); }, {a, b});
      require_gradcheck([](auto& in) { return div(in[0], in[1]); }, {a, bpos});
      require_gradcheck([](auto& in) { return sub(in[1], in[0]); }, {a, b});  // broadcast on the left
    }
  }
}

TEST_CASE("binary ops on transposed and sliced views", "[gradcheck]") {
  Rng rng(2);
  Tensor a = leaf({4, 5}, rng), b = leaf({5, 4}, rng), c = leaf({6, 5}, rng);
  require_gradcheck([](auto& in) { return mul(in[0], in[1].transpose(0, 1)); }, {a, b});
  require_gradcheck([](auto& in) { return add(in[0], in[1].slice(0, 1, 5)); }, {a, c});
  require_gradcheck([](auto& in) { return mul(in[0].slice(1, 1, 4), in[1].transpose(0, 1).slice(1, 0, 3)); }, {a, b});
}

TEST_CASE("scalar affine", "[gradcheck]") {
  Rng rng(3);
  Tensor x = leaf({3, 4}, rng);
  require_gradcheck([](auto& in) { return in[0] * 2.5 - 1.0; }, {x});
  require_gradcheck([](auto& in) { return in[0].transpose(0, 1) / 3.0 + 2.0; }, {x});
}

TEST_CASE("unary ops", "[gradcheck]") {
  Rng rng(4);
  Tensor x = leaf({3, 5}, rng);
  Tensor pos = Tensor::uniform({3, 5}, rng, 0.3, 3.0, DType::f64).set_requires_grad(true);
  // Nudge values away from the kinks of relu/abs so central differences are valid.
  Tensor away = Tensor::from_vector(std::vector<double>{-2.1, -1.3, -0.7, -0.4, 0.45, 0.8, 1.2, 1.9, -1.7, 0.33, 2.2,
                                                        -0.6, 0.9, -2.5, 1.1},
                                    {3, 5}, DType::f64)
                    .set_requires_grad(true);
  require_gradcheck([](auto& in) { return neg(in[0]); }, {x});
  require_gradcheck([](auto& in) { return exp(in[0]); }, {x});
  require_gradcheck([](auto& in) { return log(in[0]); }, {pos});
  require_gradcheck([](auto& in) { return sigmoid(in[0]); }, {x});
  require_gradcheck([](auto& in) { return tanh(in[0]); }, {x});
  require_gradcheck([](auto& in) { return silu(in[0]); }, {x});
  require_gradcheck([](auto& in) { return gelu(in[0]); }, {x});
  require_gradcheck([](auto& in) { return sqrt(in[0]); }, {pos});
  require_gradcheck([](auto& in) { return square(in[0]); }, {x});
  require_gradcheck([](auto& in) { return relu(in[0]); }, {away});
  require_gradcheck([](auto& in) { return abs(in[0]); }, {away});
  // Through a non-contiguous input.
  require_gradcheck([](auto& in) { return tanh(in[0].transpose(0, 1)); }, {x});
}

TEST_CASE("reductions", "[gradcheck]") {
  Rng rng(5);
  Tensor x = leaf({2, 3, 4}, rng);
  require_gradcheck([](auto& in) { return sum(in[0]); }, {x});
  require_gradcheck([](auto& in) { return sum(in[0], {1}); }, {x});
  require_gradcheck([](auto& in) { return sum(in[0], {0, 2}, true); }, {x});
  require_gradcheck([](auto& in) { return sum(in[0], {0, 1}); }, {x});
  require_gradcheck([](auto& in) { return mean(in[0], {-1}); }, {x});
  require_gradcheck([](auto& in) { return mean(in[0]); }, {x});
  require_gradcheck([](auto& in) { return sum(in[0].permute({2, 0, 1}), {1}); }, {x});
  require_gradcheck([](auto& in) { return max(in[0], 1); }, {x});
  require_gradcheck([](auto& in) { return max(in[0], -1, true); }, {x});
  require_gradcheck([](auto& in) { return max(in[0].transpose(0, 2), 0); }, {x});
}

TEST_CASE("matmul, batched and broadcast", "[gradcheck]") {
  Rng rng(6);
  Tensor a2 = leaf({3, 4}, rng), b2 = leaf({4, 5}, rng);
  require_gradcheck([](auto& in) { return matmul(in[0], in[1]); }, {a2, b2});
  Tensor a3 = leaf({2, 3, 4}, rng), b3 = leaf({2, 4, 5}, rng);
  require_gradcheck([](auto& in) { return matmul(in[0], in[1]); }, {a3, b3});
  // 2-D right operand folded into one product; batch broadcasting on the left.
  require_gradcheck([](auto& in) { return matmul(in[0], in[1]); }, {a3, b2});
  Tensor a4 = leaf({2, 1, 3, 4}, rng), b4 = leaf({1, 3, 4, 2}, rng);
  require_gradcheck([](auto& in) { return matmul(in[0], in[1]); }, {a4, b4});
  // Transposed operands (column-major views) and a sliced one.
  Tensor at = leaf({4, 3}, rng), bt = leaf({5, 4}, rng);
  require_gradcheck([](auto& in) { return matmul(in[0].transpose(0, 1), in[1].transpose(0, 1)); }, {at, bt});
  Tensor wide = leaf({3, 7}, rng);
  require_gradcheck([](auto& in) { return matmul(in[0].slice(1, 2, 6), in[1]); }, {wide, b2});
}

TEST_CASE("softmax, log-softmax over any axis", "[gradcheck]") {
  Rng rng(7);
  Tensor x = leaf({2, 3, 4}, rng);
  for (int axis : {0, 1, 2, -1}) {
    require_gradcheck([axis](auto& in) { return softmax(in[0], axis); }, {x});
    require_gradcheck([axis](auto& in) { return log_softmax(in[0], axis); }, {x});
  }
  require_gradcheck([](auto& in) { return softmax(in[0].transpose(0, 2), -1); }, {x});
}

TEST_CASE("cross-entropy with an ignore index", "[gradcheck]") {
  Rng rng(8);
  Tensor logits = leaf({2, 3, 5}, rng, 2.0);
  Tensor targets = Tensor::from_ints({0, 4, -100, 2, 1, 3}, {2, 3});
  require_gradcheck([&](auto& in) { return cross_entropy(in[0], targets); }, {logits});
  require_gradcheck([&](auto& in) { return cross_entropy_rows(in[0], targets); }, {logits});
  // Through a transposed view of the logits.
  Tensor lt = leaf({5, 6}, rng);
  Tensor t6 = Tensor::from_ints({0, 1, 2, 3, 4, 0}, {6});
  require_gradcheck([&](auto& in) { return cross_entropy(in[0].transpose(0, 1), t6); }, {lt});
}

TEST_CASE("rms_norm with and without weight", "[gradcheck]") {
  Rng rng(9);
  Tensor x = leaf({3, 2, 6}, rng), w = leaf({6}, rng);
  require_gradcheck([](auto& in) { return rms_norm(in[0], in[1]); }, {x, w});
  require_gradcheck([](auto& in) { return rms_norm(in[0], Tensor()); }, {x});
  require_gradcheck([](auto& in) { return rms_norm(in[0].transpose(0, 1), in[1]); }, {x, w});
}

TEST_CASE("embedding gathers rows and scatter-adds repeated ids", "[gradcheck]") {
  Rng rng(10);
  Tensor w = leaf({5, 3}, rng);
  Tensor ids = Tensor::from_ints({1, 4, 1, 0, 1, 3}, {2, 3});
  require_gradcheck([&](auto& in) { return embedding(in[0], ids); }, {w});
}

TEST_CASE("concat along each axis", "[gradcheck]") {
  Rng rng(11);
  Tensor a = leaf({2, 3}, rng), b = leaf({2, 1}, rng), c = leaf({4, 3}, rng);
  require_gradcheck([](auto& in) { return concat({in[0], in[1]}, 1); }, {a, b});
  require_gradcheck([](auto& in) { return concat({in[0], in[1]}, 0); }, {a, c});
  require_gradcheck([](auto& in) { return concat({in[0].transpose(0, 1), in[0].transpose(0, 1)}, 0); }, {a});
}

TEST_CASE("topk values carry the gradient", "[gradcheck]") {
  Rng rng(12);
  Tensor x = leaf({3, 6}, rng);
  require_gradcheck([](auto& in) { return topk(in[0], 2).first; }, {x});
  require_gradcheck([](auto& in) { return topk(in[0].transpose(0, 1), 3).first; }, {x});
}

TEST_CASE("gather_last, index_select and index_add", "[gradcheck]") {
  Rng rng(13);
  Tensor x = leaf({4, 5}, rng);
  Tensor idx2 = Tensor::from_ints({4, 0, 2, 2, 1, 3, 0, 0}, {4, 2});
  require_gradcheck([&](auto& in) { return gather_last(in[0], idx2); }, {x});
  Tensor idx = Tensor::from_ints({3, 1, 3}, {3});
  require_gradcheck([&](auto& in) { return index_select(in[0], 0, idx); }, {x});
  require_gradcheck([&](auto& in) { return index_select(in[0], 1, idx); }, {x});
  Tensor src = leaf({3, 5}, rng);
  require_gradcheck([&](auto& in) { return index_add(in[0], 0, idx, in[1]); }, {x, src});
  Tensor src1 = leaf({4, 3}, rng);
  require_gradcheck([&](auto& in) { return index_add(in[0], 1, idx, in[1]); }, {x, src1});
}

TEST_CASE("dropout: gradient uses the same mask", "[gradcheck]") {
  Rng rng(14);
  Tensor x = leaf({4, 8}, rng);
  require_gradcheck([](auto& in) { return dropout(in[0], 0.3, 77); }, {x});
}

TEST_CASE("causal attention, fused and composed, with and without dropout", "[gradcheck]") {
  Rng rng(15);
  Tensor q = leaf({2, 5, 2, 3}, rng), k = leaf({2, 5, 2, 3}, rng), v = leaf({2, 5, 2, 3}, rng);
  require_gradcheck([](auto& in) { return causal_attention(in[0], in[1], in[2]); }, {q, k, v});
  require_gradcheck([](auto& in) { return causal_attention(in[0], in[1], in[2], 0.25, 5); }, {q, k, v});
  require_gradcheck([](auto& in) { return causal_attention_composed(in[0], in[1], in[2], 0.25, 5); }, {q, k, v});
  // The fused kernel draws exactly the composed path's dropout mask.
  for (double p : {0.0, 0.25}) {
    INFO("dropout " << p);
    Tensor fused = causal_attention(q, k, v, p, 9), composed = causal_attention_composed(q, k, v, p, 9);
    CHECK(mhc::test::max_abs_diff(fused, composed) < 1e-12);
    Tensor w = Tensor::randn(fused.shape(), rng, 1.0, DType::f64);
    q.zero_grad();
    sum(fused * w).backward();
    const Tensor gq_fused = q.grad();
    q.zero_grad();
    sum(composed * w).backward();
    CHECK(mhc::test::max_abs_diff(gq_fused, q.grad()) < 1e-12);
  }
}

TEST_CASE("rope: rotation forward, inverse rotation backward", "[gradcheck]") {
  Rng rng(17);
  Tensor x = leaf({2, 3, 2, 4}, rng);
  std::vector<float> c(3 * 2), s(3 * 2);
  for (int t = 0; t < 3; ++t)
    for (int i = 0; i < 2; ++i) {
      const double ang = t * std::pow(10000.0, -2.0 * i / 4);
      c[t * 2 + i] = static_cast<float>(std::cos(ang));
      s[t * 2 + i] = static_cast<float>(std::sin(ang));
    }
  Tensor ct = Tensor::from_vector(c, {3, 2}), st = Tensor::from_vector(s, {3, 2});
  require_gradcheck([&](auto& in) { return rope(in[0], ct, st); }, {x});
  // A rotation keeps the norm of every pair.
  NoGradGuard no_grad;
  Tensor y = rope(x, ct, st);
  CHECK(sum(square(y)).item() == Approx(sum(square(x)).item()).epsilon(1e-6));
}

TEST_CASE("view ops: reshape, permute, expand, squeeze, contiguous", "[gradcheck]") {
  Rng rng(16);
  Tensor x = leaf({2, 3, 4}, rng);
  Tensor y = leaf({3, 1}, rng);
  require_gradcheck([](auto& in) { return in[0].reshape({6, 4}) * 1.0; }, {x});
  require_gradcheck([](auto& in) { return in[0].transpose(1, 2).reshape({-1, 3}) * 1.0; }, {x});
  require_gradcheck([](auto& in) { return in[0].permute({2, 0, 1}).contiguous(); }, {x});
  require_gradcheck([](auto& in) { return in[0].expand({2, 3, 5}) * 1.0; }, {y});
  require_gradcheck([](auto& in) { return in[0].select(1, 2) * 1.0; }, {x});
  require_gradcheck([](auto& in) { return in[0].unsqueeze(0).squeeze(0).slice(2, 1, 3).clone(); }, {x});
  // Through f32 and back: the cast's gradient is exact, the f32 rounding is
  // not, so a large step and a loose tolerance.
  require_gradcheck([](auto& in) { return in[0].to(DType::f32).to(DType::f64); }, {x}, 1e-3, 1e-2);
}
