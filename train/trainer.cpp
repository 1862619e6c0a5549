// trainer.cpp — see trainer.h for the step.
#include "train/trainer.h"

#include <fmt/core.h>

#include <chrono>
#include <csignal>
#include <cmath>
#include <filesystem>
#include <iterator>
#include <map>
#include <optional>

#include "autograd/ops.h"
#include "autograd/tape.h"
#include "datasets/bpe_tokenizer.h"
#include "datasets/char_tokenizer.h"
#include "datasets/corpus.h"
#include "fileio/file_io.h"
#include "datasets/gpt2_tokenizer.h"
#include "datasets/text_check.h"
#include "datasets/token_files.h"
#include "datasets/token_cache.h"
#include "fileio/utf8.h"
#include "kernels/cpu/cpu_threads.h"
#include "layers/amax_gain.h"
#include "fileio/xxh64.h"
#include "layers/dropout_seeds.h"
#include "parallel/nccl_transport.h"
#include "train/checkpoint.h"
#include "train/generate.h"
#include "train/memory_estimate.h"
#include "train/metrics.h"
#include "train/progress.h"
#include "train/run_dir.h"
#include "train/run_plots.h"
#include "train/schedule.h"
#include "train/settings.h"

namespace fs = std::filesystem;

namespace mhc {

struct Trainer::Log {
  std::unique_ptr<MetricsWriter> metrics;
  std::unique_ptr<Progress> progress;
};

namespace {
constexpr size_t kSyntheticBytes = 400000;  // size of a synthetic corpus

// Set by the first Ctrl-C; the step loop checks it between steps. The
// handler is one-shot (SA_RESETHAND): a second Ctrl-C ends the process.
volatile std::sig_atomic_t g_interrupted = 0;
extern "C" void on_interrupt(int) { g_interrupted = 1; }

// Installs the one-shot handler for SIGINT, SIGTERM and SIGHUP (a closed
// terminal) while a run lasts.
struct InterruptScope {
  static constexpr int kSignals[] = {SIGINT, SIGTERM, SIGHUP};
  struct sigaction old[std::size(kSignals)]{};
  bool active;
  explicit InterruptScope(bool on) : active(on) {
    if (!active) return;
    g_interrupted = 0;
    struct sigaction sa {};
    sa.sa_handler = on_interrupt;
    sa.sa_flags = SA_RESETHAND | SA_RESTART;  // restart interrupted system calls (MPI waits among them)
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < std::size(kSignals); ++i) sigaction(kSignals[i], &sa, &old[i]);
  }
  ~InterruptScope() {
    if (!active) return;
    for (size_t i = 0; i < std::size(kSignals); ++i) sigaction(kSignals[i], &old[i], nullptr);
  }
};
std::string path_in(const std::string& dir, const char* name) { return (fs::path(dir) / name).string(); }
}  // namespace

Trainer::Trainer(TrainConfig config, RunOptions options, ProcessGroup* group)
    : cfg_(std::move(config)),
      opt_(options),
      own_group_(group ? nullptr : ProcessGroup::single()),
      group_(group ? group : own_group_.get()),
      device_(cfg_.device),
      log_(std::make_unique<Log>()) {
  if (cfg_.run_dir.empty()) cfg_.run_dir = cfg_.default_run_dir();
  cfg_.validate();
  const bool token_files = is_token_data(cfg_.data.data);
  if (token_files) choose_token_files_tokenizer();  // and the vocabulary, before the memory check
  // Before reading or building anything; ranks on one machine share its memory.
  check_fits_in_memory(cfg_, available_host_memory(group_->local_size()));
  prepare_process();
  // Nothing in the run directory changes until every step that can fail on
  // one rank alone is done and the ranks agree (check_ranks_agree, a
  // collective): a rank that fails before ends the job (main.cpp) while rank 0
  // has touched nothing there (only the token cache, written atomically).
  continue_early_death();
  claim_run_directory();
  const bool new_tokenizer = read_corpus(token_files);
  if (!cfg_.eval.hellaswag.empty()) {
    if (!tokenizer_)
      throw std::runtime_error("--eval.hellaswag " + cfg_.eval.hellaswag +
                               ": the run has no tokenizer to encode its "
                               "text (token files without one: name it with --data.tokenizer gpt2:PATH)");
    hellaswag_ = read_choice_file(cfg_.eval.hellaswag, *tokenizer_);
  }
  build_model();
  check_ranks_agree();
  if (claim_) {
    claim_->take();  // undone unless run() gets through its first step
    if (new_tokenizer) tokenizer_->save(path_in(cfg_.run_dir, "tokenizer.txt"));
  }
}

void Trainer::prepare_process() {
  if (!group_->is_root()) {  // rank 0 alone prints and writes
    opt_.quiet = true;
    opt_.plots = false;
  }
  if (device_ == Device::cuda && !cuda_available())
    throw std::runtime_error("--device cuda: no CUDA GPU is available (this build " +
                             std::string(cuda_available() ? "has" : "may lack") + " the CUDA backend)");
  if (device_ == Device::cuda) use_gpu_of_local_rank(*group_);  // before anything uses the GPU
  if (opt_.stop_above_initial_loss && group_->size() > 1)
    throw std::invalid_argument(
        "the divergence rule of `mhc sweep` reads the run's metrics, which only rank 0 has: "
        "it does not run with several processes");
}

