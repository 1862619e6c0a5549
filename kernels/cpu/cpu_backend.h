// cpu_backend.h — the CPU implementation of Backend: OpenMP loops for
// elementwise work and reductions, OpenBLAS for matrix products.
// The definitions are split by kind over the files in this folder.
#pragma once
#include "kernels/backend.h"
#include "kernels/caching_allocator.h"

namespace mhc {

class CpuBackend final : public Backend {
 public:
  CpuBackend();
  Device device() const override { return Device::cpu; }

  void* allocate(size_t bytes) override;
  void deallocate(void* ptr, size_t bytes) override;
  AllocatorStats allocator_stats() const override;
  void reset_peak_memory() override;
  void empty_cache() override;
  void copy_to_host(void* host_dst, const void* src, size_t bytes) override;
  void copy_from_host(void* dst, const void* host_src, size_t bytes) override;
  void copy_within(void* dst, const void* src, size_t bytes) override;
  void synchronize() override {}

  void fill(DType t, void* y, int64_t n, double value) override;
  void copy_strided(DType t, const void* x, const Layout& lx, void* y, const Layout& ly) override;
  void cast(DType from, const void* x, DType to, void* y, int64_t n) override;
  void unary(UnaryOp op, DType t, const void* x, void* y, int64_t n) override;
  void unary_backward(UnaryOp op, DType t, const void* x, const void* y, const void* gy, void* gx,
                      int64_t n) override;
  void affine(DType t, const void* x, void* y, int64_t n, double scale, double shift) override;
  void binary(BinaryOp op, DType t, const void* a, const Layout& la, const void* b, const Layout& lb,
              void* out, const Shape& out_shape) override;
  void dropout(DType t, const void* x, void* y, int64_t n, float p, uint64_t seed) override;

  void sum(DType t, const void* x, void* y, int64_t outer, int64_t reduce, int64_t inner) override;

  void gemm(const GemmArgs& args) override;

  void softmax(DType t, const void* x, void* y, int64_t outer, int64_t dim, int64_t inner,
               bool log) override;
  void softmax_backward(DType t, const void* y, const void* gy, void* gx, int64_t outer, int64_t dim,
                        int64_t inner, bool log) override;
  void cross_entropy(DType t, const void* logits, const int32_t* targets, void* loss, void* lse,
                     int64_t rows, int64_t V, int32_t ignore_index) override;
  void cross_entropy_backward(DType t, const void* logits, const int32_t* targets, const void* lse,
                              const void* gloss, void* glogits, int64_t rows, int64_t V,
                              int32_t ignore_index) override;
  void count_not_equal(const int32_t* x, int64_t n, int32_t value, float* out) override;
  void rmsnorm(DType t, const void* x, const void* w, void* y, void* rstd, int64_t rows, int64_t C,
               float eps) override;
  void rmsnorm_backward(DType t, const void* x, const void* w, const void* rstd, const void* gy,
                        void* gx, void* gw, int64_t rows, int64_t C) override;

  void gather(DType t, const void* x, const int32_t* idx, void* y, int64_t outer, int64_t dim,
              int64_t inner, int64_t n_idx) override;
  void index_add(DType t, void* y, const int32_t* idx, const void* src, int64_t outer, int64_t dim,
                 int64_t inner, int64_t n_idx) override;
  void gather_last(DType t, const void* x, const int32_t* idx, void* y, int64_t rows, int64_t cols,
                   int64_t k) override;
  void scatter_add_last(DType t, void* y, const int32_t* idx, const void* src, int64_t rows,
                        int64_t cols, int64_t k) override;
  void topk(DType t, const void* x, void* values, int32_t* indices, int64_t rows, int64_t cols,
            int64_t k) override;

