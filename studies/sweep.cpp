// sweep.cpp — see sweep.h. The sweep is a thin layer over Trainer: it turns
// grid points into `mhc train` flags, runs them in order, and keeps the
// bookkeeping (sweep.json, outcome.json) that lets a re-run continue.
#include "studies/sweep.h"

#include <fmt/core.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <stdexcept>

#include "fileio/file_io.h"
#include "train/checkpoint.h"
#include "train/flops.h"
#include "train/metrics.h"
#include "train/progress.h"
#include "studies/report.h"
#include "train/run_lock.h"
#include "train/train_flags.h"
#include "train/trainer.h"

namespace fs = std::filesystem;

namespace mhc {

namespace {

// Flags the sweep sets itself, per run.
bool reserved_flag(const std::string& flag) {
  for (const char* f : {"run", "resume", "overwrite", "override", "help", "help-all"})
    if (flag == f) return true;
  return false;
}

bool scalar(const Json& v) { return v.is_string() || v.is_number() || v.is_boolean(); }

// The `mhc train` arguments for flag = value.
std::vector<std::string> flag_args(const std::string& flag, const Json& v) {
  if (v.is_boolean()) return v.get<bool>() ? std::vector<std::string>{"--" + flag} : std::vector<std::string>{};
  return {"--" + flag, json::plain_text(v)};
}

// A value as it appears in a run id: blocks8, lr0.003, static / nostatic.
std::string id_part(const std::string& flag, const Json& v) {
  const std::string short_name = flag.substr(flag.rfind('.') + 1);
  std::string s = v.is_boolean() ? (v.get<bool>() ? short_name : "no" + short_name) : short_name + json::plain_text(v);
  for (char& ch : s)
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '.' && ch != '_' && ch != '+') ch = '_';
  return s;
}

std::string variant_name(const TrainConfig& c) {
  const std::string kind = residual_kind_name(c.model.site.kind);
  return c.model.site.kind == ResidualKind::Residual ? kind : fmt::format("{}-n{}", kind, c.model.site.streams);
}

// Settings a user reads a run by: "residual=hc seed=2 model.blocks=8".
std::string describe_point(const Json& settings) {
  std::string s;
  for (const auto& [flag, v] : settings.items()) s += (s.empty() ? "" : " ") + flag + "=" + json::plain_text(v);
  return s.empty() ? "(the base)" : s;
}

std::string spec_error(const std::string& path, const std::string& what) { return path + ": " + what; }

}  // namespace

SweepSpec parse_sweep_spec(const std::string& path) {
  require_regular_file(path, "sweep spec");
  Json v;
  try {
    v = json::parse_file(path);
  } catch (const std::exception& e) {
    throw std::invalid_argument(std::string("sweep spec is not valid JSON: ") + e.what());
  }
  return parse_sweep_spec(v, fs::path(path).stem().string(), path);
}

