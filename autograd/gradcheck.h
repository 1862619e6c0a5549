// gradcheck.h — compares backward() against central finite differences.
//
// For a function f of some inputs, the check draws a fixed random weight R
// of f's output shape and differentiates the scalar L = Σ f(x) ⊙ R:
//   analytic:  ∂L/∂x from one backward pass;
//   numeric:   (L(x + ε e_i) − L(x − ε e_i)) / 2ε for every element i.
// Use f64 inputs: with ε ≈ 1e-6 the truncation error is ~ε² and rounding
// ~1e-16/ε, so agreement to ~1e-8 is expected for smooth ops.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "autograd/tensor.h"

namespace mhc {

struct GradCheckResult {
  bool ok = true;
  double max_abs_error = 0;  // over all checked elements
  double max_rel_error = 0;  // |a − n| / max(1, |a|, |n|)
  std::string report;        // the worst element, for failure messages
};

struct GradCheckOptions {
  double eps = 1e-6;
  double tolerance = 1e-6;  // on the relative error as defined above
  uint64_t seed = 1234;
};

// `inputs` must be contiguous CPU f64 leaves; those with requires_grad set are
// checked (integer inputs such as indices just pass through). `f` may build
// views of its inputs (transpose, slice, expand) to exercise strided paths.
GradCheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& f, const std::vector<Tensor>& inputs,
                          const GradCheckOptions& options = {});

}  // namespace mhc
