// plot.cpp — the chart renderer: layout, "nice" axis ticks, anti-aliased
// polylines, stb_easy_font text and the legend, all drawn into an RGB byte
// buffer that stb_image_write turns into a PNG.
#include "train/plot.h"

#include <fmt/format.h>
#include <stb_easy_font.h>
#include <stb_image_write.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string_view>
#include <tuple>

#include "datasets/file_io.h"

namespace mhc::plot {

namespace {

// ---- pixels ----------------------------------------------------------------------

// A half-open pixel rectangle [x0, x1) x [y0, y1).
struct Rect {
  int x0 = 0, y0 = 0, x1 = 0, y1 = 0;
  int width() const { return x1 - x0; }
  int height() const { return y1 - y0; }
  bool empty() const { return x1 <= x0 || y1 <= y0; }
  Rect intersect(const Rect& o) const {
    return {std::max(x0, o.x0), std::max(y0, o.y0), std::min(x1, o.x1), std::min(y1, o.y1)};
  }
};

// An RGB image, row-major, 3 bytes per pixel.
class Canvas {
 public:
  Canvas(int width, int height)
      : width_(width), height_(height), rgb_(static_cast<size_t>(width) * height * 3, 255) {}
  int width() const { return width_; }
  int height() const { return height_; }
  Rect bounds() const { return {0, 0, width_, height_}; }
  const uint8_t* data() const { return rgb_.data(); }

  // Mixes colour c over the pixel with opacity alpha in [0, 1].
  void blend(int x, int y, Rgb c, double alpha) {
    if (x < 0 || y < 0 || x >= width_ || y >= height_ || alpha <= 0.0) return;
    uint8_t* p = &rgb_[(static_cast<size_t>(y) * width_ + x) * 3];
    if (alpha >= 1.0) {
      p[0] = c.r, p[1] = c.g, p[2] = c.b;
      return;
    }
    const auto mix = [alpha](uint8_t under, uint8_t over) {
      return static_cast<uint8_t>(std::lround(under + (over - under) * alpha));
    };
    p[0] = mix(p[0], c.r), p[1] = mix(p[1], c.g), p[2] = mix(p[2], c.b);
  }

  void fill(Rect r, Rgb c) {
    r = r.intersect(bounds());
    for (int y = r.y0; y < r.y1; ++y) {
      for (int x = r.x0; x < r.x1; ++x) blend(x, y, c, 1.0);
    }
  }

  // Outline of r, one pixel wide, inside r.
  void outline(const Rect& r, Rgb c) {
    fill({r.x0, r.y0, r.x1, r.y0 + 1}, c);
    fill({r.x0, r.y1 - 1, r.x1, r.y1}, c);
    fill({r.x0, r.y0, r.x0 + 1, r.y1}, c);
    fill({r.x1 - 1, r.y0, r.x1, r.y1}, c);
  }

  // Copies `other` with its top-left corner at (x, y).
  void paste(const Canvas& other, int x, int y) {
    for (int row = 0; row < other.height_ && y + row < height_; ++row) {
      const int n = std::min(other.width_, width_ - x);
      if (n <= 0 || y + row < 0) continue;
      std::memcpy(&rgb_[(static_cast<size_t>(y + row) * width_ + x) * 3],
                  &other.rgb_[static_cast<size_t>(row) * other.width_ * 3], static_cast<size_t>(n) * 3);
    }
  }

 private:
  int width_, height_;
  std::vector<uint8_t> rgb_;
};

// ---- text (stb_easy_font glyphs are built from axis-aligned quads) ------------

constexpr int kTextScale = 2;                   // stb_easy_font's 7-px capitals, doubled
constexpr int kCapHeight = 7 * kTextScale;      // height of digits and capitals
constexpr int kDescent = 2 * kTextScale;        // below the baseline (g, p, y)

// stb_easy_font draws ASCII 32..126 only: every other UTF-8 character becomes '?'.
std::string printable_ascii(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7F) {
      out += static_cast<char>(c);
    } else if (c == '\t' || c == '\n' || c == '\r') {
      out += ' ';
    } else if ((c & 0xC0) != 0x80) {  // count a UTF-8 lead byte (or stray byte) once
      out += '?';
    }
  }
  return out;
}

