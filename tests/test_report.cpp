// test_report.cpp — `mhc report` end to end on a hand-made sweep folder
// (sweep.json, outcome.json and metrics.jsonl written here): report.md holds
// the expected numbers, a diverged run is counted and the sweep still
// reported, an incomplete or missing seed gives n = 2 with a note, damaged
// and truncated metrics files are marked, the PNGs exist and show their
// data, the output is deterministic, and bad folders get errors naming them.
// Also the figure pieces it relies on: bands, y_fit_x_min, heat maps.
#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <stb_image.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "test_files.h"
#include "charts/heatmap.h"
#include "fileio/json_io.h"
#include "charts/plot.h"
#include "studies/report.h"

using namespace mhc;
using Catch::Contains;
using mhc::test::TempDir;
namespace fs = std::filesystem;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

struct Png {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;
  explicit Png(const std::string& path) {
    int channels = 0;
    uint8_t* data = stbi_load(path.c_str(), &width, &height, &channels, 3);
    REQUIRE(data != nullptr);
    rgb.assign(data, data + static_cast<size_t>(width) * height * 3);
    stbi_image_free(data);
  }
  long count(plot::Rgb c) const {
    long n = 0;
    for (size_t i = 0; i + 2 < rgb.size(); i += 3) n += rgb[i] == c.r && rgb[i + 1] == c.g && rgb[i + 2] == c.b;
    return n;
  }
  long non_white() const {
    long n = 0;
    for (size_t i = 0; i + 2 < rgb.size(); i += 3) n += !(rgb[i] == 255 && rgb[i + 1] == 255 && rgb[i + 2] == 255);
    return n;
  }
};

// One hand-made run of the sweep.
struct FakeRun {
  std::string variant, kind, seed;
  int streams = 1;
  double val_mid = 1.5, val_final = 1.2;    // evaluations at steps 0 (4.0), 30 and 60
  double gain_mid = 1.0, gain_final = 1.0;  // composite forward gain of site 0 at steps 30 and 60
  double min_col = 1.0;                     // composite min column sum of site 1 at the last evaluation
  double ms = 10;                           // ms per step after the first 10 (which take 100)
  std::vector<int> spikes;                  // training steps whose loss jumps from 2.0 to 3.0
  std::string outcome = "finished";         // "finished", "diverged", "" (no outcome.json), "absent" (no folder)
  int diverged_at = -1;                     // training stops before this step; evaluations after it are not written
  bool nul_line = false, truncated_tail = false;
  double h_diag0 = 0.7, h_diag1 = 0.6;  // token-mean H_res of sites 0 and 1: this on the diagonal
  double parameters = kNaN, tokens = kNaN, flops = kNaN, wall_s = 12.5;  // outcome.json (NaN: not written)
  std::string group;                                                     // prefixes the id when set
  std::string id() const { return fmt::format("{}{}-s{}", group.empty() ? "" : group + "-", variant, seed); }
};

Json matrix(int n, double diag) {
  Json rows = Json::array();
  for (int i = 0; i < n; ++i) {
    Json row = Json::array();
    for (int j = 0; j < n; ++j) row.push_back(i == j ? diag : (1.0 - diag) / std::max(n - 1, 1));
    rows.push_back(row);
  }
  return rows;
}