SweepSpec parse_sweep_spec(const Json& v, const std::string& name, const std::string& path) {
  SweepSpec spec;
  spec.name = name;
  spec.path = path;
  spec.source = v;
  if (name.empty() ||
      name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
          std::string::npos ||
      name[0] == '.')
    throw std::invalid_argument(spec_error(path, "the sweep's name '" + name +
                                                     "' (the file's stem) may hold only letters, digits, '.', '_' "
                                                     "and '-', and may not start with '.'"));
  if (!v.is_object())
    throw std::invalid_argument(spec_error(path, "a sweep spec is a JSON object with \"base\" and \"axes\""));
  for (const auto& [key, value] : v.items())
    if (key != "description" && key != "base" && key != "axes")
      throw std::invalid_argument(
          spec_error(path, "unknown key \"" + key + "\" (a spec has \"description\", \"base\" and \"axes\")"));

  // The flags `mhc train` knows, to name a misspelt one before anything runs.
  TrainFlags flags(preset("cpu-char"));
  CLI::App cmd;
  flags.bind(cmd);
  auto check_flag = [&](const std::string& where, const std::string& flag, const Json& value) {
    if (flag.rfind("-", 0) == 0)
      throw std::invalid_argument(spec_error(path, where + ": write flags without the leading dashes: \"" +
                                                       flag.substr(flag.find_first_not_of('-')) + "\", not \"" + flag +
                                                       "\""));
    if (reserved_flag(flag))
      throw std::invalid_argument(
          spec_error(path, where + ": --" + flag + " is set by the sweep for each run and cannot be given"));
    const CLI::Option* opt = cmd.get_option_no_throw("--" + flag);
    if (!opt)
      throw std::invalid_argument(spec_error(
          path,
          where + ": unknown flag \"" + flag + "\" (the names are those of `mhc train --help-all`, without \"--\")"));
    if (!scalar(value))
      throw std::invalid_argument(spec_error(
          path,
          where + ": the value of \"" + flag + "\" must be a string, number or boolean, not " + json::dump(value)));
    const bool is_flag = opt->get_expected_max() == 0;  // --hc.static, --model.tie_embeddings: no value
    if (is_flag != value.is_boolean())
      throw std::invalid_argument(spec_error(path, where + ": \"" + flag + "\" " +
                                                       (is_flag ? "is an on/off flag: give true or false"
                                                                : "takes a value: true/false only fit on/off flags")));
  };

  if (const Json* base = json::find(v, "base")) {
    if (!base->is_object()) throw std::invalid_argument(spec_error(path, "\"base\" must be an object of flag: value"));
    for (const auto& [flag, value] : base->items()) {
      check_flag("base", flag, value);
      spec.base.emplace_back(flag, value);
    }
  }
  const Json* axes = json::find(v, "axes");
  if (!axes || !axes->is_object())
    throw std::invalid_argument(
        spec_error(path, "\"axes\" must be an object of flag: [values] (e.g. \"seed\": [1, 2, 3])"));
  for (const auto& [flag, values] : axes->items()) {
    if (!values.is_array())
      throw std::invalid_argument(
          spec_error(path, "axis \"" + flag + "\" must be a list of values, not " + json::dump(values)));
    if (values.empty()) throw std::invalid_argument(spec_error(path, "axis \"" + flag + "\" is empty"));
    for (const auto& [b, unused] : spec.base)
      if (b == flag)
        throw std::invalid_argument(spec_error(path, "\"" + flag + "\" is in both \"base\" and \"axes\"; keep one"));
    std::vector<Json> list;
    for (const Json& value : values) {
      check_flag("axis \"" + flag + "\"", flag, value);
      for (const Json& seen : list)
        if (seen == value)
          throw std::invalid_argument(spec_error(
              path, "axis \"" + flag + "\" lists " + json::dump(value) + " twice (two runs would share a directory)"));
      list.push_back(value);
    }
    spec.axes.emplace_back(flag, std::move(list));
  }
  return spec;
}

