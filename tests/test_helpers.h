// test_helpers.h — small utilities shared by the test files.
#pragma once
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "autograd/gradcheck.h"
#include "autograd/ops.h"
#include "autograd/tape.h"

namespace mhc::test {

// A random f64 CPU leaf that requires grad.
inline Tensor leaf(const Shape& shape, Rng& rng, double scale = 1.0) {
  return Tensor::randn(shape, rng, scale, DType::f64).set_requires_grad(true);
}

// Checks f's gradients against finite differences and prints the worst element on failure.
inline void require_gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& f,
                              const std::vector<Tensor>& inputs, double tol = 1e-6, double eps = 1e-6) {
  GradCheckOptions opt;
  opt.tolerance = tol;
  opt.eps = eps;
  const GradCheckResult r = gradcheck(f, inputs, opt);
  INFO(r.report);
  INFO("max relative error " << r.max_rel_error);
  REQUIRE(r.ok);
}

inline double max_abs_diff(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  const auto va = a.to_vector<double>(), vb = b.to_vector<double>();
  double m = 0;
  for (size_t i = 0; i < va.size(); ++i) m = std::max(m, std::abs(va[i] - vb[i]));
  return m;
}

}  // namespace mhc::test
