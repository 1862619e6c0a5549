// check_softmax.cpp — exercise 3: the backward of softmax over the last axis.
// Reference: central differences of the engine's softmax in f64.
#include "tutorials/exercises/check.h"

using namespace exercises;

int main() {
  Checker check("softmax");
  return check.run([&] {
    const int64_t N = 3, V = 6;
    mhc::Rng rng(12);
    const Vec x = draw(rng, N * V, 1.5);
    const Vec g = draw(rng, N * V);  // the upstream gradient ∂L/∂y
    auto loss = [&](const Vec& in) { return dot(mhc::softmax(f64(in, {N, V}), -1).to_vector<double>(), g); };
    check.compare("dL/dx", softmax_backward(x, g, N, V), central_differences(loss, x), {N, V}, "central differences",
                  kGradTolerance);
  });
}
