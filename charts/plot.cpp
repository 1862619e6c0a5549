// plot.cpp — the chart renderer: layout, "nice" axis ranges and ticks,
// anti-aliased dashed polylines and markers, stb_easy_font text and the
// legend (inside the plot where it covers no data, else below it), all drawn
// into an RGB byte buffer that stb_image_write turns into a PNG.
#include "charts/plot.h"

#include <fmt/format.h>
#include <stb_easy_font.h>
#include <stb_image_write.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <tuple>

#include "fileio/file_io.h"

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
  Canvas(int width, int height) : width_(width), height_(height), rgb_(static_cast<size_t>(width) * height * 3, 255) {}
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

  void clear() { std::fill(rgb_.begin(), rgb_.end(), uint8_t{255}); }

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

constexpr int kTextScale = 2;               // stb_easy_font's 7-px capitals, doubled
constexpr int kCapHeight = 7 * kTextScale;  // height of digits and capitals
constexpr int kDescent = 2 * kTextScale;    // below the baseline (g, p, y)

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

// How many quads stb_easy_font emits for each printable character (it emits
// them character by character, so these locate one character's quads).
int quads_of(char c) {
  static const std::array<int, 95> counts = [] {
    std::array<int, 95> n{};
    std::vector<char> vertices(4096);
    for (int k = 0; k < 95; ++k) {
      char text[2] = {static_cast<char>(32 + k), '\0'};
      n[static_cast<size_t>(k)] =
          stb_easy_font_print(0.0f, 0.0f, text, nullptr, vertices.data(), static_cast<int>(vertices.size()));
    }
    return n;
  }();
  return c >= 32 && c < 127 ? counts[static_cast<size_t>(c - 32)] : 0;
}

constexpr int kGlyphBottom = 9;  // stb_easy_font's descenders end here (capitals span 0..7)

