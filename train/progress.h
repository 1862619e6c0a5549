// progress.h — one status line, redrawn in place when the output is a
// terminal ("step 120/2000 | loss 2.314 | 41k tok/s | ETA 1m32s"), plain log
// lines every `log_every` steps otherwise (files, CI logs).
#pragma once
#include <cstdint>
#include <string>

namespace mhc {

class Progress {
 public:
  // may_redraw: false under mpirun, which hands ranks a pseudo-terminal even
  // when its own output goes to a file: plain lines then.
  Progress(int64_t total_steps, int64_t log_every, bool quiet, bool may_redraw = true);
  // Call after each step (0-based); elapsed_s is the wall time since training began.
  void step(int64_t step, double loss, double tokens_per_s, double ms_per_step, double lr, double elapsed_s,
            int64_t steps_done_this_session);
  // A line of its own (evaluation results, warnings), keeping the bar below it.
  void print(const std::string& line);
  void finish();
  static std::string format_duration(double seconds);

 private:
  int64_t total_, log_every_;
  bool tty_, quiet_, bar_drawn_ = false;
};

// One pass over `total` items (mhc eval's validation batches), on stderr so
// that stdout keeps only results: "eval 120/2000 batches | 14s | ETA 3m40s",
// redrawn in place on a terminal, else a line at every tenth of the pass.
class PassProgress {
 public:
  PassProgress(std::string what, int64_t total);
  void done(int64_t items, double elapsed_s);  // items finished so far
  void finish();

 private:
  std::string what_;
  int64_t total_, next_line_ = 0;
  bool tty_, drawn_ = false;
};

}  // namespace mhc
