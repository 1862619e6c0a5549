// cuda_attention_tc.cu — fused causal attention for bf16 on the tensor cores
// (WMMA 16×16×16 bf16 products with f32 accumulation), forward and backward.
// Same contract and layout as cuda_attention.cu (q, k, v, out: (B, T, H, D);
// lse, Δ: (B, H, T) f32); used for bf16 when D is a multiple of 16 up to 128.
// The FMA kernels in cuda_attention.cu stay the reference (and the f32 path).
//
// Tiles: a block of 4 warps owns 64 rows (queries in the forward and dQ
// kernels, keys in the dK/dV kernel) of one (batch, head); each warp owns 16
// of them. The other side is walked in tiles of 64 (keys, or queries).
// Everything a tile needs sits in shared memory:
//   bf16 tiles of 64 × D (Q, K, V, dO), rows padded by 8 elements (16 bytes)
//   so the WMMA loads of consecutive rows hit different banks;
//   per warp, f32 16 × 64 score tiles (S, dP), bf16 16 × 64 probability tiles
//   (P, dS), and the f32 16 × D accumulators (O, dQ, dK, dV).
// WMMA's register layout is opaque, so row-wise work (the online softmax,
// rescaling O, masking) happens on the shared-memory copies: lane r and lane
// r + 16 of a warp share row r, each taking half of its 64 columns.
//
// Forward, per key tile at or before the query tile (causal):
//   S = Q Kᵀ (WMMA)  →  m' = max(m, max_j s_j),  α = e^{m−m'}
//   P = e^{s − m'} (bf16),  l = α l + Σ P,  O = α O + P V (WMMA)
// and finally out = O / l, lse = m + log l.
// Backward (no atomics: every output element has one writer):
//   dK, dV: block per key tile, over query tiles at or after it:
//     Sᵀ = K Qᵀ, dPᵀ = V dOᵀ,  Pᵀ = e^{scale·Sᵀ − lse},  dSᵀ = Pᵀ ⊙ (dPᵀ − Δ)
//     dV += Pᵀ dO,  dK += dSᵀ Q  (scaled by `scale` at the end)
//   dQ: block per query tile, over key tiles up to it:
//     S = Q Kᵀ, dP = dO Vᵀ,  P, dS as above,  dQ += dS K  (× scale)
// Dropout on the probabilities (the same counter-based mask as the composed
// path and the FMA kernels) scales P before P·V and dP before dS.
// Sums run in a fixed tile order, so reruns are bit-identical.
#include <cuda_bf16.h>
#include <mma.h>

#include <string>

#include "kernels/counter_rng.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/cuda_helpers.cuh"

