// cuda_mhc.cu — the fused mHC site kernels (docs/design.md §6; contracts in
// kernels/backend_ops.def, CPU references in kernels/cpu/mhc.cpp). Per token: n
// streams of width C (K = nC values), P = 2n + n² coefficients, f32. The
// dtype argument is the streams' (f32 or bf16), except for mhc_gates and its
// backward, whose every tensor is a coefficient: there it is f32.
//
// (a) mhc_project — RMS statistic and the K × P projection in one pass over
//     x, in f32 FMA for both stream dtypes. A block of 8 warps owns 8·TOK
//     tokens (TOK per warp); the block
//     stages φ in shared memory one chunk of 128 rows at a time (rows padded
//     to P + 1 floats: lanes read different rows without bank conflicts), so
//     each φ element is read from L2 once per block rather than once per
//     token. Each lane walks every 32nd value of its warp's tokens,
//     accumulating TOK × P partial dot products and TOK sums of squares in
//     registers; a fixed butterfly combines the lanes. The backward
//     (gx = rstd·φ gq − x·rstd²/K·(gq·q)) gives each thread one value i of K
//     for the block's tokens, reading φ row i once for all of them.
// (b, c) mhc_gates — one thread per token: α ⊙ q + b, σ / 2σ, and
//     Sinkhorn-Knopp in registers (cuda_sinkhorn.cuh); the backward runs the
//     exact Sinkhorn backward with the on-chip O(iters) recompute.
// (d) mhc_pre, (e) mhc_post — one block per token, threads across C: each
//     value of x is read once, the token's coefficients sit in shared memory.
//     post reads (n+1)C and writes nC per token (the residual merge included);
//     their backwards also produce the coefficient gradients (Σ over C per
//     token) with a fixed block reduction.
// Every reduction has a fixed order: reruns are bit-identical.

#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/cuda_helpers.cuh"
#include "kernels/cuda/cuda_profile.h"
#include "kernels/cuda/cuda_sinkhorn.cuh"

