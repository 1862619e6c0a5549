// norm.cpp — CPU RMSNorm forward and backward over rows of length C.
//   y = x · rstd · w,  rstd = (mean(x²) + eps)^(-1/2)
//   gx = rstd · (gy⊙w) − x · rstd³ · mean(gy⊙w⊙x)
//   gw = Σ_rows gy ⊙ x · rstd   (fixed row blocks, then the blocks in order)
// On the CPU the statistic dtype equals the data dtype (f32 or f64), and
// row sums accumulate in it (f32 rows with a vectorised reduction).
#include <cmath>
#include <vector>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/dot.h"

namespace mhc {

using cpu::kParallelGrain;

// Row reductions: f32 rows in f32 with a vectorised fixed-order sum, f64 in f64.
using cpu::dot;
using cpu::dot3;

void CpuBackend::rms_norm(DType t, const void* x, const void* w, void* y, void* rstd, int64_t rows, int64_t C,
                          float eps) {
  dispatch_float(t, "rms_norm", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    const scalar_t* xp = static_cast<const scalar_t*>(x);
    const scalar_t* wp = static_cast<const scalar_t*>(w);
    scalar_t* yp = static_cast<scalar_t*>(y);
    scalar_t* rp = static_cast<scalar_t*>(rstd);
#pragma omp parallel for schedule(static) if (rows * C > kParallelGrain && rows > 1)
    for (int64_t r = 0; r < rows; ++r) {
      const scalar_t* xr = xp + r * C;
      scalar_t* yr = yp + r * C;
      const scalar_t ss = dot(xr, xr, C);
      const scalar_t s = scalar_t(1) / std::sqrt(ss / static_cast<scalar_t>(C) + static_cast<scalar_t>(eps));
      rp[r] = s;
      if (wp)
        for (int64_t c = 0; c < C; ++c) yr[c] = xr[c] * s * wp[c];
      else
        for (int64_t c = 0; c < C; ++c) yr[c] = xr[c] * s;
    }
  });
}

void CpuBackend::rms_norm_backward(DType t, const void* x, const void* w, const void* rstd, const void* gy, void* gx,
                                   void* gw, int64_t rows, int64_t C) {
  dispatch_float(t, "rms_norm", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    const scalar_t* xp = static_cast<const scalar_t*>(x);
    const scalar_t* wp = static_cast<const scalar_t*>(w);
    const scalar_t* rp = static_cast<const scalar_t*>(rstd);
    const scalar_t* gp = static_cast<const scalar_t*>(gy);
    scalar_t* gxp = static_cast<scalar_t*>(gx);
    constexpr int64_t kRowBlock = 64;
    const int64_t nblocks = (rows + kRowBlock - 1) / kRowBlock;
    const bool want_gw = wp && gw;
    std::vector<double> partial(want_gw ? nblocks * C : 0, 0.0);
#pragma omp parallel for schedule(static) if (rows * C > kParallelGrain && nblocks > 1)
    for (int64_t b = 0; b < nblocks; ++b) {
      double* pg = want_gw ? partial.data() + b * C : nullptr;
      const int64_t end = std::min(rows, (b + 1) * kRowBlock);
      for (int64_t r = b * kRowBlock; r < end; ++r) {
        const scalar_t* xr = xp + r * C;
        const scalar_t* gr = gp + r * C;
        scalar_t* out = gxp + r * C;
        const scalar_t s = rp[r];
        const scalar_t g_dot_x = wp ? dot3(gr, xr, wp, C) : dot(gr, xr, C);
        const scalar_t k = s * s * s * g_dot_x / static_cast<scalar_t>(C);
        if (wp)
          for (int64_t c = 0; c < C; ++c) out[c] = s * gr[c] * wp[c] - xr[c] * k;
        else
          for (int64_t c = 0; c < C; ++c) out[c] = s * gr[c] - xr[c] * k;
        if (pg)
          for (int64_t c = 0; c < C; ++c) pg[c] += static_cast<double>(gr[c] * xr[c] * s);
      }
    }
    if (want_gw) {
      scalar_t* gwp = static_cast<scalar_t*>(gw);
      for (int64_t c = 0; c < C; ++c) {
        double s = 0;
        for (int64_t b = 0; b < nblocks; ++b) s += partial[b * C + c];
        gwp[c] = static_cast<scalar_t>(s);
      }
    }
  });
}

}  // namespace mhc
