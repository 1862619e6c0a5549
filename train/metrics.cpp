// metrics.cpp — the metrics.jsonl writer, its truncation on resume, Amax
// gains as JSON, and reading runs back for the plots.
#include "train/metrics.h"

#include <fmt/format.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "fileio/file_io.h"

namespace mhc {

MetricsWriter::MetricsWriter(const std::string& path) : path_(path) {
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
  if (fd_ < 0) throw WriteError(fmt::format("cannot open '{}' for writing: {}", path, std::strerror(errno)));
  try {
    sync_parent_folder(path);  // a newly created log survives a power loss
  } catch (...) {
    ::close(fd_);
    throw;
  }
}

MetricsWriter::~MetricsWriter() {
  if (fd_ >= 0) ::close(fd_);
}

void MetricsWriter::write(const Json& line) {
  if (fd_ < 0) throw std::logic_error("MetricsWriter::write after close() of " + path_);
  const std::string s = json::dump(line) + "\n";
  const off_t before = ::lseek(fd_, 0, SEEK_END);
  size_t done = 0;
  while (done < s.size()) {
    const ssize_t n = ::write(fd_, s.data() + done, s.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int error = n < 0 ? errno : EIO;
      // Leave no half line behind: the log stays a list of complete lines.
      const bool cut = done == 0 || (before >= 0 && ::ftruncate(fd_, before) == 0);
      throw WriteError(fmt::format("cannot write '{}': {}{}", path_, std::strerror(error),
                                   cut ? "" : " (a partial last line remains; readers skip it)"));
    }
    done += static_cast<size_t>(n);
  }
}

void MetricsWriter::sync() {
  if (fd_ >= 0 && ::fsync(fd_) != 0)
    throw WriteError(fmt::format("cannot write '{}': syncing it failed: {}", path_, std::strerror(errno)));
}

void MetricsWriter::close() {
  if (fd_ < 0) return;
  sync();
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0)
    throw WriteError(fmt::format("cannot write '{}': closing it failed: {}", path_, std::strerror(errno)));
}

namespace {

// One stderr warning listing the damaged lines of a metrics file (by line
// number) and what becomes of them.
void warn_damaged(const std::string& path, std::vector<json::DamagedLine> damaged, const char* fate) {
  if (damaged.empty()) return;
  std::sort(damaged.begin(), damaged.end(),
            [](const json::DamagedLine& a, const json::DamagedLine& b) { return a.line < b.line; });
  constexpr size_t kShown = 8;
  std::string lines;
  for (size_t i = 0; i < damaged.size() && i < kShown; ++i)
    lines += fmt::format("\n  line {}: {}", damaged[i].line, damaged[i].problem);
  if (damaged.size() > kShown) {
    lines += fmt::format("\n  and {} more (lines", damaged.size() - kShown);
    for (size_t i = kShown; i < damaged.size(); ++i) lines += fmt::format(" {}", damaged[i].line);
    lines += ")";
  }
  fmt::print(stderr, "warning: {} has {} damaged line{}, {}:{}\n", path, damaged.size(), damaged.size() == 1 ? "" : "s",
             fate, lines);
}

// The parsed lines that are metrics (objects with a whole "step"); JSON of
// another shape is added to report.damaged, objects without a step skipped.
struct MetricsLine {
  const Json* value;
  size_t line;
};
std::vector<MetricsLine> usable_lines(const std::vector<Json>& values, json::LinesReport& report) {
  std::vector<MetricsLine> out;
  for (size_t i = 0; i < values.size(); ++i) {
    const Json& v = values[i];
    const Json* step = json::find(v, "step");
    if (v.is_object() && !step) continue;  // not a metrics line (none are written without a step)
    const double x = step && step->is_number() ? step->get<double>() : NAN;
    if (!(x >= 0 && x <= 1e15 && x == std::floor(x)))
      report.damaged.push_back({report.line_numbers[i], "not a metrics line (an object with a whole \"step\" ≥ 0)"});
    else
      out.push_back({&v, report.line_numbers[i]});
  }
  return out;
}

}  // namespace

void truncate_metrics(const std::string& path, int64_t steps) {
  if (!std::filesystem::exists(path)) return;
  json::LinesReport report;
  const std::vector<Json> values = json::parse_lines_file(path, report);
  std::string kept;
  for (const MetricsLine& m : usable_lines(values, report)) {
    const Json& v = *m.value;
    const auto step = static_cast<int64_t>(v.at("step").get<double>());  // whole (usable_lines checked)
    if (step <= steps) kept += json::dump(v) + "\n";  // training lines count steps done, as evaluations do
  }
  warn_damaged(path, report.damaged, "left out of the rewritten file");
  write_file_atomically(path, kept, path + ".tmp");
}