namespace mhc {

using namespace cuda;

namespace {

constexpr int kWarpsPerBlock = 8;
constexpr int kChunk = 128;  // rows of φ staged per step

// Tokens per warp in the projection: as many as fit ~96 accumulators.
template <int P>
__host__ __device__ constexpr int tokens_per_warp() {
  return P <= 12 ? 8 : (P <= 24 ? 4 : (P <= 48 ? 2 : 1));
}

template <int N, class T>
__global__ void __launch_bounds__(32 * kWarpsPerBlock)
    mhc_project_kernel(const T* x, const float* phi, float* q, float* rstd, int64_t M, int64_t K, float eps) {
  constexpr int P = 2 * N + N * N, TOK = tokens_per_warp<P>(), LD = P + 1;
  __shared__ float phi_s[kChunk * LD];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t m0 = (static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + warp) * TOK;
  float acc[TOK][P], ss[TOK];
#pragma unroll
  for (int t = 0; t < TOK; ++t) {
    ss[t] = 0.f;
#pragma unroll
    for (int p = 0; p < P; ++p) acc[t][p] = 0.f;
  }
  for (int64_t k0 = 0; k0 < K; k0 += kChunk) {
    const int rows = static_cast<int>(K - k0 < kChunk ? K - k0 : kChunk);
    __syncthreads();
    for (int i = threadIdx.x; i < rows * P; i += blockDim.x) phi_s[(i / P) * LD + i % P] = phi[k0 * P + i];
    __syncthreads();
    for (int r = lane; r < rows; r += 32) {
      const float* w = phi_s + r * LD;
#pragma unroll
      for (int t = 0; t < TOK; ++t) {
        const int64_t m = m0 + t;
        const float v = m < M ? to_float(x[m * K + k0 + r]) : 0.f;
        ss[t] += v * v;
#pragma unroll
        for (int p = 0; p < P; ++p) acc[t][p] += v * w[p];
      }
    }
  }
#pragma unroll
  for (int t = 0; t < TOK; ++t) {
    const int64_t m = m0 + t;
    const float total = warp_sum(ss[t]);
    const float r = rsqrtf(total / static_cast<float>(K) + eps);
#pragma unroll
    for (int p = 0; p < P; ++p) {
      const float sum = warp_sum(acc[t][p]);
      if (lane == 0 && m < M) q[m * P + p] = r * sum;
    }
    if (lane == 0 && m < M) rstd[m] = r;
  }
}

constexpr int kProjBackTokens = 16;  // tokens per block in the projection backward

template <int N, class T>
__global__ void __launch_bounds__(256)
    mhc_project_backward_kernel(const T* x, const float* phi, const float* q, const float* rstd, const float* gq, T* gx,
                                int64_t M, int64_t K) {
  constexpr int P = 2 * N + N * N;
  __shared__ float gq_s[kProjBackTokens][P];
  __shared__ float coef_s[kProjBackTokens][2];  // rstd, rstd²/K · (gq · q)
  const int64_t m0 = static_cast<int64_t>(blockIdx.x) * kProjBackTokens;
  for (int i = threadIdx.x; i < kProjBackTokens * P; i += blockDim.x) {
    const int64_t m = m0 + i / P;
    gq_s[i / P][i % P] = m < M ? gq[m * P + i % P] : 0.f;
  }
  __syncthreads();
  if (threadIdx.x < kProjBackTokens) {
    const int64_t m = m0 + threadIdx.x;
    float dot = 0.f;
    if (m < M)
#pragma unroll
      for (int p = 0; p < P; ++p) dot += gq_s[threadIdx.x][p] * q[m * P + p];
    const float r = m < M ? rstd[m] : 0.f;
    coef_s[threadIdx.x][0] = r;
    coef_s[threadIdx.x][1] = r * r / static_cast<float>(K) * dot;
  }
  __syncthreads();
  for (int64_t i = threadIdx.x; i < K; i += blockDim.x) {
    float w[P];
#pragma unroll
    for (int p = 0; p < P; ++p) w[p] = phi[i * P + p];
    for (int t = 0; t < kProjBackTokens; ++t) {
      const int64_t m = m0 + t;
      if (m >= M) break;
      float s = 0.f;
#pragma unroll
      for (int p = 0; p < P; ++p) s += w[p] * gq_s[t][p];
      gx[m * K + i] = from_float<T>(coef_s[t][0] * s - to_float(x[m * K + i]) * coef_s[t][1]);
    }
  }
}

// ---- (b, c) gates ------------------------------------------------------------------------

template <int N>
__global__ void mhc_gates_kernel(const float* q, const float* alpha, const float* bias, float* coeffs, int64_t M,
                                 int iters, bool sigmoid_gates) {
  constexpr int P = 2 * N + N * N;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t m = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; m < M; m += stride) {
    const float* qm = q + m * P;
    float* out = coeffs + m * P;
#pragma unroll
    for (int j = 0; j < 2 * N; ++j) {
      const float h = alpha[j] * qm[j] + bias[j];
      out[j] = !sigmoid_gates ? 1.f : (j < N ? sigmoidf(h) : 2.f * sigmoidf(h));
    }
    float R[N * N];
#pragma unroll
    for (int j = 0; j < N * N; ++j) R[j] = alpha[2 * N + j] * qm[2 * N + j] + bias[2 * N + j];
    sinkhorn_device::forward<N>(R, iters);
#pragma unroll
    for (int j = 0; j < N * N; ++j) out[2 * N + j] = R[j];
  }
}

template <int N>
__global__ void mhc_gates_backward_kernel(const float* q, const float* alpha, const float* bias, const float* g,
                                          float* gh, int64_t M, int iters, bool sigmoid_gates) {
  constexpr int P = 2 * N + N * N;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t m = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; m < M; m += stride) {
    const float* qm = q + m * P;
    const float* gm = g + m * P;
    float* out = gh + m * P;
#pragma unroll
    for (int j = 0; j < 2 * N; ++j) {
      const float s = sigmoidf(alpha[j] * qm[j] + bias[j]);
      out[j] = sigmoid_gates ? gm[j] * (j < N ? 1.f : 2.f) * s * (1.f - s) : 0.f;
    }
    float L[N * N], G[N * N];
#pragma unroll
    for (int j = 0; j < N * N; ++j) {
      L[j] = alpha[2 * N + j] * qm[2 * N + j] + bias[2 * N + j];
      G[j] = gm[2 * N + j];
    }
    sinkhorn_device::backward<N>(L, G, iters);
#pragma unroll
    for (int j = 0; j < N * N; ++j) out[2 * N + j] = G[j];
  }
}

// ---- (d) pre, (e) post -------------------------------------------------------------------

constexpr int kSiteThreads = 256;

