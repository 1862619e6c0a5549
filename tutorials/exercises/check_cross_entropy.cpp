// check_cross_entropy.cpp — exercise 1: the backward of mean cross-entropy.
// Reference: central differences of the engine's cross_entropy in f64.
#include "tutorials/exercises/check.h"

using namespace exercises;

int main() {
  Checker check("cross_entropy");
  return check.run([&] {
    const int64_t N = 4, V = 5;
    mhc::Rng rng(11);
    const Vec z = draw(rng, N * V, 2.0);
    const std::vector<int32_t> t = {0, 3, 4, 1};
    const double g = 0.7;  // the upstream gradient of the scalar loss
    const mhc::Tensor targets = mhc::Tensor::from_ints(t, {N});
    auto loss = [&](const Vec& logits) { return g * mhc::cross_entropy(f64(logits, {N, V}), targets).item(); };
    check.compare("dL/dlogits", cross_entropy_backward(z, t, N, V, g), central_differences(loss, z), {N, V},
                  "central differences", kGradTolerance);
  });
}
