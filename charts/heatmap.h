// heatmap.h — PNG heat maps of small matrices, such as the token-mean H_res
// of a few sites (mHC Fig. 8): each matrix drawn as coloured cells with its
// values written in them, several matrices side by side in rows, and one
// colour scale per row (the maps of a row are comparable; rows need not be).
//
//   plot::HeatmapFigure fig{"H_res, mHC", "rows: output streams, columns: input streams", {}};
//   fig.rows.push_back({"single H_res", {{"site 0", h0}, {"site 7", h7}}});
//   plot::write_heatmaps_png(fig, "out/h_res.png");
//
// Colours: a diverging scale centred on 0 (ColorBrewer's RdBu ramps): white
// at 0, blue for positive values, red for negative ones, darkest at the
// largest magnitude in the row. The row's colour bar spans [min(0, lo),
// max(0, hi)] of its values and is labelled at its ends (and at 0 when 0 is
// inside). Cell values are written with 3 significant digits, in white on dark
// cells; a non-finite value gets a grey cell reading "nan" / "inf".
// Text is ASCII (other characters are drawn as '?'), as in plot.h.
// Output is deterministic: the same figure gives the same bytes.
#pragma once
#include <string>
#include <vector>

#include "charts/plot.h"

namespace mhc::plot {

struct Heatmap {
  std::string title;                      // above the matrix, e.g. "site 0"
  std::vector<std::vector<double>> rows;  // the matrix; every row the same length (empty: "no data")
};

// Maps side by side that share one colour scale, under a label line.
struct HeatmapRow {
  std::string label;
  std::vector<Heatmap> maps;
};

struct HeatmapFigure {
  std::string title, note;  // the note: grey lines under the title ('\n' between them; may be empty)
  std::vector<HeatmapRow> rows;
};

// Value at which the colour scale of `values` is darkest: the largest finite
// magnitude, or 1 when there is none (all zero or non-finite).
double heatmap_scale(const std::vector<double>& values);
// Colour of value v on a scale darkest at ±scale (clamped beyond it).
Rgb heatmap_color(double v, double scale);
// A cell's text: 3 significant digits ("0.251", "1", "-12.3", "1.2e3").
std::string heatmap_label(double v);

// Renders the figure (its size follows from the matrices) and writes it as an
// RGB PNG via path + ".tmp" and a rename. Throws std::invalid_argument for a
// figure without rows or maps, or a matrix whose rows differ in length
// (naming the map), and std::runtime_error when the file cannot be written.
void write_heatmaps_png(const HeatmapFigure& figure, const std::string& path);

}  // namespace mhc::plot
