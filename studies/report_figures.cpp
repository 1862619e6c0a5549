// report_figures.cpp — builds the report's charts and heat maps from the
// runs' metrics and writes them.
#include "studies/report_figures.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <set>
#include <sstream>

#include "charts/heatmap.h"

namespace mhc::report {

namespace {

namespace fs = std::filesystem;
using plot::Marker;

constexpr std::array<Marker, 4> kVariantMarkers = {Marker::circle, Marker::square, Marker::triangle, Marker::diamond};

int variant_style(const SweepTable& t, const std::string& variant) {
  return static_cast<int>(std::find(t.variants.begin(), t.variants.end(), variant) - t.variants.begin());
}

Marker variant_marker(const SweepTable& t, const std::string& variant) {
  return kVariantMarkers[static_cast<size_t>(variant_style(t, variant)) % kVariantMarkers.size()];
}

bool is_baseline(const std::string& kind) { return kind == "residual"; }

// Title suffix naming a group ("" for the group "").
std::string in_group(const std::string& group) { return group.empty() ? "" : ", " + group; }
std::string line_label(const std::string& variant, const std::string& group) {
  return group.empty() ? variant : variant + " " + group;
}

// The runs of (group, variant) that pass `keep`, in sweep order.
template <class Keep>
std::vector<const RunResult*> runs_of(const SweepResults& s, const std::string& group, const std::string& variant,
                                      Keep keep) {
  std::vector<const RunResult*> out;
  for (const RunResult& r : s.runs)
    if (r.point.group == group && r.point.variant == variant && r.has_metrics && keep(r)) out.push_back(&r);
  return out;
}
bool finished(const RunResult& r) { return r.status == RunStatus::finished; }

plot::Series band_series(const std::string& label, const BandSeries& b, int style, Marker marker) {
  plot::Series s{label, b.x, b.mean, style, marker};
  s.band_lo = b.lo, s.band_hi = b.hi;
  return s;
}

bool has_points(const plot::Chart& c) {
  for (const plot::Series& s : c.series)
    for (double y : s.y)
      if (std::isfinite(y)) return true;
  return false;
}

double largest_step(const SweepResults& s, const std::string& group) {
  double m = 0;
  for (const RunResult& r : s.runs)
    if (r.point.group == group)
      for (double x : r.metrics.eval_step) m = std::max(m, x);
  return m;
}

plot::Chart delta_chart(const SweepResults& sweep, const SweepTable& table, const std::string& group) {
  plot::Chart c{"Validation loss minus residual's (same seed)" + in_group(group) + ": mean, band min..max",
                "step",
                "difference in validation loss",
                false,
                {},
                {0.0}};
  c.integer_x = true;
  c.y_fit_x_min = kLossFitSkip * largest_step(sweep, group);
  std::vector<const RunResult*> base;
  for (const RunResult& r : sweep.runs)
    if (r.point.group == group && is_baseline(r.point.residual) && finished(r) && r.has_metrics) base.push_back(&r);
  if (base.empty()) return c;
  for (const std::string& variant : table.variants) {
    std::vector<Curve> diffs;
    for (const RunResult* r : runs_of(sweep, group, variant, finished)) {
      if (is_baseline(r->point.residual)) break;
      for (const RunResult* b : base) {
        if (b->point.seed != r->point.seed) continue;
        diffs.push_back(paired_difference({r->metrics.eval_step, r->metrics.val_loss},
                                          {b->metrics.eval_step, b->metrics.val_loss}));
      }
    }
    if (diffs.empty()) continue;
    c.series.push_back(band_series(fmt::format("{} ({} seed{})", variant, diffs.size(), diffs.size() == 1 ? "" : "s"),
                                   band_over(diffs), variant_style(table, variant), Marker::circle));
  }
  return c;
}

// The (group, variant) pairs with HC or mHC runs that ended, for the gain charts.
struct Line {
  std::string group, variant;
  std::vector<const RunResult*> runs;
  int style = 0;  // the variant's style when the sweep has one group (colours as in the loss charts), else its own
};
std::vector<Line> gain_lines(const SweepResults& sweep, const SweepTable& table) {
  std::vector<Line> lines;
  for (const std::string& group : table.groups) {
    for (const std::string& variant : table.variants) {
      std::vector<const RunResult*> runs = runs_of(sweep, group, variant, ended);
      if (runs.empty() || is_baseline(runs[0]->point.residual)) continue;
      const int style = table.groups.size() == 1 ? variant_style(table, variant) : static_cast<int>(lines.size());
      lines.push_back({group, variant, std::move(runs), style});
    }
  }
  return lines;
}

std::vector<double> indices(size_t n) {
  std::vector<double> x(n);
  for (size_t i = 0; i < n; ++i) x[i] = static_cast<double>(i);
  return x;
}

std::vector<plot::Chart> gain_by_site_charts(const SweepResults& sweep, const SweepTable& table) {
  struct Panel {
    const char* title;
    std::vector<double> RunMetrics::*field;
  };
  const std::array<Panel, 4> panels = {{
      {"Composite forward gain by site, final eval", &RunMetrics::last_site_forward},
      {"Composite backward gain by site, final eval", &RunMetrics::last_site_backward},
      {"Composite forward gain by site, max over training", &RunMetrics::site_forward_max},
      {"Composite backward gain by site, max over training", &RunMetrics::site_backward_max},
  }};
  std::vector<plot::Chart> charts;
  const std::vector<Line> lines = gain_lines(sweep, table);
  for (const Panel& p : panels) {
    plot::Chart c{p.title, "site (0 = first sub-block)", "gain, mean over seeds (band: min..max)", true, {}, {1.0}};
    c.integer_x = true;
    for (size_t k = 0; k < lines.size(); ++k) {
      std::vector<Curve> curves;
      for (const RunResult* r : lines[k].runs) {
        const std::vector<double>& y = r->metrics.*p.field;
        if (!y.empty()) curves.push_back({indices(y.size()), y});
      }
      if (curves.empty()) continue;
      c.series.push_back(band_series(line_label(lines[k].variant, lines[k].group), band_over(curves), lines[k].style,
                                     variant_marker(table, lines[k].variant)));
    }
    charts.push_back(std::move(c));
  }
  return charts;
}

std::vector<plot::Chart> gain_over_steps_charts(const SweepResults& sweep, const SweepTable& table) {
  std::vector<plot::Chart> charts;
  const std::vector<Line> lines = gain_lines(sweep, table);
  for (const bool forward : {true, false}) {
    plot::Chart c{fmt::format("Largest composite {} gain over sites", forward ? "forward" : "backward"),
                  "step",
                  "gain, mean over seeds (band: min..max)",
                  true,
                  {},
                  {1.0}};
    c.integer_x = true;
    for (size_t k = 0; k < lines.size(); ++k) {
      std::vector<Curve> curves;
      for (const RunResult* r : lines[k].runs)
        curves.push_back({r->metrics.eval_step, forward ? r->metrics.amax_forward_max : r->metrics.amax_backward_max});
      c.series.push_back(band_series(line_label(lines[k].variant, lines[k].group), band_over(curves), lines[k].style,
                                     variant_marker(table, lines[k].variant)));
    }
    charts.push_back(std::move(c));
  }
  return charts;
}

// Stream diversity (mean over sites) over training: one line per variant,
// mean over seeds with a min..max band. Shows whether HC's and mHC's streams
// stay distinct or collapse onto their mean (0).
plot::Chart diversity_chart(const SweepResults& sweep, const SweepTable& table) {
  plot::Chart c{"Stream diversity over training, mean over sites",
                "step",
                "diversity, mean over seeds (band: min..max)",
                false,
                {},
                {0.0}};
  c.integer_x = true;
  for (const Line& line : gain_lines(sweep, table)) {
    std::vector<Curve> curves;
    for (const RunResult* r : line.runs) curves.push_back({r->metrics.eval_step, r->metrics.stream_diversity_mean});
    c.series.push_back(band_series(line_label(line.variant, line.group), band_over(curves), line.style,
                                   variant_marker(table, line.variant)));
  }
  return c;
}

// The largest composite gain (max over sites and evaluations) against the
// number of residual sites, for sweeps whose runs differ in depth: one line
// per variant and per setting of the other axes (model.blocks left out),
// mean over seeds with a min..max band. Empty when every run has one depth.
std::vector<plot::Chart> gain_by_depth_charts(const SweepResults& sweep, const SweepTable& table) {
  std::set<size_t> depths;
  for (const RunResult& r : sweep.runs)
    if (ended(r) && !r.metrics.last_site_forward.empty()) depths.insert(r.metrics.last_site_forward.size());
  if (depths.size() < 2) return {};
  // The series: variant, then the settings without the depth ("optim.grad_clip=0").
  const auto other_settings = [](const std::string& settings) {
    std::istringstream in(settings);
    std::string out;
    for (std::string item; in >> item;)
      if (item.rfind("model.blocks=", 0) != 0) out += (out.empty() ? "" : " ") + item;
    return out;
  };
  std::vector<std::pair<std::string, std::string>> keys;  // (variant, other settings), in order of appearance
  for (const RunResult& r : sweep.runs) {
    if (is_baseline(r.point.residual)) continue;
    const std::pair<std::string, std::string> key{r.point.variant, other_settings(r.point.settings)};
    if (std::find(keys.begin(), keys.end(), key) == keys.end()) keys.push_back(key);
  }
  std::vector<plot::Chart> charts;
  for (const bool forward : {true, false}) {
    plot::Chart c{fmt::format("Largest composite {} gain against depth", forward ? "forward" : "backward"),
                  "residual sites (2 per block)",
                  "gain, mean over seeds (band: min..max)",
                  true,
                  {},
                  {1.0}};
    c.integer_x = true;
    for (size_t k = 0; k < keys.size(); ++k) {
      std::vector<Curve> points;  // one point per run
      for (size_t i = 0; i < sweep.runs.size(); ++i) {
        const RunResult& r = sweep.runs[i];
        if (!ended(r) || r.point.variant != keys[k].first || other_settings(r.point.settings) != keys[k].second ||
            r.metrics.last_site_forward.empty())
          continue;
        const RunSummary& sum = table.summaries[i];
        points.push_back({{static_cast<double>(r.metrics.last_site_forward.size())},
                          {forward ? sum.max_forward : sum.max_backward}});
      }
      if (points.empty()) continue;
      const std::string label = keys[k].second.empty() ? keys[k].first : keys[k].first + " " + keys[k].second;
      c.series.push_back(
          band_series(label, band_over(points), static_cast<int>(k), variant_marker(table, keys[k].first)));
    }
    charts.push_back(std::move(c));
  }
  return charts;
}

std::vector<std::vector<double>> as_rows(const std::vector<double>& flat) {
  const size_t n = static_cast<size_t>(std::lround(std::sqrt(static_cast<double>(flat.size()))));
  std::vector<std::vector<double>> rows(n);
  for (size_t i = 0; i < n; ++i) rows[i].assign(flat.begin() + i * n, flat.begin() + (i + 1) * n);
  return rows;
}

// Heat maps of H_res (single and composite) of the first, middle and last
// site for one seed of each HC / mHC variant of the group. Empty when none has them.
plot::HeatmapFigure h_res_figure(const SweepResults& sweep, const SweepTable& table, const std::string& group) {
  plot::HeatmapFigure fig;
  fig.title = "Token-mean H_res at the final evaluation" + in_group(group);
  fig.note =
      "rows: output streams, columns: input streams; mean over the tokens of the first evaluation batch\n"
      "composite P_l = H_res(L-1) ... H_res(l): site l to the output (L sites)";
  for (const std::string& variant : table.variants) {
    const RunResult* pick = nullptr;
    for (const RunResult* r : runs_of(sweep, group, variant, ended)) {
      if (is_baseline(r->point.residual) || r->metrics.last_mean_h_res.empty()) continue;
      pick = r;  // the first in sweep order: the lowest seed as the grid lists seeds
      break;
    }
    if (!pick) continue;
    const RunMetrics& m = pick->metrics;
    const size_t sites = m.last_mean_h_res.size();
    std::vector<size_t> chosen = {0, sites / 2, sites - 1};
    chosen.erase(std::unique(chosen.begin(), chosen.end()), chosen.end());
    const std::string who = fmt::format("{} seed {} (step {})", variant, pick->point.seed, m.last_mean_step);
    plot::HeatmapRow single{who + ": H_res of the site", {}}, composite{who + ": composite P_l", {}};
    for (size_t site : chosen) {
      single.maps.push_back({fmt::format("site {}", site), as_rows(m.last_mean_h_res[site])});
      if (site < m.last_mean_composite.size())
        composite.maps.push_back({fmt::format("site {}", site), as_rows(m.last_mean_composite[site])});
    }
    fig.rows.push_back(std::move(single));
    if (!composite.maps.empty()) fig.rows.push_back(std::move(composite));
  }
  return fig;
}

}  // namespace

std::vector<std::string> group_tags(const std::vector<std::string>& groups) {
  std::vector<std::string> tags;
  std::set<std::string> taken;
  for (const std::string& g : groups) {
    std::string tag;
    for (char c : g) tag += (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-') ? c : '_';
    std::string unique = tag;
    for (int k = 2; taken.count(unique); ++k) unique = fmt::format("{}-{}", tag, k);
    taken.insert(unique);
    tags.push_back(unique);
  }
  return tags;
}

plot::Chart val_loss_chart(const SweepResults& sweep, const SweepTable& table, const std::string& group) {
  plot::Chart c{"Validation loss" + in_group(group) + ": mean over finished seeds, band min..max",
                "step",
                "validation loss",
                false,
                {}};
  c.integer_x = true;
  c.y_fit_x_min = kLossFitSkip * largest_step(sweep, group);
  for (const std::string& variant : table.variants) {
    std::vector<Curve> curves;
    for (const RunResult* r : runs_of(sweep, group, variant, finished))
      curves.push_back({r->metrics.eval_step, r->metrics.val_loss});
    if (!curves.empty())
      c.series.push_back(
          band_series(fmt::format("{} ({} seed{})", variant, curves.size(), curves.size() == 1 ? "" : "s"),
                      band_over(curves), variant_style(table, variant), Marker::circle));
  }
  for (const std::string& variant : table.variants) {
    for (const RunResult* r :
         runs_of(sweep, group, variant, [](const RunResult& x) { return x.status == RunStatus::diverged; }))
      c.series.push_back({fmt::format("{} seed {} (diverged)", variant, r->point.seed), r->metrics.eval_step,
                          r->metrics.val_loss, variant_style(table, variant), Marker::diamond});
  }
  return c;
}

std::vector<Figure> write_report_figures(const SweepResults& sweep, const SweepTable& table,
                                         const std::string& out_dir) {
  std::vector<Figure> figures;
  const auto path = [&](const std::string& name) { return (fs::path(out_dir) / name).string(); };
  const std::vector<std::string> tags = group_tags(table.groups);
  const auto name = [&](const char* stem, size_t g) {
    return tags[g].empty() ? fmt::format("{}.png", stem) : fmt::format("{}-{}.png", stem, tags[g]);
  };
  for (size_t g = 0; g < table.groups.size(); ++g) {
    const std::string& group = table.groups[g];
    const plot::Chart loss = val_loss_chart(sweep, table, group);
    if (has_points(loss)) {
      plot::write_png(loss, path(name("val_loss", g)));
      figures.push_back({name("val_loss", g), "Validation loss" + in_group(group) +
                                                  fmt::format(" (y range fitted to steps >= {:g})", loss.y_fit_x_min)});
    }
    const plot::Chart delta = delta_chart(sweep, table, group);
    if (has_points(delta)) {
      plot::write_png(delta, path(name("val_loss_delta", g)));
      figures.push_back({name("val_loss_delta", g), "Paired difference to residual" + in_group(group)});
    }
  }
  const std::vector<plot::Chart> by_site = gain_by_site_charts(sweep, table);
  if (std::any_of(by_site.begin(), by_site.end(), has_points)) {
    plot::write_grid_png(by_site, 2, path("gain_by_site.png"), 900, 560);
    figures.push_back({"gain_by_site.png", "Composite Amax gain by site (analogue of mHC Fig. 3 and 7)"});
  }
  const std::vector<plot::Chart> by_depth = gain_by_depth_charts(sweep, table);
  if (std::any_of(by_depth.begin(), by_depth.end(), has_points)) {
    plot::write_grid_png(by_depth, 2, path("gain_by_depth.png"), 900, 560);
    figures.push_back({"gain_by_depth.png", "Largest composite Amax gain against depth (how it compounds)"});
  }
  const std::vector<plot::Chart> over_steps = gain_over_steps_charts(sweep, table);
  if (std::any_of(over_steps.begin(), over_steps.end(), has_points)) {
    plot::write_grid_png(over_steps, 2, path("gain_over_steps.png"), 900, 560);
    figures.push_back({"gain_over_steps.png", "Largest composite Amax gain over training"});
  }
  if (const plot::Chart diversity = diversity_chart(sweep, table); has_points(diversity)) {
    plot::write_png(diversity, path("stream_diversity.png"));
    figures.push_back({"stream_diversity.png", "Stream diversity over training (do the streams stay distinct?)"});
  }
  for (size_t g = 0; g < table.groups.size(); ++g) {
    const plot::HeatmapFigure fig = h_res_figure(sweep, table, table.groups[g]);
    if (fig.rows.empty()) continue;
    plot::write_heatmaps_png(fig, path(name("h_res", g)));
    figures.push_back({name("h_res", g), "Token-mean H_res, single and composite" + in_group(table.groups[g]) +
                                             " (analogue of mHC Fig. 8)"});
  }
  return figures;
}

}  // namespace mhc::report