std::vector<SweepRun> expand_grid(const SweepSpec& spec, const std::string& dir) {
  size_t total = 1;
  std::string sizes;  // "3 × 100 × ..."
  for (const auto& [flag, values] : spec.axes) {
    sizes += (sizes.empty() ? "" : " × ") + std::to_string(values.size());
    // Checked before multiplying, so a huge grid cannot overflow past the bound.
    if (values.size() > kMaxGridPoints || total * values.size() > kMaxGridPoints)
      throw std::invalid_argument(spec_error(
          spec.path, fmt::format("the grid has more than {} points ({} values per axis); split the study into "
                                 "several specs",
                                 kMaxGridPoints, sizes)));
    total *= values.size();
  }
  std::vector<SweepRun> runs;
  std::map<std::string, std::string> by_id;  // id → the point's settings, to name a collision
  std::vector<size_t> index(spec.axes.size(), 0);
  for (size_t point = 0; point < total; ++point) {
    // The first axis varies fastest: a sweep cut short has whole sets of variants.
    size_t rest = point;
    for (size_t a = 0; a < spec.axes.size(); ++a) {
      index[a] = rest % spec.axes[a].second.size();
      rest /= spec.axes[a].second.size();
    }
    SweepRun run;
    run.settings = Json::object();
    for (const auto& [flag, value] : spec.base)
      for (const std::string& arg : flag_args(flag, value)) run.args.push_back(arg);
    std::string group;
    for (size_t a = 0; a < spec.axes.size(); ++a) {
      const auto& [flag, values] = spec.axes[a];
      const Json& value = values[index[a]];
      run.settings[flag] = value;
      for (const std::string& arg : flag_args(flag, value)) run.args.push_back(arg);
      if (flag != "residual" && flag != "seed" && flag != "streams")
        group += (group.empty() ? "" : "-") + id_part(flag, value);
    }
    try {
      run.config = parse_train_flags(run.args);
    } catch (const std::exception& e) {
      throw std::invalid_argument(
          spec_error(spec.path, "the run " + describe_point(run.settings) + " is refused: " + e.what()));
    }
    run.group = group;
    run.variant = variant_name(run.config);
    run.id = (group.empty() ? "" : group + "-") + run.variant + "-s" + std::to_string(run.config.seed);
    run.config.run_dir = (fs::path(dir) / spec.name / run.id).string();
    const std::string described = describe_point(run.settings);
    if (auto [it, fresh] = by_id.emplace(run.id, described); !fresh)
      throw std::invalid_argument(spec_error(spec.path, "the runs " + it->second + " and " + described +
                                                            " would share the directory " + run.config.run_dir));
    runs.push_back(std::move(run));
  }
  return runs;
}

Json sweep_json(const SweepSpec& spec, const std::vector<SweepRun>& runs) {
  Json out;
  out["name"] = spec.name;
  out["spec"] = spec.source;
  Json axes = Json::array();
  for (const auto& [flag, values] : spec.axes) {
    Json axis;
    axis["flag"] = flag;
    Json list = Json::array();
    for (const Json& value : values) list.push_back(value);
    axis["values"] = list;
    axes.push_back(axis);
  }
  out["axes"] = axes;
  Json list = Json::array();
  for (const SweepRun& r : runs) {
    Json j;
    j["id"] = r.id;
    j["dir"] = r.id;
    j["group"] = r.group;
    j["variant"] = r.variant;
    j["residual"] = residual_kind_name(r.config.model.site.kind);
    j["streams"] = r.config.model.site.streams;
    j["seed"] = r.config.seed;
    j["settings"] = r.settings;
    j["steps"] = r.config.optim.steps;
    j["warmup"] = r.config.optim.warmup;
    Json args = Json::array();
    for (const std::string& a : r.args) args.push_back(a);
    j["args"] = args;
    list.push_back(j);
  }
  out["runs"] = list;
  return out;
}

