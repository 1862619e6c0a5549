// cuda_attention.cu — fused causal self-attention on (B, T, H, D) tensors,
// flash-attention style: the T×T score matrix never exists in memory.
//
// Thread mapping (all three main kernels): a block of 256 threads owns a tile
// of 32 rows (queries, or keys) of one (batch, head). Each row is handled by a
// group of 8 neighbouring threads; thread g of the group holds the float4
// chunks g, g + 8, g + 16, ... of the row (D/32 chunks), so a group covers all
// D elements and a row dot product is 8 partial sums combined with three
// xor-shuffles (a fixed butterfly: every lane of the group gets the same,
// bit-identical value). The kernels are compiled for padded head dims
// DP = 32, 64, 96, 128; any D ≤ 128 runs the next DP with zeros beyond D.
//
// Forward (one block per query tile, all key tiles ≤ it):
//   registers: the thread's slice of its q row and of the output accumulator;
//   shared memory: one tile of 32 keys and 32 values as f32 (2 × 32 × DP floats).
//   Per key tile, each query computes its 32 scores, then the online softmax:
//     m' = max(m, max_j s_j);  l = l·e^{m−m'} + Σ_j e^{s_j−m'};
//     acc = acc·e^{m−m'} + Σ_j e^{s_j−m'} v_j
//   and at the end out = acc / l, lse = m + log l (f32, kept for the backward).
//   Keys after the query (causal mask) score −∞. Query tiles are launched in
//   reverse order so the long (late) tiles start first.
//
// Backward, without atomics (each output element has exactly one writer):
//   Δ = rowsum(dO ⊙ O)                          one warp per (b, t, h) row
//   dK, dV: one block per key tile, looping over the query tiles at and after
//     it; shared memory holds a tile of q, dO, lse and Δ. For key j, query i:
//       p = exp(scale·q_i·k_j − lse_i),  dv_j += p·dO_i,
//       ds = p·(dO_i·v_j − Δ_i),          dk_j += scale·ds·q_i
//   dQ: one block per query tile, looping over the key tiles up to it; shared
//     memory holds a tile of k and v:  dq_i += scale·ds·k_j.
//   Every sum runs in increasing key (or query) index, so reruns are
//   bit-identical. P is recomputed from q, k and lse in both kernels.
//
// Dropout on the probabilities multiplies each p_ij by keep_ij / (1 − p),
// the mask drawn from counter_uniform(seed, ((b·H + h)·T + i)·T + j) — the
// same numbers the composed path draws for its (B, H, T, T) tensor; the
// backward redraws them (dV takes p·m, dS = p ⊙ (dP·m − Δ)).
// All arithmetic is f32 (bf16 inputs are converted as they are loaded).
// These FMA kernels are the f32 path and the readable reference; bf16 with a
// head dim of 32, 64, 96 or 128 runs the tensor-core kernels of
// cuda_attention_tc.cu instead (tested against these).

#include "kernels/counter_rng.h"
#include "kernels/cuda/cuda_helpers.cuh"
#include "kernels/cuda/cuda_profile.h"

namespace mhc {

using namespace cuda;

namespace {

constexpr int kGroup = 8;                         // threads per row
constexpr int kTileRows = 32;                     // rows per tile (queries or keys)
constexpr int kAttnThreads = kGroup * kTileRows;  // 256
static_assert(kTileRows == cuda_contract::kAttentionTileRows, "the contract sizes the FMA grid with this tile");

// Sum over the 8 lanes of a row group (same result on all of them).
__device__ __forceinline__ float group_sum(float v) {
  v += __shfl_xor_sync(kFullMask, v, 1);
  v += __shfl_xor_sync(kFullMask, v, 2);
  v += __shfl_xor_sync(kFullMask, v, 4);
  return v;
}

// This thread's part of row r (elements 4·(c·8 + g) .. +3 for c < DP/32):
// zeros past the sequence end or past D.
template <int DP, class T>
__device__ __forceinline__ void load_row_part(const T* base, int64_t r, int64_t seq, int64_t ld, int64_t D, int g,
                                              float (&out)[DP / 32][4]) {
#pragma unroll
  for (int c = 0; c < DP / 32; ++c)
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int64_t d = 4 * (c * kGroup + g) + e;
      out[c][e] = (r < seq && d < D) ? to_float(base[r * ld + d]) : 0.f;
    }
}

template <int DP, class T>
__device__ __forceinline__ void store_row_part(T* base, int64_t r, int64_t seq, int64_t ld, int64_t D, int g,
                                               const float (&in)[DP / 32][4], float scale) {
  if (r >= seq) return;
#pragma unroll
  for (int c = 0; c < DP / 32; ++c)
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int64_t d = 4 * (c * kGroup + g) + e;
      if (d < D) base[r * ld + d] = from_float<T>(in[c][e] * scale);
    }
}

