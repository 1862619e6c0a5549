// openmp_waiting.h — how the CPU backend's OpenMP threads wait between
// parallel regions, chosen inside the program.
//
// libgomp's default lets an idle thread spin for ~300,000 iterations before
// it sleeps. On an idle machine that saves a wake-up per region; on a busy
// one a spinning thread holds a core that a thread of the same region needs,
// and a CPU training step ran 5-40x slower with one other busy process on 2
// cores. OMP_WAIT_POLICY=PASSIVE (sleep at once) fixes that but costs ~30%
// idle. A bounded spin (GOMP_SPINCOUNT) keeps most of the idle speed and
// gives the core back soon enough under load; bench_train_step --load
// measures both.
//
// libgomp reads these settings once, when it is loaded, before main() runs,
// so the only way to choose them inside the program is to set the variable
// and start the program again (execv of /proc/self/exe, same arguments).
#pragma once

namespace mhc {

// The spin count used when the user has set neither OMP_WAIT_POLICY nor
// GOMP_SPINCOUNT.
inline constexpr const char* kDefaultSpinCount = "10000";

// Call first in main(): sets GOMP_SPINCOUNT to kDefaultSpinCount and
// re-executes the program, unless OMP_WAIT_POLICY or GOMP_SPINCOUNT is
// already set (then the user's choice stands and nothing happens). Returns
// only when nothing was changed or the re-execution failed.
void choose_openmp_waiting(char** argv);

}  // namespace mhc
