// test_run_helpers.h — the quiet options and synthetic-data base of a test
// training run (plus the file helpers of test_files.h).
#pragma once
#include <filesystem>
#include <string>

#include "test_files.h"
#include "train/config.h"
#include "train/trainer.h"

namespace mhc::test {

// No progress output, no charts: what a test run wants.
inline RunOptions quiet_run() {
  RunOptions o;
  o.quiet = true;
  o.plots = false;
  return o;
}

// A preset on the synthetic addition corpus, with its run and token cache
// inside `dir` and no sample at the end; tests then shrink the model.
inline TrainConfig synthetic_run_config(const std::filesystem::path& dir, const std::string& preset_name) {
  TrainConfig c = preset(preset_name);
  c.run_dir = (dir / "run").string();
  c.data.data = "synthetic:addition";
  c.data.cache_dir = (dir / "cache").string();
  c.eval.sample_tokens = 0;
  return c;
}

}  // namespace mhc::test
