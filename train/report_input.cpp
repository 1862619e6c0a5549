// report_input.cpp — reading a sweep folder: sweep.json's grid, each run's
// outcome.json and metrics.jsonl.
#include "train/report_input.h"

#include <fmt/format.h>

#include <filesystem>
#include <set>
#include <stdexcept>

#include "datasets/file_io.h"
#include "train/json.h"

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
std::string plain(const json::Value& v) { return v.is_string() ? v.as_string() : v.dump(); }

// Axis flags that make the variant and the seed rather than the configuration.
bool variant_or_seed(const std::string& flag) {
  return flag == "residual" || flag == "streams" || flag == "seed" || flag == "seeds";
}

SweepPoint read_point(const json::Value& r, size_t index, const std::string& file) {
  const auto field = [&](const char* key) -> const json::Value& {
    const json::Value* v = r.is_object() ? r.find(key) : nullptr;
    if (!v)
      throw std::runtime_error(fmt::format("{}: runs[{}] has no \"{}\"", file, index, key));
    return *v;
  };
  const auto text = [&](const char* key) {
    const json::Value& v = field(key);
    if (!v.is_string())
      throw std::runtime_error(fmt::format("{}: runs[{}].{} is a {}, not a string", file, index, key,
                                           json::type_name(v.type())));
    return v.as_string();
  };
  const auto integer = [&](const char* key, int64_t fallback) -> int64_t {
    const json::Value* v = r.is_object() ? r.find(key) : nullptr;
    if (!v) return fallback;
    try {
      return v->as_int();
    } catch (const json::Error& e) {
      throw std::runtime_error(fmt::format("{}: runs[{}].{}: {}", file, index, key, e.what()));
    }
  };
  SweepPoint p;
  p.id = text("id");
  if (p.id.empty() || p.id == "." || p.id == ".." || p.id.find('/') != std::string::npos ||
      p.id.find('\0') != std::string::npos)
    throw std::runtime_error(fmt::format("{}: runs[{}] has id '{}', which is not a plain folder name", file, index, p.id));
  p.group = text("group");
  p.variant = text("variant");
  p.residual = text("residual");
  const json::Value& seed = field("seed");
  if (!seed.is_string() && !seed.is_number())
    throw std::runtime_error(fmt::format("{}: runs[{}].seed is a {}, not a number", file, index, json::type_name(seed.type())));
  p.seed = plain(seed);
  p.streams = integer("streams", 1);
  p.steps = integer("steps", 0);
  if (const json::Value* s = r.find("settings"); s && s->is_object()) {
    for (const auto& [flag, value] : s->as_object()) {
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
    const json::Value v = json::parse_file(path);
    const std::string status = v.at("status").as_string();
    if (status != "finished" && status != "diverged")
      throw json::Error("\"status\" is '" + status + "', not 'finished' or 'diverged'");
    if (const json::Value* s = v.find("step"); s && !s->is_null()) r.outcome_step = s->as_int();
    if (const json::Value* s = v.find("reason"); s && s->is_string()) r.reason = s->as_string();
    if (const json::Value* s = v.find("wall_s"); s && s->is_number()) r.wall_s = s->as_number();
    r.status = status == "finished" ? RunStatus::finished : RunStatus::diverged;
  } catch (const std::exception& e) {
    r.problem = fmt::format("outcome.json unusable ({})", e.what());
    r.outcome_step = -1, r.reason.clear(), r.wall_s = NAN;
  }
}

}  // namespace

SweepResults read_sweep_results(const std::string& sweep_dir) {
  if (!fs::is_directory(sweep_dir))
    throw std::runtime_error(fmt::format("mhc report: '{}' is not a folder{}", sweep_dir,
                                         fs::exists(sweep_dir) ? "" : " (it does not exist)"));
  const std::string file = (fs::path(sweep_dir) / "sweep.json").string();
  if (!fs::exists(file))
    throw std::runtime_error(fmt::format("mhc report: no sweep.json in '{}' (is it a folder written by mhc sweep?)",
                                         sweep_dir));
  require_regular_file(file, "sweep file");
  const json::Value v = json::parse_file(file);
  SweepResults out;
  if (!v.is_object()) throw std::runtime_error(file + ": not a JSON object");
  if (const json::Value* n = v.find("name"); n && n->is_string()) out.name = n->as_string();
  if (out.name.empty()) out.name = fs::path(sweep_dir).lexically_normal().filename().string();
  if (const json::Value* axes = v.find("axes"); axes && axes->is_array()) {
    for (const json::Value& a : axes->as_array()) {
      const json::Value* flag = a.is_object() ? a.find("flag") : nullptr;
      const json::Value* values = a.is_object() ? a.find("values") : nullptr;
      if (!flag || !flag->is_string() || !values || !values->is_array())
        throw std::runtime_error(file + ": an entry of \"axes\" is not {\"flag\": string, \"values\": [...]}");
      std::vector<std::string> vs;
      for (const json::Value& x : values->as_array()) vs.push_back(plain(x));
      out.axes.emplace_back(flag->as_string(), std::move(vs));
    }
  }
  const json::Value* runs = v.find("runs");
  if (!runs || !runs->is_array()) throw std::runtime_error(file + ": no \"runs\" list");
  std::set<std::string> ids;
  for (size_t i = 0; i < runs->as_array().size(); ++i) {
    RunResult r;
    r.point = read_point(runs->as_array()[i], i, file);
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
