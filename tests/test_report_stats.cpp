// test_report_stats.cpp — studies/report_stats.h against hand-computed numbers:
// mean, sample std, median, the spike rule (consecutive spike steps once),
// the median ms/step, curves over seeds, paired differences, a run's
// summary, and the table's rows for a hand-made set of runs.
#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <vector>

#include "studies/report.h"
#include "studies/report_stats.h"

using namespace mhc;
using namespace mhc::report;

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();
}  // namespace

TEST_CASE("mean, sample std and median of hand-made numbers", "[report]") {
  CHECK(mean({1.0, 2.0, 6.0}) == Approx(3.0));
  // sample std of 1, 2, 6: deviations -2, -1, 3 -> (4 + 1 + 9) / 2 = 7
  CHECK(sample_std({1.0, 2.0, 6.0}) == Approx(std::sqrt(7.0)));
  CHECK(sample_std({1.2, 1.3}) == Approx(0.0707106781).epsilon(1e-9));
  CHECK(std::isnan(sample_std({5.0})));  // n < 2
  // Values near the largest double: no overflow to inf (a plain sum would).
  CHECK(mean({1e308, 1e308, 1e308}) == Approx(1e308));
  CHECK(sample_std({1e308, -1e308}) == Approx(std::sqrt(2.0) * 1e308));
  CHECK(sample_std({1e308, 1e308}) == 0.0);
  CHECK(std::isnan(mean({})));
  CHECK(median({3.0, 1.0, 2.0}) == 2.0);
  CHECK(median({4.0, 1.0, 3.0, 2.0}) == 2.5);
  // Non-finite values are left out.
  CHECK(mean({1.0, kNaN, 3.0, kInf}) == 2.0);
  CHECK(median({kNaN, 7.0}) == 7.0);
  const MeanStd m = mean_std({1.24, 1.32, 1.27, kNaN});
  CHECK(m.n == 3);
  CHECK(m.mean == Approx(1.2766666667));
  CHECK(m.std == Approx(0.0404145188));
}

TEST_CASE("the spike rule: above the median of the previous 50 by more than 20 %, consecutive steps once", "[report]") {
  std::vector<double> loss(120, 2.0);
  for (size_t i = 0; i < loss.size(); ++i) loss[i] = 2.0 + 0.01 * static_cast<double>(i % 3);  // median 2.01
  loss[5] = 5.0;                         // fewer than 10 earlier losses: not counted
  loss[30] = 5.0;                        // 30 earlier losses (the window is not full yet): a spike
  loss[60] = 2.40;                       // 2.40 / 2.01 = 1.194: not a spike
  loss[70] = 2.45;                       // 2.45 / 2.01 = 1.219: a spike
  loss[80] = loss[81] = loss[82] = 3.0;  // three consecutive spike steps: one spike
  loss[84] = 3.0;                        // after a normal step: a new spike
  loss[100] = kNaN;                      // dropped, never a spike
  const std::vector<size_t> spikes = loss_spikes(loss);
  REQUIRE(spikes.size() == 4);
  CHECK(spikes[0] == 30);
  CHECK(spikes[1] == 70);
  CHECK(spikes[2] == 80);
  CHECK(spikes[3] == 84);
  // Another window, threshold and history change the count (the rule is a parameter):
  // 70 is no spike at 40 % (2.45 < 1.4 * 2.01); with 3 earlier losses enough, 5 is one.
  CHECK(loss_spikes(loss, {10, 0.4, 3}) == std::vector<size_t>{5, 30, 80, 84});
  CHECK(loss_spikes(loss, {50, 0.2, 50}) == std::vector<size_t>{70, 80, 84});
  CHECK(loss_spikes(std::vector<double>(49, 1.0)).empty());
}

TEST_CASE("ms/step is the median after the first 10 lines", "[report]") {
  std::vector<double> ms(30, 10.0);
  for (int i = 0; i < 10; ++i) ms[i] = 500.0;  // warm-up lines skipped
  ms[20] = 90.0, ms[21] = 80.0;                // outliers do not move the median
  CHECK(median_ms_per_step(ms) == 10.0);
  CHECK(median_ms_per_step({3.0, 1.0, 2.0}) == 2.0);  // 10 lines or fewer: all of them
}

