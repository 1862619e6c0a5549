// sinkhorn.cpp — CPU Sinkhorn-Knopp (mHC Eq. 9) forward and its exact
// backward through all iterations, for M small n×n matrices (one per token).
//
// Matrices are processed in tiles of kLanes at a time, stored "lane-major"
// (entry i of matrix w at a[i][w]), so every arithmetic loop runs over the
// lanes and vectorises — n is tiny (≤ 8), the number of matrices is not.
//
// The backward recomputes the forward from the logits, keeping every
// intermediate matrix of the tile (2·iters + 1 of them), then walks the steps
// in reverse. For a normalisation y = x / s along an axis,
//   ∂L/∂x = (g − Σ_axis(g ⊙ y)) / s,
// and through P⁰ = exp(L − max L): ∂L/∂L = g ⊙ P⁰ (0 where the floor held).
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/fast_math.h"
#include "kernels/cpu/thread_scratch.h"
#include "kernels/sinkhorn_contract.h"

namespace mhc {

namespace {

// Entries more than kSinkhornExpFloor below a matrix's largest logit are
// floored (see backend_ops.def): e^−80 is a normal number in f32 and n·e^−80
// cannot underflow.
constexpr int kLanes = 16;  // matrices per tile (one AVX-512 vector of f32)

// Index of the j-th entry along column k (axis 0) or row k (axis 1).
template <int n, int axis>
constexpr int along(int k, int j) {
  return axis == 0 ? j * n + k : k * n + j;
}

// A tile of up to kLanes matrices, lane-major.
template <class scalar_t, int n>
struct Tile {
  static constexpr int nn = n * n;
  alignas(64) scalar_t a[nn][kLanes];

