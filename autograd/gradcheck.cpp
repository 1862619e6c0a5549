// gradcheck.cpp — central finite differences against the tape; see the header.
#include "autograd/gradcheck.h"

#include <fmt/format.h>

#include <cmath>

#include "autograd/ops.h"
#include "autograd/tape.h"

namespace mhc {

GradCheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& f, const std::vector<Tensor>& inputs,
                          const GradCheckOptions& opt) {
  for (const Tensor& t : inputs) {
    if (t.device() != Device::cpu || !t.is_contiguous() || !t.is_leaf())
      throw std::invalid_argument("gradcheck: inputs must be contiguous CPU leaves");
    if (t.requires_grad() && t.dtype() != DType::f64)
      throw std::invalid_argument("gradcheck: differentiable inputs must be f64, got " + t.describe());
  }
  // The projection weight R, fixed for the whole check.
  Tensor out0;
  {
    NoGradGuard no_grad;
    out0 = f(inputs);
  }
  Rng rng(opt.seed);
  const Tensor R = Tensor::randn(out0.shape(), rng, 1.0, out0.dtype(), out0.device());
  auto loss = [&](const std::vector<Tensor>& in) { return sum(mul(f(in), R)); };

  for (const Tensor& t : inputs) t.zero_grad();
  loss(inputs).backward();

  GradCheckResult result;
  for (size_t k = 0; k < inputs.size(); ++k) {
    const Tensor& x = inputs[k];
    if (!x.requires_grad()) continue;
    const Tensor grad = x.grad();
    std::vector<double> analytic = grad.defined() ? grad.to_vector<double>() : std::vector<double>(x.numel(), 0.0);
    double* data = x.data<double>();
    NoGradGuard no_grad;
    for (int64_t i = 0; i < x.numel(); ++i) {
      const double saved = data[i];
      data[i] = saved + opt.eps;
      const double lp = loss(inputs).item();
      data[i] = saved - opt.eps;
      const double lm = loss(inputs).item();
      data[i] = saved;
      const double numeric = (lp - lm) / (2 * opt.eps);
      const double abs_err = std::abs(analytic[i] - numeric);
      const double rel_err = abs_err / std::max({1.0, std::abs(analytic[i]), std::abs(numeric)});
      result.max_abs_error = std::max(result.max_abs_error, abs_err);
      if (rel_err > result.max_rel_error) {
        result.max_rel_error = rel_err;
        result.report = fmt::format("input {} {} element {}: analytic {:.10g}, numeric {:.10g}", k, x.shape().str(), i,
                                    analytic[i], numeric);
      }
    }
  }
  result.ok = result.max_rel_error <= opt.tolerance;
  return result;
}

}  // namespace mhc
