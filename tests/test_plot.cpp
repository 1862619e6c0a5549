// test_plot.cpp — charts/plot.h and train/run_plots.h: charts are written as
// PNGs, read back with stb_image and checked by their pixels: series colours
// inside the frame, log axes, gaps at NaN, axis ranges that do not magnify
// noise, identical lines that stay visible, a legend that covers no data, the
// font's glyphs, one look per run across the run charts, degenerate inputs,
// grids, errors.
#include <catch2/catch.hpp>

#include <stb_image.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "charts/plot.h"
#include "train/run_plots.h"
#include "test_files.h"

using namespace mhc;
using Catch::Contains;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

using mhc::test::TempDir;

struct Box {
  int x0 = 0, y0 = 0, x1 = -1, y1 = -1;  // inclusive; empty when x1 < x0
  bool empty() const { return x1 < x0; }
  bool contains(int x, int y) const { return x >= x0 && x <= x1 && y >= y0 && y <= y1; }
  int width() const { return x1 - x0 + 1; }
  int height() const { return y1 - y0 + 1; }
};

// A PNG read back as RGB.
struct Image {
  int width = 0, height = 0, channels_in_file = 0;
  std::vector<uint8_t> rgb;

  explicit Image(const std::string& path) {
    uint8_t* data = stbi_load(path.c_str(), &width, &height, &channels_in_file, 3);
    REQUIRE(data != nullptr);
    rgb.assign(data, data + static_cast<size_t>(width) * height * 3);
    stbi_image_free(data);
  }
  plot::Rgb at(int x, int y) const {
    const uint8_t* p = &rgb[(static_cast<size_t>(y) * width + x) * 3];
    return {p[0], p[1], p[2]};
  }
  // Pixels of exactly colour c in [x0, x1) x [y0, y1) (the whole image by default).
  long count(plot::Rgb c, int x0 = 0, int y0 = 0, int x1 = -1, int y1 = -1) const {
    if (x1 < 0) x1 = width;
    if (y1 < 0) y1 = height;
    long n = 0;
    for (int y = y0; y < y1; ++y) {
      for (int x = x0; x < x1; ++x) n += at(x, y) == c;
    }
    return n;
  }
  long count_in(plot::Rgb c, const Box& b) const { return count(c, b.x0, b.y0, b.x1 + 1, b.y1 + 1); }
  Box bounding_box(plot::Rgb c) const {
    Box b{width, height, -1, -1};
    for (int y = 0; y < height; ++y) {
      for (int x = 0; x < width; ++x) {
        if (at(x, y) == c)
          b.x0 = std::min(b.x0, x), b.y0 = std::min(b.y0, y), b.x1 = std::max(b.x1, x), b.y1 = std::max(b.y1, y);
      }
    }
    return b;
  }
  // The plot frame: the rows and columns mostly made of the frame colour.
  Box frame() const {
    Box b{width, height, -1, -1};
    for (int y = 0; y < height; ++y) {
      if (count(plot::kFrameColor, 0, y, width, y + 1) > width / 2) b.y0 = std::min(b.y0, y), b.y1 = std::max(b.y1, y);
    }
    for (int x = 0; x < width; ++x) {
      if (count(plot::kFrameColor, x, 0, x + 1, height) > height / 3)
        b.x0 = std::min(b.x0, x), b.x1 = std::max(b.x1, x);
    }
    return b;
  }
  // Sorted columns (or rows) that hold at least one pixel of colour c inside box.
  std::vector<int> columns_with(plot::Rgb c, const Box& box) const {
    std::vector<int> out;
    for (int x = box.x0; x <= box.x1; ++x) {
      if (count(c, x, box.y0, x + 1, box.y1 + 1) > 0) out.push_back(x);
    }
    return out;
  }
  std::vector<int> rows_with(plot::Rgb c, const Box& box) const {
    std::vector<int> out;
    for (int y = box.y0; y <= box.y1; ++y) {
      if (count(c, box.x0, y, box.x1 + 1, y + 1) > 0) out.push_back(y);
    }
    return out;
  }
};

// Groups sorted coordinates into runs of neighbours (gaps of more than max_gap split runs).
std::vector<std::vector<int>> runs_of(const std::vector<int>& sorted, int max_gap = 1) {
  std::vector<std::vector<int>> runs;
  for (int v : sorted) {
    if (runs.empty() || v - runs.back().back() > max_gap) runs.emplace_back();
    runs.back().push_back(v);
  }
  return runs;
}

double mean(const std::vector<int>& v) {
  double s = 0;
  for (int x : v) s += x;
  return v.empty() ? 0.0 : s / v.size();
}

plot::Series line_series(const std::string& label, int n, double (*f)(double)) {
  plot::Series s{label, {}, {}};
  for (int i = 0; i < n; ++i) {
    s.x.push_back(i);
    s.y.push_back(f(i));
  }
  return s;
}

}  // namespace

TEST_CASE("palette colours are distinct and differ from the chart's own colours", "[plot]") {
  for (size_t i = 0; i < plot::kPaletteSize; ++i) {
    for (size_t j = 0; j < i; ++j) CHECK_FALSE(plot::series_color(i) == plot::series_color(j));
    for (const plot::Rgb c :
         {plot::kBackgroundColor, plot::kFrameColor, plot::kGridColor, plot::kTextColor, plot::kLegendBorderColor}) {
      CHECK_FALSE(plot::series_color(i) == c);
    }
  }
  CHECK(plot::series_color(plot::kPaletteSize + 1) == plot::series_color(1));
}

