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

  // Every method of kernels/backend_ops.def, defined in the file of this
  // folder named for its kind (memory: cpu_backend.cpp).
#define MHC_BACKEND_METHOD(ret, name, params, qualifier) ret name params qualifier override;
#define MHC_BACKEND_OP(name, params, args) void name params override;
#include "kernels/backend_ops.def"

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
