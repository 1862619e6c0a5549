// transformer.cpp
#include "layers/transformer.h"

#include <cmath>
#include <stdexcept>

#include "autograd/ops.h"
#include "kernels/sinkhorn_contract.h"
#include "layers/config_checks.h"
#include "layers/dropout_seeds.h"

namespace mhc {

const char* ffn_type_name(FfnType t) { return name_of(kFfnTypeNames, t); }

FfnType parse_ffn_type(const std::string& name) {
  if (const auto t = value_named(kFfnTypeNames, name)) return *t;
  throw std::invalid_argument("ffn must be one of " + canonical_names(kFfnTypeNames) + ", not '" + name + "'");
}

int64_t ModelConfig::resolved_ffn_hidden() const {
  if (ffn_hidden > 0) return ffn_hidden;
  if (ffn == FfnType::Gelu) return 4 * width;
  // swiglu (and the dense blocks of an MoE model): 8C/3, the parameter count of a 4C GELU MLP.
  const int64_t h = (8 * width + 2) / 3;
  return (h + 63) / 64 * 64;
}

void ModelConfig::validate() const {
  auto fail = [](const std::string& m) { throw std::invalid_argument("model config: " + m); };
  try {
    check_ranges();
  } catch (const std::invalid_argument& e) {
    fail(e.what());  // the range checks name the field; prefix them like the rest
  }
  // Cross-field rules. They name the flags that set the fields, since
  // train/settings.cpp leaves these rules to this one place.
  if (width % heads != 0)
    fail(fmt::format("width {} is not divisible by {} heads (--model.width, --model.heads)", width, heads));
  if ((width / heads) % 2 != 0)
    fail(fmt::format("head size C/heads = {} must be even for RoPE (--model.width, --model.heads)", width / heads));
  if (moe.top_k > moe.routed)
    fail(fmt::format("MoE top-k {} must be between 1 and the number of routed experts, {} (--moe.top_k, --moe.routed)",
                     moe.top_k, moe.routed));
  if (dense_layers > blocks)
    fail(fmt::format(
        "{} dense layers must be between 0 and the number of blocks, {} (--moe.dense_layers, --model.blocks)",
        dense_layers, blocks));
  if (site.kind == ResidualKind::Residual && site.streams != 1)
    fail(fmt::format("the plain residual has exactly 1 stream, not {}; use --streams 1, or --residual hc or mhc",
                     site.streams));
  if (site.kind == ResidualKind::MHC && site.streams > kSinkhornMaxN)
    fail(fmt::format("mHC takes at most {} streams (Sinkhorn-Knopp kernels), not {} (--streams)", kSinkhornMaxN,
                     site.streams));
  if (recompute && site.kind != ResidualKind::MHC) fail("selective recompute is for mHC sites (--residual mhc)");
  if (recompute && site.fused == SiteConfig::Fused::Off) fail("selective recompute needs the fused mHC kernels");
}

// One check per field, each against its range in transformer.h (NaN and
// infinities are outside every range).
void ModelConfig::check_ranges() const {
  int_in("vocab_size", vocab_size, kVocabRange);
  int_in("block_size", block_size, kBlockSizeRange);
  int_in("blocks", blocks, kBlocksRange);
  int_in("width", width, kWidthRange);
  int_in("heads", heads, kHeadsRange);
  int_in("ffn_hidden", ffn_hidden, kHiddenRange);
  finite_in("dropout", dropout, kDropoutRange);
  finite_in("attn_dropout", attn_dropout, kDropoutRange);
  finite_in("rope_base", rope_base, kRopeBaseRange);
  finite_in("init_std", init_std, kInitStdRange);
  finite_in("norm_eps", norm_eps, kNormEpsRange);
  int_in("streams", site.streams, kStreamsRange);
  int_in("sinkhorn_iters", site.sinkhorn_iters, kSinkhornItersRange);
  finite_in("alpha_init", site.alpha_init, kSiteInitRange);
  finite_in("phi_init_std", site.phi_init_std, kSiteInitRange);
  finite_in("scale_init", site.scale_init, kSiteInitRange);
  int_in("recompute_group", recompute_group, kRecomputeGroupRange);
  int_in("moe.routed", moe.routed, kRoutedRange);
  int_in("moe.top_k", moe.top_k, kTopKRange);
  int_in("moe.dense_layers", dense_layers, kDenseLayersRange);
  int_in("moe.shared", moe.shared, kSharedRange);
  int_in("moe.hidden", moe.hidden, kHiddenRange);
  finite_in("moe.bias_rate", moe.bias_rate, kBiasRateRange);
  finite_in("moe.aux_loss", moe.aux_loss, kLossWeightRange);
  finite_in("moe.z_loss", moe.z_loss, kLossWeightRange);
}

double ModelConfig::parameter_count() const {
  const double C = static_cast<double>(width), V = static_cast<double>(vocab_size),
               n = static_cast<double>(site.streams);
  auto swiglu = [&](double hidden) { return 3 * C * hidden; };
  double total = V * C + (tie_embeddings ? 0 : C * V) + C;            // embedding, head, final norm
  if (collapse == CollapseMode::Learned) total += n * C * n + 1 + n;  // φ_head, s, b_head
  const double hidden = static_cast<double>(resolved_ffn_hidden());
  const double expert_hidden = moe.hidden > 0 ? static_cast<double>(moe.hidden) : hidden;
  double site_params = 0;  // one residual site
  if (site.kind == ResidualKind::HC) site_params = n + n * n + n + (site.hc_dynamic ? C * (n + 2) + 2 : 0);
  if (site.kind == ResidualKind::MHC) site_params = n * C * (2 * n + n * n) + 3 + 2 * n + n * n;
  for (int64_t l = 0; l < blocks; ++l) {
    total += 2 * C + 4 * C * C + 2 * site_params;  // two norms, attention, two sites
    if (ffn == FfnType::Moe && l >= dense_layers)
      total +=
          C * static_cast<double>(moe.routed) + static_cast<double>(moe.routed + moe.shared) * swiglu(expert_hidden);
    else
      total += ffn == FfnType::Gelu ? 2 * C * hidden : swiglu(hidden);
  }
  return total;
}

Block::Block(const ModelConfig& c, int64_t index, Rng& rng)
    : attn_norm(c.width, c.norm_eps),
      ffn_norm(c.width, c.norm_eps),
      attn(c.width, c.heads, c.block_size, c.rope_base, c.attn_dropout, c.dropout, c.init_std,
           c.init_std / std::sqrt(2.0 * static_cast<double>(c.blocks)), rng) {
  const double out_std = c.init_std / std::sqrt(2.0 * static_cast<double>(c.blocks));
  register_child("attn_norm", &attn_norm);
  register_child("attn", &attn);
  register_child("ffn_norm", &ffn_norm);
  if (c.ffn == FfnType::Moe && index >= c.dense_layers) {
    MoeConfig mc = c.moe;
    if (mc.hidden < 1) mc.hidden = c.resolved_ffn_hidden();
    moe = std::make_unique<MoeFeedForward>(c.width, mc, c.dropout, c.init_std, out_std, rng);
    register_child("moe", moe.get());
  } else {
    const FfnType kind = c.ffn == FfnType::Gelu ? FfnType::Gelu : FfnType::SwiGLU;
    ffn = std::make_unique<FeedForward>(c.width, c.resolved_ffn_hidden(), kind, c.dropout, c.init_std, out_std, rng);
    register_child("ffn", ffn.get());
  }
  SiteConfig sc = c.site;
  sc.width = c.width;
  sc.norm_eps = c.norm_eps;
  attn_site = make_site(sc, 2 * index, rng);
  ffn_site = make_site(sc, 2 * index + 1, rng);
  register_child("attn_site", attn_site.get());
  register_child("ffn_site", ffn_site.get());
}

Tensor Block::forward(const Tensor& h) {
  Tensor x = attn_site->forward(h, [&](const Tensor& in) { return attn.forward(attn_norm.forward(in)); });
  return ffn_site->forward(x, [&](const Tensor& in) {
    Tensor z = ffn_norm.forward(in);
    return moe ? moe->forward(z) : ffn->forward(z);
  });
}

Transformer::Transformer(const ModelConfig& config, uint64_t seed)
    : final_norm(config.width, config.norm_eps), cfg_(config) {
  cfg_.validate();
  Rng rng(seed);
  wte = Tensor::randn({cfg_.vocab_size, cfg_.width}, rng, cfg_.init_std);
  register_parameter("wte", &wte);
  for (int64_t l = 0; l < cfg_.blocks; ++l) {
    blocks.push_back(std::make_unique<Block>(cfg_, l, rng));
    register_child("blocks." + std::to_string(l), blocks.back().get());
  }
  collapse = std::make_unique<StreamCollapse>(cfg_.site.streams, cfg_.width, cfg_.collapse, cfg_.norm_eps);
  register_child("collapse", collapse.get());
  register_child("final_norm", &final_norm);
  if (!cfg_.tie_embeddings) {
    head = std::make_unique<Linear>(cfg_.width, cfg_.vocab_size, false, cfg_.init_std, rng);
    register_child("head", head.get());
  }
  if (cfg_.recompute) {
    const int64_t sites = 2 * cfg_.blocks;
    recompute_ = std::make_unique<RecomputePlan>(cfg_.recompute_group > 0
                                                     ? static_cast<int>(cfg_.recompute_group)
                                                     : RecomputePlan::best_group_size(cfg_.site.streams, sites));
    for (ResidualSite* s : this->sites()) s->set_recompute(recompute_.get());
  }
}

Tensor Transformer::forward(const Tensor& tokens) {
  if (tokens.dim() != 2) throw std::invalid_argument("model: expects (B, T) token ids, got " + tokens.shape().str());
  const DType dt = compute_dtype_;
  Tensor x = embedding(wte, tokens).to(dt);  // (B, T, C)
  if (training() && cfg_.dropout > 0) x = dropout(x, cfg_.dropout, DropoutSeeds::next());
  Tensor h = expand_streams(x, cfg_.site.streams);  // (B, T, n, C)
  if (recompute_) recompute_->begin_forward();
  for (auto& block : blocks) h = block->forward(h);
  if (recompute_) recompute_->end_forward();
  x = final_norm.forward(collapse->forward(h));  // (B, T, C)
  return head ? head->forward(x) : matmul(x, wte.to(dt).transpose(0, 1));
}

Tensor Transformer::lm_loss(const Tensor& logits, const Tensor& targets) {
  const DType lt = logits.dtype() == DType::f64 ? DType::f64 : DType::f32;
  return cross_entropy(logits.to(lt), targets);
}

Tensor Transformer::loss(const Tensor& tokens, const Tensor& targets) {
  Tensor l = lm_loss(forward(tokens), targets);
  if (!training()) return l;  // evaluation reports the language-model loss alone
  for (MoeFeedForward* m : moe_layers())
    if (m->aux_loss().defined()) l = l + m->aux_loss().to(l.dtype());
  return l;
}

std::vector<ResidualSite*> Transformer::sites() const {
  std::vector<ResidualSite*> out;
  for (const auto& b : blocks) {
    out.push_back(b->attn_site.get());
    out.push_back(b->ffn_site.get());
  }
  return out;
}

std::vector<MoeFeedForward*> Transformer::moe_layers() const {
  std::vector<MoeFeedForward*> out;
  for (const auto& b : blocks)
    if (b->moe) out.push_back(b->moe.get());
  return out;
}

void Transformer::record_h_res(bool on) {
  for (ResidualSite* s : sites()) s->record_h_res(on);
}

}  // namespace mhc
