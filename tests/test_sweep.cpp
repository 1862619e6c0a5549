// test_sweep.cpp — `mhc sweep`: spec parsing and its refusals, the grid and
// its run ids, and running: re-runs skip, a killed sweep resumed equals an
// uninterrupted one, a diverged run is recorded and the sweep goes on.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>

#include "test_files.h"
#include "fileio/json_io.h"
#include "train/metrics.h"
#include "studies/sweep.h"

using namespace mhc;
using Catch::Contains;
using mhc::test::TempDir;
namespace fs = std::filesystem;

namespace {

// A model that trains in a fraction of a second on the synthetic corpus,
// without the flags in `drop` (which an axis sets).
Json tiny_base(const std::string& cache, const std::vector<std::string>& drop = {}) {
  const Json all = json::parse(R"({"data": "synthetic:addition", "model.blocks": 1, "model.width": 16,
    "model.heads": 2, "model.block_size": 16, "optim.batch_size": 4, "optim.steps": 24, "optim.warmup": 4,
    "optim.lr": 0.01, "eval.every": 8, "eval.batches": 2, "eval.sample_tokens": 0, "data.cache_dir": ")" +
                               cache + "\"}");
  Json base = Json::object();
  for (const auto& [flag, value] : all.items())
    if (std::find(drop.begin(), drop.end(), flag) == drop.end()) base[flag] = value;
  return base;
}

SweepSpec spec_of(const std::string& axes, const Json& base, const std::string& name = "study") {
  Json v;
  v["base"] = base;
  v["axes"] = json::parse(axes);
  return parse_sweep_spec(v, name, name + ".json");
}

// A sweep into `dir` that prints nothing and writes no report.
SweepOptions quiet_sweep(const std::string& dir) {
  SweepOptions o;
  o.dir = dir;
  o.quiet = true;
  o.report = false;
  return o;
}

SweepSpec bad_spec(const std::string& text) { return parse_sweep_spec(json::parse(text), "bad", "bad.json"); }

// Everything a run's metrics say except wall-clock timings.
std::string metrics_without_timing(const fs::path& run_dir) {
  std::string out;
  for (Json v : json::parse_lines_file((run_dir / "metrics.jsonl").string())) {
    for (const char* timing : {"ms_per_step", "tokens_per_s"})
      if (Json* t = json::find(v, timing)) *t = Json();
    out += json::dump(v) + "\n";
  }
  return out;
}

}  // namespace

TEST_CASE("sweep spec: every refusal names the problem before anything runs", "[sweep]") {
  struct Case {
    std::string spec, message;
  };
  const std::vector<Case> cases = {
      {R"({"axes": {"seed": []}})", "axis \"seed\" is empty"},
      {R"({"axes": {"model.blcks": [4, 8]}})", "unknown flag \"model.blcks\""},
      {R"({"base": {"optim.sped": 3}, "axes": {}})", "base: unknown flag \"optim.sped\""},
      {R"({"axes": {"seed": [1, 2, 1]}})", "lists 1 twice"},
      {R"({"base": {"seed": 3}, "axes": {"seed": [1, 2]}})", "\"seed\" is in both \"base\" and \"axes\""},
      {R"({"base": {"run": "x"}, "axes": {}})", "--run is set by the sweep"},
      {R"({"axes": {"resume": [true]}})", "--resume is set by the sweep"},
      {R"({"axes": {"--seed": [1]}})", "without the leading dashes"},
      {R"({"axes": {"seed": 1}})", "must be a list of values"},
      {R"({"axes": {"seed": [[1]]}})", "must be a string, number or boolean"},
      {R"({"axes": {"hc.static": [1]}})", "is an on/off flag"},
      {R"({"axes": {"model.blocks": [true]}})", "takes a value"},
      {R"({"axis": {"seed": [1]}})", "unknown key \"axis\""},
      {R"({"base": {}})", "\"axes\" must be an object"},
      {R"([1, 2])", "a sweep spec is a JSON object"},
  };
  for (const Case& c : cases) {
    INFO(c.spec);
    CHECK_THROWS_WITH(bad_spec(c.spec), Contains(c.message) && Contains("bad.json"));
  }
  CHECK_THROWS_WITH(parse_sweep_spec(json::parse(R"({"axes": {}})"), "a b", "a b.json"),
                    Contains("may hold only letters"));
  TempDir d;
  CHECK_THROWS_WITH(parse_sweep_spec(d.file("missing.json")), Contains("missing.json"));
  mhc::test::write_bytes(d.path / "broken.json", "{\"axes\": ");
  CHECK_THROWS_WITH(parse_sweep_spec(d.file("broken.json")), Contains("not valid JSON") && Contains("broken.json"));
}