Json eval_line(const FakeRun& r, int step, double val, double gain, double min_col) {
  Json line;
  line["step"] = step;
  line["val_loss"] = val;
  line["val_bpb"] = val / std::log(2.0);                             // as for one ASCII character per token
  if (r.kind == "mhc") line["hellaswag_acc"] = 0.25 + step / 240.0;  // 0.5 at the last evaluation (step 60)
  line["expert_load"] = Json::array();
  line["peak_bytes"] = 3 * 1048576;
  Json a;
  a["order"] = "max over rows/columns per token, then mean over tokens";
  const auto pair = [](double x, double y) { return Json::array({x, y}); };
  a["forward"] = pair(gain, 1.0);
  a["backward"] = pair(gain, 1.0);
  a["composite_forward"] = pair(gain, 1.0);
  a["composite_backward"] = pair(gain / 2, 1.0);
  a["min_row_sum"] = pair(1.0, 1.0);
  a["min_col_sum"] = pair(1.0, 1.0);
  a["composite_min_row_sum"] = pair(1.0, 1.0);
  a["composite_min_col_sum"] = pair(1.0, min_col);
  a["mean_h_res"] = Json::array({matrix(r.streams, r.h_diag0), matrix(r.streams, r.h_diag1)});
  a["mean_composite"] = Json::array({matrix(r.streams, 0.5), matrix(r.streams, 0.6)});
  line["amax"] = a;
  // Streams drifting apart linearly: 0.01 per 60 steps at every site (0 with one stream).
  const double diversity = r.streams > 1 ? 0.01 * step / 60 : 0.0;
  line["stream_diversity"] = Json::array({diversity, diversity});
  return line;
}

void write_run(const fs::path& sweep, const FakeRun& r) {
  if (r.outcome == "absent") return;
  const fs::path dir = sweep / r.id();
  fs::create_directories(dir);
  std::string text;
  const int last = r.diverged_at >= 0 ? r.diverged_at : 60;
  text += json::dump(eval_line(r, 0, 4.0, 1.0, 1.0)) + "\n";
  for (int step = 0; step < last; ++step) {
    Json t;
    t["step"] = step;
    t["loss"] = std::find(r.spikes.begin(), r.spikes.end(), step) != r.spikes.end() ? 3.0 : 2.0;
    t["lr"] = 1e-3;
    t["grad_norm"] = step == 5 ? 4.5 : 1.0;
    t["tokens_per_s"] = 1000.0;
    t["ms_per_step"] = step < 10 ? 100.0 : r.ms;
    text += json::dump(t) + "\n";
    if (step == 20 && r.nul_line) text += std::string(40, '\0') + "\n";
    if (step + 1 == 30) text += json::dump(eval_line(r, 30, r.val_mid, r.gain_mid, 1.0)) + "\n";
    if (step + 1 == 60) text += json::dump(eval_line(r, 60, r.val_final, r.gain_final, r.min_col)) + "\n";
  }
  if (r.truncated_tail) text += R"({"step":60,"loss":2.0,"lr")";
  test::write_bytes(dir / "metrics.jsonl", text);
  if (!r.outcome.empty()) {
    Json o;
    o["status"] = r.outcome;
    o["step"] = r.outcome == "diverged" ? r.diverged_at : 60;
    o["reason"] = r.outcome == "diverged" ? "loss is NaN at step 45" : "";
    o["wall_s"] = r.wall_s;
    if (std::isfinite(r.parameters))
      o["parameters"] = r.parameters, o["tokens"] = r.tokens, o["flops_per_token"] = r.flops;
    test::write_bytes(dir / "outcome.json", json::dump(o, 2));
  }
}

