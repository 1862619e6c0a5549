// mhc.cpp — CPU reference kernels of the fused mHC site (see backend_ops.def,
// "fused mHC site"). The CPU trains with the unfused composition of ops;
// these loops exist so the fused path has a readable reference that runs
// anywhere, is gradient-checked in f64, and is what the CUDA kernels are
// compared against. One token per loop iteration, OpenMP across tokens.
// Dtypes (backend_ops.def): t is the streams' dtype, except in mhc_gates and its
// backward, where it is the coefficient dtype. The CPU computes f32 and f64
// only, where the two coincide (stat_dtype(t) = t), so every tensor of a call
// is read as t.
#include <cmath>
#include <vector>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/fast_math.h"
#include "kernels/sinkhorn_contract.h"

namespace mhc {

using cpu::sigmoid_fast;  // the same σ as the composed path's sigmoid op

namespace {
constexpr int64_t kMaxP = 2 * kSinkhornMaxN + kSinkhornMaxN * kSinkhornMaxN;  // coefficients per token, n ≤ 8
}  // namespace

void CpuBackend::mhc_project(DType t, const void* x, const void* phi, void* q, void* rstd, int64_t M, int64_t K,
                             int64_t P, float eps) {
  if (P < 3 || P > kMaxP)
    throw std::invalid_argument("mhc_project: P = " + std::to_string(P) + " is not 2n + n² for 1 ≤ n ≤ 8");
  dispatch_float(t, "mhc_project", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    const scalar_t* xp = static_cast<const scalar_t*>(x);
    const scalar_t* W = static_cast<const scalar_t*>(phi);
    scalar_t* qp = static_cast<scalar_t*>(q);
    scalar_t* rp = static_cast<scalar_t*>(rstd);
#pragma omp parallel for schedule(static) if (M * K * P > cpu::kParallelGrain)
    for (int64_t m = 0; m < M; ++m) {
      const scalar_t* v = xp + m * K;
      scalar_t acc[kMaxP] = {};  // P ≤ 2·8 + 8² = 80
      scalar_t ss = 0;
      for (int64_t c = 0; c < K; ++c) {
        ss += v[c] * v[c];
        for (int64_t k = 0; k < P; ++k) acc[k] += v[c] * W[c * P + k];
      }
      const scalar_t r = scalar_t(1) / std::sqrt(ss / static_cast<scalar_t>(K) + static_cast<scalar_t>(eps));
      rp[m] = r;
      for (int64_t k = 0; k < P; ++k) qp[m * P + k] = r * acc[k];
    }
  });
}

void CpuBackend::mhc_project_backward(DType t, const void* x, const void* phi, const void* q, const void* rstd,
                                      const void* gq, void* gx, int64_t M, int64_t K, int64_t P) {
  dispatch_float(t, "mhc_project", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    const scalar_t* xp = static_cast<const scalar_t*>(x);
    const scalar_t* W = static_cast<const scalar_t*>(phi);
    const scalar_t* qp = static_cast<const scalar_t*>(q);
    const scalar_t* rp = static_cast<const scalar_t*>(rstd);
    const scalar_t* gp = static_cast<const scalar_t*>(gq);
    scalar_t* out = static_cast<scalar_t*>(gx);
#pragma omp parallel for schedule(static) if (M * K * P > cpu::kParallelGrain)
    for (int64_t m = 0; m < M; ++m) {
      const scalar_t r = rp[m];
      scalar_t dot = 0;  // gq · q
      for (int64_t k = 0; k < P; ++k) dot += gp[m * P + k] * qp[m * P + k];
      const scalar_t c = r * r / static_cast<scalar_t>(K) * dot;
      for (int64_t i = 0; i < K; ++i) {
        scalar_t s = 0;
        for (int64_t k = 0; k < P; ++k) s += W[i * P + k] * gp[m * P + k];
        out[m * K + i] = r * s - xp[m * K + i] * c;
      }
    }
  });
}

