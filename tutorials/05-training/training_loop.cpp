// training_loop.cpp — tutorial 05: the training loop of train/trainer.cpp,
// one step at a time, on a tiny mHC model and the built-in synthetic
// grammar corpus. It runs the step by hand from the library's pieces and
// checks that Trainer::run() produces the same losses, looks inside the run
// directory and the checkpoint, then interrupts a run, resumes it from its
// checkpoint and checks that the resumed losses are bit-identical to an
// uninterrupted run. Exits non-zero when any of these checks fails.
//
// Each part's number is the section of README.md that shows its output
// (ctest checks those blocks, tutorials/README.md). So that the output is
// the same on every run, the program works inside a fresh temporary folder
// with relative paths (config.json, and so the checkpoint, then name no
// process id) and prints no timings.
#include <fmt/core.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <unistd.h>

#include "autograd/tape.h"
#include "datasets/batches.h"
#include "datasets/char_tokenizer.h"
#include "datasets/corpus.h"
#include "fileio/xxh64.h"
#include "datasets/token_cache.h"
#include "layers/dropout_seeds.h"
#include "train/checkpoint.h"
#include "fileio/json_io.h"
#include "fileio/safetensors.h"
#include "train/schedule.h"
#include "train/trainer.h"

using namespace mhc;
namespace fs = std::filesystem;

