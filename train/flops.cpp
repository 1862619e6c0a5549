// flops.cpp — see flops.h.
#include "train/flops.h"

namespace mhc {

double training_flops_per_token(const ModelConfig& c) {
  const double C = static_cast<double>(c.width), V = static_cast<double>(c.vocab_size);
  const double T = static_cast<double>(c.block_size), n = static_cast<double>(c.site.streams);
  const double hidden = static_cast<double>(c.resolved_ffn_hidden());
  const double expert_hidden = c.moe.hidden > 0 ? static_cast<double>(c.moe.hidden) : hidden;
  double site = 0;  // one residual site
  if (c.site.kind == ResidualKind::MHC) site = n * C * (n * n + 2 * n) + (n * n + 2 * n) * C;
  if (c.site.kind == ResidualKind::HC) site = (c.site.hc_dynamic ? n * C * (n + 2) : 0) + (n * n + 2 * n) * C;
  double macs = C * V;
  if (c.site.kind != ResidualKind::Residual && c.collapse == CollapseMode::Learned) macs += n * C * n;
  for (int64_t l = 0; l < c.blocks; ++l) {
    macs += 4 * C * C + T * C + 2 * site;
    if (c.ffn == FfnType::Moe && l >= c.dense_layers)
      macs += C * static_cast<double>(c.moe.routed) +
              static_cast<double>(c.moe.top_k + c.moe.shared) * 3 * C * expert_hidden;
    else
      macs += c.ffn == FfnType::Gelu ? 2 * C * hidden : 3 * C * hidden;
  }
  return 6 * macs;
}

}  // namespace mhc
