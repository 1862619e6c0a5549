// batches.cpp — train/validation split, the batch sampler and the validation batches.
#include "datasets/batches.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

namespace mhc {

TokenSplit split_tail(const std::vector<int32_t>& tokens, double val_fraction) {
  if (!(val_fraction > 0.0 && val_fraction < 1.0))
    throw std::invalid_argument(fmt::format("split_tail: val_fraction {} is outside (0, 1)", val_fraction));
  const int64_t total = static_cast<int64_t>(tokens.size());
  const int64_t n_val = std::llround(val_fraction * static_cast<double>(total));
  if (n_val < 2 || total - n_val < 2)
    throw std::invalid_argument(
        fmt::format("split_tail: too few tokens ({}) for a validation share of {}", total, val_fraction));
  TokenSplit split;
  split.train.assign(tokens.begin(), tokens.end() - n_val);
  split.val.assign(tokens.end() - n_val, tokens.end());
  return split;
}

TokenSplit split_tokens(const std::vector<int32_t>& tokens, double val_fraction, uint64_t seed, int64_t chunk_tokens) {
  if (!(val_fraction >= 0.0 && val_fraction < 1.0))
    throw std::invalid_argument(fmt::format("split_tokens: val_fraction {} is outside [0, 1)", val_fraction));
  if (chunk_tokens < 1)
    throw std::invalid_argument(fmt::format("split_tokens: chunk_tokens {} must be at least 1", chunk_tokens));
  if (tokens.empty()) throw std::invalid_argument("split_tokens: too few tokens: there are none");

  const int64_t total = static_cast<int64_t>(tokens.size());
  const int64_t chunks = (total + chunk_tokens - 1) / chunk_tokens;
  if (val_fraction > 0 && chunks < 2)
    throw std::invalid_argument(
        fmt::format("split_tokens: too few tokens: {} tokens make {} chunk of {}, and a validation split needs at "
                    "least 2 chunks (use a smaller chunk size or more text)",
                    total, chunks, chunk_tokens));

  int64_t val_chunks = std::llround(val_fraction * static_cast<double>(chunks));
  if (val_fraction > 0) val_chunks = std::clamp<int64_t>(val_chunks, 1, chunks - 1);

  // Seeded Fisher-Yates shuffle of the chunk indices; the first val_chunks go to validation.
  std::vector<int64_t> order(chunks);
  std::iota(order.begin(), order.end(), 0);
  Rng rng(seed);
  for (int64_t i = chunks - 1; i > 0; --i) std::swap(order[i], order[rng.below(i + 1)]);
  std::vector<bool> is_val(chunks, false);
  for (int64_t i = 0; i < val_chunks; ++i) is_val[order[i]] = true;

  TokenSplit split;
  for (int64_t c = 0; c < chunks; ++c) {
    const auto begin = tokens.begin() + c * chunk_tokens;
    const auto end = tokens.begin() + std::min(total, (c + 1) * chunk_tokens);
    auto& dest = is_val[c] ? split.val : split.train;
    dest.insert(dest.end(), begin, end);
  }
  return split;
}

BatchSampler::BatchSampler(const std::vector<int32_t>* tokens, int64_t batch, int64_t block, uint64_t seed, Shard shard)
    : BatchSampler(tokens ? std::make_unique<TokenVector>(tokens) : nullptr, nullptr, batch, block, seed, shard) {}

BatchSampler::BatchSampler(const TokenSource* tokens, int64_t batch, int64_t block, uint64_t seed, Shard shard)
    : BatchSampler(nullptr, tokens, batch, block, seed, shard) {}

BatchSampler::BatchSampler(std::unique_ptr<TokenVector> own_view, const TokenSource* tokens, int64_t batch,
                           int64_t block, uint64_t seed, Shard shard)
    : own_view_(std::move(own_view)),
      tokens_(own_view_ ? own_view_.get() : tokens),
      batch_(batch),
      block_(block),
      shard_(shard),
      rng_(seed) {
  tokens = tokens_;
  if (shard.ranks < 1 || shard.rank < 0 || shard.rank >= shard.ranks)
    throw std::invalid_argument(fmt::format("BatchSampler: shard {} of {} ranks", shard.rank, shard.ranks));
  if (!tokens) throw std::invalid_argument("BatchSampler: no token vector given");
  if (batch < 1 || block < 1)
    throw std::invalid_argument(
        fmt::format("BatchSampler: batch ({}) and block ({}) must be at least 1", batch, block));
  if (tokens->size() < block + 1)
    throw std::invalid_argument(
        fmt::format("BatchSampler: the split has {} tokens, but a window of block {} needs block + 1 = {} "
                    "(the extra token is the last target)",
                    tokens->size(), block, block + 1));
}

void BatchSampler::next(Tensor& x, Tensor& y) {
  // Window starts o in [0, size - block - 1], so o + block + 1 <= size.
  const auto starts = static_cast<uint64_t>(tokens_->size() - block_);
  std::vector<int32_t> xs(batch_ * block_), ys(batch_ * block_);  // (B, T) each
  std::vector<int32_t> window(block_ + 1);                        // ids o .. o + block
  const int64_t first = shard_.rank * batch_;                     // this rank's rows of the global batch
  for (int64_t g = 0; g < batch_ * shard_.ranks; ++g) {
    const auto o = static_cast<int64_t>(rng_.below(starts));
    if (g < first || g >= first + batch_) continue;
    const int64_t b = g - first;
    tokens_->read(o, block_ + 1, window.data());
    std::copy_n(window.begin(), block_, xs.begin() + b * block_);
    std::copy_n(window.begin() + 1, block_, ys.begin() + b * block_);
  }
  x = Tensor::from_ints(xs, Shape{batch_, block_});
  y = Tensor::from_ints(ys, Shape{batch_, block_});
  ++batches_drawn_;
}

BatchSampler::State BatchSampler::state() const { return {rng_.state().s, batches_drawn_}; }

void BatchSampler::set_state(const State& state) {
  // The sampler never draws normals, so the Box-Muller spare is always empty.
  rng_.set_state({state.rng_words, 0.0, false});
  batches_drawn_ = state.batches_drawn;
}

ValidationSet validation_batches(const TokenSource& tokens, int64_t batch, int64_t block, int64_t max_windows,
                                 Shard shard) {
  if (batch < 1 || block < 1 || max_windows < 0)
    throw std::invalid_argument(
        fmt::format("validation_batches: batch ({}) and block ({}) must be at least 1, "
                    "max_windows ({}) at least 0",
                    batch, block, max_windows));
  if (shard.ranks < 1 || shard.rank < 0 || shard.rank >= shard.ranks)
    throw std::invalid_argument(fmt::format("validation_batches: shard {} of {} ranks", shard.rank, shard.ranks));
  int64_t windows = (tokens.size() - 1) / block;  // window k needs ids up to kT + T (its last target)
  if (windows < 1)
    throw std::invalid_argument(
        fmt::format("validation: the split has {} tokens, fewer than one window of block {} "
                    "+ 1 (the extra token is the last target)",
                    tokens.size(), block));
  if (max_windows > 0) windows = std::min(windows, max_windows);
  ValidationSet set;
  set.windows = windows;
  std::vector<int32_t> window(block + 1);
  const int64_t batches = (windows + batch - 1) / batch;
  for (int64_t i = shard.rank; i < batches; i += shard.ranks) {
    const int64_t rows = std::min(batch, windows - i * batch);
    std::vector<int32_t> xs(rows * block), ys(rows * block);  // (rows, T) each
    for (int64_t r = 0; r < rows; ++r) {
      tokens.read((i * batch + r) * block, block + 1, window.data());
      std::copy_n(window.begin(), block, xs.begin() + r * block);
      std::copy_n(window.begin() + 1, block, ys.begin() + r * block);
    }
    set.batches.emplace_back(Tensor::from_ints(xs, Shape{rows, block}), Tensor::from_ints(ys, Shape{rows, block}));
  }
  return set;
}

ValidationSet validation_batches(const std::vector<int32_t>& tokens, int64_t batch, int64_t block, int64_t max_windows,
                                 Shard shard) {
  const TokenVector view(&tokens);
  return validation_batches(view, batch, block, max_windows, shard);
}

}  // namespace mhc