TEST_CASE("series are drawn in their colours, inside the frame, the right way up", "[plot]") {
  TempDir dir;
  plot::Chart chart{"loss", "step", "loss", false, {}};
  chart.series.push_back(line_series("rising", 200, [](double x) { return x * x; }));
  chart.series.push_back(line_series("falling", 200, [](double x) { return 40000.0 - 150.0 * x; }));
  chart.series.push_back(line_series("wavy", 200, [](double x) { return 20000.0 + 8000.0 * std::sin(x / 15.0); }));
  const std::string path = dir.file("chart.png");
  plot::write_png(chart, path, 900, 560);
  CHECK_FALSE(std::filesystem::exists(path + ".tmp"));

  const Image img(path);
  CHECK(img.width == 900);
  CHECK(img.height == 560);
  CHECK((img.channels_in_file == 3 || img.channels_in_file == 4));
  const Box frame = img.frame();
  REQUIRE_FALSE(frame.empty());
  CHECK(frame.width() > 600);  // the plot area takes most of the image
  CHECK(frame.height() > 350);
  CHECK(frame.x0 > 30);               // with room for tick labels on the left...
  CHECK(frame.y1 < img.height - 40);  // ...and below

  for (size_t i = 0; i < chart.series.size(); ++i) {
    INFO("series " << i);
    const plot::Rgb c = plot::series_color(i);
    CHECK(img.count(c) > 400);  // a 2-px line across ~800 columns (dashed for series 1 and 2)
    const Box b = img.bounding_box(c);
    CHECK(b.x0 > frame.x0);
    CHECK(b.x1 < frame.x1);
    CHECK(b.y0 > frame.y0);
    CHECK(b.y1 < frame.y1);
  }
  // y grows upwards: the rising series sits low on the left and high on the right.
  const plot::Rgb rising = plot::series_color(0);
  const Box left{frame.x0 + 1, frame.y0 + 1, frame.x0 + 40, frame.y1 - 1};
  const Box right{frame.x1 - 40, frame.y0 + 1, frame.x1 - 1, frame.y1 - 1};
  CHECK(mean(img.rows_with(rising, left)) > frame.y0 + 0.8 * frame.height());
  CHECK(mean(img.rows_with(rising, right)) < frame.y0 + 0.2 * frame.height());
  // The data fills the frame (axes fit the data): the rising curve spans
  // almost the full width and height.
  const Box rb = img.bounding_box(rising);
  CHECK(rb.width() > 0.9 * frame.width());
  CHECK(rb.height() > 0.8 * frame.height());

  // Text (title, tick labels, axis labels) is drawn around the frame.
  CHECK(img.count(plot::kTextColor, 0, 0, img.width, frame.y0) > 50);               // title and y label
  CHECK(img.count(plot::kTextColor, 0, frame.y0, frame.x0, frame.y1) > 50);         // y tick labels
  CHECK(img.count(plot::kTextColor, 0, frame.y1 + 1, img.width, img.height) > 50);  // x ticks, x label
  CHECK(img.count(plot::kGridColor) > 1000);                                        // grid lines
}

TEST_CASE("the same chart gives the same bytes", "[plot]") {
  TempDir dir;
  plot::Chart chart{"t", "x", "y", false, {line_series("a", 50, [](double x) { return std::cos(x); })}};
  plot::write_png(chart, dir.file("a.png"));
  plot::write_png(chart, dir.file("b.png"));
  std::ifstream a(dir.file("a.png"), std::ios::binary), b(dir.file("b.png"), std::ios::binary);
  const std::vector<char> bytes_a((std::istreambuf_iterator<char>(a)), {}),
      bytes_b((std::istreambuf_iterator<char>(b)), {});
  CHECK(bytes_a.size() > 1000);
  CHECK(bytes_a == bytes_b);
}

TEST_CASE("a log-y chart spaces decades evenly and skips values <= 0", "[plot]") {
  TempDir dir;
  // Six flat pieces at 1e-3, 1e-2, ..., 1e2, separated by gaps, plus points
  // that a log axis cannot show (0 and -1).
  plot::Series s{"", {}, {}};
  for (int k = 0; k < 6; ++k) {
    const double value = std::pow(10.0, k - 3);
    for (int i = 0; i < 10; ++i) {
      s.x.push_back(k * 12 + i);
      s.y.push_back(value);
    }
    s.x.push_back(k * 12 + 10);
    s.y.push_back(kNaN);
  }
  s.x.push_back(80);
  s.y.push_back(0.0);
  s.x.push_back(81);
  s.y.push_back(-1.0);
  plot::Chart chart{"gradient norm", "step", "norm", true, {s}};
  const std::string path = dir.file("log.png");
  plot::write_png(chart, path, 700, 500);
  const Image img(path);
  const Box frame = img.frame();
  REQUIRE_FALSE(frame.empty());
  const std::vector<std::vector<int>> levels = runs_of(img.rows_with(plot::series_color(0), frame));
  REQUIRE(levels.size() == 6);  // every decade drawn, each at its own height
  std::vector<double> centres;
  for (const auto& rows : levels) centres.push_back(mean(rows));
  const double spacing = (centres.back() - centres.front()) / 5.0;
  CHECK(spacing > 40.0);
  for (size_t i = 1; i < centres.size(); ++i) CHECK(std::fabs(centres[i] - centres[i - 1] - spacing) < 2.0);
  // Together they fill the height of the plot (the axis fits 1e-3..1e2).
  CHECK(centres.back() - centres.front() > 0.8 * frame.height());
  // The 0 and -1 points were drawn nowhere (a seventh level above would have
  // shown them clamped to the bottom), and the x axis fits only the drawable
  // points, so the last flat piece reaches the right end of the plot.
  const Box b = img.bounding_box(plot::series_color(0));
  CHECK(b.x1 > frame.x0 + 0.95 * frame.width());
}

TEST_CASE("NaN values leave a gap in the line", "[plot]") {
  TempDir dir;
  plot::Series s = line_series("", 100, [](double x) { return 1.0 + 0.5 * std::sin(x / 8.0); });
  for (int i = 40; i < 60; ++i) s.y[static_cast<size_t>(i)] = kNaN;
  s.y[10] = std::numeric_limits<double>::infinity();  // a one-point hole: still a break in the line
  plot::Chart chart{"", "", "", false, {s}};
  const std::string path = dir.file("gap.png");
  plot::write_png(chart, path);
  const Image img(path);
  const Box frame = img.frame();
  const std::vector<std::vector<int>> pieces = runs_of(img.columns_with(plot::series_color(0), frame));
  REQUIRE(pieces.size() == 3);
  const int gap = pieces[2].front() - pieces[1].back();
  CHECK(gap > 0.15 * frame.width());  // 20 of 99 steps missing
  CHECK(pieces[1].front() - pieces[0].back() > 2);
  CHECK(pieces[2].back() - pieces[0].front() > 0.9 * frame.width());
}

