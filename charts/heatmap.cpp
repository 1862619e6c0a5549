// heatmap.cpp — the heat-map renderer: layout of rows of matrices with their
// colour bars, the diverging colour ramp, cell labels drawn from plot.h's
// text masks; PNG writing through plot::write_rgb_png.
#include "charts/heatmap.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <stdexcept>

namespace mhc::plot {

namespace {

constexpr int kPad = 12;
constexpr int kMapGap = 28;              // between two maps of a row
constexpr int kRowGap = 22;              // between two rows
constexpr int kBarWidth = 16;            // the colour bar
constexpr int kBarGap = 14;              // between the last map and the colour bar
constexpr int kLineGap = 8;              // below a line of text
constexpr int kLabelH = 7 * 2 + 4 + 14;  // a row's label line, at text scale 2
constexpr int kTitleH = 7 * 2 + 4 + 6;   // a map's title line
constexpr Rgb kNonFiniteColor{200, 200, 200};
constexpr Rgb kDarkText{38, 38, 38};
constexpr Rgb kMutedText{110, 110, 110};
constexpr Rgb kLightText{255, 255, 255};
constexpr Rgb kFrame{64, 64, 64};

class Image {
 public:
  Image(int width, int height) : width_(width), height_(height), rgb_(static_cast<size_t>(width) * height * 3, 255) {}
  void set(int x, int y, Rgb c) {
    if (x < 0 || y < 0 || x >= width_ || y >= height_) return;
    uint8_t* p = &rgb_[(static_cast<size_t>(y) * width_ + x) * 3];
    p[0] = c.r, p[1] = c.g, p[2] = c.b;
  }
  void fill(int x0, int y0, int x1, int y1, Rgb c) {  // [x0, x1) x [y0, y1)
    for (int y = y0; y < y1; ++y)
      for (int x = x0; x < x1; ++x) set(x, y, c);
  }
  void outline(int x0, int y0, int x1, int y1, Rgb c) {
    fill(x0, y0, x1, y0 + 1, c), fill(x0, y1 - 1, x1, y1, c), fill(x0, y0, x0 + 1, y1, c), fill(x1 - 1, y0, x1, y1, c);
  }
  // Text with the top of its capitals at y, each font pixel drawn scale x scale.
  void text(int x, int y, const std::string& s, Rgb c, int scale) {
    const TextMask m = text_mask(s);
    for (int row = 0; row < m.height; ++row)
      for (int col = 0; col < m.width; ++col)
        if (m.at(col, row)) fill(x + col * scale, y + row * scale, x + (col + 1) * scale, y + (row + 1) * scale, c);
  }
  int width() const { return width_; }
  int height() const { return height_; }
  const uint8_t* data() const { return rgb_.data(); }