// The glyph quads of `text` at scale 1 with the top-left at (0, 0).
std::vector<Rect> glyph_quads(const std::string& ascii) {
  std::vector<char> vertices(ascii.size() * 1024 + 64);  // generous: ~270 bytes per glyph on average
  std::string mutable_text = ascii;                      // stb_easy_font_print takes char*
  const int quads = stb_easy_font_print(0.0f, 0.0f, mutable_text.data(), nullptr, vertices.data(),
                                        static_cast<int>(vertices.size()));
  std::vector<Rect> rects;
  rects.reserve(static_cast<size_t>(quads));
  constexpr size_t kVertexBytes = 16;  // x, y, z as float, then 4 colour bytes
  for (int q = 0; q < quads; ++q) {
    float x[4], y[4];
    for (int v = 0; v < 4; ++v) {
      const char* vertex = &vertices[(static_cast<size_t>(q) * 4 + v) * kVertexBytes];
      std::memcpy(&x[v], vertex, sizeof(float));
      std::memcpy(&y[v], vertex + sizeof(float), sizeof(float));
    }
    rects.push_back({static_cast<int>(std::lround(*std::min_element(x, x + 4))),
                     static_cast<int>(std::lround(*std::min_element(y, y + 4))),
                     static_cast<int>(std::lround(*std::max_element(x, x + 4))),
                     static_cast<int>(std::lround(*std::max_element(y, y + 4)))});
  }
  return rects;
}

// Width in pixels of the drawn text (first ink column to last).
int text_width(const std::string& ascii, int scale = kTextScale) {
  int width = 0;
  for (const Rect& q : glyph_quads(ascii)) width = std::max(width, q.x1);
  return width * scale;
}

// Draws text with the top of its capitals at y.
void draw_text(Canvas& canvas, int x, int y, const std::string& ascii, Rgb color, int scale = kTextScale,
               bool bold = false) {
  for (const Rect& q : glyph_quads(ascii)) {
    const Rect scaled{x + q.x0 * scale, y + q.y0 * scale, x + q.x1 * scale, y + q.y1 * scale};
    canvas.fill(scaled, color);
    if (bold) canvas.fill({scaled.x0 + 1, scaled.y0, scaled.x1 + 1, scaled.y1}, color);
  }
}

// Shortens text with "..." until it is at most max_width pixels wide.
std::string fit_text(std::string ascii, int max_width, int scale = kTextScale) {
  if (text_width(ascii, scale) <= max_width) return ascii;
  while (!ascii.empty() && text_width(ascii + "...", scale) > max_width) ascii.pop_back();
  return ascii.empty() ? std::string() : ascii + "...";
}

// ---- axes and ticks ----------------------------------------------------------------

constexpr double kInf = std::numeric_limits<double>::infinity();

double pow10(int e) { return std::pow(10.0, e); }

// A tick value written exactly as n * 10^e (n an integer) so labels never
// show floating-point noise like 0.30000000000000004.
struct Decimal {
  long long n = 0;
  int e = 0;
  double value() const {  // dividing by 10^-e keeps values like 0.3 exact to the last bit
    return e >= 0 || e < -300 ? static_cast<double>(n) * pow10(e) : static_cast<double>(n) / pow10(-e);
  }
};

// "1.5e6" / "2e-5" style.
std::string format_scientific(Decimal d) {
  if (d.n == 0) return "0";
  std::string digits = std::to_string(d.n < 0 ? -d.n : d.n);
  int e = d.e;
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back(), ++e;
  const int exponent = e + static_cast<int>(digits.size()) - 1;
  const std::string mantissa = digits.size() > 1 ? fmt::format("{}.{}", digits[0], digits.substr(1)) : digits;
  return fmt::format("{}{}e{}", d.n < 0 ? "-" : "", mantissa, exponent);
}

// "1500000" / "0.25" style, with `decimals` digits after the point
// (decimals >= -d.e, so the value is a whole number of 10^-decimals units).
std::string format_fixed(Decimal d, int decimals) {
  long long units = d.n < 0 ? -d.n : d.n;
  for (int k = 0; k < d.e + decimals; ++k) units *= 10;
  const char* sign = d.n < 0 ? "-" : "";
  if (decimals == 0) return fmt::format("{}{}", sign, units);
  const std::string digits = fmt::format("{:0>{}}", units, decimals + 1);  // at least one digit before the point
  const size_t point = digits.size() - static_cast<size_t>(decimals);
  return fmt::format("{}{}.{}", sign, digits.substr(0, point), digits.substr(point));
}