TEST_CASE("the legend shows every series and avoids the data", "[plot]") {
  TempDir dir;
  // Curves that rise quickly and flatten at the top: only the bottom-right corner is free.
  plot::Chart chart{"accuracy", "step", "acc", false, {}};
  for (int k = 0; k < 3; ++k) {
    plot::Series s{"run " + std::to_string(k), {}, {}};
    for (int i = 0; i <= 100; ++i) {
      s.x.push_back(i);
      s.y.push_back(1.0 - std::exp(-i / (3.0 + k)) - 0.01 * k);
    }
    chart.series.push_back(s);
  }
  const std::string path = dir.file("legend.png");
  plot::write_png(chart, path);
  const Image img(path);
  const Box frame = img.frame();
  const Box legend = img.bounding_box(plot::kLegendBorderColor);
  REQUIRE_FALSE(legend.empty());
  CHECK(legend.width() > 60);
  CHECK(legend.height() > 40);
  CHECK(frame.contains(legend.x0, legend.y0));
  CHECK(frame.contains(legend.x1, legend.y1));
  CHECK((legend.x0 + legend.x1) / 2 > (frame.x0 + frame.x1) / 2);  // right half
  CHECK((legend.y0 + legend.y1) / 2 > (frame.y0 + frame.y1) / 2);  // bottom half
  for (size_t k = 0; k < chart.series.size(); ++k) {
    INFO("series " << k);
    CHECK(img.count_in(plot::series_color(k), legend) > 20);  // its swatch
    // and the swatches are stacked: a distinct row band per series
    const std::vector<int> rows = img.rows_with(plot::series_color(k), legend);
    REQUIRE_FALSE(rows.empty());
    CHECK(rows.back() - rows.front() < 6);
  }
  CHECK(img.count_in(plot::kTextColor, legend) > 50);  // the labels

  // With every corner equally free the legend still appears, inside the frame.
  plot::Chart empty_corners{"", "", "", false, {line_series("flat", 10, [](double) { return 1.0; })}};
  plot::write_png(empty_corners, path);
  const Image flat(path);
  const Box flat_legend = flat.bounding_box(plot::kLegendBorderColor);
  REQUIRE_FALSE(flat_legend.empty());
  CHECK(flat.frame().contains(flat_legend.x0, flat_legend.y0));
}

TEST_CASE("degenerate inputs give a valid, sensible chart", "[plot]") {
  TempDir dir;
  const std::string path = dir.file("degenerate.png");
  const auto render = [&](const plot::Chart& chart) {
    plot::write_png(chart, path, 500, 360);
    Image img(path);
    REQUIRE(img.width == 500);
    REQUIRE(img.height == 360);
    REQUIRE_FALSE(img.frame().empty());
    return img;
  };
  const plot::Rgb c = plot::series_color(0);

  SECTION("no series") {
    const Image img = render(plot::Chart{"nothing yet", "step", "loss", false, {}});
    CHECK(img.count(plot::kTextColor) > 100);  // labels and ticks still drawn
    const Image log_img = render(plot::Chart{"nothing", "", "", true, {}});
    CHECK(log_img.count(plot::kFrameColor) > 500);
  }
  SECTION("empty and all-NaN series") {
    const Image img = render(plot::Chart{"", "", "", false, {{"", {}, {}}, {"", {1, 2}, {kNaN, kNaN}}}});
    CHECK(img.count(c) == 0);
    CHECK(img.count(plot::series_color(1)) == 0);
  }
  SECTION("a single point is drawn as a dot in the middle") {
    const Image img = render(plot::Chart{"", "", "", false, {{"", {3.0}, {7.0}}}});
    const Box frame = img.frame();
    const Box dot = img.bounding_box(c);
    REQUIRE_FALSE(dot.empty());
    CHECK(dot.width() <= 7);
    CHECK(dot.height() <= 7);
    CHECK(std::abs((dot.x0 + dot.x1) / 2 - (frame.x0 + frame.x1) / 2) < 5);
    CHECK(std::abs((dot.y0 + dot.y1) / 2 - (frame.y0 + frame.y1) / 2) < 5);
  }
  SECTION("all-equal y values draw a horizontal line across the middle") {
    const Image img = render(plot::Chart{"", "", "", false, {{"", {0, 1, 2, 3}, {2.5, 2.5, 2.5, 2.5}}}});
    const Box frame = img.frame();
    const Box line = img.bounding_box(c);
    CHECK(line.height() <= 3);
    CHECK(line.width() > 0.9 * frame.width());
    CHECK(std::abs((line.y0 + line.y1) / 2 - (frame.y0 + frame.y1) / 2) < 5);
  }
  SECTION("zero-width x range draws a vertical line") {
    const Image img = render(plot::Chart{"", "", "", false, {{"", {5, 5, 5}, {0, 1, 2}}}});
    const Box frame = img.frame();
    const Box line = img.bounding_box(c);
    CHECK(line.width() <= 3);
    CHECK(line.height() > 0.8 * frame.height());
  }
  SECTION("all-equal values on a log axis, and zero everywhere") {
    const Image img = render(plot::Chart{"", "", "", true, {{"", {0, 1, 2}, {0.01, 0.01, 0.01}}}});
    CHECK(img.bounding_box(c).height() <= 3);
    const Image zeros = render(plot::Chart{"", "", "", true, {{"", {0, 1}, {0.0, 0.0}}}});
    CHECK(zeros.count(c) == 0);
  }
  SECTION("a chart with nothing drawable says why: not finite, too large, or not positive on a log axis") {
    // The message's width tells which one was written (scale 2, the last
    // glyph's advance past its ink at most 6 pixels).
    const auto message_fits = [&](const plot::Chart& chart, const std::string& message) {
      const Box box = render(chart).bounding_box(plot::kMutedTextColor);
      const int w = 2 * plot::text_mask(message).width;
      return box.width() <= w && box.width() >= w - 8;
    };
    CHECK(message_fits(plot::Chart{"", "", "", false, {{"", {1, 2}, {kNaN, kNaN}}}}, "no finite data"));
    CHECK(message_fits(plot::Chart{"", "", "", false, {{"", {1, 2}, {1e308, 1e308}}}},
                       "values beyond 1e300 are not drawn"));
    CHECK(
        message_fits(plot::Chart{"", "", "", true, {{"", {1, 2}, {0.0, -1.0}}}}, "no positive data for the log axis"));
  }
  SECTION("long labels, odd characters and many series stay inside the image") {
    plot::Chart chart{std::string(200, 'T'), std::string(200, 'x'), "y \xCE\xB1\xE2\x82\xAC", false, {}};
    for (int k = 0; k < 25; ++k) chart.series.push_back({std::string(80, 'L'), {0, 1}, {0.0 + k, 1.0 + k}});
    const Image img = render(chart);
    CHECK(img.count(plot::series_color(0)) > 0);
    CHECK(img.count(plot::kLegendBorderColor) > 0);
  }
}

