// train_flags.h — the flags of `mhc train`, bound to a TrainConfig. One
// definition serves the command line and `mhc sweep`, whose grid points are
// written as the same flags (so a sweep spec uses the CLI's own names).
//
//   TrainFlags f(preset("cpu-char"));
//   CLI::App cmd;  f.bind(cmd);  cmd.parse(argc, argv);
//   TrainConfig c = f.resolve();
#pragma once
#include <CLI/CLI.hpp>

#include <string>
#include <vector>

#include "train/config.h"
#include "train/trainer.h"

namespace mhc {

// n when --streams is not given: 1 for the residual, 4 for HC / mHC.
int64_t default_streams(ResidualKind kind);

// The value of `FLAG X` or `FLAG=X` in args (the first), or "" when absent:
// for the flags read before the rest are parsed (--preset, --run, --residual).
std::string flag_value(const std::vector<std::string>& args, const std::string& flag);

struct TrainFlags {
  // base: the preset, or a resumed run's own config (config_from_run), that flags override.
  explicit TrainFlags(TrainConfig base, bool config_from_run = false);
  void bind(CLI::App& cmd);  // adds every `mhc train` option, bound to the members below
  // The configuration the parsed flags describe (with the default stream
  // count: 1 for the residual, 4 for HC / mHC, unless --streams was given).
  TrainConfig resolve() const;

  TrainConfig config;  // the flags are bound to its members (train/settings.h)
  RunOptions run;
  bool config_from_run;
  CLI::Option* streams_option = nullptr;
};

// `mhc train` flags (without program or subcommand name, e.g. {"--preset",
// "cpu-char", "--model.blocks", "8"}) on top of the preset they name
// (default cpu-char); the result is validated. Throws std::invalid_argument
// naming an unknown flag or a bad value. Run options (--run, --resume, …)
// are parsed too, into `run` when given.
TrainConfig parse_train_flags(const std::vector<std::string>& args, RunOptions* run = nullptr);

}  // namespace mhc
