// checkpoint_io.cpp — how long a checkpoint takes to write and to read back
// for a preset's model (default moe-1280: parameters, buffers and both AdamW
// moments, as the trainer saves them), on the CPU. The file goes to --dir
// (default: the system's temporary folder) and is removed at the end. It
// only uses save_checkpoint / load_checkpoint, so the same program measures
// any checkpoint format: build it on two commits to compare them.
//
//   bench_checkpoint_io [--preset moe-1280] [--reps 3] [--dir /tmp]
#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <filesystem>

#include "autograd/tape.h"
#include "bench/bench_util.h"
#include "layers/transformer.h"
#include "train/checkpoint.h"
#include "train/config.h"
#include "train/optimizer.h"

namespace fs = std::filesystem;
using namespace mhc;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("checkpoint write and read time");
  std::string preset_name = "moe-1280", dir = fs::temp_directory_path().string();
  int reps = 3;
  app.add_option("--preset", preset_name, "the model whose checkpoint is timed")->capture_default_str();
  app.add_option("--reps", reps, "writes and reads timed (the median is reported)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--dir", dir, "where the checkpoint is written")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  const double sgemm_gflops = bench::print_blas_header();  // the BLAS in use, and this CPU's rate now
  (void)sgemm_gflops;

  TrainConfig cfg = preset(preset_name);
  cfg.model.vocab_size = cfg.data.tokenizer == TokenizerKind::Char ? 96 : cfg.data.vocab_size;
  Transformer model(cfg.model, cfg.seed);
  AdamW optimizer(model.parameters(), AdamWConfig{});
  std::vector<NamedTensor> tensors;
  for (auto& p : model.parameters()) tensors.push_back({"model." + p.name, p.tensor});
  for (auto& b : model.buffers()) tensors.push_back({"buffer." + b.name, b.tensor});
  for (auto& s : optimizer.state()) tensors.push_back({"adamw." + s.name, s.tensor});
  size_t bytes = 0;
  for (const auto& t : tensors) bytes += t.tensor->numel() * dtype_size(t.tensor->dtype());

  const std::string path = (fs::path(dir) / ("bench_checkpoint_io." + std::to_string(::getpid()))).string();
  CheckpointMeta meta;
  meta.step = 123;
  meta.config_json = "{}";
  meta.sampler_state = {1, 2, 3, 4, 5};
  std::vector<double> write_s, read_s;
  for (int r = 0; r < reps; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    save_checkpoint(path, tensors, meta);
    write_s.push_back(seconds_since(t0));
    t0 = std::chrono::steady_clock::now();
    const CheckpointMeta back = load_checkpoint(path, tensors);
    read_s.push_back(seconds_since(t0));
    if (back.step != meta.step) throw std::runtime_error("the checkpoint read back differs");
  }
  const uintmax_t file_bytes = fs::file_size(path);
  fs::remove(path);
  std::sort(write_s.begin(), write_s.end());
  std::sort(read_s.begin(), read_s.end());
  const double w = write_s[write_s.size() / 2], rd = read_s[read_s.size() / 2];
  fmt::print("{}: {} parameters, {} tensors, {:.2f} GB of tensors, file {:.2f} GB\n", preset_name,
             model.parameter_count(), tensors.size(), bytes / 1e9, file_bytes / 1e9);
  fmt::print("write {:.2f} s ({:.2f} GB/s), read {:.2f} s ({:.2f} GB/s), median of {}\n", w, file_bytes / 1e9 / w, rd,
             file_bytes / 1e9 / rd, reps);
  return 0;
}