// residual / hc / mhc × seeds 1-3, in the group "blocks2":
// residual finals 1.24, 1.32, 1.27 (seed 1 with two spikes);
// hc 1.20 (best 1.15 at step 30), 1.30 (a NUL line), seed 3 incomplete (truncated tail, no outcome.json);
// mhc 1.10, seed 2 diverged at step 45, 1.16.
std::vector<FakeRun> standard_runs() {
  std::vector<FakeRun> runs;
  FakeRun r;
  r.variant = "residual", r.kind = "residual", r.streams = 1, r.ms = 10;
  for (auto [seed, fin] : {std::pair{"1", 1.24}, {"2", 1.32}, {"3", 1.27}}) {
    r.seed = seed, r.val_final = fin, r.val_mid = fin + 0.1;
    r.spikes = r.seed == "1" ? std::vector<int>{52, 53, 57} : std::vector<int>{};
    runs.push_back(r);
  }
  r = FakeRun{};
  r.variant = "hc-n2", r.kind = "hc", r.streams = 2, r.ms = 12;
  r.seed = "1", r.val_mid = 1.15, r.val_final = 1.20, r.gain_mid = 7.5, r.gain_final = 5.0, r.min_col = 0.4;
  runs.push_back(r);
  r.seed = "2", r.val_mid = 1.40, r.val_final = 1.30, r.gain_mid = 3.0, r.gain_final = 4.0, r.min_col = 0.5,
  r.nul_line = true;
  runs.push_back(r);
  r.seed = "3", r.nul_line = false, r.truncated_tail = true, r.outcome = "", r.gain_mid = 50.0, r.gain_final = 60.0;
  runs.push_back(r);
  r = FakeRun{};
  r.variant = "mhc-n2", r.kind = "mhc", r.streams = 2, r.ms = 13, r.gain_mid = 1.0000002, r.gain_final = 1.0000001;
  r.min_col = 0.9981;
  r.seed = "1", r.val_mid = 1.2, r.val_final = 1.10;
  runs.push_back(r);
  r.seed = "2", r.outcome = "diverged", r.diverged_at = 45, r.val_mid = 1.3;
  runs.push_back(r);
  r.seed = "3", r.outcome = "finished", r.diverged_at = -1, r.val_mid = 1.25, r.val_final = 1.16;
  runs.push_back(r);
  return runs;
}

void write_sweep(const fs::path& sweep, const std::vector<FakeRun>& runs) {
  Json s;
  s["name"] = "test-sweep";
  s["spec"] = Json::object();
  Json axes = Json::array();
  Json a1, a2, a3;
  a1["flag"] = "residual", a1["values"] = Json::array({"residual", "hc", "mhc"});
  a2["flag"] = "seed", a2["values"] = Json::array({1, 2, 3});
  a3["flag"] = "model.blocks", a3["values"] = Json::array({2});
  axes.push_back(a1), axes.push_back(a2), axes.push_back(a3);
  s["axes"] = axes;
  Json list = Json::array();
  for (const FakeRun& r : runs) {
    Json p;
    p["id"] = r.id();
    p["group"] = "blocks2";
    p["variant"] = r.variant;
    p["residual"] = r.kind;
    p["streams"] = r.streams;
    p["seed"] = std::stoi(r.seed);
    Json settings;
    settings["model.blocks"] = 2;
    settings["residual"] = r.kind;
    settings["seed"] = std::stoi(r.seed);
    p["settings"] = settings;
    p["steps"] = 60;
    p["warmup"] = 5;
    p["args"] = Json::array({"--preset", "tiny"});
    list.push_back(p);
    write_run(sweep, r);
  }
  s["runs"] = list;
  fs::create_directories(sweep);
  test::write_bytes(sweep / "sweep.json", json::dump(s, 2));
}

// The table row (a line of report.md) that starts with "| <variant>".
std::string row_of(const std::string& md, const std::string& variant) {
  size_t at = md.find("| " + variant + " ");
  REQUIRE(at != std::string::npos);
  return md.substr(at, md.find('\n', at) - at);
}

// The cells of a table line, trimmed.
std::vector<std::string> cells(const std::string& line) {
  std::vector<std::string> out;
  size_t start = line.find('|') + 1;
  for (size_t bar; (bar = line.find('|', start)) != std::string::npos; start = bar + 1) {
    std::string c = line.substr(start, bar - start);
    c.erase(0, c.find_first_not_of(' '));
    c.erase(c.find_last_not_of(' ') + 1);
    out.push_back(c);
  }
  return out;
}

}  // namespace

