// trainer.h — one training run, end to end: data, tokenizer, model,
// AdamW, the step loop with evaluation, metrics, checkpoints and plots.
//
// The training step (Trainer::train_step) is, in order:
//   for each micro-batch: seed dropout for (run seed, step, micro-batch);
//     draw a batch; loss = model.loss(x, y); backward (scaled by 1/accum)
//   stop if the loss or the gradient norm is not finite (the last good
//     checkpoint stays in place)
//   clip the global gradient norm; AdamW step at the scheduled learning rate
//   MoE: nudge each router's selection bias toward balanced load
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "datasets/batches.h"
#include "datasets/tokenizer.h"
#include "layers/amax_gain.h"
#include "layers/transformer.h"
#include "train/config.h"
#include "train/optimizer.h"

namespace mhc {

struct RunOptions {
  bool resume = false;     // continue the run in config.run_dir from its checkpoint
  bool overwrite = false;  // replace an existing run directory
  bool quiet = false;      // no progress output (tests)
  bool plots = true;       // write PNG charts at the end
  int64_t stop_after = -1; // stop (as if interrupted) after this many steps of this session; -1: run to the end
  bool catch_interrupt = false;  // Ctrl-C (SIGINT, SIGTERM): finish the step, write a checkpoint, return
  bool override_config = false;  // --override: resume although settings differ from the checkpoint's (a warning lists them)
  // Also call it divergence when, after warmup, the mean training loss of
  // the last kBlowupWindow steps is more than kBlowupMargin above the
  // untrained model's validation loss (the step-0 evaluation): the run has
  // lost everything it learnt (`mhc sweep` uses this). A mean and a margin,
  // so that batch noise in a run that has not learnt much yet does not count.
  bool stop_above_initial_loss = false;
};

inline constexpr size_t kBlowupWindow = 10;
inline constexpr double kBlowupMargin = 0.02;  // relative: 2 %

struct TrainResult {
  std::vector<double> losses;  // training loss of each step run in this session
  double last_val_loss = NAN;
  int64_t first_step = 0, end_step = 0;
  bool diverged = false;
  int64_t diverged_step = -1;
  bool already_finished = false;  // --resume of a run that had done all its steps: nothing was run
  bool interrupted = false;       // stopped by Ctrl-C after a checkpoint at end_step
};

// Thrown when the loss becomes NaN or infinite (or, with
// RunOptions::stop_above_initial_loss, climbs above its initial value);
// the message names the step, `step` holds it.
struct DivergenceError : std::runtime_error {
  DivergenceError(const std::string& what, int64_t at_step) : std::runtime_error(what), step(at_step) {}
  int64_t step;
};

class Trainer {
 public:
  Trainer(TrainConfig config, RunOptions options);
  ~Trainer();
  TrainResult run();
  // Loads the run's checkpoint (model, optimizer, data position); returns the step to continue from.
  int64_t restore();

  const TrainConfig& config() const { return cfg_; }
  Transformer& model() { return *model_; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  // Mean validation loss over the fixed evaluation batches (no dropout, no
  // gradients); with `gains`, also the Amax gains of the first batch's H_res.
  double evaluate(std::vector<SiteGain>* gains = nullptr);
  // The i-th fixed evaluation batch (x, y), (B, T) i32 each, on the run's device.
  const std::pair<Tensor, Tensor>& eval_batch(size_t i) const { return eval_batches_.at(i); }

 private:
  void load_data(std::string text);  // tokenizer, split, sampler, evaluation batches
  double train_step(int64_t step);  // returns the step's mean training loss
  void evaluate_and_log(int64_t steps_done);  // validation loss and Amax gains after `steps_done` steps
  void save(int64_t steps_done);
  std::vector<NamedTensor> checkpoint_tensors();

  TrainConfig cfg_;
  RunOptions opt_;
  Device device_;
  std::unique_ptr<Tokenizer> tokenizer_;
  TokenSplit split_;
  std::unique_ptr<BatchSampler> sampler_;
  std::vector<std::pair<Tensor, Tensor>> eval_batches_;
  std::unique_ptr<Transformer> model_;
  std::unique_ptr<AdamW> optimizer_;
  double last_val_loss_ = NAN;
  double last_grad_norm_ = 0;
  double initial_val_loss_ = NAN;  // the step-0 evaluation (for stop_above_initial_loss)
  std::vector<double> recent_losses_;  // the last kBlowupWindow training losses, oldest first
  int64_t last_saved_step_ = -1;  // the step of the checkpoint on disk, -1 before the first
  std::string data_path_;         // the corpus file read (empty for a synthetic corpus)
  std::string resume_note_;       // what a resume with changed settings means, printed at the start
  struct Log;
  std::unique_ptr<Log> log_;
};

}  // namespace mhc