// Rows r0 .. r0 + 31 of a (seq, ld) matrix into a shared tile of 32 × DP
// floats (zeros past the end or past D). Consecutive threads read
// consecutive elements of a row: coalesced.
template <int DP, class T>
__device__ __forceinline__ void load_tile(const T* base, int64_t r0, int64_t seq, int64_t ld, int64_t D, float* tile) {
  for (int idx = threadIdx.x; idx < kTileRows * DP; idx += kAttnThreads) {
    const int j = idx / DP, d = idx % DP;
    const int64_t r = r0 + j;
    tile[idx] = (r < seq && d < D) ? to_float(base[r * ld + d]) : 0.f;
  }
}

// Partial dot product of this thread's slice with the same slice of a shared row.
template <int DP>
__device__ __forceinline__ float dot_part(const float (&a)[DP / 32][4], const float4* row, int g) {
  float s = 0.f;
#pragma unroll
  for (int c = 0; c < DP / 32; ++c) {
    const float4 b = row[c * kGroup + g];
    s = fmaf(a[c][0], b.x, s);
    s = fmaf(a[c][1], b.y, s);
    s = fmaf(a[c][2], b.z, s);
    s = fmaf(a[c][3], b.w, s);
  }
  return s;
}

// acc += w · (this thread's slice of a shared row).
template <int DP>
__device__ __forceinline__ void axpy_part(float (&acc)[DP / 32][4], float w, const float4* row, int g) {
#pragma unroll
  for (int c = 0; c < DP / 32; ++c) {
    const float4 b = row[c * kGroup + g];
    acc[c][0] = fmaf(w, b.x, acc[c][0]);
    acc[c][1] = fmaf(w, b.y, acc[c][1]);
    acc[c][2] = fmaf(w, b.z, acc[c][2]);
    acc[c][3] = fmaf(w, b.w, acc[c][3]);
  }
}

// ---- forward -----------------------------------------------------------------------------

template <int DP, class T>
__global__ void __launch_bounds__(kAttnThreads)
    attention_forward_kernel(const T* q, const T* k, const T* v, T* out, float* lse, int64_t seq, int64_t H, int64_t D,
                             float scale, int64_t tiles, float drop, uint64_t seed) {
  __shared__ float4 k_tile[kTileRows][DP / 4];
  __shared__ float4 v_tile[kTileRows][DP / 4];
  const int64_t tile = tiles - 1 - static_cast<int64_t>(blockIdx.x) % tiles;  // long tiles first
  const int64_t bh = blockIdx.x / tiles, b = bh / H, h = bh % H;
  const int row = threadIdx.x / kGroup, g = threadIdx.x % kGroup;
  const int64_t ld = H * D;  // elements between consecutive positions
  const int64_t base = b * seq * ld + h * D;
  const int64_t q0 = tile * kTileRows, t = q0 + row;

  float qr[DP / 32][4], acc[DP / 32][4];
  load_row_part<DP>(q + base, t, seq, ld, D, g, qr);
#pragma unroll
  for (int c = 0; c < DP / 32; ++c)
#pragma unroll
    for (int e = 0; e < 4; ++e) acc[c][e] = 0.f;
  float m = -INFINITY, l = 0.f;

  const int64_t kv_end = min(seq, q0 + kTileRows);  // keys this tile's queries can see
  for (int64_t k0 = 0; k0 < kv_end; k0 += kTileRows) {
    __syncthreads();  // everyone is done with the previous tile
    load_tile<DP>(k + base, k0, seq, ld, D, &k_tile[0][0].x);
    load_tile<DP>(v + base, k0, seq, ld, D, &v_tile[0][0].x);
    __syncthreads();
    float s[kTileRows];
    float tile_max = -INFINITY;
#pragma unroll
    for (int j = 0; j < kTileRows; ++j) {
      const float dot = group_sum(dot_part<DP>(qr, k_tile[j], g));
      const int64_t key = k0 + j;
      s[j] = (key <= t && key < seq) ? scale * dot : -INFINITY;
      tile_max = fmaxf(tile_max, s[j]);
    }
    // Key 0 is in the first tile and visible to every query, so m_new is finite.
    const float m_new = fmaxf(m, tile_max);
    const float correction = expf(m - m_new);  // 0 on the first tile (m = −∞)
    l *= correction;
#pragma unroll
    for (int c = 0; c < DP / 32; ++c)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[c][e] *= correction;
#pragma unroll
    for (int j = 0; j < kTileRows; ++j) {
      const float p = expf(s[j] - m_new);
      l += p;
      axpy_part<DP>(acc, p * attention_dropout_factor(drop, seed, bh, t, k0 + j, seq), v_tile[j], g);
    }
    m = m_new;
  }
  store_row_part<DP>(out + base, t, seq, ld, D, g, acc, 1.f / l);
  if (g == 0 && t < seq) lse[bh * seq + t] = m + logf(l);
}