void CpuBackend::mhc_gates(DType t, const void* q, const void* alpha, const void* bias, void* coeffs, int64_t M,
                           int64_t n, int iters, bool sigmoid_gates) {
  dispatch_float(t, "mhc_gates", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    const int64_t P = 2 * n + n * n;
    const scalar_t* qp = static_cast<const scalar_t*>(q);
    const scalar_t* a = static_cast<const scalar_t*>(alpha);
    const scalar_t* b = static_cast<const scalar_t*>(bias);
    scalar_t* out = static_cast<scalar_t*>(coeffs);
    std::vector<scalar_t> res_logits(M * n * n), res(M * n * n);
    for (int64_t m = 0; m < M; ++m) {
      for (int64_t j = 0; j < 2 * n; ++j) {
        const scalar_t h = a[j] * qp[m * P + j] + b[j];
        out[m * P + j] = !sigmoid_gates ? scalar_t(1) : (j < n ? sigmoid_fast(h) : scalar_t(2) * sigmoid_fast(h));
      }
      for (int64_t j = 0; j < n * n; ++j)
        res_logits[m * n * n + j] = a[2 * n + j] * qp[m * P + 2 * n + j] + b[2 * n + j];
    }
    sinkhorn(t, res_logits.data(), res.data(), M, n, iters);
    for (int64_t m = 0; m < M; ++m)
      for (int64_t j = 0; j < n * n; ++j) out[m * P + 2 * n + j] = res[m * n * n + j];
  });
}

void CpuBackend::mhc_gates_backward(DType t, const void* q, const void* alpha, const void* bias, const void* gcoeffs,
                                    void* gh, int64_t M, int64_t n, int iters, bool sigmoid_gates) {
  dispatch_float(t, "mhc_gates", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    const int64_t P = 2 * n + n * n;
    const scalar_t* qp = static_cast<const scalar_t*>(q);
    const scalar_t* a = static_cast<const scalar_t*>(alpha);
    const scalar_t* b = static_cast<const scalar_t*>(bias);
    const scalar_t* g = static_cast<const scalar_t*>(gcoeffs);
    scalar_t* out = static_cast<scalar_t*>(gh);
    std::vector<scalar_t> res_logits(M * n * n), g_res(M * n * n), gh_res(M * n * n);
    for (int64_t m = 0; m < M; ++m) {
      for (int64_t j = 0; j < 2 * n; ++j) {
        const scalar_t s = sigmoid_fast(a[j] * qp[m * P + j] + b[j]);
        const scalar_t scale = j < n ? scalar_t(1) : scalar_t(2);  // H_pre = σ, H_post = 2σ
        out[m * P + j] = sigmoid_gates ? g[m * P + j] * scale * s * (scalar_t(1) - s) : scalar_t(0);
      }
      for (int64_t j = 0; j < n * n; ++j) {
        res_logits[m * n * n + j] = a[2 * n + j] * qp[m * P + 2 * n + j] + b[2 * n + j];
        g_res[m * n * n + j] = g[m * P + 2 * n + j];
      }
    }
    sinkhorn_backward(t, res_logits.data(), g_res.data(), gh_res.data(), M, n, iters);
    for (int64_t m = 0; m < M; ++m)
      for (int64_t j = 0; j < n * n; ++j) out[m * P + 2 * n + j] = gh_res[m * n * n + j];
  });
}

void CpuBackend::mhc_pre(DType t, const void* x, const void* coeffs, void* h_in, int64_t M, int64_t n, int64_t C) {
  dispatch_float(t, "mhc_pre", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    const int64_t P = 2 * n + n * n;
    const scalar_t* xp = static_cast<const scalar_t*>(x);
    const scalar_t* cp = static_cast<const scalar_t*>(coeffs);
    scalar_t* out = static_cast<scalar_t*>(h_in);
#pragma omp parallel for schedule(static) if (M * n * C > cpu::kParallelGrain)
    for (int64_t m = 0; m < M; ++m)
      for (int64_t c = 0; c < C; ++c) {
        scalar_t s = 0;
        for (int64_t j = 0; j < n; ++j) s += cp[m * P + j] * xp[(m * n + j) * C + c];
        out[m * C + c] = s;
      }
  });
}

