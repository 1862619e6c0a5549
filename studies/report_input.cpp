// report_input.cpp — reading a sweep folder: sweep.json's grid, each run's
// outcome.json and metrics.jsonl.
#include "studies/report_input.h"

#include <fmt/format.h>

#include <filesystem>
#include <set>
#include <stdexcept>

#include "fileio/file_io.h"
#include "fileio/json_io.h"

namespace mhc {

namespace fs = std::filesystem;

const char* status_name(RunStatus s) {
  switch (s) {
    case RunStatus::finished: return "finished";
    case RunStatus::diverged: return "diverged";
    case RunStatus::incomplete: return "incomplete";
    case RunStatus::missing: return "missing";
  }
  return "?";
}

namespace {

// A setting's value as a person writes it: strings without quotes.
std::string plain(const Json& v) { return json::plain_text(v); }

// Axis flags that make the variant and the seed rather than the configuration.
bool variant_or_seed(const std::string& flag) {
  return flag == "residual" || flag == "streams" || flag == "seed" || flag == "seeds";
}

SweepPoint read_point(const Json& r, size_t index, const std::string& file) {
  const auto field = [&](const char* key) -> const Json& {
    const Json* v = json::find(r, key);
    if (!v) throw std::runtime_error(fmt::format("{}: runs[{}] has no \"{}\"", file, index, key));
    return *v;
  };
  const auto text = [&](const char* key) {
    const Json& v = field(key);
    if (!v.is_string())
      throw std::runtime_error(fmt::format("{}: runs[{}].{} is a {}, not a string", file, index, key, v.type_name()));
    return v.get<std::string>();
  };
  const auto integer = [&](const char* key, int64_t fallback) -> int64_t {
    const Json* v = json::find(r, key);
    if (!v) return fallback;
    if (v->is_number_integer()) return v->get<int64_t>();
    throw std::runtime_error(
        fmt::format("{}: runs[{}].{}: expected an integer, not {}", file, index, key, json::dump(*v)));
  };
  SweepPoint p;
  p.id = text("id");
  if (p.id.empty() || p.id == "." || p.id == ".." || p.id.find('/') != std::string::npos ||
      p.id.find('\0') != std::string::npos)
    throw std::runtime_error(
        fmt::format("{}: runs[{}] has id '{}', which is not a plain folder name", file, index, p.id));
  p.group = text("group");
  p.variant = text("variant");
  p.residual = text("residual");
  const Json& seed = field("seed");
  if (!seed.is_string() && !seed.is_number())
    throw std::runtime_error(fmt::format("{}: runs[{}].seed is a {}, not a number", file, index, seed.type_name()));
  p.seed = plain(seed);
  p.streams = integer("streams", 1);
  p.steps = integer("steps", 0);
  if (const Json* s = json::find(r, "settings"); s && s->is_object()) {
    for (const auto& [flag, value] : s->items()) {
      if (variant_or_seed(flag)) continue;
      p.settings += (p.settings.empty() ? "" : " ") + flag + "=" + plain(value);
    }
  }
  return p;
}

// outcome.json into r (status, step, reason, wall time); a malformed one
// leaves the run incomplete with the problem noted.
void read_outcome(const std::string& path, RunResult& r) {
  r.status = RunStatus::incomplete;
  if (!fs::exists(path)) return;
  try {
    const Json v = json::parse_file(path);
    const std::string status = v.at("status").get<std::string>();
    if (status != "finished" && status != "diverged")
      throw json::Error("\"status\" is '" + status + "', not 'finished' or 'diverged'");
    if (const Json* s = json::find(v, "step"); s && !s->is_null()) r.outcome_step = s->get<int64_t>();
    if (const Json* s = json::find(v, "reason"); s && s->is_string()) r.reason = s->get<std::string>();
    if (const Json* s = json::find(v, "wall_s"); s && s->is_number()) r.wall_s = s->get<double>();
    for (auto [key, field] : {std::pair{"parameters", &RunResult::parameters}, std::pair{"tokens", &RunResult::tokens},
                              std::pair{"flops_per_token", &RunResult::flops_per_token}})
      if (const Json* s = json::find(v, key); s && s->is_number()) r.*field = s->get<double>();
    r.status = status == "finished" ? RunStatus::finished : RunStatus::diverged;
  } catch (const std::exception& e) {
    r.problem = fmt::format("outcome.json unusable ({})", e.what());
    r.outcome_step = -1, r.reason.clear(), r.wall_s = NAN;
    r.parameters = r.tokens = r.flops_per_token = NAN;
  }
}

}  // namespace

SweepResults read_sweep_results(const std::string& sweep_dir) {
  if (!fs::is_directory(sweep_dir))
    throw std::runtime_error(fmt::format("mhc report: '{}' is not a folder{}", sweep_dir,
                                         fs::exists(sweep_dir) ? "" : " (it does not exist)"));
  const std::string file = (fs::path(sweep_dir) / "sweep.json").string();
  if (!fs::exists(file))
    throw std::runtime_error(
        fmt::format("mhc report: no sweep.json in '{}' (is it a folder written by mhc sweep?)", sweep_dir));
  require_regular_file(file, "sweep file");
  const Json v = json::parse_file(file);
  SweepResults out;
  if (!v.is_object()) throw std::runtime_error(file + ": not a JSON object");
  if (const Json* n = json::find(v, "name"); n && n->is_string()) out.name = n->get<std::string>();
  if (out.name.empty()) out.name = fs::path(sweep_dir).lexically_normal().filename().string();
  if (const Json* axes = json::find(v, "axes"); axes && axes->is_array()) {
    for (const Json& a : *axes) {
      const Json* flag = json::find(a, "flag");
      const Json* values = json::find(a, "values");
      if (!flag || !flag->is_string() || !values || !values->is_array())
        throw std::runtime_error(file + ": an entry of \"axes\" is not {\"flag\": string, \"values\": [...]}");
      std::vector<std::string> vs;
      for (const Json& x : *values) vs.push_back(plain(x));
      out.axes.emplace_back(flag->get<std::string>(), std::move(vs));
    }
  }
  const Json* runs = json::find(v, "runs");
  if (!runs || !runs->is_array()) throw std::runtime_error(file + ": no \"runs\" list");
  std::set<std::string> ids;
  for (size_t i = 0; i < runs->size(); ++i) {
    RunResult r;
    r.point = read_point((*runs)[i], i, file);
    if (!ids.insert(r.point.id).second)
      throw std::runtime_error(fmt::format("{}: two runs have the id '{}'", file, r.point.id));
    const fs::path dir = fs::path(sweep_dir) / r.point.id;
    if (fs::is_directory(dir)) {
      read_outcome((dir / "outcome.json").string(), r);
      if (fs::exists(dir / "metrics.jsonl")) {
        try {
          r.metrics = read_run_metrics(dir.string());
          r.has_metrics = true;
        } catch (const std::exception& e) {  // unreadable: reported with the run, the sweep still is
          r.metrics_problem = e.what();
        }
      }
    }
    out.runs.push_back(std::move(r));
  }
  return out;
}

}  // namespace mhc