void Trainer::claim_run_directory() {
  const bool has_checkpoint = fs::exists(path_in(cfg_.run_dir, kCheckpointFile));
  if (group_->is_root() && !opt_.read_only)
    claim_ = std::make_unique<RunDirClaim>(cfg_.run_dir, opt_);  // locks; early: before the tokenizer is trained
  else if (opt_.resume && !has_checkpoint && group_->is_root())
    throw std::runtime_error("no checkpoint in " + cfg_.run_dir + " (expected " +
                             path_in(cfg_.run_dir, kCheckpointFile) + ")");
  else if (opt_.resume && !has_checkpoint)
    throw std::runtime_error(
        fmt::format("--resume: rank {} sees no checkpoint {} (several machines need the run "
                    "directory on a shared file system to resume)",
                    group_->rank(), path_in(cfg_.run_dir, kCheckpointFile)));
}

bool Trainer::read_corpus(bool token_files) {
  if (token_files) {
    load_token_files();  // the ids are given; a tokenizer only decodes samples
    return tokenizer_ && !opt_.resume;
  }
  if (!is_synthetic(cfg_.data.data)) data_path_ = resolve_corpus_path(cfg_.data.data);
  std::string text =
      data_path_.empty() ? synthetic_corpus(cfg_.data.data, kSyntheticBytes, cfg_.seed) : load_text(data_path_);
  if (!data_path_.empty()) check_text_corpus(data_path_, text);  // a token file is not text
  // The run says what it trained on: the default corpus by its path, and every corpus by size and checksum
  // (restore() refuses to continue on a different one).
  if (!data_path_.empty()) {  // a synthetic corpus is its name and the seed
    if (cfg_.data.data.empty()) cfg_.data.data = fs::absolute(data_path_).lexically_normal().string();
    cfg_.data.bytes = static_cast<int64_t>(text.size());
    cfg_.data.checksum = fmt::format("xxh64:{:016x}", xxh64(text));
  }
  const bool new_tokenizer = load_data(std::move(text));
  cfg_.model.vocab_size = tokenizer_->vocab_size();
  return new_tokenizer;
}

void Trainer::build_model() {
  model_ = std::make_unique<Transformer>(cfg_.model, cfg_.seed);
  model_->to(device_);
  model_->set_compute_dtype(cfg_.dtype);
  if (!opt_.init_from.empty()) {
    if (opt_.resume)
      throw std::invalid_argument("--init-from starts a new run; a resumed run continues from its checkpoint");
    std::vector<NamedTensor> params, buffers;
    for (auto& p : model_->parameters()) params.push_back({"model." + p.name, p.tensor});
    for (auto& b : model_->buffers()) buffers.push_back({"buffer." + b.name, b.tensor});
    load_init_weights(opt_.init_from, params, buffers);
  }
  optimizer_ = std::make_unique<AdamW>(
      model_->parameters(), AdamWConfig{cfg_.optim.beta1, cfg_.optim.beta2, cfg_.optim.eps, cfg_.optim.weight_decay});
  if (group_->uses_mpi()) {
    std::vector<Tensor*> params;
    for (auto& p : model_->parameters()) params.push_back(p.tensor);
    reducer_ = std::make_unique<GradReducer>(
        params, group_->size(), group_->transport(device_), ReducerOptions{cfg_.dist.bucket_mb, cfg_.dist.reduce},
        [this](std::vector<int64_t>& v) { group_->broadcast(v.data(), v.size() * sizeof(int64_t)); });
  }
}

Trainer::~Trainer() = default;

void Trainer::continue_early_death() {
  // A run that stopped before its first checkpoint (killed, disk full, out of
  // memory) has its config.json and nothing to continue from: --resume
  // starts it again from step 0, with the settings it was started with.
  if (!opt_.resume || opt_.read_only || fs::exists(path_in(cfg_.run_dir, kCheckpointFile)) ||
      !fs::exists(path_in(cfg_.run_dir, "config.json")))
    return;
  opt_.resume = false;
  opt_.overwrite = true;  // its files (config.json, metrics.jsonl, tokenizer.txt) are replaced
  restart_note_ = fmt::format(
      "{} has no checkpoint: the run stopped before its first one, so it starts again from "
      "step 0 with its settings",
      cfg_.run_dir);
}

