// bench_util.h — timing helpers for the benchmarks: warm up, repeat, report
// the median in milliseconds.
#pragma once
#include <algorithm>
#include <chrono>
#include <functional>
#include <vector>

namespace mhc::bench {

// Median wall time of `fn` in milliseconds over `reps` runs after `warmup` runs.
inline double median_ms(const std::function<void()>& fn, int reps, int warmup = 2) {
  for (int i = 0; i < warmup; ++i) fn();
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    fn();
    auto t1 = std::chrono::steady_clock::now();
    t.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

}  // namespace mhc::bench