TEST_CASE("large series are drawn fully", "[plot]") {
  TempDir dir;
  // 200k points: the per-column reduction must keep the extremes.
  plot::Series s{"big", {}, {}};
  for (int i = 0; i < 200000; ++i) {
    s.x.push_back(i);
    s.y.push_back(i == 123457 ? 10.0 : (i == 54321 ? -10.0 : std::sin(i / 5000.0)));
  }
  const std::string path = dir.file("big.png");
  plot::write_png(plot::Chart{"", "", "", false, {s}}, path);
  const Image img(path);
  const Box frame = img.frame();
  const Box b = img.bounding_box(plot::series_color(0));
  CHECK(b.y0 < frame.y0 + 0.1 * frame.height());  // the single spike up is visible
  CHECK(b.y1 > frame.y1 - 0.1 * frame.height());  // and the single spike down
}

TEST_CASE("a grid puts several charts in one image", "[plot]") {
  TempDir dir;
  std::vector<plot::Chart> charts;
  for (int k = 0; k < 3; ++k) {
    charts.push_back({"panel " + std::to_string(k), "step", "value", k == 1, {line_series("a", 30, [](double x) {
                        return 1.0 + x;
                      })}});
  }
  const std::string path = dir.file("grid.png");
  plot::write_grid_png(charts, 2, path, 320, 240);
  const Image img(path);
  CHECK(img.width == 640);
  CHECK(img.height == 480);
  // Three cells hold a chart, the fourth is blank.
  for (int cell = 0; cell < 4; ++cell) {
    const int x0 = (cell % 2) * 320, y0 = (cell / 2) * 240;
    INFO("cell " << cell);
    const long frame_pixels = img.count(plot::kFrameColor, x0, y0, x0 + 320, y0 + 240);
    const long series_pixels = img.count(plot::series_color(0), x0, y0, x0 + 320, y0 + 240);
    if (cell < 3) {
      CHECK(frame_pixels > 400);
      CHECK(series_pixels > 100);
    } else {
      CHECK(img.count(plot::kBackgroundColor, x0, y0, x0 + 320, y0 + 240) == 320L * 240);
    }
  }
  plot::write_grid_png(charts, 3, path);
  const Image row(path);
  CHECK(row.width == 3 * 640);
  CHECK(row.height == 400);
}

TEST_CASE("bad arguments and unwritable paths give clear errors", "[plot]") {
  TempDir dir;
  const plot::Chart chart{"t", "x", "y", false, {{"s", {0, 1}, {0, 1}}}};
  CHECK_THROWS_WITH(plot::write_png(chart, dir.file("missing_dir/x.png")), Contains("cannot create"));
  CHECK_THROWS_WITH(plot::write_png(chart, dir.file("missing_dir/x.png")), Contains("missing_dir"));
  CHECK_FALSE(std::filesystem::exists(dir.file("missing_dir")));
  CHECK_THROWS_WITH(plot::write_png(chart, dir.file("small.png"), 100, 80), Contains("too small"));
  CHECK_THROWS_AS(plot::write_png(chart, dir.file("small.png"), 900, 10), std::invalid_argument);
  CHECK_FALSE(std::filesystem::exists(dir.file("small.png")));
  const plot::Chart mismatched{"t", "x", "y", false, {{"bad", {0, 1, 2}, {0, 1}}}};
  CHECK_THROWS_WITH(plot::write_png(mismatched, dir.file("m.png")), Contains("3 x values but 2 y values"));
  CHECK_THROWS_WITH(plot::write_grid_png({chart}, 0, dir.file("g.png")), Contains("columns"));
  CHECK_THROWS_WITH(plot::write_grid_png({}, 2, dir.file("g.png")), Contains("at least one chart"));
  CHECK_THROWS_WITH(plot::write_grid_png({chart}, 1, dir.file("g.png"), 50, 50), Contains("too small"));
  // An existing file is replaced whole.
  plot::write_png(chart, dir.file("ok.png"));
  plot::write_png(chart, dir.file("ok.png"), 400, 300);
  CHECK(Image(dir.file("ok.png")).width == 400);
}

// ---- axis ranges ------------------------------------------------------------------

namespace {

plot::Series zigzag(const std::string& label, double a, double b, int n = 40) {
  plot::Series s{label, {}, {}};
  for (int i = 0; i < n; ++i) {
    s.x.push_back(i);
    s.y.push_back(i % 2 ? b : a);
  }
  return s;
}

}  // namespace

