// report_figures.h — the figures of `mhc report`, built from a sweep's
// results and table (report_stats.h) and written as PNGs:
//
//   val_loss[-G].png         validation loss over steps per variant, mean over the finished seeds with a
//                            min..max band; diverged runs drawn on their own; the y range leaves out the
//                            first fifth of the steps so that the curves' tails are readable (one per group G)
//   val_loss_delta[-G].png   validation loss minus the residual run of the same seed, mean with band
//   gain_by_site.png         composite Amax gain by site (log y), at the final evaluation and at each
//                            site's max over training, forward and backward: four panels (mHC Fig. 3, 7)
//   gain_over_steps.png      composite gain (max over sites) over steps, forward and backward (log y)
//   h_res[-G].png            token-mean H_res and composite of the first, middle and last site at the
//                            final evaluation, for the HC and mHC runs of one seed (mHC Fig. 8)
//
// A figure with nothing to show (no residual baseline, no HC/mHC run, no
// metrics) is not written. Variant v has the same colour in every per-group
// chart; the gain charts (all groups in one) give each (variant, group) line
// its own style (the variant's, when there is one group) and mark the
// variant by its marker.
#pragma once
#include <string>
#include <vector>

#include "charts/plot.h"
#include "studies/report_input.h"
#include "studies/report_stats.h"

namespace mhc::report {

struct Figure {
  std::string file;     // the file name in the output folder
  std::string caption;  // a sentence for report.md
};

// The file-name tag of each group ("" for the group ""): its characters
// outside [A-Za-z0-9._-] become '_', and a tag already taken gets "-2", "-3", ...
std::vector<std::string> group_tags(const std::vector<std::string>& groups);

// The first fraction of the steps whose losses do not widen a loss chart's y axis.
inline constexpr double kLossFitSkip = 0.2;

// Figure 1 for one group (exposed for tests).
plot::Chart val_loss_chart(const SweepResults& sweep, const SweepTable& table, const std::string& group);

// Writes every figure with something to show into out_dir; returns them in order.
std::vector<Figure> write_report_figures(const SweepResults& sweep, const SweepTable& table,
                                         const std::string& out_dir);

}  // namespace mhc::report
