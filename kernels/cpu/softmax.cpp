// softmax.cpp — CPU softmax / log-softmax over one axis and the fused
// cross-entropy loss. All use the max-shift: exp(x - max) never overflows.
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/cpu/cpu_backend.h"

namespace mhc {

using cpu::kParallelGrain;

namespace {

// One softmax "line": dim values at stride `inner`.
template <class scalar_t>
void softmax_line(const scalar_t* x, scalar_t* y, int64_t dim, int64_t stride, bool log) {
  scalar_t m = -std::numeric_limits<scalar_t>::infinity();
  for (int64_t d = 0; d < dim; ++d) m = std::max(m, x[d * stride]);
  if (m == -std::numeric_limits<scalar_t>::infinity()) m = 0;  // a fully masked line stays finite-safe
  double s = 0;
  for (int64_t d = 0; d < dim; ++d) s += std::exp(static_cast<double>(x[d * stride] - m));
  if (log) {
    const scalar_t lse = m + static_cast<scalar_t>(std::log(s));
    for (int64_t d = 0; d < dim; ++d) y[d * stride] = x[d * stride] - lse;
  } else {
    const scalar_t inv = static_cast<scalar_t>(1.0 / s);
    for (int64_t d = 0; d < dim; ++d) y[d * stride] = std::exp(x[d * stride] - m) * inv;
  }
}

template <class scalar_t>
void softmax_backward_line(const scalar_t* y, const scalar_t* gy, scalar_t* gx, int64_t dim, int64_t stride, bool log) {
  double dot = 0;
  if (log) {
    for (int64_t d = 0; d < dim; ++d) dot += gy[d * stride];
    for (int64_t d = 0; d < dim; ++d)
      gx[d * stride] = gy[d * stride] - std::exp(y[d * stride]) * static_cast<scalar_t>(dot);
  } else {
    for (int64_t d = 0; d < dim; ++d) dot += static_cast<double>(gy[d * stride]) * y[d * stride];
    for (int64_t d = 0; d < dim; ++d) gx[d * stride] = y[d * stride] * (gy[d * stride] - static_cast<scalar_t>(dot));
  }
}

}  // namespace

void CpuBackend::softmax(DType t, const void* x, void* y, int64_t outer, int64_t dim, int64_t inner, bool log) {
  dispatch_float(t, log ? "log_softmax" : "softmax", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    const scalar_t* xp = static_cast<const scalar_t*>(x);
    scalar_t* yp = static_cast<scalar_t*>(y);
    const int64_t lines = outer * inner;
#pragma omp parallel for schedule(static) if (lines * dim > kParallelGrain && lines > 1)
    for (int64_t l = 0; l < lines; ++l) {
      const int64_t o = l / inner, i = l % inner;
      const int64_t base = o * dim * inner + i;
      softmax_line(xp + base, yp + base, dim, inner, log);
    }
  });
}

void CpuBackend::softmax_backward(DType t, const void* y, const void* gy, void* gx, int64_t outer, int64_t dim,
                                  int64_t inner, bool log) {
  dispatch_float(t, log ? "log_softmax" : "softmax", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    const scalar_t* yp = static_cast<const scalar_t*>(y);
    const scalar_t* gp = static_cast<const scalar_t*>(gy);
    scalar_t* out = static_cast<scalar_t*>(gx);
    const int64_t lines = outer * inner;
#pragma omp parallel for schedule(static) if (lines * dim > kParallelGrain && lines > 1)
    for (int64_t l = 0; l < lines; ++l) {
      const int64_t o = l / inner, i = l % inner;
      const int64_t base = o * dim * inner + i;
      softmax_backward_line(yp + base, gp + base, out + base, dim, inner, log);
    }
  });
}

void CpuBackend::cross_entropy(DType t, const void* logits, const int32_t* targets, void* loss, void* lse_out,
                               int64_t rows, int64_t V, int32_t ignore_index) {
  dispatch_float(t, "cross_entropy", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    const scalar_t* x = static_cast<const scalar_t*>(logits);
    scalar_t* out = static_cast<scalar_t*>(loss);
    scalar_t* lse = static_cast<scalar_t*>(lse_out);
    int bad_row = -1;
#pragma omp parallel for schedule(static) if (rows * V > kParallelGrain && rows > 1)
    for (int64_t r = 0; r < rows; ++r) {
      const scalar_t* xr = x + r * V;
      scalar_t m = xr[0];
      for (int64_t v = 1; v < V; ++v) m = std::max(m, xr[v]);
      double s = 0;
      for (int64_t v = 0; v < V; ++v) s += std::exp(static_cast<double>(xr[v] - m));
      const double l = static_cast<double>(m) + std::log(s);
      lse[r] = static_cast<scalar_t>(l);
      const int32_t tgt = targets[r];
      if (tgt == ignore_index) {
        out[r] = 0;
      } else if (tgt < 0 || tgt >= V) {
#pragma omp critical
        bad_row = static_cast<int>(r);
        out[r] = 0;
      } else {
        out[r] = static_cast<scalar_t>(l - static_cast<double>(xr[tgt]));
      }
    }
    if (bad_row >= 0)
      throw std::out_of_range("cross_entropy: target " + std::to_string(targets[bad_row]) + " at row " +
                              std::to_string(bad_row) + " is outside [0, " + std::to_string(V) + ")");
  });
}

void CpuBackend::cross_entropy_backward(DType t, const void* logits, const int32_t* targets, const void* lse_in,
                                        const void* gloss, void* glogits, int64_t rows, int64_t V,
                                        int32_t ignore_index) {
  dispatch_float(t, "cross_entropy", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    const scalar_t* x = static_cast<const scalar_t*>(logits);
    const scalar_t* lse = static_cast<const scalar_t*>(lse_in);
    const scalar_t* g = static_cast<const scalar_t*>(gloss);
    scalar_t* gx = static_cast<scalar_t*>(glogits);
#pragma omp parallel for schedule(static) if (rows * V > kParallelGrain && rows > 1)
    for (int64_t r = 0; r < rows; ++r) {
      const scalar_t* xr = x + r * V;
      scalar_t* gr = gx + r * V;
      const int32_t tgt = targets[r];
      if (tgt == ignore_index) {
        for (int64_t v = 0; v < V; ++v) gr[v] = 0;
        continue;
      }
      const scalar_t l = lse[r];
      const scalar_t gr_scale = g[r];
      for (int64_t v = 0; v < V; ++v) gr[v] = gr_scale * std::exp(xr[v] - l);
      gr[tgt] -= gr_scale;
    }
  });
}

void CpuBackend::count_not_equal(const int32_t* x, int64_t n, int32_t value, float* out) {
  int64_t count = 0;
  for (int64_t i = 0; i < n; ++i) count += x[i] != value;
  out[0] = static_cast<float>(std::max<int64_t>(count, 1));
}

}  // namespace mhc