TEST_CASE("axes never magnify rounding noise: a minimum span relative to the magnitude", "[plot]") {
  // An mHC run's composite gain: equal to 1 up to float rounding.
  const plot::Series noise = zigzag("mhc", 1.000000158, 1.000000164);
  for (const bool log_y : {false, true}) {
    INFO("log_y " << log_y);
    const plot::Range r = plot::y_range(plot::Chart{"", "", "", log_y, {noise}});
    CHECK(r.lo < 1.000000158);
    CHECK(r.hi > 1.000000164);
    const double span = log_y ? r.hi / r.lo - 1.0 : r.hi - r.lo;
    CHECK(span >= plot::kMinRelativeSpan * 0.999);               // widened to 1% of the magnitude...
    CHECK(span <= plot::kMinRelativeSpan * 1.01);                // ...and no more
    CHECK(std::fabs(0.5 * (r.lo + r.hi) - 1.000000161) < 1e-4);  // around the data
  }
  // Values that differ in the 6th significant digit are widened the same way.
  const plot::Range loss = plot::y_range(plot::Chart{"", "", "", false, {zigzag("", 2.34561, 2.34562)}});
  CHECK(loss.hi - loss.lo == Approx(plot::kMinRelativeSpan * 2.34562).epsilon(1e-3));
  // Real variation keeps the data range plus a 5% margin on each side.
  const plot::Range real = plot::y_range(plot::Chart{"", "", "", false, {zigzag("", 0.9, 1.1)}});
  CHECK(real.lo == Approx(0.89));
  CHECK(real.hi == Approx(1.11));
  // Small magnitudes are not noise: 1e-9..3e-9 keeps its own scale.
  const plot::Range tiny = plot::y_range(plot::Chart{"", "", "", false, {zigzag("", 1e-9, 3e-9)}});
  CHECK(tiny.lo == Approx(0.9e-9));
  CHECK(tiny.hi == Approx(3.1e-9));
  // All zeros: a unit range around 0.
  const plot::Range zeros = plot::y_range(plot::Chart{"", "", "", false, {zigzag("", 0.0, 0.0)}});
  CHECK(zeros.lo == -1.0);
  CHECK(zeros.hi == 1.0);
  // x follows the same rule: one step at 3 gets a narrow range around it.
  const plot::Range x = plot::x_range(plot::Chart{"", "", "", false, {{"", {3.0, 3.0}, {1.0, 2.0}}}});
  CHECK(x.lo < 3.0);
  CHECK(x.hi > 3.0);
  CHECK(x.hi - x.lo == Approx(0.03));

  // On the chart the noise is a flat line through the middle.
  TempDir dir;
  const std::string path = dir.file("noise.png");
  plot::write_png(plot::Chart{"", "", "", true, {zigzag("", 1.000000158, 1.000000164)}}, path, 700, 450);
  const Image img(path);
  const Box frame = img.frame();
  const Box line = img.bounding_box(plot::series_color(0));
  CHECK(line.height() <= 3);
  CHECK(line.width() > 0.9 * frame.width());
  CHECK(std::abs((line.y0 + line.y1) / 2 - (frame.y0 + frame.y1) / 2) < 5);
}

TEST_CASE("y_include widens the y axis to cover a reference value", "[plot]") {
  plot::Chart gain{"", "", "", true, {zigzag("hc", 1.5, 40.0)}, {1.0}};
  plot::Range r = plot::y_range(gain);
  CHECK(r.lo <= 1.0);
  CHECK(r.hi >= 40.0);
  CHECK(r.lo > 0.5);  // just the usual margin beyond 1
  gain.series = {zigzag("mhc", 1.000000158, 1.000000164)};
  r = plot::y_range(gain);
  CHECK(r.lo < 1.0);
  CHECK(r.hi > 1.000000164);
  CHECK(r.hi / r.lo < 1.0 + 1.01 * plot::kMinRelativeSpan);
  // A value a log axis cannot show is ignored.
  gain.y_include = {0.0, -1.0};
  r = plot::y_range(gain);
  CHECK(r.lo > 0.99);
  // Without data the axis still covers the value.
  const plot::Range empty = plot::y_range(plot::Chart{"", "", "", false, {}, {1.0}});
  CHECK(empty.lo < 1.0);
  CHECK(empty.hi > 1.0);
}

TEST_CASE("an integer x axis ticks only at whole numbers", "[plot]") {
  // Four sites on a wide chart would get ticks at 0.5 steps; integer_x keeps 0, 1, 2, 3.
  TempDir dir;
  plot::Chart chart{"", "site", "", false, {{"", {0, 1, 2, 3}, {1, 3, 2, 4}}}};
  const auto tick_columns = [&](bool integer_x) {
    chart.integer_x = integer_x;
    plot::write_png(chart, dir.file("ticks.png"), 900, 400);
    const Image img(dir.file("ticks.png"));
    const Box frame = img.frame();
    // Tick marks: frame-coloured pixels just below the frame.
    return runs_of(img.columns_with(plot::kFrameColor, {frame.x0 + 2, frame.y1 + 2, frame.x1 - 2, frame.y1 + 3}));
  };
  CHECK(tick_columns(false).size() > 4);
  CHECK(tick_columns(true).size() == 4);
}

// ---- identical lines ----------------------------------------------------------------

TEST_CASE("identical lines all stay visible: nested dash patterns drawn solid first", "[plot]") {
  TempDir dir;
  const std::string path = dir.file("same.png");
  const auto visible = [&](const plot::Chart& chart) {
    plot::write_png(chart, path, 700, 450);
    const Image img(path);
    const Box frame = img.frame();
    std::vector<long> counts;
    for (const plot::Series& s : chart.series) {
      counts.push_back(img.count_in(plot::series_color(static_cast<size_t>(s.style)), frame));
    }
    return counts;
  };
  const plot::Series wave = line_series("", 120, [](double x) { return std::sin(x / 12.0); });
  SECTION("up to four identical lines, listed in any order") {
    for (const std::vector<int>& styles :
         std::vector<std::vector<int>>{{0, 1}, {1, 0}, {0, 1, 2, 3}, {3, 2, 1, 0}, {2, 0, 3, 1}}) {
      plot::Chart chart{"", "", "", false, {}};
      for (const int style : styles) {
        plot::Series s = wave;
        s.style = style;
        chart.series.push_back(s);
      }
      const std::vector<long> counts = visible(chart);
      for (size_t i = 0; i < counts.size(); ++i) {
        INFO("styles[0] " << styles[0] << ", series " << i << " (style " << styles[i] << ")");
        CHECK(counts[i] > 150);  // ~5 px of every 30, two rows, over ~650 px of line
      }
    }
  }
  SECTION("a gain of exactly 1 and one of 1 + rounding noise") {
    plot::Chart chart{"", "", "", true, {zigzag("residual", 1.0, 1.0), zigzag("mhc", 1.000000158, 1.000000164)}, {1.0}};
    chart.series[0].style = 0;
    chart.series[1].style = 2;
    for (const long count : visible(chart)) CHECK(count > 150);
  }
  SECTION("the dash patterns differ and nest") {
    CHECK(plot::dash_pattern(0).period == 0.0);  // solid
    for (size_t k = 1; k < plot::kDashPatterns; ++k) {
      INFO("pattern " << k);
      const plot::Dash d = plot::dash_pattern(k), before = plot::dash_pattern(k - 1);
      CHECK(d.on > 0.0);
      CHECK(d.on < d.period);
      CHECK(std::fmod(30.0, d.period) == 0.0);  // one common 30-px cycle
      if (k > 1) CHECK(d.on < before.on);
    }
    CHECK(plot::dash_pattern(plot::kDashPatterns).period == plot::dash_pattern(0).period);
  }
}