bool Trainer::load_data(std::string text) {
  const std::string tok_path = path_in(cfg_.run_dir, "tokenizer.txt");
  const bool trained = !(opt_.resume && fs::exists(tok_path));
  if (!trained) {
    tokenizer_ = Tokenizer::load(tok_path);
  } else {
    if (cfg_.data.tokenizer == TokenizerKind::Char)
      tokenizer_ = std::make_unique<CharTokenizer>(CharTokenizer::train(text));
    else if (cfg_.data.tokenizer == TokenizerKind::Gpt2)  // as published, not learnt
      tokenizer_ = std::make_unique<Gpt2Tokenizer>(Gpt2Tokenizer::from_files(cfg_.data.tokenizer_path));
    else
      tokenizer_ =
          std::make_unique<BpeTokenizer>(BpeTokenizer::train(text, static_cast<int32_t>(cfg_.data.vocab_size)));
  }
  const std::string cache = cfg_.data.cache_dir.empty() ? default_cache_dir() : cfg_.data.cache_dir;
  const std::vector<int32_t> tokens = tokenize_cached(text, *tokenizer_, cache, nullptr, group_->is_root());
  split_ = cfg_.data.split == SplitKind::Tail ? split_tail(tokens, cfg_.data.val_fraction)
                                              : split_tokens(tokens, cfg_.data.val_fraction, cfg_.seed);
  const int64_t T = cfg_.model.block_size;
  for (const auto& [part, size] :
       {std::pair{"training", split_.train.size()}, std::pair{"validation", split_.val.size()}})
    if (static_cast<int64_t>(size) < T + 1)
      throw std::runtime_error(fmt::format(
          "the {} split has {} tokens (--data.val_fraction {} of {}), fewer than one window of --model.block_size "
          "{} + 1: use a longer corpus, another --data.val_fraction or a shorter block",
          part, size, cfg_.data.val_fraction, tokens.size(), T));
  train_ = std::make_unique<TokenVector>(&split_.train);
  val_ = std::make_unique<TokenVector>(&split_.val);
  make_batches();
  return trained;
}

void Trainer::choose_token_files_tokenizer() {
  // The ids need no tokenizer; one only decodes samples: the run's own (on
  // resume), GPT-2's when named (--data.tokenizer gpt2:PATH), or the one
  // `mhc tokenize` wrote beside its shards.
  const fs::path in_run = path_in(cfg_.run_dir, "tokenizer.txt"), beside = fs::path(cfg_.data.data) / "tokenizer.txt";
  if (opt_.resume && fs::exists(in_run))
    tokenizer_ = Tokenizer::load(in_run.string());
  else if (cfg_.data.tokenizer == TokenizerKind::Gpt2)
    tokenizer_ = std::make_unique<Gpt2Tokenizer>(Gpt2Tokenizer::from_files(cfg_.data.tokenizer_path));
  else if (fs::is_directory(cfg_.data.data) && fs::exists(beside))
    tokenizer_ = Tokenizer::load(beside.string());
  if (cfg_.model.vocab_size < 1) cfg_.model.vocab_size = tokenizer_ ? tokenizer_->vocab_size() : kGpt2VocabSize;
  if (tokenizer_ && tokenizer_->vocab_size() != cfg_.model.vocab_size) tokenizer_.reset();  // the model says otherwise
}

void Trainer::load_token_files() {
  TokenData data = open_token_files(cfg_.data.data, cfg_.model.vocab_size);
  if (opt_.resume) {
    if (cfg_.data.files.empty())
      throw std::runtime_error(
          fmt::format("--data {}: the run in {} was not trained on token files", cfg_.data.data, cfg_.run_dir));
    check_token_files_unchanged(cfg_.data.files, data.records, cfg_.data.data);
  }
  cfg_.data.files = data.records;  // recorded in config.json, checked by the next resume
  data_path_ = fmt::format("{}: {} training + {} validation files, {} + {} tokens", format_name(data.format),
                           data.train->files(), data.val->files(), data.train->size(), data.val->size());
  const int64_t T = cfg_.model.block_size;
  for (const auto& [part, size] :
       {std::pair{"training", data.train->size()}, std::pair{"validation", data.val->size()}})
    if (size < T + 1)
      throw std::runtime_error(
          fmt::format("--data {}: the {} files hold {} tokens, fewer than one window of "
                      "--model.block_size {} + 1",
                      cfg_.data.data, part, size, T));
  train_ = std::move(data.train);
  val_ = std::move(data.val);
  make_batches();
}

void Trainer::make_batches() {
  const int64_t B = cfg_.optim.batch_size, T = cfg_.model.block_size;
  const Shard shard{group_->rank(), group_->size()};
  sampler_ = std::make_unique<BatchSampler>(train_.get(), B, T, cfg_.seed, shard);
  // The same windows whatever the seed or variant: those holding the first
  // --eval.tokens tokens, or --eval.batches global batches of them (0: the
  // whole split), shared out between the ranks.
  const int64_t ranks = std::max<int64_t>(group_->size(), opt_.eval_ranks);
  val_set_ = validation_batches(*val_, B, T, cfg_.eval.windows(T, B, ranks), shard);
  val_bytes_ = 0;
  if (tokenizer_)  // the bytes of text the targets stand for, for bits per byte
    for (const auto& [x, y] : val_set_.batches)
      val_bytes_ += static_cast<double>(tokenizer_->decode(y.to_vector<int32_t>()).size());
  for (auto& [x, y] : val_set_.batches) {
    x = x.to(device_);
    y = y.to(device_);
  }
}