namespace {

void expect(bool ok, const std::string& what) {
  if (!ok) throw std::runtime_error("tutorial check failed: " + what);
}

constexpr int64_t kSteps = 60, kEvalEvery = 20, kInterruptAfter = 30;

// A tiny mHC run on synthetic:grammar: 2 blocks, C = 32, n = 4 streams, 60 steps.
// Paths are relative to the working folder.
TrainConfig tiny_config(const std::string& run_name) {
  TrainConfig c = preset("cpu-char");
  c.run_dir = run_name;
  c.data.data = "synthetic:grammar";
  c.data.cache_dir = "cache";
  c.model.blocks = 2;
  c.model.width = 32;
  c.model.heads = 2;
  c.model.block_size = 32;
  c.model.site.kind = ResidualKind::MHC;
  c.model.site.streams = 4;
  c.optim.batch_size = 8;
  c.optim.steps = kSteps;
  c.optim.warmup = 5;
  c.optim.lr = 1e-2;
  c.optim.min_lr = 1e-3;
  c.eval.every = kEvalEvery;  // evaluate and checkpoint after 20, 40 and 60 steps
  c.eval.batches = 4;
  c.eval.sample_tokens = 0;
  return c;
}

RunOptions quiet(int64_t stop_after = -1, bool resume = false) {
  RunOptions o;
  o.quiet = true;
  o.plots = false;
  o.stop_after = stop_after;
  o.resume = resume;
  return o;
}

std::string read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A metrics.jsonl line with the values of its timing fields replaced by "...".
std::string without_timings(std::string line) {
  for (const std::string key : {"\"tokens_per_s\":", "\"ms_per_step\":"}) {
    const size_t at = line.find(key);
    if (at == std::string::npos) continue;
    const size_t begin = at + key.size(), end = line.find_first_of(",}", begin);
    line.replace(begin, end - begin, "...");
  }
  return line;
}

// Step numbers of the training lines (those with "loss") in a metrics.jsonl.
std::vector<int64_t> logged_steps(const fs::path& metrics) {
  std::vector<int64_t> steps;
  for (const Json& v : json::parse_lines_file(metrics.string()))
    if (v.contains("loss")) steps.push_back(v.at("step").get<int64_t>());
  return steps;
}

// ---- 1. The training step by hand ------------------------------------------------
// The same pieces Trainer::load_data and Trainer::train_step use, in the same order.
std::vector<double> train_by_hand(TrainConfig cfg, int64_t steps) {
  // Data: text -> tokenizer -> ids -> train/val split -> random windows.
  const std::string text = synthetic_corpus(cfg.data.data, 400000, cfg.seed);  // the trainer's synthetic size
  const CharTokenizer tokenizer = CharTokenizer::train(text);
  const std::vector<int32_t> ids = tokenize_cached(text, tokenizer, cfg.data.cache_dir);
  const TokenSplit split = split_tail(ids, cfg.data.val_fraction);
  BatchSampler sampler(&split.train, cfg.optim.batch_size, cfg.model.block_size, cfg.seed);
  fmt::print("1. From text to batches\n");
  fmt::print("  corpus: {} characters, vocab {}, {} train / {} val tokens\n", text.size(), tokenizer.vocab_size(),
             split.train.size(), split.val.size());

  // Model and optimizer.
  cfg.model.vocab_size = tokenizer.vocab_size();
  Transformer model(cfg.model, cfg.seed);
  model.set_compute_dtype(DType::f32);
  const auto params = model.parameters();
  AdamW optimizer(params, AdamWConfig{cfg.optim.beta1, cfg.optim.beta2, cfg.optim.eps, cfg.optim.weight_decay});
  int64_t decayed = 0, not_decayed = 0;
  std::string example_no_decay;
  for (const auto& p : params) {
    (p.weight_decay ? decayed : not_decayed) += p.tensor->numel();
    if (!p.weight_decay && example_no_decay.size() < 60) example_no_decay += " " + p.name;
  }
  fmt::print("\n2. The first {} steps by hand\n", steps);
  fmt::print("  weight decay on {} matrix weights; none on {} others (e.g.{})\n\n", decayed, not_decayed,
             example_no_decay);

  fmt::print("  step |   lr      | loss     | grad norm | clip scale\n");
  fmt::print("  -----+-----------+----------+-----------+-----------\n");
  std::vector<double> losses;
  for (int64_t step = 0; step < steps; ++step) {
    model.train(true);
    optimizer.zero_grad();
    DropoutSeeds::begin_step(cfg.seed, static_cast<uint64_t>(step));  // (run seed, step) -> dropout masks
    Tensor x, y;                                                      // (B, T) i32 each
    sampler.next(x, y);
    Tensor loss = model.loss(x, y);  // mean cross-entropy over B·T positions
    loss.backward();
    const double norm = optimizer.grad_norm();  // global L2 norm over every parameter's gradient
    const double clip = cfg.optim.grad_clip;
    const double scale = clip > 0 && norm > clip ? clip / norm : 1.0;
    const double lr = learning_rate(cfg.optim, step);
    optimizer.step(lr, scale);
    for (MoeFeedForward* moe : model.moe_layers()) moe->update_bias();  // none here (dense FFN)
    losses.push_back(loss.item());
    fmt::print("  {:>4} | {:.3e} | {:.6f} | {:>9.4f} | {:.4f}\n", step, lr, losses.back(), norm, scale);
  }
  return losses;
}

// The run directory's files (section 3).
void show_run_directory(const TrainConfig& cfg) {
  std::ifstream metrics(fs::path(cfg.run_dir) / "metrics.jsonl");
  int64_t lines = 0;
  for (std::string line; std::getline(metrics, line);) ++lines;
  fmt::print("  the run directory:\n");
  for (const char* name : {"config.json", "tokenizer.txt"})
    fmt::print("  {:<22} {:>8} bytes\n", name, fs::file_size(fs::path(cfg.run_dir) / name));
  // The header's length follows the digits of the last validation loss
  // (they vary with the BLAS kernel): the tensors' bytes do not.
  const SafetensorsFile ckpt((fs::path(cfg.run_dir) / kCheckpointFile).string(), "checkpoint");
  fmt::print("  {:<22} {:>8} bytes of tensors after its header\n", kCheckpointFile, ckpt.data_bytes());
  fmt::print("  {:<22} {:>8} lines (its size varies: it logs timings)\n", "metrics.jsonl", lines);
}

// Three lines of metrics.jsonl, cut where their digits start to vary (section 3).
void show_metrics_lines(const TrainConfig& cfg) {
  std::ifstream metrics(fs::path(cfg.run_dir) / "metrics.jsonl");
  std::string line, first_eval, first_train, later_eval;
  while (std::getline(metrics, line)) {
    const bool eval = line.find("\"val_loss\"") != std::string::npos;
    if (eval && first_eval.empty())
      first_eval = line;
    else if (eval && later_eval.empty())
      later_eval = line;
    else if (!eval && first_train.empty())
      first_train = line;
  }
  // Cut after a key's value, not at a fixed width: numbers print with
  // as many digits as they need.
  auto cut_after = [](const std::string& line, const std::string& key) {
    const size_t at = line.find(key);
    if (at == std::string::npos) return line;
    const size_t value = at + key.size();
    const size_t end = line[value] == '"' ? line.find('"', value + 1) : line.find_first_of(",}", value) - 1;
    return line.substr(0, std::min(end + 1, line.size()));
  };
  fmt::print("  metrics.jsonl, the evaluation before the first step (cut):\n    {}...\n",
             cut_after(first_eval, "\"peak_bytes\":"));
  fmt::print("  a training line (timings left out):\n    {}\n", without_timings(first_train));
  fmt::print("  the evaluation after 20 steps (cut):\n    {}...\n\n", cut_after(later_eval, "\"order\":"));
}

// 4. The checkpoint: its layout, metadata and checksum, and a flipped byte caught.
void show_checkpoint(const TrainConfig& cfg) {
  fmt::print("4. The checkpoint\n");

  // A safetensors file: an 8-byte header size N, N bytes of JSON, the data.
  const fs::path ckpt = fs::path(cfg.run_dir) / kCheckpointFile;
  const std::string bytes = read_all(ckpt);
  uint64_t header_size;
  std::memcpy(&header_size, bytes.data(), 8);
  const SafetensorsFile file(ckpt.string(), "checkpoint");
  const std::string stored = file.meta("checksum");
  const std::string recomputed = fmt::format("xxh64:{:016x}", xxh64(std::string_view(bytes).substr(8 + header_size)));
  // The header's length follows the digits of last_val_loss, and the
  // checksum the weights' last bits: both vary with the BLAS kernel, so
  // the page shows what holds everywhere.
  fmt::print("  {}: {} tensors, {} data bytes; the data starts 8-byte aligned after the header: {}\n", kCheckpointFile,
             file.tensors().size(), file.data_bytes(), (8 + header_size) % 8 == 0);
  fmt::print("  metadata keys:");
  for (const auto& [key, value] : file.metadata()) fmt::print(" {}", key);
  fmt::print("\n  checksum ({}) of the data section, as stored and as recomputed now: {}\n",
             stored.substr(0, stored.find(':')), stored == recomputed ? "equal" : "DIFFERENT");
  const CheckpointMeta meta = read_checkpoint_meta(ckpt.string());
  fmt::print("  meta: step {}, AdamW t {}, batches drawn {}\n", meta.step, meta.optimizer_steps,
             meta.sampler_state.at(4));
  expect(stored == recomputed && (8 + header_size) % 8 == 0 && 8 + header_size + file.data_bytes() == bytes.size(),
         "checkpoint header");
  // One flipped byte in a copy: the checksum catches it.
  {
    std::string corrupt = bytes;
    corrupt[bytes.size() / 2] ^= 0x01;
    const fs::path bad = "corrupt.safetensors";
    std::ofstream(bad, std::ios::binary) << corrupt;
    try {
      verify_checkpoint(bad.string());
      expect(false, "a corrupt checkpoint must not load");
    } catch (const std::runtime_error& e) {
      fmt::print("  one flipped byte: {}\n\n", e.what());
    }
  }
}

// 5. Interrupt after 30 steps (the last checkpoint was written after 20), then resume.
void interrupt_and_resume(const TrainResult& full) {
  const TrainConfig cfg_b = tiny_config("interrupted");
  const TrainResult part1 = Trainer(cfg_b, quiet(kInterruptAfter)).run();
  const TrainResult part2 = Trainer(cfg_b, quiet(-1, true)).run();
  fmt::print("5. Interrupted after {} steps, resumed from the checkpoint at step {}:\n", part1.losses.size(),
             part2.first_step);
  fmt::print("  step | uninterrupted | first session | resumed session | identical\n");
  fmt::print("  -----+---------------+---------------+-----------------+----------\n");
  bool identical = part2.first_step == kEvalEvery && static_cast<int64_t>(part2.losses.size()) == kSteps - kEvalEvery;
  for (int64_t step = 0; step < kSteps && identical; ++step) {
    const double want = full.losses[step];
    const bool in_first = step < static_cast<int64_t>(part1.losses.size());
    const bool in_resumed = step >= part2.first_step;
    const double resumed = in_resumed ? part2.losses[step - part2.first_step] : NAN;
    bool ok = (!in_first || part1.losses[step] == want) && (!in_resumed || resumed == want);
    identical = identical && ok;
    if ((step >= 18 && step <= 22) || (step >= 28 && step <= 31) || step == kSteps - 1)
      fmt::print("  {:>4} | {:.10f}  | {:>13} | {:>15} | {}\n", step, want,
                 in_first ? fmt::format("{:.10f}", part1.losses[step]) : "",
                 in_resumed ? fmt::format("{:.10f}", resumed) : "", ok ? "yes" : "NO");
  }
  const std::vector<int64_t> steps_logged = logged_steps(fs::path(cfg_b.run_dir) / "metrics.jsonl");
  bool log_ok = static_cast<int64_t>(steps_logged.size()) == kSteps;
  for (size_t i = 0; i < steps_logged.size() && log_ok; ++i) log_ok = steps_logged[i] == static_cast<int64_t>(i) + 1;
  fmt::print("  final val loss: uninterrupted {:.10f}, resumed {:.10f}\n", full.last_val_loss, part2.last_val_loss);
  fmt::print("  metrics.jsonl of the resumed run: {} training lines, steps 1..{} once each: {}\n", steps_logged.size(),
             kSteps, log_ok);
  expect(identical, "resumed losses are bit-identical to the uninterrupted run");
  expect(part2.last_val_loss == full.last_val_loss, "same weights at the end");
  expect(log_ok, "the resumed run's log was rewound to the checkpoint");
}

// The page, from the configuration to the resumed run.
void run_page() {
  const TrainConfig cfg = tiny_config("full");
  Trainer full_trainer(cfg, quiet());  // creates the run directory, tokenizer and model; trains in run()
  fmt::print("The configuration (describe() in train/config.h, as mhc train prints it):\n{}\n",
             describe(full_trainer.config(), full_trainer.model().parameter_count()));

  // 1.-2. Data and the step by hand.
  const int64_t hand_steps = 8;
  const std::vector<double> by_hand = train_by_hand(cfg, hand_steps);

  // 3. The same run through Trainer::run(), uninterrupted.
  const TrainResult full = full_trainer.run();
  fmt::print("\n3. Trainer::run(), {} steps, run directory {}:\n  losses:", full.losses.size(), cfg.run_dir);
  for (size_t i = 0; i < full.losses.size(); ++i) fmt::print("{}{:.4f}", i % 10 ? " " : "\n   ", full.losses[i]);
  fmt::print("\n  final val loss {:.6f}\n", full.last_val_loss);
  bool same = true;
  for (int64_t i = 0; i < hand_steps; ++i) same = same && by_hand[i] == full.losses[i];
  fmt::print("  the first {} losses equal the hand-written loop's, bit for bit: {}\n\n", hand_steps, same);
  expect(same, "Trainer::run() and the hand-written step agree");
  expect(full.losses.back() < full.losses.front(), "the loss went down");
  show_run_directory(cfg);
  show_metrics_lines(cfg);
  show_checkpoint(cfg);
  interrupt_and_resume(full);
  fmt::print("ok\n");
}

}  // namespace

int main() {
  const fs::path root = fs::temp_directory_path() / fmt::format("mhc-tutorial-05-{}", ::getpid());
  const fs::path start_dir = fs::current_path();
  fs::remove_all(root);
  fs::create_directories(root);
  fs::current_path(root);  // every path below is relative to root
  int status = 0;
  try {
    run_page();
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    status = 1;
  }
  fs::current_path(start_dir);
  fs::remove_all(root);
  return status;
}
