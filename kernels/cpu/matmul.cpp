// matmul.cpp — CPU matrix products.
//
// gemm_reference is the project's own product: C is walked in blocks, and for
// each block a panel of B is first copied ("packed") into a contiguous buffer
// so the innermost loop reads memory in order whatever B's orientation. It is
// the readable reference; gemm_blas (OpenBLAS) is what training uses for all
// but tiny matrices, and tests compare the two.
//
// Thread-count independence (the promise in kernels/backend_ops.def): OpenBLAS left
// to thread a product itself runs one driver at one thread and another at
// several, and the two sum K in different blocks (OpenBLAS 0.3.21: every
// product with K over 384 and not a multiple of it gave other bits in most of
// C at 1 thread than at 2). Here C is cut into tiles whose size follows from
// (M, N, K) alone (tile_grid), and each tile is one serial OpenBLAS call over
// the whole of K, run by whichever thread takes it. K is never split, so every
// element of C is summed in the same order at any thread count.
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <vector>

#include "kernels/cpu/blas_runtime.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/thread_scratch.h"

namespace mhc::cpu {

namespace {

constexpr int64_t kBlockM = 64, kBlockN = 256, kBlockK = 128;

template <class scalar_t>
void gemm_reference_one(const GemmArgs& g, int64_t b, scalar_t* packed_b /* kBlockK * kBlockN */) {
  const scalar_t* A = static_cast<const scalar_t*>(g.a) + b * g.stride_a;
  const scalar_t* B = static_cast<const scalar_t*>(g.b) + b * g.stride_b;
  scalar_t* C = static_cast<scalar_t*>(g.c) + b * g.stride_c;
  auto a_at = [&](int64_t i, int64_t k) { return g.trans_a ? A[k * g.lda + i] : A[i * g.lda + k]; };
  auto b_at = [&](int64_t k, int64_t j) { return g.trans_b ? B[j * g.ldb + k] : B[k * g.ldb + j]; };
  const scalar_t alpha = static_cast<scalar_t>(g.alpha), beta = static_cast<scalar_t>(g.beta);

  // C = beta * C first (beta == 0 ignores whatever C held, NaN included).
  for (int64_t i = 0; i < g.M; ++i)
    for (int64_t j = 0; j < g.N; ++j) C[i * g.ldc + j] = beta == scalar_t(0) ? scalar_t(0) : beta * C[i * g.ldc + j];

  for (int64_t k0 = 0; k0 < g.K; k0 += kBlockK) {
    const int64_t kb = std::min(kBlockK, g.K - k0);
    for (int64_t j0 = 0; j0 < g.N; j0 += kBlockN) {
      const int64_t nb = std::min(kBlockN, g.N - j0);
      // Pack B[k0:k0+kb, j0:j0+nb] row-major into packed_b (kb × nb).
      for (int64_t k = 0; k < kb; ++k)
        for (int64_t j = 0; j < nb; ++j) packed_b[k * nb + j] = b_at(k0 + k, j0 + j);
      for (int64_t i0 = 0; i0 < g.M; i0 += kBlockM) {
        const int64_t mb = std::min(kBlockM, g.M - i0);
        for (int64_t i = i0; i < i0 + mb; ++i) {
          scalar_t* c_row = C + i * g.ldc + j0;
          for (int64_t k = 0; k < kb; ++k) {
            const scalar_t a = alpha * a_at(i, k0 + k);
            const scalar_t* b_row = packed_b + k * nb;
            for (int64_t j = 0; j < nb; ++j) c_row[j] += a * b_row[j];  // unit stride: vectorises
          }
        }
      }
    }
  }
}

template <class scalar_t>
void gemm_reference_typed(const GemmArgs& g, bool parallel) {
  ThreadScratch<scalar_t> packed(kBlockK * kBlockN);
#pragma omp parallel if (parallel && g.batch > 1)
  {
    scalar_t* panel = packed.get();
#pragma omp for schedule(static)
    for (int64_t b = 0; b < g.batch; ++b) gemm_reference_one<scalar_t>(g, b, panel);
  }
}

// A product of tiny matrices (the n×n stream mixes of HC/mHC, per token):
// no packing, just the loop order that keeps the innermost loop unit-stride.
template <class scalar_t>
void gemm_small_one(const GemmArgs& g, int64_t b) {
  const scalar_t* A = static_cast<const scalar_t*>(g.a) + b * g.stride_a;
  const scalar_t* B = static_cast<const scalar_t*>(g.b) + b * g.stride_b;
  scalar_t* C = static_cast<scalar_t*>(g.c) + b * g.stride_c;
  const scalar_t alpha = static_cast<scalar_t>(g.alpha), beta = static_cast<scalar_t>(g.beta);
  auto a_at = [&](int64_t i, int64_t k) { return g.trans_a ? A[k * g.lda + i] : A[i * g.lda + k]; };
  for (int64_t i = 0; i < g.M; ++i) {
    scalar_t* c = C + i * g.ldc;
    if (!g.trans_b) {  // C[i, :] = Σ_k A[i, k] B[k, :]   (B rows are contiguous)
      for (int64_t j = 0; j < g.N; ++j) c[j] = beta == scalar_t(0) ? scalar_t(0) : beta * c[j];
      for (int64_t k = 0; k < g.K; ++k) {
        const scalar_t a = alpha * a_at(i, k);
        const scalar_t* brow = B + k * g.ldb;
#pragma omp simd
        for (int64_t j = 0; j < g.N; ++j) c[j] += a * brow[j];
      }
    } else {  // C[i, j] = A[i, :] · Bᵀ[:, j]   (a dot product along K)
      for (int64_t j = 0; j < g.N; ++j) {
        const scalar_t* bcol = B + j * g.ldb;
        scalar_t dot = 0;
        if (!g.trans_a) {
          const scalar_t* arow = A + i * g.lda;
#pragma omp simd reduction(+ : dot)
          for (int64_t k = 0; k < g.K; ++k) dot += arow[k] * bcol[k];
        } else {
          for (int64_t k = 0; k < g.K; ++k) dot += a_at(i, k) * bcol[k];
        }
        c[j] = alpha * dot + (beta == scalar_t(0) ? scalar_t(0) : beta * c[j]);
      }
    }
  }
}

}  // namespace

void gemm_small_batched(const GemmArgs& g) {
  dispatch_float(g.dtype, "gemm", [&](auto tag_) {
    using scalar_t = decltype(tag_);
#pragma omp parallel for schedule(static) if (g.batch * g.M * g.N * g.K > kParallelGrain)
    for (int64_t b = 0; b < g.batch; ++b) gemm_small_one<scalar_t>(g, b);
  });
}

void gemm_reference(const GemmArgs& g) {
  dispatch_float(g.dtype, "gemm_reference", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    gemm_reference_typed<scalar_t>(g, true);
  });
}