// Labels for ticks sharing one axis, formatted the same way: all fixed or all
// scientific, and (with common_decimals) the same digits after the point,
// as in 0.5, 1.0, 1.5. Decade labels skip the padding: 0.01, 0.1, 1, 10.
std::vector<std::string> format_ticks(const std::vector<Decimal>& ticks, bool common_decimals = true) {
  double max_abs = 0.0;
  int decimals = 0;
  for (const Decimal& d : ticks) {
    max_abs = std::max(max_abs, std::fabs(d.value()));
    if (d.n != 0) {
      int e = d.e;
      long long n = d.n;
      while (n % 10 == 0) n /= 10, ++e;
      decimals = std::max(decimals, -e);
    }
  }
  const bool scientific = max_abs >= 1e6 || (max_abs > 0 && max_abs < 1e-3);
  std::vector<std::string> labels;
  for (const Decimal& d : ticks) {
    labels.push_back(scientific ? format_scientific(d) : format_fixed(d, common_decimals ? decimals : std::max(0, -d.e)));
  }
  return labels;
}

struct Tick {
  double position;  // in axis units (log10 of the value on a log axis)
  std::string label;
  bool major;  // minor ticks get a lighter grid line and no label
};

// One axis: the visible interval [lo, hi] in axis units and its ticks.
struct Axis {
  double lo = 0.0, hi = 1.0;
  bool log = false;
  std::vector<Tick> ticks;
  double unit(double v) const { return ((log ? std::log10(v) : v) - lo) / (hi - lo); }  // 0..1 across
};

// Steps 1, 2, 5 times a power of ten, as n * 10^e with n in {1, 2, 5}.
Decimal nice_step_at_least(double raw) {
  if (!(raw > 0.0) || !std::isfinite(raw)) raw = 1.0;
  int e = static_cast<int>(std::floor(std::log10(raw)));
  for (int attempt = 0; attempt < 3; ++attempt, ++e) {
    for (long long n : {1LL, 2LL, 5LL}) {
      if (Decimal{n, e}.value() >= raw * (1.0 - 1e-9)) return {n, e};
    }
  }
  return {1, e};
}

Decimal next_step(Decimal s) {
  if (s.n == 1) return {2, s.e};
  if (s.n == 2) return {5, s.e};
  return {1, s.e + 1};
}

// The multiples of step inside [lo, hi] (none when there would be more than 1000).
std::vector<Decimal> multiples_in(double lo, double hi, Decimal step) {
  const double s = step.value();
  const double first = std::ceil(lo / s - 1e-9), last = std::floor(hi / s + 1e-9);
  if (!(s > 0.0) || !std::isfinite(first) || !std::isfinite(last) || last - first > 1000 ||
      std::fabs(first) > 1e15 || std::fabs(last) > 1e15) {
    return {};
  }
  std::vector<Decimal> out;
  for (double k = first; k <= last; k += 1.0) out.push_back({static_cast<long long>(k) * step.n, step.e});
  return out;
}

// Ticks at multiples of a 1-2-5 step in [lo, hi] (values, not axis units),
// about max_ticks of them, thinned until neighbouring labels (measured by
// label_extent along the axis) keep at least 14 px apart. With log_positions
// the ticks sit on a log axis (for spans under two decades).
template <class LabelExtent>
std::vector<Tick> linear_ticks(double lo, double hi, int max_ticks, double axis_pixels, LabelExtent label_extent,
                               bool log_positions) {
  const auto position = [&](double v) { return log_positions ? std::log10(v) : v; };
  const double pixels_per_unit = axis_pixels / (position(hi) - position(lo));
  Decimal step = nice_step_at_least((hi - lo) / std::max(max_ticks, 1));
  for (int attempt = 0; attempt < 40; ++attempt, step = next_step(step)) {
    std::vector<Decimal> values = multiples_in(lo, hi, step);
    if (log_positions) std::erase_if(values, [](const Decimal& d) { return d.n <= 0; });
    if (values.empty()) continue;
    const std::vector<std::string> labels = format_ticks(values);
    bool crowded = false;
    for (size_t i = 1; i < values.size(); ++i) {
      const double gap = (position(values[i].value()) - position(values[i - 1].value())) * pixels_per_unit;
      const double needed = 0.5 * (label_extent(labels[i]) + label_extent(labels[i - 1])) + 14;
      crowded = crowded || gap < needed;
    }
    if (crowded) continue;
    std::vector<Tick> ticks;
    for (size_t i = 0; i < values.size(); ++i) {
      const double v = values[i].value();
      ticks.push_back({log_positions ? std::log10(v) : (values[i].n == 0 ? 0.0 : v), labels[i], true});
    }
    return ticks;
  }
  return {};
}

