// cuda_softmax.cu — softmax / log-softmax over one axis and the fused
// cross-entropy loss, with their backward passes. All use the max-shift:
// exp(x − max) never overflows.
//
// Thread mapping:
//   * softmax over the last axis (inner == 1) and cross-entropy: one block
//     per row (grid-stride over rows). Three passes over the row, each thread
//     taking elements t, t + B, t + 2B, ...: the max (block_max), the sum of
//     exp(x − max) (block_sum, a fixed tree), then the outputs. B is picked
//     from the row length (32, 128 or 512 threads), so the summation order is
//     fixed by the shape. Shared memory: B / 32 floats for the reductions.
//     The row is re-read from global memory each pass (it stays in L2).
//   * softmax over an inner axis (inner > 1): one thread per line (o, i);
//     neighbouring threads handle neighbouring i, so each step over the
//     softmax axis is a coalesced read.
//   * cross-entropy backward: elementwise given the saved log-sum-exp; a 2-D
//     grid (rows on y, the vocabulary on x) with no reduction at all.
// Arithmetic is f32 for f32 and bf16 storage; lse is stored in f32.
#include "kernels/cuda/cuda_helpers.cuh"
#include "kernels/cuda/cuda_profile.h"

namespace mhc {

using namespace cuda;

namespace {

template <int kT, class T>
__global__ void __launch_bounds__(kT) softmax_rows_kernel(const T* x, T* y, int64_t rows, int64_t dim, bool log) {
  __shared__ float scratch[kT / 32];
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const T* xr = x + row * dim;
    T* yr = y + row * dim;
    float m = -INFINITY;
    for (int64_t d = threadIdx.x; d < dim; d += kT) m = fmaxf(m, to_float(xr[d]));
    m = block_max<kT>(m, scratch);
    if (m == -INFINITY) m = 0.f;  // a fully masked row stays finite-safe (as on the CPU)
    float s = 0.f;
    for (int64_t d = threadIdx.x; d < dim; d += kT) s += expf(to_float(xr[d]) - m);
    s = block_sum<kT>(s, scratch);
    if (log) {
      const float lse = m + logf(s);
      for (int64_t d = threadIdx.x; d < dim; d += kT) yr[d] = from_float<T>(to_float(xr[d]) - lse);
    } else {
      const float inv = 1.f / s;
      for (int64_t d = threadIdx.x; d < dim; d += kT) yr[d] = from_float<T>(expf(to_float(xr[d]) - m) * inv);
    }
  }
}

template <class T>
__global__ void softmax_lines_kernel(const T* x, T* y, int64_t outer, int64_t dim, int64_t inner, bool log) {
  const int64_t lines = outer * inner;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t l = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; l < lines; l += stride) {
    const int64_t o = l / inner, i = l % inner;
    const T* xl = x + o * dim * inner + i;
    T* yl = y + o * dim * inner + i;
    float m = -INFINITY;
    for (int64_t d = 0; d < dim; ++d) m = fmaxf(m, to_float(xl[d * inner]));
    if (m == -INFINITY) m = 0.f;
    float s = 0.f;
    for (int64_t d = 0; d < dim; ++d) s += expf(to_float(xl[d * inner]) - m);
    if (log) {
      const float lse = m + logf(s);
      for (int64_t d = 0; d < dim; ++d) yl[d * inner] = from_float<T>(to_float(xl[d * inner]) - lse);
    } else {
      const float inv = 1.f / s;
      for (int64_t d = 0; d < dim; ++d) yl[d * inner] = from_float<T>(expf(to_float(xl[d * inner]) - m) * inv);
    }
  }
}

// softmax:      gx = y ⊙ (gy − Σ gy⊙y)
// log-softmax:  gx = gy − exp(y) · Σ gy
template <int kT, class T>
__global__ void __launch_bounds__(kT)
    softmax_backward_rows_kernel(const T* y, const T* gy, T* gx, int64_t rows, int64_t dim, bool log) {
  __shared__ float scratch[kT / 32];
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const T* yr = y + row * dim;
    const T* gr = gy + row * dim;
    T* out = gx + row * dim;
    float dot = 0.f;
    for (int64_t d = threadIdx.x; d < dim; d += kT) dot += log ? to_float(gr[d]) : to_float(gr[d]) * to_float(yr[d]);
    dot = block_sum<kT>(dot, scratch);
    for (int64_t d = threadIdx.x; d < dim; d += kT) {
      const float yv = to_float(yr[d]), gv = to_float(gr[d]);
      out[d] = from_float<T>(log ? gv - expf(yv) * dot : yv * (gv - dot));
    }
  }
}

