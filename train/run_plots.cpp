// run_plots.cpp
#include "train/run_plots.h"

#include <cmath>
#include <filesystem>
#include <stdexcept>

#include "train/metrics.h"
#include "train/plot.h"

namespace mhc {

namespace {

// An exponential moving average that ignores NaN (so a smoothed training
// curve is readable next to the noisy one).
std::vector<double> smooth(const std::vector<double>& y, double keep) {
  std::vector<double> out(y.size(), NAN);
  double acc = NAN;
  for (size_t i = 0; i < y.size(); ++i) {
    if (std::isfinite(y[i])) acc = std::isfinite(acc) ? keep * acc + (1 - keep) * y[i] : y[i];
    out[i] = acc;
  }
  return out;
}

}  // namespace

std::vector<std::string> write_run_plots(const std::vector<std::string>& run_dirs, const std::string& out_dir) {
  if (run_dirs.empty()) throw std::invalid_argument("plot: give at least one run directory");
  std::vector<RunMetrics> runs;
  for (const auto& d : run_dirs) runs.push_back(read_run_metrics(d));
  std::filesystem::create_directories(out_dir);

  plot::Chart loss{"Loss", "step", "cross-entropy", false, {}};
  plot::Chart grad{"Gradient norm (before clipping)", "step", "global L2 norm", true, {}};
  plot::Chart amax{"Largest composite Amax gain over sites", "step", "gain (max |row|/|col| sum)", true, {}};
  plot::Chart by_site{"Composite Amax gain by site (last evaluation)", "site (0 = first sub-block)", "gain", true, {}};
  for (const RunMetrics& r : runs) {
    loss.series.push_back({r.label + " train", r.step, smooth(r.loss, 0.9)});
    if (!r.eval_step.empty()) loss.series.push_back({r.label + " val", r.eval_step, r.val_loss});
    grad.series.push_back({r.label, r.step, smooth(r.grad_norm, 0.9)});
    if (!r.eval_step.empty()) {
      amax.series.push_back({r.label + " backward", r.eval_step, r.amax_backward_max});
      amax.series.push_back({r.label + " forward", r.eval_step, r.amax_forward_max});
    }
    std::vector<double> sites;
    for (size_t i = 0; i < r.last_site_backward.size(); ++i) sites.push_back(static_cast<double>(i));
    if (!sites.empty()) {
      by_site.series.push_back({r.label + " backward", sites, r.last_site_backward});
      by_site.series.push_back({r.label + " forward", sites, r.last_site_forward});
    }
  }
  std::vector<std::string> written;
  auto out = [&](const char* name) { return (std::filesystem::path(out_dir) / name).string(); };
  plot::write_png(loss, out("loss.png"));
  plot::write_png(grad, out("grad_norm.png"));
  plot::write_png(amax, out("amax_gain.png"));
  plot::write_png(by_site, out("amax_by_site.png"));
  plot::write_grid_png({loss, grad, amax, by_site}, 2, out("summary.png"));
  for (const char* n : {"loss.png", "grad_norm.png", "amax_gain.png", "amax_by_site.png", "summary.png"})
    written.push_back(out(n));
  return written;
}

}  // namespace mhc