// Decade ticks (plus unlabelled 2..9 minor ticks when there is room) on a log
// axis spanning [lo, hi] in log10 units.
template <class LabelExtent>
std::vector<Tick> log_ticks(double lo, double hi, int max_ticks, double axis_pixels, LabelExtent label_extent) {
  const int first = static_cast<int>(std::ceil(lo - 1e-9)), last = static_cast<int>(std::floor(hi + 1e-9));
  if (last - first + 1 < 2) {  // less than two decades: linear ticks placed on the log scale
    return linear_ticks(std::pow(10.0, lo), std::pow(10.0, hi), max_ticks, axis_pixels, label_extent, true);
  }
  const double pixels_per_decade = axis_pixels / (hi - lo);
  std::vector<Decimal> decades;
  for (int k = first; k <= last; ++k) decades.push_back({1, k});
  const std::vector<std::string> labels = format_ticks(decades, false);
  int widest = 0;
  for (const std::string& l : labels) widest = std::max(widest, label_extent(l));
  // Label every `stride`-th decade when decades are too close for their labels.
  int stride = 1;
  while (stride < 1000 && (pixels_per_decade * stride < widest + 14 || (last - first) / stride + 1 > max_ticks + 1)) {
    ++stride;
  }
  std::vector<Tick> ticks;
  for (int k = first; k <= last; ++k) {
    const bool labelled = ((k % stride) + stride) % stride == 0;
    ticks.push_back({static_cast<double>(k), labelled ? labels[static_cast<size_t>(k - first)] : "", labelled});
  }
  if (stride == 1 && pixels_per_decade >= 60) {
    for (int k = first - 1; k <= last; ++k) {
      for (int m = 2; m <= 9; ++m) {
        const double position = k + std::log10(static_cast<double>(m));
        if (position >= lo && position <= hi) ticks.push_back({position, "", false});
      }
    }
  }
  return ticks;
}

// Interval [lo, hi] (axis units) covering the data range with a margin;
// empty, single-valued or vanishingly narrow ranges (relative width under
// 1e-6, which is floating-point noise on a chart) get a sensible width.
std::pair<double, double> fit_interval(double lo, double hi, bool log, double margin_fraction) {
  if (lo > hi) return {0.0, 1.0};  // no data
  if (log) lo = std::log10(lo), hi = std::log10(hi);
  constexpr double kTiny = 1e-290;  // below this, spans are denormal-number territory
  const double magnitude = std::max(std::fabs(lo), std::fabs(hi));
  if (hi - lo <= std::max(magnitude * 1e-6, kTiny)) {  // all (nearly) equal
    const double center = 0.5 * (lo + hi);
    const double half = log ? 1.0 : (std::fabs(center) > kTiny ? std::fabs(center) * 0.5 : 1.0);
    return {center - half, center + half};
  }
  const double margin = (hi - lo) * margin_fraction;
  return {lo - margin, hi + margin};
}

// ---- series geometry -------------------------------------------------------------

// Whether (x, y) can be drawn: finite (and not absurdly large, which would
// overflow the axis arithmetic) and, on a log axis, y > 0.
bool drawable(double x, double y, bool log_y) {
  constexpr double kLargest = 1e300;
  return std::fabs(x) <= kLargest && std::fabs(y) <= kLargest && (!log_y || y > 0.0);
}

struct Point {
  double x, y;  // pixels
};

// Runs of consecutive drawable points of one series, in pixel coordinates.
std::vector<std::vector<Point>> pixel_runs(const Series& s, const Axis& ax, const Axis& ay, const Rect& area) {
  std::vector<std::vector<Point>> runs(1);
  for (size_t i = 0; i < s.x.size(); ++i) {
    const double x = s.x[i], y = s.y[i];
    if (!drawable(x, y, ay.log)) {
      if (!runs.back().empty()) runs.emplace_back();
      continue;
    }
    runs.back().push_back({area.x0 + ax.unit(x) * area.width(), area.y1 - ay.unit(y) * area.height()});
  }
  if (runs.back().empty()) runs.pop_back();
  return runs;
}

// When a run has many more points than there are pixel columns and x only
// grows, keeping just the first, lowest, highest and last point of each
// column (in their original order) draws the same picture much faster
// (the "M4" reduction): 100k-step curves plot in milliseconds.
std::vector<Point> reduce_per_column(std::vector<Point> run, int columns) {
  const bool increasing = std::is_sorted(run.begin(), run.end(), [](Point a, Point b) { return a.x < b.x; });
  if (run.size() <= static_cast<size_t>(columns) * 4 || !increasing) return run;
  std::vector<Point> kept;
  for (size_t begin = 0; begin < run.size();) {
    const double column = std::floor(run[begin].x);
    size_t end = begin, lowest = begin, highest = begin;
    while (end < run.size() && std::floor(run[end].x) == column) {
      if (run[end].y < run[lowest].y) lowest = end;
      if (run[end].y > run[highest].y) highest = end;
      ++end;
    }
    std::array<size_t, 4> picks = {begin, lowest, highest, end - 1};
    std::sort(picks.begin(), picks.end());
    for (size_t k = 0; k < picks.size(); ++k) {
      if (k == 0 || picks[k] != picks[k - 1]) kept.push_back(run[picks[k]]);
    }
    begin = end;
  }
  return kept;
}

