// cpu_threads.h — how many OpenMP threads the CPU backend runs, adapted to
// what the rest of the machine is doing.
//
// On an idle machine every core helps. When another program keeps a core
// busy, a thread of ours on that core runs only part of the time, and every
// parallel region then waits for it at its closing barrier: with one busy
// process on 2 cores a training step ran 3-6x slower (bench_train_step
// --load 1). Running only as many threads as there are free cores avoids
// that wait. The kernels add in an order fixed by the shapes alone
// (kernels/backend_ops.def), so the thread count never changes a result.
//
// The free cores are measured, not guessed: between two ticks, the busy
// time of the CPUs this process may run on (/proc/stat) minus this
// process's own CPU time is what other programs used.
#pragma once
#include <functional>
#include <string>

namespace mhc {

// Turns adaptation on (mhc train and the benchmarks do, at start) or off.
// Off, or when the user set OMP_NUM_THREADS, OpenMP's own choice stands.
void adapt_cpu_threads_to_load(bool on);

// Re-measures, at most every half second, and sets the OpenMP thread count
// to the number of free cores (at least 1, at most the initial count).
// Cheap; call it between training steps, from the thread that runs them.
void cpu_threads_tick();

// `processes` processes of one job share this machine's cores (the ranks of
// data-parallel training on one machine): a process allowed on every CPU
// runs at most CPUs / processes threads (at least 1); one bound to some
// cores (mpirun's binding) keeps its count; OMP_NUM_THREADS overrides both.
// Call it after adapt_cpu_threads_to_load.
void share_cpu_cores(int processes);

// The thread count in use now.
int cpu_threads_now();

// ---- the pieces, separately testable -------------------------------------------

// Threads to run on `cpus` allowed CPUs (at most `max_threads`) when other
// programs kept `others_cores` cores busy: the free cores, where a core
// counts as free when others used less than 70% of it; at least 1.
int threads_for_load(int cpus, int max_threads, double others_cores);

// Busy seconds (user, system, irq, softirq, steal, and nice when
// `count_nice`) summed over the per-CPU lines of a /proc/stat text whose CPU
// number `allowed` accepts; `cpus` receives how many lines were counted.
// Time at a lower priority (nice > 0, e.g. a build started with `nice`) is
// left out while this process runs at normal priority: the scheduler gives
// our threads its core almost whenever they want it (a nice-19 task weighs
// 15 against our 1024), so it does not make our barriers wait.
double busy_seconds_in_proc_stat(const std::string& text, const std::function<bool(int)>& allowed,
                                 double ticks_per_second, int* cpus, bool count_nice = true);

}  // namespace mhc
