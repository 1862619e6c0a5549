// report_stats.cpp — statistics over seeds, the spike rule, run summaries,
// the (group, variant) rows and curves with bands over seeds.
#include "studies/report_stats.h"

#include <algorithm>
#include <cmath>
#include <map>

namespace mhc::report {

namespace {

std::vector<double> finite(const std::vector<double>& v) {
  std::vector<double> out;
  for (double x : v)
    if (std::isfinite(x)) out.push_back(x);
  return out;
}

}  // namespace

double mean(const std::vector<double>& v) {
  const std::vector<double> f = finite(v);
  if (f.empty()) return NAN;
  // A running mean, m += x / k - m / k: finite for any finite values, where
  // a plain sum (or x - m) of two values near ±1e308 overflows.
  double m = 0;
  for (size_t k = 0; k < f.size(); ++k) {
    const double n = static_cast<double>(k + 1);
    m += f[k] / n - m / n;
  }
  return m;
}

double sample_std(const std::vector<double>& v) {
  const std::vector<double> f = finite(v);
  if (f.size() < 2) return NAN;
  const double m = mean(f);
  // Deviations are scaled by the largest before squaring, so that values near
  // 1e308 give a finite answer rather than an overflow.
  double scale = 0;
  for (double x : f) scale = std::max(scale, std::fabs(x / 2 - m / 2));
  if (scale == 0) return 0;
  double s = 0;
  for (double x : f) {
    const double d = (x / 2 - m / 2) / scale;
    s += d * d;
  }
  return 2 * scale * std::sqrt(s / static_cast<double>(f.size() - 1));
}

double median(std::vector<double> v) {
  v = finite(v);
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

MeanStd mean_std(const std::vector<double>& v) { return {mean(v), sample_std(v), finite(v).size()}; }

double student_t_975(size_t dof) {
  // Two-sided 95 % quantiles of Student's t for 1..30 degrees of freedom.
  static constexpr double kTable[30] = {12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
                                        2.201,  2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
                                        2.080,  2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042};
  if (dof == 0) return NAN;
  if (dof <= 30) return kTable[dof - 1];
  return 1.96 + 2.5 / static_cast<double>(dof);  // within 0.002 of the exact value beyond 30
}

Interval confidence_95(const MeanStd& v) {
  if (v.n < 2 || !std::isfinite(v.std)) return {};
  const double half = student_t_975(v.n - 1) * v.std / std::sqrt(static_cast<double>(v.n));
  return {v.mean - half, v.mean + half};
}

std::vector<size_t> loss_spikes(const std::vector<double>& loss, const SpikeRule& rule) {
  std::vector<double> values;
  std::vector<size_t> where;
  for (size_t i = 0; i < loss.size(); ++i) {
    if (std::isfinite(loss[i])) values.push_back(loss[i]), where.push_back(i);
  }
  std::vector<size_t> spikes;
  bool in_spike = false;
  std::vector<double> window;
  for (size_t t = std::max<size_t>(rule.min_history, 1); t < values.size(); ++t) {
    const size_t from = t > rule.window ? t - rule.window : 0;
    window.assign(values.begin() + static_cast<std::ptrdiff_t>(from), values.begin() + static_cast<std::ptrdiff_t>(t));
    const double threshold = median(window) * (1.0 + rule.rise);
    const bool spike = values[t] > threshold;
    if (spike && !in_spike) spikes.push_back(where[t]);
    in_spike = spike;
  }
  return spikes;
}

double median_ms_per_step(const std::vector<double>& ms, size_t skip) {
  if (ms.size() <= skip) return median(ms);
  return median(std::vector<double>(ms.begin() + static_cast<std::ptrdiff_t>(skip), ms.end()));
}

RunSummary summarise_run(const RunMetrics& m, const SpikeRule& rule) {
  RunSummary s;
  s.evals = m.eval_step.size();
  s.train_lines = m.step.size();
  s.best_val = min_finite(m.val_loss);
  for (size_t i = m.val_loss.size(); i-- > 0;) {  // the last evaluation (its loss may be NaN: diverged)
    s.final_val = std::isfinite(m.val_loss[i]) ? m.val_loss[i] : NAN;
    s.final_step = m.eval_step[i];
    if (i < m.val_bpb.size() && std::isfinite(s.final_val)) s.final_bpb = m.val_bpb[i];
    if (i < m.hellaswag_acc.size() && std::isfinite(s.final_val)) s.final_hellaswag = m.hellaswag_acc[i];
    break;
  }
  s.max_forward = max_finite(m.amax_forward_max);
  s.max_backward = max_finite(m.amax_backward_max);
  s.min_row_sum = min_finite(m.composite_min_row_sum_min);
  s.min_col_sum = min_finite(m.composite_min_col_sum_min);
  s.max_grad_norm = max_finite(m.grad_norm);
  for (size_t i = m.stream_diversity_mean.size(); i-- > 0;)
    if (std::isfinite(m.stream_diversity_mean[i])) {
      s.final_diversity = m.stream_diversity_mean[i];
      break;
    }
  for (size_t k : loss_spikes(m.loss, rule)) s.spike_steps.push_back(m.step[k]);
  s.ms_per_step = median_ms_per_step(m.ms_per_step);
  const double peak = max_finite(m.peak_bytes);
  s.peak_mib = peak / (1024.0 * 1024.0);
  for (const std::vector<double>& h : m.last_mean_h_res) {
    const double n = std::round(std::sqrt(static_cast<double>(h.size())));
    if (h.empty() || n * n != static_cast<double>(h.size())) continue;
    for (const double v : h) {
      const double d = std::fabs(v - 1.0 / n) * n;
      s.h_res_from_uniform = std::isnan(s.h_res_from_uniform) ? d : std::max(s.h_res_from_uniform, d);
    }
  }
  return s;
}

bool metrics_damaged(const RunResult& r) {
  if (r.has_metrics) return r.metrics.damaged_lines > 0 || r.metrics.truncated_tail;
  return !r.metrics_problem.empty() || ended(r);  // unreadable, or an ended run without a metrics file
}

bool ended(const RunResult& r) { return r.status == RunStatus::finished || r.status == RunStatus::diverged; }

namespace {

// The confounds of each row (VariantRow's last fields), from outcome.json and the summaries.
void add_confounds(const SweepResults& sweep, SweepTable& t) {
  for (VariantRow& row : t.rows) {
    std::vector<double> params, flops, tokens, wall;
    for (size_t i = 0; i < sweep.runs.size(); ++i) {
      const RunResult& r = sweep.runs[i];
      if (r.point.group != row.group || r.point.variant != row.variant || !ended(r)) continue;
      params.push_back(r.parameters), flops.push_back(r.flops_per_token);
      tokens.push_back(r.tokens), wall.push_back(r.wall_s);
      const double d = t.summaries[i].h_res_from_uniform;
      if (r.point.residual != "mhc" || std::isnan(d)) continue;
      ++row.h_res_runs;
      if (d <= kHresNearInitial) ++row.h_res_near_initial;
    }
    row.parameters = max_finite(params), row.flops_per_token = max_finite(flops);
    row.tokens = mean(tokens), row.wall_s = mean(wall);
  }
}

// "a=1 b=2" without the entry of `axis`, and that entry's value ("" when absent).
std::pair<std::string, std::string> split_setting(const std::string& settings, const std::string& axis) {
  std::string others, value;
  size_t at = 0;
  while (at < settings.size()) {
    size_t end = settings.find(' ', at);
    if (end == std::string::npos) end = settings.size();
    const std::string item = settings.substr(at, end - at);
    if (item.rfind(axis + "=", 0) == 0)
      value = item.substr(axis.size() + 1);
    else if (!item.empty())
      others += (others.empty() ? "" : " ") + item;
    at = end + 1;
  }
  return {others, value};
}

}  // namespace

std::vector<AxisBest> best_of_axes(const SweepResults& sweep, const SweepTable& table) {
  std::vector<AxisBest> out;
  std::map<std::string, std::string> settings;  // group → its axis settings, "model.blocks=4 optim.lr=0.003"
  for (const RunResult& r : sweep.runs) settings.emplace(r.point.group, r.point.settings);
  for (const auto& [axis, values] : sweep.axes) {
    if (axis == "residual" || axis == "streams" || axis == "seed" || values.size() < 2) continue;
    std::map<std::pair<std::string, std::string>, AxisBest> best;  // (others, variant)
    std::vector<std::pair<std::string, std::string>> order;
    for (const VariantRow& row : table.rows) {
      const auto [others, value] = split_setting(settings[row.group], axis);
      if (value.empty() || row.final_val.n == 0 || !std::isfinite(row.final_val.mean)) continue;
      const std::pair<std::string, std::string> key{others, row.variant};
      auto [it, fresh] = best.try_emplace(key, AxisBest{axis, others, row.variant, value, row.final_val, 0});
      if (fresh) order.push_back(key);
      ++it->second.values;
      if (row.final_val.mean < it->second.final_val.mean)
        it->second.value = value, it->second.final_val = row.final_val;
    }
    for (const auto& key : order) out.push_back(best.at(key));
  }
  return out;
}

namespace {

bool is_baseline(const RunResult& r) { return r.point.residual == "residual"; }
// (group, seed) → the index of that seed's finished baseline run.
using BaselineIndex = std::map<std::pair<std::string, std::string>, size_t>;

// One row of the table: the runs of one variant in one group, over seeds.
// grid_runs stays 0 when the variant is not in the group.
VariantRow variant_row(const SweepResults& sweep, const SweepTable& t, const std::string& group,
                       const std::string& variant, const BaselineIndex& baseline, bool group_has_baseline) {
  VariantRow row;
  row.group = group, row.variant = variant;
  std::vector<double> best, fin, bpb, hellaswag, d_best, d_fin, fwd, bwd, rows_min, cols_min, grad, diversity, spikes,
      ms, peak;
  for (size_t i = 0; i < sweep.runs.size(); ++i) {
    const RunResult& r = sweep.runs[i];
    if (r.point.group != group || r.point.variant != variant) continue;
    const RunSummary& s = t.summaries[i];
    row.residual = r.point.residual;
    ++row.grid_runs;
    if (metrics_damaged(r)) row.damaged.push_back(r.point.id);
    if (!ended(r)) {
      row.incomplete.push_back(r.point.id);
      continue;
    }
    ++row.ended;
    if (r.status == RunStatus::diverged) {
      ++row.diverged;
      row.diverged_steps.push_back(r.outcome_step);
    }
    fwd.push_back(s.max_forward), bwd.push_back(s.max_backward);
    rows_min.push_back(s.min_row_sum), cols_min.push_back(s.min_col_sum);
    grad.push_back(s.max_grad_norm);
    diversity.push_back(s.final_diversity);
    if (r.has_metrics) {
      spikes.push_back(static_cast<double>(s.spike_steps.size()));
      row.spikes_total += s.spike_steps.size();
    }
    ms.push_back(s.ms_per_step), peak.push_back(s.peak_mib);
    if (r.status != RunStatus::finished) continue;
    best.push_back(s.best_val), fin.push_back(s.final_val), bpb.push_back(s.final_bpb);
    hellaswag.push_back(s.final_hellaswag);
    if (is_baseline(r)) continue;
    const auto b = baseline.find({group, r.point.seed});
    if (b == baseline.end()) continue;
    d_best.push_back(s.best_val - t.summaries[b->second].best_val);
    d_fin.push_back(s.final_val - t.summaries[b->second].final_val);
  }
  row.best_val = mean_std(best), row.final_val = mean_std(fin), row.final_bpb = mean_std(bpb);
  row.final_hellaswag = mean_std(hellaswag);
  row.paired = group_has_baseline && row.residual != "residual";
  row.delta_best = mean_std(d_best), row.delta_final = mean_std(d_fin);
  row.max_forward = max_finite(fwd), row.max_backward = max_finite(bwd);
  row.min_row_sum = min_finite(rows_min), row.min_col_sum = min_finite(cols_min);
  row.max_grad_norm = max_finite(grad);
  row.stream_diversity = mean(diversity);
  row.spikes_per_run = mean(spikes);
  row.ms_per_step = mean(ms);
  row.peak_mib = max_finite(peak);
  return row;
}

// Time per step relative to the group's residual runs (rows [first, end)).
void add_time_ratios(std::vector<VariantRow>& rows, size_t first) {
  double base_ms = NAN;
  for (size_t k = first; k < rows.size(); ++k)
    if (rows[k].residual == "residual") base_ms = rows[k].ms_per_step;
  for (size_t k = first; k < rows.size(); ++k)
    if (std::isfinite(base_ms) && base_ms > 0) rows[k].ms_ratio = rows[k].ms_per_step / base_ms;
}

}  // namespace

SweepTable make_table(const SweepResults& sweep, const SpikeRule& rule) {
  SweepTable t;
  t.spike_rule = rule;
  for (const RunResult& r : sweep.runs) {
    if (std::find(t.groups.begin(), t.groups.end(), r.point.group) == t.groups.end()) t.groups.push_back(r.point.group);
    if (std::find(t.variants.begin(), t.variants.end(), r.point.variant) == t.variants.end())
      t.variants.push_back(r.point.variant);
    t.summaries.push_back(summarise_run(r.metrics, rule));
  }
  BaselineIndex baseline;  // the finished baseline of each (group, seed)
  std::map<std::string, bool> group_has_baseline;
  for (size_t i = 0; i < sweep.runs.size(); ++i) {
    const RunResult& r = sweep.runs[i];
    if (!is_baseline(r)) continue;
    group_has_baseline[r.point.group] = true;
    if (r.status == RunStatus::finished) baseline.emplace(std::make_pair(r.point.group, r.point.seed), i);
  }
  for (const std::string& group : t.groups) {
    const size_t first_row = t.rows.size();
    for (const std::string& variant : t.variants) {
      VariantRow row = variant_row(sweep, t, group, variant, baseline, group_has_baseline[group]);
      if (row.grid_runs > 0) t.rows.push_back(std::move(row));
    }
    add_time_ratios(t.rows, first_row);
  }
  add_confounds(sweep, t);
  return t;
}

BandSeries band_over(const std::vector<Curve>& curves) {
  std::map<double, std::vector<double>> at;
  for (const Curve& c : curves) {
    for (size_t i = 0; i < c.x.size() && i < c.y.size(); ++i) {
      if (!std::isfinite(c.x[i])) continue;
      std::vector<double>& v = at[c.x[i]];
      if (std::isfinite(c.y[i])) v.push_back(c.y[i]);
    }
  }
  BandSeries b;
  for (const auto& [x, v] : at) {
    b.x.push_back(x);
    b.n.push_back(v.size());
    b.mean.push_back(mean(v));
    b.lo.push_back(min_finite(v));
    b.hi.push_back(max_finite(v));
  }
  return b;
}

Curve paired_difference(const Curve& a, const Curve& b) {
  std::map<double, double> base;
  for (size_t i = 0; i < b.x.size() && i < b.y.size(); ++i)
    if (std::isfinite(b.y[i])) base[b.x[i]] = b.y[i];
  Curve d;
  for (size_t i = 0; i < a.x.size() && i < a.y.size(); ++i) {
    const auto it = base.find(a.x[i]);
    if (it == base.end() || !std::isfinite(a.y[i])) continue;
    d.x.push_back(a.x[i]);
    d.y.push_back(a.y[i] - it->second);
  }
  return d;
}

}  // namespace mhc::report