 private:
  int width_, height_;
  std::vector<uint8_t> rgb_;
};

int text_w(const std::string& s, int scale) { return text_mask(s).width * scale; }
constexpr int text_h(int scale) { return 7 * scale; }  // capitals and digits

// ColorBrewer RdBu (11 classes): the positive half from white to dark blue,
// the negative half from white to dark red.
constexpr std::array<Rgb, 6> kBlues = {
    {{247, 247, 247}, {209, 229, 240}, {146, 197, 222}, {67, 147, 195}, {33, 102, 172}, {5, 48, 97}}};
constexpr std::array<Rgb, 6> kReds = {
    {{247, 247, 247}, {253, 219, 199}, {244, 165, 130}, {214, 96, 77}, {178, 24, 43}, {103, 0, 31}}};

Rgb ramp(const std::array<Rgb, 6>& stops, double t) {  // t in [0, 1]
  t = std::clamp(t, 0.0, 1.0) * (stops.size() - 1);
  const size_t k = std::min(static_cast<size_t>(t), stops.size() - 2);
  const double f = t - static_cast<double>(k);
  const auto mix = [f](uint8_t a, uint8_t b) { return static_cast<uint8_t>(std::lround(a + (b - a) * f)); };
  return {mix(stops[k].r, stops[k + 1].r), mix(stops[k].g, stops[k + 1].g), mix(stops[k].b, stops[k + 1].b)};
}

bool dark(Rgb c) { return 0.299 * c.r + 0.587 * c.g + 0.114 * c.b < 140.0; }

// Geometry of one row of the figure.
struct RowLayout {
  int cell = 0, scale = 1;        // cell side in px; scale of the cell text
  std::vector<int> map_x;         // left edge of each map
  std::vector<int> map_w, map_h;  // matrix size in px
  int bar_x = 0;                  // left edge of the colour bar
  int width = 0;                  // right edge (incl. bar labels)
  int matrix_h = 0;               // tallest matrix (at least the colour bar's minimum height)
  double lo = 0, hi = 1, scale_at = 1;
};

std::string bar_label(double v) { return heatmap_label(v); }

}  // namespace

double heatmap_scale(const std::vector<double>& values) {
  double m = 0.0;
  for (double v : values)
    if (std::isfinite(v)) m = std::max(m, std::fabs(v));
  return m > 0.0 ? m : 1.0;
}

Rgb heatmap_color(double v, double scale) {
  if (!std::isfinite(v)) return kNonFiniteColor;
  if (!(scale > 0.0)) scale = 1.0;
  return v >= 0 ? ramp(kBlues, v / scale) : ramp(kReds, -v / scale);
}

std::string heatmap_label(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  std::string s = fmt::format("{:.3g}", v);
  if (s == "-0") s = "0";
  return tidy_exponent(s);  // "1.2e+03" -> "1.2e3"
}

namespace {

// Every map of the figure rectangular, every row with a map.
void check_figure(const HeatmapFigure& figure) {
  if (figure.rows.empty()) throw std::invalid_argument(fmt::format("heatmap: figure '{}' has no rows", figure.title));
  for (const HeatmapRow& row : figure.rows) {
    if (row.maps.empty())
      throw std::invalid_argument(fmt::format("heatmap: row '{}' of figure '{}' has no maps", row.label, figure.title));
    for (const Heatmap& m : row.maps)
      for (const auto& r : m.rows)
        if (r.size() != m.rows[0].size())
          throw std::invalid_argument(
              fmt::format("heatmap: map '{}' in row '{}' of figure '{}' has rows of {} and {} values", m.title,
                          row.label, figure.title, m.rows[0].size(), r.size()));
  }
}

// One row of maps laid out: its cell size and text scale, the colour scale
// shared by its maps, where each map and the colour bar go.
RowLayout layout_row(const HeatmapRow& row) {
  RowLayout L;
  std::vector<double> values;
  size_t largest_n = 0;
  for (const Heatmap& m : row.maps) {
    largest_n = std::max({largest_n, m.rows.size(), m.rows.empty() ? size_t{0} : m.rows[0].size()});
    for (const auto& r : m.rows) values.insert(values.end(), r.begin(), r.end());
  }
  L.scale = largest_n > 6 ? 1 : 2;
  int widest = text_w("nan", L.scale);
  for (double v : values) widest = std::max(widest, text_w(heatmap_label(v), L.scale));
  L.cell = std::max(L.scale == 2 ? 40 : 24, widest + 4 * L.scale + 4);
  L.scale_at = heatmap_scale(values);
  L.lo = 0.0, L.hi = 0.0;
  for (double v : values)
    if (std::isfinite(v)) L.lo = std::min(L.lo, v), L.hi = std::max(L.hi, v);
  if (L.hi == L.lo) L.hi = L.lo + 1.0;
  int x = kPad;
  for (const Heatmap& m : row.maps) {
    const int cols = m.rows.empty() ? 0 : static_cast<int>(m.rows[0].size());
    const int w = m.rows.empty() ? 3 * L.cell : cols * L.cell;
    const int h = m.rows.empty() ? L.cell : static_cast<int>(m.rows.size()) * L.cell;
    L.map_x.push_back(x), L.map_w.push_back(w), L.map_h.push_back(h);
    L.matrix_h = std::max(L.matrix_h, h);
    x += std::max(w, text_w(m.title, 2)) + kMapGap;
  }
  L.matrix_h = std::max(L.matrix_h, 2 * text_h(2) + 8);  // room for the colour bar's two labels
  L.bar_x = x - kMapGap + kBarGap;
  L.width =
      L.bar_x + kBarWidth + 6 + std::max({text_w(bar_label(L.lo), 2), text_w(bar_label(L.hi), 2), text_w("0", 2)});
  return L;
}

// Map k of a row: its cells with their values, thin white lines between
// them, the frame (or "no data").
void draw_map(Image& img, const Heatmap& m, const RowLayout& L, size_t k, int top) {
  const int x0 = L.map_x[k];
  if (m.rows.empty()) {
    img.outline(x0, top, x0 + L.map_w[k], top + L.map_h[k], kFrame);
    img.text(x0 + (L.map_w[k] - text_w("no data", 2)) / 2, top + (L.cell - text_h(2)) / 2, "no data", kFrame, 2);
    return;
  }
  for (size_t i = 0; i < m.rows.size(); ++i) {
    for (size_t j = 0; j < m.rows[i].size(); ++j) {
      const double v = m.rows[i][j];
      const Rgb c = heatmap_color(v, L.scale_at);
      const int cx = x0 + static_cast<int>(j) * L.cell, cy = top + static_cast<int>(i) * L.cell;
      img.fill(cx, cy, cx + L.cell, cy + L.cell, c);
      const std::string label = heatmap_label(v);
      img.text(cx + (L.cell - text_w(label, L.scale)) / 2, cy + (L.cell - text_h(L.scale)) / 2, label,
               dark(c) ? kLightText : kDarkText, L.scale);
    }
  }
  for (size_t i = 1; i < m.rows.size(); ++i)
    img.fill(x0, top + static_cast<int>(i) * L.cell, x0 + L.map_w[k], top + static_cast<int>(i) * L.cell + 1,
             kBackgroundColor);
  for (size_t j = 1; j < m.rows[0].size(); ++j)
    img.fill(x0 + static_cast<int>(j) * L.cell, top, x0 + static_cast<int>(j) * L.cell + 1, top + L.map_h[k],
             kBackgroundColor);
  img.outline(x0 - 1, top - 1, x0 + L.map_w[k] + 1, top + L.map_h[k] + 1, kFrame);
}

// A row's colour bar: hi at the top, lo at the bottom, 0 marked when inside.
void draw_colour_bar(Image& img, const RowLayout& L, int top) {
  const int bar_h = L.matrix_h;
  for (int py = 0; py < bar_h; ++py) {
    const double v = L.hi - (L.hi - L.lo) * (py + 0.5) / bar_h;
    img.fill(L.bar_x, top + py, L.bar_x + kBarWidth, top + py + 1, heatmap_color(v, L.scale_at));
  }
  img.outline(L.bar_x - 1, top - 1, L.bar_x + kBarWidth + 1, top + bar_h + 1, kFrame);
  const int label_x = L.bar_x + kBarWidth + 6;
  img.text(label_x, top, bar_label(L.hi), kDarkText, 2);
  img.text(label_x, top + bar_h - text_h(2), bar_label(L.lo), kDarkText, 2);
  if (L.lo < 0 && L.hi > 0) {
    const int zero_y = top + static_cast<int>(std::lround(bar_h * L.hi / (L.hi - L.lo)));
    if (zero_y - text_h(2) / 2 > top + text_h(2) + 4 && zero_y + text_h(2) / 2 < top + bar_h - text_h(2) - 4) {
      img.fill(L.bar_x + kBarWidth, zero_y, L.bar_x + kBarWidth + 4, zero_y + 1, kFrame);
      img.text(label_x, zero_y - text_h(2) / 2, "0", kDarkText, 2);
    }
  }
}

// The note, split at '\n'.
std::vector<std::string> note_lines_of(const std::string& note) {
  std::vector<std::string> lines;
  for (size_t start = 0; !note.empty() && start <= note.size();) {
    const size_t end = std::min(note.find('\n', start), note.size());
    lines.push_back(note.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

}  // namespace

void write_heatmaps_png(const HeatmapFigure& figure, const std::string& path) {
  check_figure(figure);
  // ---- layout ----
  const int title_h = figure.title.empty() ? 0 : text_h(2) + 2 * 2 + kLineGap + 4;
  const std::vector<std::string> note_lines = note_lines_of(figure.note);
  const int note_line_h = text_h(2) + 4 + 4;
  const int note_h = note_lines.empty() ? 0 : static_cast<int>(note_lines.size()) * note_line_h + 2 * kLineGap;
  std::vector<RowLayout> rows;
  int width = kPad + text_w(figure.title, 2) + kPad;
  for (const std::string& line : note_lines) width = std::max(width, kPad + text_w(line, 2) + kPad);
  int height = kPad + title_h + note_h;
  for (const HeatmapRow& row : figure.rows) {
    rows.push_back(layout_row(row));
    width = std::max({width, rows.back().width + kPad, kPad + text_w(row.label, 2) + kPad});
    height += kLabelH + kTitleH + rows.back().matrix_h + kRowGap;  // row label, map titles, matrices
  }
  height += kPad - kRowGap;

  // ---- drawing ----
  Image img(width, height);
  int y = kPad;
  if (!figure.title.empty()) {
    img.text(kPad, y, figure.title, kDarkText, 2);
    img.text(kPad + 1, y, figure.title, kDarkText, 2);  // bold
    y += title_h;
  }
  for (size_t i = 0; i < note_lines.size(); ++i)
    img.text(kPad, y + static_cast<int>(i) * note_line_h, note_lines[i], kMutedText, 2);
  y += note_h;
  for (size_t r = 0; r < figure.rows.size(); ++r) {
    const HeatmapRow& row = figure.rows[r];
    img.text(kPad, y, row.label, kDarkText, 2);
    img.text(kPad + 1, y, row.label, kDarkText, 2);  // bold
    y += kLabelH;
    const int top = y + kTitleH;  // matrices start below the map titles
    for (size_t k = 0; k < row.maps.size(); ++k) {
      img.text(rows[r].map_x[k], y, row.maps[k].title, kDarkText, 2);
      draw_map(img, row.maps[k], rows[r], k, top);
    }
    draw_colour_bar(img, rows[r], top);
    y = top + rows[r].matrix_h + kRowGap;
  }
  write_rgb_png(img.width(), img.height(), img.data(), path);
}

}  // namespace mhc::plot