TEST_CASE("markers are drawn at the points, thinned where they crowd", "[plot]") {
  TempDir dir;
  const std::string path = dir.file("markers.png");
  const auto pixels = [&](const plot::Series& s) {
    plot::write_png(plot::Chart{"", "", "", false, {s}}, path, 700, 450);
    return Image(path).count(plot::series_color(0));
  };
  plot::Series sparse{"", {0, 1, 2, 3, 4, 5}, {0, 1, 0, 1, 0, 1}};
  const long plain = pixels(sparse);
  for (const plot::Marker m :
       {plot::Marker::circle, plot::Marker::square, plot::Marker::triangle, plot::Marker::diamond}) {
    sparse.marker = m;
    CHECK(pixels(sparse) > plain + 4 * 15);  // every point (some cut by the frame) adds a shape
  }
  // A circle over a triangle at the same points (one run's forward and
  // backward gains when they coincide): the triangle's corners still show.
  plot::Series triangles = sparse, circles = sparse;
  triangles.marker = plot::Marker::triangle;
  circles.marker = plot::Marker::circle;
  plot::write_png(plot::Chart{"", "", "", false, {circles}}, path, 700, 450);
  const long circle_only = Image(path).count(plot::series_color(0));
  triangles.style = circles.style = 0;  // one run's two series
  plot::write_png(plot::Chart{"", "", "", false, {triangles, circles}}, path, 700, 450);
  CHECK(Image(path).count(plot::series_color(0)) > circle_only + 4 * 12);

  // 2000 points over ~650 px: at most one marker per 10 px of line.
  plot::Series dense = line_series("", 2000, [](double) { return 1.0; });
  const long dense_plain = pixels(dense);
  dense.marker = plot::Marker::square;
  CHECK(pixels(dense) - dense_plain < 70 * 30);
  CHECK(pixels(dense) - dense_plain > 40 * 10);
}

// ---- the legend never covers data ----------------------------------------------

namespace {

// Pixels inside the frame (border excluded) that a series touched: anything
// but background and grid.
long data_pixels_in(const Image& img, const Box& frame, const Box& b) {
  long n = 0;
  for (int y = std::max(b.y0, frame.y0 + 1); y <= std::min(b.y1, frame.y1 - 1); ++y) {
    for (int x = std::max(b.x0, frame.x0 + 1); x <= std::min(b.x1, frame.x1 - 1); ++x) {
      const plot::Rgb c = img.at(x, y);
      n += !(c == plot::kBackgroundColor || c == plot::kGridColor || c == plot::kMinorGridColor);
    }
  }
  return n;
}

}  // namespace

TEST_CASE("the legend never covers data: inside where free, else below the chart", "[plot]") {
  TempDir dir;
  std::mt19937 rng(2024);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  int inside = 0, below = 0;
  const auto check = [&](plot::Chart chart, int width, int height) {
    const std::string with = dir.file("with.png"), without = dir.file("without.png");
    plot::write_png(chart, with, width, height);
    for (plot::Series& s : chart.series) s.label.clear();
    plot::write_png(chart, without, width, height);
    const Image a(with), b(without);
    const Box frame = a.frame(), legend = a.bounding_box(plot::kLegendBorderColor);
    REQUIRE_FALSE(frame.empty());
    REQUIRE_FALSE(legend.empty());
    CHECK(b.count(plot::kLegendBorderColor) == 0);
    if (frame.contains(legend.x0, legend.y0)) {
      ++inside;
      // Same layout with and without the legend, and the legend (with a
      // little clearance) sits where the series drew nothing.
      REQUIRE(b.frame().x0 == frame.x0);
      REQUIRE(b.frame().y1 == frame.y1);
      CHECK(frame.contains(legend.x1, legend.y1));
      const Box around{legend.x0 - 2, legend.y0 - 2, legend.x1 + 2, legend.y1 + 2};
      CHECK(data_pixels_in(b, frame, around) == 0);
    } else {
      ++below;
      CHECK(legend.y0 > frame.y1);  // all of it below the plot (and its tick labels)
      CHECK(legend.y1 < a.height);
      CHECK(b.frame().y1 > frame.y1);  // the plot gave up that room
    }
    // Every labelled series has its swatch.
    for (const plot::Series& s : chart.series) {
      CHECK(a.count_in(plot::series_color(static_cast<size_t>(s.style)), legend) > 10);
    }
  };

  // Random charts: walks, noise, waves and steps, some with markers.
  for (int trial = 0; trial < 16; ++trial) {
    INFO("trial " << trial);
    plot::Chart chart{"chart " + std::to_string(trial), "step", "value", trial % 4 == 3, {}};
    const int n_series = 1 + trial % 6;
    for (int k = 0; k < n_series; ++k) {
      plot::Series s{"series " + std::to_string(k), {}, {}, k, k % 2 ? plot::Marker::circle : plot::Marker::none};
      const int n = 2 + static_cast<int>(unit(rng) * 200);
      const int shape = static_cast<int>(unit(rng) * 4);
      double y = 1.0 + unit(rng);
      for (int i = 0; i < n; ++i) {
        if (shape == 0) y = std::max(0.01, y + 0.1 * (unit(rng) - 0.5));
        if (shape == 1) y = 0.5 + unit(rng);
        if (shape == 2) y = 1.5 + std::sin(i / (3.0 + 20 * unit(rng)));
        if (shape == 3 && unit(rng) < 0.05) y = 0.2 + 2 * unit(rng);
        s.x.push_back(i);
        s.y.push_back(y);
      }
      chart.series.push_back(s);
    }
    check(chart, trial % 2 ? 640 : 900, trial % 2 ? 400 : 560);
  }
  // Noise over the whole plot: no corner is free.
  plot::Chart full{"", "", "", false, {}};
  for (int k = 0; k < 3; ++k) {
    plot::Series s{"noise " + std::to_string(k), {}, {}, k};
    for (int i = 0; i < 400; ++i) s.x.push_back(i), s.y.push_back(unit(rng));
    full.series.push_back(s);
  }
  check(full, 900, 560);
  // One line along the bottom: the top corners are free.
  check(plot::Chart{"", "", "", false, {{"low", {0, 1, 2}, {0.0, 0.0, 5.0}, 0}}}, 900, 560);
  CHECK(inside > 2);
  CHECK(below > 2);
}