// Per-pixel coverage of one series' strokes in `clip`, combined with max so
// that overlapping segments (at joints) do not darken.
class Coverage {
 public:
  explicit Coverage(const Rect& clip)
      : clip_(clip), cov_(static_cast<size_t>(std::max(clip.width(), 0)) * std::max(clip.height(), 0), 0.0f) {}

  // A capsule: all points within half_width of segment a-b, edges anti-aliased
  // over one pixel (coverage = half_width + 0.5 - distance, clamped to [0, 1]).
  void stroke(Point a, Point b, double half_width) {
    const double reach = half_width + 1.0;
    const Rect box = Rect{static_cast<int>(std::floor(std::min(a.x, b.x) - reach)),
                          static_cast<int>(std::floor(std::min(a.y, b.y) - reach)),
                          static_cast<int>(std::ceil(std::max(a.x, b.x) + reach)) + 1,
                          static_cast<int>(std::ceil(std::max(a.y, b.y) + reach)) + 1}
                         .intersect(clip_);
    const double dx = b.x - a.x, dy = b.y - a.y, length2 = dx * dx + dy * dy;
    for (int py = box.y0; py < box.y1; ++py) {
      for (int px = box.x0; px < box.x1; ++px) {
        const double cx = px + 0.5 - a.x, cy = py + 0.5 - a.y;  // pixel centre relative to a
        const double t = length2 > 0.0 ? std::clamp((cx * dx + cy * dy) / length2, 0.0, 1.0) : 0.0;
        const double distance = std::hypot(cx - t * dx, cy - t * dy);
        const float c = static_cast<float>(std::clamp(half_width + 0.5 - distance, 0.0, 1.0));
        float& cell = cov_[static_cast<size_t>(py - clip_.y0) * clip_.width() + (px - clip_.x0)];
        cell = std::max(cell, c);
      }
    }
  }

  // Paints the coverage in colour c and marks covered pixels in `ink`
  // (a canvas-sized mask used to place the legend) when given.
  void composite(Canvas& canvas, Rgb c, std::vector<uint8_t>* ink = nullptr) const {
    for (int py = clip_.y0; py < clip_.y1; ++py) {
      for (int px = clip_.x0; px < clip_.x1; ++px) {
        const float a = cov_[static_cast<size_t>(py - clip_.y0) * clip_.width() + (px - clip_.x0)];
        if (a <= 0.0f) continue;
        canvas.blend(px, py, c, a);
        if (ink && a > 0.25f) (*ink)[static_cast<size_t>(py) * canvas.width() + px] = 1;
      }
    }
  }

 private:
  Rect clip_;
  std::vector<float> cov_;
};

constexpr double kLineHalfWidth = 1.25;  // 2.5-px lines
constexpr double kDotRadius = 2.5;       // isolated points

// ---- the chart -----------------------------------------------------------------

constexpr int kPad = 12;         // outer margin
constexpr int kTickLength = 5;
constexpr int kTickLabelGap = 6;  // between a tick mark and its label
constexpr Rgb kMinorGridColor{244, 244, 244};
constexpr Rgb kMutedTextColor{140, 140, 140};

void check_series(const Chart& chart) {
  for (size_t i = 0; i < chart.series.size(); ++i) {
    const Series& s = chart.series[i];
    if (s.x.size() != s.y.size()) {
      throw std::invalid_argument(fmt::format("plot: series {} ('{}') of chart '{}' has {} x values but {} y values",
                                              i, s.label, chart.title, s.x.size(), s.y.size()));
    }
  }
}

void check_size(int width, int height, const char* what) {
  if (width < kMinWidth || height < kMinHeight) {
    throw std::invalid_argument(fmt::format("plot: {} {}x{} is too small; the minimum is {}x{}", what, width, height,
                                            kMinWidth, kMinHeight));
  }
}