template <class T>
__global__ void softmax_backward_lines_kernel(const T* y, const T* gy, T* gx, int64_t outer, int64_t dim, int64_t inner,
                                              bool log) {
  const int64_t lines = outer * inner;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t l = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; l < lines; l += stride) {
    const int64_t base = (l / inner) * dim * inner + l % inner;
    float dot = 0.f;
    for (int64_t d = 0; d < dim; ++d) {
      const int64_t e = base + d * inner;
      dot += log ? to_float(gy[e]) : to_float(gy[e]) * to_float(y[e]);
    }
    for (int64_t d = 0; d < dim; ++d) {
      const int64_t e = base + d * inner;
      const float yv = to_float(y[e]), gv = to_float(gy[e]);
      gx[e] = from_float<T>(log ? gv - expf(yv) * dot : yv * (gv - dot));
    }
  }
}

// loss[r] = logsumexp(x[r]) − x[r, target[r]]; 0 when ignored; NaN when the
// target is out of range. lse[r] (f32) is always written.
template <int kT, class T>
__global__ void __launch_bounds__(kT) cross_entropy_kernel(const T* logits, const int32_t* targets, T* loss, float* lse,
                                                           int64_t rows, int64_t V, int32_t ignore_index) {
  __shared__ float scratch[kT / 32];
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const T* xr = logits + row * V;
    float m = -INFINITY;
    for (int64_t v = threadIdx.x; v < V; v += kT) m = fmaxf(m, to_float(xr[v]));
    m = block_max<kT>(m, scratch);
    float s = 0.f;
    for (int64_t v = threadIdx.x; v < V; v += kT) s += expf(to_float(xr[v]) - m);
    s = block_sum<kT>(s, scratch);
    if (threadIdx.x == 0) {
      const float l = m + logf(s);
      lse[row] = l;
      const int32_t tgt = targets[row];
      float out;
      if (tgt == ignore_index)
        out = 0.f;
      else if (tgt < 0 || tgt >= V)
        out = NAN;
      else
        out = l - to_float(xr[tgt]);
      loss[row] = from_float<T>(out);
    }
  }
}

// glogits[r, v] = gloss[r] · (exp(x − lse) − [v == target]); 0 for ignored rows.
template <class T>
__global__ void cross_entropy_backward_kernel(const T* logits, const int32_t* targets, const float* lse, const T* gloss,
                                              T* glogits, int64_t rows, int64_t V, int32_t ignore_index) {
  const int64_t vstride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t row = blockIdx.y; row < rows; row += gridDim.y) {
    const int32_t tgt = targets[row];
    const bool ignored = tgt == ignore_index;
    const bool bad = !ignored && (tgt < 0 || tgt >= V);
    const float l = lse[row], g = to_float(gloss[row]);
    const T* xr = logits + row * V;
    T* gr = glogits + row * V;
    for (int64_t v = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; v < V; v += vstride) {
      float out;
      if (ignored)
        out = 0.f;
      else if (bad)
        out = NAN;
      else {
        out = g * expf(to_float(xr[v]) - l);
        if (v == tgt) out -= g;
      }
      gr[v] = from_float<T>(out);
    }
  }
}

}  // namespace

void CudaBackend::softmax(DType t, const void* x, void* y, int64_t outer, int64_t dim, int64_t inner, bool log) {
  cuda_contract::softmax(t, x, y, outer, dim, inner, log);
  MHC_CUDA_PROFILE("softmax");
  dispatch_f32_bf16(t, log ? "log_softmax" : "softmax", [&](auto tag) {
    using T = decltype(tag);
    const T* xp = static_cast<const T*>(x);
    T* yp = static_cast<T*>(y);
    if (outer * dim * inner == 0) return;
    if (inner == 1) {
      with_row_block(dim, [&](auto threads) {
        constexpr int kT = decltype(threads)::value;
        softmax_rows_kernel<kT><<<row_grid(outer), kT>>>(xp, yp, outer, dim, log);
        MHC_CUDA_CHECK_LAUNCH();
      });
    } else {
      softmax_lines_kernel<<<grid_for(outer * inner, kThreads), kThreads>>>(xp, yp, outer, dim, inner, log);
      MHC_CUDA_CHECK_LAUNCH();
    }
  });
}