  void sinkhorn(DType t, const void* logits, void* out, int64_t M, int64_t n, int iters) override;
  void sinkhorn_backward(DType t, const void* logits, const void* grad_out, void* grad_logits, int64_t M,
                         int64_t n, int iters) override;
  void attention(DType t, const void* q, const void* k, const void* v, void* out, void* lse, int64_t B, int64_t T,
                 int64_t H, int64_t D, double scale, float dropout, uint64_t seed) override;
  void attention_backward(DType t, const void* q, const void* k, const void* v, const void* out, const void* lse,
                          const void* gout, void* gq, void* gk, void* gv, int64_t B, int64_t T, int64_t H, int64_t D,
                          double scale, float dropout, uint64_t seed) override;
  void moe_dispatch(const int32_t* expert_of, int64_t tokens, int64_t k, int64_t E, int32_t* order, int32_t* token,
                    int32_t* offsets) override;
  bool prefers_fused_mhc() const override { return false; }
  void mhc_project(DType t, const void* x, const void* phi, void* q, void* rstd, int64_t M, int64_t K, int64_t P,
                   float eps) override;
  void mhc_project_backward(DType t, const void* x, const void* phi, const void* q, const void* rstd, const void* gq,
                            void* gx, int64_t M, int64_t K, int64_t P) override;
  void mhc_gates(DType t, const void* q, const void* alpha, const void* bias, void* coeffs, int64_t M, int64_t n,
                 int iters, bool sigmoid_gates) override;
  void mhc_gates_backward(DType t, const void* q, const void* alpha, const void* bias, const void* gcoeffs, void* gh,
                          int64_t M, int64_t n, int iters, bool sigmoid_gates) override;
  void mhc_pre(DType t, const void* x, const void* coeffs, void* h_in, int64_t M, int64_t n, int64_t C) override;
  void mhc_pre_backward(DType t, const void* x, const void* coeffs, const void* g_hin, void* gx, void* gcoeffs,
                        int64_t M, int64_t n, int64_t C) override;
  void mhc_post(DType t, const void* x, const void* y, const void* coeffs, void* out, int64_t M, int64_t n,
                int64_t C) override;
  void mhc_post_backward(DType t, const void* x, const void* y, const void* coeffs, const void* g_out, void* gx,
                         void* gy, void* gcoeffs, int64_t M, int64_t n, int64_t C) override;
  void rope(DType t, const void* x, const float* cos, const float* sin, void* y, int64_t B, int64_t T,
            int64_t H, int64_t D, bool inverse) override;
  void adamw_multi(const AdamWTensor* list, int64_t count, const AdamWHyper& h) override;

 private:
  CachingAllocator allocator_;
};

namespace cpu {
// The project's own matrix product: a cache-blocked triple loop, kept as the
// readable reference that the BLAS path is tested against. Same contract as
// Backend::gemm.
void gemm_reference(const GemmArgs& args);
// Batched products of tiny matrices: a plain loop per batch entry, no packing.
void gemm_small_batched(const GemmArgs& args);
// The BLAS path alone: C cut into the tiles of tile_grid, one serial
// cblas_sgemm / cblas_dgemm per tile, tiles spread over the OpenMP threads.
void gemm_blas(const GemmArgs& args);

// How gemm_blas cuts one M×N product over K into tiles of at most rows × cols
// (tiles_m × tiles_n of them; the last row and column of tiles may be
// smaller). A function of the shape alone, never of the thread count, so each
// element of C is summed in the same order however many threads share the tiles.
struct TileGrid {
  int64_t rows, cols, tiles_m, tiles_n;
};
TileGrid tile_grid(int64_t M, int64_t N, int64_t K);
// A product of at most kMinTileWork multiply-adds is one tile; a larger one
// gets about kTargetTiles tiles of kMinTileWork to kMaxTileWork multiply-adds,
// no side cut below kMinTileSide. Few, large tiles: each tile packs its own
// panels of A and B, so every extra tile repacks data another tile packed too.
inline constexpr int64_t kTargetTiles = 4, kMinTileWork = int64_t(1) << 20, kMaxTileWork = int64_t(1) << 23;
inline constexpr int64_t kMinTileSide = 32;

// Elementwise loops go parallel above this many elements; below it the
// thread start costs more than it saves.
inline constexpr int64_t kParallelGrain = 16384;
// Flat elementwise loops hand their threads fixed chunks of this many
// elements (schedule(static, kElementChunk)), a multiple of every vector
// width. The compiler's vector loop body and its scalar remainder may round
// differently (they need not fuse the same multiply-adds), so an element must
// land in the same one whatever the thread count: with fixed chunks, only the
// last chunk has a remainder, at any thread count.
inline constexpr int64_t kElementChunk = 4096;
}  // namespace cpu

}  // namespace mhc
