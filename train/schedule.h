// schedule.h — the learning rate at a step: linear warmup, then
//   cosine:   min_lr + ½(lr − min_lr)(1 + cos(π · progress))   (nanoGPT)
//   step:     lr · factor^(number of step_at fractions passed)  (the mHC paper's step decay)
//   constant: lr
#pragma once
#include <cstdint>

#include "train/config.h"

namespace mhc {

double learning_rate(const OptimConfig& optim, int64_t step);

}  // namespace mhc