// The legend box: rows of (colour swatch, label) in a bordered white box,
// placed where in `area` it covers the fewest inked pixels.
void draw_legend(Canvas& canvas, const Chart& chart, const Rect& area, const std::vector<uint8_t>& ink) {
  struct Entry {
    Rgb color;
    std::string label;
  };
  std::vector<Entry> entries;
  for (size_t i = 0; i < chart.series.size(); ++i) {
    if (!chart.series[i].label.empty()) entries.push_back({series_color(i), printable_ascii(chart.series[i].label)});
  }
  if (entries.empty()) return;

  constexpr int kInset = 10, kBoxPad = 8, kRow = kCapHeight + 9, kSwatch = 26, kSwatchGap = 8;
  const int max_rows = (area.height() - 2 * kInset - 2 * kBoxPad + 9) / kRow;
  if (max_rows < 1) return;
  std::string more;  // "+3 more" when the rows run out
  if (static_cast<int>(entries.size()) > max_rows) {
    more = fmt::format("+{} more", entries.size() - static_cast<size_t>(max_rows - 1));
    entries.resize(static_cast<size_t>(max_rows - 1));
  }
  const int max_label = area.width() - 2 * kInset - 2 * kBoxPad - kSwatch - kSwatchGap;
  if (max_label < 3 * 6 * kTextScale) return;
  int label_width = text_width(more);
  for (Entry& e : entries) {
    e.label = fit_text(e.label, max_label);
    label_width = std::max(label_width, text_width(e.label));
  }
  const int rows = static_cast<int>(entries.size()) + (more.empty() ? 0 : 1);
  const int box_w = 2 * kBoxPad + kSwatch + kSwatchGap + label_width;
  const int box_h = 2 * kBoxPad + rows * kRow - 9;

  // Candidate places in order of preference (the corners first, then the
  // middles of the edges, then the centre); the fewest inked pixels wins.
  const int left = area.x0 + kInset, right = area.x1 - kInset - box_w, center_x = (area.x0 + area.x1 - box_w) / 2;
  const int top = area.y0 + kInset, bottom = area.y1 - kInset - box_h, center_y = (area.y0 + area.y1 - box_h) / 2;
  const std::array<std::pair<int, int>, 9> places = {{{right, top}, {left, top}, {right, bottom}, {left, bottom},
                                                      {right, center_y}, {left, center_y}, {center_x, top},
                                                      {center_x, bottom}, {center_x, center_y}}};
  Rect box{};
  long best = -1;
  for (const auto& [x, y] : places) {
    const Rect candidate{x, y, x + box_w, y + box_h};
    const Rect r = candidate.intersect(canvas.bounds());
    long inked = 0;
    for (int py = r.y0; py < r.y1; ++py) {
      for (int px = r.x0; px < r.x1; ++px) inked += ink[static_cast<size_t>(py) * canvas.width() + px];
    }
    if (best < 0 || inked < best) best = inked, box = candidate;
  }

  canvas.fill(box, kBackgroundColor);
  canvas.outline(box, kLegendBorderColor);
  int y = box.y0 + kBoxPad;
  for (const Entry& e : entries) {
    Coverage swatch(box);
    const double mid = y + kCapHeight / 2.0;
    swatch.stroke({box.x0 + kBoxPad + 0.0, mid}, {box.x0 + kBoxPad + kSwatch + 0.0, mid}, 1.5);
    swatch.composite(canvas, e.color);
    draw_text(canvas, box.x0 + kBoxPad + kSwatch + kSwatchGap, y, e.label, kTextColor);
    y += kRow;
  }
  if (!more.empty()) draw_text(canvas, box.x0 + kBoxPad + kSwatch + kSwatchGap, y, more, kMutedTextColor);
}