TEST_CASE("sweep grid: a value mhc train refuses names the grid point", "[sweep]") {
  const SweepSpec s = spec_of(R"({"residual": ["hc"], "model.blocks": [2, 0]})", tiny_base("cache", {"model.blocks"}));
  CHECK_THROWS_WITH(expand_grid(s, "sweeps"), Contains("residual=hc model.blocks=0") && Contains("--model.blocks"));
  const SweepSpec typo = spec_of(R"({"residual": ["resnet"]})", tiny_base("cache"));
  CHECK_THROWS_WITH(expand_grid(typo, "sweeps"), Contains("residual=resnet") && Contains("--residual"));
}

TEST_CASE("sweep grid: a grid of more than kMaxGridPoints points is refused at once, with its axes' sizes", "[sweep]") {
  // 10^7 points: refused before a single point is expanded (a test that took
  // the old path would run for minutes).
  std::string seeds, lrs;
  for (int i = 1; i <= 10000; ++i) seeds += (i > 1 ? "," : "") + std::to_string(i);
  for (int i = 1; i <= 1000; ++i) lrs += (i > 1 ? "," : "") + std::to_string(i * 1e-6);
  const SweepSpec s =
      spec_of(R"({"seed": [)" + seeds + R"(], "optim.lr": [)" + lrs + "]}", tiny_base("cache", {"optim.lr"}));
  CHECK_THROWS_WITH(expand_grid(s, "sweeps"), Contains("more than 10000 points (10000 × 1000 values per axis)"));
  const SweepSpec fits = spec_of(R"({"seed": [1, 2], "optim.lr": [0.001, 0.002]})", tiny_base("cache", {"optim.lr"}));
  CHECK(expand_grid(fits, "sweeps").size() == 4);
}

TEST_CASE("sweep grid: two runs that would share a directory are refused", "[sweep]") {
  // Both cache paths become "cache_dir_tmp_a_b" in a run id.
  const SweepSpec s =
      spec_of(R"({"data.cache_dir": ["/tmp/a b", "/tmp/a_b"]})", json::parse(R"({"preset": "cpu-char"})"));
  CHECK_THROWS_WITH(expand_grid(s, "sweeps"),
                    Contains("would share the directory") && Contains("/tmp/a b") && Contains("/tmp/a_b"));
}

TEST_CASE("sweep grid: ids, order and settings", "[sweep]") {
  const SweepSpec s =
      spec_of(R"({"residual": ["residual", "mhc"], "seed": [1, 2], "optim.lr": [0.003], "hc.static": [false]})",
              tiny_base("cache", {"optim.lr"}));
  const std::vector<SweepRun> runs = expand_grid(s, "out");
  REQUIRE(runs.size() == 4);
  // The first axis varies fastest; the group is every axis but residual, streams and seed.
  CHECK(runs[0].id == "lr0.003-nostatic-residual-s1");
  CHECK(runs[1].id == "lr0.003-nostatic-mhc-n4-s1");
  CHECK(runs[2].id == "lr0.003-nostatic-residual-s2");
  CHECK(runs[1].group == "lr0.003-nostatic");
  CHECK(runs[1].variant == "mhc-n4");
  CHECK(runs[3].config.seed == 2);
  CHECK(runs[3].config.optim.lr == 0.003);
  CHECK(runs[3].config.model.site.streams == 4);
  CHECK(runs[3].config.optim.steps == 24);  // from the base
  CHECK(runs[3].config.run_dir == (fs::path("out") / "study" / "lr0.003-nostatic-mhc-n4-s2").string());
  const Json j = sweep_json(s, runs);
  CHECK(j.at("name").get<std::string>() == "study");
  CHECK(j.at("runs").size() == 4);
  CHECK(j.at("runs")[1].at("variant").get<std::string>() == "mhc-n4");
  CHECK(j.at("runs")[1].at("settings").at("seed").get<double>() == 1);
  CHECK(j.at("axes")[2].at("flag").get<std::string>() == "optim.lr");
  CHECK(j.at("spec") == s.source);
}

