// report.cpp — report.md: the per-group tables, the rules, the notes on runs
// that diverged, did not end or have damaged metrics, the figures; and
// write_sweep_report, which ties reading, statistics and rendering together.
#include "studies/report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>

#include "fileio/file_io.h"

namespace mhc {

namespace report {

namespace {

constexpr const char* kNone = "—";
constexpr const char* kIncompleteMark = "†";
constexpr const char* kDamagedMark = "‡";

using plot::tidy_exponent;

// 4 decimals; 3 significant digits beyond a million, where 4 decimals would
// print every digit of a value such as 1e308. `plus`: a + before positive values.
std::string decimal4(double v, bool plus = false) {
  if (std::fabs(v) >= 1e6) return (plus && v >= 0 ? "+" : "") + format_sig3(v);
  return plus ? fmt::format("{:+.4f}", v) : fmt::format("{:.4f}", v);
}
std::string fixed4(double v) { return std::isfinite(v) ? decimal4(v) : kNone; }
// A row / column sum: 4 decimals near 1, 3 significant digits once it has blown up (-1.61e8).
std::string format_sum(double v) { return std::isfinite(v) && std::fabs(v) >= 1000 ? format_sig3(v) : fixed4(v); }

// Characters as a reader counts them (UTF-8 code points), for aligning columns.
size_t display_width(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

// A '|' inside a cell would end it.
std::string escape_bars(const std::string& s) {
  std::string out;
  for (char c : s) out += c == '|' ? std::string("\\|") : std::string(1, c);
  return out;
}

// A Markdown table with its columns padded to a common width.
std::string table_text(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width(header.size(), 3);
  for (size_t c = 0; c < header.size(); ++c) width[c] = std::max(width[c], display_width(header[c]));
  for (const auto& r : rows)
    for (size_t c = 0; c < r.size() && c < width.size(); ++c)
      width[c] = std::max(width[c], display_width(escape_bars(r[c])));
  const auto line = [&](const std::vector<std::string>& cells) {
    std::string out = "|";
    for (size_t c = 0; c < header.size(); ++c) {
      const std::string cell = c < cells.size() ? escape_bars(cells[c]) : "";
      out += " " + cell + std::string(width[c] - display_width(cell), ' ') + " |";
    }
    return out + "\n";
  };
  std::string out = line(header) + "|";
  for (size_t c = 0; c < header.size(); ++c) out += std::string(width[c] + 2, '-') + "|";
  out += "\n";
  for (const auto& r : rows) out += line(r);
  return out;
}

std::string join(const std::vector<std::string>& items, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) out += (i ? sep : "") + items[i];
  return out;
}

std::string diverged_cell(const VariantRow& row) {
  if (row.ended == 0) return kNone;
  std::string out = fmt::format("{} of {}", row.diverged, row.ended);
  if (row.diverged == 0) return out;
  std::vector<std::string> steps;
  for (int64_t s : row.diverged_steps) steps.push_back(s >= 0 ? fmt::format("{}", s) : "?");
  return out + fmt::format(" (step{} {})", steps.size() == 1 ? "" : "s", join(steps, ", "));
}

std::string spikes_cell(const VariantRow& row) {
  if (!std::isfinite(row.spikes_per_run)) return kNone;
  return fmt::format("{:.2f} ({})", row.spikes_per_run, row.spikes_total);
}

std::string ratio_cell(double r) { return std::isfinite(r) ? fmt::format("{:.2f}×", r) : kNone; }
std::string mib_cell(double m) { return std::isfinite(m) ? fmt::format("{:.1f}", m) : kNone; }

// What a run that needs a note has: its steps logged and its last evaluation.
std::string what_it_has(const RunResult& r, const RunSummary& s) {
  if (!r.has_metrics) return "no metrics";
  std::string out = fmt::format("{} training step{} logged", s.train_lines, s.train_lines == 1 ? "" : "s");
  if (r.point.steps > 0) out += fmt::format(" of {}", r.point.steps);
  if (std::isfinite(s.final_step))
    out += fmt::format(", last evaluation at step {:g}: val loss {}", s.final_step, fixed4(s.final_val));
  if (std::isfinite(s.max_forward))
    out += fmt::format(", max composite gain {} / {} (fwd / bwd)", format_gain(s.max_forward),
                       format_gain(s.max_backward));
  return out;
}

std::string damage_text(const RunResult& r) {
  if (!r.metrics_problem.empty()) return "metrics.jsonl unreadable: " + r.metrics_problem;
  if (!r.has_metrics) return "no metrics.jsonl";
  std::vector<std::string> parts;
  if (r.metrics.damaged_lines > 0)
    parts.push_back(
        fmt::format("{} damaged line{} skipped", r.metrics.damaged_lines, r.metrics.damaged_lines == 1 ? "" : "s"));
  if (r.metrics.truncated_tail) parts.push_back("its last line cut off mid-way (dropped)");
  return "metrics.jsonl has " + join(parts, " and ") + "; reported from the lines that could be read";
}

// The notes under a group's table: one line per run that diverged, did not
// end, or has damaged metrics.
std::vector<std::string> run_notes(const SweepResults& sweep, const SweepTable& table, const std::string& group) {
  std::vector<std::string> notes;
  for (size_t i = 0; i < sweep.runs.size(); ++i) {
    const RunResult& r = sweep.runs[i];
    if (r.point.group != group) continue;
    const RunSummary& s = table.summaries[i];
    const std::string id = "`" + r.point.id + "`";
    switch (r.status) {
      case RunStatus::missing:
        notes.push_back(fmt::format("- {} {}: missing (no run folder); left out", kIncompleteMark, id));
        break;
      case RunStatus::incomplete:
        notes.push_back(fmt::format("- {} {}: incomplete ({}); left out; it has {}", kIncompleteMark, id,
                                    r.problem.empty() ? "no outcome.json: interrupted or not started" : r.problem,
                                    what_it_has(r, s)));
        break;
      case RunStatus::diverged:
        notes.push_back(fmt::format("- {}: diverged at step {}{}; {}", id,
                                    r.outcome_step >= 0 ? fmt::format("{}", r.outcome_step) : "?",
                                    r.reason.empty() ? "" : " (" + r.reason + ")", what_it_has(r, s)));
        break;
      case RunStatus::finished: break;
    }
    if (metrics_damaged(r) && r.status != RunStatus::missing)
      notes.push_back(fmt::format("- {} {}: {}", kDamagedMark, id, damage_text(r)));
  }
  return notes;
}

// Parameters in full, with the difference to the group's residual row when there is one.
std::string parameters_cell(const VariantRow& row, double residual_params) {
  if (!std::isfinite(row.parameters)) return kNone;
  std::string out = fmt::format("{:.0f}", row.parameters);
  if (std::isfinite(residual_params) && residual_params > 0 && row.residual != "residual")
    out += fmt::format(" ({:+.1f} %)", 100.0 * (row.parameters / residual_params - 1.0));
  return out;
}

// Per group: what each variant cost (the confounds of its losses), and the mHC rows whose H_res has not moved.
std::string cost_text(const SweepTable& table, const std::string& group) {
  double residual_params = NAN;
  for (const VariantRow& row : table.rows)
    if (row.group == group && row.residual == "residual") residual_params = row.parameters;
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> notes;
  for (const VariantRow& row : table.rows) {
    if (row.group != group) continue;
    const double total = row.tokens * row.flops_per_token;
    rows.push_back({row.variant, parameters_cell(row, residual_params), format_sig3(row.tokens),
                    format_sig3(row.flops_per_token), format_sig3(total),
                    std::isfinite(row.wall_s) ? format_sig3(row.wall_s) + " s" : kNone, format_sig3(row.ms_per_step)});
    if (row.h_res_near_initial > 0)
      notes.push_back(fmt::format(
          "- **{}: H_res is still within {:g} % of its initial J/n** in {} of {} runs (largest entry difference "
          "relative to 1/n): its streams are barely mixed yet, so it behaves almost like the residual; a longer run "
          "tells mHC apart.",
          row.variant, kHresNearInitial * 100, row.h_res_near_initial, row.h_res_runs));
  }
  std::string out =
      "\nWhat each variant cost (the confounds of the losses above):\n\n" +
      table_text({"variant", "parameters", "tokens seen", "FLOPs/token", "FLOPs", "wall time", "ms/step"}, rows);
  if (!notes.empty()) out += "\n" + join(notes, "\n") + "\n";
  return out;
}

// Each variant at its best value of every extra axis (optim.lr, ...).
std::string best_of_axes_text(const SweepResults& sweep, const SweepTable& table) {
  const std::vector<AxisBest> best = best_of_axes(sweep, table);
  std::string out;
  for (size_t i = 0; i < best.size(); ++i) {
    const AxisBest& b = best[i];
    if (i == 0 || b.axis != best[i - 1].axis) {
      std::vector<std::vector<std::string>> rows;
      for (size_t k = i; k < best.size() && best[k].axis == b.axis; ++k)
        rows.push_back({best[k].others.empty() ? kNone : "`" + best[k].others + "`", best[k].variant, best[k].value,
                        format_loss(best[k].final_val), fmt::format("{}", best[k].values)});
      out += fmt::format(
          "\n## Each variant at its best `{}`\n\nThe value of `{}` with the lowest mean final val "
          "loss over finished runs, per variant and setting of the other axes: a variant is compared "
          "at its own best, not at one value that may suit another variant.\n\n",
          b.axis, b.axis);
      out += table_text({"other settings", "variant", "best " + b.axis, "final val loss", "values tried"}, rows);
    }
  }
  return out;
}

}  // namespace

std::string format_loss(const MeanStd& v) {
  if (v.n == 0 || !std::isfinite(v.mean)) return kNone;
  return decimal4(v.mean) + " ± " + (v.n < 2 ? kNone : decimal4(v.std));
}

std::string format_delta(const MeanStd& v) {
  if (v.n == 0 || !std::isfinite(v.mean)) return kNone;
  return decimal4(v.mean, /*plus=*/true) + " ± " + (v.n < 2 ? kNone : decimal4(v.std));
}

std::string format_sig3(double v) {
  if (std::isnan(v)) return kNone;
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  if (v == 0) return "0";
  const double a = std::fabs(v);
  if (a >= 1000 || a < 1e-3) return tidy_exponent(fmt::format("{:.2e}", v));
  int decimals = std::max(0, 2 - static_cast<int>(std::floor(std::log10(a))));
  std::string s = fmt::format("{:.{}f}", v, decimals);
  // Rounding up to the next power of ten (9.996 -> "10.00") would show a 4th digit.
  if (decimals > 0 && std::fabs(std::stod(s)) >= std::pow(10.0, 3 - decimals))
    s = fmt::format("{:.{}f}", v, decimals - 1);
  if (std::fabs(std::stod(s)) >= 1000) return tidy_exponent(fmt::format("{:.2e}", v));
  return s;
}

std::string format_gain(double v) {
  if (!std::isfinite(v) || format_sig3(v) != "1.00") return format_sig3(v);
  if (v == 1.0) return "1";
  return fmt::format("1 {} {}", v > 1 ? "+" : "−", tidy_exponent(fmt::format("{:.1e}", std::fabs(v - 1.0))));
}

namespace {

// The report's first lines: the grid's outcome, its axes, the time spent.
std::string summary_text(const SweepResults& sweep) {
  std::string md = fmt::format("# Sweep report: {}\n\n", sweep.name);
  std::map<RunStatus, size_t> count;
  double wall = 0;
  bool any_wall = false;
  for (const RunResult& r : sweep.runs) {
    ++count[r.status];
    if (std::isfinite(r.wall_s)) wall += r.wall_s, any_wall = true;
  }
  md += fmt::format("{} grid point{}: {} finished, {} diverged, {} incomplete, {} missing.\n", sweep.runs.size(),
                    sweep.runs.size() == 1 ? "" : "s", count[RunStatus::finished], count[RunStatus::diverged],
                    count[RunStatus::incomplete], count[RunStatus::missing]);
  if (!sweep.axes.empty()) {
    std::vector<std::string> axes;
    for (const auto& [flag, values] : sweep.axes) axes.push_back(fmt::format("`{}`: {}", flag, join(values, ", ")));
    md += "Axes: " + join(axes, "; ") + ".\n";
  }
  if (any_wall)
    md += fmt::format("Run time recorded by the sweep (outcome.json: the session that ended each run): {:.0f} s.\n",
                      wall);
  return md;
}

// The results table's columns; the Δ and × residual ones only when a group has a residual row.
std::vector<std::string> results_header(bool any_baseline, bool any_hellaswag) {
  std::vector<std::string> header = {"variant", "n", "best val loss", "final val loss", "final bits/byte"};
  if (any_hellaswag) header.push_back("HellaSwag acc");
  if (any_baseline) header.insert(header.end(), {"Δ final vs residual", "Δ best vs residual"});
  header.insert(header.end(), {"max fwd gain", "max bwd gain", "min row sum", "min col sum", "stream diversity",
                               "max grad norm", "spikes/run (total)", "diverged", "ms/step"});
  if (any_baseline) header.push_back("× residual");
  header.push_back("peak MiB");
  return header;
}

// One variant's row of the results table.
std::vector<std::string> result_cells(const VariantRow& row, bool any_baseline, bool any_hellaswag) {
  std::string name = row.variant;
  if (!row.incomplete.empty() || !row.damaged.empty()) name += " ";
  if (!row.incomplete.empty()) name += kIncompleteMark;
  if (!row.damaged.empty()) name += kDamagedMark;
  std::vector<std::string> cells = {name, fmt::format("{}", row.final_val.n), format_loss(row.best_val),
                                    format_loss(row.final_val), format_loss(row.final_bpb)};
  if (any_hellaswag) cells.push_back(format_loss(row.final_hellaswag));
  if (any_baseline) {
    const auto delta = [&](const MeanStd& d) {
      if (!row.paired) return std::string(kNone);
      std::string s = format_delta(d);
      if (d.n > 0 && d.n != row.final_val.n) s += fmt::format(" (n={})", d.n);
      return s;
    };
    cells.push_back(delta(row.delta_final));
    cells.push_back(delta(row.delta_best));
  }
  cells.insert(cells.end(),
               {format_gain(row.max_forward), format_gain(row.max_backward), format_sum(row.min_row_sum),
                format_sum(row.min_col_sum), format_sig3(row.stream_diversity), format_sig3(row.max_grad_norm),
                spikes_cell(row), diverged_cell(row), format_sig3(row.ms_per_step)});
  if (any_baseline) cells.push_back(ratio_cell(row.ms_ratio));
  cells.push_back(mib_cell(row.peak_mib));
  return cells;
}

// Which paired differences of a group are beyond seed noise (paired t-test, 5 %).
std::string seed_noise_text(const SweepTable& table, const std::string& group) {
  std::vector<std::string> verdicts;
  for (const VariantRow& row : table.rows) {
    if (row.group != group || !row.paired) continue;
    const Interval ci = confidence_95(row.delta_final);
    if (!std::isfinite(ci.lo)) {
      verdicts.push_back(fmt::format("- {}: fewer than 2 paired seeds, no interval.", row.variant));
      continue;
    }
    verdicts.push_back(fmt::format(
        "- {}: final val loss {} residual's by {:.4f}, 95 % CI [{:+.4f}, {:+.4f}] over {} paired seeds: {}.",
        row.variant, row.delta_final.mean < 0 ? "below" : "above", std::fabs(row.delta_final.mean), ci.lo, ci.hi,
        row.delta_final.n, ci.excludes_zero() ? "**beyond seed noise**" : "within seed noise"));
  }
  if (verdicts.empty()) return "";
  return "\nBeyond seed noise? (paired t-test at 5 %, see below)\n\n" + join(verdicts, "\n") + "\n";
}

// One group's section: its settings, the results table, the verdicts, the notes and the costs.
std::string group_text(const SweepResults& sweep, const SweepTable& table, const std::string& group,
                       bool any_baseline) {
  std::string md = group.empty() ? "\n## Results\n\n" : fmt::format("\n## Group `{}`\n\n", group);
  for (const RunResult& r : sweep.runs) {
    if (r.point.group != group) continue;
    if (!r.point.settings.empty()) md += fmt::format("Settings: `{}`.\n\n", r.point.settings);
    break;
  }
  bool any_hellaswag = false;  // a column only where some run scored a --eval.hellaswag file
  for (const VariantRow& row : table.rows) any_hellaswag = any_hellaswag || row.final_hellaswag.n > 0;
  std::vector<std::vector<std::string>> rows;
  for (const VariantRow& row : table.rows)
    if (row.group == group) rows.push_back(result_cells(row, any_baseline, any_hellaswag));
  md += table_text(results_header(any_baseline, any_hellaswag), rows);
  md += seed_noise_text(table, group);
  const std::vector<std::string> notes = run_notes(sweep, table, group);
  if (!notes.empty()) md += fmt::format("\n{}\n", join(notes, "\n"));
  md += cost_text(table, group);
  return md;
}

// "How the numbers are made": the definition of every column.
std::string method_text(const SweepTable& table, bool any_baseline) {
  std::string md;
  const SpikeRule& rule = table.spike_rule;
  md += "\n## How the numbers are made\n\n";
  md +=
      "- **n**: runs of the row that finished. Best / final val loss: the lowest / the last validation loss of a "
      "run, then **mean ± std over those runs**; std is the sample standard deviation (n − 1), — when n < 2. A "
      "diverged run's losses are not averaged (its last evaluation predates the divergence). Losses are "
      "in nats per token over the same validation windows in every run; **bits/byte** is the final loss in "
      "bits per byte of text (nats / ln 2 × tokens / bytes of the targets), which compares across "
      "tokenizers (— for token files without a tokenizer). **HellaSwag acc** (when the runs scored "
      "--eval.hellaswag): the share of examples whose right ending had the lowest total loss, at the last "
      "evaluation.\n";
  if (any_baseline)
    md +=
        "- **Δ vs residual**: per seed, the run's value minus that of the residual run with the same group and "
        "seed (both finished), then mean ± std over the seeds; (n=k) when fewer seeds pair up than n. **Beyond seed "
        "noise** means that the 95 % confidence interval of the mean paired difference, mean ± t · std / √n with "
        "Student's t for n − 1 degrees of freedom (4.30 for 3 seeds), excludes 0: a paired t-test at the 5 % "
        "level. With few seeds it misses small real differences; it rarely reports noise as one.\n";
  md +=
      "- The other columns use every run of the row that ended, finished or diverged. **Gains**: the composite "
      "Amax gain of P_l = H_res(L-1) ... H_res(l) (max absolute row / column sum per token, mean over the tokens "
      "of the first evaluation batch), max over sites and evaluations, then the **max over runs**. **Row / col "
      "sums**: the composite's minimum row / column sum, min over sites, evaluations and runs (1 = no "
      "attenuation; for mHC the column sums show Sinkhorn's error).\n";
  md +=
      "- **Stream diversity**: per site and token, Σ_i ‖x_i − x̄‖² / Σ_i ‖x_i‖² over the n streams of the site's "
      "input (0 when the streams are identical, as one stream always is; 1 when their mean is zero), mean over "
      "tokens of the first evaluation batch and over sites, at a run's last evaluation, then the mean over runs. "
      "The Amax gain cannot see streams becoming alike; this can. — for runs that did not log it.\n";
  md += "- **Max grad norm**: the global gradient norm before clipping, max over steps and runs.\n";
  md += fmt::format(
      "- **Spikes**: training step t is a spike when its loss exceeds the median of the previous {} logged losses "
      "(fewer early on, at least {}) by more than {:g} %; consecutive spike steps count as one spike; non-finite "
      "losses are left out (they are divergence). Shown: mean per run (total over runs).\n",
      rule.window, rule.min_history, rule.rise * 100);
  md += "- **Diverged**: runs that diverged of those that ended, with the step (from outcome.json).\n";
  md += fmt::format(
      "- **ms/step**: per run the median of its training steps' ms_per_step without the first {} (all when there "
      "are no more), then the mean over runs{}.\n",
      kTimingSkip, any_baseline ? "; × residual divides it by the residual row's of the same group" : "");
  md += "- **Peak MiB**: the most tensor memory held at once (peak_bytes), max over evaluations and runs.\n";
  md +=
      "- **Cost** (from each run's outcome.json; — for sweeps older than these fields): parameters (the same in "
      "every seed; ± % against the group's residual), tokens seen (steps × batch × block × grad accum, mean over "
      "runs that ended), training FLOPs per token (6 × the forward's multiply-adds: matmuls, attention scores, "
      "HC / mHC coefficients and stream mixing; see train/flops.h), their product, and the wall time of the "
      "session that ended each run (mean). A variant that spends more parameters or FLOPs per token is not on "
      "the same budget as the residual.\n";
  md += fmt::format(
      "- **H_res near J/n**: an mHC run whose token-mean H_res at its last evaluation differs from "
      "J/n (its initial value) by at most {:g} % of 1/n in every entry and site.\n",
      kHresNearInitial * 100);
  md += fmt::format(
      "- {} a run of the row has not ended (incomplete or missing) and is left out of the row; {} a "
      "run of the row has a damaged or truncated metrics file and is reported from what could be read. "
      "Each is listed under its table.\n",
      kIncompleteMark, kDamagedMark);
  md += fmt::format(
      "- Figures: curves are the mean over seeds with a min..max band; loss charts fit their y range "
      "to the steps after the first {:g} % so that the differences at the end are visible.\n",
      kLossFitSkip * 100);

  return md;
}

}  // namespace

std::string render_markdown(const SweepResults& sweep, const SweepTable& table, const std::vector<Figure>& figures) {
  bool any_baseline = false;
  for (const VariantRow& row : table.rows) any_baseline = any_baseline || row.residual == "residual";
  std::string md = summary_text(sweep);
  for (const std::string& group : table.groups) md += group_text(sweep, table, group, any_baseline);
  md += best_of_axes_text(sweep, table);
  md += method_text(table, any_baseline);
  if (!figures.empty()) {
    md += "\n## Figures\n";
    for (const Figure& f : figures) md += fmt::format("\n{}:\n\n![{}]({})\n", f.caption, f.caption, f.file);
  }
  return md;
}

}  // namespace report

std::vector<std::string> write_sweep_report(const std::string& sweep_dir, const std::string& out_dir) {
  const SweepResults sweep = read_sweep_results(sweep_dir);
  const report::SweepTable table = report::make_table(sweep);
  const std::string out = out_dir.empty() ? sweep_dir : out_dir;
  std::filesystem::create_directories(out);
  const std::vector<report::Figure> figures = report::write_report_figures(sweep, table, out);
  std::vector<std::string> written;
  for (const report::Figure& f : figures) written.push_back((std::filesystem::path(out) / f.file).string());
  const std::string md_path = (std::filesystem::path(out) / "report.md").string();
  write_file_atomically(md_path, report::render_markdown(sweep, table, figures), md_path + ".tmp");
  written.push_back(md_path);
  return written;
}

}  // namespace mhc
