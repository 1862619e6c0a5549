// cmd_plot.cpp — `mhc plot`: PNG charts of one or more runs, overlaid
// (train/run_plots.h).
#include <fmt/core.h>

#include "program/subcommand.h"
#include "train/run_plots.h"

namespace mhc {

namespace {

class PlotCommand : public Subcommand {
 public:
  explicit PlotCommand(CLI::App& parent) {
    app_ = parent.add_subcommand("plot", "PNG charts of one or more runs, overlaid");
    app_->add_option("runs", runs_, "run directories")->required();
    app_->add_option("--out", out_, "output folder")->capture_default_str();
  }
  int run(const CommandContext&) override {
    for (const auto& f : write_run_plots(runs_, out_)) fmt::print("wrote {}\n", f);
    return 0;
  }

 private:
  std::vector<std::string> runs_;
  std::string out_ = "plots";
};

}  // namespace

std::unique_ptr<Subcommand> add_plot(CLI::App& app) { return std::make_unique<PlotCommand>(app); }

}  // namespace mhc
