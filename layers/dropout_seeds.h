// dropout_seeds.h — where dropout layers get their seeds. The trainer calls
// begin_step(run_seed, step) before each forward; every dropout call in that
// forward then takes the next seed of a sequence determined by (run seed,
// step, call order). Same seed and step → same masks, which is what makes
// runs, and runs resumed from a checkpoint, bit-identical.
#pragma once
#include <cstdint>

namespace mhc {

class DropoutSeeds {
 public:
  static void begin_step(uint64_t run_seed, uint64_t step);
  static uint64_t next();
};

}  // namespace mhc