std::vector<NamedTensor> Trainer::checkpoint_tensors() {
  std::vector<NamedTensor> all;
  for (auto& p : model_->parameters()) all.push_back({"model." + p.name, p.tensor});
  for (auto& b : model_->buffers()) all.push_back({"buffer." + b.name, b.tensor});
  for (auto& s : optimizer_->state()) all.push_back({"adamw." + s.name, s.tensor});
  return all;
}

void Trainer::save(int64_t steps_done) {
  if (!group_->is_root()) {  // rank 0 writes the checkpoint (a failure there ends the job)
    last_saved_step_ = steps_done;
    return;
  }
  if (log_->metrics) log_->metrics->sync();  // the log on disk reaches at least the checkpoint
  CheckpointMeta meta;
  meta.step = steps_done;
  meta.optimizer_steps = optimizer_->steps_taken();
  const BatchSampler::State st = sampler_->state();
  meta.sampler_state = {st.rng_words[0], st.rng_words[1], st.rng_words[2], st.rng_words[3], st.batches_drawn};
  meta.config_json = json::dump(to_json(cfg_));
  meta.last_val_loss = last_val_loss_;
  meta.ranks = group_->size();
  save_checkpoint(path_in(cfg_.run_dir, kCheckpointFile), checkpoint_tensors(), meta);
  last_saved_step_ = steps_done;
  if (cfg_.eval.keep_best && last_val_loss_ < best_val_loss_) {  // a save after the evaluation it follows
    save_checkpoint(path_in(cfg_.run_dir, kBestFile), checkpoint_tensors(), meta);
    best_val_loss_ = last_val_loss_;
  }
}

double Trainer::train_step(int64_t step) {
  cpu_threads_tick();  // as many CPU threads as there are free cores (results do not depend on it)
  model_->train(true);
  optimizer_->zero_grad();
  const int64_t accum = cfg_.optim.grad_accum;
  const int64_t K = group_->size();
  if (step == cfg_.fail_at && group_->rank() == cfg_.fail_rank)
    throw std::runtime_error(fmt::format("--debug.fail_rank {}: failing at step {} on purpose", cfg_.fail_rank, step));
  Tensor loss_sum;  // on the device: one host sync per step, not per micro-batch
  for (int64_t micro = 0; micro < accum; ++micro) {
    // Each rank its own dropout masks; with one rank the stream of a single process.
    DropoutSeeds::begin_step(cfg_.seed, static_cast<uint64_t>((step * accum + micro) * K + group_->rank()));
    Tensor x, y;
    sampler_->next(x, y);
    Tensor loss = model_->loss(x.to(device_), y.to(device_));
    const bool last = micro + 1 == accum;
    if (last && reducer_) reducer_->begin();  // buckets are reduced as this backward completes them
    (accum > 1 ? loss * (1.0 / static_cast<double>(accum)) : loss).backward();
    if (last && reducer_) reducer_->finish();  // every gradient is now the mean over the ranks
    loss_sum = loss_sum.defined() ? loss_sum + loss.detach() : loss.detach();
  }
  // The loss mean and the ranks' stop vote (Ctrl-C) in one collective.
  double loss_value = loss_sum.item() / static_cast<double>(accum);
  if (K > 1) {
    std::vector<double> v{loss_value, g_interrupted ? 1.0 : 0.0};
    group_->sum(v);
    loss_value = v[0] / static_cast<double>(K);
    stop_voted_ = v[1] > 0;
  }
  if (step == cfg_.inject_nan_at) loss_value = NAN;
  const double norm = optimizer_->grad_norm();
  if (!std::isfinite(loss_value) || !std::isfinite(norm))
    throw DivergenceError(
        fmt::format("the {} became {} at step {}", std::isfinite(loss_value) ? "gradient norm" : "loss",
                    std::isfinite(loss_value) ? norm : loss_value, step),
        step);
  if (opt_.stop_above_initial_loss) {
    if (recent_losses_.size() == kBlowupWindow) recent_losses_.erase(recent_losses_.begin());
    recent_losses_.push_back(loss_value);
    double mean = 0;
    for (double l : recent_losses_) mean += l / static_cast<double>(recent_losses_.size());
    if (step >= cfg_.optim.warmup && recent_losses_.size() == kBlowupWindow &&
        mean > initial_val_loss_ * (1 + kBlowupMargin))
      throw DivergenceError(fmt::format("the mean loss {:.4f} of steps {}-{} is more than {:g} % above the untrained "
                                        "model's {:.4f}",
                                        mean, step + 1 - static_cast<int64_t>(kBlowupWindow), step, 100 * kBlowupMargin,
                                        initial_val_loss_),
                            step);
  }
  last_grad_norm_ = norm;
  const double clip = cfg_.optim.grad_clip;
  optimizer_->step(learning_rate(cfg_.optim, step), clip > 0 && norm > clip ? clip / norm : 1.0);
  if (K > 1 && !model_->moe_layers().empty()) {  // balance against the load of the whole global batch
    std::vector<double> load;
    for (MoeFeedForward* moe : model_->moe_layers())
      for (int64_t l : moe->load()) load.push_back(static_cast<double>(l));
    group_->sum(load);
    size_t i = 0;
    for (MoeFeedForward* moe : model_->moe_layers()) {
      std::vector<int64_t> global(moe->load().size());
      for (int64_t& l : global) l = static_cast<int64_t>(load[i++]);
      moe->set_load(std::move(global));
    }
  }
  for (MoeFeedForward* moe : model_->moe_layers()) moe->update_bias();
  return loss_value;
}