// The glyph quads of `text` at scale 1 with the top-left at (0, 0).
std::vector<Rect> glyph_quads(const std::string& ascii) {
  std::vector<char> vertices(ascii.size() * 1024 + 64);  // generous: ~270 bytes per glyph on average
  std::string mutable_text = ascii;                      // stb_easy_font_print takes char*
  const int quads =
      stb_easy_font_print(0.0f, 0.0f, mutable_text.data(), nullptr, vertices.data(), static_cast<int>(vertices.size()));
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
  // stb_easy_font draws '|' exactly like 'l' ("|row|" reads "lrowl"): extend
  // its bar down through the descender, as most fonts do.
  size_t first = 0;
  for (const char c : ascii) {
    const size_t n = static_cast<size_t>(quads_of(c));
    if (c == '|') {
      for (size_t k = first; k < first + n && k < rects.size(); ++k) rects[k].y1 = kGlyphBottom;
    }
    first += n;
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
    labels.push_back(scientific ? format_scientific(d)
                                : format_fixed(d, common_decimals ? decimals : std::max(0, -d.e)));
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
  if (!(s > 0.0) || !std::isfinite(first) || !std::isfinite(last) || last - first > 1000 || std::fabs(first) > 1e15 ||
      std::fabs(last) > 1e15) {
    return {};
  }
  std::vector<Decimal> out;
  for (double k = first; k <= last; k += 1.0) out.push_back({static_cast<long long>(k) * step.n, step.e});
  return out;
}

// Ticks at multiples of a 1-2-5 step in [lo, hi] (values, not axis units),
// about max_ticks of them, thinned until neighbouring labels (measured by
// label_extent along the axis) keep at least 14 px apart. With log_positions
// the ticks sit on a log axis (for spans under two decades). Steps are at
// least min_step (1 for an axis of whole numbers).
template <class LabelExtent>
std::vector<Tick> linear_ticks(double lo, double hi, int max_ticks, double axis_pixels, LabelExtent label_extent,
                               bool log_positions, double min_step = 0.0) {
  const auto position = [&](double v) { return log_positions ? std::log10(v) : v; };
  const double pixels_per_unit = axis_pixels / (position(hi) - position(lo));
  Decimal step = nice_step_at_least(std::max((hi - lo) / std::max(max_ticks, 1), min_step));
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
    std::vector<Tick> ticks =
        linear_ticks(std::pow(10.0, lo), std::pow(10.0, hi), max_ticks, axis_pixels, label_extent, true);
    // A power of ten in range (a gain of 1) is labelled too, where its label has room.
    const double pixels_per_decade = axis_pixels / (hi - lo);
    for (int k = first; k <= last; ++k) {
      const std::string label = format_ticks(std::vector<Decimal>{{1, k}}, false)[0];
      bool room = true;
      for (const Tick& t : ticks)
        room = room &&
               std::abs(t.position - k) * pixels_per_decade >= 0.5 * (label_extent(label) + label_extent(t.label)) + 14;
      if (room) ticks.push_back({static_cast<double>(k), label, true});
    }
    std::sort(ticks.begin(), ticks.end(), [](const Tick& a, const Tick& b) { return a.position < b.position; });
    return ticks;
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

// Interval [lo, hi] (axis units) covering the data range [lo, hi] (data
// units) with a margin on each side, and at least the minimum span: on a
// linear axis kMinRelativeSpan times the largest magnitude, on a log axis
// log10(1 + kMinRelativeSpan) decades. Narrower ranges (rounding noise, a
// single value) are widened to it around their centre, so they draw flat in
// the middle; all-zero data gets [-1, 1].
std::pair<double, double> fit_interval(double lo, double hi, bool log, double margin_fraction) {
  if (lo > hi) return {0.0, 1.0};  // no data
  double min_span = 0.0;
  if (log) {
    lo = std::log10(lo), hi = std::log10(hi);
    min_span = std::log10(1.0 + kMinRelativeSpan);
  } else {
    min_span = kMinRelativeSpan * std::max(std::fabs(lo), std::fabs(hi));
  }
  constexpr double kTiny = 1e-290;  // below this, spans are denormal-number territory
  const double center = 0.5 * lo + 0.5 * hi;
  const double span = std::max((hi - lo) * (1.0 + 2.0 * margin_fraction), min_span);
  if (!(span > kTiny)) return {center - 1.0, center + 1.0};
  return {center - 0.5 * span, center + 0.5 * span};
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
    // Clamped before the cast: a point far outside the plot (left out of the
    // y range by Chart::y_fit_x_min) must not overflow an int.
    const auto x_px = [&](double v) { return static_cast<int>(std::clamp(v, clip_.x0 - 2.0, clip_.x1 + 2.0)); };
    const auto y_px = [&](double v) { return static_cast<int>(std::clamp(v, clip_.y0 - 2.0, clip_.y1 + 2.0)); };
    const Rect box =
        Rect{x_px(std::floor(std::min(a.x, b.x) - reach)), y_px(std::floor(std::min(a.y, b.y) - reach)),
             x_px(std::ceil(std::max(a.x, b.x) + reach)) + 1, y_px(std::ceil(std::max(a.y, b.y) + reach)) + 1}
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

  // A convex polygon (vertices in either order), edges anti-aliased over one
  // pixel (coverage = 0.5 - signed distance to the outline, clamped; the
  // distance is the largest of those to the edges' lines, < 0 inside).
  void polygon(const std::vector<Point>& v) {
    double area2 = 0.0, x_lo = kInf, y_lo = kInf, x_hi = -kInf, y_hi = -kInf;
    for (size_t i = 0; i < v.size(); ++i) {
      const Point a = v[i], b = v[(i + 1) % v.size()];
      area2 += a.x * b.y - b.x * a.y;
      x_lo = std::min(x_lo, a.x), x_hi = std::max(x_hi, a.x), y_lo = std::min(y_lo, a.y), y_hi = std::max(y_hi, a.y);
    }
    if (v.size() < 3 || area2 == 0.0) return;
    const double side = area2 > 0.0 ? 1.0 : -1.0;  // makes (dy, -dx) point outwards
    const auto x_px = [&](double v) { return static_cast<int>(std::clamp(v, clip_.x0 - 2.0, clip_.x1 + 2.0)); };
    const auto y_px = [&](double v) { return static_cast<int>(std::clamp(v, clip_.y0 - 2.0, clip_.y1 + 2.0)); };
    const Rect box = Rect{x_px(std::floor(x_lo)) - 1, y_px(std::floor(y_lo)) - 1, x_px(std::ceil(x_hi)) + 2,
                          y_px(std::ceil(y_hi)) + 2}
                         .intersect(clip_);
    for (int py = box.y0; py < box.y1; ++py) {
      for (int px = box.x0; px < box.x1; ++px) {
        double outside = -kInf;  // signed distance to the farthest edge line; <= 0 inside
        for (size_t i = 0; i < v.size(); ++i) {
          const Point a = v[i], b = v[(i + 1) % v.size()];
          const double dx = b.x - a.x, dy = b.y - a.y, length = std::hypot(dx, dy);
          if (length == 0.0) continue;
          outside = std::max(outside, side * ((px + 0.5 - a.x) * dy - (py + 0.5 - a.y) * dx) / length);
        }
        const float c = static_cast<float>(std::clamp(0.5 - outside, 0.0, 1.0));
        float& cell = cov_[static_cast<size_t>(py - clip_.y0) * clip_.width() + (px - clip_.x0)];
        cell = std::max(cell, c);
      }
    }
  }

  // Column px between pixel rows y_a and y_b (either order, fractional),
  // its ends anti-aliased by the part of each pixel they cover.
  void span(int px, double y_a, double y_b) {
    if (px < clip_.x0 || px >= clip_.x1) return;
    const double top = std::clamp(std::min(y_a, y_b), clip_.y0 - 1.0, clip_.y1 + 1.0);  // no int overflow
    const double bottom = std::clamp(std::max(y_a, y_b), clip_.y0 - 1.0, clip_.y1 + 1.0);
    const int first = std::max(clip_.y0, static_cast<int>(std::floor(top)));
    const int last = std::min(clip_.y1 - 1, static_cast<int>(std::floor(bottom)));
    for (int py = first; py <= last; ++py) {
      const float c = static_cast<float>(std::clamp(std::min(bottom, py + 1.0) - std::max(top, double(py)), 0.0, 1.0));
      float& cell = cov_[static_cast<size_t>(py - clip_.y0) * clip_.width() + (px - clip_.x0)];
      cell = std::max(cell, c);
    }
  }

  // Paints the coverage in colour c and marks covered pixels in `ink`
  // (a canvas-sized mask used to place the legend) when given.
  // `opacity` scales the coverage (a translucent band).
  void composite(Canvas& canvas, Rgb c, std::vector<uint8_t>* ink = nullptr, double opacity = 1.0) const {
    for (int py = clip_.y0; py < clip_.y1; ++py) {
      for (int px = clip_.x0; px < clip_.x1; ++px) {
        const float a = cov_[static_cast<size_t>(py - clip_.y0) * clip_.width() + (px - clip_.x0)];
        if (a <= 0.0f) continue;
        canvas.blend(px, py, c, a * opacity);
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
constexpr double kMarkerSpacing = 10.0;  // markers closer than this to the last one drawn are skipped
constexpr double kMarkerHalo = 1.2;      // width of the background-coloured ring around markers

// Strokes the polyline `run` with dash pattern `dash` (its phase starting at
// the first point and running along the line).
void stroke_polyline(Coverage& coverage, const std::vector<Point>& run, Dash dash) {
  double s = 0.0;  // arc length at the start of the segment
  for (size_t k = 1; k < run.size(); ++k) {
    const Point a = run[k - 1], b = run[k];
    const double length = std::hypot(b.x - a.x, b.y - a.y);
    if (!(dash.period > 0.0)) {
      coverage.stroke(a, b, kLineHalfWidth);
      continue;
    }
    if (!(length > 0.0)) continue;
    const auto at = [&](double arc) {
      const double t = (arc - s) / length;
      return Point{a.x + t * (b.x - a.x), a.y + t * (b.y - a.y)};
    };
    for (double cycle = std::floor(s / dash.period) * dash.period; cycle < s + length; cycle += dash.period) {
      const double lo = std::max(s, cycle), hi = std::min(s + length, cycle + dash.on);
      if (hi > lo) coverage.stroke(at(lo), at(hi), kLineHalfWidth);
    }
    s += length;
  }
}

// A marker centred on p, grown by `grow` pixels all round (for its halo).
void draw_marker(Coverage& coverage, Point p, Marker marker, double grow = 0.0) {
  constexpr double kSize = 3.3;  // the circle's radius; a square's half side, about
  const double f = 1.0 + grow / kSize;
  const auto shape = [&](std::initializer_list<Point> offsets) {
    std::vector<Point> v;
    for (const Point& o : offsets) v.push_back({p.x + f * o.x, p.y + f * o.y});
    coverage.polygon(v);
  };
  switch (marker) {
    case Marker::none: return;
    case Marker::circle: coverage.stroke(p, p, kSize + grow); return;
    case Marker::square: shape({{-3.2, -3.2}, {3.2, -3.2}, {3.2, 3.2}, {-3.2, 3.2}}); return;
    case Marker::triangle:                            // pointing up
      shape({{0.0, -6.2}, {5.4, 3.6}, {-5.4, 3.6}});  // corners well beyond a circle's halo
      return;
    case Marker::diamond: shape({{0.0, -5.2}, {4.4, 0.0}, {0.0, 5.2}, {-4.4, 0.0}}); return;
  }
}

size_t style_of(const Chart& chart, size_t i) {
  return chart.series[i].style >= 0 ? static_cast<size_t>(chart.series[i].style) : i;
}

// ---- the chart -----------------------------------------------------------------

constexpr int kPad = 12;  // outer margin
constexpr int kTickLength = 5;
constexpr int kTickLabelGap = 6;  // between a tick mark and its label

void check_series(const Chart& chart) {
  for (size_t i = 0; i < chart.series.size(); ++i) {
    const Series& s = chart.series[i];
    if (s.x.size() != s.y.size()) {
      throw std::invalid_argument(fmt::format("plot: series {} ('{}') of chart '{}' has {} x values but {} y values", i,
                                              s.label, chart.title, s.x.size(), s.y.size()));
    }
    const bool no_band = s.band_lo.empty() && s.band_hi.empty();
    if (!no_band && (s.band_lo.size() != s.x.size() || s.band_hi.size() != s.x.size())) {
      throw std::invalid_argument(
          fmt::format("plot: series {} ('{}') of chart '{}' has {} x values but a band of {} lower and {} upper values",
                      i, s.label, chart.title, s.x.size(), s.band_lo.size(), s.band_hi.size()));
    }
  }
}

bool has_band(const Series& s) { return !s.band_lo.empty() && s.band_lo.size() == s.x.size(); }

void check_size(int width, int height, const char* what) {
  if (width < kMinWidth || height < kMinHeight) {
    throw std::invalid_argument(
        fmt::format("plot: {} {}x{} is too small; the minimum is {}x{}", what, width, height, kMinWidth, kMinHeight));
  }
}

// Both axes' intervals (axis units) for the chart's drawable data and y_include.
std::pair<Axis, Axis> fit_axes(const Chart& chart) {
  double x_lo = kInf, x_hi = -kInf, y_lo = kInf, y_hi = -kInf;
  const auto add = [&](double x, double y) {
    if (!drawable(x, y, chart.log_y)) return;
    x_lo = std::min(x_lo, x), x_hi = std::max(x_hi, x);
    if (x < chart.y_fit_x_min) return;
    y_lo = std::min(y_lo, y), y_hi = std::max(y_hi, y);
  };
  for (const Series& s : chart.series) {
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) add(s.x[i], s.y[i]);
    if (has_band(s)) {
      for (size_t i = 0; i < s.x.size(); ++i) {
        if (!drawable(s.x[i], s.band_lo[i], chart.log_y) || !drawable(s.x[i], s.band_hi[i], chart.log_y)) continue;
        add(s.x[i], s.band_lo[i]), add(s.x[i], s.band_hi[i]);
      }
    }
  }
  if (!(y_lo <= y_hi)) {  // every point left of y_fit_x_min: fit y to all of them after all
    for (const Series& s : chart.series) {
      for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
        if (drawable(s.x[i], s.y[i], chart.log_y)) y_lo = std::min(y_lo, s.y[i]), y_hi = std::max(y_hi, s.y[i]);
      }
    }
  }
  for (const double y : chart.y_include) {
    if (!drawable(0.0, y, chart.log_y)) continue;
    y_lo = std::min(y_lo, y), y_hi = std::max(y_hi, y);
  }
  Axis ax, ay;
  std::tie(ax.lo, ax.hi) = fit_interval(x_lo, x_hi, false, 0.02);
  ay.log = chart.log_y;
  std::tie(ay.lo, ay.hi) = fit_interval(y_lo, y_hi, chart.log_y, 0.05);
  return {ax, ay};
}

// ---- the legend ----

struct LegendEntry {
  Rgb color;
  Dash dash;
  Marker marker;
  std::string label;  // printable ASCII; empty for the "+N more" line's swatch-less text
  bool band = false;  // the series has a band: a tinted box behind the swatch
};

constexpr int kBoxPad = 8, kRow = kCapHeight + 9, kSwatch = 40, kSwatchGap = 8, kEntryGap = 22;
constexpr int kLegendInset = 10;     // between the plot frame and a legend inside it
constexpr int kLegendClearance = 4;  // a legend inside the plot keeps this far from any data pixel

std::vector<LegendEntry> legend_entries(const Chart& chart) {
  std::vector<LegendEntry> entries;
  for (size_t i = 0; i < chart.series.size(); ++i) {
    const Series& s = chart.series[i];
    if (s.label.empty()) continue;
    const size_t style = style_of(chart, i);
    if (s.light)
      entries.push_back({light_color(style), Dash{}, s.marker, printable_ascii(s.label), false});
    else
      entries.push_back({series_color(style), dash_pattern(style), s.marker, printable_ascii(s.label), has_band(s)});
  }
  return entries;
}

int entry_width(const LegendEntry& e) { return kSwatch + kSwatchGap + text_width(e.label); }

// One entry with the top of its label's capitals at (x, y).
void draw_entry(Canvas& canvas, int x, int y, const LegendEntry& e) {
  Coverage swatch({x, y - 6, x + kSwatch + 1, y + kCapHeight + 6});
  const double mid = y + kCapHeight / 2.0;
  if (e.band) {
    for (int py = y - 3; py < y + kCapHeight + 3; ++py) {
      for (int px = x; px <= x + kSwatch; ++px) canvas.blend(px, py, e.color, kBandOpacity);
    }
  }
  stroke_polyline(swatch, {{x + 0.0, mid}, {x + kSwatch + 0.0, mid}}, e.dash);
  draw_marker(swatch, {x + kSwatch / 2.0, mid}, e.marker);
  swatch.composite(canvas, e.color);
  draw_text(canvas, x + kSwatch + kSwatchGap, y, e.label, kTextColor);
}

// The legend as a column of entries in a box inside the plot area, at the
// first of the corners and edge middles where it keeps kLegendClearance from
// every inked pixel. False when there is no such place (or no room).
bool legend_inside(Canvas& canvas, const std::vector<LegendEntry>& entries, const Rect& area,
                   const std::vector<uint8_t>& ink) {
  int label_width = 0;
  for (const LegendEntry& e : entries) label_width = std::max(label_width, text_width(e.label));
  const int box_w = 2 * kBoxPad + kSwatch + kSwatchGap + label_width;
  const int box_h = 2 * kBoxPad + static_cast<int>(entries.size()) * kRow - 9;
  if (box_w > area.width() - 2 * kLegendInset || box_h > area.height() - 2 * kLegendInset) return false;

  const int left = area.x0 + kLegendInset, right = area.x1 - kLegendInset - box_w;
  const int center_x = (area.x0 + area.x1 - box_w) / 2;
  const int top = area.y0 + kLegendInset, bottom = area.y1 - kLegendInset - box_h;
  const int center_y = (area.y0 + area.y1 - box_h) / 2;
  const std::array<std::pair<int, int>, 8> places = {{{right, top},
                                                      {left, top},
                                                      {right, bottom},
                                                      {left, bottom},
                                                      {right, center_y},
                                                      {left, center_y},
                                                      {center_x, top},
                                                      {center_x, bottom}}};
  for (const auto& [x, y] : places) {
    const Rect box{x, y, x + box_w, y + box_h};
    const Rect near =
        Rect{x - kLegendClearance, y - kLegendClearance, box.x1 + kLegendClearance, box.y1 + kLegendClearance}
            .intersect(canvas.bounds());
    bool free = true;
    for (int py = near.y0; py < near.y1 && free; ++py) {
      for (int px = near.x0; px < near.x1 && free; ++px) free = !ink[static_cast<size_t>(py) * canvas.width() + px];
    }
    if (!free) continue;
    canvas.fill(box, kBackgroundColor);
    canvas.outline(box, kLegendBorderColor);
    for (size_t i = 0; i < entries.size(); ++i) {
      draw_entry(canvas, box.x0 + kBoxPad, box.y0 + kBoxPad + static_cast<int>(i) * kRow, entries[i]);
    }
    return true;
  }
  return false;
}

// The legend as rows of entries side by side in a box below the chart: at
// most max_rows rows, the last entries replaced by "+N more" when they do not
// fit. Positions are relative to the box.
struct LegendBelow {
  struct Placed {
    int x, y;
    LegendEntry entry;
  };
  std::vector<Placed> placed;
  std::string more;
  int more_x = 0, more_y = 0;
  int width = 0, height = 0;  // of the box; 0 when there is nothing to draw
};

LegendBelow layout_legend_below(std::vector<LegendEntry> entries, int max_width, int max_rows) {
  LegendBelow out;
  const int inner = max_width - 2 * kBoxPad;
  if (max_rows < 1 || inner < kSwatch + kSwatchGap + 3 * 6 * kTextScale) return out;
  for (LegendEntry& e : entries) e.label = fit_text(e.label, inner - kSwatch - kSwatchGap);
  // Lays out the first `shown` entries (plus "+N more" when some are left);
  // false if they need more than max_rows rows.
  const auto try_layout = [&](size_t shown) {
    out = LegendBelow{};
    int x = 0, row = 0, widest = 0;
    const auto place = [&](int w) {
      if (x > 0 && x + w > inner) x = 0, ++row;
      const int at = x;
      x += w + kEntryGap;
      widest = std::max(widest, at + w);
      return at;
    };
    for (size_t i = 0; i < shown; ++i) {
      const int at = place(entry_width(entries[i]));
      out.placed.push_back({kBoxPad + at, kBoxPad + row * kRow, entries[i]});
    }
    if (shown < entries.size()) {
      out.more = fmt::format("+{} more", entries.size() - shown);
      out.more_x = kBoxPad + place(text_width(out.more));
      out.more_y = kBoxPad + row * kRow;
    }
    out.width = 2 * kBoxPad + widest;
    out.height = 2 * kBoxPad + (row + 1) * kRow - 9;
    return row < max_rows;
  };
  for (size_t shown = entries.size();; --shown) {
    if (try_layout(shown)) return out;
    if (shown == 0) return LegendBelow{};
  }
}

// ---- layout and drawing ----

// Where everything goes, for a given space kept free below the chart.
struct Layout {
  Axis ax, ay;
  Rect area;  // the plot frame (inclusive of its 1-px border)
  int title_y = 0, y_label_y = 0, x_label_y = 0, widest_y_label = 0;
};

Layout layout_chart(const Chart& chart, int width, int height, int reserved_bottom) {
  Layout L;
  std::tie(L.ax, L.ay) = fit_axes(chart);
  // ---- vertical layout: title row, y-label row, plot area, tick labels, x label ----
  int top = kPad;
  L.title_y = top;
  if (!chart.title.empty()) top += kCapHeight + kDescent + 10;
  L.y_label_y = top;
  if (!chart.y_label.empty()) top += kCapHeight + kDescent + 12;
  top += kCapHeight / 2;  // room for the top tick label, centred on its tick
  int bottom = height - kPad - reserved_bottom;
  L.x_label_y = bottom - kCapHeight - kDescent;
  if (!chart.x_label.empty()) bottom = L.x_label_y - 8;
  bottom -= kTickLength + kTickLabelGap + kCapHeight + kDescent;
  const Rect vertical{0, top, width, bottom};

  // ---- y ticks, then the left margin from the widest y tick label ----
  const auto label_width = [](const std::string& l) { return text_width(l); };
  const auto label_height = [](const std::string&) { return kCapHeight; };
  const int max_y_ticks = std::max(2, vertical.height() / 45);
  L.ay.ticks = L.ay.log ? log_ticks(L.ay.lo, L.ay.hi, max_y_ticks, vertical.height(), label_height)
                        : linear_ticks(L.ay.lo, L.ay.hi, max_y_ticks, vertical.height(), label_height, false);
  for (const Tick& t : L.ay.ticks) L.widest_y_label = std::max(L.widest_y_label, text_width(t.label));
  const int left = std::min(kPad + L.widest_y_label + kTickLabelGap + kTickLength, width / 3);

  // ---- x ticks; the right margin must hold half of the last label (two passes) ----
  int right = width - kPad - 10;
  for (int pass = 0; pass < 2; ++pass) {
    const int axis_pixels = right - left;
    L.ax.ticks = linear_ticks(L.ax.lo, L.ax.hi, std::max(2, axis_pixels / 90), axis_pixels, label_width, false,
                              chart.integer_x ? 1.0 : 0.0);
    int overflow = 0;  // how far the widest-reaching label passes the image's right margin
    for (const Tick& t : L.ax.ticks) {
      const double px = left + L.ax.unit(t.position) * axis_pixels;
      overflow = std::max(overflow, static_cast<int>(std::ceil(px + text_width(t.label) / 2.0)) - (width - kPad / 2));
    }
    if (overflow <= 0) break;
    right = std::max(left + 60, right - overflow);
  }
  L.area = Rect{left, top, right, bottom};
  return L;
}

// Draws the chart but not its legend; returns the mask of pixels the series inked.
// Pixel positions of axis units inside the plot area, clamped to it.
struct PixelMap {
  const Axis &ax, &ay;
  const Rect& area;
  int x(double position) const {
    return std::clamp(static_cast<int>(area.x0 + ax.unit(position) * area.width()), area.x0, area.x1 - 1);
  }
  int y(double position) const {  // position in axis units (log10 on a log axis)
    const double u = (position - ay.lo) / (ay.hi - ay.lo);
    return std::clamp(static_cast<int>(area.y1 - u * area.height()), area.y0, area.y1 - 1);
  }
};

void draw_grid(Canvas& canvas, const PixelMap& m) {
  for (const bool major : {false, true}) {
    const Rgb c = major ? kGridColor : kMinorGridColor;
    for (const Tick& t : m.ay.ticks)
      if (t.major == major) canvas.fill({m.area.x0, m.y(t.position), m.area.x1, m.y(t.position) + 1}, c);
    for (const Tick& t : m.ax.ticks)
      if (t.major == major) canvas.fill({m.x(t.position), m.area.y0, m.x(t.position) + 1, m.area.y1}, c);
  }
}

// Bands, under every line, in the series' colour, translucent: each pixel
// column between two neighbouring points whose band ends are drawable is
// filled between the ends interpolated at the column's centre. Returns
// whether anything was drawn.
bool draw_bands(const Chart& chart, const Axis& ax, const Axis& ay, const Rect& area, Canvas& canvas,
                std::vector<uint8_t>& ink) {
  bool drawn = false;
  const Rect inside{area.x0 + 1, area.y0 + 1, area.x1 - 1, area.y1 - 1};
  for (size_t i = 0; i < chart.series.size(); ++i) {
    const Series& series = chart.series[i];
    if (!has_band(series)) continue;
    Coverage band(inside);
    const auto px_of = [&](size_t k) { return area.x0 + ax.unit(series.x[k]) * area.width(); };
    const auto py_of = [&](double y) { return area.y1 - ay.unit(y) * area.height(); };
    const auto ok = [&](size_t k) {
      return drawable(series.x[k], series.band_lo[k], ay.log) && drawable(series.x[k], series.band_hi[k], ay.log);
    };
    for (size_t k = 0; k + 1 < series.x.size(); ++k) {
      if (!ok(k) || !ok(k + 1)) continue;
      const double xa = px_of(k), xb = px_of(k + 1);
      if (!(xb > xa)) continue;
      drawn = true;
      const double lo_a = py_of(series.band_lo[k]), hi_a = py_of(series.band_hi[k]);
      const double lo_b = py_of(series.band_lo[k + 1]), hi_b = py_of(series.band_hi[k + 1]);
      for (int px = static_cast<int>(std::ceil(xa - 0.5)); px + 0.5 < xb; ++px) {
        const double t = (px + 0.5 - xa) / (xb - xa);
        band.span(px, lo_a + t * (lo_b - lo_a), hi_a + t * (hi_b - hi_a));
      }
    }
    band.composite(canvas, series_color(style_of(chart, i)), &ink, kBandOpacity);
  }
  return drawn;
}

// The lines: light series first (raw points beside a smoothed copy, solid,
// under every other line), then solid ones before dotted ones, so that
// identical lines all show (each pattern's dashes are shorter than the one
// drawn before). Returns whether anything was drawn.
bool draw_lines(const Chart& chart, const Axis& ax, const Axis& ay, const Rect& area, Canvas& canvas,
                std::vector<uint8_t>& ink) {
  bool drawn = false;
  const Rect inside{area.x0 + 1, area.y0 + 1, area.x1 - 1, area.y1 - 1};
  std::vector<size_t> order;
  for (size_t i = 0; i < chart.series.size(); ++i)
    if (chart.series[i].light) order.push_back(i);
  std::vector<size_t> heavy;
  for (size_t i = 0; i < chart.series.size(); ++i)
    if (!chart.series[i].light) heavy.push_back(i);
  std::stable_sort(heavy.begin(), heavy.end(), [&](size_t a, size_t b) {
    return style_of(chart, a) % kDashPatterns < style_of(chart, b) % kDashPatterns;
  });
  order.insert(order.end(), heavy.begin(), heavy.end());
  for (const size_t i : order) {
    const Series& series = chart.series[i];
    const size_t style = style_of(chart, i);
    Coverage coverage(inside);
    for (std::vector<Point>& run : pixel_runs(series, ax, ay, area)) {
      drawn = true;
      if (series.marker != Marker::none && !series.light) {
        // A background-coloured halo first, so that a marker drawn over a
        // larger one (a circle over a triangle: forward and backward gains
        // that coincide) leaves the corners of the one beneath visible.
        Coverage halo(inside);
        std::optional<Point> last;
        for (const Point& p : run) {
          if (last && std::hypot(p.x - last->x, p.y - last->y) < kMarkerSpacing) continue;
          draw_marker(halo, p, series.marker, kMarkerHalo);
          draw_marker(coverage, p, series.marker);
          last = p;
        }
        halo.composite(canvas, kBackgroundColor);
      }
      run = reduce_per_column(std::move(run), area.width());
      if (run.size() == 1) coverage.stroke(run[0], run[0], kDotRadius);
      stroke_polyline(coverage, run, series.light ? Dash{} : dash_pattern(style));
    }
    if (series.light)
      coverage.composite(canvas, series_color(style), &ink, kLightOpacity);
    else
      coverage.composite(canvas, series_color(style), &ink);
  }
  return drawn;
}

// Why nothing was drawn, in the middle of the plot area. Finite values
// beyond 1e300 are left out (they would overflow the axis arithmetic): say
// so, rather than call them not finite.
void draw_no_data(const Chart& chart, const Rect& area, Canvas& canvas) {
  bool huge = false, finite = false;
  for (const Series& se : chart.series)
    for (size_t k = 0; k < se.x.size() && k < se.y.size(); ++k) {
      const bool f = std::isfinite(se.x[k]) && std::isfinite(se.y[k]);
      finite = finite || f;
      huge = huge || (f && (std::fabs(se.x[k]) > 1e300 || std::fabs(se.y[k]) > 1e300));
    }
  const std::string message = chart.series.empty() ? "no series"
                              : huge               ? "values beyond 1e300 are not drawn"
                              : finite             ? "no positive data for the log axis"
                                                   : "no finite data";
  draw_text(canvas, (area.x0 + area.x1 - text_width(message)) / 2, (area.y0 + area.y1 - kCapHeight) / 2, message,
            kMutedTextColor);
}

// The frame, tick marks and tick labels.
void draw_frame(Canvas& canvas, const PixelMap& m) {
  const Rect& area = m.area;
  canvas.outline(area, kFrameColor);
  for (const Tick& t : m.ay.ticks) {
    const int py = m.y(t.position);
    canvas.fill({area.x0 - (t.major ? kTickLength : 3), py, area.x0, py + 1}, kFrameColor);
    if (!t.label.empty())
      draw_text(canvas, area.x0 - kTickLength - kTickLabelGap - text_width(t.label), py - kCapHeight / 2, t.label,
                kTextColor);
  }
  for (const Tick& t : m.ax.ticks) {
    const int px = m.x(t.position);
    canvas.fill({px, area.y1, px + 1, area.y1 + kTickLength}, kFrameColor);
    const int w = text_width(t.label);
    const int x = std::clamp(px - w / 2, 0, std::max(0, canvas.width() - w));
    draw_text(canvas, x, area.y1 + kTickLength + kTickLabelGap, t.label, kTextColor);
  }
}

// The axis labels and the title.
void draw_labels(const Chart& chart, const Layout& L, Canvas& canvas) {
  const int width = canvas.width();
  const Rect& area = L.area;
  if (const std::string x_label = printable_ascii(chart.x_label); !x_label.empty()) {
    const std::string text = fit_text(x_label, width - 2 * kPad);
    const int w = text_width(text);
    draw_text(canvas, std::clamp((area.x0 + area.x1 - w) / 2, kPad, std::max(kPad, width - kPad - w)), L.x_label_y,
              text, kTextColor);
  }
  if (const std::string y_label = printable_ascii(chart.y_label); !y_label.empty()) {
    // Horizontal, above the y axis, starting at the tick labels' left edge.
    const int x = std::max(kPad, area.x0 - kTickLength - kTickLabelGap - L.widest_y_label);
    draw_text(canvas, x, L.y_label_y, fit_text(y_label, width - kPad - x), kTextColor);
  }
  if (const std::string title = printable_ascii(chart.title); !title.empty()) {
    const std::string text = fit_text(title, width - 2 * kPad - 1);
    const int w = text_width(text) + 1;  // +1: the bold offset
    draw_text(canvas, std::clamp((area.x0 + area.x1 - w) / 2, kPad, std::max(kPad, width - kPad - w)), L.title_y, text,
              kTextColor, kTextScale, true);
  }
}

// Draws the chart into its layout; returns the data's ink mask (where the
// legend must not go).
std::vector<uint8_t> draw_chart(const Chart& chart, const Layout& L, Canvas& canvas) {
  const PixelMap pixels{L.ax, L.ay, L.area};
  draw_grid(canvas, pixels);
  std::vector<uint8_t> ink(static_cast<size_t>(canvas.width()) * canvas.height(), 0);
  const bool bands = draw_bands(chart, L.ax, L.ay, L.area, canvas, ink);
  const bool lines = draw_lines(chart, L.ax, L.ay, L.area, canvas, ink);
  if (!bands && !lines) draw_no_data(chart, L.area, canvas);
  draw_frame(canvas, pixels);
  draw_labels(chart, L, canvas);
  return ink;
}

constexpr int kMinPlotHeight = 48;  // a legend below the chart may not squeeze the plot area below this

// Draws chart onto a canvas of its own size: first with the legend inside
// the plot area; where no free place is found there, again with the legend
// in a box below the chart.
void render(const Chart& chart, Canvas& canvas) {
  const int width = canvas.width(), height = canvas.height();
  const Layout plain = layout_chart(chart, width, height, 0);
  const std::vector<uint8_t> ink = draw_chart(chart, plain, canvas);
  const std::vector<LegendEntry> entries = legend_entries(chart);
  if (entries.empty()) return;
  const Rect inside{plain.area.x0 + 1, plain.area.y0 + 1, plain.area.x1 - 1, plain.area.y1 - 1};
  if (legend_inside(canvas, entries, inside, ink)) return;

  // Below: in at most a quarter of the height (and 4 rows), fewer rows if
  // the plot area would get under kMinPlotHeight.
  const int max_rows = std::clamp((height / 4 - 2 * kBoxPad + 9) / kRow, 1, 4);
  for (int rows = max_rows; rows >= 1; --rows) {
    const LegendBelow legend = layout_legend_below(entries, width - 2 * kPad, rows);
    if (legend.height == 0) continue;
    const Layout L = layout_chart(chart, width, height, legend.height + 6);
    if (L.area.height() < kMinPlotHeight) continue;
    canvas.clear();
    draw_chart(chart, L, canvas);
    const Rect box{(width - legend.width) / 2, height - kPad - legend.height, (width + legend.width) / 2,
                   height - kPad};
    canvas.outline(box, kLegendBorderColor);
    for (const LegendBelow::Placed& p : legend.placed) draw_entry(canvas, box.x0 + p.x, box.y0 + p.y, p.entry);
    if (!legend.more.empty()) {
      draw_text(canvas, box.x0 + legend.more_x, box.y0 + legend.more_y, legend.more, kMutedTextColor);
    }
    return;
  }
  // No room for a legend anywhere (a tiny image): the chart goes without one.
}

void save_png(const Canvas& canvas, const std::string& path) {
  write_rgb_png(canvas.width(), canvas.height(), canvas.data(), path);
}

}  // namespace

// Encodes the PNG in memory, then writes it all-or-nothing.
void write_rgb_png(int width, int height, const uint8_t* rgb, const std::string& path) {
  std::string png;
  auto append = [](void* context, void* data, int size) {
    static_cast<std::string*>(context)->append(static_cast<const char*>(data), static_cast<size_t>(size));
  };
  if (!stbi_write_png_to_func(append, &png, width, height, 3, rgb, width * 3))
    throw std::runtime_error(fmt::format("plot: cannot encode '{}'", path));
  write_file_atomically(path, png, path + ".tmp");
}

std::string tidy_exponent(std::string s) {
  const size_t e = s.find('e');
  if (e == std::string::npos) return s;
  std::string exp = s.substr(e + 1);
  const bool negative = !exp.empty() && exp[0] == '-';
  if (!exp.empty() && (exp[0] == '+' || exp[0] == '-')) exp.erase(0, 1);
  while (exp.size() > 1 && exp[0] == '0') exp.erase(0, 1);
  return s.substr(0, e + 1) + (negative ? "-" : "") + exp;
}

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

Rgb band_color(size_t index) {
  const Rgb c = series_color(index);
  const auto mix = [](uint8_t over) { return static_cast<uint8_t>(std::lround(255 + (over - 255) * kBandOpacity)); };
  return {mix(c.r), mix(c.g), mix(c.b)};
}

Rgb light_color(size_t index) {
  const Rgb c = series_color(index);
  const auto mix = [](uint8_t over) { return static_cast<uint8_t>(std::lround(255 + (over - 255) * kLightOpacity)); };
  return {mix(c.r), mix(c.g), mix(c.b)};
}

Dash dash_pattern(size_t index) {
  // Nested: each pattern's dashes start where the previous one's do and end
  // earlier, leaving ~5 px of every 30 to the pattern below (the 2.5-px round
  // caps included), so identical lines drawn in this order all show.
  static constexpr std::array<Dash, kDashPatterns> kPatterns = {{
      {0.0, 0.0},    // solid
      {30.0, 18.0},  // long dashes
      {30.0, 8.0},   // short dashes
      {10.0, 1.0},   // dots
  }};
  return kPatterns[index % kDashPatterns];
}

TextMask text_mask(const std::string& text) {
  const std::string ascii = printable_ascii(text);
  std::string mutable_text = ascii;
  TextMask mask;
  const std::vector<Rect> quads = glyph_quads(ascii);
  mask.width = stb_easy_font_width(mutable_text.data());
  for (const Rect& q : quads) mask.width = std::max(mask.width, q.x1);
  mask.ink.assign(static_cast<size_t>(mask.width) * kTextRows, 0);
  for (const Rect& q : quads) {
    for (int y = std::max(q.y0, 0); y < std::min(q.y1, kTextRows); ++y) {
      for (int x = std::max(q.x0, 0); x < q.x1; ++x) mask.ink[static_cast<size_t>(y) * mask.width + x] = 1;
    }
  }
  return mask;
}

Range x_range(const Chart& chart) {
  const Axis ax = fit_axes(chart).first;
  return {ax.lo, ax.hi};
}

Range y_range(const Chart& chart) {
  const Axis ay = fit_axes(chart).second;
  return ay.log ? Range{std::pow(10.0, ay.lo), std::pow(10.0, ay.hi)} : Range{ay.lo, ay.hi};
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
