// test_mlp.cpp — a two-layer MLP learns a toy problem end to end: the loss
// after training must fall below a threshold only a working gradient reaches.
#include "test_helpers.h"

using namespace mhc;

TEST_CASE("a two-layer MLP learns two interleaved spirals", "[mlp]") {
  // Two classes of points on interleaved spirals: not linearly separable.
  Rng rng(31);
  const int n = 200;
  std::vector<float> xs;
  std::vector<int32_t> ys;
  for (int i = 0; i < n; ++i) {
    const int label = i % 2;
    const double r = 0.2 + 0.8 * (i / 2) / (n / 2.0);
    const double t = 3.0 * r * M_PI + label * M_PI;
    xs.push_back(static_cast<float>(r * std::cos(t) + 0.02 * rng.normal()));
    xs.push_back(static_cast<float>(r * std::sin(t) + 0.02 * rng.normal()));
    ys.push_back(label);
  }
  Tensor X = Tensor::from_vector(xs, {n, 2});
  Tensor Y = Tensor::from_ints(ys, {n});

  const int H = 64;
  Tensor W1 = Tensor::randn({2, H}, rng, 1.0).set_requires_grad(true);
  Tensor b1 = Tensor::zeros({H}).set_requires_grad(true);
  Tensor W2 = Tensor::randn({H, 2}, rng, 1.0 / std::sqrt(H)).set_requires_grad(true);
  Tensor b2 = Tensor::zeros({2}).set_requires_grad(true);
  std::vector<Tensor> params{W1, b1, W2, b2};

  auto forward = [&] { return matmul(tanh(matmul(X, W1) + b1), W2) + b2; };
  const double initial = cross_entropy(forward(), Y).item();
  double loss_value = initial;
  // Plain gradient descent with momentum.
  std::vector<Tensor> velocity;
  for (auto& p : params) velocity.push_back(Tensor::zeros(p.shape()));
  for (int step = 0; step < 1500; ++step) {
    for (auto& p : params) p.zero_grad();
    Tensor loss = cross_entropy(forward(), Y);
    loss.backward();
    loss_value = loss.item();
    NoGradGuard no_grad;
    for (size_t i = 0; i < params.size(); ++i) {
      Tensor v = velocity[i] * 0.9 + params[i].grad();
      velocity[i] = v;
      add_(params[i], v * -0.2);
    }
  }
  INFO("initial loss " << initial << ", final " << loss_value);
  CHECK(initial > 0.6);
  CHECK(loss_value < 0.15);
  // And it classifies the training points.
  NoGradGuard no_grad;
  auto logits = forward().to_vector<float>();
  int correct = 0;
  for (int i = 0; i < n; ++i) correct += (logits[2 * i + 1] > logits[2 * i]) == (ys[i] == 1);
  CHECK(correct >= 190);
}
