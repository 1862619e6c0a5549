// comparison_study.cpp — tutorial 08: a comparison study end to end, in
// seconds. It writes a sweep spec (residual, HC and mHC × 3 seeds of a tiny
// model on synthetic:addition), expands it into its grid, runs it with
// run_sweep (studies/sweep.h), reads the runs back the way `mhc report` does
// (studies/report_stats.h), and prints the per-seed losses, the paired
// differences and the composite Amax gains. It checks its own report:
// every run ended, the table's paired differences are the per-seed
// differences recomputed here, mHC's composite gain is 1 to within
// Sinkhorn's tolerance, report.md holds the table, and a second run of the
// same sweep trains nothing. Exits non-zero when a check fails.
//
// Each part's number is the section of README.md that shows its output
// (ctest checks those blocks). The program works in a fresh temporary
// folder and prints no timings, so its output is the same on every run.
#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <stdexcept>
#include <unistd.h>

#include "fileio/file_io.h"
#include "fileio/json_io.h"
#include "studies/report.h"
#include "studies/sweep.h"

using namespace mhc;
namespace fs = std::filesystem;

namespace {

void expect(bool ok, const std::string& what) {
  if (!ok) throw std::runtime_error("tutorial check failed: " + what);
}

// The study: the three variants of a 2-block model (4 residual sites),
// three seeds each. The keys are `mhc train` flags without "--".
const char* kSpec = R"({
  "description": "residual, HC and mHC on synthetic:addition, 3 seeds",
  "base": {"data": "synthetic:addition", "data.cache_dir": "cache",
           "model.blocks": 2, "model.width": 32, "model.heads": 2, "model.block_size": 32,
           "optim.batch_size": 8, "optim.steps": 120, "optim.warmup": 10, "optim.lr": 0.01,
           "eval.every": 20, "eval.batches": 4, "eval.sample_tokens": 0},
  "axes": {"residual": ["residual", "hc", "mhc"], "seed": [1, 2, 3]}
})";

// The sweep's Sinkhorn tolerance: 20 iterations leave the columns of an mHC
// H_res within about 1e-6 of summing to 1 (tutorial 03); their product over
// 4 sites stays that close too.
constexpr double kSinkhornTolerance = 1e-4;

// ---- 1. The spec and its grid -----------------------------------------
SweepSpec write_and_expand_spec() {
  write_file_atomically("tiny-study.json", kSpec, "tiny-study.json.tmp");
  const SweepSpec spec = parse_sweep_spec("tiny-study.json");
  const std::vector<SweepRun> grid = expand_grid(spec, "sweeps");
  fmt::print("1. The grid of {} ({} runs; the first axis varies fastest):\n", spec.name, grid.size());
  for (const SweepRun& r : grid) {
    std::string flags;  // the flags this point adds to the base
    for (const auto& [flag, value] : r.settings.items())
      flags += " --" + flag + " " + (value.is_string() ? value.get<std::string>() : json::dump(value));
    fmt::print("  {:<14} {:<28} -> {}\n", r.id, flags, r.config.run_dir);
  }
  expect(grid.size() == 9, "3 variants × 3 seeds");
  return spec;
}

// ---- 2. Run it (quietly), then once more --------------------------------
void run_twice(const SweepSpec& spec) {
  SweepOptions options;
  options.quiet = true;
  const SweepSummary first = run_sweep(spec, options);
  const SweepSummary again = run_sweep(spec, options);
  fmt::print("\n2. First run: {} finished, {} diverged. Second run of the same command: {} of {} skipped.\n",
             first.finished, first.diverged, again.skipped, again.runs);
  expect(first.finished + first.diverged == 9, "every run ended");
  expect(again.skipped == 9, "a re-run trains nothing");
}

// ---- 3. Per seed: the final validation loss of each run -----------------
using LossBySeed = std::map<std::string, std::map<std::string, double>>;  // variant → seed → loss
LossBySeed per_seed(const SweepResults& results, const report::SweepTable& table) {
  LossBySeed final_loss;
  for (size_t i = 0; i < results.runs.size(); ++i)
    final_loss[results.runs[i].point.variant][results.runs[i].point.seed] = table.summaries[i].final_val;
  fmt::print("\n3. Final validation loss per seed, and the paired difference to the residual run of the same seed:\n");
  fmt::print("  {:<10} {:>8} {:>8} {:>8}   {:>9} {:>9} {:>9}\n", "variant", "seed 1", "seed 2", "seed 3", "Δ seed 1",
             "Δ seed 2", "Δ seed 3");
  for (const std::string& v : table.variants) {
    std::string line = fmt::format("  {:<10}", v);
    for (const char* s : {"1", "2", "3"}) line += fmt::format(" {:>8.4f}", final_loss[v][s]);
    line += "  ";
    for (const char* s : {"1", "2", "3"})
      line += fmt::format(" {:>+9.4f}", final_loss[v][s] - final_loss["residual"][s]);
    fmt::print("{}\n", line);
  }
  return final_loss;
}

