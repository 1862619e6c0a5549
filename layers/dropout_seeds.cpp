// dropout_seeds.cpp — a per-step counter hashed into seeds.
#include "layers/dropout_seeds.h"

#include "kernels/counter_rng.h"

namespace mhc {

namespace {
uint64_t g_step_key = 0;
uint64_t g_calls = 0;
}  // namespace

void DropoutSeeds::begin_step(uint64_t run_seed, uint64_t step) {
  g_step_key = mix64(mix64(run_seed) ^ (step * 0x9e3779b97f4a7c15ULL));
  g_calls = 0;
}

uint64_t DropoutSeeds::next() { return mix64(g_step_key + ++g_calls); }

}  // namespace mhc