// ---- backward ----------------------------------------------------------------------------

// Δ[b, h, t] = Σ_d dO[b, t, h, d] · O[b, t, h, d]; one warp per (b, t, h) row.
template <class T>
__global__ void attention_delta_kernel(const T* out, const T* gout, float* delta, int64_t rows, int64_t seq, int64_t H,
                                       int64_t D) {
  const int lane = threadIdx.x % 32;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * (blockDim.x / 32);
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32; r < rows; r += warps) {
    const T* o = out + r * D;
    const T* go = gout + r * D;
    float s = 0.f;
    for (int64_t d = lane; d < D; d += 32) s += to_float(go[d]) * to_float(o[d]);
    s = warp_sum(s);
    const int64_t h = r % H, t = (r / H) % seq, b = r / (H * seq);
    if (lane == 0) delta[(b * H + h) * seq + t] = s;
  }
}

template <int DP, class T>
__global__ void __launch_bounds__(kAttnThreads)
    attention_backward_kv_kernel(const T* q, const T* k, const T* v, const T* gout, const float* lse,
                                 const float* delta, T* gk, T* gv, int64_t seq, int64_t H, int64_t D, float scale,
                                 int64_t tiles, float drop, uint64_t seed) {
  __shared__ float4 q_tile[kTileRows][DP / 4];
  __shared__ float4 go_tile[kTileRows][DP / 4];
  __shared__ float lse_tile[kTileRows], delta_tile[kTileRows];
  const int64_t tile = static_cast<int64_t>(blockIdx.x) % tiles;  // early key tiles have the most work: first
  const int64_t bh = blockIdx.x / tiles, b = bh / H, h = bh % H;
  const int row = threadIdx.x / kGroup, g = threadIdx.x % kGroup;
  const int64_t ld = H * D;
  const int64_t base = b * seq * ld + h * D;
  const int64_t k0 = tile * kTileRows, j = k0 + row;  // this group's key

  float kr[DP / 32][4], vr[DP / 32][4], dk[DP / 32][4], dv[DP / 32][4];
  load_row_part<DP>(k + base, j, seq, ld, D, g, kr);
  load_row_part<DP>(v + base, j, seq, ld, D, g, vr);
#pragma unroll
  for (int c = 0; c < DP / 32; ++c)
#pragma unroll
    for (int e = 0; e < 4; ++e) dk[c][e] = dv[c][e] = 0.f;

  for (int64_t q0 = k0; q0 < seq; q0 += kTileRows) {  // queries at or after the key tile
    __syncthreads();
    load_tile<DP>(q + base, q0, seq, ld, D, &q_tile[0][0].x);
    load_tile<DP>(gout + base, q0, seq, ld, D, &go_tile[0][0].x);
    if (threadIdx.x < kTileRows) {
      const int64_t i = q0 + threadIdx.x;
      lse_tile[threadIdx.x] = i < seq ? lse[bh * seq + i] : 0.f;
      delta_tile[threadIdx.x] = i < seq ? delta[bh * seq + i] : 0.f;
    }
    __syncthreads();
#pragma unroll 4
    for (int i = 0; i < kTileRows; ++i) {
      const float s = group_sum(dot_part<DP>(kr, q_tile[i], g));
      const float dp = group_sum(dot_part<DP>(vr, go_tile[i], g));
      const int64_t qi = q0 + i;
      const bool visible = j <= qi && qi < seq;
      const float p = visible ? expf(scale * s - lse_tile[i]) : 0.f;
      const float m = visible ? attention_dropout_factor(drop, seed, bh, qi, j, seq) : 0.f;
      const float ds = p * (dp * m - delta_tile[i]);
      axpy_part<DP>(dv, p * m, go_tile[i], g);
      axpy_part<DP>(dk, scale * ds, q_tile[i], g);
    }
  }
  store_row_part<DP>(gk + base, j, seq, ld, D, g, dk, 1.f);
  store_row_part<DP>(gv + base, j, seq, ld, D, g, dv, 1.f);
}

