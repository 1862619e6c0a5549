// cuda_profile.cu — event pairs per primitive call, summed at exit.
#include "kernels/cuda/cuda_profile.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

namespace mhc::cuda {

namespace {

struct Record {
  const char* name;
  cudaEvent_t start, stop;
};

class Profiler {
 public:
  Profiler() {
    const char* env = std::getenv("MHC_CUDA_PROFILE");
    enabled = env && std::string(env) != "0";
  }
  ~Profiler() { report(); }
  int begin(const char* name) {
    Record r{name, nullptr, nullptr};
    if (!free_.empty()) {
      r.start = free_.back().first;
      r.stop = free_.back().second;
      free_.pop_back();
    } else {
      cudaEventCreate(&r.start);
      cudaEventCreate(&r.stop);
    }
    cudaEventRecord(r.start);
    records_.push_back(r);
    return static_cast<int>(records_.size()) - 1;
  }
  void end(int slot) {
    cudaEventRecord(records_[slot].stop);
    if (records_.size() >= 4096) flush();  // only between scopes: every record is complete
  }
  void flush() {
    cudaDeviceSynchronize();
    for (const Record& r : records_) {
      float ms = 0;
      if (cudaEventElapsedTime(&ms, r.start, r.stop) == cudaSuccess) {
        auto& t = totals_[r.name];
        t.first += ms;
        t.second += 1;
      }
      cudaGetLastError();  // never leave an error behind for the next launch check
      free_.emplace_back(r.start, r.stop);
    }
    records_.clear();
  }
  void report() {
    if (!enabled) return;
    flush();
    std::vector<std::pair<std::string, std::pair<double, long>>> rows(totals_.begin(), totals_.end());
    std::sort(rows.begin(), rows.end(), [](auto& a, auto& b) { return a.second.first > b.second.first; });
    double total = 0;
    for (auto& r : rows) total += r.second.first;
    std::fprintf(stderr, "\nMHC_CUDA_PROFILE: GPU time per primitive (all calls of this process)\n");
    std::fprintf(stderr, "%-22s %12s %8s %10s %12s\n", "primitive", "total ms", "share", "calls", "us/call");
    for (auto& r : rows)
      std::fprintf(stderr, "%-22s %12.3f %7.1f%% %10ld %12.2f\n", r.first.c_str(), r.second.first,
                   100.0 * r.second.first / total, r.second.second, 1000.0 * r.second.first / r.second.second);
    std::fprintf(stderr, "%-22s %12.3f\n", "total", total);
    enabled = false;
  }
  void reset() {
    flush();
    totals_.clear();
  }
  bool enabled = false;

 private:
  std::vector<Record> records_;
  std::vector<std::pair<cudaEvent_t, cudaEvent_t>> free_;
  std::map<std::string, std::pair<double, long>> totals_;
};

Profiler& profiler() {
  static Profiler p;
  return p;
}

}  // namespace

void profile_reset() {
  if (profiler().enabled) profiler().reset();
}

ProfileScope::ProfileScope(const char* name) : name_(name) {
  if (profiler().enabled) slot_ = profiler().begin(name);
}

ProfileScope::~ProfileScope() {
  if (slot_ >= 0) profiler().end(slot_);
}

}  // namespace mhc::cuda