void CudaBackend::softmax_backward(DType t, const void* y, const void* gy, void* gx, int64_t outer, int64_t dim,
                                   int64_t inner, bool log) {
  cuda_contract::softmax_backward(t, y, gy, gx, outer, dim, inner, log);
  MHC_CUDA_PROFILE("softmax_backward");
  dispatch_f32_bf16(t, log ? "log_softmax" : "softmax", [&](auto tag) {
    using T = decltype(tag);
    const T* yp = static_cast<const T*>(y);
    const T* gp = static_cast<const T*>(gy);
    T* out = static_cast<T*>(gx);
    if (outer * dim * inner == 0) return;
    if (inner == 1) {
      with_row_block(dim, [&](auto threads) {
        constexpr int kT = decltype(threads)::value;
        softmax_backward_rows_kernel<kT><<<row_grid(outer), kT>>>(yp, gp, out, outer, dim, log);
        MHC_CUDA_CHECK_LAUNCH();
      });
    } else {
      softmax_backward_lines_kernel<<<grid_for(outer * inner, kThreads), kThreads>>>(yp, gp, out, outer, dim, inner,
                                                                                     log);
      MHC_CUDA_CHECK_LAUNCH();
    }
  });
}

void CudaBackend::cross_entropy(DType t, const void* logits, const int32_t* targets, void* loss, void* lse,
                                int64_t rows, int64_t V, int32_t ignore_index) {
  cuda_contract::cross_entropy(t, logits, targets, loss, lse, rows, V, ignore_index);
  MHC_CUDA_PROFILE("cross_entropy");
  dispatch_f32_bf16(t, "cross_entropy", [&](auto tag) {
    using T = decltype(tag);
    if (rows == 0) return;
    with_row_block(V, [&](auto threads) {
      constexpr int kT = decltype(threads)::value;
      cross_entropy_kernel<kT><<<row_grid(rows), kT>>>(static_cast<const T*>(logits), targets, static_cast<T*>(loss),
                                                       static_cast<float*>(lse), rows, V, ignore_index);
      MHC_CUDA_CHECK_LAUNCH();
    });
  });
}

namespace {
// One block counts with a fixed striding and a fixed tree: exact (integers),
// and no atomics.
__global__ void count_not_equal_kernel(const int32_t* x, int64_t n, int32_t value, float* out) {
  __shared__ int64_t partial[kThreads];
  int64_t c = 0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) c += x[i] != value;
  partial[threadIdx.x] = c;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s /= 2) {
    if (static_cast<int>(threadIdx.x) < s) partial[threadIdx.x] += partial[threadIdx.x + s];
    __syncthreads();
  }
  if (threadIdx.x == 0) out[0] = static_cast<float>(partial[0] > 0 ? partial[0] : 1);
}
}  // namespace

void CudaBackend::count_not_equal(const int32_t* x, int64_t n, int32_t value, float* out) {
  cuda_contract::count_not_equal(x, n, value, out);
  MHC_CUDA_PROFILE("count_not_equal");
  count_not_equal_kernel<<<1, kThreads>>>(x, n, value, out);
  MHC_CUDA_CHECK_LAUNCH();
}

void CudaBackend::cross_entropy_backward(DType t, const void* logits, const int32_t* targets, const void* lse,
                                         const void* gloss, void* glogits, int64_t rows, int64_t V,
                                         int32_t ignore_index) {
  cuda_contract::cross_entropy_backward(t, logits, targets, lse, gloss, glogits, rows, V, ignore_index);
  MHC_CUDA_PROFILE("cross_entropy_backward");
  dispatch_f32_bf16(t, "cross_entropy", [&](auto tag) {
    using T = decltype(tag);
    if (rows * V == 0) return;
    const dim3 grid(grid_for(V, kThreads, 64), static_cast<unsigned>(std::min<int64_t>(rows, 65535)));
    cross_entropy_backward_kernel<<<grid, kThreads>>>(static_cast<const T*>(logits), targets,
                                                      static_cast<const float*>(lse), static_cast<const T*>(gloss),
                                                      static_cast<T*>(glogits), rows, V, ignore_index);
    MHC_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace mhc