TileGrid tile_grid(int64_t M, int64_t N, int64_t K) {
  TileGrid t{M, N, 1, 1};
  const int64_t work = M * N * K;  // multiply-adds
  if (work <= kMinTileWork) return t;
  const int64_t limit = std::clamp(work / kTargetTiles, kMinTileWork, kMaxTileWork);
  // Halve the longer side (rounded up to a multiple of 16, which keeps
  // OpenBLAS's register blocks whole) until a tile is within the limit.
  auto halve = [](int64_t side) { return std::max(kMinTileSide, (side / 2 + 15) / 16 * 16); };
  while (t.rows * t.cols * K > limit) {
    const bool rows_first = t.rows >= t.cols;
    int64_t& longer = rows_first ? t.rows : t.cols;
    int64_t& shorter = rows_first ? t.cols : t.rows;
    if (longer > kMinTileSide)
      longer = halve(longer);
    else if (shorter > kMinTileSide)
      shorter = halve(shorter);
    else
      break;
  }
  t.tiles_m = (M + t.rows - 1) / t.rows;
  t.tiles_n = (N + t.cols - 1) / t.cols;
  return t;
}

namespace {

// OpenBLAS must run each tile on its serial driver. Its OpenMP build does so
// inside an active parallel region, or when omp_get_max_threads() is 1 (it
// reads that setting on every call and follows it); its pthread build keeps
// its own pool, which is set to one thread once.
void make_openblas_serial_once() {
  static const bool done = [] {
    (void)blas_info();  // links blas_runtime.cpp, whose constructor chose and checked the kernel
    if (openblas_get_parallel() == 1) openblas_set_num_threads(1);  // 1: pthreads; 2 (OpenMP) would reset our pool
    return true;
  }();
  (void)done;
}

// One tile: C[i0 : i0+m, j0 : j0+n] of batch entry b, over the whole of K.
void blas_tile(const GemmArgs& g, int64_t b, int64_t i0, int64_t m, int64_t j0, int64_t n) {
  const auto ta = g.trans_a ? CblasTrans : CblasNoTrans;
  const auto tb = g.trans_b ? CblasTrans : CblasNoTrans;
  const int64_t a_off = b * g.stride_a + (g.trans_a ? i0 : i0 * g.lda);  // rows i0.. of op(A)
  const int64_t b_off = b * g.stride_b + (g.trans_b ? j0 * g.ldb : j0);  // columns j0.. of op(B)
  const int64_t c_off = b * g.stride_c + i0 * g.ldc + j0;
  if (g.dtype == DType::f32) {
    cblas_sgemm(CblasRowMajor, ta, tb, m, n, g.K, g.alpha, static_cast<const float*>(g.a) + a_off, g.lda,
                static_cast<const float*>(g.b) + b_off, g.ldb, g.beta, static_cast<float*>(g.c) + c_off, g.ldc);
  } else {
    cblas_dgemm(CblasRowMajor, ta, tb, m, n, g.K, g.alpha, static_cast<const double*>(g.a) + a_off, g.lda,
                static_cast<const double*>(g.b) + b_off, g.ldb, g.beta, static_cast<double*>(g.c) + c_off, g.ldc);
  }
}

}  // namespace