void CpuBackend::mhc_pre_backward(DType t, const void* x, const void* coeffs, const void* g_hin, void* gx,
                                  void* gcoeffs, int64_t M, int64_t n, int64_t C) {
  dispatch_float(t, "mhc_pre", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    const int64_t P = 2 * n + n * n;
    const scalar_t* xp = static_cast<const scalar_t*>(x);
    const scalar_t* cp = static_cast<const scalar_t*>(coeffs);
    const scalar_t* g = static_cast<const scalar_t*>(g_hin);
    scalar_t* gxp = static_cast<scalar_t*>(gx);
    scalar_t* gc = static_cast<scalar_t*>(gcoeffs);
#pragma omp parallel for schedule(static) if (M * n * C > cpu::kParallelGrain)
    for (int64_t m = 0; m < M; ++m) {
      for (int64_t k = 0; k < P; ++k) gc[m * P + k] = 0;
      for (int64_t j = 0; j < n; ++j) {
        scalar_t s = 0;
        for (int64_t c = 0; c < C; ++c) {
          s += g[m * C + c] * xp[(m * n + j) * C + c];
          gxp[(m * n + j) * C + c] = cp[m * P + j] * g[m * C + c];
        }
        gc[m * P + j] = s;
      }
    }
  });
}

void CpuBackend::mhc_post(DType t, const void* x, const void* y, const void* coeffs, void* out, int64_t M, int64_t n,
                          int64_t C) {
  dispatch_float(t, "mhc_post", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    const int64_t P = 2 * n + n * n;
    const scalar_t* xp = static_cast<const scalar_t*>(x);
    const scalar_t* yp = static_cast<const scalar_t*>(y);
    const scalar_t* cp = static_cast<const scalar_t*>(coeffs);
    scalar_t* op = static_cast<scalar_t*>(out);
#pragma omp parallel for schedule(static) if (M * n * C > cpu::kParallelGrain)
    for (int64_t m = 0; m < M; ++m) {
      const scalar_t* H_post = cp + m * P + n;
      const scalar_t* H_res = cp + m * P + 2 * n;
      for (int64_t i = 0; i < n; ++i)
        for (int64_t c = 0; c < C; ++c) {
          scalar_t s = H_post[i] * yp[m * C + c];
          for (int64_t j = 0; j < n; ++j) s += H_res[i * n + j] * xp[(m * n + j) * C + c];
          op[(m * n + i) * C + c] = s;
        }
    }
  });
}

void CpuBackend::mhc_post_backward(DType t, const void* x, const void* y, const void* coeffs, const void* g_out,
                                   void* gx, void* gy, void* gcoeffs, int64_t M, int64_t n, int64_t C) {
  dispatch_float(t, "mhc_post", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    const int64_t P = 2 * n + n * n;
    const scalar_t* xp = static_cast<const scalar_t*>(x);
    const scalar_t* yp = static_cast<const scalar_t*>(y);
    const scalar_t* cp = static_cast<const scalar_t*>(coeffs);
    const scalar_t* g = static_cast<const scalar_t*>(g_out);
    scalar_t* gxp = static_cast<scalar_t*>(gx);
    scalar_t* gyp = static_cast<scalar_t*>(gy);
    scalar_t* gc = static_cast<scalar_t*>(gcoeffs);
#pragma omp parallel for schedule(static) if (M * n * C > cpu::kParallelGrain)
    for (int64_t m = 0; m < M; ++m) {
      const scalar_t* H_post = cp + m * P + n;
      const scalar_t* H_res = cp + m * P + 2 * n;
      for (int64_t k = 0; k < n; ++k) gc[m * P + k] = 0;
      for (int64_t c = 0; c < C; ++c) {
        scalar_t s = 0;
        for (int64_t i = 0; i < n; ++i) s += H_post[i] * g[(m * n + i) * C + c];
        gyp[m * C + c] = s;
        for (int64_t j = 0; j < n; ++j) {
          scalar_t sx = 0;
          for (int64_t i = 0; i < n; ++i) sx += H_res[i * n + j] * g[(m * n + i) * C + c];
          gxp[(m * n + j) * C + c] = sx;
        }
      }
      for (int64_t i = 0; i < n; ++i) {
        scalar_t sp = 0;
        for (int64_t c = 0; c < C; ++c) sp += g[(m * n + i) * C + c] * yp[m * C + c];
        gc[m * P + n + i] = sp;
        for (int64_t j = 0; j < n; ++j) {
          scalar_t sr = 0;
          for (int64_t c = 0; c < C; ++c) sr += g[(m * n + i) * C + c] * xp[(m * n + j) * C + c];
          gc[m * P + 2 * n + i * n + j] = sr;
        }
      }
    }
  });
}

}  // namespace mhc
