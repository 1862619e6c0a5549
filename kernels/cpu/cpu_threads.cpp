// cpu_threads.cpp — see cpu_threads.h.
#include "kernels/cpu/cpu_threads.h"

#include <omp.h>
#include <sched.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace mhc {

namespace {

struct Sample {
  double wall = 0;  // seconds, steady clock
  double busy = 0;  // seconds the allowed CPUs were busy, all programs together
  double own = 0;   // this process's CPU seconds
};

struct State {
  bool on = false;
  int max_threads = 1, threads = 1, cpus = 1;
  Sample last;
};

State& state() {
  static State s;
  return s;
}

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Busy seconds of the CPUs in this process's affinity mask.
double busy_seconds(int* cpus) {
  cpu_set_t mask;
  CPU_ZERO(&mask);
  const bool have_mask = sched_getaffinity(0, sizeof mask, &mask) == 0;
  std::ifstream in("/proc/stat");
  std::stringstream text;
  text << in.rdbuf();
  return busy_seconds_in_proc_stat(
      text.str(), [&](int cpu) { return !have_mask || (cpu < CPU_SETSIZE && CPU_ISSET(cpu, &mask)); },
      static_cast<double>(sysconf(_SC_CLK_TCK)), cpus,
      /*count_nice=*/getpriority(PRIO_PROCESS, 0) > 0);  // niced ourselves: others' nice time competes with us
}

double own_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

Sample take_sample(int* cpus) { return {now_seconds(), busy_seconds(cpus), own_cpu_seconds()}; }

}  // namespace

double busy_seconds_in_proc_stat(const std::string& text, const std::function<bool(int)>& allowed,
                                 double ticks_per_second, int* cpus, bool count_nice) {
  // Per-CPU lines: "cpuN user nice system idle iowait irq softirq steal ..." in clock ticks.
  std::istringstream in(text);
  double busy = 0;
  int counted = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("cpu", 0) != 0 || line.size() < 4 || line[3] < '0' || line[3] > '9') continue;
    std::istringstream fields(line.substr(3));
    int cpu = -1;
    double user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
    fields >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal;
    if (cpu < 0 || !allowed(cpu)) continue;
    busy += user + (count_nice ? nice : 0) + system + irq + softirq + steal;
    ++counted;
  }
  if (cpus) *cpus = std::max(counted, 1);
  return busy / ticks_per_second;
}

int threads_for_load(int cpus, int max_threads, double others_cores) {
  const double free_cores = static_cast<double>(cpus) - std::max(0.0, others_cores);
  return std::clamp(static_cast<int>(std::floor(free_cores + 0.3)), 1, std::max(max_threads, 1));
}

void adapt_cpu_threads_to_load(bool on) {
  State& s = state();
  if (on && std::getenv("OMP_NUM_THREADS")) on = false;  // the user's choice stands
  if (on && !s.on) {
    s.max_threads = s.threads = omp_get_max_threads();
    s.last = take_sample(&s.cpus);
  }
  if (!on && s.on) omp_set_num_threads(s.max_threads);
  s.on = on;
}

void cpu_threads_tick() {
  State& s = state();
  if (!s.on) return;
  const double t = now_seconds();
  if (t - s.last.wall < 0.5) return;
  const Sample now = take_sample(&s.cpus);
  const double wall = now.wall - s.last.wall;
  // Cores other programs kept busy: all busy time minus ours. Our own idle
  // threads spinning at a barrier count as ours, so they never look like load.
  const double others = std::max(0.0, (now.busy - s.last.busy) - (now.own - s.last.own)) / wall;
  s.last = now;
  const int target = threads_for_load(s.cpus, s.max_threads, others);
  if (target != s.threads) {
    s.threads = target;
    omp_set_num_threads(target);
  }
}

void share_cpu_cores(int processes) {
  if (processes <= 1 || std::getenv("OMP_NUM_THREADS")) return;
  // A rank that mpirun bound to its own cores sees only those already;
  // divide only when this process may run on every online CPU.
  const int threads = omp_get_max_threads();
  if (threads < static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN))) return;
  State& s = state();
  const int n = std::max(1, (s.on ? s.max_threads : threads) / processes);
  omp_set_num_threads(n);
  s.max_threads = s.threads = n;
}

int cpu_threads_now() { return state().on ? state().threads : omp_get_max_threads(); }

}  // namespace mhc
