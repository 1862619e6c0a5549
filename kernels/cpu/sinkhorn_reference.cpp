// sinkhorn_reference.cpp — the plain Sinkhorn-Knopp loops (see the header).
//
// The forward does what the tuned kernel does in the same order — the max
// over the matrix, exp of the floored shift, each sum over j = 0…n−1, then a
// multiply by 1/s — so its f64 output is bit-identical to the tuned kernel's
// f64 output (which calls std::exp too). The backward divides by s, as the
// formula reads; it agrees with the tuned backward to rounding.
#include "kernels/cpu/sinkhorn_reference.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "kernels/sinkhorn_contract.h"

namespace mhc::cpu {

namespace {

// Position of the j-th entry of column k (axis 0) or of row k (axis 1).
int64_t along(int axis, int64_t n, int64_t k, int64_t j) { return axis == 0 ? j * n + k : k * n + j; }

int64_t matrix_count(const std::vector<double>& v, int64_t n, const char* what) {
  if (v.size() % static_cast<size_t>(n * n) != 0)
    throw std::invalid_argument(std::string("sinkhorn_reference: ") + what + " holds " + std::to_string(v.size()) +
                                " values, not a whole number of " + std::to_string(n) + "×" + std::to_string(n) +
                                " matrices");
  return static_cast<int64_t>(v.size()) / (n * n);
}

// P⁰ = exp(max(L − max L, −80)) for one matrix; returns max L.
double exp_shifted(const double* L, double* P, int64_t n) {
  double m = L[0];
  for (int64_t i = 1; i < n * n; ++i) m = std::max(m, L[i]);
  for (int64_t i = 0; i < n * n; ++i) P[i] = std::exp(std::max(L[i] - m, -double(kSinkhornExpFloor)));
  return m;
}

// Divides every column (axis 0) or row (axis 1) of P by its sum; s[k] keeps the k-th sum.
void normalise(double* P, double* s, int64_t n, int axis) {
  for (int64_t k = 0; k < n; ++k) {
    double sum = 0;
    for (int64_t j = 0; j < n; ++j) sum += P[along(axis, n, k, j)];
    const double inv = 1.0 / sum;
    for (int64_t j = 0; j < n; ++j) P[along(axis, n, k, j)] *= inv;
    s[k] = sum;
  }
}

}  // namespace

std::vector<double> sinkhorn_reference(const std::vector<double>& logits, int64_t n, int iters) {
  check_sinkhorn_args("sinkhorn_reference", n, iters);
  const int64_t M = matrix_count(logits, n, "logits"), nn = n * n;
  std::vector<double> P(logits.size()), s(n);
  for (int64_t m = 0; m < M; ++m) {
    double* p = P.data() + m * nn;
    exp_shifted(logits.data() + m * nn, p, n);  // P⁰
    for (int it = 0; it < iters; ++it) {
      normalise(p, s.data(), n, 0);  // T_c: columns sum to 1
      normalise(p, s.data(), n, 1);  // T_r: rows sum to 1, last
    }
  }
  return P;
}

std::vector<double> sinkhorn_reference_backward(const std::vector<double>& logits, const std::vector<double>& grad_out,
                                                int64_t n, int iters) {
  check_sinkhorn_args("sinkhorn_reference_backward", n, iters);
  const int64_t M = matrix_count(logits, n, "logits"), nn = n * n;
  if (grad_out.size() != logits.size())
    throw std::invalid_argument("sinkhorn_reference_backward: grad_out holds " + std::to_string(grad_out.size()) +
                                " values, the logits " + std::to_string(logits.size()));
  std::vector<double> grad(logits.size());
  std::vector<double> states((2 * iters + 1) * nn);  // P⁰ and the matrix after each of the 2·iters steps
  std::vector<double> sums(2 * iters * n);           // the n sums each step divided by
  for (int64_t m = 0; m < M; ++m) {
    const double* L = logits.data() + m * nn;
    // The forward again, keeping every state.
    const double max_logit = exp_shifted(L, states.data(), n);
    for (int step = 0; step < 2 * iters; ++step) {
      std::copy_n(states.data() + step * nn, nn, states.data() + (step + 1) * nn);
      normalise(states.data() + (step + 1) * nn, sums.data() + step * n, n, step % 2);
    }
    // g = ∂L/∂(state after `step`), walked back to ∂L/∂P⁰.
    double* g = grad.data() + m * nn;
    std::copy_n(grad_out.data() + m * nn, nn, g);
    for (int step = 2 * iters - 1; step >= 0; --step) {
      const int axis = step % 2;  // 0: columns, 1: rows
      const double* y = states.data() + (step + 1) * nn;
      const double* s = sums.data() + step * n;
      for (int64_t k = 0; k < n; ++k) {  // y = x / s along the k-th column (or row)
        double dot = 0;
        for (int64_t j = 0; j < n; ++j) dot += g[along(axis, n, k, j)] * y[along(axis, n, k, j)];
        for (int64_t j = 0; j < n; ++j) g[along(axis, n, k, j)] = (g[along(axis, n, k, j)] - dot) / s[k];
      }
    }
    // Through P⁰ = exp(L − max L): ∂/∂L = g ⊙ P⁰, and 0 where the floor held.
    for (int64_t i = 0; i < nn; ++i) g[i] = L[i] - max_logit > -kSinkhornExpFloor ? g[i] * states[i] : 0.0;
  }
  return grad;
}

}  // namespace mhc::cpu
