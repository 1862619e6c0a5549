// progress.cpp
#include "train/progress.h"

#include <fmt/core.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <utility>

namespace mhc {

Progress::Progress(int64_t total_steps, int64_t log_every, bool quiet, bool may_redraw)
    : total_(total_steps), log_every_(log_every), tty_(may_redraw && isatty(fileno(stdout)) != 0), quiet_(quiet) {}

std::string Progress::format_duration(double s) {
  if (!(s >= 0) || s > 1e7) return "?";
  const int64_t t = static_cast<int64_t>(s + 0.5);
  if (t >= 3600) return fmt::format("{}h{:02}m", t / 3600, (t % 3600) / 60);
  if (t >= 60) return fmt::format("{}m{:02}s", t / 60, t % 60);
  return fmt::format("{}s", t);
}

void Progress::step(int64_t step, double loss, double tokens_per_s, double ms_per_step, double lr, double elapsed_s,
                    int64_t done) {
  if (quiet_) return;
  const int64_t remaining = total_ - (step + 1);
  const double eta = done > 0 ? elapsed_s / static_cast<double>(done) * static_cast<double>(remaining) : -1;
  const std::string line =
      fmt::format("step {:>{}}/{} | loss {:.4f} | lr {:.2e} | {:.1f} ms/step | {:.0f} tok/s | ETA {}", step + 1,
                  fmt::formatted_size("{}", total_), total_, loss, lr, ms_per_step, tokens_per_s, format_duration(eta));
  if (tty_) {
    fmt::print("\r\033[2K{}", line);
    std::fflush(stdout);
    bar_drawn_ = true;
  } else if ((step + 1) % log_every_ == 0 || step + 1 == total_) {
    fmt::print("{}\n", line);
    std::fflush(stdout);
  }
}

void Progress::print(const std::string& line) {
  if (quiet_) return;
  if (tty_ && bar_drawn_) fmt::print("\r\033[2K");
  fmt::print("{}\n", line);
  std::fflush(stdout);
  bar_drawn_ = false;
}

PassProgress::PassProgress(std::string what, int64_t total)
    : what_(std::move(what)), total_(total), tty_(isatty(fileno(stderr)) != 0) {}

void PassProgress::done(int64_t items, double elapsed_s) {
  const bool line_due = items >= next_line_ || items == total_;
  if (!tty_ && !line_due) return;
  const double eta = items > 0 ? elapsed_s / static_cast<double>(items) * static_cast<double>(total_ - items) : -1;
  const std::string line = fmt::format("{} {}/{} | {} | ETA {}", what_, items, total_,
                                       Progress::format_duration(elapsed_s), Progress::format_duration(eta));
  if (tty_) {
    fmt::print(stderr, "\r\033[2K{}", line);
    drawn_ = true;
  } else {
    fmt::print(stderr, "{}\n", line);
    next_line_ = items + std::max<int64_t>(1, total_ / 10);
  }
  std::fflush(stderr);
}

void PassProgress::finish() {
  if (tty_ && drawn_) fmt::print(stderr, "\r\033[2K");
  drawn_ = false;
}

void Progress::finish() {
  if (!quiet_ && tty_ && bar_drawn_) fmt::print("\n");
  bar_drawn_ = false;
}

}  // namespace mhc
