// bench_util.h — helpers for the benchmarks: warm up, repeat, report the
// median in milliseconds; a competing CPU load; the CPU threads in use; the
// BLAS kernel in use and this machine's sgemm rate, measured in the same run.
#pragma once
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <fmt/core.h>

#include "autograd/ops.h"
#include "autograd/random.h"
#include "autograd/tensor.h"
#include "kernels/cpu/blas_runtime.h"
#include "kernels/cpu/cpu_threads.h"

namespace mhc::bench {

// A batch of B rows of T + 1 random token ids below `vocab` from `seed`:
// x the first T of each row, y the last T, (B, T) i32 each on `device`.
inline std::pair<Tensor, Tensor> random_batch(int64_t B, int64_t T, int64_t vocab, uint64_t seed, Device device) {
  Rng rng(seed);
  std::vector<int32_t> xs, ys;
  for (int64_t b = 0; b < B; ++b) {
    std::vector<int32_t> row(static_cast<size_t>(T + 1));
    for (auto& t : row) t = static_cast<int32_t>(rng.below(static_cast<uint64_t>(vocab)));
    xs.insert(xs.end(), row.begin(), row.end() - 1);
    ys.insert(ys.end(), row.begin() + 1, row.end());
  }
  return {Tensor::from_ints(xs, {B, T}, device), Tensor::from_ints(ys, {B, T}, device)};
}

// Median wall time of `fn` in milliseconds over `reps` runs after `warmup` runs.
inline double median_ms(const std::function<void()>& fn, int reps, int warmup = 2) {
  for (int i = 0; i < warmup; ++i) fn();
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    cpu_threads_tick();  // between repetitions, as the trainer between steps
    auto t0 = std::chrono::steady_clock::now();
    fn();
    auto t1 = std::chrono::steady_clock::now();
    t.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// `processes` busy-looping child processes for as long as this object lives:
// the "other program using the CPU" that a shared machine has. Each child
// dies with its parent (PR_SET_PDEATHSIG) even if the benchmark crashes.
class CompetingLoad {
 public:
  explicit CompetingLoad(int processes) {
    for (int i = 0; i < processes; ++i) {
      const pid_t pid = fork();
      if (pid < 0) throw std::runtime_error("--load: fork failed");
      if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        volatile unsigned long spin = 0;
        for (;;) spin = spin + 1;
      }
      children_.push_back(pid);
    }
  }
  ~CompetingLoad() {
    for (pid_t pid : children_) kill(pid, SIGKILL);
    for (pid_t pid : children_) waitpid(pid, nullptr, 0);
  }
  CompetingLoad(const CompetingLoad&) = delete;
  CompetingLoad& operator=(const CompetingLoad&) = delete;

 private:
  std::vector<pid_t> children_;
};

// The CPU threads in use and how they wait, for the report.
inline std::string cpu_threads_setting() {
  std::string s = std::to_string(cpu_threads_now()) + " OpenMP thread" + (cpu_threads_now() == 1 ? "" : "s");
  if (const char* p = getenv("OMP_NUM_THREADS")) s += std::string(" (OMP_NUM_THREADS=") + p + ")";
  if (const char* p = getenv("OMP_WAIT_POLICY")) s += std::string(", OMP_WAIT_POLICY=") + p;
  return s;
}

// This machine's f32 matrix-multiply rate in GFLOP/s, measured now: the
// fastest of 8 products of 1024 × 1024 matrices (after 2 untimed) through
// the CPU backend, the tiled path every layer uses. The fastest, not the
// median: it is the rate this CPU can reach, and the least disturbed by
// whatever else runs. "A share of what this CPU can do" is a figure divided
// by this, both from the same run.
inline double sgemm_gflops_now() {
  constexpr int64_t n = 1024;
  Rng rng(3);
  const Tensor a = Tensor::randn({n, n}, rng), b = Tensor::randn({n, n}, rng);
  for (int i = 0; i < 2; ++i) (void)matmul(a, b);
  double best = 1e300;
  for (int i = 0; i < 8; ++i) {
    cpu_threads_tick();
    const auto t0 = std::chrono::steady_clock::now();
    (void)matmul(a, b);
    best = std::min(best, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  return 2.0 * n * n * n / (best * 1e6);
}

// The header line every benchmark prints first: the BLAS library, kernel,
// why that kernel, the thread count, and the sgemm rate measured now.
inline double print_blas_header() {
  const double gflops = sgemm_gflops_now();
  fmt::print("BLAS: {}; sgemm 1024³ measured now: {:.1f} GFLOP/s\n", cpu::blas_summary(), gflops);
  return gflops;
}

}  // namespace mhc::bench
