// autograd_tour.cpp — tutorial 01: the tape, topological order and gradient
// accumulation, shown on a tiny expression. Each part's number is the
// section of README.md that shows its output; ctest checks those blocks
// against this program's output (docs/tutorial-checks.md) and that its own
// assertions pass.
#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <vector>
#include <stdexcept>

#include "autograd/gradcheck.h"
#include "autograd/ops.h"
#include "autograd/tape.h"

using namespace mhc;

static void print_values(const char* name, const Tensor& t) {
  fmt::print("  {:<8} = [", name);
  auto v = t.to_vector<double>();
  for (size_t i = 0; i < v.size(); ++i) fmt::print("{}{:+.6f}", i ? ", " : "", v[i]);
  fmt::print("]\n");
}

static void expect(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("tutorial check failed: ") + what);
}

// Part 8: plain gradient descent on L(w) = (w − 3)² / 2 from w = 0 with
// learning rate 0.1, zeroing w's gradient before every step or never.
// Returns the loss before each step. One-element tensors only, so no sum
// depends on an order of addition and the printed digits hold anywhere.
static std::vector<double> descend(bool zero_each_step, int steps) {
  Tensor w = Tensor::from_vector(std::vector<double>{0.0}, {1}, DType::f64).set_requires_grad(true);
  std::vector<double> losses;
  for (int k = 0; k <= steps; ++k) {
    if (zero_each_step) w.zero_grad();
    Tensor loss = sum(square(w - 3.0)) * 0.5;
    losses.push_back(loss.item());
    loss.backward();
    NoGradGuard no_grad;
    w.data<double>()[0] -= 0.1 * w.grad().item();  // the optimizer step
  }
  return losses;
}

// The example of parts 1–6: loss = Σ tanh(x·w + b)², x (2, 3), w (3, 1), b (1,).
struct Example {
  Tensor x, w, b, y, loss;
};

// 1. A forward pass records a tape.
static Example forward_pass() {
  fmt::print("1. Forward: loss = sum(tanh(x @ w + b)^2)\n");
  Tensor x = Tensor::from_vector(std::vector<double>{0.5, -1.0, 2.0, 1.5, 0.25, -0.5}, {2, 3}, DType::f64);
  Tensor w = Tensor::from_vector(std::vector<double>{0.1, -0.2, 0.3}, {3, 1}, DType::f64).set_requires_grad(true);
  Tensor b = Tensor::from_vector(std::vector<double>{0.05}, {1}, DType::f64).set_requires_grad(true);
  Tensor z = matmul(x, w) + b;
  Tensor y = tanh(z);
  Tensor loss = sum(square(y));
  fmt::print("  loss = {:.6f}\n\n", loss.item());
  return {x, w, b, y, loss};
}

// 2. The tape in topological order: every tensor after the ones it was made from.
static void print_tape(const Tensor& loss) {
  fmt::print("2. The tape, in topological order (leaves have no op):\n");
  int i = 0;
  for (const auto& t : topological_order(loss)) {
    const char* op = t->grad_fn ? t->grad_fn->op : "(leaf)";
    fmt::print("  [{}] {:<10} shape {}\n", i++, op, t->shape.str());
  }
  fmt::print("\n");
}

// 3. backward() visits that list in reverse and accumulates into leaves.
static void backward_and_by_hand(Example& ex) {
  Tensor &x = ex.x, &w = ex.w, &b = ex.b, &y = ex.y, &loss = ex.loss;
  fmt::print("3. backward(): gradients of the leaves\n");
  loss.backward();
  print_values("dL/dw", w.grad());
  print_values("dL/db", b.grad());
  // By hand: dL/dz = 2 y (1 − y²); dL/dw = xᵀ dL/dz; dL/db = Σ dL/dz.
  auto yv = y.to_vector<double>();
  auto xv = x.to_vector<double>();
  double db = 0;
  double dw[3] = {0, 0, 0};
  for (int r = 0; r < 2; ++r) {
    const double dz = 2 * yv[r] * (1 - yv[r] * yv[r]);
    db += dz;
    for (int c = 0; c < 3; ++c) dw[c] += xv[r * 3 + c] * dz;
  }
  fmt::print("  by hand: dL/db = {:+.6f}, dL/dw = [{:+.6f}, {:+.6f}, {:+.6f}]\n\n", db, dw[0], dw[1], dw[2]);
  expect(std::abs(b.grad().item() - db) < 1e-12, "dL/db by hand");
}