template <int N, class T>
__global__ void __launch_bounds__(kSiteThreads) mhc_pre_kernel(const T* x, const float* coeffs, T* h_in, int64_t C) {
  constexpr int P = 2 * N + N * N;
  const int64_t m = blockIdx.x;
  float H[N];
#pragma unroll
  for (int j = 0; j < N; ++j) H[j] = coeffs[m * P + j];
  const T* xm = x + m * N * C;
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
    float s = 0.f;
#pragma unroll
    for (int j = 0; j < N; ++j) s += H[j] * to_float(xm[j * C + c]);
    h_in[m * C + c] = from_float<T>(s);
  }
}

template <int N, class T>
__global__ void __launch_bounds__(kSiteThreads)
    mhc_pre_backward_kernel(const T* x, const float* coeffs, const T* g, T* gx, float* gcoeffs, int64_t C) {
  constexpr int P = 2 * N + N * N;
  __shared__ float scratch[kSiteThreads / 32];
  const int64_t m = blockIdx.x;
  float H[N], dot[N];
#pragma unroll
  for (int j = 0; j < N; ++j) {
    H[j] = coeffs[m * P + j];
    dot[j] = 0.f;
  }
  const T* xm = x + m * N * C;
  T* gxm = gx + m * N * C;
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
    const float gc = to_float(g[m * C + c]);
#pragma unroll
    for (int j = 0; j < N; ++j) {
      dot[j] += gc * to_float(xm[j * C + c]);
      gxm[j * C + c] = from_float<T>(H[j] * gc);
    }
  }
#pragma unroll
  for (int j = 0; j < N; ++j) {
    const float total = block_sum<kSiteThreads>(dot[j], scratch);
    if (threadIdx.x == 0) gcoeffs[m * P + j] = total;
  }
  for (int k = N + threadIdx.x; k < P; k += blockDim.x) gcoeffs[m * P + k] = 0.f;
}

template <int N, class T>
__global__ void __launch_bounds__(kSiteThreads)
    mhc_post_kernel(const T* x, const T* y, const float* coeffs, T* out, int64_t C) {
  constexpr int P = 2 * N + N * N;
  const int64_t m = blockIdx.x;
  float Hpost[N], Hres[N * N];
#pragma unroll
  for (int i = 0; i < N; ++i) Hpost[i] = coeffs[m * P + N + i];
#pragma unroll
  for (int i = 0; i < N * N; ++i) Hres[i] = coeffs[m * P + 2 * N + i];
  const T* xm = x + m * N * C;
  T* om = out + m * N * C;
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
    float xv[N];
#pragma unroll
    for (int j = 0; j < N; ++j) xv[j] = to_float(xm[j * C + c]);
    const float yv = to_float(y[m * C + c]);
#pragma unroll
    for (int i = 0; i < N; ++i) {
      float s = Hpost[i] * yv;
#pragma unroll
      for (int j = 0; j < N; ++j) s += Hres[i * N + j] * xv[j];
      om[i * C + c] = from_float<T>(s);
    }
  }
}

template <int N, class T>
__global__ void __launch_bounds__(kSiteThreads)
    mhc_post_backward_kernel(const T* x, const T* y, const float* coeffs, const T* g, T* gx, T* gy, float* gcoeffs,
                             int64_t C) {
  constexpr int P = 2 * N + N * N;
  __shared__ float scratch[kSiteThreads / 32];
  const int64_t m = blockIdx.x;
  float Hpost[N], Hres[N * N], dpost[N], dres[N * N];
#pragma unroll
  for (int i = 0; i < N; ++i) {
    Hpost[i] = coeffs[m * P + N + i];
    dpost[i] = 0.f;
  }
#pragma unroll
  for (int i = 0; i < N * N; ++i) {
    Hres[i] = coeffs[m * P + 2 * N + i];
    dres[i] = 0.f;
  }
  const T* xm = x + m * N * C;
  const T* gm = g + m * N * C;
  T* gxm = gx + m * N * C;
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
    float xv[N], gv[N];
#pragma unroll
    for (int j = 0; j < N; ++j) {
      xv[j] = to_float(xm[j * C + c]);
      gv[j] = to_float(gm[j * C + c]);
    }
    const float yv = to_float(y[m * C + c]);
    float gyv = 0.f;
#pragma unroll
    for (int i = 0; i < N; ++i) {
      gyv += Hpost[i] * gv[i];
      dpost[i] += gv[i] * yv;
#pragma unroll
      for (int j = 0; j < N; ++j) dres[i * N + j] += gv[i] * xv[j];
    }
    gy[m * C + c] = from_float<T>(gyv);
#pragma unroll
    for (int j = 0; j < N; ++j) {
      float s = 0.f;
#pragma unroll
      for (int i = 0; i < N; ++i) s += Hres[i * N + j] * gv[i];
      gxm[j * C + c] = from_float<T>(s);
    }
  }
