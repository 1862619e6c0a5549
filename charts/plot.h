// plot.h — PNG line charts for training curves: several runs' loss, gradient
// norm or Amax gain overlaid on one pair of axes, drawn by our own small
// rasteriser (anti-aliased lines, stb_easy_font text) and written with
// stb_image_write.
//
//   plot::Chart chart{"validation loss", "step", "loss"};
//   chart.series.push_back({"mHC", steps, val_loss});
//   chart.series.push_back({"residual", steps, val_loss_residual});
//   plot::write_png(chart, "out/loss.png");
//
// What a chart shows:
// - Axes fit the drawable data (with a small margin) and carry "nice" ticks (1, 2, 5
//   times a power of ten) with grid lines; log_y gives decade ticks. The y axis
//   also covers Chart::y_include (e.g. gain 1). An axis never spans less than
//   kMinRelativeSpan of the magnitude it shows, so values that agree to four
//   significant digits or more draw as a flat line, not as magnified rounding
//   noise (an mHC gain of 1.000000158..1.000000164 is a flat line at 1).
// - Series::style picks the colour, series_color(style), and the dash pattern,
//   dash_pattern(style); by default it is the series' position. Callers that
//   overlay runs give all of a run's series the run's index, so the run keeps
//   one look in every chart, and mark the quantity (val, forward, ...) with a
//   Marker. Dash patterns are nested (solid, long, short, dotted: each one's
//   dashes start where the previous one's do and are shorter) and drawn in that
//   order (by pattern, then by position), so up to kDashPatterns identical
//   lines all stay visible. The legend lists series in their own order.
// - A series may carry a band (band_lo..band_hi at each x, e.g. the spread over
//   seeds): a translucent tint of the series' colour, drawn over the grid and
//   under every line (overlapping bands both show), and shown as a tinted
//   box behind the series' legend swatch. A point whose band ends are not both
//   drawable leaves a gap in the band.
// - A light series (Series::light: the raw points of a curve that is also drawn
//   smoothed) is a thin solid line in light_color(style), drawn over the bands and
//   under every other line, so spikes stay visible behind the smoothed curve; its
//   legend swatch is a solid line in that colour.
// - Chart::y_fit_x_min leaves points (and bands) left of it out of the y
//   range: they are drawn, clipped at the frame, so that e.g. a validation
//   loss's tail is readable instead of the drop from the untrained model.
// - A NaN or infinite x or y (or one beyond ±1e300) leaves a gap in the line (a diverged run stops
//   instead of shooting off the chart); on a log axis so do values <= 0.
//   A point with no drawable neighbour is drawn as a dot.
// - The legend (series with a non-empty label) never covers data: it goes in
//   a corner (or the middle of an edge) of the plot area that no series comes
//   near, else in a box below the x-axis label (the plot area shrinks for it;
//   an image too small for that goes without a legend).
// - Markers get a thin background-coloured halo, so a marker drawn over a
//   larger one at the same point leaves that one's edges visible.
// - Text is ASCII, drawn with stb_easy_font's glyphs (with '|' made taller
//   than 'l'); other characters are drawn as '?'.
// Output is deterministic: the same chart gives the same bytes.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace mhc::plot {

// Shapes drawn at a series' points (thinned to one per ~10 px where they crowd).
enum class Marker { none, circle, square, triangle, diamond };

struct Series {
  std::string label;
  std::vector<double> x, y;  // same length; NaN/inf leave a gap
  int style = -1;            // colour and dash pattern index; < 0: the series' position
  Marker marker = Marker::none;
  std::vector<double> band_lo = {}, band_hi = {};  // empty, or one pair per x: a tinted band between them
  bool light = false;  // raw data beside a smoothed copy: a solid line in light_color(style), under every other line
};

struct Chart {
  std::string title, x_label, y_label;
  bool log_y = false;
  std::vector<Series> series;
  std::vector<double> y_include = {};  // values the y axis always covers (ignored on a log axis if <= 0)
  bool integer_x = false;              // x counts things (steps, sites): ticks at whole numbers only
  double y_fit_x_min = -1e308;         // points with x below this do not widen the y axis (they are clipped)
};