  void load(const scalar_t* src, int lanes) {  // src: `lanes` row-major n×n matrices
    for (int i = 0; i < nn; ++i)
      for (int w = 0; w < kLanes; ++w) a[i][w] = w < lanes ? src[w * nn + i] : scalar_t(0);
  }
  void store(scalar_t* dst, int lanes) const {
    for (int w = 0; w < lanes; ++w)
      for (int i = 0; i < nn; ++i) dst[w * nn + i] = a[i][w];
  }
  // P⁰ = exp(max(L − max L, −80)) per lane.
  void exp_shifted() {
    scalar_t m[kLanes];
    for (int w = 0; w < kLanes; ++w) m[w] = a[0][w];
    for (int i = 1; i < nn; ++i)
      for (int w = 0; w < kLanes; ++w) m[w] = std::max(m[w], a[i][w]);
    for (int i = 0; i < nn; ++i)
      for (int w = 0; w < kLanes; ++w) a[i][w] = cpu::exp_fast(std::max(a[i][w] - m[w], scalar_t(-kSinkhornExpFloor)));
  }
  // Writes this tile with its columns (axis 0) or rows (axis 1) normalised
  // to sum 1 into `out` (which may be *this); the reciprocal sums 1/s go to
  // inv_s[k][lane] (the backward multiplies by them).
  template <int axis>
  void normalise_into(Tile& out, scalar_t (*inv_s)[kLanes]) const {
    for (int k = 0; k < n; ++k) {
      scalar_t sum[kLanes] = {};
      for (int j = 0; j < n; ++j)
#pragma omp simd
        for (int w = 0; w < kLanes; ++w) sum[w] += a[along<n, axis>(k, j)][w];
      scalar_t* inv = inv_s[k];
#pragma omp simd
      for (int w = 0; w < kLanes; ++w) inv[w] = scalar_t(1) / sum[w];
      for (int j = 0; j < n; ++j)
#pragma omp simd
        for (int w = 0; w < kLanes; ++w) out.a[along<n, axis>(k, j)][w] = a[along<n, axis>(k, j)][w] * inv[w];
    }
  }
  // The backward of normalise_into: g ← (g − Σ_axis g ⊙ y) / s, with y this
  // step's output and inv_s its reciprocal sums.
  template <int axis>
  static void normalise_backward(Tile& g, const Tile& y, const scalar_t (*inv_s)[kLanes]) {
    for (int k = 0; k < n; ++k) {
      scalar_t dot[kLanes] = {};
      for (int j = 0; j < n; ++j)
#pragma omp simd
        for (int w = 0; w < kLanes; ++w) dot[w] += g.a[along<n, axis>(k, j)][w] * y.a[along<n, axis>(k, j)][w];
      for (int j = 0; j < n; ++j)
#pragma omp simd
        for (int w = 0; w < kLanes; ++w)
          g.a[along<n, axis>(k, j)][w] = (g.a[along<n, axis>(k, j)][w] - dot[w]) * inv_s[k][w];
    }
  }
};

template <class scalar_t, int n>
void forward_tiles(const scalar_t* L, scalar_t* P, int64_t M, int iters) {
  const int64_t tiles = (M + kLanes - 1) / kLanes;
#pragma omp parallel for schedule(static) if (M * n * n * iters > cpu::kParallelGrain)
  for (int64_t t = 0; t < tiles; ++t) {
    const int lanes = static_cast<int>(std::min<int64_t>(kLanes, M - t * kLanes));
    Tile<scalar_t, n> tile;
    scalar_t sums[n][kLanes];
    tile.load(L + t * kLanes * n * n, lanes);
    tile.exp_shifted();
    for (int it = 0; it < iters; ++it) {
      tile.template normalise_into<0>(tile, sums);  // columns
      tile.template normalise_into<1>(tile, sums);  // then rows
    }
    tile.store(P + t * kLanes * n * n, lanes);
  }
}

template <class scalar_t, int n>
void backward_tiles(const scalar_t* L, const scalar_t* G, scalar_t* GL, int64_t M, int iters) {
  constexpr int nn = n * n;
  const int64_t tiles = (M + kLanes - 1) / kLanes;
  const int steps = 2 * iters;
  // Every intermediate tile and its reciprocal sums, per thread, reused across its tiles.
  cpu::ThreadScratch<Tile<scalar_t, n>> state_scratch(steps + 1);
  cpu::ThreadScratch<scalar_t> sums_scratch(static_cast<size_t>(steps) * n * kLanes);
#pragma omp parallel if (M * n * n * iters > cpu::kParallelGrain)
  {
    Tile<scalar_t, n>* states = state_scratch.get();
    scalar_t* sums_buf = sums_scratch.get();
    auto sums = [&](int step) { return reinterpret_cast<scalar_t(*)[kLanes]>(sums_buf + step * n * kLanes); };
#pragma omp for schedule(static)
    for (int64_t t = 0; t < tiles; ++t) {
      const int lanes = static_cast<int>(std::min<int64_t>(kLanes, M - t * kLanes));
      Tile<scalar_t, n> logits;
      logits.load(L + t * kLanes * nn, lanes);
      // Recompute the forward, keeping every state.
      states[0] = logits;
      states[0].exp_shifted();
      for (int step = 0; step < steps; ++step) {
        if (step % 2 == 0)
          states[step].template normalise_into<0>(states[step + 1], sums(step));
        else
          states[step].template normalise_into<1>(states[step + 1], sums(step));
      }
      // Walk back: g holds ∂L/∂(state after `step`).
      Tile<scalar_t, n> g;
      g.load(G + t * kLanes * nn, lanes);
      for (int step = steps - 1; step >= 0; --step) {
        if (step % 2 == 0)
          Tile<scalar_t, n>::template normalise_backward<0>(g, states[step + 1], sums(step));
        else
          Tile<scalar_t, n>::template normalise_backward<1>(g, states[step + 1], sums(step));
      }
      // Through the exponential (the max shift has no effect on the output).
      scalar_t m[kLanes];
      for (int w = 0; w < kLanes; ++w) m[w] = logits.a[0][w];
      for (int i = 1; i < nn; ++i)
        for (int w = 0; w < kLanes; ++w) m[w] = std::max(m[w], logits.a[i][w]);
      // `omp simd` is not optional here: without it GCC 12 (-O3, AVX-512, f64,
      // n ≤ 4) vectorised this nest so that a floored entry of one lane also
      // zeroed the same entry of the lane 8 further on (caught by the test
      // against sinkhorn_reference.cpp).
      for (int i = 0; i < nn; ++i)
#pragma omp simd
        for (int w = 0; w < kLanes; ++w)
          g.a[i][w] =
              logits.a[i][w] - m[w] > scalar_t(-kSinkhornExpFloor) ? g.a[i][w] * states[0].a[i][w] : scalar_t(0);
      g.store(GL + t * kLanes * nn, lanes);
    }
  }
}

}  // namespace

void CpuBackend::sinkhorn(DType t, const void* logits, void* out, int64_t M, int64_t n, int iters) {
  check_sinkhorn_args("sinkhorn", n, iters);
  dispatch_float(t, "sinkhorn", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    with_sinkhorn_n(n, [&](auto nc) {
      forward_tiles<scalar_t, decltype(nc)::value>(static_cast<const scalar_t*>(logits), static_cast<scalar_t*>(out), M,
                                                   iters);
    });
  });
}

void CpuBackend::sinkhorn_backward(DType t, const void* logits, const void* grad_out, void* grad_logits, int64_t M,
                                   int64_t n, int iters) {
  check_sinkhorn_args("sinkhorn", n, iters);
  dispatch_float(t, "sinkhorn", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    with_sinkhorn_n(n, [&](auto nc) {
      backward_tiles<scalar_t, decltype(nc)::value>(static_cast<const scalar_t*>(logits),
                                                    static_cast<const scalar_t*>(grad_out),
                                                    static_cast<scalar_t*>(grad_logits), M, iters);
    });
  });
}

}  // namespace mhc