TEST_CASE("report of a hand-made sweep: the numbers, a diverged run, an incomplete seed, damaged metrics", "[report]") {
  TempDir tmp;
  const fs::path sweep = tmp.path / "test-sweep";
  write_sweep(sweep, standard_runs());
  const std::vector<std::string> written = write_sweep_report(sweep.string());
  REQUIRE(!written.empty());
  CHECK(written.back() == (sweep / "report.md").string());
  const std::string md = test::read_bytes(sweep / "report.md");
  INFO(md);

  CHECK_THAT(md, Contains("# Sweep report: test-sweep"));
  CHECK_THAT(md, Contains("9 grid points: 7 finished, 1 diverged, 1 incomplete, 0 missing."));
  CHECK_THAT(md, Contains("## Group `blocks2`"));
  CHECK_THAT(md, Contains("Settings: `model.blocks=2`."));

  const std::vector<std::string> header = cells(md.substr(md.find("| variant")));
  const auto col = [&](const std::string& name) {
    const auto it = std::find(header.begin(), header.end(), name);
    REQUIRE(it != header.end());
    return static_cast<size_t>(it - header.begin());
  };
  const std::vector<std::string> res = cells(row_of(md, "residual"));
  const std::vector<std::string> hc = cells(row_of(md, "hc-n2"));
  const std::vector<std::string> mhc = cells(row_of(md, "mhc-n2"));

  // residual: three finished seeds; two spikes in seed 1 (52-53 is one spike, 57 another)
  CHECK(res[col("n")] == "3");
  CHECK(res[col("final val loss")] == "1.2767 ± 0.0404");
  CHECK(res[col("final bits/byte")] == "1.8418 ± 0.0583");  // the finals / ln 2: mean 1.841841, std 0.058306
  CHECK(res[col("Δ final vs residual")] == "—");
  CHECK(res[col("spikes/run (total)")] == "0.67 (2)");
  CHECK(res[col("max fwd gain")] == "1");
  CHECK(res[col("ms/step")] == "10.0");
  CHECK(res[col("× residual")] == "1.00×");
  CHECK(res[col("peak MiB")] == "3.0");

  // hc: seed 3 incomplete -> n = 2 and marked; seed 2's NUL line and seed 3's cut-off tail -> marked
  CHECK(hc[0] == "hc-n2 †‡");
  CHECK(hc[col("n")] == "2");
  CHECK(hc[col("final val loss")] == "1.2500 ± 0.0707");
  CHECK(hc[col("best val loss")] == "1.2250 ± 0.1061");
  CHECK(hc[col("Δ final vs residual")] == "-0.0300 ± 0.0141");
  CHECK(hc[col("Δ best vs residual")] == "-0.0550 ± 0.0495");
  CHECK(hc[col("max fwd gain")] == "7.50");  // seed 3's 60 is not counted: it has not ended
  CHECK(hc[col("max bwd gain")] == "3.75");
  CHECK(hc[col("min col sum")] == "0.4000");
  CHECK(res[col("stream diversity")] == "0");
  CHECK(hc[col("stream diversity")] == "0.0100");  // at each run's last evaluation (step 60)
  CHECK(hc[col("max grad norm")] == "4.50");
  CHECK(hc[col("diverged")] == "0 of 2");
  CHECK(hc[col("× residual")] == "1.20×");
  CHECK_THAT(md, Contains("- † `hc-n2-s3`: incomplete (no outcome.json: interrupted or not started); left out; it has "
                          "60 training steps logged of 60, last evaluation at step 60: val loss 1.3000"));
  CHECK_THAT(md, Contains("- ‡ `hc-n2-s2`: metrics.jsonl has 1 damaged line skipped"));
  CHECK_THAT(md, Contains("- ‡ `hc-n2-s3`: metrics.jsonl has its last line cut off mid-way (dropped)"));

  // mhc: seed 2 diverged at 45 -> counted, its loss left out
  CHECK(mhc[0] == "mhc-n2");
  CHECK(mhc[col("n")] == "2");
  CHECK(mhc[col("final val loss")] == "1.1300 ± 0.0424");
  CHECK(mhc[col("Δ final vs residual")] == "-0.1250 ± 0.0212");
  CHECK(mhc[col("diverged")] == "1 of 3 (step 45)");
  CHECK(mhc[col("max fwd gain")] == "1 + 2.0e-7");
  CHECK(mhc[col("min col sum")] == "0.9981");
  CHECK(mhc[col("HellaSwag acc")] == "0.5000 ± 0.0000");  // the two finished seeds
  CHECK(res[col("HellaSwag acc")] == "—");
  CHECK(mhc[col("stream diversity")] == "0.00833");  // (0.01 + 0.01 + 0.005 at the diverged run's step 30) / 3
  CHECK(mhc[col("× residual")] == "1.30×");
  CHECK_THAT(md, Contains("- `mhc-n2-s2`: diverged at step 45 (loss is NaN at step 45)"));

  // The rules are stated.
  CHECK_THAT(
      md,
      Contains("exceeds the median of the previous 50 logged losses (fewer early on, at least 10) by more than 20 %"));
  CHECK_THAT(md, Contains("sample standard deviation (n − 1)"));

  // Figures: written, linked from report.md, with data in them.
  for (const char* f : {"val_loss-blocks2.png", "val_loss_delta-blocks2.png", "gain_by_site.png", "gain_over_steps.png",
                        "h_res-blocks2.png"}) {
    INFO(f);
    REQUIRE(fs::exists(sweep / f));
    CHECK_THAT(md, Contains(fmt::format("]({})", f)));
    CHECK(std::find(written.begin(), written.end(), (sweep / f).string()) != written.end());
  }
  const Png loss((sweep / "val_loss-blocks2.png").string());
  CHECK(loss.width == 900);
  CHECK(loss.height == 560);
  for (int v = 0; v < 3; ++v) {  // each variant's line, in its colour, and its band's tint
    INFO("variant " << v);
    CHECK(loss.count(plot::series_color(v)) > 100);
    CHECK(loss.count(plot::band_color(v)) > 50);
  }
  const Png by_site((sweep / "gain_by_site.png").string());
  CHECK(by_site.width == 1800);
  CHECK(by_site.height == 1120);
  // One group: HC and mHC keep their colours from the loss chart (styles 1 and 2); residual has no gain line.
  CHECK(by_site.count(plot::series_color(1)) > 200);
  CHECK(by_site.count(plot::series_color(2)) > 200);
  CHECK(by_site.count(plot::series_color(0)) == 0);
  const Png heat((sweep / "h_res-blocks2.png").string());
  CHECK(heat.width > 300);
  CHECK(heat.count(plot::heatmap_color(0.7, 0.7)) > 500);  // the diagonal of site 0's H_res, darkest in its row
}