namespace {

// Seconds a run of `c` should take: two timed training steps (after one to
// warm up) of a throw-away run, times the step count, plus its evaluations
// (a forward pass of a batch costs about a third of a training step), plus
// what setting up took there (data, model, the first evaluation).
double estimate_seconds(const TrainConfig& c, const std::string& scratch) {
  TrainConfig t = c;
  t.run_dir = (fs::path(scratch) / "timing").string();
  t.optim.steps = 3;
  t.eval.every = 1000;
  t.eval.batches = 1;
  t.eval.sample_tokens = 0;
  RunOptions o;
  o.quiet = true;
  o.plots = false;
  o.overwrite = true;
  const auto t0 = std::chrono::steady_clock::now();
  Trainer(t, o).run();
  const double wall_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  const std::vector<double> ms = read_run_metrics(t.run_dir).ms_per_step;
  fs::remove_all(t.run_dir);
  const double step_ms = ms.size() >= 3 ? std::min(ms[1], ms[2]) : ms.empty() ? 0.0 : ms.back();
  double steps_ms = 0;
  for (double m : ms) steps_ms += m;
  const double setup_ms = std::max(0.0, wall_ms - steps_ms);
  // Step 0, every eval.every steps, and the last step when eval.every does not divide the run.
  const int64_t evals = 1 + c.optim.steps / c.eval.every + (c.optim.steps % c.eval.every != 0);
  return (setup_ms + static_cast<double>(c.optim.steps) * step_ms +
          static_cast<double>(evals * c.eval.batches) * step_ms / 3.0) /
         1000.0;
}

// A key that is the same for runs that differ only in seed (same speed).
std::string timing_key(const TrainConfig& c) {
  TrainConfig k = c;
  k.seed = 0;
  k.run_dir.clear();
  return json::dump(to_json(k));
}

void write_json_atomically(const std::string& path, const Json& v) {
  write_file_atomically(path, json::dump(v, 2) + "\n", path + ".tmp");
}

double best_val_loss(const std::string& run_dir) {
  double best = NAN;
  for (double v : read_run_metrics(run_dir).val_loss)
    if (std::isfinite(v) && !(v >= best)) best = v;
  return best;
}

}  // namespace

// Whether `root` holds nothing but what this grid's sweep writes: its run
// folders, sweep.json, report.md, figures and the lock (so a missing or
// damaged sweep.json can be rebuilt without losing anything).
bool holds_only_grid(const fs::path& root, const std::vector<SweepRun>& runs) {
  for (const auto& e : fs::directory_iterator(root)) {
    const fs::path name = e.path().filename();
    if (e.is_directory()) {
      if (std::none_of(runs.begin(), runs.end(),
                       [&](const SweepRun& r) { return fs::path(r.config.run_dir).filename() == name; }))
        return false;
    } else if (!(name == kLockFile || name == "sweep.json" || name == "sweep.json.tmp" || name == "report.md" ||
                 name == "report.md.tmp" || name.extension() == ".png" || name.extension() == ".tmp")) {
      return false;
    }
  }
  return true;
}

// The timing scratch folders (mhc-sweep-<pid> in the temporary directory)
// that sweeps killed while timing left behind: those whose process is gone.
void remove_stale_scratch() {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(fs::temp_directory_path(ec), ec)) {
    const std::string name = e.path().filename().string(), prefix = "mhc-sweep-";
    long pid = 0;
    const char* digits = name.data() + std::min(name.size(), prefix.size());
    const auto [end, err] = std::from_chars(digits, name.data() + name.size(), pid);
    if (name.rfind(prefix, 0) != 0 || err != std::errc() || end != name.data() + name.size() || pid <= 0) continue;
    if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;  // its sweep still runs
    fs::remove_all(e.path(), ec);
  }
}