namespace mhc::cuda {

namespace {

using namespace nvcuda;

constexpr int kRows = 64;  // rows per block tile (and columns per walked tile)
constexpr int kWarps = 4;  // 16 rows each
constexpr int kTcThreads = 32 * kWarps;
constexpr int kPadH = 8;             // bf16 row padding
constexpr int kPadF = 4;             // f32 row padding
constexpr int kLdS = kRows + kPadF;  // f32 score tiles: 16 × 64
constexpr int kLdP = kRows + kPadH;  // bf16 probability tiles: 16 × 64

using FragA = wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major>;
using FragBRow = wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::row_major>;
using FragBCol = wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::col_major>;
using FragC = wmma::fragment<wmma::accumulator, 16, 16, 16, float>;

template <int D>
struct Ld {
  static constexpr int h = D + kPadH;  // bf16 tiles
  static constexpr int f = D + kPadF;  // f32 accumulators
};

// Copies rows [t0, t0 + 64) of (b, h) from a (B, T, H, D) tensor into a
// padded shared tile, zero beyond T. 16-byte vectors; all threads of the block.
template <int D>
__device__ __forceinline__ void load_tile(__nv_bfloat16* tile, const __nv_bfloat16* src, int64_t b, int64_t h,
                                          int64_t t0, int64_t T, int64_t H) {
  constexpr int kVecs = D / 8;  // 8 bf16 per 16-byte vector
  for (int i = threadIdx.x; i < kRows * kVecs; i += blockDim.x) {
    const int r = i / kVecs, c = (i % kVecs) * 8;
    const int64_t t = t0 + r;
    uint4 v = make_uint4(0, 0, 0, 0);
    if (t < T) v = *reinterpret_cast<const uint4*>(src + ((b * T + t) * H + h) * D + c);
    *reinterpret_cast<uint4*>(tile + r * Ld<D>::h + c) = v;
  }
}

// acc (16 × 64, f32, ld kLdS) = A (16 × D rows of `a`) · B(64 rows of `b`)ᵀ
template <int D>
__device__ __forceinline__ void product_abt(float* acc, const __nv_bfloat16* a, const __nv_bfloat16* b) {
#pragma unroll
  for (int c = 0; c < kRows / 16; ++c) {
    FragC f;
    wmma::fill_fragment(f, 0.f);
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
      FragA fa;
      FragBCol fb;  // Bᵀ: element (k, n) = b[n][k]
      wmma::load_matrix_sync(fa, a + kk * 16, Ld<D>::h);
      wmma::load_matrix_sync(fb, b + c * 16 * Ld<D>::h + kk * 16, Ld<D>::h);
      wmma::mma_sync(f, fa, fb, f);
    }
    wmma::store_matrix_sync(acc + c * 16, f, kLdS, wmma::mem_row_major);
  }
}

// acc (16 × D, f32 in shared memory, ld Ld<D>::f) += P (16 × 64 bf16) · V (64 × D rows of v)
template <int D>
__device__ __forceinline__ void accumulate_pv(float* acc, const __nv_bfloat16* p, const __nv_bfloat16* v) {
#pragma unroll
  for (int dc = 0; dc < D / 16; ++dc) {
    FragC f;
    wmma::load_matrix_sync(f, acc + dc * 16, Ld<D>::f, wmma::mem_row_major);
#pragma unroll
    for (int kk = 0; kk < kRows / 16; ++kk) {
      FragA fa;
      FragBRow fb;
      wmma::load_matrix_sync(fa, p + kk * 16, kLdP);
      wmma::load_matrix_sync(fb, v + kk * 16 * Ld<D>::h + dc * 16, Ld<D>::h);
      wmma::mma_sync(f, fa, fb, f);
    }
    wmma::store_matrix_sync(acc + dc * 16, f, Ld<D>::f, wmma::mem_row_major);
  }
}

template <int D>
constexpr size_t forward_smem_bytes() {
  return sizeof(__nv_bfloat16) * (3 * kRows * Ld<D>::h + kWarps * 16 * kLdP) +
         sizeof(float) * (kWarps * 16 * kLdS + kWarps * 16 * Ld<D>::f + kWarps * 16);
}

template <int D>
__global__ void __launch_bounds__(kTcThreads)
    attention_forward_tc_kernel(const __nv_bfloat16* q, const __nv_bfloat16* k, const __nv_bfloat16* v,
                                __nv_bfloat16* out, float* lse, int64_t T, int64_t H, float scale, int tiles,
                                float drop, uint64_t seed) {
  extern __shared__ __align__(128) unsigned char smem[];
  __nv_bfloat16* Qs = reinterpret_cast<__nv_bfloat16*>(smem);
  __nv_bfloat16* Ks = Qs + kRows * Ld<D>::h;
  __nv_bfloat16* Vs = Ks + kRows * Ld<D>::h;
  __nv_bfloat16* Pb = Vs + kRows * Ld<D>::h;                      // per warp 16 × kLdP
  float* Sf = reinterpret_cast<float*>(Pb + kWarps * 16 * kLdP);  // per warp 16 × kLdS
  float* Of = Sf + kWarps * 16 * kLdS;                            // per warp 16 × Ld<D>::f
  float* Alpha = Of + kWarps * 16 * Ld<D>::f;                     // per warp 16

  const int tile = tiles - 1 - static_cast<int>(blockIdx.x);  // long (late) tiles first
  const int64_t bh = blockIdx.y, b = bh / H, h = bh % H;
  const int64_t q0 = static_cast<int64_t>(tile) * kRows;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int r = lane & 15, half = lane >> 4;  // this lane's row in the warp, and which 32 columns
  __nv_bfloat16* P = Pb + warp * 16 * kLdP;
  float* S = Sf + warp * 16 * kLdS;
  float* O = Of + warp * 16 * Ld<D>::f;
  const int64_t qi = q0 + warp * 16 + r;

  load_tile<D>(Qs, q, b, h, q0, T, H);
  for (int i = lane; i < 16 * Ld<D>::f; i += 32) O[i] = 0.f;
  float m = -INFINITY, l = 0.f;

  for (int kt = 0; kt <= tile; ++kt) {
    const int64_t k0 = static_cast<int64_t>(kt) * kRows;
    __syncthreads();  // the previous tile's K, V are no longer read
    load_tile<D>(Ks, k, b, h, k0, T, H);
    load_tile<D>(Vs, v, b, h, k0, T, H);
    __syncthreads();
    product_abt<D>(S, Qs + warp * 16 * Ld<D>::h, Ks);
    __syncwarp();
    // Online softmax on row r, columns [32·half, 32·half + 32).
    float mx = -INFINITY;
#pragma unroll 8
    for (int c = 0; c < 32; ++c) {
      const int col = half * 32 + c;
      const int64_t kj = k0 + col;
      const float s = (kj <= qi && kj < T) ? S[r * kLdS + col] * scale : -INFINITY;
      S[r * kLdS + col] = s;
      mx = fmaxf(mx, s);
    }
    mx = fmaxf(mx, __shfl_xor_sync(kFullMask, mx, 16));
    const float m_new = fmaxf(m, mx);
    const float alpha = __expf(m - m_new);  // 0 on the first tile (m = −∞)
    float sum = 0.f;
#pragma unroll 8
    for (int c = 0; c < 32; ++c) {
      const int col = half * 32 + c;
      const float p = __expf(S[r * kLdS + col] - m_new);
      sum += p;  // l: the softmax normaliser, before dropout
      const float kept = drop == 0.f ? p : p * attention_dropout_factor(drop, seed, bh, qi, k0 + col, T);
      P[r * kLdP + col] = __float2bfloat16_rn(kept);
    }
    sum += __shfl_xor_sync(kFullMask, sum, 16);
    l = l * alpha + sum;
    m = m_new;
    if (half == 0) Alpha[warp * 16 + r] = alpha;
    __syncwarp();
    for (int i = lane; i < 16 * D; i += 32) O[(i / D) * Ld<D>::f + i % D] *= Alpha[warp * 16 + i / D];
    __syncwarp();
    accumulate_pv<D>(O, P, Vs);
    __syncwarp();
  }
  if (qi < T) {
    const float inv_l = 1.f / l;
    for (int d = half; d < D; d += 2)
      out[((b * T + qi) * H + h) * D + d] = __float2bfloat16_rn(O[r * Ld<D>::f + d] * inv_l);
    if (half == 0) lse[bh * T + qi] = m + logf(l);
  }
}

// ---- backward ----------------------------------------------------------------------------

template <int D>
constexpr size_t backward_kv_smem_bytes() {
  return sizeof(__nv_bfloat16) * (4 * kRows * Ld<D>::h + kWarps * 2 * 16 * kLdP) +
         sizeof(float) * (2 * kRows + kWarps * (2 * 16 * kLdS + 2 * 16 * Ld<D>::f));
}

template <int D>
__global__ void __launch_bounds__(kTcThreads)
    attention_backward_kv_tc_kernel(const __nv_bfloat16* q, const __nv_bfloat16* k, const __nv_bfloat16* v,
                                    const __nv_bfloat16* gout, const float* lse, const float* delta, __nv_bfloat16* gk,
                                    __nv_bfloat16* gv, int64_t T, int64_t H, float scale, int tiles, float drop,
                                    uint64_t seed) {
  extern __shared__ __align__(128) unsigned char smem[];
  __nv_bfloat16* Ks = reinterpret_cast<__nv_bfloat16*>(smem);
  __nv_bfloat16* Vs = Ks + kRows * Ld<D>::h;
  __nv_bfloat16* Qs = Vs + kRows * Ld<D>::h;
  __nv_bfloat16* dOs = Qs + kRows * Ld<D>::h;
  __nv_bfloat16* Pw = dOs + kRows * Ld<D>::h;  // per warp: Pᵀ then dSᵀ, 16 × kLdP each
  float* lse_s = reinterpret_cast<float*>(Pw + kWarps * 2 * 16 * kLdP);
  float* delta_s = lse_s + kRows;
  float* Fw = delta_s + kRows;  // per warp: Sᵀ, dPᵀ (16 × kLdS), dK, dV (16 × Ld<D>::f)

  const int tile = static_cast<int>(blockIdx.x);  // early keys see the most queries: start them first
  const int64_t bh = blockIdx.y, b = bh / H, h = bh % H;
  const int64_t k0 = static_cast<int64_t>(tile) * kRows;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  __nv_bfloat16* Pt = Pw + warp * 2 * 16 * kLdP;
  __nv_bfloat16* dSt = Pt + 16 * kLdP;
  float* St = Fw + warp * (2 * 16 * kLdS + 2 * 16 * Ld<D>::f);
  float* dPt = St + 16 * kLdS;
  float* dK = dPt + 16 * kLdS;
  float* dV = dK + 16 * Ld<D>::f;

  load_tile<D>(Ks, k, b, h, k0, T, H);
  load_tile<D>(Vs, v, b, h, k0, T, H);
  for (int i = lane; i < 16 * Ld<D>::f; i += 32) dK[i] = dV[i] = 0.f;

  for (int qt = tile; qt < tiles; ++qt) {
    const int64_t q0 = static_cast<int64_t>(qt) * kRows;
    __syncthreads();
    load_tile<D>(Qs, q, b, h, q0, T, H);
    load_tile<D>(dOs, gout, b, h, q0, T, H);
    for (int i = threadIdx.x; i < kRows; i += blockDim.x) {
      const bool in = q0 + i < T;
      lse_s[i] = in ? lse[bh * T + q0 + i] : 0.f;
      delta_s[i] = in ? delta[bh * T + q0 + i] : 0.f;
    }
    __syncthreads();
    product_abt<D>(St, Ks + warp * 16 * Ld<D>::h, Qs);    // Sᵀ  (16 keys × 64 queries)
    product_abt<D>(dPt, Vs + warp * 16 * Ld<D>::h, dOs);  // dPᵀ
    __syncwarp();
    for (int i = lane; i < 16 * kRows; i += 32) {
      const int kr = i / kRows, qc = i % kRows;
      const int64_t kj = k0 + warp * 16 + kr, qi = q0 + qc;
      const bool valid = kj <= qi && qi < T && kj < T;
      const float p = valid ? __expf(St[kr * kLdS + qc] * scale - lse_s[qc]) : 0.f;
      const float m = valid ? attention_dropout_factor(drop, seed, bh, qi, kj, T) : 0.f;
      const float ds = p * (dPt[kr * kLdS + qc] * m - delta_s[qc]);
      Pt[kr * kLdP + qc] = __float2bfloat16_rn(p * m);
      dSt[kr * kLdP + qc] = __float2bfloat16_rn(ds);
    }
    __syncwarp();
    accumulate_pv<D>(dV, Pt, dOs);  // dV += Pᵀ dO
    accumulate_pv<D>(dK, dSt, Qs);  // dK += dSᵀ Q
    __syncwarp();
  }
  const int r = lane & 15, half = lane >> 4;
  const int64_t kj = k0 + warp * 16 + r;
  if (kj < T)
    for (int d = half; d < D; d += 2) {
      const int64_t o = ((b * T + kj) * H + h) * D + d;
      gk[o] = __float2bfloat16_rn(dK[r * Ld<D>::f + d] * scale);
      gv[o] = __float2bfloat16_rn(dV[r * Ld<D>::f + d]);
    }
}

template <int D>
constexpr size_t backward_q_smem_bytes() {
  return sizeof(__nv_bfloat16) * (4 * kRows * Ld<D>::h + kWarps * 16 * kLdP) +
         sizeof(float) * (2 * kRows + kWarps * (2 * 16 * kLdS + 16 * Ld<D>::f));
}

template <int D>
__global__ void __launch_bounds__(kTcThreads)
    attention_backward_q_tc_kernel(const __nv_bfloat16* q, const __nv_bfloat16* k, const __nv_bfloat16* v,
                                   const __nv_bfloat16* gout, const float* lse, const float* delta, __nv_bfloat16* gq,
                                   int64_t T, int64_t H, float scale, int tiles, float drop, uint64_t seed) {
  extern __shared__ __align__(128) unsigned char smem[];
  __nv_bfloat16* Qs = reinterpret_cast<__nv_bfloat16*>(smem);
  __nv_bfloat16* dOs = Qs + kRows * Ld<D>::h;
  __nv_bfloat16* Ks = dOs + kRows * Ld<D>::h;
  __nv_bfloat16* Vs = Ks + kRows * Ld<D>::h;
  __nv_bfloat16* dSw = Vs + kRows * Ld<D>::h;  // per warp 16 × kLdP
  float* lse_s = reinterpret_cast<float*>(dSw + kWarps * 16 * kLdP);
  float* delta_s = lse_s + kRows;
  float* Fw = delta_s + kRows;  // per warp: S, dP (16 × kLdS), dQ (16 × Ld<D>::f)

  const int tile = tiles - 1 - static_cast<int>(blockIdx.x);
  const int64_t bh = blockIdx.y, b = bh / H, h = bh % H;
  const int64_t q0 = static_cast<int64_t>(tile) * kRows;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  __nv_bfloat16* dS = dSw + warp * 16 * kLdP;
  float* S = Fw + warp * (2 * 16 * kLdS + 16 * Ld<D>::f);
  float* dP = S + 16 * kLdS;
  float* dQ = dP + 16 * kLdS;

  load_tile<D>(Qs, q, b, h, q0, T, H);
  load_tile<D>(dOs, gout, b, h, q0, T, H);
  for (int i = threadIdx.x; i < kRows; i += blockDim.x) {
    const bool in = q0 + i < T;
    lse_s[i] = in ? lse[bh * T + q0 + i] : 0.f;
    delta_s[i] = in ? delta[bh * T + q0 + i] : 0.f;
  }
  for (int i = lane; i < 16 * Ld<D>::f; i += 32) dQ[i] = 0.f;

  for (int kt = 0; kt <= tile; ++kt) {
    const int64_t k0 = static_cast<int64_t>(kt) * kRows;
    __syncthreads();
    load_tile<D>(Ks, k, b, h, k0, T, H);
    load_tile<D>(Vs, v, b, h, k0, T, H);
    __syncthreads();
    product_abt<D>(S, Qs + warp * 16 * Ld<D>::h, Ks);    // S = Q Kᵀ
    product_abt<D>(dP, dOs + warp * 16 * Ld<D>::h, Vs);  // dP = dO Vᵀ
    __syncwarp();
    for (int i = lane; i < 16 * kRows; i += 32) {
      const int qr = i / kRows, kc = i % kRows;
      const int64_t qi = q0 + warp * 16 + qr, kj = k0 + kc;
      const bool valid = kj <= qi && kj < T && qi < T;
      const float lq = lse_s[warp * 16 + qr];
      const float p = valid ? __expf(S[qr * kLdS + kc] * scale - lq) : 0.f;
      const float m = valid ? attention_dropout_factor(drop, seed, bh, qi, kj, T) : 0.f;
      dS[qr * kLdP + kc] = __float2bfloat16_rn(p * (dP[qr * kLdS + kc] * m - delta_s[warp * 16 + qr]));
    }
    __syncwarp();
    accumulate_pv<D>(dQ, dS, Ks);  // dQ += dS K
    __syncwarp();
  }
  const int r = lane & 15, half = lane >> 4;
  const int64_t qi = q0 + warp * 16 + r;
  if (qi < T)
    for (int d = half; d < D; d += 2)
      gq[((b * T + qi) * H + h) * D + d] = __float2bfloat16_rn(dQ[r * Ld<D>::f + d] * scale);
}

template <class F>
void with_tc_head_dim(int64_t D, F&& f) {
  switch (D) {
    case 32: f(std::integral_constant<int, 32>{}); return;
    case 64: f(std::integral_constant<int, 64>{}); return;
    case 96: f(std::integral_constant<int, 96>{}); return;
    case 128: f(std::integral_constant<int, 128>{}); return;
    default:
      throw std::logic_error("tensor-core attention: head dim " + std::to_string(D) +
                             " reached the dispatch (cuda_contract::attention_uses_tensor_cores refuses it)");
  }
}

// Raises a kernel's dynamic shared-memory limit; callers do it once per
// kernel instantiation (a function-local static), not on every launch.
template <class Kernel>
bool allow_smem(Kernel kernel, size_t bytes) {
  MHC_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes)));
  return true;
}

