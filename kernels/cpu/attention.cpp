// attention.cpp — CPU fused causal attention on (B, T, H, D) tensors, one
// (batch, head) pair per task: scores for the causal triangle, a max-shifted
// softmax, optional dropout on the probabilities, the weighted sum of values.
// The backward recomputes the probabilities from q, k and the saved
// log-sum-exp, and the dropout mask from its seed (M = keep / (1 − p)):
//   P = exp(S − lse),  dV = (P ⊙ M)ᵀ dO,  dP = (dO Vᵀ) ⊙ M,
//   dS = P ⊙ (dP − rowsum(dO ⊙ O)),  dQ = scale · dS K,  dK = scale · dSᵀ Q.
#include <cmath>
#include <vector>

#include "kernels/counter_rng.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/dot.h"
#include "kernels/cpu/fast_math.h"
#include "kernels/cpu/thread_scratch.h"

namespace mhc {

namespace {

using cpu::dot;

// The dropout factor keep / (1 − p) of probability (bh, t, s), in T's
// precision (the composed path's dropout op scales in T too).
template <class scalar_t>
inline scalar_t dropout_factor(float p, uint64_t seed, int64_t bh, int64_t t, int64_t s, int64_t Tn) {
  if (p == 0.f) return scalar_t(1);
  return dropout_keep(seed, attention_mask_index(bh, t, s, Tn), p)
             ? scalar_t(1) / (scalar_t(1) - static_cast<scalar_t>(p))
             : scalar_t(0);
}

template <class scalar_t>
void attention_forward(const scalar_t* q, const scalar_t* k, const scalar_t* v, scalar_t* out, scalar_t* lse, int64_t B,
                       int64_t Tn, int64_t H, int64_t D, scalar_t scale, float drop, uint64_t seed) {
  const int64_t row = H * D;  // stride between consecutive positions
  cpu::ThreadScratch<scalar_t> scores(Tn);
#pragma omp parallel
  {
    scalar_t* p = scores.get();  // (Tn)
#pragma omp for schedule(static) collapse(2)
    for (int64_t b = 0; b < B; ++b)
      for (int64_t h = 0; h < H; ++h) {
        const scalar_t* qb = q + b * Tn * row + h * D;
        const scalar_t* kb = k + b * Tn * row + h * D;
        const scalar_t* vb = v + b * Tn * row + h * D;
        scalar_t* ob = out + b * Tn * row + h * D;
        scalar_t* lse_bh = lse + (b * H + h) * Tn;
        for (int64_t t = 0; t < Tn; ++t) {
          scalar_t m = -INFINITY;
          for (int64_t s = 0; s <= t; ++s) {
            p[s] = scale * dot(qb + t * row, kb + s * row, D);
            m = std::max(m, p[s]);
          }
          scalar_t sum = 0;
          for (int64_t s = 0; s <= t; ++s) {
            p[s] = cpu::exp_fast(p[s] - m);
            sum += p[s];
          }
          lse_bh[t] = m + std::log(sum);
          const scalar_t inv = scalar_t(1) / sum;
          scalar_t* o = ob + t * row;
          for (int64_t d = 0; d < D; ++d) o[d] = 0;
          for (int64_t s = 0; s <= t; ++s) {
            const scalar_t w = p[s] * inv * dropout_factor<scalar_t>(drop, seed, b * H + h, t, s, Tn);
            const scalar_t* vs = vb + s * row;
#pragma omp simd
            for (int64_t d = 0; d < D; ++d) o[d] += w * vs[d];
          }
        }
      }
  }
}

template <class scalar_t>
void attention_backward_impl(const scalar_t* q, const scalar_t* k, const scalar_t* v, const scalar_t* out,
                             const scalar_t* lse, const scalar_t* gout, scalar_t* gq, scalar_t* gk, scalar_t* gv,
                             int64_t B, int64_t Tn, int64_t H, int64_t D, scalar_t scale, float drop, uint64_t seed) {
  const int64_t row = H * D;
  cpu::ThreadScratch<scalar_t> score_grads(Tn);
#pragma omp parallel
  {
    scalar_t* ds = score_grads.get();  // (Tn)
#pragma omp for schedule(static) collapse(2)
    for (int64_t b = 0; b < B; ++b)
      for (int64_t h = 0; h < H; ++h) {
        const int64_t base = b * Tn * row + h * D;
        const scalar_t *qb = q + base, *kb = k + base, *vb = v + base, *ob = out + base, *gob = gout + base;
        scalar_t *gqb = gq + base, *gkb = gk + base, *gvb = gv + base;
        const scalar_t* lse_bh = lse + (b * H + h) * Tn;
        for (int64_t t = 0; t < Tn; ++t)
          for (int64_t d = 0; d < D; ++d) gqb[t * row + d] = gkb[t * row + d] = gvb[t * row + d] = 0;
        for (int64_t t = 0; t < Tn; ++t) {
          const scalar_t* qt = qb + t * row;
          const scalar_t* got = gob + t * row;
          const scalar_t delta = dot(got, ob + t * row, D);  // rowsum(dO ⊙ O)
          const scalar_t l = lse_bh[t];
          for (int64_t s = 0; s <= t; ++s) {
            const scalar_t p = cpu::exp_fast(scale * dot(qt, kb + s * row, D) - l);
            const scalar_t m = dropout_factor<scalar_t>(drop, seed, b * H + h, t, s, Tn);
            // dV[s] += p·m · dO[t]
            scalar_t* gvs = gvb + s * row;
            const scalar_t pm = p * m;
#pragma omp simd
            for (int64_t d = 0; d < D; ++d) gvs[d] += pm * got[d];
            ds[s] = p * (dot(got, vb + s * row, D) * m - delta);
          }
          scalar_t* gqt = gqb + t * row;
          for (int64_t s = 0; s <= t; ++s) {
            const scalar_t w = scale * ds[s];
            const scalar_t* ks = kb + s * row;
            scalar_t* gks = gkb + s * row;
#pragma omp simd
            for (int64_t d = 0; d < D; ++d) {
              gqt[d] += w * ks[d];
              gks[d] += w * qt[d];
            }
          }
        }
      }
  }
}

}  // namespace

void CpuBackend::attention(DType t, const void* q, const void* k, const void* v, void* out, void* lse, int64_t B,
                           int64_t T, int64_t H, int64_t D, double scale, float dropout, uint64_t seed) {
  dispatch_float(t, "attention", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    attention_forward(static_cast<const scalar_t*>(q), static_cast<const scalar_t*>(k), static_cast<const scalar_t*>(v),
                      static_cast<scalar_t*>(out), static_cast<scalar_t*>(lse), B, T, H, D,
                      static_cast<scalar_t>(scale), dropout, seed);
  });
}

void CpuBackend::attention_backward(DType t, const void* q, const void* k, const void* v, const void* out,
                                    const void* lse, const void* gout, void* gq, void* gk, void* gv, int64_t B,
                                    int64_t T, int64_t H, int64_t D, double scale, float dropout, uint64_t seed) {
  dispatch_float(t, "attention", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    attention_backward_impl(static_cast<const scalar_t*>(q), static_cast<const scalar_t*>(k),
                            static_cast<const scalar_t*>(v), static_cast<const scalar_t*>(out),
                            static_cast<const scalar_t*>(lse), static_cast<const scalar_t*>(gout),
                            static_cast<scalar_t*>(gq), static_cast<scalar_t*>(gk), static_cast<scalar_t*>(gv), B, T, H,
                            D, static_cast<scalar_t>(scale), dropout, seed);
  });
}

}  // namespace mhc
