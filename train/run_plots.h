// run_plots.h — the charts `mhc plot RUN...` (and the end of `mhc train`)
// writes, several runs overlaid so residual, HC and mHC compare in one
// picture: training and validation loss, gradient norm, the largest
// composite Amax gain over training, and the per-site composite gain at the
// last evaluation (mHC Fig. 3 and 7).
#pragma once
#include <string>
#include <vector>

namespace mhc {

// Writes loss.png, grad_norm.png, amax_gain.png, amax_by_site.png and
// summary.png (all four panels) into out_dir; returns the paths written.
std::vector<std::string> write_run_plots(const std::vector<std::string>& run_dirs, const std::string& out_dir);

}  // namespace mhc