void gemm_blas(const GemmArgs& g) {
  if (g.dtype != DType::f32 && g.dtype != DType::f64)
    throw std::invalid_argument(std::string("gemm: dtype ") + dtype_name(g.dtype) + " is not supported on the CPU");
  make_openblas_serial_once();
  const TileGrid t = tile_grid(g.M, g.N, g.K);
  const int64_t per_entry = t.tiles_m * t.tiles_n, tiles = g.batch * per_entry;
  // Always a parallel region (of one thread when there is one tile), so the
  // region's own thread setting below is the one OpenBLAS reads.
  const int threads = static_cast<int>(std::min<int64_t>(tiles, omp_get_max_threads()));
#pragma omp parallel num_threads(threads)
  {
    omp_set_num_threads(1);  // this region's own setting: OpenBLAS sees 1 and stays serial
#pragma omp for schedule(static)
    for (int64_t i = 0; i < tiles; ++i) {
      const int64_t b = i / per_entry, r = (i % per_entry) / t.tiles_n, c = i % t.tiles_n;
      const int64_t i0 = r * t.rows, j0 = c * t.cols;
      blas_tile(g, b, i0, std::min(t.rows, g.M - i0), j0, std::min(t.cols, g.N - j0));
    }
  }
}

}  // namespace mhc::cpu

namespace mhc {

void CpuBackend::gemm(const GemmArgs& g) {
  if (g.M == 0 || g.N == 0 || g.batch == 0) return;
  if (g.K == 0) {  // empty inner dimension: C = beta * C
    for (int64_t b = 0; b < g.batch; ++b)
      dispatch_float(g.dtype, "gemm", [&](auto tag_) {
        using scalar_t = decltype(tag_);
        scalar_t* C = static_cast<scalar_t*>(g.c) + b * g.stride_c;
        for (int64_t i = 0; i < g.M; ++i)
          for (int64_t j = 0; j < g.N; ++j)
            C[i * g.ldc + j] = g.beta == 0.f ? scalar_t(0) : scalar_t(g.beta) * C[i * g.ldc + j];
      });
    return;
  }
  // Many tiny products (the n×n stream mixes of HC/mHC, one per token):
  // BLAS call overhead dominates, so run our own loop, parallel over the batch.
  const int64_t work = g.M * g.N * g.K;
  if (g.batch > 1 && work <= 32 * 32 * 32) {
    cpu::gemm_small_batched(g);
    return;
  }
  cpu::gemm_blas(g);
}

}  // namespace mhc