// 4. Gradients accumulate across forward/backward pairs until zero_grad.
static void accumulation(Example& ex) {
  Tensor &x = ex.x, &w = ex.w, &b = ex.b;
  fmt::print("4. Accumulation: a second forward + backward adds to .grad\n");
  const double first = b.grad().item();
  sum(square(tanh(matmul(x, w) + b))).backward();
  fmt::print("  dL/db after two passes = {:+.6f} (2 x {:+.6f})\n", b.grad().item(), first);
  expect(std::abs(b.grad().item() - 2 * first) < 1e-12, "accumulation doubles");
  w.zero_grad();
  b.zero_grad();
  fmt::print("  after zero_grad: b.grad() defined? {}\n\n", b.grad().defined());
}

// 5. The graph was freed: a second backward is an error, not a silent double count.
static void second_backward(Tensor& loss) {
  fmt::print("5. A second backward through the same graph:\n");
  try {
    loss.backward();
    expect(false, "second backward must throw");
  } catch (const std::logic_error& e) {
    fmt::print("  error: {}\n\n", e.what());
  }
}

// 6. Check the whole thing against central finite differences.
static void check_gradients(Example& ex) {
  Tensor &x = ex.x, &w = ex.w, &b = ex.b;
  fmt::print("6. gradcheck against central differences (eps = 1e-6, f64):\n");
  GradCheckResult r =
      gradcheck([&](const std::vector<Tensor>& in) { return square(tanh(matmul(x, in[0]) + in[1])); }, {w, b});
  // A verdict, not the error itself: its digits are rounding noise that
  // differs between machines (the tolerance, 1e-6, is gradcheck's default).
  fmt::print("  max relative error below 1e-06: {}\n\n", r.ok ? "ok" : "FAILED");
  expect(r.ok, "gradcheck");
}

// 8. The classic bug: gradients accumulated across optimizer steps.
static void forgotten_zero_grad() {
  fmt::print("8. Gradient descent on L(w) = (w - 3)^2 / 2, lr 0.1, from w = 0:\n");
  const int steps = 60;
  const std::vector<double> good = descend(true, steps), bug = descend(false, steps);
  fmt::print("  step | zero_grad every step | never zeroed\n");
  for (int k : {0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 60})
    fmt::print("  {:>4} | {:>20.3g} | {:>12.3g}\n", k, good[k], bug[k]);
  // Zeroed, the error e = w − 3 shrinks by 0.9 per step, the loss by 0.81.
  for (int k = 0; k < steps; ++k)
    expect(std::abs(good[k + 1] - 0.81 * good[k]) < 1e-12, "the zeroed run's loss shrinks by 0.81 per step");
  // Never zeroed, it follows e_{k+1} = 1.9 e_k − e_{k−1} (the page derives it):
  // it circles at constant amplitude. Check every step against that recurrence.
  double e_prev = -3.0, e = -2.7;
  for (int k = 2; k <= steps; ++k) {
    const double next = 1.9 * e - e_prev;
    e_prev = e;
    e = next;
    expect(std::abs(bug[k] - 0.5 * e * e) < 1e-9, "the unzeroed run follows e' = 1.9 e - e''");
  }
  const double late_bug = *std::max_element(bug.end() - 21, bug.end());
  fmt::print("  zeroed: the loss shrinks by 0.81 per step: {}\n", good[steps] < 1e-4 * good[0] ? "yes" : "no");
  fmt::print("  never zeroed: in the last 20 steps it is still back above half its start: {}\n",
             late_bug > 0.5 * bug[0] ? "yes" : "no");
  expect(good[steps] < 1e-4 * good[0] && late_bug > 0.5 * bug[0], "zeroed converges, unzeroed does not");
}

int main() {
  Example ex = forward_pass();
  print_tape(ex.loss);
  backward_and_by_hand(ex);
  accumulation(ex);
  second_backward(ex.loss);
  check_gradients(ex);
  forgotten_zero_grad();
  return 0;
}
