// cmd_train.cpp — `mhc train`: one training run, fresh or resumed. Its flags
// come from the settings registry (train/settings.h) through TrainFlags; the
// preset, or with --resume the resumed run's settings, is the base they
// override.
#include <fmt/core.h>

#include <algorithm>
#include <charconv>
#include <filesystem>

#include "parallel/process_group.h"
#include "program/run_files.h"
#include "program/subcommand.h"
#include "train/checkpoint.h"
#include "train/train_flags.h"
#include "train/trainer.h"

namespace mhc {

namespace {

namespace fs = std::filesystem;

// The run directory `train --resume` continues: --run, or else the default
// directory of the run that the same --preset / --residual / --streams start.
std::string resume_dir(const std::vector<std::string>& args) {
  if (std::string dir = flag_value(args, "--run"); !dir.empty()) return dir;
  const std::string p = flag_value(args, "--preset");
  TrainConfig c = preset(p.empty() ? "cpu-char" : p);
  if (const std::string r = flag_value(args, "--residual"); !r.empty()) c.model.site.kind = parse_residual_kind(r);
  const std::string n = flag_value(args, "--streams");
  int64_t streams = 0;
  if (std::from_chars(n.data(), n.data() + n.size(), streams).ec != std::errc() || streams < 1)
    streams = default_streams(c.model.site.kind);  // the same default as a new run's
  c.model.site.streams = streams;
  return c.default_run_dir();
}

// The settings the flags override: the resumed run's, or the preset's.
struct BaseConfig {
  TrainConfig config;
  bool from_run = false;
};
BaseConfig base_config(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  const bool resume = std::find(args.begin(), args.end(), "--resume") != args.end();
  const std::string run_dir = resume ? resume_dir(args) : "";
  if (resume && (fs::exists(fs::path(run_dir) / "config.json") || fs::exists(fs::path(run_dir) / kCheckpointFile)))
    return {load_run_config(run_dir), true};
  const std::string p = flag_value(args, "--preset");
  return {preset(p.empty() ? "cpu-char" : p), false};
}

class TrainCommand : public Subcommand {
 public:
  TrainCommand(CLI::App& app, BaseConfig base) : flags_(base.config, base.from_run) {
    app_ = app.add_subcommand("train", "train a model (flags override the preset)");
    flags_.bind(*app_);
  }

  int run(const CommandContext& ctx) override {
    const TrainConfig c = flags_.resolve();
    RunOptions run = flags_.run;
    if (run.resume && run.overwrite) throw std::invalid_argument("--resume and --overwrite cannot be combined");
    if (run.override_config && !run.resume) throw std::invalid_argument("--override only applies with --resume");
    run.catch_interrupt = true;
    Trainer trainer(c, run, &ctx.group);
    const TrainResult result = trainer.run();
    if (!result.interrupted) return 0;
    const std::string dir = trainer.config().run_dir;
    if (ctx.group.is_root()) {  // the ranks stopped together; rank 0 says so
      fmt::print(stderr,
                 "\ninterrupted: stopped after step {} of {}; the checkpoint in {} holds everything so far.\n"
                 "Continue it bit-identically with:\n  {} train --run {} --resume\n",
                 result.end_step, trainer.config().optim.steps, dir, ctx.program, dir);
      std::fflush(stderr);
    }
    // Rank 0 has written its checkpoint and said so: now every rank may exit
    // (mpirun ends the whole job at the first non-zero exit status).
    ctx.group.barrier();
    return 130;  // 128 + SIGINT, as shells report a Ctrl-C
  }

 private:
  TrainFlags flags_;
};

}  // namespace

std::unique_ptr<Subcommand> add_train(CLI::App& app, int argc, char** argv) {
  return std::make_unique<TrainCommand>(app, base_config(argc, argv));
}

}  // namespace mhc
