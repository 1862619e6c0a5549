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
//   times a power of ten) with grid lines; log_y gives decade ticks.
// - Series i is drawn in series_color(i), a fixed colour-blind-friendly
//   palette, so the same run keeps its colour across charts when the series
//   are listed in the same order.
// - A NaN or infinite x or y (or one beyond ±1e300) leaves a gap in the line (a diverged run stops
//   instead of shooting off the chart); on a log axis so do values <= 0.
//   A point with no drawable neighbour is drawn as a dot.
// - The legend (series with a non-empty label) goes where it covers the
//   fewest drawn pixels: a corner of the plot area if one is free, else the
//   middle of an edge, else the centre.
// - Text is ASCII; other characters are drawn as '?'.
// Output is deterministic: the same chart gives the same bytes.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace mhc::plot {

struct Series {
  std::string label;
  std::vector<double> x, y;  // same length; NaN/inf leave a gap
};

struct Chart {
  std::string title, x_label, y_label;
  bool log_y = false;
  std::vector<Series> series;
};

// Renders chart and writes it as an RGB PNG (via path + ".tmp", then a rename,
// so a reader never sees half a file). Throws std::invalid_argument when the
// size is too small for a plot area or a series' x and y lengths differ, and
// std::runtime_error when the file cannot be written.
void write_png(const Chart& chart, const std::string& path, int width = 900, int height = 560);

// Several charts in one image, `columns` per row, each in a cell_w x cell_h
// cell: the image is columns * cell_w wide and ceil(charts / columns) * cell_h
// high; unused cells stay white.
void write_grid_png(const std::vector<Chart>& charts, int columns, const std::string& path, int cell_w = 640,
                    int cell_h = 400);

// ---- style (exposed so tests and callers can find things in the image) ---------

struct Rgb {
  uint8_t r = 0, g = 0, b = 0;
  bool operator==(const Rgb&) const = default;
};

// Colour of series i: Okabe–Ito's colour-blind-safe colours first, then a few
// more dark ones; cycles after kPaletteSize.
inline constexpr size_t kPaletteSize = 10;
Rgb series_color(size_t index);

inline constexpr Rgb kBackgroundColor{255, 255, 255};
inline constexpr Rgb kFrameColor{64, 64, 64};          // plot-area frame and tick marks
inline constexpr Rgb kGridColor{232, 232, 232};        // grid lines (major)
inline constexpr Rgb kTextColor{38, 38, 38};           // title, labels, tick labels
inline constexpr Rgb kLegendBorderColor{190, 190, 190};

// Minimum image (or grid cell) size accepted by write_png / write_grid_png.
inline constexpr int kMinWidth = 240, kMinHeight = 180;

}  // namespace mhc::plot