// The interval an axis shows, in data units (not log10 units on a log axis).
struct Range {
  double lo = 0.0, hi = 1.0;
};
// The smallest span of an axis, relative to the largest magnitude it shows:
// hi - lo >= kMinRelativeSpan * max(|lo|, |hi|) on a linear axis, and
// hi / lo >= 1 + kMinRelativeSpan on a log axis.
inline constexpr double kMinRelativeSpan = 1e-2;
// The axes write_png draws for chart.
Range x_range(const Chart& chart);
Range y_range(const Chart& chart);

// Renders chart and writes it as an RGB PNG (via path + ".tmp", then a rename,
// so a reader never sees half a file). Throws std::invalid_argument when the
// size is too small for a plot area or a series' x and y (or band) lengths differ, and
// std::runtime_error when the file cannot be written.
void write_png(const Chart& chart, const std::string& path, int width = 900, int height = 560);

// Several charts in one image, `columns` per row, each in a cell_w x cell_h
// cell: the image is columns * cell_w wide and ceil(charts / columns) * cell_h
// high; unused cells stay white.
void write_grid_png(const std::vector<Chart>& charts, int columns, const std::string& path, int cell_w = 640,
                    int cell_h = 400);

// Writes an RGB image (width × height, row-major, 3 bytes a pixel) as a PNG,
// all-or-nothing (via path + ".tmp"); throws when it cannot be encoded or written.
void write_rgb_png(int width, int height, const uint8_t* rgb, const std::string& path);

// A number's exponent as charts print it: "1.23e+03" -> "1.23e3", "5.00e-05" -> "5.00e-5".
std::string tidy_exponent(std::string s);

// ---- style (exposed so tests and callers can find things in the image) ---------

struct Rgb {
  uint8_t r = 0, g = 0, b = 0;
  bool operator==(const Rgb&) const = default;
};

// Colour of style i: Okabe–Ito's colour-blind-safe colours first, then a few
// more dark ones; cycles after kPaletteSize.
inline constexpr size_t kPaletteSize = 10;
Rgb series_color(size_t index);

// Dash pattern of style i: ink along the first `on` pixels of every `period`
// pixels of the line, measured along it (period 0: solid). Cycles after
// kDashPatterns: solid, long dashes, short dashes, dots.
struct Dash {
  double period = 0.0, on = 0.0;
};
inline constexpr size_t kDashPatterns = 4;
Dash dash_pattern(size_t index);

// Text as charts draw it, at scale 1 (charts use 2): a mask of width x
// kTextRows pixels, row-major, 1 where there is ink. Capitals and digits fill
// rows 0-6; descenders (g, p, y, and '|') reach row 8. width is the advance
// of the whole text, so spaces count.
inline constexpr int kTextRows = 9;
struct TextMask {
  int width = 0, height = kTextRows;
  std::vector<uint8_t> ink;
  bool at(int x, int y) const { return ink[static_cast<size_t>(y) * width + x] != 0; }
};
TextMask text_mask(const std::string& text);

inline constexpr Rgb kBackgroundColor{255, 255, 255};
inline constexpr Rgb kFrameColor{64, 64, 64};         // plot-area frame and tick marks
inline constexpr Rgb kGridColor{232, 232, 232};       // grid lines (major)
inline constexpr Rgb kMinorGridColor{244, 244, 244};  // grid lines (minor, log axes)
inline constexpr Rgb kTextColor{38, 38, 38};          // title, labels, tick labels
inline constexpr Rgb kLegendBorderColor{190, 190, 190};
inline constexpr Rgb kMutedTextColor{140, 140, 140};  // "no finite data", the legend's "+N more"
inline constexpr double kBandOpacity = 0.18;          // a band is its series' colour at this opacity

// Colour a band of style i paints over the white background (where no other band is).
Rgb band_color(size_t index);
// A light series (Series::light) is its colour at this opacity over the background.
inline constexpr double kLightOpacity = 0.35;
Rgb light_color(size_t index);

// Minimum image (or grid cell) size accepted by write_png / write_grid_png.
inline constexpr int kMinWidth = 240, kMinHeight = 180;

}  // namespace mhc::plot