// Draws chart onto a canvas of its own size.
void render(const Chart& chart, Canvas& canvas) {
  const int width = canvas.width(), height = canvas.height();
  const std::string title = printable_ascii(chart.title);
  const std::string x_label = printable_ascii(chart.x_label);
  const std::string y_label = printable_ascii(chart.y_label);

  // ---- data ranges (drawable points only) ----
  double x_lo = kInf, x_hi = -kInf, y_lo = kInf, y_hi = -kInf;
  for (const Series& s : chart.series) {
    for (size_t i = 0; i < s.x.size(); ++i) {
      const double x = s.x[i], y = s.y[i];
      if (!drawable(x, y, chart.log_y)) continue;
      x_lo = std::min(x_lo, x), x_hi = std::max(x_hi, x);
      y_lo = std::min(y_lo, y), y_hi = std::max(y_hi, y);
    }
  }
  const bool has_data = x_lo <= x_hi;
  Axis ax, ay;
  std::tie(ax.lo, ax.hi) = fit_interval(x_lo, x_hi, false, 0.02);
  ay.log = chart.log_y;
  std::tie(ay.lo, ay.hi) = fit_interval(y_lo, y_hi, chart.log_y, 0.05);

  // ---- vertical layout: title row, y-label row, plot area, tick labels, x label ----
  int top = kPad;
  const int title_y = top;
  if (!title.empty()) top += kCapHeight + kDescent + 10;
  const int y_label_y = top;
  if (!y_label.empty()) top += kCapHeight + kDescent + 12;
  top += kCapHeight / 2;  // room for the top tick label, centred on its tick
  int bottom = height - kPad;
  const int x_label_y = bottom - kCapHeight - kDescent;
  if (!x_label.empty()) bottom = x_label_y - 8;
  bottom -= kTickLength + kTickLabelGap + kCapHeight + kDescent;
  const Rect vertical{0, top, width, bottom};

  // ---- y ticks, then the left margin from the widest y tick label ----
  const auto label_width = [](const std::string& l) { return text_width(l); };
  const auto label_height = [](const std::string&) { return kCapHeight; };
  const int max_y_ticks = std::max(2, vertical.height() / 45);
  ay.ticks = ay.log ? log_ticks(ay.lo, ay.hi, max_y_ticks, vertical.height(), label_height)
                    : linear_ticks(ay.lo, ay.hi, max_y_ticks, vertical.height(), label_height, false);
  int widest_y_label = 0;
  for (const Tick& t : ay.ticks) widest_y_label = std::max(widest_y_label, text_width(t.label));
  const int left = std::min(kPad + widest_y_label + kTickLabelGap + kTickLength, width / 3);

  // ---- x ticks; the right margin must hold half of the last label (two passes) ----
  int right = width - kPad - 10;
  for (int pass = 0; pass < 2; ++pass) {
    const int axis_pixels = right - left;
    ax.ticks = linear_ticks(ax.lo, ax.hi, std::max(2, axis_pixels / 90), axis_pixels, label_width, false);
    int overflow = 0;  // how far the widest-reaching label passes the image's right margin
    for (const Tick& t : ax.ticks) {
      const double px = left + ax.unit(t.position) * axis_pixels;
      overflow = std::max(overflow, static_cast<int>(std::ceil(px + text_width(t.label) / 2.0)) - (width - kPad / 2));
    }
    if (overflow <= 0) break;
    right = std::max(left + 60, right - overflow);
  }
  const Rect area{left, top, right, bottom};  // the plot frame (inclusive of its 1-px border)
  const auto x_pixel = [&](double position) {
    return std::clamp(static_cast<int>(area.x0 + ax.unit(position) * area.width()), area.x0, area.x1 - 1);
  };
  const auto y_pixel = [&](double position) {  // position in axis units (log10 on a log axis)
    const double u = (position - ay.lo) / (ay.hi - ay.lo);
    return std::clamp(static_cast<int>(area.y1 - u * area.height()), area.y0, area.y1 - 1);
  };

  // ---- grid ----
  for (const bool major : {false, true}) {
    const Rgb c = major ? kGridColor : kMinorGridColor;
    for (const Tick& t : ay.ticks) {
      if (t.major == major) canvas.fill({area.x0, y_pixel(t.position), area.x1, y_pixel(t.position) + 1}, c);
    }
    for (const Tick& t : ax.ticks) {
      if (t.major == major) canvas.fill({x_pixel(t.position), area.y0, x_pixel(t.position) + 1, area.y1}, c);
    }
  }

  // ---- series ----
  std::vector<uint8_t> ink(static_cast<size_t>(width) * height, 0);
  const Rect inside{area.x0 + 1, area.y0 + 1, area.x1 - 1, area.y1 - 1};
  for (size_t i = 0; i < chart.series.size(); ++i) {
    Coverage coverage(inside);
    for (std::vector<Point>& run : pixel_runs(chart.series[i], ax, ay, area)) {
      run = reduce_per_column(std::move(run), area.width());
      if (run.size() == 1) coverage.stroke(run[0], run[0], kDotRadius);
      for (size_t k = 1; k < run.size(); ++k) coverage.stroke(run[k - 1], run[k], kLineHalfWidth);
    }
    coverage.composite(canvas, series_color(i), &ink);
  }
  if (!has_data) {
    const std::string message = chart.series.empty() ? "no series" : "no finite data";
    draw_text(canvas, (area.x0 + area.x1 - text_width(message)) / 2, (area.y0 + area.y1 - kCapHeight) / 2, message,
              kMutedTextColor);
  }

  // ---- frame, tick marks, tick labels ----
  canvas.outline(area, kFrameColor);
  for (const Tick& t : ay.ticks) {
    const int py = y_pixel(t.position);
    canvas.fill({area.x0 - (t.major ? kTickLength : 3), py, area.x0, py + 1}, kFrameColor);
    if (!t.label.empty()) {
      draw_text(canvas, area.x0 - kTickLength - kTickLabelGap - text_width(t.label), py - kCapHeight / 2, t.label,
                kTextColor);
    }
  }
  for (const Tick& t : ax.ticks) {
    const int px = x_pixel(t.position);
    canvas.fill({px, area.y1, px + 1, area.y1 + kTickLength}, kFrameColor);
    const int w = text_width(t.label);
    const int x = std::clamp(px - w / 2, 0, std::max(0, width - w));
    draw_text(canvas, x, area.y1 + kTickLength + kTickLabelGap, t.label, kTextColor);
  }

  // ---- axis labels, title ----
  if (!x_label.empty()) {
    const std::string text = fit_text(x_label, width - 2 * kPad);
    const int w = text_width(text);
    draw_text(canvas, std::clamp((area.x0 + area.x1 - w) / 2, kPad, std::max(kPad, width - kPad - w)), x_label_y,
              text, kTextColor);
  }
  if (!y_label.empty()) {
    // Horizontal, above the y axis, starting at the tick labels' left edge.
    const int x = std::max(kPad, area.x0 - kTickLength - kTickLabelGap - widest_y_label);
    draw_text(canvas, x, y_label_y, fit_text(y_label, width - kPad - x), kTextColor);
  }
  if (!title.empty()) {
    const std::string text = fit_text(title, width - 2 * kPad - 1);
    const int w = text_width(text) + 1;  // +1: the bold offset
    draw_text(canvas, std::clamp((area.x0 + area.x1 - w) / 2, kPad, std::max(kPad, width - kPad - w)), title_y,
              text, kTextColor, kTextScale, true);
  }

  draw_legend(canvas, chart, inside, ink);
}

