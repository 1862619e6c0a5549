// recompute.h — selective recompute of mHC stream states (docs/design.md §6,
// mHC Table 3 and Eq. 20). The sites are cut into consecutive groups of L_r;
// only the state entering each group (plus every site's sub-block output and
// coefficients, small) is kept through the forward. The states inside a
// group are freed once the group's forward is done and rebuilt from the
// group's first state when the backward reaches them. With n streams and L
// sites, the kept states cost (L/L_r)·nC per token instead of L·nC; the
// paper counts the activations of one group being rebuilt as L_r·(n+2)C, and
// the sum nC·L/L_r + (n+2)C·L_r is smallest at L_r = √(nL / (n + 2)) (mHC
// Eq. 20), the default. Counting only the rebuilt states (L_r·nC) would give
// √L instead; both agree at 12 sites (3), and `--hc.recompute_group` sets it.
//
// The model gives every mHC site the same plan; each site calls enter() with
// its input state and leave() with its output.
#pragma once
#include <memory>

#include "autograd/ops_mhc.h"

namespace mhc {

class RecomputePlan {
 public:
  explicit RecomputePlan(int group_size) : group_size_(group_size < 1 ? 1 : group_size) {}
  // The paper's optimum for n streams and L sites, rounded, at least 1.
  static int best_group_size(int64_t streams, int64_t sites);

  void begin_forward();
  RecomputeHandle enter(const Tensor& x);
  void leave(const Tensor& out);
  void end_forward();  // frees the states of the last group
  int group_size() const { return group_size_; }

 private:
  int group_size_;
  int count_ = 0;
  std::shared_ptr<RecomputeGroup> group_;
  Tensor last_out_;
};

}  // namespace mhc