// ---- 4. The table, as report.md has it ----------------------------------
void over_seeds(const report::SweepTable& table, LossBySeed& final_loss) {
  fmt::print("\n4. Over seeds (mean ± sample std, n = 3):\n");
  fmt::print("  {:<10} {:<17} {:<19} {:<14} {:<14}\n", "variant", "final val loss", "Δ vs residual", "max fwd gain",
             "max bwd gain");
  for (const report::VariantRow& row : table.rows) {
    fmt::print("  {:<10} {:<17} {:<19} {:<14} {:<14}\n", row.variant, report::format_loss(row.final_val),
               row.paired ? report::format_delta(row.delta_final) : "(the baseline)",
               report::format_gain(row.max_forward), report::format_gain(row.max_backward));
    expect(row.final_val.n == 3, row.variant + ": three finished seeds");
    if (row.paired) {
      // The table's Δ is the mean of the per-seed differences printed in part 3.
      double sum = 0;
      for (const char* s : {"1", "2", "3"}) sum += final_loss[row.variant][s] - final_loss["residual"][s];
      expect(std::abs(row.delta_final.mean - sum / 3) < 1e-12, row.variant + ": paired Δ recomputed");
    }
    if (row.residual == "mhc")
      expect(std::abs(row.max_forward - 1) < kSinkhornTolerance && std::abs(row.max_backward - 1) < kSinkhornTolerance,
             "mHC's composite gain is 1 to within Sinkhorn's tolerance");
    if (row.residual == "hc") expect(row.max_forward != 1.0, "HC's composite gain moves away from 1");
  }
}

// The verdicts, which hold on any machine: the figures above move with
// the BLAS kernel in their second decimal (see the page), these do not.
void verdicts(const report::SweepTable& table) {
  fmt::print("  every Δ is the mean of the per-seed differences of part 3: yes\n");
  for (const report::VariantRow& row : table.rows) {
    if (!row.paired) continue;
    const bool noise = !report::confidence_95(row.delta_final).excludes_zero();
    const std::string gain = row.residual == "mhc"
                                 ? (std::abs(row.max_forward - 1) < kSinkhornTolerance ? "1 to within 1e-4" : "not 1")
                                 : (row.max_forward > 2 ? "above 2" : "2 or less");
    fmt::print("  {}: Δ {} seed noise (its 95 % CI {} 0); largest composite gain {}\n", row.variant,
               noise ? "within" : "beyond", noise ? "holds" : "excludes", gain);
  }
}

// ---- 5. What the sweep left on disk -------------------------------------
void show_sweep_folder() {
  const std::string md = read_file("sweeps/tiny-study/report.md");
  expect(md.find("| mhc-n4") != std::string::npos, "report.md has the mHC row");
  fmt::print("\n5. sweeps/tiny-study/:\n");
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator("sweeps/tiny-study"))  // not the hidden lock file (.mhc.lock)
    if (e.path().filename().string()[0] != '.') names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  for (const std::string& n : names) fmt::print("  {}{}\n", n, fs::is_directory("sweeps/tiny-study/" + n) ? "/" : "");
}

}  // namespace

int main() {
  try {
    const fs::path work = fs::temp_directory_path() / fmt::format("mhc-tutorial-08-{}", ::getpid());
    fs::create_directories(work);
    fs::current_path(work);
    const SweepSpec spec = write_and_expand_spec();
    run_twice(spec);
    const SweepResults results = read_sweep_results("sweeps/tiny-study");
    const report::SweepTable table = report::make_table(results);
    LossBySeed final_loss = per_seed(results, table);
    over_seeds(table, final_loss);
    verdicts(table);
    show_sweep_folder();
    fs::current_path(fs::temp_directory_path());
    fs::remove_all(work);
    fmt::print("\nAll checks passed.\n");
    return 0;
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
}