TEST_CASE("report: the same inputs give the same bytes", "[report]") {
  TempDir tmp;
  write_sweep(tmp.path / "s", standard_runs());
  const std::vector<std::string> a = write_sweep_report((tmp.path / "s").string(), (tmp.path / "a").string());
  const std::vector<std::string> b = write_sweep_report((tmp.path / "s").string(), (tmp.path / "b").string());
  REQUIRE(a.size() == b.size());
  REQUIRE(a.size() >= 6);
  for (size_t i = 0; i < a.size(); ++i) {
    INFO(a[i]);
    CHECK(fs::path(a[i]).filename() == fs::path(b[i]).filename());
    CHECK(test::read_bytes(a[i]) == test::read_bytes(b[i]));
  }
  CHECK_FALSE(fs::exists(tmp.path / "s" / "report.md"));  // --out elsewhere leaves the sweep folder alone
}

TEST_CASE("report: a missing run folder is a missing seed, and a sweep without residual has no paired columns",
          "[report]") {
  TempDir tmp;
  std::vector<FakeRun> runs = standard_runs();
  runs[7].outcome = "absent";  // mhc seed 2: never started, no folder
  runs[7].diverged_at = -1;
  write_sweep(tmp.path / "s", runs);
  write_sweep_report((tmp.path / "s").string());
  std::string md = test::read_bytes(tmp.path / "s" / "report.md");
  INFO(md);
  CHECK_THAT(md, Contains("0 diverged, 1 incomplete, 1 missing"));
  CHECK_THAT(md, Contains("- † `mhc-n2-s2`: missing (no run folder); left out"));
  CHECK(cells(row_of(md, "mhc-n2"))[1] == "2");
  CHECK(cells(row_of(md, "mhc-n2"))[0] == "mhc-n2 †");

  // Only HC and mHC: no baseline, so no Δ or ratio columns and no difference chart.
  std::vector<FakeRun> no_residual(runs.begin() + 3, runs.end());
  write_sweep(tmp.path / "n", no_residual);
  const std::vector<std::string> written = write_sweep_report((tmp.path / "n").string());
  md = test::read_bytes(tmp.path / "n" / "report.md");
  CHECK_THAT(md, !Contains("Δ final"));
  CHECK_THAT(md, !Contains("× residual"));
  CHECK_FALSE(fs::exists(tmp.path / "n" / "val_loss_delta-blocks2.png"));
  CHECK(fs::exists(tmp.path / "n" / "val_loss-blocks2.png"));
}

