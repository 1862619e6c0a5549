// op_profile.cpp — per-op-kind forward and backward times (see op_profile.h).
#include "autograd/op_profile.h"

#include <chrono>
#include <stdexcept>

namespace mhc {

namespace {
OpProfile* g_profile = nullptr;  // the active profile; training is single-threaded at the tape
}  // namespace

double profile_clock() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

OpProfile::OpProfile() {
  if (g_profile) throw std::logic_error("OpProfile: one is active already");
  g_profile = this;
  last_ = profile_clock();
}

OpProfile::~OpProfile() { g_profile = nullptr; }

void OpProfile::mark() { last_ = profile_clock(); }

void OpProfile::add(const std::string& name, double seconds) {
  OpTime& t = times_[name];
  t.forward_s += seconds;
  ++t.forward_calls;
}

bool OpProfile::active() { return g_profile != nullptr; }

void OpProfile::recorded(const char* op) {
  if (g_profile) g_profile->charge(op, /*backward=*/false);
}

void OpProfile::backward_begins() {
  if (g_profile) g_profile->last_ = profile_clock();
}

void OpProfile::backward_done(const char* op) {
  if (g_profile) g_profile->charge(op, /*backward=*/true);
}

void OpProfile::charge(const char* op, bool backward) {
  const double now = profile_clock();
  OpTime& t = times_[op];
  (backward ? t.backward_s : t.forward_s) += now - last_;
  ++(backward ? t.backward_calls : t.forward_calls);
  last_ = now;
}

}  // namespace mhc