// ---- text ----------------------------------------------------------------------------

TEST_CASE("every printable ASCII glyph draws, and no two look alike", "[plot]") {
  std::vector<std::pair<std::vector<uint8_t>, char>> seen;
  for (char c = '!'; c <= '~'; ++c) {
    INFO("glyph '" << c << "'");
    const plot::TextMask m = plot::text_mask(std::string(1, c));
    REQUIRE(m.height == plot::kTextRows);
    REQUIRE(m.ink.size() == static_cast<size_t>(m.width) * m.height);
    CHECK(std::count(m.ink.begin(), m.ink.end(), uint8_t{1}) > 0);
    std::vector<uint8_t> key = m.ink;
    key.push_back(static_cast<uint8_t>(m.width));
    for (const auto& [other, d] : seen) {
      INFO("same as '" << d << "'");
      CHECK(other != key);
    }
    seen.push_back({key, c});
  }
  // '|' reaches below the baseline, 'l' does not (stb_easy_font draws them alike).
  const plot::TextMask bar = plot::text_mask("|"), ell = plot::text_mask("l");
  CHECK(bar.at(0, plot::kTextRows - 1));
  CHECK_FALSE(ell.at(0, plot::kTextRows - 1));
  CHECK(bar.at(0, 0));
  // A space draws nothing but takes room; other characters become '?'.
  const plot::TextMask space = plot::text_mask(" ");
  CHECK(std::count(space.ink.begin(), space.ink.end(), uint8_t{1}) == 0);
  CHECK(plot::text_mask("a b").width > plot::text_mask("ab").width);
  CHECK(plot::text_mask("\xC3\x97").ink == plot::text_mask("?").ink);  // U+00D7 (multiplication sign)
}

// ---- run charts -----------------------------------------------------------------