TEST_CASE("report: bad folders get errors naming them", "[report]") {
  TempDir tmp;
  const std::string empty = (tmp.path / "empty").string();
  fs::create_directories(empty);
  CHECK_THROWS_WITH(write_sweep_report(empty), Contains("no sweep.json in '" + empty + "'"));
  CHECK_THROWS_WITH(write_sweep_report((tmp.path / "nope").string()), Contains("does not exist"));
  test::write_bytes(tmp.path / "empty" / "sweep.json", R"({"name": "x", "runs": [{"id": "a"}]})");
  CHECK_THROWS_WITH(write_sweep_report(empty), Contains("sweep.json: runs[0] has no \"group\""));
  test::write_bytes(
      tmp.path / "empty" / "sweep.json",
      R"({"name": "x", "runs": [{"id": "../up", "group": "", "variant": "hc", "residual": "hc", "seed": 1}]})");
  CHECK_THROWS_WITH(write_sweep_report(empty), Contains("'../up', which is not a plain folder name"));
  test::write_bytes(tmp.path / "empty" / "sweep.json", R"({"name": "x", "runs": [)");
  CHECK_THROWS_WITH(write_sweep_report(empty), Contains("sweep.json"));
}

TEST_CASE("plot: a band is a tint under the line, and y_fit_x_min leaves early points out of the y range",
          "[report][plot]") {
  plot::Chart c{"band", "step", "loss", false, {}};
  plot::Series s{"mean", {0, 10, 20, 30}, {4.0, 2.0, 1.6, 1.5}, 2, plot::Marker::none};
  s.band_lo = {3.8, 1.8, 1.5, 1.4};
  s.band_hi = {4.2, 2.2, 1.7, 1.6};
  c.series.push_back(s);
  CHECK(plot::y_range(c).hi > 4.2);  // the band widens the axis
  c.y_fit_x_min = 15;
  const plot::Range r = plot::y_range(c);
  CHECK(r.hi < 1.8);  // fitted to steps 20 and 30 only (band included)
  CHECK(r.lo < 1.4);
  TempDir tmp;
  plot::write_png(c, tmp.file("band.png"), 480, 300);
  const Png img(tmp.file("band.png"));
  CHECK(img.count(plot::band_color(2)) > 2000);
  CHECK(img.count(plot::series_color(2)) > 100);
  // A band of the wrong length is refused, naming the series.
  c.series[0].band_hi.pop_back();
  CHECK_THROWS_WITH(plot::write_png(c, tmp.file("bad.png")), Contains("'mean'") && Contains("band"));
}

