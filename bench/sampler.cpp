// sampler.cpp — tokens/s of the batch sampler drawing training windows from
// memory-mapped llm.c shards against the same ids held in memory (the text
// path), printed as a ratio to the in-memory baseline measured in the same run.
// It writes --shards shards of --tokens_per_shard random ids to --dir and
// removes them at the end.
//
//   bench_sampler [--shards 4] [--tokens_per_shard 25000000] [--batch 12] [--block 256] [--batches 2000]
#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>

#include "autograd/random.h"
#include "datasets/batches.h"
#include "datasets/token_files.h"

namespace fs = std::filesystem;
using namespace mhc;

namespace {

void write_shard(const std::string& path, int64_t n, uint64_t seed) {
  std::ofstream out(path, std::ios::binary);
  const int32_t header[256] = {kLlmcMagic, kLlmcVersion, static_cast<int32_t>(n)};
  out.write(reinterpret_cast<const char*>(header), sizeof header);
  Rng rng(seed);
  std::vector<uint16_t> ids(1 << 20);
  for (int64_t done = 0; done < n;) {
    const int64_t k = std::min<int64_t>(n - done, static_cast<int64_t>(ids.size()));
    for (int64_t i = 0; i < k; ++i) ids[i] = static_cast<uint16_t>(rng.below(50257));
    out.write(reinterpret_cast<const char*>(ids.data()), 2 * k);
    done += k;
  }
}

// Tokens per second of `batches` batches of (batch, block) from `source`.
double tokens_per_s(const TokenSource& source, int64_t batch, int64_t block, int64_t batches) {
  BatchSampler sampler(&source, batch, block, 1337);
  Tensor x, y;
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < batches; ++i) sampler.next(x, y);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return static_cast<double>(batches * batch * block) / s;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("batch sampler: memory-mapped shards vs ids in memory");
  std::string dir = (fs::temp_directory_path() / "mhc-bench-sampler").string();
  int64_t shards = 4, per_shard = 25'000'000, batch = 12, block = 256, batches = 2000;
  app.add_option("--dir", dir, "where the shards are written (removed at the end)")->capture_default_str();
  app.add_option("--shards", shards, "training shards")->capture_default_str();
  app.add_option("--tokens_per_shard", per_shard, "ids per shard")->capture_default_str();
  app.add_option("--batch", batch, "rows per batch")->capture_default_str();
  app.add_option("--block", block, "tokens per row")->capture_default_str();
  app.add_option("--batches", batches, "batches drawn per measurement")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  fs::create_directories(dir);
  for (int64_t s = 0; s < shards; ++s) write_shard(fmt::format("{}/b_train_{:06d}.bin", dir, s), per_shard, s + 1);
  write_shard(dir + "/b_val_000000.bin", 10000, 99);
  {
    const TokenData data = open_token_files(dir, kGpt2VocabSize);
    std::vector<int32_t> memory(data.train->size());
    data.train->read(0, data.train->size(), memory.data());
    const TokenVector in_memory(&memory);
    tokens_per_s(*data.train, batch, block, batches / 10);  // warm-up: first touches of the pages
    const double mem = tokens_per_s(in_memory, batch, block, batches);
    const double mapped = tokens_per_s(*data.train, batch, block, batches);
    fmt::print("{} tokens in {} shards, batch {} x block {}, {} batches:\n", data.train->size(), shards, batch, block,
               batches);
    fmt::print("  in memory (int32 vector)  {:>8.1f} M tokens/s  1.00\n", mem / 1e6);
    fmt::print("  memory-mapped (uint16)    {:>8.1f} M tokens/s  {:.2f}\n", mapped / 1e6, mapped / mem);
  }
  fs::remove_all(dir);
  return 0;
}