TEST_CASE("curves over seeds: mean and min..max band per step, and paired differences", "[report]") {
  const BandSeries b =
      band_over({{{0, 10, 20}, {4.0, 2.0, 1.0}}, {{0, 10}, {4.2, 2.4}}, {{0, 10, 20}, {4.4, kNaN, 1.5}}});
  REQUIRE(b.x == std::vector<double>{0, 10, 20});
  CHECK(b.mean[0] == Approx(4.2));
  CHECK(b.lo[0] == 4.0);
  CHECK(b.hi[0] == 4.4);
  CHECK(b.n[1] == 2);  // the NaN is left out
  CHECK(b.mean[1] == Approx(2.2));
  CHECK(b.mean[2] == Approx(1.25));
  CHECK(b.n[2] == 2);

  const Curve d = paired_difference({{0, 10, 20, 30}, {4.0, 2.0, 1.5, 1.4}}, {{0, 10, 30}, {4.1, 2.5, 1.0}});
  REQUIRE(d.x == std::vector<double>{0, 10, 30});  // 20: no baseline value there
  CHECK(d.y[0] == Approx(-0.1));
  CHECK(d.y[1] == Approx(-0.5));
  CHECK(d.y[2] == Approx(0.4));
}

TEST_CASE("a run's summary from hand-made metrics", "[report]") {
  RunMetrics m;
  for (int i = 0; i < 60; ++i) {
    m.step.push_back(i);
    m.loss.push_back(i == 55 ? 9.0 : 2.0);
    m.grad_norm.push_back(i == 7 ? 12.5 : 1.0);
    m.ms_per_step.push_back(i < 10 ? 100.0 : 20.0);
  }
  m.eval_step = {0, 30, 60};
  m.val_loss = {4.0, 1.5, 1.6};
  m.peak_bytes = {1048576, 2.5 * 1048576, 2 * 1048576};
  m.amax_forward_max = {1.0, 7.5, 5.0};
  m.amax_backward_max = {1.0, 3.0, 6.0};
  m.composite_min_row_sum_min = {1.0, 0.4, 0.6};
  m.composite_min_col_sum_min = {1.0, kNaN, 0.2};
  const RunSummary s = summarise_run(m);
  CHECK(s.best_val == 1.5);
  CHECK(s.final_val == 1.6);
  CHECK(s.final_step == 60);
  CHECK(s.max_forward == 7.5);
  CHECK(s.max_backward == 6.0);
  CHECK(s.min_row_sum == 0.4);
  CHECK(s.min_col_sum == 0.2);
  CHECK(s.max_grad_norm == 12.5);
  REQUIRE(s.spike_steps.size() == 1);
  CHECK(s.spike_steps[0] == 55);
  CHECK(s.ms_per_step == 20.0);
  CHECK(s.peak_mib == 2.5);
}

namespace {

// A run with one validation loss curve and the given status.
RunResult fake_run(const std::string& variant, const std::string& kind, const std::string& seed, RunStatus status,
                   double final_val, double best_val, double ms, double gain) {
  RunResult r;
  r.point.id = variant + "-s" + seed;
  r.point.id = fmt::format("{}-s{}", variant, seed);
  r.point.variant = variant;
  r.point.residual = kind;
  r.point.seed = seed;
  r.status = status;
  r.has_metrics = true;
  for (int i = 0; i < 20; ++i) {
    r.metrics.step.push_back(i);
    r.metrics.loss.push_back(2.0);
    r.metrics.grad_norm.push_back(1.0);
    r.metrics.ms_per_step.push_back(ms);
  }
  r.metrics.eval_step = {0, 10, 20};
  r.metrics.val_loss = {4.0, best_val, final_val};
  r.metrics.amax_forward_max = {1.0, gain, 1.0};
  r.metrics.amax_backward_max = {1.0, 1.0, gain / 2};
  if (status == RunStatus::diverged) r.outcome_step = 17;
  return r;
}

}  // namespace