#pragma unroll
  for (int i = 0; i < N; ++i) {
    const float total = block_sum<kSiteThreads>(dpost[i], scratch);
    if (threadIdx.x == 0) gcoeffs[m * P + N + i] = total;
  }
#pragma unroll
  for (int i = 0; i < N * N; ++i) {
    const float total = block_sum<kSiteThreads>(dres[i], scratch);
    if (threadIdx.x == 0) gcoeffs[m * P + 2 * N + i] = total;
  }
  if (threadIdx.x < N) gcoeffs[m * P + threadIdx.x] = 0.f;
}

// The stream count n of a projection with P = 2n + n² columns (the contract
// checked that P has this form for some n in 1..8).
int64_t site_n_from_P(int64_t P) {
  int64_t n = 1;
  while (2 * n + n * n < P) ++n;
  return n;
}

}  // namespace

void CudaBackend::mhc_project(DType t, const void* x, const void* phi, void* q, void* rstd, int64_t M, int64_t K,
                              int64_t P, float eps) {
  cuda_contract::mhc_project(t, x, phi, q, rstd, M, K, P, eps);
  MHC_CUDA_PROFILE("mhc_project");
  const int64_t n = site_n_from_P(P);
  if (M == 0) return;
  dispatch_f32_bf16(t, "mhc_project", [&](auto tag) {
    using T = decltype(tag);
    with_sinkhorn_n(n, [&](auto nc) {
      constexpr int N = decltype(nc)::value, TOK = tokens_per_warp<2 * N + N * N>();
      const int64_t blocks = ceil_div(M, kWarpsPerBlock * TOK);
      mhc_project_kernel<N><<<static_cast<unsigned>(blocks), 32 * kWarpsPerBlock>>>(
          static_cast<const T*>(x), static_cast<const float*>(phi), static_cast<float*>(q), static_cast<float*>(rstd),
          M, K, eps);
      MHC_CUDA_CHECK_LAUNCH();
    });
  });
}

void CudaBackend::mhc_project_backward(DType t, const void* x, const void* phi, const void* q, const void* rstd,
                                       const void* gq, void* gx, int64_t M, int64_t K, int64_t P) {
  cuda_contract::mhc_project_backward(t, x, phi, q, rstd, gq, gx, M, K, P);
  MHC_CUDA_PROFILE("mhc_project_backward");
  const int64_t n = site_n_from_P(P);
  if (M == 0) return;
  dispatch_f32_bf16(t, "mhc_project_backward", [&](auto tag) {
    using T = decltype(tag);
    with_sinkhorn_n(n, [&](auto nc) {
      constexpr int N = decltype(nc)::value;
      mhc_project_backward_kernel<N><<<static_cast<unsigned>(ceil_div(M, kProjBackTokens)), 256>>>(
          static_cast<const T*>(x), static_cast<const float*>(phi), static_cast<const float*>(q),
          static_cast<const float*>(rstd), static_cast<const float*>(gq), static_cast<T*>(gx), M, K);
      MHC_CUDA_CHECK_LAUNCH();
    });
  });
}

void CudaBackend::mhc_gates(DType t, const void* q, const void* alpha, const void* bias, void* coeffs, int64_t M,
                            int64_t n, int iters, bool sigmoid_gates) {
  cuda_contract::mhc_gates(t, q, alpha, bias, coeffs, M, n, iters, sigmoid_gates);
  MHC_CUDA_PROFILE("mhc_gates");
  if (M == 0) return;
  with_sinkhorn_n(n, [&](auto nc) {
    constexpr int N = decltype(nc)::value;
    mhc_gates_kernel<N><<<grid_for(M, 128), 128>>>(static_cast<const float*>(q), static_cast<const float*>(alpha),
                                                   static_cast<const float*>(bias), static_cast<float*>(coeffs), M,
                                                   iters, sigmoid_gates);
    MHC_CUDA_CHECK_LAUNCH();
  });
}

