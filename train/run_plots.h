// run_plots.h — the charts `mhc plot RUN...` (and the end of `mhc train`)
// writes, several runs overlaid so residual, HC and mHC compare in one
// picture: training and validation loss, gradient norm, the largest
// composite Amax gain over training, and the per-site composite gain at the
// last evaluation (mHC Fig. 3 and 7).
//
// Training loss and gradient norm are drawn twice: an exponential moving
// average (weight 0.9 on the previous value) and, light and underneath, the
// raw value of every step, so that a spike (a loss of 2254 at step 2) stays
// visible at its height; both charts' titles say so.
//
// Run r (its position in the list) has style r in every chart: one colour
// and one dash pattern. What a line shows within a run is told by markers:
// training loss has none, validation loss circles; backward gains triangles,
// forward gains circles (drawn on top: where the two coincide, the triangle's
// corners show around the circle). Gain charts always cover gain 1 (no
// amplification).
#pragma once
#include <string>
#include <vector>

#include "train/metrics.h"
#include "charts/plot.h"

namespace mhc {

// The five charts, in order: loss, grad_norm, amax_gain, amax_by_site,
// stream_diversity (mean over sites per evaluation: 0 when the streams are
// identical, as a residual's single stream always is).
std::vector<plot::Chart> run_charts(const std::vector<RunMetrics>& runs);

// Writes loss.png, grad_norm.png, amax_gain.png, amax_by_site.png,
// stream_diversity.png and summary.png (all five panels) into out_dir;
// returns the paths written.
std::vector<std::string> write_run_plots(const std::vector<std::string>& run_dirs, const std::string& out_dir);

// The files write_run_plots writes, summary.png last.
const std::vector<std::string>& run_plot_files();

// Whether out_dir lacks any of the files write_run_plots writes (a run killed
// between its last checkpoint and its plots).
bool run_plots_missing(const std::string& out_dir);

}  // namespace mhc
