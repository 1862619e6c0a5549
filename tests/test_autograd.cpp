// test_autograd.cpp — the tape: accumulation, topological order, freeing,
// no-grad mode, seeds, and depth without recursion.
#include "autograd/op_profile.h"
#include "test_helpers.h"

using namespace mhc;

TEST_CASE("gradients accumulate into leaves until zero_grad", "[autograd]") {
  Tensor w = Tensor::from_vector(std::vector<double>{1, 2, 3}, {3}).set_requires_grad(true);
  sum(w * 2.0).backward();
  CHECK(w.grad().to_vector<float>() == std::vector<float>{2, 2, 2});
  sum(w * 3.0).backward();
  CHECK(w.grad().to_vector<float>() == std::vector<float>{5, 5, 5});
  w.zero_grad();
  CHECK_FALSE(w.grad().defined());
  sum(square(w)).backward();
  CHECK(w.grad().to_vector<float>() == std::vector<float>{2, 4, 6});
}

TEST_CASE("a tensor used twice gets the sum of both paths (diamond)", "[autograd]") {
  // y = x*x + exp(x) -> dy/dx = 2x + exp(x)
  Tensor x = Tensor::from_vector(std::vector<double>{0.5, -1.0}, {2}, DType::f64).set_requires_grad(true);
  Tensor a = x * x;
  Tensor b = exp(x);
  sum(a + b).backward();
  auto g = x.grad().to_vector<double>();
  CHECK(g[0] == Approx(2 * 0.5 + std::exp(0.5)).epsilon(1e-12));
  CHECK(g[1] == Approx(-2.0 + std::exp(-1.0)).epsilon(1e-12));
}

TEST_CASE("topological order: a node runs only after all its consumers", "[autograd]") {
  // h is consumed by a long and a short branch; if h's backward ran before
  // the long branch finished, x would miss part of its gradient.
  Tensor x = Tensor::from_vector(std::vector<double>{1.0}, {1}, DType::f64).set_requires_grad(true);
  Tensor h = x * 3.0;
  Tensor longer = h;
  for (int i = 0; i < 10; ++i) longer = longer * 1.0;
  sum(longer + h).backward();
  CHECK(x.grad().item() == Approx(6.0));
}

TEST_CASE("backward walks a very deep graph without recursion", "[autograd]") {
  Tensor x = Tensor::from_vector(std::vector<double>{1.0}, {1}, DType::f64).set_requires_grad(true);
  Tensor y = x;
  for (int i = 0; i < 200000; ++i) y = y + 0.0;
  sum(y).backward();
  CHECK(x.grad().item() == 1.0);
}

TEST_CASE("the graph is freed after backward, and a second backward is an error", "[autograd]") {
  Tensor x = Tensor::from_vector(std::vector<double>{1, 2}, {2}).set_requires_grad(true);
  Tensor y = exp(x);
  Tensor loss = sum(y);
  loss.backward();
  REQUIRE(y.impl().grad_fn->released);
  CHECK_FALSE(static_cast<bool>(y.impl().grad_fn->backward));  // saved tensors dropped
  CHECK(y.impl().grad_fn->inputs.empty());
  CHECK_THROWS_WITH(loss.backward(), Catch::Contains("already been freed"));
}

TEST_CASE("no-grad mode records nothing", "[autograd]") {
  Tensor w = Tensor::ones({3}).set_requires_grad(true);
  Tensor y;
  {
    NoGradGuard guard;
    CHECK_FALSE(grad_enabled());
    y = w * 2.0;
  }
  CHECK(grad_enabled());
  CHECK_FALSE(y.requires_grad());
  CHECK(y.is_leaf());
  CHECK_THROWS_WITH(sum(y).backward(), Catch::Contains("does not require grad"));
}

TEST_CASE("non-scalar backward needs a seed of the same shape", "[autograd]") {
  Tensor x = Tensor::from_vector(std::vector<double>{1, 2, 3}, {3}).set_requires_grad(true);
  Tensor y = x * 2.0;
  CHECK_THROWS_WITH(y.backward(), Catch::Contains("needs a seed gradient"));
  Tensor y2 = x * 2.0;
  CHECK_THROWS_WITH(y2.backward(Tensor::ones({2})), Catch::Contains("does not match"));
  Tensor y3 = x * 2.0;
  y3.backward(Tensor::from_vector(std::vector<double>{1, 0, -1}, {3}));
  CHECK(x.grad().to_vector<float>() == std::vector<float>{2, 0, -2});
}

TEST_CASE("inputs that do not require grad get none, and block nothing", "[autograd]") {
  Tensor w = Tensor::ones({2, 2}).set_requires_grad(true);
  Tensor c = Tensor::full({2, 2}, 3.0);
  sum(matmul(c, w)).backward();
  CHECK_FALSE(c.grad().defined());
  CHECK(w.grad().to_vector<float>() == std::vector<float>{6, 6, 6, 6});
}

TEST_CASE("a leaf's accumulated grad never aliases another tensor", "[autograd]") {
  // add's backward hands the same gradient tensor to both inputs; accumulating
  // into one leaf must not change the other.
  Tensor a = Tensor::ones({2}).set_requires_grad(true);
  Tensor b = Tensor::ones({2}).set_requires_grad(true);
  sum(a + b).backward();
  sum(a * 5.0).backward();
  CHECK(a.grad().to_vector<float>() == std::vector<float>{6, 6});
  CHECK(b.grad().to_vector<float>() == std::vector<float>{1, 1});
}

TEST_CASE("an op profile counts each recorded op's forward and each node's backward by op name", "[autograd]") {
  Tensor a = Tensor::from_vector(std::vector<double>{1, 2, 3}, {3}, DType::f64).set_requires_grad(true);
  Tensor b = Tensor::from_vector(std::vector<double>{4, 5, 6}, {3}, DType::f64).set_requires_grad(true);
  {
    OpProfile p;
    CHECK(OpProfile::active());
    CHECK_THROWS_AS(OpProfile(), std::logic_error);  // one at a time
    p.mark();
    Tensor y = sum((a + b) * b);  // add, mul, sum: one forward each
    y.backward();
    p.add("optimizer", 0.25);
    const auto& t = p.times();
    for (const char* op : {"add", "mul", "sum"}) {
      INFO(op);
      REQUIRE(t.count(op) == 1);
      CHECK(t.at(op).forward_calls == 1);
      CHECK(t.at(op).backward_calls == 1);
      CHECK(t.at(op).forward_s >= 0);
      CHECK(t.at(op).backward_s >= 0);
    }
    CHECK(t.at("optimizer").forward_s == 0.25);
    CHECK(t.size() == 4);
  }
  CHECK_FALSE(OpProfile::active());
  // Without a profile nothing is recorded, and a new one starts empty.
  Tensor z = sum(a + b);
  OpProfile q;
  CHECK(q.times().empty());
}