// (tiles, B·H): the contract checked B·H ≤ 65535, CUDA's limit on gridDim.y.
dim3 tc_grid(int64_t B, int64_t H, int tiles) {
  return dim3(static_cast<unsigned>(tiles), static_cast<unsigned>(B * H));
}

}  // namespace

void attention_forward_tc(const void* q, const void* k, const void* v, void* out, float* lse, int64_t B, int64_t T,
                          int64_t H, int64_t D, float scale, float dropout, uint64_t seed) {
  const int tiles = static_cast<int>(ceil_div(T, kRows));
  with_tc_head_dim(D, [&](auto dc) {
    constexpr int DD = decltype(dc)::value;
    constexpr size_t smem = forward_smem_bytes<DD>();
    static const bool smem_allowed = allow_smem(attention_forward_tc_kernel<DD>, smem);
    (void)smem_allowed;
    attention_forward_tc_kernel<DD><<<tc_grid(B, H, tiles), kTcThreads, smem>>>(
        static_cast<const __nv_bfloat16*>(q), static_cast<const __nv_bfloat16*>(k),
        static_cast<const __nv_bfloat16*>(v), static_cast<__nv_bfloat16*>(out), lse, T, H, scale, tiles, dropout, seed);
    MHC_CUDA_CHECK_LAUNCH();
  });
}