void CudaBackend::mhc_gates_backward(DType t, const void* q, const void* alpha, const void* bias, const void* gcoeffs,
                                     void* gh, int64_t M, int64_t n, int iters, bool sigmoid_gates) {
  cuda_contract::mhc_gates_backward(t, q, alpha, bias, gcoeffs, gh, M, n, iters, sigmoid_gates);
  MHC_CUDA_PROFILE("mhc_gates_backward");
  if (M == 0) return;
  with_sinkhorn_n(n, [&](auto nc) {
    constexpr int N = decltype(nc)::value;
    mhc_gates_backward_kernel<N><<<grid_for(M, 128), 128>>>(
        static_cast<const float*>(q), static_cast<const float*>(alpha), static_cast<const float*>(bias),
        static_cast<const float*>(gcoeffs), static_cast<float*>(gh), M, iters, sigmoid_gates);
    MHC_CUDA_CHECK_LAUNCH();
  });
}

void CudaBackend::mhc_pre(DType t, const void* x, const void* coeffs, void* h_in, int64_t M, int64_t n, int64_t C) {
  cuda_contract::mhc_pre(t, x, coeffs, h_in, M, n, C);
  MHC_CUDA_PROFILE("mhc_pre");
  if (M == 0) return;
  dispatch_f32_bf16(t, "mhc_pre", [&](auto tag) {
    using T = decltype(tag);
    with_sinkhorn_n(n, [&](auto nc) {
      constexpr int N = decltype(nc)::value;
      mhc_pre_kernel<N><<<static_cast<unsigned>(M), kSiteThreads>>>(
          static_cast<const T*>(x), static_cast<const float*>(coeffs), static_cast<T*>(h_in), C);
      MHC_CUDA_CHECK_LAUNCH();
    });
  });
}

void CudaBackend::mhc_pre_backward(DType t, const void* x, const void* coeffs, const void* g_hin, void* gx,
                                   void* gcoeffs, int64_t M, int64_t n, int64_t C) {
  cuda_contract::mhc_pre_backward(t, x, coeffs, g_hin, gx, gcoeffs, M, n, C);
  MHC_CUDA_PROFILE("mhc_pre_backward");
  if (M == 0) return;
  dispatch_f32_bf16(t, "mhc_pre_backward", [&](auto tag) {
    using T = decltype(tag);
    with_sinkhorn_n(n, [&](auto nc) {
      constexpr int N = decltype(nc)::value;
      mhc_pre_backward_kernel<N><<<static_cast<unsigned>(M), kSiteThreads>>>(
          static_cast<const T*>(x), static_cast<const float*>(coeffs), static_cast<const T*>(g_hin),
          static_cast<T*>(gx), static_cast<float*>(gcoeffs), C);
      MHC_CUDA_CHECK_LAUNCH();
    });
  });
}

void CudaBackend::mhc_post(DType t, const void* x, const void* y, const void* coeffs, void* out, int64_t M, int64_t n,
                           int64_t C) {
  cuda_contract::mhc_post(t, x, y, coeffs, out, M, n, C);
  MHC_CUDA_PROFILE("mhc_post");
  if (M == 0) return;
  dispatch_f32_bf16(t, "mhc_post", [&](auto tag) {
    using T = decltype(tag);
    with_sinkhorn_n(n, [&](auto nc) {
      constexpr int N = decltype(nc)::value;
      mhc_post_kernel<N><<<static_cast<unsigned>(M), kSiteThreads>>>(static_cast<const T*>(x), static_cast<const T*>(y),
                                                                     static_cast<const float*>(coeffs),
                                                                     static_cast<T*>(out), C);
      MHC_CUDA_CHECK_LAUNCH();
    });
  });
}

void CudaBackend::mhc_post_backward(DType t, const void* x, const void* y, const void* coeffs, const void* g_out,
                                    void* gx, void* gy, void* gcoeffs, int64_t M, int64_t n, int64_t C) {
  cuda_contract::mhc_post_backward(t, x, y, coeffs, g_out, gx, gy, gcoeffs, M, n, C);
  MHC_CUDA_PROFILE("mhc_post_backward");
  if (M == 0) return;
  dispatch_f32_bf16(t, "mhc_post_backward", [&](auto tag) {
    using T = decltype(tag);
    with_sinkhorn_n(n, [&](auto nc) {
      constexpr int N = decltype(nc)::value;
      mhc_post_backward_kernel<N><<<static_cast<unsigned>(M), kSiteThreads>>>(
          static_cast<const T*>(x), static_cast<const T*>(y), static_cast<const float*>(coeffs),
          static_cast<const T*>(g_out), static_cast<T*>(gx), static_cast<T*>(gy), static_cast<float*>(gcoeffs), C);
      MHC_CUDA_CHECK_LAUNCH();
    });
  });
}

}  // namespace mhc