TEST_CASE("sweep: a re-run skips ended runs, and a changed spec needs --overwrite", "[sweep]") {
  TempDir d;
  SweepOptions o = quiet_sweep(d.file("sweeps"));
  const SweepSpec s = spec_of(R"({"residual": ["residual", "mhc"]})", tiny_base(d.file("cache")));
  const SweepSummary first = run_sweep(s, o);
  CHECK(first.finished == 2);
  CHECK(first.skipped == 0);
  const fs::path root = d.path / "sweeps" / "study";
  CHECK(fs::exists(root / "sweep.json"));
  const Json outcome = json::parse_file((root / "mhc-n4-s1337" / "outcome.json").string());
  CHECK(outcome.at("status").get<std::string>() == "finished");
  CHECK(outcome.at("step").get<double>() == 24);
  const std::string before = metrics_without_timing(root / "mhc-n4-s1337");

  const SweepSummary again = run_sweep(s, o);
  CHECK(again.skipped == 2);
  CHECK(again.finished == 2);
  CHECK(metrics_without_timing(root / "mhc-n4-s1337") == before);

  const SweepSpec changed = spec_of(R"({"residual": ["residual", "hc"]})", tiny_base(d.file("cache")));
  CHECK_THROWS_WITH(run_sweep(changed, o), Contains("different spec") && Contains("--overwrite"));
  CHECK(fs::exists(root / "mhc-n4-s1337"));  // refused: nothing touched
  o.overwrite = true;
  CHECK(run_sweep(changed, o).finished == 2);
  CHECK(!fs::exists(root / "mhc-n4-s1337"));
  CHECK(fs::exists(root / "hc-n4-s1337" / "outcome.json"));
}

TEST_CASE("sweep: a folder that is not a sweep's is refused", "[sweep]") {
  TempDir d;
  fs::create_directories(d.path / "sweeps" / "study");
  mhc::test::write_bytes(d.path / "sweeps" / "study" / "notes.txt", "mine");
  SweepOptions o;
  o.dir = d.file("sweeps");
  o.quiet = true;
  const SweepSpec s = spec_of(R"({"residual": ["residual"]})", tiny_base(d.file("cache")));
  CHECK_THROWS_WITH(run_sweep(s, o), Contains("has no sweep.json"));
  CHECK(fs::exists(d.path / "sweeps" / "study" / "notes.txt"));
}

TEST_CASE("sweep: a missing or damaged sweep.json is rebuilt from the spec and the run folders", "[sweep]") {
  TempDir d;
  SweepOptions o = quiet_sweep(d.file("sweeps"));
  const SweepSpec s = spec_of(R"({"residual": ["residual"]})", tiny_base(d.file("cache")));
  REQUIRE(run_sweep(s, o).finished == 1);
  const fs::path root = d.path / "sweeps" / "study";
  const std::string good = mhc::test::read_bytes(root / "sweep.json");
  for (const std::string damage : {"", "{\"spec\": "}) {
    INFO("sweep.json: '" << damage << "'");
    if (damage.empty())
      fs::remove(root / "sweep.json");
    else
      mhc::test::write_bytes(root / "sweep.json", damage);
    const SweepSummary again = run_sweep(s, o);  // not "pass --overwrite", which would delete the runs
    CHECK(again.skipped == 1);                   // the finished run is kept as it was
    CHECK(mhc::test::read_bytes(root / "sweep.json") == good);
  }
  // A run folder that this grid does not have: not this sweep's folder, refused.
  fs::remove(root / "sweep.json");
  fs::create_directories(root / "someone-else");
  CHECK_THROWS_WITH(run_sweep(s, o), Contains("has no sweep.json"));
  CHECK(fs::exists(root / "residual-s1337" / "outcome.json"));
}

TEST_CASE("sweep: a killed sweep, resumed to the end, equals an uninterrupted one", "[sweep]") {
  TempDir d;
  const std::string axes = R"({"residual": ["residual", "hc", "mhc"], "seed": [1, 2]})";
  SweepOptions o;
  o.quiet = true;
  o.report = false;
  o.dir = d.file("whole");
  const SweepSummary whole = run_sweep(spec_of(axes, tiny_base(d.file("cache"))), o);
  REQUIRE(whole.finished == 6);

  o.dir = d.file("killed");
  // Stop in the middle of the third run (mhc, seed 1): 24 + 24 + 13 steps,
  // past its checkpoint at step 8, before the one at 16. Then again, later.
  o.stop_after_steps = 24 + 24 + 13;
  SweepSummary part = run_sweep(spec_of(axes, tiny_base(d.file("cache"))), o);
  CHECK(part.stopped);
  CHECK(part.finished == 2);
  const fs::path killed = d.path / "killed" / "study";
  CHECK(fs::exists(killed / "mhc-n4-s1" / "checkpoint.safetensors"));
  CHECK(!fs::exists(killed / "mhc-n4-s1" / "outcome.json"));
  o.stop_after_steps = 30;
  part = run_sweep(spec_of(axes, tiny_base(d.file("cache"))), o);
  CHECK(part.stopped);
  o.stop_after_steps = -1;
  const SweepSummary rest = run_sweep(spec_of(axes, tiny_base(d.file("cache"))), o);
  CHECK(!rest.stopped);
  CHECK(rest.finished == 6);
  CHECK(rest.skipped == 3);
  for (const char* id : {"residual-s1", "hc-n4-s1", "mhc-n4-s1", "residual-s2", "hc-n4-s2", "mhc-n4-s2"}) {
    INFO(id);
    CHECK(metrics_without_timing(killed / id) == metrics_without_timing(d.path / "whole" / "study" / id));
  }
}