TEST_CASE("heat maps: colours, labels, layout and errors", "[report][plot]") {
  CHECK(plot::heatmap_label(0.25) == "0.25");
  CHECK(plot::heatmap_label(1.0 / 3) == "0.333");
  CHECK(plot::heatmap_label(1234.0) == "1.23e3");
  CHECK(plot::heatmap_label(kNaN) == "nan");
  CHECK(plot::heatmap_color(0.0, 1.0) == plot::Rgb{247, 247, 247});  // white at 0
  CHECK(plot::heatmap_color(1.0, 1.0) == plot::Rgb{5, 48, 97});      // darkest blue at +scale
  CHECK(plot::heatmap_color(-1.0, 1.0) == plot::Rgb{103, 0, 31});    // darkest red at -scale
  CHECK(plot::heatmap_scale({0.5, -2.0, kNaN}) == 2.0);

  plot::HeatmapFigure fig{"H_res", "rows: output streams", {}};
  fig.rows.push_back({"mHC", {{"site 0", {{0.25, 0.75}, {0.75, 0.25}}}, {"site 1", {{1.0, 0.0}, {0.0, 1.0}}}}});
  fig.rows.push_back({"HC", {{"site 0", {{2.0, -1.0}, {0.5, 0.5}}}}});
  TempDir tmp;
  plot::write_heatmaps_png(fig, tmp.file("h.png"));
  const Png img(tmp.file("h.png"));
  const int cell = 40;  // the smallest cell side at text scale 2
  // Row 1 scale: 1.0 -> two full cells of the darkest blue at site 1's diagonal (minus the text).
  CHECK(img.count(plot::heatmap_color(1.0, 1.0)) > 2 * cell * cell / 2);
  // Row 2 has its own scale (2.0): its 2.0 is darkest blue too, its -1.0 half-dark red.
  CHECK(img.count(plot::heatmap_color(-1.0, 2.0)) > cell * cell / 2);
  // Deterministic.
  plot::write_heatmaps_png(fig, tmp.file("h2.png"));
  CHECK(test::read_bytes(tmp.file("h.png")) == test::read_bytes(tmp.file("h2.png")));

  plot::HeatmapFigure bad{"bad", "", {{"row", {{"ragged", {{1.0, 2.0}, {3.0}}}}}}};
  CHECK_THROWS_WITH(plot::write_heatmaps_png(bad, tmp.file("b.png")), Contains("'ragged'"));
  CHECK_THROWS_AS(plot::write_heatmaps_png(plot::HeatmapFigure{}, tmp.file("b.png")), std::invalid_argument);
}

