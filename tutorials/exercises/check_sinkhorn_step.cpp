// check_sinkhorn_step.cpp — exercise 5: one Sinkhorn-Knopp normalisation
// step (mHC Eq. 9, t_max = 1), forward and backward. References: the
// engine's sinkhorn(logits, 1) in f64 and its central differences.
#include "tutorials/exercises/check.h"

using namespace exercises;

int main() {
  Checker check("sinkhorn_step");
  return check.run([&] {
    const int64_t n = 4;
    mhc::Rng rng(15);
    const Vec logits = draw(rng, n * n), g = draw(rng, n * n);
    auto engine = [&](const Vec& l) { return mhc::sinkhorn(f64(l, {n, n}), 1).to_vector<double>(); };
    check.compare("the forward S", sinkhorn_step_forward(logits, n), engine(logits), {n, n},
                  "the engine's sinkhorn(logits, 1)", kValueTolerance);
    check.compare("dL/dlogits", sinkhorn_step_backward(logits, g, n),
                  central_differences([&](const Vec& l) { return dot(engine(l), g); }, logits), {n, n},
                  "central differences", kGradTolerance);
  });
}
