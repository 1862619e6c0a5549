// schedule.cpp
#include "train/schedule.h"

#include <cmath>

namespace mhc {

double learning_rate(const OptimConfig& o, int64_t step) {
  if (step < o.warmup) return o.lr * static_cast<double>(step + 1) / static_cast<double>(o.warmup + 1);
  if (o.schedule == Schedule::Constant) return o.lr;
  const double progress =
      o.steps > o.warmup ? static_cast<double>(step - o.warmup) / static_cast<double>(o.steps - o.warmup) : 1.0;
  if (o.schedule == Schedule::Step) {
    double lr = o.lr;
    for (double at : o.step_at)
      if (static_cast<double>(step) >= at * static_cast<double>(o.steps)) lr *= o.step_factor;
    return lr;
  }
  const double p = std::min(1.0, std::max(0.0, progress));
  return o.min_lr + 0.5 * (o.lr - o.min_lr) * (1.0 + std::cos(M_PI * p));
}

}  // namespace mhc
