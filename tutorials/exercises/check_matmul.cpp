// check_matmul.cpp — exercise 4: the backward of Y = A B (both inputs).
// Reference: central differences of the engine's matmul in f64.
#include "tutorials/exercises/check.h"

using namespace exercises;

int main() {
  Checker check("matmul");
  return check.run([&] {
    const int64_t M = 3, K = 4, N = 2;  // not square, so that a transpose in the wrong place shows
    mhc::Rng rng(14);
    const Vec A = draw(rng, M * K), B = draw(rng, K * N), g = draw(rng, M * N);
    auto y = [&](const Vec& a, const Vec& b) {
      return mhc::matmul(f64(a, {M, K}), f64(b, {K, N})).to_vector<double>();
    };
    Vec dA, dB;
    matmul_backward(A, B, g, M, K, N, dA, dB);
    check.compare("dL/dA", dA, central_differences([&](const Vec& v) { return dot(y(v, B), g); }, A), {M, K},
                  "central differences", kGradTolerance);
    check.compare("dL/dB", dB, central_differences([&](const Vec& v) { return dot(y(A, v), g); }, B), {K, N},
                  "central differences", kGradTolerance);
  });
}
