// report.h — `mhc report SWEEP_DIR`: reads a sweep folder (report_input.h),
// computes its table (report_stats.h), writes the figures
// (report_figures.h) and report.md: one table per group (configuration) with
// a row per variant over seeds, the rules behind the numbers, a line for
// each run that diverged, did not end, or has a damaged metrics file, what
// each variant cost (parameters, tokens seen, FLOPs per token, wall time,
// ms/step) with a note on mHC rows whose H_res is still near its initial J/n,
// each variant at its best value of every extra axis (such as optim.lr), and
// the figures. Same inputs give the same bytes (no dates, no paths).
//
//   for (const std::string& f : mhc::write_sweep_report("sweeps/cpu-variants", "")) fmt::print("wrote {}\n", f);
#pragma once
#include <string>
#include <vector>

#include "studies/report_figures.h"
#include "studies/report_input.h"
#include "studies/report_stats.h"

namespace mhc {

// Writes report.md and the PNG figures into out_dir (created if needed; ""
// means sweep_dir) and returns the paths written, figures first. Throws
// std::runtime_error naming the problem (no such folder, no sweep.json, a
// malformed sweep.json) and WriteError when a file cannot be written.
std::vector<std::string> write_sweep_report(const std::string& sweep_dir, const std::string& out_dir = "");

namespace report {

// report.md's text for a sweep, its table and the figures written.
std::string render_markdown(const SweepResults& sweep, const SweepTable& table, const std::vector<Figure>& figures);

// Number formats of the table.
std::string format_loss(const MeanStd& v);   // "1.2500 ± 0.0707", "1.2500 ± —" (n < 2), "—" (n = 0)
std::string format_delta(const MeanStd& v);  // "+0.0123 ± 0.0040", signed
std::string format_sig3(double v);           // 3 significant digits: "1.00", "70.2", "123", "1.23e3"
// An Amax gain: 3 significant digits, except that a gain which would print as
// "1.00" shows how far it is from 1 ("1 + 1.6e-7", "1 − 3.2e-4", "1"), so
// mHC's Sinkhorn error is visible rather than rounded away.
std::string format_gain(double v);

}  // namespace report
}  // namespace mhc