TEST_CASE("report: the confounds per variant, each variant at its best optim.lr, and mHC's H_res near J/n",
          "[report]") {
  TempDir tmp;
  const fs::path sweep = tmp.path / "lr-sweep";
  // residual and mhc-n2 at two learning rates, two seeds: residual is best at 0.01, mHC at 0.001.
  std::vector<FakeRun> runs;
  for (const std::string lr : {"0.001", "0.01"}) {
    for (const std::string seed : {"1", "2"}) {
      FakeRun r;
      r.group = "lr" + lr, r.seed = seed;
      r.variant = "residual", r.kind = "residual", r.streams = 1, r.parameters = 804000, r.flops = 4.8e6;
      r.tokens = 60 * 512, r.wall_s = seed == "1" ? 10 : 14;
      r.val_final = (lr == "0.01" ? 1.30 : 1.40) + (seed == "2" ? 0.02 : 0);
      runs.push_back(r);
      r.variant = "mhc-n2", r.kind = "mhc", r.streams = 2, r.parameters = 903000, r.flops = 5.4e6, r.wall_s = 20;
      r.val_final = (lr == "0.001" ? 1.25 : 1.35) + (seed == "2" ? 0.02 : 0);
      r.h_diag0 = lr == "0.001" ? 0.502 : 0.7, r.h_diag1 = lr == "0.001" ? 0.499 : 0.6;  // at 0.001: within 1 % of J/n
      runs.push_back(r);
    }
  }
  Json s;
  s["name"] = "lr-sweep";
  Json axes = Json::array();
  axes.push_back(Json{{"flag", "residual"}, {"values", Json::array({"residual", "mhc"})}});
  axes.push_back(Json{{"flag", "optim.lr"}, {"values", Json::array({0.001, 0.01})}});
  axes.push_back(Json{{"flag", "seed"}, {"values", Json::array({1, 2})}});
  s["axes"] = axes;
  Json list = Json::array();
  for (const FakeRun& r : runs) {
    const std::string lr = r.group.substr(2);
    list.push_back(
        Json{{"id", r.id()},
             {"group", r.group},
             {"variant", r.variant},
             {"residual", r.kind},
             {"streams", r.streams},
             {"seed", std::stoi(r.seed)},
             {"steps", 60},
             {"settings", Json{{"optim.lr", std::stod(lr)}, {"residual", r.kind}, {"seed", std::stoi(r.seed)}}}});
    write_run(sweep, r);
  }
  s["runs"] = list;
  test::write_bytes(sweep / "sweep.json", json::dump(s, 2));

  const SweepResults results = read_sweep_results(sweep.string());
  REQUIRE(results.runs.size() == 8);
  CHECK(results.runs[0].parameters == 804000);
  CHECK(results.runs[0].tokens == 60 * 512);
  CHECK(results.runs[1].flops_per_token == 5.4e6);
  const report::SweepTable table = report::make_table(results);
  REQUIRE(table.rows.size() == 4);  // (lr0.001, lr0.01) × (residual, mhc-n2)
  const report::VariantRow& res = table.rows[0];
  const report::VariantRow& mhc = table.rows[1];
  CHECK(res.variant == "residual");
  CHECK(res.wall_s == Approx(12.0));
  CHECK(mhc.parameters == 903000);
  CHECK(mhc.h_res_runs == 2);
  CHECK(mhc.h_res_near_initial == 2);
  CHECK(table.rows[3].h_res_near_initial == 0);  // mHC at lr 0.01: H_res has moved
  CHECK(table.rows[3].h_res_runs == 2);

  const std::vector<report::AxisBest> best = report::best_of_axes(results, table);
  REQUIRE(best.size() == 2);
  CHECK(best[0].axis == "optim.lr");
  CHECK(best[0].variant == "residual");
  CHECK(best[0].value == "0.01");
  CHECK(best[0].final_val.mean == Approx(1.31));
  CHECK(best[0].values == 2);
  CHECK(best[1].variant == "mhc-n2");
  CHECK(best[1].value == "0.001");

  write_sweep_report(sweep.string());
  const std::string md = test::read_bytes(sweep / "report.md");
  INFO(md);
  CHECK_THAT(md,
             Contains("| variant  | parameters       | tokens seen | FLOPs/token | FLOPs   | wall time | ms/step |"));
  CHECK_THAT(md,
             Contains("| residual | 804000           | 3.07e4      | 4.80e6      | 1.47e11 | 12.0 s    | 10.0    |"));
  CHECK_THAT(md,
             Contains("| mhc-n2   | 903000 (+12.3 %) | 3.07e4      | 5.40e6      | 1.66e11 | 20.0 s    | 10.0    |"));
  CHECK_THAT(md, Contains("## Each variant at its best `optim.lr`"));
  CHECK_THAT(md, Contains("| —              | residual | 0.01          | 1.3100 ± 0.0141 | 2            |"));
  CHECK_THAT(md, Contains("| —              | mhc-n2   | 0.001         | 1.2600 ± 0.0141 | 2            |"));
  CHECK_THAT(md, Contains("**mhc-n2: H_res is still within 1 % of its initial J/n** in 2 of 2 runs"));
  // Only the group where it holds carries the note.
  CHECK(md.find("H_res is still within") == md.rfind("H_res is still within"));
}