void Trainer::check_ranks_agree() {
  if (group_->size() == 1) return;
  // A fingerprint of what must be equal on every rank: the settings and the
  // data (hashed whole), and the model and optimizer state (after a resume
  // too: each tensor's sum and sum of squares, a cheap check, not a hash).
  Xxh64 h;
  h.update(json::dump(to_json(cfg_)));
  h.update(split_.train.data(), split_.train.size() * sizeof(int32_t));
  h.update(split_.val.data(), split_.val.size() * sizeof(int32_t));
  // Per tensor its sum and sum of squares, reduced where it lives (no copy of
  // a large model to the host): the kernels are deterministic, so equal
  // tensors give equal bits.
  NoGradGuard no_grad;
  for (const NamedTensor& t : checkpoint_tensors()) {
    const Tensor f = t.tensor->dtype() == DType::f32 ? *t.tensor : t.tensor->to(DType::f32);
    const double stats[2] = {sum(f).item(), sum(square(f)).item()};
    h.update(stats, sizeof stats);
  }
  const std::vector<uint64_t> all = group_->gather(h.digest());
  for (size_t r = 1; r < all.size(); ++r)
    if (all[r] != all[0])
      throw std::runtime_error(fmt::format(
          "rank {} holds different settings, data or model state than rank 0: every rank must get the same flags "
          "and the same corpus (and, to resume, the same checkpoint)",
          r));
}

