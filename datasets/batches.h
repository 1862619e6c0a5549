// batches.h — from one token stream to training batches: the train/validation
// split, the random-window sampler for training (resumable from a checkpoint),
// and the fixed set of validation batches.
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "autograd/random.h"
#include "autograd/tensor.h"
#include "datasets/token_source.h"

namespace mhc {

struct TokenSplit {
  std::vector<int32_t> train, val;
};

// Cuts `tokens` into consecutive chunks of `chunk_tokens` (the last may be
// shorter) and sends round(val_fraction * chunks) of them, chosen by a shuffle
// seeded with `seed`, to validation (at least one when val_fraction > 0).
// Chunks keep their order inside each split, so windows rarely straddle a cut.
// Throws std::invalid_argument for val_fraction outside [0, 1), chunk_tokens < 1,
// no tokens, or val_fraction > 0 with fewer than 2 chunks.
// The last val_fraction of the stream is validation, the rest training — the
// split nanoGPT uses for Tiny Shakespeare, so its validation losses compare.
TokenSplit split_tail(const std::vector<int32_t>& tokens, double val_fraction);

TokenSplit split_tokens(const std::vector<int32_t>& tokens, double val_fraction, uint64_t seed,
                        int64_t chunk_tokens = 4096);

// One rank's share of every batch in data-parallel training: of a global
// batch of batch × ranks rows, rows [rank · batch, (rank + 1) · batch).
struct Shard {
  int rank = 0, ranks = 1;
};

// Draws (x, y) batches of random windows from one split:
// row b is x = tokens[o_b .. o_b+block), y = tokens[o_b+1 .. o_b+block+1).
// With a shard, every rank draws the window starts of the whole global batch
// (the same on all ranks, from the same seed) and keeps its own rows: the
// global batch of K ranks with batch B is the batch of one process with
// batch K · B, and the sampler's state does not depend on K.
class BatchSampler {
 public:
  // `tokens` is not copied and must outlive the sampler: ids in memory, or
  // memory-mapped token files (datasets/token_source.h). Throws
  // std::invalid_argument when the split has fewer than block + 1 tokens,
  // or for a shard outside [0, ranks).
  BatchSampler(const TokenSource* tokens, int64_t batch, int64_t block, uint64_t seed, Shard shard = {});
  BatchSampler(const std::vector<int32_t>* tokens, int64_t batch, int64_t block, uint64_t seed, Shard shard = {});

  // Fills x and y with new i32 CPU tensors of shape (batch, block).
  void next(Tensor& x, Tensor& y);

  // Everything needed to continue the same sequence of batches after a restart.
  struct State {
    std::array<uint64_t, 4> rng_words;  // xoshiro256** state
    uint64_t batches_drawn;
  };
  State state() const;
  void set_state(const State& state);
  uint64_t batches_drawn() const { return batches_drawn_; }

 private:
  BatchSampler(std::unique_ptr<TokenVector> own_view, const TokenSource* tokens, int64_t batch, int64_t block,
               uint64_t seed, Shard shard);
  std::unique_ptr<TokenVector> own_view_;  // the vector constructor's view
  const TokenSource* tokens_;
  int64_t batch_, block_;
  Shard shard_;
  Rng rng_;
  uint64_t batches_drawn_ = 0;
};

// The validation windows every run scores, whatever its seed, variant or
// number of ranks: consecutive windows of `block` tokens tiled from the
// start of `tokens` (window k: x = ids [kT, kT + T), y = ids [kT + 1,
// kT + T + 1)), grouped in order into batches of `batch` rows (the last one
// may be shorter). max_windows > 0 keeps the first max_windows windows; 0
// keeps every window of the split. With a shard {rank, ranks},
// this rank's share: batch i when i % ranks == rank (a rank may get none).
// Throws when the split holds no window (fewer than block + 1 tokens).
struct ValidationSet {
  std::vector<std::pair<Tensor, Tensor>> batches;  // this rank's, (rows, block) each
  int64_t windows = 0;                             // of every rank together
};
ValidationSet validation_batches(const TokenSource& tokens, int64_t batch, int64_t block, int64_t max_windows,
                                 Shard shard = {});
ValidationSet validation_batches(const std::vector<int32_t>& tokens, int64_t batch, int64_t block, int64_t max_windows,
                                 Shard shard = {});

}  // namespace mhc
