// run_plots.cpp — builds the run-comparison charts from metrics.jsonl and writes them.
#include "train/run_plots.h"

#include <fmt/core.h>

#include <cmath>
#include <filesystem>
#include <stdexcept>

namespace mhc {

namespace {

constexpr double kSmoothing = 0.9;  // the EMA's weight on the previous value

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

std::vector<plot::Chart> run_charts(const std::vector<RunMetrics>& runs) {
  using plot::Marker;
  // Training curves are noisy: each is drawn smoothed (kSmoothing) over its raw points (light), and says so.
  const std::string smoothed = fmt::format("EMA {:g}", kSmoothing);
  plot::Chart loss{"Loss (train: " + smoothed + " smoothed; light: raw)", "step", "cross-entropy", false, {}};
  plot::Chart grad{
      "Gradient norm, unclipped (" + smoothed + " smoothed; light: raw)", "step", "global L2 norm", true, {}};
  plot::Chart amax{"Largest composite Amax gain over sites", "step", "gain (max |row|/|col| sum)", true, {}, {1.0}};
  plot::Chart by_site{
      "Composite Amax gain by site (last evaluation)", "site (0 = first sub-block)", "gain", true, {}, {1.0}};
  plot::Chart diversity{"Stream diversity, mean over sites (0: identical streams)",
                        "step",
                        "sum |x_i - mean|^2 / sum |x_i|^2",
                        false,
                        {},
                        {0.0}};
  for (plot::Chart* c : {&loss, &grad, &amax, &by_site, &diversity}) c->integer_x = true;
  for (size_t k = 0; k < runs.size(); ++k) {
    const RunMetrics& r = runs[k];
    const int style = static_cast<int>(k);  // the run's colour and dash pattern in every chart
    loss.series.push_back({"", r.step, r.loss, style, Marker::none, {}, {}, /*light=*/true});
    loss.series.push_back(
        {r.label + " train (" + smoothed + ")", r.step, smooth(r.loss, kSmoothing), style, Marker::none});
    if (!r.eval_step.empty()) loss.series.push_back({r.label + " val", r.eval_step, r.val_loss, style, Marker::circle});
    grad.series.push_back({"", r.step, r.grad_norm, style, Marker::none, {}, {}, /*light=*/true});
    grad.series.push_back(
        {r.label + " (" + smoothed + ")", r.step, smooth(r.grad_norm, kSmoothing), style, Marker::none});
    if (!r.eval_step.empty())
      diversity.series.push_back({r.label + " diversity", r.eval_step, r.stream_diversity_mean, style, Marker::circle});
    if (!r.eval_step.empty()) {
      amax.series.push_back({r.label + " backward", r.eval_step, r.amax_backward_max, style, Marker::triangle});
      amax.series.push_back({r.label + " forward", r.eval_step, r.amax_forward_max, style, Marker::circle});
    }
    std::vector<double> sites;
    for (size_t i = 0; i < r.last_site_backward.size(); ++i) sites.push_back(static_cast<double>(i));
    if (!sites.empty()) {
      by_site.series.push_back({r.label + " backward", sites, r.last_site_backward, style, Marker::triangle});
      by_site.series.push_back({r.label + " forward", sites, r.last_site_forward, style, Marker::circle});
    }
  }
  return {loss, grad, amax, by_site, diversity};
}

namespace {
// The files of the five charts, in run_charts' order; summary.png follows.
const std::vector<std::string> kChartFiles = {"loss.png", "grad_norm.png", "amax_gain.png", "amax_by_site.png",
                                              "stream_diversity.png"};
}  // namespace

std::vector<std::string> write_run_plots(const std::vector<std::string>& run_dirs, const std::string& out_dir) {
  if (run_dirs.empty()) throw std::invalid_argument("plot: give at least one run directory");
  std::vector<RunMetrics> runs;
  for (const auto& d : run_dirs) runs.push_back(read_run_metrics(d));
  std::filesystem::create_directories(out_dir);
  const std::vector<plot::Chart> charts = run_charts(runs);
  const std::vector<std::string>& names = kChartFiles;
  std::vector<std::string> written;
  auto out = [&](const std::string& name) { return (std::filesystem::path(out_dir) / name).string(); };
  for (size_t i = 0; i < charts.size(); ++i) {
    plot::write_png(charts[i], out(names[i]));
    written.push_back(out(names[i]));
  }
  plot::write_grid_png(charts, 2, out("summary.png"));
  written.push_back(out("summary.png"));
  return written;
}

const std::vector<std::string>& run_plot_files() {
  static const std::vector<std::string> all = [] {
    std::vector<std::string> files = kChartFiles;
    files.push_back("summary.png");
    return files;
  }();
  return all;
}

bool run_plots_missing(const std::string& out_dir) {
  for (const auto& name : run_plot_files())
    if (!std::filesystem::exists(std::filesystem::path(out_dir) / name)) return true;
  return false;
}

}  // namespace mhc