double Trainer::evaluate(std::vector<SiteGain>* gains, std::vector<double>* diversity) {
  NoGradGuard no_grad;
  model_->train(false);
  // Σ over windows of their mean loss, the windows, and the bytes of their
  // targets: every window has T tokens, so the first ratio is the mean loss
  // per token.
  std::vector<double> sums{0.0, 0.0, val_bytes_};
  const int64_t batches = static_cast<int64_t>(val_set_.batches.size());
  std::optional<PassProgress> progress;
  if (opt_.eval_progress && group_->is_root()) progress.emplace("eval: validation batches", batches);
  const auto start = std::chrono::steady_clock::now();
  for (size_t b = 0; b < val_set_.batches.size(); ++b) {
    const auto& [x, y] = val_set_.batches[b];
    // The Amax gains of every site's H_res come from the first batch's forward.
    const bool record = gains && b == 0;
    if (record) model_->record_h_res(true);
    const double rows = static_cast<double>(x.shape()[0]);
    sums[0] += model_->loss(x, y).item() * rows;
    sums[1] += rows;
    if (record) {
      std::vector<Tensor> h_res;
      for (ResidualSite* s : model_->sites()) h_res.push_back(s->last_h_res());
      if (diversity)
        for (ResidualSite* s : model_->sites()) diversity->push_back(s->last_stream_diversity());
      model_->record_h_res(false);
      *gains = amax_gain(h_res);
    }
    if (progress)
      progress->done(static_cast<int64_t>(b) + 1,
                     std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  if (progress) progress->finish();
  if (group_->size() > 1) group_->sum(sums);
  const double tokens_loss = sums[0] * static_cast<double>(cfg_.model.block_size);  // nats over every target
  last_val_bpb_ = sums[2] > 0 ? tokens_loss / std::log(2.0) / sums[2] : NAN;
  return sums[0] / sums[1];
}

void Trainer::evaluate_and_log(int64_t steps_done) {
  // Per-expert load (assignments) of the last training step.
  Json load = Json::array();
  for (MoeFeedForward* moe : model_->moe_layers()) {
    Json layer = Json::array();
    for (int64_t l : moe->last_step_load()) layer.push_back(l);
    load.push_back(layer);
  }
  std::vector<SiteGain> gains;    // the Amax gain of every site's H_res, on the first evaluation batch
  std::vector<double> diversity;  // and how different each site's input streams are
  last_val_loss_ = evaluate(&gains, &diversity);
  if (steps_done == 0) initial_val_loss_ = last_val_loss_;
  Json line;
  line["step"] = steps_done;
  line["val_loss"] = last_val_loss_;
  if (std::isfinite(last_val_bpb_)) line["val_bpb"] = last_val_bpb_;  // bits per byte of text
  if (!hellaswag_.empty() && group_->is_root()) {                     // rank 0 alone writes the line: it alone scores
    const ChoiceScore hs = score_choices(*model_, hellaswag_);
    line["hellaswag_acc"] = hs.accuracy();
    line["hellaswag_acc_norm"] = hs.accuracy_norm();
    line["hellaswag_examples"] = hs.examples;
  }
  // The most tensor memory held at once on the run's device since this session began.
  line["peak_bytes"] = backend_for(device_).allocator_stats().peak_bytes_in_use;
  line["expert_load"] = load;
  line["amax"] = amax_to_json(gains);
  line["stream_diversity"] = diversity;  // per site: Σ_i ‖x_i − x̄‖² / Σ_i ‖x_i‖², mean over tokens
  if (log_->metrics) log_->metrics->write(line);
  double worst = 0;
  for (const SiteGain& g : gains) worst = std::max({worst, g.composite_forward, g.composite_backward});
  log_->progress->print(
      fmt::format("step {:>6} | val loss {:.4f} | max composite Amax gain {:.4g}", steps_done, last_val_loss_, worst));
  warn_gain_once(gains, steps_done);
}

std::string gain_warning(const std::vector<SiteGain>& gains, int64_t steps_done) {
  size_t site = gains.size();
  double worst = kGainWarning;
  for (size_t i = 0; i < gains.size(); ++i)
    for (const double g : {gains[i].composite_forward, gains[i].composite_backward})
      if (g > worst) worst = g, site = i;
  if (site == gains.size()) return "";
  return fmt::format(
      "warning: composite Amax gain {:.4g} at site {} (block {}, {}) after {} steps passes {:g}: the streams' "
      "mixing amplifies signals or gradients that much from there to the output (said once per session)",
      worst, site, site / 2, site % 2 == 0 ? "attention" : "feed-forward", steps_done, kGainWarning);
}

void Trainer::warn_gain_once(const std::vector<SiteGain>& gains, int64_t steps_done) {
  if (gain_warned_) return;
  const std::string warning = gain_warning(gains, steps_done);
  if (warning.empty()) return;
  gain_warned_ = true;
  log_->progress->print(warning);
}

namespace {

// "a.b.c" → value, for every leaf of a JSON object.
void flatten(const Json& v, const std::string& prefix, std::map<std::string, std::string>& out) {
  if (v.is_object()) {
    for (const auto& [key, child] : v.items()) flatten(child, prefix.empty() ? key : prefix + "." + key, out);
  } else {
    out[prefix] = json::dump(v);
  }
}

// Settings a resumed run may change: how long it runs, how it reports, where
// things live. Anything else would silently continue a different experiment.
bool may_change_on_resume(const std::string& key) {
  for (const char* k : {"optim.steps", "log_every", "data.cache_dir", "data", "device",
                        "data.files"})  // data.files: checked on its own
    if (key == k) return true;
  return key.rfind("eval.", 0) == 0 || key.rfind("dist.", 0) == 0;  // dist.*: speed only
}

}  // namespace

int64_t Trainer::restore() {
  const std::string ckpt = path_in(cfg_.run_dir, kCheckpointFile);
  const CheckpointMeta meta = read_checkpoint_meta(ckpt);
  {
    std::map<std::string, std::string> saved, now;
    const Json saved_json = checkpoint_config(ckpt, meta);
    flatten(saved_json, "", saved);
    flatten(to_json(cfg_), "", now);
    std::string diffs;
    for (const auto& [key, value] : now) {
      auto it = saved.find(key);
      if (it != saved.end() && it->second != value && !may_change_on_resume(key))
        diffs += fmt::format("\n  {}: {} in the run, {} now", key, it->second, value);
    }
    const bool corpus_changed = saved.count("data.checksum") && saved["data.checksum"] != now["data.checksum"];
    if (!diffs.empty() && !opt_.override_config)
      throw std::runtime_error(
          "--resume: this command's settings differ from those the checkpoint " + ckpt + " was written with:" + diffs +
          (corpus_changed ? "\n(the corpus " + data_path_ +
                                " is not the one the run trained on: resume on the original, or pass --override to "
                                "continue on this one, which breaks the bit-identical resume)"
                          : "\n(leave out the flags that change them: --resume alone continues with the run's own "
                            "settings; only steps, evaluation, logging and paths may change, unless --override says "
                            "to continue anyway)"));
    if (!diffs.empty() && !opt_.quiet)
      fmt::print(stderr, "warning: --override: resuming with settings that differ from the checkpoint's:{}\n", diffs);
    // A changed step count reshapes the learning-rate schedule from here on: say how.
    const TrainConfig before = train_config_from_json(saved_json);
    if (before.optim.steps != cfg_.optim.steps && meta.step < cfg_.optim.steps) {
      resume_note_ = fmt::format(
          "--optim.steps changed from {} to {}: the {} schedule is recomputed for {} steps, so the learning rate "
          "at step {} becomes {:.3g} (it would have been {:.3g})",
          before.optim.steps, cfg_.optim.steps, schedule_name(cfg_.optim.schedule), cfg_.optim.steps, meta.step,
          learning_rate(cfg_.optim, meta.step),
          meta.step < before.optim.steps ? learning_rate(before.optim, meta.step) : before.optim.min_lr);
    }
  }
  load_checkpoint(ckpt, checkpoint_tensors());
  optimizer_->set_steps_taken(meta.optimizer_steps);
  if (meta.sampler_state.size() != 5) throw std::runtime_error("checkpoint " + ckpt + " has no data position");
  sampler_->set_state({{meta.sampler_state[0], meta.sampler_state[1], meta.sampler_state[2], meta.sampler_state[3]},
                       meta.sampler_state[4]});
  last_val_loss_ = meta.last_val_loss;
  return meta.step;
}

// The steps of run(): resume (restore a checkpoint, or find the run
// finished), open the run's files and announce it, the loop of steps, and
// the finish (plots and a sample).
TrainResult Trainer::run() {
  TrainResult result;
  int64_t start = 0;
  if (opt_.resume) {
    start = resume();
    if (start >= cfg_.optim.steps) return already_finished(start);
  }
  if (opt_.resume) check_ranks_agree();  // the restored state too
  backend_for(device_).reset_peak_memory();
  open_and_announce(start);
  result.first_step = start;
  if (start == 0)
    or_stop(0, [&] { evaluate_and_log(0); });  // the untrained model: the reference for loss and Amax gain
  const int64_t step = run_steps(start, result);
  if (claim_) claim_->keep();
  if (log_->metrics) or_stop(step, [&] { log_->metrics->close(); });
  log_->progress->finish();
  result.end_step = step;
  result.last_val_loss = last_val_loss_;
  if (step == cfg_.optim.steps) finish();
  return result;
}

int64_t Trainer::resume() {
  // Training on needs the same global batch: the same number of ranks (evaluation does not).
  const std::string ckpt = path_in(cfg_.run_dir, kCheckpointFile);
  const CheckpointMeta meta = read_checkpoint_meta(ckpt);
  if (meta.ranks != group_->size())
    throw std::runtime_error(fmt::format(
        "--resume: {} was written by {} rank(s) and this job has {}; resume it with the same number of processes "
        "({}): the global batch is --optim.batch_size × ranks, so another count would continue a different experiment",
        ckpt, meta.ranks, group_->size(),
        meta.ranks == 1 ? std::string("without mpirun, or mpirun -np 1") : fmt::format("mpirun -np {}", meta.ranks)));
  const int64_t start = restore();
  last_saved_step_ = start;  // the checkpoint it continues from is on disk (messages after a failed write say so)
  if (const std::string best = path_in(cfg_.run_dir, kBestFile); fs::exists(best))
    best_val_loss_ = read_checkpoint_meta(best).last_val_loss;
  if (start >= cfg_.optim.steps) return start;
  if (group_->is_root()) truncate_metrics(path_in(cfg_.run_dir, "metrics.jsonl"), start);
  if (opt_.stop_above_initial_loss) {
    const RunMetrics m = read_run_metrics(cfg_.run_dir);
    for (size_t i = 0; i < m.eval_step.size(); ++i)
      if (m.eval_step[i] == 0) initial_val_loss_ = m.val_loss[i];
    for (size_t i = m.step.size() > kBlowupWindow ? m.step.size() - kBlowupWindow : 0; i < m.step.size(); ++i)
      recent_losses_.push_back(m.loss[i]);  // the window as it was at the checkpoint
    if (!std::isfinite(initial_val_loss_))
      throw std::runtime_error(cfg_.run_dir +
                               "/metrics.jsonl has no step-0 evaluation, which the divergence rule "
                               "compares against");
  }
  return start;
}

TrainResult Trainer::already_finished(int64_t start) {
  // Nothing to do: say so rather than rewrite a finished run.
  if (!opt_.quiet)
    fmt::print(
        "run {} is finished: {} of {} steps done (val loss {:.4f}). To train it further, resume with a "
        "larger --optim.steps (the schedule is then recomputed for the new length).\n",
        cfg_.run_dir, start, cfg_.optim.steps, last_val_loss_);
  TrainResult result;
  result.first_step = result.end_step = start;
  result.last_val_loss = last_val_loss_;
  result.already_finished = true;
  // Killed between its last checkpoint and its plots: write them now.
  if (opt_.plots && run_plots_missing(cfg_.run_dir)) {
    const auto files = write_run_plots({cfg_.run_dir}, cfg_.run_dir);
    if (!opt_.quiet) fmt::print("plots: {} (they were missing)\n", files.back());
  }
  return result;
}

void Trainer::open_and_announce(int64_t start) {
  if (group_->is_root()) {
    write_file_atomically(path_in(cfg_.run_dir, "config.json"), json::dump(to_json(cfg_), 2) + "\n",
                          path_in(cfg_.run_dir, "config.json.tmp"));
    log_->metrics = std::make_unique<MetricsWriter>(path_in(cfg_.run_dir, "metrics.jsonl"));
  }
  log_->progress = std::make_unique<Progress>(cfg_.optim.steps, cfg_.log_every, opt_.quiet, !group_->uses_mpi());
  if (opt_.quiet) return;
  fmt::print("mhc train{}\n{}", opt_.resume ? fmt::format(" (resuming at step {})", start) : "",
             describe(cfg_, model_->parameter_count(), data_path_));
  if (!resume_note_.empty()) fmt::print("note: {}\n", resume_note_);
  if (!opt_.init_from.empty() && !opt_.resume) fmt::print("initial weights: {}\n", opt_.init_from);
  if (!restart_note_.empty()) fmt::print("note: {}\n", restart_note_);
  if (group_->uses_mpi())
    fmt::print(
        "data parallel: {} rank(s) x batch {} = global batch {} sequences (tokens / step above: per rank; "
        "tok/s below: all ranks); gradients averaged over {} in buckets of {:g} MiB ({})\n",
        group_->size(), cfg_.optim.batch_size, cfg_.optim.batch_size * group_->size(),
        device_ == Device::cuda ? "NCCL" : "MPI", cfg_.dist.bucket_mb, find_setting("dist.reduce")->text(cfg_));
  std::fflush(stdout);
}

// A file of the run that cannot be written (disk full, say) stops training
// with what is kept and how to go on.
template <class Write>
void Trainer::or_stop(int64_t steps_done, Write&& write) {
  try {
    write();
  } catch (const WriteError& e) {
    log_->progress->finish();
    throw WriteError(fmt::format(
        "{}\ntraining stopped after step {}; {}", e.what(), steps_done,
        last_saved_step_ >= 0
            ? fmt::format("the checkpoint after step {} in {} is intact: free some space, then continue with --resume",
                          last_saved_step_, path_in(cfg_.run_dir, kCheckpointFile))
            : std::string("no checkpoint had been written yet")));
  }
}

int64_t Trainer::run_steps(int64_t start, TrainResult& result) {
  // Of the global batch: every rank's tokens.
  const int64_t tokens_per_step =
      cfg_.optim.batch_size * cfg_.model.block_size * cfg_.optim.grad_accum * group_->size();
  const auto t_begin = std::chrono::steady_clock::now();
  InterruptScope interrupt_scope(opt_.catch_interrupt);
  int64_t step = start;
  for (; step < cfg_.optim.steps; ++step) {
    if (opt_.stop_after >= 0 && step - start >= opt_.stop_after) break;
    const auto t0 = std::chrono::steady_clock::now();
    const double loss = step_or_diverge(step, result);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    result.losses.push_back(loss);
    if (claim_) claim_->keep();  // the start has succeeded: an old run that --overwrite replaces goes now
    Json line;
    line["step"] = step + 1;  // steps done, this one included: as the console, evaluations and checkpoints count
    line["loss"] = loss;
    line["lr"] = learning_rate(cfg_.optim, step);
    line["grad_norm"] = last_grad_norm_;
    line["tokens_per_s"] = static_cast<double>(tokens_per_step) / (ms / 1000.0);
    line["ms_per_step"] = ms;
    if (log_->metrics) or_stop(step + 1, [&] { log_->metrics->write(line); });
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_begin).count();
    log_->progress->step(step, loss, static_cast<double>(tokens_per_step) / (ms / 1000.0), ms,
                         learning_rate(cfg_.optim, step), elapsed, step - start + 1);
    if ((step + 1) % cfg_.eval.every == 0 || step + 1 == cfg_.optim.steps) {
      or_stop(step + 1, [&] {
        evaluate_and_log(step + 1);
        save(step + 1);
      });
    }
    // Ctrl-C: keep everything up to this step. With several ranks they agree
    // (a signal may reach them at different steps), so all stop together:
    // the decision is the vote taken with the step's loss, never this rank's
    // flag; a signal that arrives after the vote counts in the next step's.
    const bool stop = group_->size() > 1 ? stop_voted_ : g_interrupted != 0;
    if (stop) {
      if (last_saved_step_ != step + 1) or_stop(step + 1, [&] { save(step + 1); });
      result.interrupted = true;
      return step + 1;
    }
  }
  return step;
}

double Trainer::step_or_diverge(int64_t step, TrainResult& result) {
  try {
    return train_step(step);
  } catch (const DivergenceError& e) {
    if (claim_) claim_->keep();  // a diverged run is an outcome, not a failed start
    log_->progress->finish();
    result.diverged = true;
    result.diverged_step = step;
    result.end_step = step;
    const std::string ckpt = path_in(cfg_.run_dir, kCheckpointFile);
    throw DivergenceError(
        std::string(e.what()) + "; stopping. " +
            (last_saved_step_ >= 0
                 ? fmt::format("The last good checkpoint (after step {}) is kept in {}", last_saved_step_, ckpt)
                 : std::string("No checkpoint had been written yet.")),
        e.step);
  }
}

void Trainer::finish() {
  if (opt_.plots) {
    auto files = write_run_plots({cfg_.run_dir}, cfg_.run_dir);
    if (!opt_.quiet) fmt::print("plots: {}\n", files.back());
  }
  if (cfg_.eval.sample_tokens <= 0 || opt_.quiet || !tokenizer_) return;  // token files come without a tokenizer
  SampleOptions so;
  so.tokens = cfg_.eval.sample_tokens;
  so.seed = cfg_.seed;
  std::vector<int32_t> prompt = {0};
  try {
    prompt = tokenizer_->encode("\n");  // start a fresh line, if the vocabulary has one
  } catch (const std::exception&) {}
  if (prompt.empty()) prompt = {0};
  fmt::print("sample:\n{}\n", printable_text(tokenizer_->decode(generate(*model_, prompt, so))));
}

}  // namespace mhc
