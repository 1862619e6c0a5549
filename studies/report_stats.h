// report_stats.h — the numbers of `mhc report`, apart from any rendering:
// statistics over seeds (mean, sample std, paired differences), the
// loss-spike rule, one summary per run, one table row per (group, variant),
// and the curves over steps (mean over seeds with a min..max band).
//
// Which runs count where (the report states it too):
// - loss columns (best / final validation loss and the paired differences to
//   residual): the runs that finished; n counts them (a diverged run's last
//   evaluation predates its divergence, so it is not averaged with the rest);
// - every other column (gains, row/column sums, gradient norm, spikes,
//   divergence, ms/step, memory): the runs that ended, finished or diverged;
// - incomplete and missing runs count nowhere and are listed instead.
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "train/metrics.h"
#include "studies/report_input.h"

namespace mhc::report {

// ---- statistics (NaN and infinities are left out; empty -> NaN) -------------

double mean(const std::vector<double>& v);
double sample_std(const std::vector<double>& v);  // divides by n - 1; NaN when n < 2
double median(std::vector<double> v);             // the mean of the middle two for even n

struct MeanStd {
  double mean = NAN, std = NAN;  // std: sample std, NaN when n < 2
  size_t n = 0;                  // finite values used
};
MeanStd mean_std(const std::vector<double>& v);

// Whether a mean differs from 0 beyond seed noise: the two-sided 95 %
// confidence interval of the mean, mean ± t(0.975, n − 1) · std / √n
// (Student's t, so that 3 seeds are not over-trusted: t = 4.30 for n = 3).
// For paired differences this is the paired t-test at the 5 % level.
double student_t_975(size_t dof);  // dof ≥ 1; NaN for 0
struct Interval {
  double lo = NAN, hi = NAN;  // NaN when n < 2
  bool excludes_zero() const { return lo > 0 || hi < 0; }
};
Interval confidence_95(const MeanStd& v);

// The loss-spike rule: line t is a spike when its loss exceeds the median of
// the (up to) `window` preceding losses by more than `rise` (a fraction),
// once at least `min_history` preceding losses exist (so that the early,
// fast-falling part of a short run is covered too); consecutive spike lines
// form one spike. Non-finite losses are dropped first (divergence is
// counted on its own).
struct SpikeRule {
  size_t window = 50;
  double rise = 0.20;
  size_t min_history = 10;
};
// The positions (into `loss`) where each spike starts.
std::vector<size_t> loss_spikes(const std::vector<double>& loss, const SpikeRule& rule = {});

// A run's typical time per step: the median of its training lines'
// ms_per_step without the first `skip` lines (warm-up, compilation); all
// lines when there are no more than `skip`.
inline constexpr size_t kTimingSkip = 10;
double median_ms_per_step(const std::vector<double>& ms, size_t skip = kTimingSkip);

// ---- one run --------------------------------------------------------------------

struct RunSummary {
  double best_val = NAN, final_val = NAN, final_step = NAN;  // validation loss: min over evals, last eval
  double max_forward = NAN, max_backward = NAN;              // composite Amax gain, max over sites and evals
  double min_row_sum = NAN, min_col_sum = NAN;               // composite, min over sites and evals
  double max_grad_norm = NAN;
  std::vector<double> spike_steps;  // the training step where each spike starts
  double ms_per_step = NAN;
  double peak_mib = NAN;  // max peak_bytes / 2^20
  size_t evals = 0, train_lines = 0;
  // At the last evaluation that logged H_res: max over sites and entries of
  // |H_res − 1/n| · n, how far the token-mean H_res is from J/n (mHC's
  // initial matrix) relative to its entries; NaN when none was logged.
  double h_res_from_uniform = NAN;
  double final_diversity = NAN;  // stream diversity, mean over sites, at the last evaluation that logged it
  double final_bpb = NAN;        // bits per byte at the last evaluation (NaN when not logged)
  double final_hellaswag = NAN;  // --eval.hellaswag accuracy at the last evaluation (NaN when not logged)
};
// An mHC run whose H_res is still this close to J/n (relative) has barely
// used its streams: it behaves almost like the residual (short runs).
inline constexpr double kHresNearInitial = 0.01;
RunSummary summarise_run(const RunMetrics& m, const SpikeRule& rule = {});

// ---- the table ----------------------------------------------------------------

struct VariantRow {
  std::string group, variant, residual;  // residual: the kind ("residual", "hc", "mhc")
  size_t grid_runs = 0;                  // grid points of this (group, variant)
  MeanStd best_val, final_val;           // over finished runs
  MeanStd final_bpb;                     // over finished runs that logged it
  MeanStd final_hellaswag;               // over finished runs that logged it
  bool paired = false;                   // the sweep has a residual baseline for this group (and this is not it)
  MeanStd delta_final, delta_best;       // per-seed (this − residual), seeds where both finished
  // over ended runs (finished or diverged):
  double max_forward = NAN, max_backward = NAN;  // max over runs
  double min_row_sum = NAN, min_col_sum = NAN;   // min over runs
  double max_grad_norm = NAN;                    // max over runs
  double stream_diversity = NAN;                 // final_diversity, mean over runs
  double spikes_per_run = NAN;                   // mean over runs
  size_t spikes_total = 0;
  size_t ended = 0, diverged = 0;
  std::vector<int64_t> diverged_steps;
  double ms_per_step = NAN;             // mean over runs of each run's median
  double ms_ratio = NAN;                // ms_per_step / the residual row's, same group
  double peak_mib = NAN;                // max over runs
  std::vector<std::string> incomplete;  // ids of runs not ended (incomplete or missing)
  std::vector<std::string> damaged;     // ids of runs whose metrics file is damaged, truncated or unreadable
  // The confounds, over ended runs (NaN when outcome.json does not record them):
  double parameters = NAN;                        // max over runs (the same in every seed)
  double flops_per_token = NAN;                   // max over runs (train/flops.h)
  double tokens = NAN;                            // tokens seen, mean over runs
  double wall_s = NAN;                            // outcome.json's wall time, mean over runs
  size_t h_res_near_initial = 0, h_res_runs = 0;  // mHC: ended runs within kHresNearInitial of J/n, of those with H_res
};

struct SweepTable {
  std::vector<std::string> groups;    // in order of first appearance in sweep.json
  std::vector<std::string> variants;  // likewise
  std::vector<VariantRow> rows;       // per group, then variant, in those orders
  std::vector<RunSummary> summaries;  // one per SweepResults::runs entry
  SpikeRule spike_rule;
};
SweepTable make_table(const SweepResults& sweep, const SpikeRule& rule = {});

// Each variant at its best value of one axis (such as optim.lr): for every
// axis of the sweep other than residual / streams / seed, every setting of
// the other axes and every variant, the axis value whose finished runs have
// the lowest mean final validation loss.
struct AxisBest {
  std::string axis;    // the flag, "optim.lr"
  std::string others;  // the other axes' settings, "model.blocks=4" ("" when none)
  std::string variant;
  std::string value;  // the best value, as written in the group
  MeanStd final_val;  // of the runs at that value
  size_t values = 0;  // values of the axis with a finished run
};
std::vector<AxisBest> best_of_axes(const SweepResults& sweep, const SweepTable& table);

// Whether a run's metrics file needs a marker: damaged or truncated lines,
// unreadable, or absent for a run that ended.
bool metrics_damaged(const RunResult& r);
bool ended(const RunResult& r);  // finished or diverged

// ---- curves over steps ----------------------------------------------------------

// The mean over runs at each x, with the min..max band, from curves that
// share x values (eval steps): at each x found in any curve, the finite
// values of the curves that have it. Points are sorted by x.
struct BandSeries {
  std::vector<double> x, mean, lo, hi;
  std::vector<size_t> n;  // curves with a finite value at x
};
struct Curve {
  std::vector<double> x, y;
};
BandSeries band_over(const std::vector<Curve>& curves);

// a − b at the x values both have (finite in both), in a's order.
Curve paired_difference(const Curve& a, const Curve& b);

}  // namespace mhc::report
