// config_checks.h — range checks for configuration values. Each names the
// field (or command-line flag) and the accepted range in its message, and
// refuses NaN and infinities, which slip through a plain `x < lo || x > hi`
// test (every comparison with NaN is false).
#pragma once
#include <fmt/format.h>

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace mhc {

// Throws std::invalid_argument "<name>: must be an integer in [lo, hi] (got v)" unless lo ≤ v ≤ hi.
inline void int_in(const std::string& name, int64_t v, int64_t lo, int64_t hi) {
  if (v < lo || v > hi)
    throw std::invalid_argument(fmt::format("{}: must be an integer in [{}, {}] (got {})", name, lo, hi, v));
}

// Which ends of a range belong to it: [lo, hi], [lo, hi), (lo, hi], (lo, hi).
enum class Ends { closed, open_above, open_below, open };

// Throws std::invalid_argument "<name>: must be a finite number in [lo, hi) (got nan)" unless v is finite and in range.
inline void finite_in(const std::string& name, double v, double lo, double hi, Ends ends = Ends::closed) {
  const bool open_below = ends == Ends::open_below || ends == Ends::open;
  const bool open_above = ends == Ends::open_above || ends == Ends::open;
  const bool ok = std::isfinite(v) && (open_below ? v > lo : v >= lo) && (open_above ? v < hi : v <= hi);
  if (!ok)
    throw std::invalid_argument(fmt::format("{}: must be a finite number in {}{}, {}{} (got {})", name,
                                            open_below ? '(' : '[', lo, hi, open_above ? ')' : ']', v));
}

// An accepted range, declared once beside the field it bounds (ModelConfig)
// and read both by the field's own check and by the setting that sets it.
struct IntRange {
  int64_t lo, hi;
};
struct RealRange {
  double lo, hi;
  Ends ends = Ends::closed;
};
inline void int_in(const std::string& name, int64_t v, IntRange r) { int_in(name, v, r.lo, r.hi); }
inline void finite_in(const std::string& name, double v, RealRange r) { finite_in(name, v, r.lo, r.hi, r.ends); }

}  // namespace mhc