void attention_backward_tc(const void* q, const void* k, const void* v, const void* gout, const float* lse,
                           const float* delta, void* gq, void* gk, void* gv, int64_t B, int64_t T, int64_t H, int64_t D,
                           float scale, float dropout, uint64_t seed) {
  const int tiles = static_cast<int>(ceil_div(T, kRows));
  with_tc_head_dim(D, [&](auto dc) {
    constexpr int DD = decltype(dc)::value;
    const auto* qp = static_cast<const __nv_bfloat16*>(q);
    const auto* kp = static_cast<const __nv_bfloat16*>(k);
    const auto* vp = static_cast<const __nv_bfloat16*>(v);
    const auto* gop = static_cast<const __nv_bfloat16*>(gout);
    constexpr size_t smem_kv = backward_kv_smem_bytes<DD>(), smem_q = backward_q_smem_bytes<DD>();
    static const bool smem_allowed = allow_smem(attention_backward_kv_tc_kernel<DD>, smem_kv) &&
                                     allow_smem(attention_backward_q_tc_kernel<DD>, smem_q);
    (void)smem_allowed;
    attention_backward_kv_tc_kernel<DD><<<tc_grid(B, H, tiles), kTcThreads, smem_kv>>>(
        qp, kp, vp, gop, lse, delta, static_cast<__nv_bfloat16*>(gk), static_cast<__nv_bfloat16*>(gv), T, H, scale,
        tiles, dropout, seed);
    MHC_CUDA_CHECK_LAUNCH();
    attention_backward_q_tc_kernel<DD><<<tc_grid(B, H, tiles), kTcThreads, smem_q>>>(
        qp, kp, vp, gop, lse, delta, static_cast<__nv_bfloat16*>(gq), T, H, scale, tiles, dropout, seed);
    MHC_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace mhc::cuda
