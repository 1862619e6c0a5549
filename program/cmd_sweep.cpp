// cmd_sweep.cpp — `mhc sweep`: a grid of training runs from a spec
// (studies/sweep.h); running it again continues where it stopped.
#include "program/subcommand.h"
#include "studies/sweep.h"

namespace mhc {

namespace {

class SweepCommand : public Subcommand {
 public:
  explicit SweepCommand(CLI::App& parent) {
    CLI::App* a = app_ = parent.add_subcommand("sweep",
                                               "run a grid of training runs from a spec (experiments/*.json); "
                                               "re-running it continues where it stopped");
    a->add_option("spec", spec_, "the spec file (JSON: base flags and axes)")->required();
    a->add_option("--dir", opt_.dir, "sweeps live in DIR/<spec name>/")->capture_default_str();
    a->add_flag("--dry-run", opt_.dry_run, "print the grid and an estimated time, run nothing");
    a->add_flag("--overwrite", opt_.overwrite, "delete a sweep folder made from a different spec and start again");
  }
  int run(const CommandContext&) override {
    const SweepSummary s = run_sweep(parse_sweep_spec(spec_), opt_);
    return s.stopped ? 130 : 0;
  }

 private:
  std::string spec_;
  SweepOptions opt_;
};

}  // namespace

std::unique_ptr<Subcommand> add_sweep(CLI::App& app) { return std::make_unique<SweepCommand>(app); }

}  // namespace mhc
