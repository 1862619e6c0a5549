// cuda_norm.cu — RMSNorm forward and backward over rows of length C.
//   y = x · rstd · w,  rstd = (mean(x²) + eps)^(-1/2)
//   gx = rstd · (gy⊙w) − x · rstd³ · mean(gy⊙w⊙x)
//   gw = Σ_rows gy ⊙ x · rstd
//
// Thread mapping:
//   * forward and gx: one block per row (grid-stride over rows). Each thread
//     takes columns t, t + B, ...; the row's sum (of x², or of gy⊙w⊙x) is a
//     fixed block_sum tree, B chosen from C. Shared memory: B / 32 floats.
//   * gw, without atomics, in two deterministic stages:
//       1. rows are cut into fixed blocks of 64; a 2-D grid (row block on y,
//          columns on x) has one thread per (row block, column) add its 64
//          rows in order into partial[row block, column] (f32, coalesced
//          across columns);
//       2. cuda::sum_f32_to adds the partials of each column over the row
//          blocks, in order (cuda_reduce.cu).
// rstd is f32 for f32 and bf16 data; all arithmetic is f32.
#include "kernels/cuda/cuda_helpers.cuh"
#include "kernels/cuda/cuda_profile.h"

namespace mhc {

using namespace cuda;

namespace {

constexpr int64_t kRowBlock = 64;  // rows per gw partial (the CPU uses the same)

template <int kT, class T>
__global__ void __launch_bounds__(kT)
    rms_norm_kernel(const T* x, const T* w, T* y, float* rstd, int64_t rows, int64_t C, float eps) {
  __shared__ float scratch[kT / 32];
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const T* xr = x + row * C;
    T* yr = y + row * C;
    float ss = 0.f;
    for (int64_t c = threadIdx.x; c < C; c += kT) {
      const float v = to_float(xr[c]);
      ss += v * v;
    }
    ss = block_sum<kT>(ss, scratch);
    const float s = 1.f / sqrtf(ss / static_cast<float>(C) + eps);
    if (threadIdx.x == 0) rstd[row] = s;
    for (int64_t c = threadIdx.x; c < C; c += kT) {
      const float v = to_float(xr[c]) * s;
      yr[c] = from_float<T>(w ? v * to_float(w[c]) : v);
    }
  }
}

template <int kT, class T>
__global__ void __launch_bounds__(kT)
    rms_norm_backward_kernel(const T* x, const T* w, const float* rstd, const T* gy, T* gx, int64_t rows, int64_t C) {
  __shared__ float scratch[kT / 32];
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const T* xr = x + row * C;
    const T* gr = gy + row * C;
    T* out = gx + row * C;
    const float s = rstd[row];
    float dot = 0.f;
    for (int64_t c = threadIdx.x; c < C; c += kT) {
      const float gw = w ? to_float(gr[c]) * to_float(w[c]) : to_float(gr[c]);
      dot += gw * to_float(xr[c]);
    }
    dot = block_sum<kT>(dot, scratch);
    const float k = s * s * s * dot / static_cast<float>(C);
    for (int64_t c = threadIdx.x; c < C; c += kT) {
      const float sg = s * to_float(gr[c]);
      const float first = w ? sg * to_float(w[c]) : sg;
      out[c] = from_float<T>(first - to_float(xr[c]) * k);
    }
  }
}

// partial[b, c] = Σ_{r in row block b} gy[r, c] · x[r, c] · rstd[r], rows in order.
template <class T>
__global__ void rms_norm_gw_partial_kernel(const T* x, const float* rstd, const T* gy, float* partial, int64_t rows,
                                           int64_t C, int64_t nblocks) {
  const int64_t cstride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t b = blockIdx.y; b < nblocks; b += gridDim.y) {
    const int64_t r0 = b * kRowBlock, r1 = min(rows, r0 + kRowBlock);
    for (int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; c < C; c += cstride) {
      float acc = 0.f;
      for (int64_t r = r0; r < r1; ++r) acc += to_float(gy[r * C + c]) * to_float(x[r * C + c]) * rstd[r];
      partial[b * C + c] = acc;
    }
  }
}

}  // namespace

void CudaBackend::rms_norm(DType t, const void* x, const void* w, void* y, void* rstd, int64_t rows, int64_t C,
                           float eps) {
  cuda_contract::rms_norm(t, x, w, y, rstd, rows, C, eps);
  MHC_CUDA_PROFILE("rms_norm");
  dispatch_f32_bf16(t, "rms_norm", [&](auto tag) {
    using T = decltype(tag);
    if (rows == 0) return;
    with_row_block(C, [&](auto threads) {
      constexpr int kT = decltype(threads)::value;
      rms_norm_kernel<kT><<<row_grid(rows), kT>>>(static_cast<const T*>(x), static_cast<const T*>(w),
                                                  static_cast<T*>(y), static_cast<float*>(rstd), rows, C, eps);
      MHC_CUDA_CHECK_LAUNCH();
    });
  });
}

void CudaBackend::rms_norm_backward(DType t, const void* x, const void* w, const void* rstd, const void* gy, void* gx,
                                    void* gw, int64_t rows, int64_t C) {
  cuda_contract::rms_norm_backward(t, x, w, rstd, gy, gx, gw, rows, C);
  MHC_CUDA_PROFILE("rms_norm_backward");
  dispatch_f32_bf16(t, "rms_norm", [&](auto tag) {
    using T = decltype(tag);
    const T* xp = static_cast<const T*>(x);
    const T* wp = static_cast<const T*>(w);
    const T* gp = static_cast<const T*>(gy);
    const float* rp = static_cast<const float*>(rstd);
    if (rows > 0 && C > 0) {
      with_row_block(C, [&](auto threads) {
        constexpr int kT = decltype(threads)::value;
        rms_norm_backward_kernel<kT><<<row_grid(rows), kT>>>(xp, wp, rp, gp, static_cast<T*>(gx), rows, C);
        MHC_CUDA_CHECK_LAUNCH();
      });
    }
    if (!w || !gw || C == 0) return;
    if (rows == 0) {  // no rows: gw = 0
      MHC_CUDA_CHECK(cudaMemsetAsync(gw, 0, C * sizeof(T), nullptr));
      return;
    }
    const int64_t nblocks = ceil_div(rows, kRowBlock);
    ScratchBuffer partial(*this, nblocks * C * sizeof(float));
    const dim3 grid(grid_for(C, kThreads, 64), static_cast<unsigned>(std::min<int64_t>(nblocks, 65535)));
    rms_norm_gw_partial_kernel<<<grid, kThreads>>>(xp, rp, gp, partial.as<float>(), rows, C, nblocks);
    MHC_CUDA_CHECK_LAUNCH();
    sum_f32_to(*this, partial.as<const float>(), t, gw, 1, nblocks, C);
  });
}

}  // namespace mhc