template <int DP, class T>
__global__ void __launch_bounds__(kAttnThreads)
    attention_backward_q_kernel(const T* q, const T* k, const T* v, const T* gout, const float* lse, const float* delta,
                                T* gq, int64_t seq, int64_t H, int64_t D, float scale, int64_t tiles, float drop,
                                uint64_t seed) {
  __shared__ float4 k_tile[kTileRows][DP / 4];
  __shared__ float4 v_tile[kTileRows][DP / 4];
  const int64_t tile = tiles - 1 - static_cast<int64_t>(blockIdx.x) % tiles;  // long tiles first
  const int64_t bh = blockIdx.x / tiles, b = bh / H, h = bh % H;
  const int row = threadIdx.x / kGroup, g = threadIdx.x % kGroup;
  const int64_t ld = H * D;
  const int64_t base = b * seq * ld + h * D;
  const int64_t q0 = tile * kTileRows, i = q0 + row;  // this group's query

  float qr[DP / 32][4], gor[DP / 32][4], dq[DP / 32][4];
  load_row_part<DP>(q + base, i, seq, ld, D, g, qr);
  load_row_part<DP>(gout + base, i, seq, ld, D, g, gor);
#pragma unroll
  for (int c = 0; c < DP / 32; ++c)
#pragma unroll
    for (int e = 0; e < 4; ++e) dq[c][e] = 0.f;
  const float lse_i = i < seq ? lse[bh * seq + i] : 0.f;
  const float delta_i = i < seq ? delta[bh * seq + i] : 0.f;

  const int64_t kv_end = min(seq, q0 + kTileRows);
  for (int64_t k0 = 0; k0 < kv_end; k0 += kTileRows) {
    __syncthreads();
    load_tile<DP>(k + base, k0, seq, ld, D, &k_tile[0][0].x);
    load_tile<DP>(v + base, k0, seq, ld, D, &v_tile[0][0].x);
    __syncthreads();
#pragma unroll 4
    for (int j = 0; j < kTileRows; ++j) {
      const float s = group_sum(dot_part<DP>(qr, k_tile[j], g));
      const float dp = group_sum(dot_part<DP>(gor, v_tile[j], g));
      const int64_t key = k0 + j;
      const bool visible = key <= i && i < seq;
      const float p = visible ? expf(scale * s - lse_i) : 0.f;
      const float ds = visible ? p * (dp * attention_dropout_factor(drop, seed, bh, i, key, seq) - delta_i) : 0.f;
      axpy_part<DP>(dq, scale * ds, k_tile[j], g);
    }
  }
  store_row_part<DP>(gq + base, i, seq, ld, D, g, dq, 1.f);
}

// Calls f(std::integral_constant<int, DP>{}) with the padded head dim for D
// (1 ≤ D ≤ cuda_contract::kCudaMaxHeadDim = 128, checked by the contract).
template <class F>
void with_head_dim(int64_t D, F&& f) {
  static_assert(cuda_contract::kCudaMaxHeadDim == 128, "compiled for padded head dims up to 128");
  if (D <= 32)
    f(std::integral_constant<int, 32>{});
  else if (D <= 64)
    f(std::integral_constant<int, 64>{});
  else if (D <= 96)
    f(std::integral_constant<int, 96>{});
  else
    f(std::integral_constant<int, 128>{});
}