TEST_CASE("sweep: a diverged run is recorded with its step and the sweep goes on", "[sweep]") {
  TempDir d;
  SweepOptions o = quiet_sweep(d.file("sweeps"));
  // debug.inject_nan makes the loss NaN at that step (-1: never).
  const SweepSpec s = spec_of(R"({"debug.inject_nan": [13, -1], "residual": ["hc"]})", tiny_base(d.file("cache")));
  const SweepSummary r = run_sweep(s, o);
  CHECK(r.diverged == 1);
  CHECK(r.finished == 1);
  const fs::path root = d.path / "sweeps" / "study";
  const Json bad = json::parse_file((root / "inject_nan13-hc-n4-s1337" / "outcome.json").string());
  CHECK(bad.at("status").get<std::string>() == "diverged");
  CHECK(bad.at("step").get<double>() == 13);
  CHECK_THAT(bad.at("reason").get<std::string>(), Contains("the loss became nan at step 13"));
  const Json good = json::parse_file((root / "inject_nan_1-hc-n4-s1337" / "outcome.json").string());
  CHECK(good.at("status").get<std::string>() == "finished");
  // A re-run does not try the diverged run again.
  CHECK(run_sweep(s, o).skipped == 2);
}

TEST_CASE("sweep: a loss that climbs above the untrained model's after warmup counts as divergence", "[sweep]") {
  TempDir d;
  SweepOptions o = quiet_sweep(d.file("sweeps"));
  // A learning rate far too high, without clipping: the loss climbs past its start.
  Json base = tiny_base(d.file("cache"), {"optim.lr"});
  base["optim.grad_clip"] = 0;
  const SweepSpec s = spec_of(R"({"optim.lr": [3.0]})", base);
  const SweepSummary r = run_sweep(s, o);
  REQUIRE(r.diverged == 1);
  const Json out = json::parse_file((d.path / "sweeps" / "study" / "lr3-residual-s1337" / "outcome.json").string());
  CHECK(out.at("step").get<double>() >= 4);  // not before warmup ends
  const RunMetrics m = read_run_metrics((d.path / "sweeps" / "study" / "lr3-residual-s1337").string());
  INFO(out.at("reason").get<std::string>());
  CHECK(out.at("reason").get<std::string>().find("more than 2 % above the untrained model's") != std::string::npos);
}

TEST_CASE("sweep: the report is written when the last run ends, with the gain against depth for a depth axis",
          "[sweep]") {
  TempDir d;
  SweepOptions o;
  o.dir = d.file("sweeps");
  o.quiet = true;
  const SweepSpec s =
      spec_of(R"({"residual": ["hc", "mhc"], "model.blocks": [1, 2]})", tiny_base(d.file("cache"), {"model.blocks"}));
  REQUIRE(run_sweep(s, o).finished == 4);
  const fs::path root = d.path / "sweeps" / "study";
  const std::string md = mhc::test::read_bytes(root / "report.md");
  CHECK_THAT(md, Contains("## Group `blocks1`") && Contains("## Group `blocks2`") && Contains("| mhc-n4"));
  CHECK_THAT(md, Contains("gain_by_depth.png"));
  CHECK(fs::file_size(root / "gain_by_depth.png") > 1000);
  // One depth only: no such figure.
  const SweepSpec flat = spec_of(R"({"residual": ["hc", "mhc"]})", tiny_base(d.file("cache")), "flat");
  REQUIRE(run_sweep(flat, o).finished == 2);
  CHECK(fs::exists(d.path / "sweeps" / "flat" / "report.md"));
  CHECK(!fs::exists(d.path / "sweeps" / "flat" / "gain_by_depth.png"));
}
