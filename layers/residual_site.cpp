// residual_site.cpp — the variant switch and helpers shared by the sites.
#include "layers/residual_site.h"

#include <stdexcept>

#include "autograd/ops.h"
#include "autograd/tape.h"
#include "layers/hyper_connection.h"
#include "layers/manifold_hyper_connection.h"
#include "layers/residual.h"

namespace mhc {

ResidualKind parse_residual_kind(const std::string& name) {
  if (const auto kind = value_named(kResidualKindNames, name)) return *kind;
  throw std::invalid_argument("unknown residual variant '" + name + "' (expected " +
                              canonical_names(kResidualKindNames) + ")");
}

std::string residual_kind_name(ResidualKind kind) { return name_of(kResidualKindNames, kind); }

void ResidualSite::keep_h_res(const Tensor& h_res) {
  if (!recording_) return;
  NoGradGuard no_grad;
  last_h_res_ = h_res.detach().to(DType::f32);
}

void ResidualSite::keep_stream_diversity(const Tensor& x) {
  if (!recording_) return;
  NoGradGuard no_grad;
  Tensor xc = x.detach().to(DType::f32);                          // (B, T, n, C)
  Tensor spread = sum(square(xc - mean(xc, {2}, true)), {2, 3});  // Σ_i ‖x_i − x̄‖²   (B, T)
  Tensor norm = sum(square(xc), {2, 3});                          // Σ_i ‖x_i‖²         (B, T)
  last_diversity_ = mean(spread / (norm + 1e-30)).item();
}

std::unique_ptr<ResidualSite> make_site(const SiteConfig& config, int64_t site_index, Rng& rng) {
  if (config.streams < 1) throw std::invalid_argument("a residual site needs at least 1 stream");
  if (config.width < 1) throw std::invalid_argument("a residual site needs a positive width C");
  switch (config.kind) {
    case ResidualKind::Residual:
      if (config.streams != 1)
        throw std::invalid_argument("the plain residual has exactly 1 stream (got " + std::to_string(config.streams) +
                                    ")");
      return std::make_unique<Residual>();
    case ResidualKind::HC: return std::make_unique<HyperConnection>(config, site_index, rng);
    case ResidualKind::MHC: return std::make_unique<ManifoldHyperConnection>(config, rng);
  }
  return nullptr;
}

Tensor mix_streams(const Tensor& H, const Tensor& x) { return matmul(H, x); }

}  // namespace mhc