// One block per (batch, head, tile); the contract checked the count fits.
unsigned attention_grid(int64_t B, int64_t H, int64_t tiles) { return static_cast<unsigned>(B * H * tiles); }

}  // namespace

void CudaBackend::attention(DType t, const void* q, const void* k, const void* v, void* out, void* lse, int64_t B,
                            int64_t T, int64_t H, int64_t D, double scale, float dropout, uint64_t seed) {
  cuda_contract::attention(t, q, k, v, out, lse, B, T, H, D, scale, dropout, seed);
  MHC_CUDA_PROFILE("attention");
  if (B * T * H == 0) return;
  if (cuda_contract::attention_uses_tensor_cores(t, D, {q, k, v, out})) {
    attention_forward_tc(q, k, v, out, static_cast<float*>(lse), B, T, H, D, static_cast<float>(scale), dropout, seed);
    return;
  }
  dispatch_f32_bf16(t, "attention", [&](auto tag) {
    using E = decltype(tag);
    with_head_dim(D, [&](auto dp) {
      constexpr int DP = decltype(dp)::value;
      const int64_t tiles = ceil_div(T, kTileRows);
      attention_forward_kernel<DP><<<attention_grid(B, H, tiles), kAttnThreads>>>(
          static_cast<const E*>(q), static_cast<const E*>(k), static_cast<const E*>(v), static_cast<E*>(out),
          static_cast<float*>(lse), T, H, D, static_cast<float>(scale), tiles, dropout, seed);
      MHC_CUDA_CHECK_LAUNCH();
    });
  });
}

void CudaBackend::attention_backward(DType t, const void* q, const void* k, const void* v, const void* out,
                                     const void* lse, const void* gout, void* gq, void* gk, void* gv, int64_t B,
                                     int64_t T, int64_t H, int64_t D, double scale, float dropout, uint64_t seed) {
  cuda_contract::attention_backward(t, q, k, v, out, lse, gout, gq, gk, gv, B, T, H, D, scale, dropout, seed);
  MHC_CUDA_PROFILE("attention_backward");
  dispatch_f32_bf16(t, "attention", [&](auto tag) {
    using E = decltype(tag);
    if (B * T * H == 0) return;
    with_head_dim(D, [&](auto dp) {
      constexpr int DP = decltype(dp)::value;
      const int64_t rows = B * T * H, tiles = ceil_div(T, kTileRows);
      const E* qp = static_cast<const E*>(q);
      const E* kp = static_cast<const E*>(k);
      const E* vp = static_cast<const E*>(v);
      const E* gop = static_cast<const E*>(gout);
      const float* lsep = static_cast<const float*>(lse);
      const float sc = static_cast<float>(scale);
      ScratchBuffer delta(*this, rows * sizeof(float));
      attention_delta_kernel<<<grid_for(rows, kThreads / 32), kThreads>>>(static_cast<const E*>(out), gop,
                                                                          delta.as<float>(), rows, T, H, D);
      MHC_CUDA_CHECK_LAUNCH();
      if (cuda_contract::attention_uses_tensor_cores(t, D, {q, k, v, gout, gq, gk, gv})) {
        attention_backward_tc(q, k, v, gout, lsep, delta.as<const float>(), gq, gk, gv, B, T, H, D, sc, dropout, seed);
        return;
      }
      const unsigned grid = attention_grid(B, H, tiles);
      attention_backward_kv_kernel<DP><<<grid, kAttnThreads>>>(qp, kp, vp, gop, lsep, delta.as<const float>(),
                                                               static_cast<E*>(gk), static_cast<E*>(gv), T, H, D, sc,
                                                               tiles, dropout, seed);
      MHC_CUDA_CHECK_LAUNCH();
      attention_backward_q_kernel<DP><<<grid, kAttnThreads>>>(qp, kp, vp, gop, lsep, delta.as<const float>(),
                                                              static_cast<E*>(gq), T, H, D, sc, tiles, dropout, seed);
      MHC_CUDA_CHECK_LAUNCH();
    });
  });
}

}  // namespace mhc
