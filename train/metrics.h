// metrics.h — the run's metrics.jsonl: one JSON object per line, appended
// and flushed as training goes, read back by `mhc plot`. Readers skip (and
// report on stderr) damaged lines, such as the NUL bytes a power loss leaves.
//
//   training step: {"step", "loss", "lr", "grad_norm", "tokens_per_s", "ms_per_step"}
//                  step = steps done, this one included (1 for the first: the
//                  console's count), so step k's loss is measured with the
//                  weights after k − 1 steps (logs older than this rule start at 0);
//   evaluation:    {"step", "val_loss", "expert_load": [[per expert] per MoE layer],
//                  "peak_bytes": most tensor memory held at once since the session began,
//                  with step = steps done when measured (0: before training),
//                   "amax": {"order": "max over rows/columns per token, then mean over tokens",
//                            "forward", "backward", "composite_forward", "composite_backward",
//                            "min_row_sum", "min_col_sum", "composite_min_row_sum",
//                            "composite_min_col_sum": [one value per site],
//                            "mean_h_res", "mean_composite": [n × n rows per site]}}
#pragma once
#include <cmath>
#include <string>
#include <vector>

#include "layers/amax_gain.h"
#include "fileio/json_io.h"

namespace mhc {

// Appends lines, each with one write(2) straight to the file (no stdio
// buffer that could fail later, unnoticed). A failed write (disk full) throws
// WriteError naming the file and the reason, after cutting the file back to
// its last complete line.
class MetricsWriter {
 public:
  explicit MetricsWriter(const std::string& path);  // appends
  ~MetricsWriter();                                 // closes; errors are lost: call close() to see them
  MetricsWriter(const MetricsWriter&) = delete;
  MetricsWriter& operator=(const MetricsWriter&) = delete;
  void write(const Json& line);
  // fsync: what was written survives a power loss (the trainer syncs before
  // each checkpoint, so the log on disk reaches at least the checkpoint).
  void sync();
  void close();  // sync, then close; throws WriteError on failure

 private:
  int fd_ = -1;
  std::string path_;
};

// Rewinds the log to a checkpoint taken after `steps` steps (a resumed run):
// keeps the lines (training and evaluation) with step ≤ `steps`, drops damaged lines (reported on stderr). Rewritten
// atomically: on failure (WriteError) the old file is left as it was.
void truncate_metrics(const std::string& path, int64_t steps);

Json amax_to_json(const std::vector<SiteGain>& gains);

// What `mhc plot` and `mhc report` need from one run. Missing or null
// numbers read as NaN.
struct RunMetrics {
  std::string label;
  std::vector<double> step, loss, grad_norm, lr, tokens_per_s, ms_per_step;  // per training line
  std::vector<double> eval_step, val_loss, peak_bytes;                       // per evaluation
  std::vector<double> val_bpb;        // per evaluation: bits per byte of text (NaN where not logged)
  std::vector<double> hellaswag_acc;  // per evaluation: --eval.hellaswag accuracy (NaN where not logged)
  std::vector<double> amax_forward_max, amax_backward_max;  // max over sites of the composite gains, per eval
  // min over sites of composite_min_row_sum / composite_min_col_sum, per eval
  std::vector<double> composite_min_row_sum_min, composite_min_col_sum_min;
  std::vector<double> last_site_forward, last_site_backward, last_site_single_backward;  // per site, last eval
  std::vector<double> site_forward_max, site_backward_max;  // per site: the composite gain's max over evals
  // Stream diversity (Σ_i ‖x_i − x̄‖² / Σ_i ‖x_i‖², mean over tokens): its
  // mean over sites per evaluation (NaN where not logged), and per site at
  // the last evaluation that logged it. 0 for a single stream or identical
  // streams, 1 when the streams' mean is zero.
  std::vector<double> stream_diversity_mean, last_site_diversity;
  // Token means of H_res and of the composite per site (n × n, row-major), at
  // the last evaluation that has them (empty if none does).
  std::vector<std::vector<double>> last_mean_h_res, last_mean_composite;
  double last_mean_step = NAN;  // the step of that evaluation
  // What the tolerant reader skipped: damaged lines (not JSON, NUL bytes,
  // not metrics) and a last line cut off mid-way (no newline after it).
  size_t damaged_lines = 0;
  bool truncated_tail = false;
};
RunMetrics read_run_metrics(const std::string& run_dir);

// The largest / smallest finite value (NaN and infinities, e.g. a gain the
// JSON writer stored as null, are left out); NaN when there is none.
double max_finite(const std::vector<double>& v);
double min_finite(const std::vector<double>& v);

}  // namespace mhc