namespace {

// Prints unless the sweep is quiet, at once (a sweep runs for hours).
void say(const SweepOptions& opt, const std::string& s) {
  if (opt.quiet) return;
  fmt::print("{}", s);
  std::fflush(stdout);
}

// Whether the sweep's folder must be deleted first (it holds another spec's
// sweep, or files that are not a sweep's, and --overwrite was given); throws
// when it would be and was not asked. Takes the folder's lock when it exists
// (a dry run writes nothing and takes none).
bool folder_to_replace(const SweepSpec& spec, const SweepOptions& opt, const std::vector<SweepRun>& runs,
                       const fs::path& root, std::unique_ptr<RunLock>& lock) {
  if (!fs::exists(root)) return false;
  if (!fs::is_directory(root)) throw std::invalid_argument(root.string() + " exists and is not a folder");
  if (!opt.dry_run) lock = std::make_unique<RunLock>(root.string(), "sweep");
  const std::string sweep_file = (root / "sweep.json").string();
  std::string damaged;  // why sweep.json cannot be read, when it cannot
  Json old;
  try {
    if (fs::exists(sweep_file)) old = json::parse_file(sweep_file);
  } catch (const std::exception& e) {
    damaged = e.what();
  }
  if (!old.is_null()) {
    const Json* old_spec = json::find(old, "spec");
    if (old_spec && *old_spec == spec.source) return false;
    if (!opt.overwrite)
      throw std::invalid_argument(root.string() + " holds a sweep made from a different spec than " + spec.path +
                                  " (see its sweep.json); pass --overwrite to delete it and start again, or "
                                  "rename the spec to keep both");
    return true;
  }
  if (holds_only_grid(root, runs)) {
    // Its bookkeeping was lost (or damaged), its runs were not: sweep.json is written again.
    if (fs::exists(sweep_file) || std::any_of(fs::directory_iterator(root), fs::directory_iterator(),
                                              [](const fs::directory_entry& e) { return e.is_directory(); }))
      fmt::print(stderr, "warning: {} is {}; rebuilt from {} and the run folders\n", sweep_file,
                 damaged.empty() ? "missing" : "damaged (" + damaged + ")", spec.path);
    return false;
  }
  if (!opt.overwrite)
    throw std::invalid_argument(root.string() + " holds files that are not this sweep's and has no " +
                                (damaged.empty() ? "sweep.json" : "readable sweep.json (" + damaged + ")") +
                                ", so it is not this sweep's folder; pass --overwrite to delete it, or use "
                                "another --dir");
  return true;
}

// Each run's outcome.json: null when it has none, or when it is damaged
// (said once): the run is then continued, which writes it again (a
// finished run trains nothing more).
std::vector<Json> read_outcomes(const std::vector<SweepRun>& runs) {
  std::vector<Json> outcomes(runs.size());
  for (size_t i = 0; i < runs.size(); ++i) {
    const std::string p = (fs::path(runs[i].config.run_dir) / "outcome.json").string();
    if (!fs::exists(p)) continue;
    try {
      Json v = json::parse_file(p);
      const Json* status = json::find(v, "status");
      if (!status || !(*status == "finished" || *status == "diverged"))
        throw std::runtime_error(p + ": \"status\" is not \"finished\" or \"diverged\"");
      outcomes[i] = std::move(v);
    } catch (const std::exception& e) {
      fmt::print(stderr, "warning: {} is damaged ({}); the sweep checks that run again\n", p, e.what());
    }
  }
  return outcomes;
}

// Estimated seconds per run still to do, timed once per distinct configuration.
struct Estimates {
  std::vector<double> seconds;  // per run; 0 for a run that ended earlier
  double total = 0;
  std::string untimed;  // dry run: why the runs could not be timed here (e.g. no GPU)
};
Estimates estimate_runs(const SweepSpec& spec, const SweepOptions& opt, const std::vector<SweepRun>& runs,
                        const std::vector<size_t>& todo) {
  Estimates est;
  est.seconds.assign(runs.size(), 0.0);
  if (todo.empty()) return est;
  const std::string scratch = (fs::temp_directory_path() / fmt::format("mhc-sweep-{}", ::getpid())).string();
  remove_stale_scratch();
  std::set<std::string> keys;
  for (size_t i : todo) keys.insert(timing_key(runs[i].config));
  say(opt, fmt::format("timing each of the {} configuration(s) of {} (3 steps each)...\n", keys.size(), spec.name));
  std::map<std::string, double> timed;
  try {
    auto said = std::chrono::steady_clock::now();
    for (size_t i : todo) {
      const std::string key = timing_key(runs[i].config);
      if (!timed.count(key)) {
        timed[key] = estimate_seconds(runs[i].config, scratch);
        // A long timing pass says how far it is, every 5 s at most.
        const auto now = std::chrono::steady_clock::now();
        if (now - said > std::chrono::seconds(5) && timed.size() < keys.size()) {
          say(opt, fmt::format("  timed {} of {}\n", timed.size(), keys.size()));
          said = now;
        }
      }
      est.seconds[i] = timed[key];
    }
  } catch (const std::exception& e) {
    fs::remove_all(scratch);
    if (!opt.dry_run) throw;
    est.untimed = e.what();
    std::fill(est.seconds.begin(), est.seconds.end(), NAN);
  }
  fs::remove_all(scratch);
  for (size_t i : todo) est.total += est.seconds[i];
  return est;
}

// --dry-run: the grid, each run's estimate, and the total.
void print_dry_run(const SweepSpec& spec, const SweepOptions& opt, const std::vector<SweepRun>& runs,
                   const fs::path& root, bool replace, const std::vector<size_t>& todo, const Estimates& est) {
  std::string table = fmt::format("{}: {} runs under {}{}\n", spec.name, runs.size(), root.string(),
                                  replace ? " (--overwrite: the folder there would be deleted first)" : "");
  std::vector<bool> to_do(runs.size(), false);
  for (size_t i : todo) to_do[i] = true;
  for (size_t i = 0; i < runs.size(); ++i) {
    const double e = est.seconds[i];
    table += fmt::format("  {:<36} {:>7} steps  {}\n", runs[i].id, runs[i].config.optim.steps,
                         !to_do[i]          ? "(ended earlier)"
                         : std::isfinite(e) ? "~" + Progress::format_duration(e)
                                            : "");
  }
  if (est.untimed.empty())
    table += fmt::format("estimated time: {} for {} runs to do (timed here, 3 steps per configuration)\n",
                         Progress::format_duration(est.total), todo.size());
  else
    table += fmt::format("estimated time: unknown, the runs cannot be timed here: {}\n", est.untimed);
  say(opt, table);
}

// Trains (or continues) one run of the sweep, at most `budget` steps (-1: no
// limit); returns its outcome.json without the wall time. The parameters,
// FLOPs per token and tokens seen are the confounds the report shows beside
// each variant's losses (report.h).
Json train_one(const SweepRun& r, int64_t budget, TrainResult& result) {
  const fs::path run_dir(r.config.run_dir);
  RunOptions ro;
  ro.quiet = true;
  ro.catch_interrupt = true;
  ro.stop_above_initial_loss = true;
  ro.stop_after = budget;
  ro.resume = fs::exists(run_dir / kCheckpointFile);
  ro.overwrite = !ro.resume && fs::exists(run_dir);  // stopped before its first checkpoint: nothing to keep
  const double tokens_per_step =
      static_cast<double>(r.config.optim.batch_size * r.config.model.block_size * r.config.optim.grad_accum);
  Json outcome;
  try {
    Trainer trainer(r.config, ro);
    outcome["parameters"] = trainer.config().model.parameter_count();  // vocabulary known once built
    outcome["flops_per_token"] = training_flops_per_token(trainer.config().model);
    result = trainer.run();
    outcome["status"] = "finished";
    outcome["step"] = result.end_step;
    outcome["reason"] = "";
    outcome["tokens"] = static_cast<double>(result.end_step) * tokens_per_step;
  } catch (const DivergenceError& e) {
    outcome["status"] = "diverged";
    outcome["step"] = e.step;
    outcome["reason"] = e.what();
    outcome["tokens"] = static_cast<double>(e.step + 1) * tokens_per_step;  // its steps, the one that diverged included
    result.diverged = true;
  }
  return outcome;
}

// The line that ends a run's row: its loss or why it diverged, its time, the ETA.
std::string run_line(const SweepRun& r, const TrainResult& result, const Json& outcome, double wall,
                     const std::string& eta_text) {
  if (result.diverged) {
    const std::string reason = outcome.at("reason").get<std::string>();
    return fmt::format("diverged at step {} ({}) | {}{}\n", outcome.at("step").get<double>(),
                       reason.substr(0, reason.find(';')), Progress::format_duration(wall), eta_text);
  }
  return fmt::format("val loss {:.4f} (best {:.4f}) | {}{}\n", result.last_val_loss, best_val_loss(r.config.run_dir),
                     Progress::format_duration(wall), eta_text);
}

}  // namespace

