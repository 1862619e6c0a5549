// trainer.h — one training run, end to end: data, tokenizer, model,
// AdamW, the step loop with evaluation, metrics, checkpoints and plots.
//
// The training step (Trainer::train_step) is, in order:
//   for each micro-batch: seed dropout for (run seed, step, micro-batch);
//     draw a batch; loss = model.loss(x, y); backward (scaled by 1/accum)
//   stop if the loss or the gradient norm is not finite (the last good
//     checkpoint stays in place)
//   data parallel (K ranks): gradients are averaged over the ranks, bucket
//     by bucket during the last backward (parallel/grad_reducer.h); the loss
//     and the MoE load are summed over the ranks, so every rank sees the
//     global loss, gradient norm and load, and takes the same step
//   clip the global gradient norm; AdamW step at the scheduled learning rate
//   MoE: nudge each router's selection bias toward balanced load
//
// With K ranks, --optim.batch_size is the batch of each rank: the global
// batch is batch_size × K sequences, drawn from one sampler state shared by
// every rank (datasets/batches.h, Shard), so K ranks with batch B train on the
// batches of one process with batch K·B. Only rank 0 writes files.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "datasets/batches.h"
#include "datasets/tokenizer.h"
#include "layers/amax_gain.h"
#include "layers/transformer.h"
#include "parallel/grad_reducer.h"
#include "parallel/process_group.h"
#include "train/choice_eval.h"
#include "train/config.h"
#include "train/optimizer.h"

namespace mhc {

class RunDirClaim;

struct RunOptions {
  bool resume = false;           // continue the run in config.run_dir from its checkpoint
  bool overwrite = false;        // replace an existing run directory
  bool quiet = false;            // no progress output (tests)
  bool read_only = false;        // `mhc eval`: reads a run (resume), writes and locks nothing in it
  bool plots = true;             // write PNG charts at the end
  int64_t stop_after = -1;       // stop (as if interrupted) after this many steps of this session; -1: run to the end
  bool catch_interrupt = false;  // Ctrl-C (SIGINT, SIGTERM, SIGHUP): finish the step, write a checkpoint, return
  bool override_config =
      false;              // --override: resume although settings differ from the checkpoint's (a warning lists them)
  std::string init_from;  // --init-from: a new run starts from these weights (load_init_weights), not from its seed's
  // Also call it divergence when, after warmup, the mean training loss of
  // the last kBlowupWindow steps is more than kBlowupMargin above the
  // untrained model's validation loss (the step-0 evaluation): the run has
  // lost everything it learnt (`mhc sweep` uses this). A mean and a margin,
  // so that batch noise in a run that has not learnt much yet does not count.
  bool stop_above_initial_loss = false;
  // The ranks that trained the run: `mhc eval` of a run that K ranks trained
  // scores the --eval.batches × batch_size × K windows they scored together.
  int64_t eval_ranks = 1;
  bool eval_progress = false;  // `mhc eval`: a progress line on stderr during each evaluation pass
};

inline constexpr size_t kBlowupWindow = 10;
inline constexpr double kBlowupMargin = 0.02;  // relative: 2 %
// A composite Amax gain above this (at any site, forward or backward) prints one warning per session.
inline constexpr double kGainWarning = 1e3;
// The warning for the site with the largest composite gain above kGainWarning,
// naming it (index, block, attention or feed-forward); "" when none passes.
std::string gain_warning(const std::vector<SiteGain>& gains, int64_t steps_done);

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
  // `group`: the ranks of a data-parallel job (must outlive the trainer);
  // nullptr: this process alone.
  Trainer(TrainConfig config, RunOptions options, ProcessGroup* group = nullptr);
  ~Trainer();
  TrainResult run();
  // Loads the run's checkpoint (model, optimizer, data position); returns the step to continue from.
  int64_t restore();

  const TrainConfig& config() const { return cfg_; }
  Transformer& model() { return *model_; }
  const Tokenizer* tokenizer() const { return tokenizer_.get(); }  // nullptr: trained on token files
  // Validation loss per token over the fixed validation windows
  // (datasets/batches.h, validation_batches: the same windows for every seed,
  // variant and rank count; no dropout, no gradients); with `gains`, also the
  // Amax gains of the first batch's H_res (with K ranks: of each rank's first
  // batch). With K ranks each evaluates its share of the batches and the
  // mean is over every window's tokens.
  double evaluate(std::vector<SiteGain>* gains = nullptr, std::vector<double>* diversity = nullptr);
  // The i-th validation batch (x, y) of this rank, (rows, T) i32 each, on the run's device.
  const std::pair<Tensor, Tensor>& eval_batch(size_t i) const { return val_set_.batches.at(i); }
  int64_t validation_windows() const { return val_set_.windows; }  // of every rank together
  // The last evaluation's loss in bits per byte of text: nats per token / ln 2
  // × tokens / bytes, over the validation targets, so that runs with
  // different tokenizers compare; NaN for token files without a tokenizer.
  double last_val_bpb() const { return last_val_bpb_; }

