// reduce_options.h — how gradients travel between the ranks of a
// data-parallel job (--dist.bucket_mb, --dist.reduce): speed only, never a
// result (grad_reducer.h). Apart so that the settings need not see the reducer.
#pragma once
#include "kernels/name_table.h"

namespace mhc {

enum class ReduceMode {
  Overlap,   // each bucket starts as soon as backward has completed it
  End,       // every bucket starts after backward
  Blocking,  // after backward, one bucket at a time, each waited for (with bucket_mb 0: one call per parameter)
};
inline constexpr EnumName<ReduceMode> kReduceModeNames[] = {
    {"overlap", ReduceMode::Overlap}, {"end", ReduceMode::End}, {"blocking", ReduceMode::Blocking}};

struct ReducerOptions {
  double bucket_mb = 1;  // gradient MiB per bucket (0: one bucket per parameter)
  ReduceMode mode = ReduceMode::Overlap;
};

}  // namespace mhc
