// check_rms_norm.cpp — exercise 2: the backward of RMSNorm (both inputs).
// Reference: central differences of the engine's rms_norm in f64.
#include "tutorials/exercises/check.h"

using namespace exercises;

int main() {
  Checker check("rms_norm");
  return check.run([&] {
    const int64_t N = 3, C = 5;
    const double eps = 1e-6;
    mhc::Rng rng(13);
    const Vec x = draw(rng, N * C), w = draw(rng, C), g = draw(rng, N * C);
    auto y = [&](const Vec& xv, const Vec& wv) {
      return mhc::rms_norm(f64(xv, {N, C}), f64(wv, {C}), eps).to_vector<double>();
    };
    Vec dx, dw;
    rms_norm_backward(x, w, g, N, C, eps, dx, dw);
    check.compare("dL/dx", dx, central_differences([&](const Vec& v) { return dot(y(v, w), g); }, x), {N, C},
                  "central differences", kGradTolerance);
    check.compare("dL/dw", dw, central_differences([&](const Vec& v) { return dot(y(x, v), g); }, w), {C},
                  "central differences", kGradTolerance);
  });
}