 private:
  // The steps of the constructor.
  void prepare_process();              // rank 0 alone writes; the GPU of this rank; what several ranks cannot do
  void claim_run_directory();          // rank 0 locks it; a resume needs a checkpoint
  bool read_corpus(bool token_files);  // text or token files; true when a new tokenizer was trained
  void build_model();                  // the model (or --init-from's weights), the optimizer, the gradient reducer
  // Text: tokenizer (loaded on resume, else trained: returns true), split, sampler, evaluation batches.
  bool load_data(std::string text);
  // Token files (datasets/token_files.h): checked, mapped, and on resume compared with what the run recorded.
  void load_token_files();
  // Token files: the tokenizer that decodes samples (or none) and the vocabulary (default GPT-2's).
  void choose_token_files_tokenizer();
  void make_batches();  // the sampler over train_ and the fixed evaluation batches from val_
  // The steps of run().
  int64_t resume();                                       // restores the checkpoint; returns the step it continues from
  TrainResult already_finished(int64_t start);            // a finished run: says so (and writes missing plots)
  void open_and_announce(int64_t start);                  // config.json, metrics.jsonl, the progress line, the header
  int64_t run_steps(int64_t start, TrainResult& result);  // the loop; returns the steps done
  double step_or_diverge(int64_t step, TrainResult& result);  // train_step; a divergence says what is kept
  void finish();                                              // plots and a sample
  template <class Write>
  void or_stop(int64_t steps_done, Write&& write);  // a failed write stops training, saying what is kept
  double train_step(int64_t step);                  // returns the step's mean training loss
  void evaluate_and_log(int64_t steps_done);        // validation loss and Amax gains after `steps_done` steps
  void warn_gain_once(const std::vector<SiteGain>& gains, int64_t steps_done);
  void save(int64_t steps_done);
  std::vector<NamedTensor> checkpoint_tensors();
  void check_ranks_agree();  // every rank holds the same model, settings and data (else throws naming the rank)
  bool stop_voted_ = false;  // K > 1: some rank had been interrupted when the step's loss was summed

  TrainConfig cfg_;
  RunOptions opt_;
  std::unique_ptr<ProcessGroup> own_group_;  // when none was given: a group of one
  ProcessGroup* group_;
  Device device_;
  std::unique_ptr<Tokenizer> tokenizer_;      // null for token files (their ids are given)
  TokenSplit split_;                          // text: the ids of both splits, in memory
  std::unique_ptr<TokenSource> train_, val_;  // what the sampler and evaluation read: views of split_, or mapped files
  std::unique_ptr<BatchSampler> sampler_;
  ValidationSet val_set_;  // this rank's fixed validation batches
  std::unique_ptr<Transformer> model_;
  std::unique_ptr<AdamW> optimizer_;
  std::unique_ptr<GradReducer> reducer_;  // launched by MPI only (also with one rank)
  double last_val_loss_ = NAN;
  double last_val_bpb_ = NAN;             // bits per byte of the last evaluation; NaN without a tokenizer
  double val_bytes_ = 0;                  // bytes of text this rank's validation targets decode to
  std::vector<ChoiceExample> hellaswag_;  // --eval.hellaswag, tokenised (empty: none)
  double last_grad_norm_ = 0;
  bool gain_warned_ = false;           // warn_gain_once has warned
  double initial_val_loss_ = NAN;      // the step-0 evaluation (for stop_above_initial_loss)
  std::vector<double> recent_losses_;  // the last kBlowupWindow training losses, oldest first
  int64_t last_saved_step_ = -1;       // the step of the checkpoint on disk, -1 before the first
  double best_val_loss_ = INFINITY;    // --eval.keep_best: the validation loss of the checkpoint in kBestFile
  std::string data_path_;              // the corpus file read (empty for a synthetic corpus)
  std::string resume_note_;            // what a resume with changed settings means, printed at the start
  std::string restart_note_;           // --resume of a run without a checkpoint: it starts again (continue_early_death)
  void continue_early_death();
  std::unique_ptr<RunDirClaim> claim_;  // rank 0's hold on the run directory (train/run_dir.h)
  struct Log;
  std::unique_ptr<Log> log_;
};

}  // namespace mhc
