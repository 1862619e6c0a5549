// transformer.h — the language model. One definition for every residual
// variant and both devices:
//
//   x  = Embedding(tokens)                        (B, T, C)
//   h  = expand_streams(x, n)                     (B, T, n, C)  once
//   per block:  h = site_attn(h, Attention ∘ RMSNorm)
//               h = site_ffn (h, FFN ∘ RMSNorm)   (dense, or MoE after the leading dense blocks)
//   x  = collapse(h)                              (B, T, C)     once
//   logits = RMSNorm(x) W_head                    (B, T, V)
//
// The residual variant is one field of the config (SiteConfig::kind).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "kernels/sinkhorn_contract.h"
#include "layers/attention.h"
#include "layers/config_checks.h"
#include "layers/feedforward.h"
#include "layers/moe.h"
#include "layers/recompute.h"
#include "layers/residual_site.h"
#include "layers/rms_norm.h"
#include "layers/streams.h"

namespace mhc {

// FfnType (layers/feedforward.h): --model.ffn gelu | swiglu | moe.
const char* ffn_type_name(FfnType t);             // "gelu" | "swiglu" | "moe"
FfnType parse_ffn_type(const std::string& name);  // throws std::invalid_argument naming the choices

struct ModelConfig {
  int64_t vocab_size = 0;
  int64_t block_size = 64;  // longest sequence (RoPE tables)
  int64_t blocks = 4;       // transformer blocks (2 sites each)
  int64_t width = 128;      // C
  int64_t heads = 4;
  FfnType ffn = FfnType::Gelu;
  int64_t ffn_hidden = 0;    // 0: 4C for gelu, 8C/3 rounded up to 64 for swiglu (and MoE's dense blocks)
  int64_t dense_layers = 0;  // leading blocks with a dense SwiGLU FFN when ffn = moe
  MoeConfig moe;
  double dropout = 0.0;       // embedding, residual-branch and FFN dropout
  double attn_dropout = 0.0;  // on attention probabilities (composed attention path)
  double rope_base = 10000.0;
  bool tie_embeddings = false;
  double init_std = 0.02;
  SiteConfig site;              // kind, streams, and the HC / mHC options (width is filled in)
  bool recompute = false;       // mHC: selective recompute of the stream states (fused kernels)
  int64_t recompute_group = 0;  // L_r; 0: √(nL / (n + 2)) for L sites
  CollapseMode collapse = CollapseMode::Sum;
  double norm_eps = 1e-6;

  // Upper bounds on the sizes. They are far above what fits in memory and
  // keep every product of sizes (parameters, the stream state B·T·n·C, the
  // logits B·T·V, with B and T bounded by the trainer) well inside int64.
  static constexpr int64_t kMaxBlocks = 1024, kMaxWidth = 1 << 16, kMaxBlockSize = 1 << 20, kMaxHidden = 1 << 20,
                           kMaxExperts = 1024, kMaxVocab = 1 << 21, kMaxHcStreams = 64;
  // Every field's accepted range, in one place: validate() checks them, and
  // the settings registry (train/settings.cpp) bounds each flag with them.
  // Cross-field rules (heads divide width, top-k ≤ routed, ...) live only in validate().
  static constexpr IntRange kBlocksRange{1, kMaxBlocks}, kWidthRange{2, kMaxWidth}, kHeadsRange{1, kMaxWidth},
      kBlockSizeRange{1, kMaxBlockSize}, kHiddenRange{0, kMaxHidden}, kVocabRange{1, kMaxVocab},
      kRoutedRange{1, kMaxExperts}, kTopKRange{1, kMaxExperts}, kSharedRange{0, kMaxExperts},
      kDenseLayersRange{0, kMaxBlocks}, kStreamsRange{1, kMaxHcStreams}, kSinkhornItersRange{1, kSinkhornMaxIters},
      kRecomputeGroupRange{0, 2 * kMaxBlocks};
  static constexpr RealRange kDropoutRange{0, 1, Ends::open_above}, kRopeBaseRange{1, 1e12, Ends::open_below},
      kInitStdRange{0, 10}, kNormEpsRange{0, 1, Ends::open_below},
      kSiteInitRange{0, 10},  // mHC's α and φ std, HC's s_α = s_β
      kBiasRateRange{0, 1}, kLossWeightRange{0, 100};

  int64_t resolved_ffn_hidden() const;
  // Throws std::invalid_argument naming the bad field and its accepted range
  // (NaN and infinities are outside every range).
  void validate() const;
  void check_ranges() const;  // validate()'s first half: each field in its range
  // The number of parameters a Transformer of this config has (what
  // Module::parameter_count() will say), computed without building it; a
  // double, so that it cannot overflow for any config.
  double parameter_count() const;
};

class Block : public Module {
 public:
  Block(const ModelConfig& config, int64_t index, Rng& rng);
  Tensor forward(const Tensor& h);  // (B, T, n, C) -> (B, T, n, C)

  RMSNorm attn_norm, ffn_norm;
  CausalSelfAttention attn;
  std::unique_ptr<FeedForward> ffn;     // dense
  std::unique_ptr<MoeFeedForward> moe;  // or MoE
  std::unique_ptr<ResidualSite> attn_site, ffn_site;
};

class Transformer : public Module {
 public:
  explicit Transformer(const ModelConfig& config, uint64_t seed);
  const ModelConfig& config() const { return cfg_; }

  Tensor forward(const Tensor& tokens);  // (B, T) i32 -> logits (B, T, V) in the compute dtype
  // Mean cross-entropy of the next-token targets (B, T), in f32; in training
  // mode plus any MoE auxiliary losses (evaluation reports cross-entropy alone).
  Tensor loss(const Tensor& tokens, const Tensor& targets);
  // Cross-entropy alone (for evaluation), from logits already computed.
  static Tensor lm_loss(const Tensor& logits, const Tensor& targets);

  // Activations (and matrix inputs) in this dtype; parameters stay f32.
  void set_compute_dtype(DType dt) { compute_dtype_ = dt; }
  DType compute_dtype() const { return compute_dtype_; }

  std::vector<ResidualSite*> sites() const;  // 2 per block, in order
  std::vector<MoeFeedForward*> moe_layers() const;
  void record_h_res(bool on);  // for amax_gain

  Tensor wte;  // (V, C) token embedding
  std::vector<std::unique_ptr<Block>> blocks;
  std::unique_ptr<StreamCollapse> collapse;
  RMSNorm final_norm;
  std::unique_ptr<Linear> head;  // (C, V), unless tied

 private:
  ModelConfig cfg_;
  DType compute_dtype_ = DType::f32;
  std::unique_ptr<RecomputePlan> recompute_;
};

}  // namespace mhc