Json amax_to_json(const std::vector<SiteGain>& gains) {
  Json a;
  a["order"] = "max over rows/columns per token, then mean over tokens";
  auto field = [&](const char* name, double SiteGain::*member) {
    Json arr = Json::array();
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
  // Token means of H_l and of P_l, per site an n × n matrix as rows.
  auto matrices = [&](const char* name, std::vector<double> SiteGain::*member) {
    Json arr = Json::array();
    for (const SiteGain& g : gains) {
      const std::vector<double>& m = g.*member;
      const size_t n = static_cast<size_t>(std::lround(std::sqrt(static_cast<double>(m.size()))));
      Json rows = Json::array();
      for (size_t i = 0; i < n; ++i) {
        Json row = Json::array();
        for (size_t j = 0; j < n; ++j) row.push_back(m[i * n + j]);
        rows.push_back(row);
      }
      arr.push_back(rows);
    }
    a[name] = arr;
  };
  matrices("mean_h_res", &SiteGain::mean_h);
  matrices("mean_composite", &SiteGain::mean_composite);
  return a;
}

namespace {
double number_or_nan(const Json& v, const char* key) {
  const Json* x = json::find(v, key);
  return x && x->is_number() ? x->get<double>() : NAN;
}
// Throws json::Error unless arr is an array.
const Json& array(const Json& arr) {
  if (!arr.is_array()) throw json::Error(std::string("expected an array, not ") + arr.type_name());
  return arr;
}
std::vector<double> numbers(const Json& arr) {
  std::vector<double> out;
  for (const auto& x : array(arr)) out.push_back(x.is_number() ? x.get<double>() : NAN);
  return out;
}
// Per site an n × n matrix given as rows, flattened row-major; throws
// json::Error on another shape.
std::vector<std::vector<double>> matrices(const Json& arr) {
  std::vector<std::vector<double>> out;
  for (const auto& site : array(arr)) {
    std::vector<double> flat;
    const Json& rows = array(site);
    for (const auto& row : rows) {
      const std::vector<double> r = numbers(row);
      if (r.size() != rows.size()) throw json::Error("a mean matrix that is not square");
      flat.insert(flat.end(), r.begin(), r.end());
    }
    out.push_back(std::move(flat));
  }
  return out;
}
// Element-wise running max over finite values (a NaN entry stays NaN until a number comes).
void keep_max(std::vector<double>& acc, const std::vector<double>& v) {
  if (acc.size() < v.size()) acc.resize(v.size(), NAN);
  for (size_t i = 0; i < v.size(); ++i)
    if (std::isfinite(v[i]) && !(acc[i] >= v[i])) acc[i] = v[i];
}
}  // namespace

double max_finite(const std::vector<double>& v) {
  double m = NAN;
  for (double x : v)
    if (std::isfinite(x) && !(m >= x)) m = x;
  return m;
}

double min_finite(const std::vector<double>& v) {
  double m = NAN;
  for (double x : v)
    if (std::isfinite(x) && !(m <= x)) m = x;
  return m;
}

RunMetrics read_run_metrics(const std::string& run_dir) {
  const std::string path = run_dir + "/metrics.jsonl";
  if (!std::filesystem::exists(path))
    throw std::runtime_error("no metrics in " + run_dir + " (expected " + path + "; is it an mhc run directory?)");
  RunMetrics r;
  r.label = std::filesystem::path(run_dir).lexically_normal().filename().string();
  if (r.label.empty()) r.label = std::filesystem::path(run_dir).lexically_normal().parent_path().filename().string();
  json::LinesReport report;  // a run killed mid-line: the last line is dropped
  const std::vector<Json> values = json::parse_lines_file(path, report);
  for (const MetricsLine& m : usable_lines(values, report)) {
    const Json& v = *m.value;
    const double step = v.at("step").get<double>();
    if (v.contains("val_loss")) {
      std::vector<double> forward, backward, single_backward, min_rows, min_cols;
      std::vector<std::vector<double>> mean_h, mean_composite;
      const Json* a = json::find(v, "amax");
      try {
        if (a) {
          forward = numbers(a->at("composite_forward"));
          backward = numbers(a->at("composite_backward"));
          single_backward = numbers(a->at("backward"));
          // Newer fields: absent in older logs.
          if (const Json* x = json::find(*a, "composite_min_row_sum")) min_rows = numbers(*x);
          if (const Json* x = json::find(*a, "composite_min_col_sum")) min_cols = numbers(*x);
          if (const Json* x = json::find(*a, "mean_h_res")) mean_h = matrices(*x);
          if (const Json* x = json::find(*a, "mean_composite")) mean_composite = matrices(*x);
        }
      } catch (const std::exception& e) {  // json::Error, or nlohmann's own (a missing key)
        report.damaged.push_back({m.line, std::string("an evaluation with a malformed \"amax\": ") + e.what()});
        continue;
      }
      r.eval_step.push_back(step);
      double diversity = NAN;
      if (const Json* d = json::find(v, "stream_diversity"); d && d->is_array() && !d->empty()) {
        std::vector<double> per_site;
        for (const Json& x : *d) per_site.push_back(x.is_number() ? x.get<double>() : NAN);
        double sum = 0;
        for (double x : per_site) sum += x;
        diversity = sum / static_cast<double>(per_site.size());
        r.last_site_diversity = std::move(per_site);
      }
      r.stream_diversity_mean.push_back(diversity);
      r.val_loss.push_back(number_or_nan(v, "val_loss"));
      r.val_bpb.push_back(number_or_nan(v, "val_bpb"));
      r.hellaswag_acc.push_back(number_or_nan(v, "hellaswag_acc"));
      r.peak_bytes.push_back(number_or_nan(v, "peak_bytes"));
      r.composite_min_row_sum_min.push_back(min_finite(min_rows));
      r.composite_min_col_sum_min.push_back(min_finite(min_cols));
      if (a) {
        keep_max(r.site_forward_max, forward);
        keep_max(r.site_backward_max, backward);
        r.last_site_forward = std::move(forward);
        r.last_site_backward = std::move(backward);
        r.last_site_single_backward = std::move(single_backward);
        r.amax_forward_max.push_back(max_finite(r.last_site_forward));
        r.amax_backward_max.push_back(max_finite(r.last_site_backward));
        if (!mean_h.empty() || !mean_composite.empty()) {
          r.last_mean_h_res = std::move(mean_h);
          r.last_mean_composite = std::move(mean_composite);
          r.last_mean_step = step;
        }
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
      r.ms_per_step.push_back(number_or_nan(v, "ms_per_step"));
    }
  }
  r.damaged_lines = report.damaged.size();
  r.truncated_tail = report.truncated_tail;
  warn_damaged(path, report.damaged, "skipped");
  return r;
}

}  // namespace mhc
