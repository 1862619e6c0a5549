// openmp_waiting.cpp — see openmp_waiting.h.
#include "kernels/cpu/openmp_waiting.h"

#include <stdlib.h>
#include <unistd.h>

namespace mhc {

void choose_openmp_waiting(char** argv) {
  if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT")) return;
  if (setenv("GOMP_SPINCOUNT", kDefaultSpinCount, 1) != 0) return;
  execv("/proc/self/exe", argv);
  unsetenv("GOMP_SPINCOUNT");  // execv failed: run on with libgomp's defaults, as loaded
}

}  // namespace mhc
