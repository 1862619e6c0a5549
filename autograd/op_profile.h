// op_profile.h — where a training step's time goes, per op kind. While an
// OpProfile is alive, the tape times every recorded op's forward and every
// node's backward, keyed by the op's name ("matmul", "mhc_pre", ...);
// `bench_train_step --profile` prints the shares.
//
// Forward: an op's time is the wall time since the previous op was recorded
// (or since mark(), which a forward pass calls first): the layer code between
// two ops counts toward the second, and an op that is not recorded (no input
// needs a gradient) toward the next one that is. Backward likewise: a node's
// time runs from the end of the previous node's backward function (or the
// start of the sweep), so it holds its own backward function and the
// accumulation of the previous node's gradients. CPU ops
// run synchronously, so these are their costs; CUDA ops are asynchronous and
// would need a synchronise per op, so the profile is for the CPU.
#pragma once
#include <cstdint>
#include <map>
#include <string>

namespace mhc {

struct OpTime {
  double forward_s = 0, backward_s = 0;
  int64_t forward_calls = 0, backward_calls = 0;
};

class OpProfile {
 public:
  OpProfile();  // active from here (one at a time: a second throws)
  ~OpProfile();
  OpProfile(const OpProfile&) = delete;
  OpProfile& operator=(const OpProfile&) = delete;

  void mark();  // a forward pass begins now: the next op's time starts here
  // Time spent outside the tape (the optimizer step, say), under `name`.
  void add(const std::string& name, double seconds);
  const std::map<std::string, OpTime>& times() const { return times_; }

  // The tape's hooks (autograd/tape.cpp); no-ops when no profile is active.
  static void recorded(const char* op);
  static void backward_begins();
  static void backward_done(const char* op);
  static bool active();

 private:
  // Adds the time since the last event (record, mark, node) to op's forward
  // or backward share; this is the new last event.
  void charge(const char* op, bool backward);
  std::map<std::string, OpTime> times_;
  double last_ = 0;  // seconds on a steady clock: the previous record or mark
};

// Seconds on a steady clock, for timing around the tape's hooks.
double profile_clock();

}  // namespace mhc
