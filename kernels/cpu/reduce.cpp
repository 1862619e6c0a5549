// reduce.cpp — CPU sum over the middle axis of (outer, reduce, inner).
// Each output adds its inputs in index order (f32 inputs accumulate in f64),
// and long single reductions are cut into fixed 4096-element blocks whose
// partial sums are then added in order: results never depend on thread count.
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/cpu/cpu_backend.h"

namespace mhc {

using cpu::kParallelGrain;

namespace {

template <class scalar_t>
void sum_impl(const scalar_t* x, scalar_t* y, int64_t outer, int64_t reduce, int64_t inner) {
  if (inner == 1) {
    if (outer == 1 && reduce > 2 * 4096) {
      // One long sum: fixed blocks in parallel, then the block sums in order.
      constexpr int64_t kBlock = 4096;
      const int64_t nblocks = (reduce + kBlock - 1) / kBlock;
      std::vector<double> partial(nblocks);
#pragma omp parallel for schedule(static)
      for (int64_t b = 0; b < nblocks; ++b) {
        double s = 0;
        const int64_t end = std::min(reduce, (b + 1) * kBlock);
        for (int64_t i = b * kBlock; i < end; ++i) s += x[i];
        partial[b] = s;
      }
      double s = 0;
      for (double p : partial) s += p;
      y[0] = static_cast<scalar_t>(s);
      return;
    }
#pragma omp parallel for schedule(static) if (outer * reduce > kParallelGrain && outer > 1)
    for (int64_t o = 0; o < outer; ++o) {
      const scalar_t* xo = x + o * reduce;
      double s = 0;
      for (int64_t r = 0; r < reduce; ++r) s += xo[r];
      y[o] = static_cast<scalar_t>(s);
    }
    return;
  }
  // inner > 1: walk the reduced axis outermost so the inner loop is unit-stride.
  // Parallel over (outer, inner-chunk) pairs; each output's order is fixed.
  constexpr int64_t kChunk = 256;
  const int64_t chunks = (inner + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) if (outer * reduce * inner > kParallelGrain && outer * chunks > 1)
  for (int64_t oc = 0; oc < outer * chunks; ++oc) {
    const int64_t o = oc / chunks, c0 = (oc % chunks) * kChunk;
    const int64_t len = std::min(kChunk, inner - c0);
    double acc[kChunk];
    for (int64_t i = 0; i < len; ++i) acc[i] = 0;
    const scalar_t* xo = x + o * reduce * inner + c0;
    for (int64_t r = 0; r < reduce; ++r) {
      const scalar_t* xr = xo + r * inner;
      for (int64_t i = 0; i < len; ++i) acc[i] += xr[i];
    }
    scalar_t* yo = y + o * inner + c0;
    for (int64_t i = 0; i < len; ++i) yo[i] = static_cast<scalar_t>(acc[i]);
  }
}

}  // namespace

void CpuBackend::sum(DType t, const void* x, void* y, int64_t outer, int64_t reduce, int64_t inner) {
  dispatch_float(t, "sum", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    sum_impl(static_cast<const scalar_t*>(x), static_cast<scalar_t*>(y), outer, reduce, inner);
  });
}

}  // namespace mhc