// Encodes the PNG in memory, then writes it all-or-nothing.
void save_png(const Canvas& canvas, const std::string& path) {
  std::string png;
  auto append = [](void* context, void* data, int size) {
    static_cast<std::string*>(context)->append(static_cast<const char*>(data), static_cast<size_t>(size));
  };
  if (!stbi_write_png_to_func(append, &png, canvas.width(), canvas.height(), 3, canvas.data(), canvas.width() * 3))
    throw std::runtime_error(fmt::format("plot: cannot encode '{}'", path));
  write_file_atomically(path, png, path + ".tmp");
}

}  // namespace

Rgb series_color(size_t index) {
  static constexpr std::array<Rgb, kPaletteSize> kPalette = {{
      {0, 114, 178},    // blue            (Okabe–Ito)
      {213, 94, 0},     // vermillion      (Okabe–Ito)
      {0, 158, 115},    // bluish green    (Okabe–Ito)
      {204, 121, 167},  // reddish purple  (Okabe–Ito)
      {230, 159, 0},    // orange          (Okabe–Ito)
      {86, 180, 233},   // sky blue        (Okabe–Ito)
      {136, 34, 85},    // wine            (Tol)
      {153, 153, 51},   // olive           (Tol)
      {0, 0, 0},        // black
      {127, 127, 127},  // grey
  }};
  return kPalette[index % kPaletteSize];
}

void write_png(const Chart& chart, const std::string& path, int width, int height) {
  check_size(width, height, "image");
  check_series(chart);
  Canvas canvas(width, height);
  render(chart, canvas);
  save_png(canvas, path);
}

void write_grid_png(const std::vector<Chart>& charts, int columns, const std::string& path, int cell_w, int cell_h) {
  if (charts.empty()) throw std::invalid_argument("plot: write_grid_png needs at least one chart");
  if (columns < 1) throw std::invalid_argument(fmt::format("plot: columns must be >= 1, got {}", columns));
  check_size(cell_w, cell_h, "grid cell");
  for (const Chart& chart : charts) check_series(chart);
  const int rows = (static_cast<int>(charts.size()) + columns - 1) / columns;
  Canvas grid(columns * cell_w, rows * cell_h);
  for (size_t i = 0; i < charts.size(); ++i) {
    Canvas cell(cell_w, cell_h);
    render(charts[i], cell);
    grid.paste(cell, static_cast<int>(i % columns) * cell_w, static_cast<int>(i / columns) * cell_h);
  }
  save_png(grid, path);
}

}  // namespace mhc::plot
