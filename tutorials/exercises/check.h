// check.h — what every exercise checker shares: inputs drawn from the
// engine's Rng, the engine's f64 tensors, central differences, and one
// comparison that names the input, the element and how far off it is.
//
// Tolerances. All references are computed in f64.
//   - Central differences with step h = 1e-6: the truncation error is about
//     h²·|f'''|/6 ≈ 1e-12 and the rounding error about 1e-16·|L|/h ≈ 1e-9 for
//     the losses here (|L| ≤ 10), so kGradTolerance = 1e-6 leaves a margin of
//     1000 while a wrong formula is off by 1e-2 or more.
//   - Values (a forward compared with the engine's): two f64 computations of
//     the same function that differ only in summation order agree to a few
//     units of 1e-16 times the number of terms; kValueTolerance = 1e-10.
// Errors are relative: |yours − reference| / max(1, |yours|, |reference|).
// The checkers print verdicts only ("... agrees to 1e-06: ok"), never digits
// that depend on the machine, except when something is wrong.
#pragma once
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <exception>
#include <functional>
#include <string>
#include <vector>

#include "autograd/ops.h"
#include "autograd/tensor.h"
#include "tutorials/exercises/exercises.h"

namespace exercises {

inline constexpr double kStep = 1e-6;
inline constexpr double kGradTolerance = 1e-6;
inline constexpr double kValueTolerance = 1e-10;

// Normal(0, std) values from the engine's generator: the same on every machine.
inline Vec draw(mhc::Rng& rng, int64_t count, double std = 1.0) {
  return mhc::Tensor::randn({count}, rng, std, mhc::DType::f64).to_vector<double>();
}

inline mhc::Tensor f64(const Vec& values, const mhc::Shape& shape) {
  return mhc::Tensor::from_vector(values, shape, mhc::DType::f64);
}

// ∂loss/∂x_i by central differences, for every element of x.
inline Vec central_differences(const std::function<double(const Vec&)>& loss, Vec x) {
  Vec grad(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const double saved = x[i];
    x[i] = saved + kStep;
    const double up = loss(x);
    x[i] = saved - kStep;
    const double down = loss(x);
    x[i] = saved;
    grad[i] = (up - down) / (2 * kStep);
  }
  return grad;
}

// "[r, c]" for element i of a row-major array of the given shape.
inline std::string index_of(int64_t i, const std::vector<int64_t>& shape) {
  std::vector<int64_t> idx(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    idx[d] = i % shape[d];
    i /= shape[d];
  }
  return fmt::format("[{}]", fmt::join(idx, ", "));
}

// Compares yours with reference element by element. On a mismatch prints
// which array, which element, both values and the distance, and returns false.
class Checker {
 public:
  explicit Checker(std::string exercise) : name_(std::move(exercise)) {}

  bool compare(const std::string& what, const Vec& yours, const Vec& reference, const std::vector<int64_t>& shape,
               const std::string& reference_name, double tolerance) {
    if (yours.size() != reference.size())
      return fail(fmt::format("{} has {} values; it should have {} (shape {})", what, yours.size(), reference.size(),
                              fmt::join(shape, " × ")));
    double worst = 0;
    size_t at = 0;
    for (size_t i = 0; i < yours.size(); ++i) {
      const double err =
          std::abs(yours[i] - reference[i]) / std::max({1.0, std::abs(yours[i]), std::abs(reference[i])});
      if (!(err <= worst)) {  // also catches NaN
        worst = err;
        at = i;
      }
      if (std::isnan(err)) break;
    }
    if (!(worst <= tolerance))
      return fail(fmt::format("{} is wrong at {}: yours {:.9g}, {} {:.9g} (off by {:.3g}, tolerance {:g})", what,
                              index_of(static_cast<int64_t>(at), shape), yours[at], reference_name, reference[at],
                              std::abs(yours[at] - reference[at]), tolerance));
    fmt::print("exercise_{}: {} agrees with {} to {:g}: ok\n", name_, what, reference_name, tolerance);
    return true;
  }

  // Runs body (the comparisons); a throw from the learner's code is a failure.
  int run(const std::function<void()>& body) {
    try {
      body();
    } catch (const std::exception& e) {
      fail(fmt::format("your code threw: {}", e.what()));
    }
    if (failed_) {
      fmt::print(stderr, "exercise_{0}: FAILED (your code: tutorials/exercises/stubs/{0}.cpp)\n", name_);
      return 1;
    }
    fmt::print("exercise_{}: passed\n", name_);
    return 0;
  }

 private:
  bool fail(const std::string& message) {
    std::fflush(stdout);  // the verdicts so far first, when both go to one pipe
    fmt::print(stderr, "exercise_{}: WRONG: {}\n", name_, message);
    failed_ = true;
    return false;
  }
  std::string name_;
  bool failed_ = false;
};

// Σ_i y_i R_i: the scalar whose gradient with respect to y is R (the upstream gradient).
inline double dot(const Vec& y, const Vec& R) {
  double s = 0;
  for (size_t i = 0; i < y.size(); ++i) s += y[i] * R[i];
  return s;
}

}  // namespace exercises
