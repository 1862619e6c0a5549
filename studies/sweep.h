// sweep.h — `mhc sweep SPEC`: a grid of ordinary training runs, run one
// after another in this process, that resumes where it was stopped.
//
// A spec is a JSON file (experiments/*.json); its name is the file's stem:
//   { "description": "what the study asks",
//     "base": {"preset": "cpu-char", "optim.steps": 2000},        // flags for every run
//     "axes": {"residual": ["residual", "hc", "mhc"],             // one run per combination
//              "seed": [1, 2, 3], "model.blocks": [4, 8]} }
// Keys are `mhc train` flags without the leading "--"; a value is a string,
// a number, or a boolean (true passes a flag such as hc.static, false omits
// it). The grid is the product of the axes, in the spec's order.
//
// Each grid point is a run directory <dir>/<name>/<id>, with
//   id = [group-]variant-s<seed>, e.g. "blocks8-mhc-n4-s2":
//   variant = residual | hc-n<streams> | mhc-n<streams>,
//   group   = the other axes' settings (blocks8-lr0.003), "" when there are none.
// <dir>/<name>/sweep.json holds the resolved grid (see sweep_json); each run
// that ends gets <run>/outcome.json:
//   {"status": "finished" | "diverged", "step": steps done or the step that
//    diverged, "reason": the divergence, "wall_s": this session's seconds}.
// A run diverges on a NaN/inf loss or gradient, or when after warmup its loss
// climbs above the untrained model's (RunOptions::stop_above_initial_loss);
// the sweep records it and goes on.
#pragma once
#include <string>
#include <vector>

#include "train/config.h"
#include "fileio/json_io.h"

namespace mhc {

struct SweepSpec {
  std::string name;                                             // the file's stem
  std::string path;                                             // where it was read from (messages)
  Json source;                                                  // the file as parsed (compared on a re-run)
  std::vector<std::pair<std::string, Json>> base;               // flag → value
  std::vector<std::pair<std::string, std::vector<Json>>> axes;  // flag → values
};

struct SweepRun {
  std::string id, group, variant;
  Json settings;                  // this point's axis values, flag → value
  std::vector<std::string> args;  // the `mhc train` flags that make it
  TrainConfig config;             // resolved, run_dir set
};

// Reads and checks a spec; throws std::invalid_argument naming the file and
// the problem (not JSON, an unknown key or flag, an empty or repeated axis,
// a flag in both base and axes, a flag the sweep sets itself such as --run).
SweepSpec parse_sweep_spec(const std::string& path);
SweepSpec parse_sweep_spec(const Json& spec, const std::string& name, const std::string& path);

// Every grid point, resolved and validated as `mhc train` would, under
// <dir>/<spec.name>/. Throws std::invalid_argument for a point whose flags
// are refused (naming the point) and for two points that would share a
// directory (naming both).
// A grid larger than this is refused before anything is expanded or
// printed (a study of more runs is several specs).
constexpr size_t kMaxGridPoints = 10000;
std::vector<SweepRun> expand_grid(const SweepSpec& spec, const std::string& dir);

// The contents of sweep.json: name, spec, axes (flag, values) and per run
// id, dir, group, variant, residual, streams, seed, settings, steps, warmup, args.
Json sweep_json(const SweepSpec& spec, const std::vector<SweepRun>& runs);

struct SweepOptions {
  std::string dir = "sweeps";  // sweeps live in <dir>/<name>/
  bool overwrite = false;      // replace a sweep folder made from a different spec
  bool dry_run = false;        // print the grid and an estimated time; run nothing
  bool quiet = false;          // no output (tests)
  bool report = true;          // write the report once every run has ended
  // Test hook: stop (as a kill would) after this many training steps of
  // this session, leaving the current run without an outcome; -1: no limit.
  int64_t stop_after_steps = -1;
};

struct SweepSummary {
  int64_t runs = 0, finished = 0, diverged = 0, skipped = 0;  // skipped: had ended before this session
  bool stopped = false;    // interrupted (Ctrl-C) or stop_after_steps: re-run to continue
  double estimated_s = 0;  // dry run: the estimate printed
};

// Runs (or resumes) the sweep. Throws std::invalid_argument for a sweep
// folder that holds another spec's runs (without overwrite), or that is not
// a sweep folder.
SweepSummary run_sweep(const SweepSpec& spec, const SweepOptions& options);

}  // namespace mhc
