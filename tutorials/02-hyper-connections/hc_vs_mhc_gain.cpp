// hc_vs_mhc_gain.cpp — tutorial 02: why unconstrained Hyper-Connections can
// explode and mHC does not. Stacks L sites of each kind with randomly
// perturbed parameters (as if partly trained), runs random stream states
// through them while recording every site's per-token H_res, and prints the
// composite forward gain from the first site to the output (mHC §3, Fig. 3).
#include <fmt/core.h>

#include <cmath>
#include <stdexcept>

#include "autograd/ops.h"
#include "autograd/tape.h"
#include "layers/amax_gain.h"
#include "layers/hyper_connection.h"
#include "layers/manifold_hyper_connection.h"

using namespace mhc;

namespace {

const int64_t kStreams = 4, kWidth = 32;

// Runs `depth` sites over random streams; returns the composite gains of site 0.
SiteGain stack_gain(ResidualKind kind, int depth, Rng& rng) {
  SiteConfig c;
  c.kind = kind;
  c.streams = kStreams;
  c.width = kWidth;
  NoGradGuard no_grad;
  Tensor x = Tensor::randn({2, 8, kStreams, kWidth}, rng);
  auto F = [](const Tensor& h) { return tanh(h) * 0.1; };  // a small stand-in sub-block
  std::vector<Tensor> h_res;
  for (int l = 0; l < depth; ++l) {
    auto site = make_site(c, l, rng);
    // Perturb the parameters by hand, away from init (a constructed case,
    // not a trained one). For HC: |N(0, 0.08²)| mixing added to A_r = I, so
    // each stream passes on more than it had: a per-site gain of about 1.36.
    if (auto* hc = dynamic_cast<HyperConnection*>(site.get())) {
      hc->A_r = hc->A_r + abs(Tensor::randn({kStreams, kStreams}, rng, 0.08));
      hc->W = Tensor::randn(hc->W.shape(), rng, 0.3);
    } else if (auto* m = dynamic_cast<ManifoldHyperConnection*>(site.get())) {
      m->b_res = Tensor::randn({kStreams, kStreams}, rng, 1.0);
      m->phi = Tensor::randn(m->phi.shape(), rng, 0.3);
      m->alpha_res = Tensor::full({1}, 1.0);
    }
    site->record_h_res(true);
    x = site->forward(x, F);
    h_res.push_back(site->last_h_res());
  }
  return amax_gain(h_res)[0];
}

}  // namespace

int main() {
  Rng rng(2024);
  fmt::print("Composite gain of H_res from the first site to the output (n = {} streams),\n", kStreams);
  fmt::print("max |row sum| (forward) and max |column sum| (backward), per token then averaged.\n\n");
  fmt::print("{:>6} | {:>14} {:>14} | {:>14} {:>14}\n", "depth", "HC forward", "HC backward", "mHC forward",
             "mHC backward");
  fmt::print("{:-<6}-+-{:-<29}-+-{:-<29}\n", "", "", "");
  double hc_first = 0, hc_last = 0, mhc_fwd = 0, mhc_bwd = 0;
  for (int depth : {1, 4, 8, 16, 32, 64}) {
    const SiteGain hc = stack_gain(ResidualKind::HC, depth, rng);
    const SiteGain m = stack_gain(ResidualKind::MHC, depth, rng);
    fmt::print("{:>6} | {:>14.4g} {:>14.4g} | {:>14.6f} {:>14.6f}\n", depth, hc.composite_forward,
               hc.composite_backward, m.composite_forward, m.composite_backward);
    if (depth == 1) hc_first = hc.composite_forward;
    hc_last = hc.composite_forward;
    mhc_fwd = std::max(mhc_fwd, m.composite_forward);
    mhc_bwd = std::max(mhc_bwd, m.composite_backward);
  }
  fmt::print(
      "\nHC, perturbed by hand: a per-site gain of about 1.36 (depth 1) compounds\n"
      "geometrically with depth.\n"
      "mHC: every H_res has rows summing to exactly 1 (rows are normalised last),\n"
      "so the forward gain of any product is 1; columns are within the Sinkhorn\n"
      "tolerance of 1 after t_max = 20, so the backward gain stays close to 1.\n");
  // The tutorial's claim, checked (ctest runs this program).
  // The printed "about 1.36" is the depth-1 gain; the check keeps the text honest.
  if (!(std::abs(hc_first - 1.36) < 0.01 && hc_last > 100.0 && mhc_fwd < 1.0 + 1e-5 && mhc_bwd < 1.05)) {
    fmt::print(stderr,
               "tutorial check failed: expected an HC gain of 1.36 at depth 1 and > 100 at depth 64, "
               "mHC forward ≈ 1 and backward < 1.05\n");
    return 1;
  }
  return 0;
}