// Plan (the folder, what ended earlier, the estimate), then run what is left
// in grid order, then the report.
SweepSummary run_sweep(const SweepSpec& spec, const SweepOptions& opt) {
  const std::vector<SweepRun> runs = expand_grid(spec, opt.dir);
  const fs::path root = fs::path(opt.dir) / spec.name;
  SweepSummary summary;
  summary.runs = static_cast<int64_t>(runs.size());
  std::unique_ptr<RunLock> lock;  // one sweep at a time in a folder (a dry run writes nothing)
  const bool replace = folder_to_replace(spec, opt, runs, root, lock);
  const std::vector<Json> outcomes = replace ? std::vector<Json>(runs.size()) : read_outcomes(runs);
  std::vector<size_t> todo;
  for (size_t i = 0; i < runs.size(); ++i)
    if (outcomes[i].is_null()) todo.push_back(i);
  const Estimates est = estimate_runs(spec, opt, runs, todo);
  summary.estimated_s = est.total;
  if (opt.dry_run) {
    print_dry_run(spec, opt, runs, root, replace, todo, est);
    return summary;
  }

  if (replace) {
    fs::remove_all(root);
    lock.reset();  // its file went with the folder
  }
  fs::create_directories(root);
  if (!lock) lock = std::make_unique<RunLock>(root.string(), "sweep");
  write_json_atomically((root / "sweep.json").string(), sweep_json(spec, runs));
  say(opt, fmt::format("sweep {}: {} runs in {} ({} to do, estimated {})\n", spec.name, runs.size(), root.string(),
                       todo.size(), Progress::format_duration(est.total)));

  int64_t budget = opt.stop_after_steps;
  double spent = 0, spent_estimate = 0, remaining_estimate = est.total;
  const int width = static_cast<int>(std::to_string(runs.size()).size());
  for (size_t i = 0; i < runs.size(); ++i) {
    const SweepRun& r = runs[i];
    const std::string head = fmt::format("[{:>{}}/{}] {:<32}", i + 1, width, runs.size(), r.id);
    if (const Json& done = outcomes[i]; !done.is_null()) {
      const std::string status = done.at("status").get<std::string>();
      ++summary.skipped;
      (status == "diverged" ? summary.diverged : summary.finished) += 1;
      say(opt, fmt::format("{} {} earlier\n", head, status));
      continue;
    }
    say(opt, head + " ");
    const auto t0 = std::chrono::steady_clock::now();
    TrainResult result;
    Json outcome = train_one(r, budget, result);
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (budget >= 0 && !result.diverged) budget -= result.end_step - result.first_step;
    if (!result.diverged && (result.interrupted || result.end_step < r.config.optim.steps)) {
      say(opt, fmt::format("stopped after step {} of {}; run the same command again to continue\n", result.end_step,
                           r.config.optim.steps));
      summary.stopped = true;
      return summary;
    }
    outcome["wall_s"] = wall;
    write_json_atomically((fs::path(r.config.run_dir) / "outcome.json").string(), outcome);
    spent += wall;
    spent_estimate += est.seconds[i];
    remaining_estimate -= est.seconds[i];
    const double eta = remaining_estimate * (spent_estimate > 0 ? spent / spent_estimate : 1.0);
    ++(result.diverged ? summary.diverged : summary.finished);
    say(opt, run_line(r, result, outcome, wall, i + 1 < runs.size() ? " | ETA " + Progress::format_duration(eta) : ""));
  }
  say(opt, fmt::format("sweep {}: {} finished, {} diverged\n", spec.name, summary.finished, summary.diverged));
  if (opt.report) {
    const std::vector<std::string> files = write_sweep_report(root.string(), root.string());
    say(opt, fmt::format("report: {}\n", files.empty() ? root.string() : files.back()));
  }
  return summary;
}

}  // namespace mhc
