// recompute.cpp
#include "layers/recompute.h"

#include <cmath>

namespace mhc {

int RecomputePlan::best_group_size(int64_t streams, int64_t sites) {
  const double n = static_cast<double>(streams), L = static_cast<double>(sites);
  return std::max(1, static_cast<int>(std::lround(std::sqrt(n * L / (n + 2.0)))));
}

void RecomputePlan::begin_forward() {
  count_ = 0;
  group_.reset();
  last_out_ = Tensor();
}

RecomputeHandle RecomputePlan::enter(const Tensor& x) {
  const int index = count_ % group_size_;
  if (index == 0) {
    if (group_) group_->release();
    group_ = std::make_shared<RecomputeGroup>(x);
  } else {
    group_->add_intermediate(last_out_);  // x: the previous site's output, inside this group
  }
  ++count_;
  return {group_, index};
}

void RecomputePlan::leave(const Tensor& out) { last_out_ = out; }

void RecomputePlan::end_forward() {
  if (group_) group_->release();
  group_.reset();
  last_out_ = Tensor();
}

}  // namespace mhc
