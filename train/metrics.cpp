// metrics.cpp — the metrics.jsonl writer, its truncation on resume, Amax
// gains as JSON, and reading runs back for the plots.
#include "train/metrics.h"

#include <filesystem>
#include <stdexcept>

#include "datasets/file_io.h"

namespace mhc {

MetricsWriter::MetricsWriter(const std::string& path) : path_(path) {
  file_ = std::fopen(path.c_str(), "a");
  if (!file_) throw std::runtime_error("cannot open " + path + " for writing");
}

MetricsWriter::~MetricsWriter() {
  if (file_) std::fclose(file_);
}

void MetricsWriter::write(const json::Value& line) {
  const std::string s = line.dump() + "\n";
  if (std::fwrite(s.data(), 1, s.size(), file_) != s.size() || std::fflush(file_) != 0)
    throw std::runtime_error("writing " + path_ + " failed (disk full?)");
}

void truncate_metrics(const std::string& path, int64_t steps) {
  if (!std::filesystem::exists(path)) return;
  bool truncated = false;
  const std::vector<json::Value> lines = json::parse_lines_file(path, &truncated);
  std::string kept;
  for (const json::Value& v : lines) {
    if (!v.contains("step")) continue;
    const int64_t step = v.at("step").as_int();
    if (v.contains("val_loss") ? step <= steps : step < steps) kept += v.dump() + "\n";
  }
  write_file_atomically(path, kept, path + ".tmp");
}

json::Value amax_to_json(const std::vector<SiteGain>& gains) {
  json::Value a;
  a["order"] = "max over rows/columns per token, then mean over tokens";
  auto field = [&](const char* name, double SiteGain::*member) {
    json::Value arr = json::Value::array();
    for (const SiteGain& g : gains) arr.push_back(g.*member);
    a[name] = arr;
  };
  field("forward", &SiteGain::forward);
  field("backward", &SiteGain::backward);
  field("composite_forward", &SiteGain::composite_forward);
  field("composite_backward", &SiteGain::composite_backward);
  field("min_row_sum", &SiteGain::min_row_sum);
  field("min_col_sum", &SiteGain::min_col_sum);
  field("composite_min_row_sum", &SiteGain::composite_min_row_sum);
  field("composite_min_col_sum", &SiteGain::composite_min_col_sum);
  return a;
}

namespace {
double number_or_nan(const json::Value& v, const char* key) {
  const json::Value* x = v.find(key);
  return x && x->is_number() ? x->as_number() : NAN;
}
std::vector<double> numbers(const json::Value& arr) {
  std::vector<double> out;
  for (const auto& x : arr.as_array()) out.push_back(x.is_number() ? x.as_number() : NAN);
  return out;
}
double max_of(const std::vector<double>& v) {
  double m = NAN;
  for (double x : v)
    if (!(m >= x)) m = x;
  return m;
}
}  // namespace

RunMetrics read_run_metrics(const std::string& run_dir) {
  const std::string path = run_dir + "/metrics.jsonl";
  if (!std::filesystem::exists(path))
    throw std::runtime_error("no metrics in " + run_dir + " (expected " + path + "; is it an mhc run directory?)");
  RunMetrics r;
  r.label = std::filesystem::path(run_dir).lexically_normal().filename().string();
  if (r.label.empty()) r.label = std::filesystem::path(run_dir).lexically_normal().parent_path().filename().string();
  bool truncated = false;  // a run killed mid-line: the last line is dropped
  for (const json::Value& v : json::parse_lines_file(path, &truncated)) {
    if (!v.contains("step")) continue;
    const double step = v.at("step").as_number();
    if (v.contains("val_loss")) {
      r.eval_step.push_back(step);
      r.val_loss.push_back(number_or_nan(v, "val_loss"));
      if (const json::Value* a = v.find("amax")) {
        r.last_site_forward = numbers(a->at("composite_forward"));
        r.last_site_backward = numbers(a->at("composite_backward"));
        r.last_site_single_backward = numbers(a->at("backward"));
        r.amax_forward_max.push_back(max_of(r.last_site_forward));
        r.amax_backward_max.push_back(max_of(r.last_site_backward));
      } else {
        r.amax_forward_max.push_back(NAN);
        r.amax_backward_max.push_back(NAN);
      }
    } else if (v.contains("loss")) {
      r.step.push_back(step);
      r.loss.push_back(number_or_nan(v, "loss"));
      r.grad_norm.push_back(number_or_nan(v, "grad_norm"));
      r.lr.push_back(number_or_nan(v, "lr"));
      r.tokens_per_s.push_back(number_or_nan(v, "tokens_per_s"));
    }
  }
  return r;
}

}  // namespace mhc
