// report_input.h — a sweep folder read back for `mhc report`: the grid from
// sweep.json and, per grid point, how its run ended (outcome.json) and its
// metrics (metrics.jsonl, read by the tolerant reader of metrics.h).
//
//   sweeps/<name>/sweep.json            {"name", "spec", "axes", "runs": [{"id", "group", "variant",
//                                         "residual", "streams", "seed", "settings", "steps", ...}]}
//   sweeps/<name>/<id>/outcome.json     {"status": "finished" | "diverged", "step", "reason", "wall_s",
//                                         "parameters", "tokens" (seen), "flops_per_token" (train/flops.h);
//                                         the last three absent in sweeps older than them}
//   sweeps/<name>/<id>/metrics.jsonl    see metrics.h
//
// A grid point whose folder is absent is "missing"; one without a (readable)
// outcome.json has not finished ("incomplete": interrupted or never started)
// and is reported with whatever metrics it has.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "train/metrics.h"

namespace mhc {

// One grid point as sweep.json lists it.
struct SweepPoint {
  std::string id;        // also the run folder's name
  std::string group;     // the configuration: axis settings other than residual / streams / seed ("" when none)
  std::string variant;   // "residual", "hc-n4", "mhc-n4", ...
  std::string residual;  // the kind: "residual", "hc" or "mhc"
  std::string seed;      // as written (seeds may exceed 2^53, so sweep.json may hold them as strings)
  int64_t streams = 1, steps = 0;
  std::string
      settings;  // this point's axis values other than residual / streams / seed, "model.blocks=4 optim.lr=0.003"
};

enum class RunStatus { finished, diverged, incomplete, missing };
const char* status_name(RunStatus s);  // "finished", "diverged", "incomplete", "missing"

struct RunResult {
  SweepPoint point;
  RunStatus status = RunStatus::missing;
  int64_t outcome_step = -1;  // outcome.json's "step": steps done, or the step that diverged
  std::string reason;         // the divergence message
  double wall_s = NAN;
  double parameters = NAN, tokens = NAN, flops_per_token = NAN;  // NaN where outcome.json lacks them
  std::string problem;          // why outcome.json was not used (unreadable, malformed), or ""
  std::string metrics_problem;  // why metrics.jsonl could not be read, or ""
  bool has_metrics = false;     // metrics.jsonl was there and read
  RunMetrics metrics;
};

struct SweepResults {
  std::string name;
  std::vector<std::pair<std::string, std::vector<std::string>>> axes;  // flag, its values as written (JSON)
  std::vector<RunResult> runs;                                         // in sweep.json's order
};

// Reads sweep_dir/sweep.json and every run it lists. Throws
// std::runtime_error naming the folder or file for: no such folder, no
// sweep.json in it, sweep.json malformed (naming the field and run), a run id
// that is not a plain folder name, or two runs with one id.
SweepResults read_sweep_results(const std::string& sweep_dir);

}  // namespace mhc
