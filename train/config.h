// config.h — everything a training run is configured by, the named presets
// (docs/design.md §8 plus cpu-char), validation with messages that name the bad
// flag, and the round trip through config.json.
#pragma once
#include <string>
#include <vector>

#include "datasets/token_files.h"
#include "kernels/dtype.h"
#include "layers/transformer.h"
#include "parallel/reduce_options.h"
#include "fileio/json_io.h"

namespace mhc {

enum class Schedule { Cosine, Step, Constant };  // the learning rate after warmup
enum class TokenizerKind { Char, Bpe, Gpt2 };
enum class SplitKind {
  Tail,
  Chunks
};  // tail: the last val_fraction (nanoGPT's split) | chunks: seeded 4096-token chunks
inline constexpr EnumName<Schedule> kScheduleNames[] = {
    {"cosine", Schedule::Cosine}, {"step", Schedule::Step}, {"constant", Schedule::Constant}};
inline constexpr EnumName<TokenizerKind> kTokenizerKindNames[] = {
    {"char", TokenizerKind::Char}, {"bpe", TokenizerKind::Bpe}, {"gpt2", TokenizerKind::Gpt2}};
inline constexpr EnumName<SplitKind> kSplitKindNames[] = {{"tail", SplitKind::Tail}, {"chunks", SplitKind::Chunks}};

struct OptimConfig {
  int64_t steps = 2000;
  int64_t batch_size = 12;
  int64_t grad_accum = 1;  // micro-batches per optimizer step
  double lr = 1e-3;
  double min_lr = 1e-4;
  int64_t warmup = 100;
  Schedule schedule = Schedule::Cosine;
  std::vector<double> step_at = {0.8, 0.9};  // step schedule: fractions of the run
  double step_factor = 0.316;                // step schedule: lr multiplier at each point
  double weight_decay = 0.1;                 // on matrices (≥ 2-D parameters) only
  double beta1 = 0.9, beta2 = 0.99, eps = 1e-8;
  double grad_clip = 1.0;  // global-norm clipping; 0 disables
};

struct DataConfig {
  std::string data;  // file path, or synthetic:NAME, or a folder / glob of token files; empty: Tiny Shakespeare lookup
  TokenizerKind tokenizer = TokenizerKind::Char;
  std::string tokenizer_path;  // gpt2: its files (encoder.json + vocab.bpe folder, or tokenizer.json)
  int64_t vocab_size = 512;    // bpe only
  double val_fraction = 0.1;
  SplitKind split = SplitKind::Tail;
  std::string cache_dir;  // empty: the default cache
  // Token files: each file's name, size and checksum when the run started
  // (checked on resume); empty for text.
  std::vector<TokenFileRecord> files;
  // The corpus file the run trained on, recorded by the trainer (config.json
  // only, no flag): a resume on one that differs is refused. 0 / "": not
  // recorded (a synthetic corpus, or a run from before they were).
  int64_t bytes = 0;
  std::string checksum;  // "xxh64:<16 hex digits>" of the corpus text
};

struct EvalConfig {
  int64_t every = 250;          // steps between evaluations (and checkpoints)
  int64_t batches = 20;         // validation batches per evaluation
  int64_t tokens = 0;           // instead: this many validation tokens from the split's start (0: batches decides)
  int64_t sample_tokens = 200;  // sample printed at the end of a run (0: none)
  bool keep_best = false;       // also keep the checkpoint of the best validation loss (kBestFile)
  std::string hellaswag;        // a multiple-choice file scored at every evaluation (train/choice_eval.h); "" none

  // The validation windows of block tokens each evaluation scores, over all
  // ranks: those holding the first `tokens` tokens, else `batches` global
  // batches of batch_size × ranks (0: the whole split).
  int64_t windows(int64_t block, int64_t batch_size, int64_t ranks) const {
    return tokens > 0 ? (tokens + block - 1) / block : batches * batch_size * ranks;
  }
};

// Data-parallel training (mpirun -np K mhc train): how gradients travel.
// Neither changes a result (parallel/grad_reducer.h), only the speed.
struct DistConfig {
  double bucket_mb = 1;                     // gradient MiB per reduction (0: one per parameter)
  ReduceMode reduce = ReduceMode::Overlap;  // overlap | end | blocking
};

struct TrainConfig {
  std::string preset = "cpu-char";
  std::string run_dir;  // empty: runs/<preset>-<residual>[-n<streams>]
  uint64_t seed = 1337;
  Device device = Device::cpu;
  DType dtype = DType::f32;  // f32 | bf16 (cuda)
  int64_t log_every = 10;
  int64_t inject_nan_at = -1;            // debugging aid: make the loss NaN at this step
  int64_t fail_rank = -1, fail_at = -1;  // testing aid: this rank throws at this step
  ModelConfig model;
  OptimConfig optim;
  DataConfig data;
  EvalConfig eval;
  DistConfig dist;

  std::string default_run_dir() const;
  // Throws std::invalid_argument naming the flag for anything inconsistent,
  // and the accepted range for a value outside it (NaN and infinities are
  // outside every range; sizes have upper bounds, see ModelConfig::kMax*).
  void validate() const;
};

// The named configurations; throws listing the known names.
TrainConfig preset(const std::string& name);
std::vector<std::string> preset_names();

Json to_json(const TrainConfig& c);
TrainConfig train_config_from_json(const Json& v);  // missing keys keep the preset's defaults

// A two-column table of the resolved configuration, printed at start;
// data_path is the file the corpus was read from (empty: not resolved).
std::string describe(const TrainConfig& c, int64_t parameter_count, const std::string& data_path = "");

}  // namespace mhc
