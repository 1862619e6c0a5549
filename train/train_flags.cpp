// train_flags.cpp — see train_flags.h.
#include "train/train_flags.h"

#include <algorithm>
#include <stdexcept>

#include "train/settings.h"

namespace mhc {

int64_t default_streams(ResidualKind kind) { return kind == ResidualKind::Residual ? 1 : 4; }

std::string flag_value(const std::vector<std::string>& args, const std::string& flag) {
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == flag && i + 1 < args.size()) return args[i + 1];
    if (args[i].size() > flag.size() && args[i].compare(0, flag.size(), flag) == 0 && args[i][flag.size()] == '=')
      return args[i].substr(flag.size() + 1);
  }
  return "";
}

TrainFlags::TrainFlags(TrainConfig base, bool from_run) : config(std::move(base)), config_from_run(from_run) {}

void TrainFlags::bind(CLI::App& cmd) {
  // Every setting from the registry (train/settings.cpp); run options by hand.
  for (const Setting& s : settings()) {
    if (!s.flag) continue;
    CLI::Option* opt = s.bind(cmd, config);
    if (s.hidden)
      opt->group("");
    else if (!s.group.empty())
      opt->group(s.group);
    if (s.name == "streams") streams_option = opt;
    if (s.name == "run") {  // the run options follow --run in --help
      cmd.add_flag("--resume", run.resume, "continue the run in --run from its checkpoint");
      cmd.add_flag("--overwrite", run.overwrite, "replace an existing run directory");
      cmd.add_flag("--override", run.override_config,
                   "with --resume: continue even where settings differ from the checkpoint's (listed as a warning)");
      cmd.add_option("--init-from", run.init_from,
                     "start a new run from the weights in this safetensors file (an export, a checkpoint, the "
                     "PyTorch twin's --write-weights); names and shapes must match the model");
    }
  }
}

TrainConfig TrainFlags::resolve() const {
  TrainConfig c = config;
  // n defaults to 1 for the residual and 4 for HC / mHC, unless the base is
  // a resumed run's own config (which already says).
  if ((!streams_option || streams_option->count() == 0) && !config_from_run)
    c.model.site.streams = default_streams(c.model.site.kind);
  return c;
}

TrainConfig parse_train_flags(const std::vector<std::string>& args, RunOptions* run) {
  const std::string preset_name = flag_value(args, "--preset");
  TrainFlags flags(preset(preset_name.empty() ? "cpu-char" : preset_name));
  CLI::App cmd("mhc train");
  flags.bind(cmd);
  std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 takes them last first
  try {
    cmd.parse(reversed);
  } catch (const CLI::ParseError& e) {
    throw std::invalid_argument(e.what());
  }
  TrainConfig c = flags.resolve();
  c.validate();
  if (run) *run = flags.run;
  return c;
}

}  // namespace mhc