TEST_CASE("table rows: loss over finished runs, paired differences, divergence, timing ratio", "[report]") {
  SweepResults s;
  s.name = "t";
  s.runs = {fake_run("residual", "residual", "1", RunStatus::finished, 1.24, 1.24, 10, 1),
            fake_run("residual", "residual", "2", RunStatus::finished, 1.32, 1.32, 10, 1),
            fake_run("residual", "residual", "3", RunStatus::finished, 1.27, 1.27, 10, 1),
            fake_run("hc-n4", "hc", "1", RunStatus::finished, 1.20, 1.15, 12, 7.5),
            fake_run("hc-n4", "hc", "2", RunStatus::finished, 1.30, 1.30, 12, 3),
            fake_run("hc-n4", "hc", "3", RunStatus::incomplete, 1.0, 1.0, 12, 99),
            fake_run("mhc-n4", "mhc", "1", RunStatus::finished, 1.10, 1.10, 13, 1),
            fake_run("mhc-n4", "mhc", "2", RunStatus::diverged, 9.0, 1.0, 13, 1.5),
            fake_run("mhc-n4", "mhc", "3", RunStatus::finished, 1.16, 1.16, 13, 1)};
  const SweepTable t = make_table(s);
  REQUIRE(t.rows.size() == 3);
  const VariantRow &res = t.rows[0], &hc = t.rows[1], &mhc = t.rows[2];
  CHECK(res.variant == "residual");
  CHECK(format_loss(res.final_val) == "1.2767 ± 0.0404");
  CHECK_FALSE(res.paired);

  CHECK(hc.final_val.n == 2);  // the incomplete seed is left out
  CHECK(format_loss(hc.final_val) == "1.2500 ± 0.0707");
  CHECK(format_loss(hc.best_val) == "1.2250 ± 0.1061");
  CHECK(hc.paired);
  CHECK(format_delta(hc.delta_final) == "-0.0300 ± 0.0141");
  CHECK(format_delta(hc.delta_best) == "-0.0550 ± 0.0495");
  CHECK(hc.max_forward == 7.5);  // 99 belongs to the incomplete run
  CHECK(hc.incomplete == std::vector<std::string>{"hc-n4-s3"});
  CHECK(hc.ms_ratio == Approx(1.2));

  CHECK(mhc.final_val.n == 2);  // the diverged seed's loss is not averaged
  CHECK(format_loss(mhc.final_val) == "1.1300 ± 0.0424");
  CHECK(format_delta(mhc.delta_final) == "-0.1250 ± 0.0212");
  CHECK(mhc.diverged == 1);
  CHECK(mhc.ended == 3);
  CHECK(mhc.diverged_steps == std::vector<int64_t>{17});
  CHECK(mhc.max_forward == 1.5);  // the diverged run's gains do count
  CHECK(mhc.ms_ratio == Approx(1.3));
}

TEST_CASE("number formats of the table", "[report]") {
  CHECK(format_sig3(1.0000001) == "1.00");
  CHECK(format_sig3(70.234) == "70.2");
  CHECK(format_sig3(123.4) == "123");
  CHECK(format_sig3(9.996) == "10.0");
  CHECK(format_sig3(999.7) == "1.00e3");
  CHECK(format_sig3(2987.0) == "2.99e3");
  CHECK(format_sig3(0.0123456) == "0.0123");
  CHECK(format_sig3(kNaN) == "—");
  CHECK(format_gain(1.0) == "1");
  CHECK(format_gain(1.00000016) == "1 + 1.6e-7");
  CHECK(format_gain(0.99968) == "1 − 3.2e-4");
  CHECK(format_gain(1.006) == "1.01");
  CHECK(format_gain(70.234) == "70.2");
  CHECK(format_loss({1.25, kNaN, 1}) == "1.2500 ± —");
  CHECK(format_loss({}) == "—");
  CHECK(format_delta({0.01234, 0.004, 3}) == "+0.0123 ± 0.0040");
}

TEST_CASE("report stats: the 95 % interval of a mean uses Student's t, so 3 seeds are not over-trusted", "[report]") {
  CHECK(student_t_975(1) == 12.706);
  CHECK(student_t_975(2) == 4.303);
  CHECK(student_t_975(30) == 2.042);
  CHECK(student_t_975(60) == Approx(2.000).margin(0.002));
  CHECK(std::isnan(student_t_975(0)));
  // Differences -0.02, -0.03, -0.04: mean -0.03, std 0.01, half width 4.303 · 0.01 / √3 = 0.02484.
  const Interval ci = confidence_95(mean_std({-0.02, -0.03, -0.04}));
  CHECK(ci.lo == Approx(-0.03 - 0.024843).margin(1e-6));
  CHECK(ci.hi == Approx(-0.03 + 0.024843).margin(1e-6));
  CHECK(ci.excludes_zero());
  // The same mean with three times the spread: the interval reaches past 0.
  CHECK_FALSE(confidence_95(mean_std({0.0, -0.03, -0.06})).excludes_zero());
  CHECK(std::isnan(confidence_95(mean_std({0.5})).lo));  // one seed: no interval
}

TEST_CASE("max_finite and min_finite skip NaN and infinities instead of restarting at them", "[report]") {
  const double inf = std::numeric_limits<double>::infinity();
  CHECK(max_finite({9.0, kNaN, 1.0}) == 9.0);
  CHECK(min_finite({1.0, kNaN, 9.0}) == 1.0);
  CHECK(max_finite({2.0, inf, 3.0}) == 3.0);
  CHECK(std::isnan(max_finite({kNaN, inf})));
}
