// cmd_report.cpp — `mhc report`: report.md and the figures of a sweep
// (studies/report.h).
#include <fmt/core.h>

#include "program/subcommand.h"
#include "studies/report.h"

namespace mhc {

namespace {

class ReportCommand : public Subcommand {
 public:
  explicit ReportCommand(CLI::App& parent) {
    app_ = parent.add_subcommand("report",
                                 "report.md and figures of a sweep: seed means, paired differences "
                                 "to the residual, Amax gains, speed");
    app_->add_option("sweep", dir_, "the sweep folder (sweeps/<name>)")->required();
    app_->add_option("--out", out_, "output folder (default: the sweep folder)");
  }
  int run(const CommandContext&) override {
    for (const auto& f : write_sweep_report(dir_, out_)) fmt::print("wrote {}\n", f);
    return 0;
  }

 private:
  std::string dir_, out_;
};

}  // namespace

std::unique_ptr<Subcommand> add_report(CLI::App& app) { return std::make_unique<ReportCommand>(app); }

}  // namespace mhc
