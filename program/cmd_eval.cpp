// cmd_eval.cpp — `mhc eval`: the validation loss of a trained run, and with
// --dump-batch one batch, its logits and every gradient for an outside check
// (scripts/torch_model.py).
#include <fmt/core.h>

#include <cmath>
#include <filesystem>

#include "datasets/corpus.h"
#include "datasets/token_files.h"
#include "layers/config_checks.h"
#include "program/dump_batch.h"
#include "program/run_files.h"
#include "program/subcommand.h"
#include "train/checkpoint.h"
#include "train/choice_eval.h"
#include "train/run_dir.h"
#include "train/settings.h"
#include "train/trainer.h"

namespace mhc {

namespace {

namespace fs = std::filesystem;

class EvalCommand : public Subcommand {
 public:
  explicit EvalCommand(CLI::App& parent) {
    CLI::App* a = app_ = parent.add_subcommand("eval", "validation loss of a trained run");
    a->add_option("--run", run_, "run directory")->required();
    a->add_option("--data", data_, "the run's training text, if it has moved since training");
    a->add_option("--batches", batches_,
                  "validation batches of the run's batch size, from the split's start (default 0: the whole "
                  "validation split; the run's own evaluation used --eval.batches of them)")
        ->check(kNotEmpty)
        ->capture_default_str();
    a->add_option("--tokens", tokens_,
                  "instead of --batches: the first N tokens of the validation split, as whole windows "
                  "(for large token files; 0: --batches decides)")
        ->check(kNotEmpty)
        ->capture_default_str();
    a->add_option("--device", device_, "cpu | cuda")->check(CLI::IsMember({"cpu", "cuda"}))->capture_default_str();
    a->add_flag("--force", force_, "replace an existing --dump-batch file");
    a->add_option("--hellaswag", hellaswag_,
                  "also score FILE, HellaSwag-style JSON lines ({ctx, endings, label}, as Hugging Face's "
                  "Rowan/hellaswag and llm.c have them): accuracy by total and by mean loss per ending token");
    a->add_option("--dump-batch", dump_,
                  "also write FILE (safetensors): the first validation batch (x, y: i32 (B, T)), mhc's logits on it "
                  "(f32 (B, T, V)), its loss, and the gradient of that loss for every parameter (grad.model.<name>); "
                  "evaluation mode, no dropout. For checking an outside implementation (scripts/torch_model.py)");
  }

  int run(const CommandContext&) override {
    int_in("eval --batches", batches_, 0, 1 << 16);  // 0: the whole split
    int_in("eval --tokens", tokens_, 0, int64_t(1) << 40);
    if (!dump_.empty()) check_output_file(dump_, force_, "--dump-batch", false);
    const TrainConfig c = settings();
    RunOptions ro;
    ro.resume = true;  // an existing run: nothing in it is replaced
    ro.read_only = true;
    ro.quiet = true;
    ro.eval_ranks = read_checkpoint_meta((fs::path(run_) / kCheckpointFile).string()).ranks;
    ro.eval_progress = true;  // on stderr: a full pass over large token files takes a while
    Trainer evaluator(c, ro);
    const int64_t step = evaluator.restore();
    if (!dump_.empty())
      fmt::print("{}: wrote {} (loss {:.6f} on its first validation batch)\n", run_, dump_,
                 dump_eval_batch(evaluator, step, dump_));
    if (!hellaswag_.empty()) {
      if (!evaluator.tokenizer()) throw std::runtime_error(run_ + " has no tokenizer to encode " + hellaswag_);
      const ChoiceScore hs = score_choices(evaluator.model(), read_choice_file(hellaswag_, *evaluator.tokenizer()));
      fmt::print("{}: {}: accuracy {:.4f} ({} of {}), length-normalised {:.4f} ({} of {})\n", run_, hellaswag_,
                 hs.accuracy(), hs.correct, hs.examples, hs.accuracy_norm(), hs.correct_norm, hs.examples);
    }
    const double loss = evaluator.evaluate();
    const double bpb = evaluator.last_val_bpb();
    fmt::print("{}: val loss {:.4f}{} ({} windows of {} tokens{})\n", run_, loss,
               std::isfinite(bpb) ? fmt::format(" nats/token, {:.4f} bits/byte", bpb) : std::string(),
               evaluator.validation_windows(), c.model.block_size,
               c.eval.tokens > 0
                   ? fmt::format(", those holding the first {} tokens of the validation split", c.eval.tokens)
               : c.eval.batches == 0 ? std::string(", the whole validation split")
                                     : std::string());
    return 0;
  }

 private:
  // The run's settings with this command's flags applied.
  TrainConfig settings() const {
    TrainConfig c = load_run_config(run_);
    c.eval.batches = batches_;
    c.eval.tokens = tokens_;
    if (!data_.empty())
      c.data.data = data_;
    else if (!c.data.data.empty() && !is_synthetic(c.data.data) && !is_token_data(c.data.data) &&
             !fs::exists(c.data.data))
      throw std::runtime_error(
          fmt::format("{} was trained on {}, which is no longer there; pass eval --data "
                      "with the file's new path",
                      run_, c.data.data));
    c.device = device_ == "cuda" ? Device::cuda : Device::cpu;  // checked by CLI11 (cpu | cuda)
    if (c.device == Device::cpu) c.dtype = DType::f32;  // bf16 is CUDA mixed precision; the CPU evaluates in f32
    return c;
  }

  std::string run_, device_ = "cpu", data_, dump_, hellaswag_;
  int64_t batches_ = 0, tokens_ = 0;
  bool force_ = false;
};

}  // namespace

std::unique_ptr<Subcommand> add_eval(CLI::App& app) { return std::make_unique<EvalCommand>(app); }

}  // namespace mhc