namespace {

std::string fmt_double(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

// A run's metrics.jsonl: 30 training steps and evaluations at 9, 19, 29 with
// composite gains per site `gain(site, eval)`.
void write_run(const std::filesystem::path& dir, double loss0, double (*gain)(int, int)) {
  std::filesystem::create_directories(dir);
  std::ofstream out(dir / "metrics.jsonl");
  for (int step = 0; step < 30; ++step) {
    out << "{\"step\":" << step << ",\"loss\":" << loss0 - 0.02 * step
        << ",\"lr\":0.001,\"grad_norm\":" << 1.0 + 0.3 * std::sin(step / 4.0 + loss0)
        << ",\"tokens_per_s\":100,\"ms_per_step\":10}\n";
    if (step % 10 == 9) {
      std::string gains, diversity;  // diversity: gain − 1 (0 for the residual)
      for (int site = 0; site < 4; ++site) {
        if (site > 0) gains += ',', diversity += ',';
        gains += fmt_double(gain(site, step / 10));
        diversity += fmt_double(gain(site, step / 10) - 1.0);
      }
      out << "{\"step\":" << step << ",\"val_loss\":" << loss0 - 0.02 * step - 0.05
          << ",\"expert_load\":[],\"amax\":{\"forward\":[" << gains << "],\"backward\":[" << gains
          << "],\"composite_forward\":[" << gains << "],\"composite_backward\":[" << gains
          << "]},\"stream_diversity\":[" << diversity << "]}\n";
    }
  }
}

}  // namespace

TEST_CASE("each run keeps one colour and dash in every run chart, and coinciding runs stay visible", "[plot]") {
  TempDir dir;
  write_run(dir.path / "res", 2.6, [](int, int) { return 1.0; });  // residual: gain exactly 1
  write_run(dir.path / "hc", 2.5, [](int site, int eval) { return 1.0 + 0.2 * site + 0.5 * eval; });
  write_run(dir.path / "mhc", 2.55, [](int site, int eval) { return 1.000000158 + 6e-9 * ((site + eval) % 2); });
  const std::vector<std::string> names = {"res", "hc", "mhc"};
  std::vector<std::string> run_dirs;
  std::vector<RunMetrics> runs;
  for (const std::string& n : names) {
    run_dirs.push_back((dir.path / n).string());
    runs.push_back(read_run_metrics(run_dirs.back()));
  }

  const std::vector<plot::Chart> charts = run_charts(runs);
  REQUIRE(charts.size() == 5);
  const auto printable = [](const std::string& text) {
    return std::all_of(text.begin(), text.end(), [](char c) { return c >= 0x20 && c < 0x7F; });
  };
  for (size_t c = 0; c < charts.size(); ++c) {
    INFO("chart " << c << " '" << charts[c].title << "'");
    CHECK(printable(charts[c].title));
    CHECK(printable(charts[c].x_label));
    CHECK(printable(charts[c].y_label));
    std::vector<int> styles;
    for (const plot::Series& s : charts[c].series) {
      INFO("series '" << s.label << "'");
      CHECK(printable(s.label));
      REQUIRE(s.style >= 0);
      REQUIRE(s.style < 3);
      CHECK(s.light == s.label.empty());  // raw points (light) go unlabelled: the title says what they are
      if (!s.light) CHECK(s.label.rfind(names[static_cast<size_t>(s.style)] + " ", 0) == 0);  // the run's style
      styles.push_back(s.style);
    }
    CHECK(std::set<int>(styles.begin(), styles.end()) == std::set<int>{0, 1, 2});
    if (c == 2 || c == 3) CHECK(charts[c].y_include == std::vector<double>{1.0});  // gain charts show 1
    if (c == 4) CHECK(charts[c].y_include == std::vector<double>{0.0});            // diversity shows 0
  }
  // mHC alone: its gain chart is a flat line at 1, not magnified noise.
  const plot::Range mhc_gain = plot::y_range(run_charts({runs[2]})[2]);
  CHECK(mhc_gain.lo < 1.0);
  CHECK(mhc_gain.hi / mhc_gain.lo < 1.0 + 1.01 * plot::kMinRelativeSpan);

  const std::vector<std::string> written = write_run_plots(run_dirs, (dir.path / "charts").string());
  REQUIRE(written.size() == 6);
  for (size_t f = 0; f < 5; ++f) {
    INFO(written[f]);
    const Image img(written[f]);
    const Box frame = img.frame();
    REQUIRE_FALSE(frame.empty());
    const Box legend = img.bounding_box(plot::kLegendBorderColor);
    for (size_t k = 0; k < 3; ++k) {
      INFO("run " << names[k]);
      // Drawn in the plot, not just in its legend swatch (res and mhc coincide on the gain charts).
      long in_plot = img.count_in(plot::series_color(k), frame);
      if (!legend.empty() && frame.contains(legend.x0, legend.y0))
        in_plot -= img.count_in(plot::series_color(k), legend);
      CHECK(in_plot > 40);
    }
    for (size_t k = 3; k < 6; ++k) CHECK(img.count(plot::series_color(k)) == 0);  // no colour per series
  }
}

namespace {
// Whether `text`, drawn as charts draw it (scale 2, kTextColor), appears
// with its top-left corner somewhere inside `region`.
bool has_text(const Image& img, const Box& region, const std::string& text) {
  const plot::TextMask m = plot::text_mask(text);
  for (int y0 = region.y0; y0 <= region.y1; ++y0)
    for (int x0 = region.x0; x0 <= region.x1; ++x0) {
      bool match = x0 + 2 * m.width <= img.width && y0 + 2 * m.height <= img.height;
      for (int y = 0; match && y < m.height; ++y)
        for (int x = 0; match && x < m.width; ++x)
          match = (img.at(x0 + 2 * x, y0 + 2 * y) == plot::kTextColor) == m.at(x, y);
      if (match) return true;
    }
  return false;
}
}  // namespace

TEST_CASE("a log axis spanning less than two decades labels the power of ten in it (a gain of 1)", "[plot]") {
  TempDir dir;
  // Gains from 1 to 8: linear ticks at 2, 4, 6, 8 alone would leave 1 unlabelled.
  plot::Chart chart{"gain", "step", "gain", true, {plot::Series{"", {0, 1, 2, 3}, {1, 2, 5, 8}}}};
  const std::string path = dir.file("gain.png");
  plot::write_png(chart, path, 700, 500);
  const Image img(path);
  const Box frame = img.frame();
  REQUIRE_FALSE(frame.empty());
  const Box left_margin{0, frame.y0 - 10, frame.x0 - 4, frame.y1};
  CHECK(has_text(img, left_margin, "1"));
  CHECK(has_text(img, left_margin, "2"));
  CHECK(has_text(img, left_margin, "8"));
}

TEST_CASE("smoothed curves say so and draw every raw point light: a spike stays at its height", "[plot]") {
  TempDir dir;
  const std::filesystem::path run = dir.path / "diverging";
  std::filesystem::create_directories(run);
  {
    std::ofstream out(run / "metrics.jsonl");
    for (int step = 1; step <= 60; ++step)
      out << "{\"step\":" << step << ",\"loss\":" << (step == 2 ? 2254.0 : 3.0)
          << ",\"lr\":0.001,\"grad_norm\":" << (step == 30 ? 500.0 : 1.0)
          << ",\"tokens_per_s\":100,\"ms_per_step\":10}\n";
  }
  const std::vector<plot::Chart> charts = run_charts({read_run_metrics(run.string())});
  for (size_t c = 0; c < 2; ++c) {  // loss, gradient norm
    INFO(charts[c].title);
    CHECK_THAT(charts[c].title, Contains("EMA 0.9 smoothed") && Contains("light: raw"));
    REQUIRE(charts[c].series.size() >= 2);
    CHECK(charts[c].series[0].light);
    CHECK_THAT(charts[c].series[1].label, Contains("(EMA 0.9)"));
    const double spike = c == 0 ? 2254.0 : 500.0;
    CHECK(*std::max_element(charts[c].series[0].y.begin(), charts[c].series[0].y.end()) == spike);
    CHECK(*std::max_element(charts[c].series[1].y.begin(), charts[c].series[1].y.end()) < spike / 3);
    CHECK(plot::y_range(charts[c]).hi >= spike);  // the axis reaches the raw spike
  }
  // In the image: the raw line's light colour reaches the top tenth of the plot (the spike), and the
  // smoothed line's full colour does not.
  const std::string path = (dir.path / "loss.png").string();
  plot::write_png(charts[0], path);
  const Image img(path);
  const Box frame = img.frame();
  REQUIRE_FALSE(frame.empty());
  const Box top{frame.x0 + 1, frame.y0 + 1, frame.x1 - 1, frame.y0 + frame.height() / 10};
  CHECK(img.count_in(plot::light_color(0), top) > 3);
  const Box legend = img.bounding_box(plot::kLegendBorderColor);
  long smoothed_on_top = 0;  // outside the legend (its swatch has the full colour)
  for (int y = top.y0; y <= top.y1; ++y)
    for (int x = top.x0; x <= top.x1; ++x)
      smoothed_on_top += img.at(x, y) == plot::series_color(0) && !legend.contains(x, y);
  CHECK(smoothed_on_top == 0);
  const Box whole{frame.x0 + 1, frame.y0 + 1, frame.x1 - 1, frame.y1 - 1};
  CHECK(img.count_in(plot::series_color(0), whole) > 40);
}
