// sinkhorn_convergence.cpp — tutorial 03: the Sinkhorn-Knopp iteration of
// mHC Eq. 9, step by step: how fast rows and columns approach sum 1, and the
// exact backward through all iterations against finite differences.
#include <fmt/core.h>

#include <cmath>
#include <stdexcept>

#include "autograd/gradcheck.h"
#include "autograd/ops.h"
#include "autograd/tape.h"

using namespace mhc;

namespace {

// Max |row sum − 1| and max |column sum − 1| of one n×n matrix.
std::pair<double, double> errors(const std::vector<double>& P, int n) {
  double r = 0, c = 0;
  for (int i = 0; i < n; ++i) {
    double rs = 0, cs = 0;
    for (int j = 0; j < n; ++j) {
      rs += P[i * n + j];
      cs += P[j * n + i];
    }
    r = std::max(r, std::abs(rs - 1));
    c = std::max(c, std::abs(cs - 1));
  }
  return {r, c};
}

void print_matrix(const char* title, const std::vector<double>& P, int n) {
  fmt::print("{}\n", title);
  for (int i = 0; i < n; ++i) {
    fmt::print("  [");
    for (int j = 0; j < n; ++j) fmt::print("{}{:.4f}", j ? "  " : "", P[i * n + j]);
    fmt::print("]\n");
  }
}

}  // namespace

int main() {
  const int n = 4;
  Rng rng(7);
  double col_1 = 0, col_20 = 0;
  {
    NoGradGuard no_grad;  // forward only in this part
    Tensor logits = Tensor::randn({1, n, n}, rng, 1.0, DType::f64);
    print_matrix("logits H̃_res:", logits.to_vector<double>(), n);
    const std::vector<double> p0 = exp(logits - max(max(logits, -1), -1).item()).to_vector<double>();
    print_matrix("\nexp(H̃_res − max):", p0, n);

    fmt::print("\niterations t | max |row sum − 1| | max |col sum − 1|\n");
    fmt::print("-------------+-------------------+------------------\n");
    for (int t : {0, 1, 2, 3, 5, 10, 20, 40}) {
      // t = 0 is P⁰ itself (the op needs at least one iteration).
      auto [re, ce] = errors(t == 0 ? p0 : sinkhorn(logits, t).to_vector<double>(), n);
      fmt::print("{:>12} | {:>17.3e} | {:>16.3e}\n", t, re, ce);
      if (t == 1) col_1 = ce;
      if (t == 20) col_20 = ce;
    }
    print_matrix("\nH_res = Sinkhorn(H̃_res), t_max = 20:", sinkhorn(logits, 20).to_vector<double>(), n);

    // Larger logits converge more slowly: the matrix is further from uniform.
    fmt::print("\ncolumn error after 20 iterations, by logit scale:\n");
    for (double scale : {0.1, 1.0, 3.0, 10.0}) {
      Tensor L = Tensor::randn({256, n, n}, rng, scale, DType::f64);
      auto P = sinkhorn(L, 20).to_vector<double>();
      double worst = 0;
      for (int m = 0; m < 256; ++m)
        worst =
            std::max(worst, errors(std::vector<double>(P.begin() + m * n * n, P.begin() + (m + 1) * n * n), n).second);
      // Below 1e-12 the error is f64 rounding (its digits depend on FMA
      // contraction and -march): say so instead of printing them.
      if (worst < 1e-12)
        fmt::print("  std {:>5.1f}: below 1e-12 (f64 rounding)\n", scale);
      else
        fmt::print("  std {:>5.1f}: {:.3e}\n", scale, worst);
    }
  }

  // The backward: one tape node for all 40 normalisations.
  fmt::print("\nbackward through all 20 iterations vs central differences (f64):\n");
  Tensor L = Tensor::randn({2, n, n}, rng, 1.0, DType::f64).set_requires_grad(true);
  const GradCheckResult r = gradcheck([](const std::vector<Tensor>& in) { return sinkhorn(in[0], 20); }, {L});
  fmt::print("  max relative error {:.2e} -> {}\n", r.max_rel_error, r.ok ? "ok" : "FAILED");
  if (!r.ok || !(col_20 < col_1)) throw std::runtime_error("tutorial check failed");
  return 0;
}
