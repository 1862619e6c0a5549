// config.cpp — presets, validation and JSON for TrainConfig.
#include "train/config.h"

#include <fmt/format.h>

#include <stdexcept>

#include "kernels/sinkhorn_contract.h"
#include "layers/config_checks.h"

namespace mhc {

namespace {

ModelConfig char_model(int64_t layers, int64_t width, int64_t heads, int64_t block, double dropout) {
  ModelConfig m;
  m.layers = layers;
  m.width = width;
  m.heads = heads;
  m.block_size = block;
  m.ffn = "gelu";
  m.dropout = dropout;
  return m;
}

[[noreturn]] void bad(const std::string& flag, const std::string& what) {
  throw std::invalid_argument(flag + ": " + what);
}

}  // namespace

SiteConfig::Fused parse_fused_mode(const std::string& name) {
  if (name == "auto") return SiteConfig::Fused::Auto;
  if (name == "on" || name == "true") return SiteConfig::Fused::On;
  if (name == "off" || name == "false") return SiteConfig::Fused::Off;
  throw std::invalid_argument("--hc.fused: expected auto, on or off, not '" + name + "'");
}

std::vector<std::string> preset_names() { return {"cpu-char", "shakespeare-char", "tiny-moe", "moe-1280"}; }

TrainConfig preset(const std::string& name) {
  TrainConfig c;
  c.preset = name;
  if (name == "cpu-char") {
    // nanoGPT's CPU run of the Shakespeare character model.
    c.model = char_model(4, 128, 4, 64, 0.0);
    c.optim.batch_size = 12;
    c.optim.steps = 2000;
    c.eval.every = 250;
  } else if (name == "shakespeare-char") {
    // nanoGPT's train_shakespeare_char: the yardstick (val loss ≤ 1.47),
    // dropout 0.2 on the residual branches and the attention probabilities.
    c.model = char_model(6, 384, 6, 256, 0.2);
    c.model.attn_dropout = 0.2;
    c.optim.batch_size = 64;
    // nanoGPT runs 5000 steps; this model (RoPE, RMSNorm) reaches its best
    // validation loss sooner and overfits after, so the schedule ends at 2000.
    c.optim.steps = 2000;
    c.eval.every = 250;
    c.eval.batches = 20;
  } else if (name == "tiny-moe") {
    c.model = char_model(4, 128, 4, 64, 0.0);
    c.model.ffn = "moe";
    c.model.moe.routed = 8;
    c.model.moe.top_k = 2;
    c.model.moe.shared = 1;
    c.model.moe.expert_hidden = 128;
    c.optim.batch_size = 12;
    c.optim.steps = 2000;
  } else if (name == "moe-1280") {
    // Paper-like width, for the mHC overhead target.
    c.model = char_model(8, 1280, 16, 1024, 0.0);
    c.model.ffn = "moe";
    c.model.moe.routed = 16;
    c.model.moe.top_k = 2;
    c.model.moe.shared = 1;
    c.model.moe.expert_hidden = 896;
    c.data.tokenizer = "bpe";
    c.data.vocab_size = 4096;
    c.optim.batch_size = 8;
    c.optim.steps = 2000;
    c.optim.lr = 3e-4;
    c.optim.min_lr = 3e-5;
    c.optim.beta2 = 0.95;
    c.optim.warmup = 200;
  } else {
    std::string names;
    for (const auto& n : preset_names()) names += (names.empty() ? "" : ", ") + n;
    throw std::invalid_argument("--preset: unknown preset '" + name + "' (known: " + names + ")");
  }
  return c;
}

std::string TrainConfig::default_run_dir() const {
  std::string dir = "runs/" + preset + "-" + residual_kind_name(model.site.kind);
  if (model.site.kind != ResidualKind::Residual) dir += "-n" + std::to_string(model.site.streams);
  return dir;
}

void TrainConfig::validate() const {
  // Sizes are bounded (ModelConfig::kMax*) so that no product of them can
  // overflow; counts of steps and batches likewise.
  constexpr int64_t kMaxSteps = 1'000'000'000'000, kMaxBatch = 1 << 16;
  const ModelConfig& M = model;
  if (device != "cpu" && device != "cuda") bad("--device", "must be cpu or cuda, not '" + device + "'");
  if (dtype != "f32" && dtype != "bf16") bad("--dtype", "must be f32 or bf16, not '" + dtype + "'");
  if (dtype == "bf16" && device != "cuda") bad("--dtype", "bf16 needs --device cuda (the CPU computes in f32)");
  if (M.site.streams < 1) bad("--streams", "must be at least 1 (got " + std::to_string(M.site.streams) + ")");
  if (M.site.kind == ResidualKind::Residual && M.site.streams != 1)
    bad("--streams", "the plain residual has exactly 1 stream; use --residual hc or mhc for " +
                         std::to_string(M.site.streams));
  if (M.site.kind == ResidualKind::MHC && M.site.streams > kSinkhornMaxN)
    bad("--streams", "mHC takes at most " + std::to_string(kSinkhornMaxN) + " streams (got " +
                         std::to_string(M.site.streams) + ")");
  int_in("--streams", M.site.streams, 1, ModelConfig::kMaxHcStreams);
  int_in("--hc.sinkhorn_iters", M.site.sinkhorn_iters, 1, kSinkhornMaxIters);  // the bound of every device
  finite_in("--hc.alpha_init", M.site.alpha_init, 0, 10);
  finite_in("--hc.phi_init_std", M.site.phi_init_std, 0, 10);
  finite_in("hc.scale_init", M.site.hc_scale_init, 0, 10);  // config.json only
  if (M.recompute && M.site.kind != ResidualKind::MHC) bad("--hc.recompute", "is for mHC (--residual mhc)");
  if (M.recompute && M.site.fused == SiteConfig::Fused::Off)
    bad("--hc.recompute", "needs the fused mHC kernels (not --hc.fused off)");
  if (M.recompute && M.site.fused == SiteConfig::Fused::Auto && device == "cpu")
    bad("--hc.recompute", "needs the fused mHC kernels, which the CPU uses only with --hc.fused on");
  int_in("--hc.recompute_group", M.recompute_group, 0, 2 * ModelConfig::kMaxBlocks);
  int_in("--model.blocks", M.layers, 1, ModelConfig::kMaxBlocks);
  int_in("--model.width", M.width, 2, ModelConfig::kMaxWidth);
  int_in("--model.heads", M.heads, 1, M.width);
  if (M.width % M.heads != 0)
    bad("--model.heads", std::to_string(M.width) + " is not divisible by " + std::to_string(M.heads));
  if ((M.width / M.heads) % 2) bad("--model.heads", "the head size C/heads must be even (RoPE)");
  int_in("--model.block_size", M.block_size, 2, ModelConfig::kMaxBlockSize);
  if (M.ffn != "gelu" && M.ffn != "swiglu" && M.ffn != "moe")
    bad("--model.ffn", "must be gelu, swiglu or moe, not '" + M.ffn + "'");
  int_in("--model.ffn_hidden", M.ffn_hidden, 0, ModelConfig::kMaxHidden);
  finite_in("--model.dropout", M.dropout, 0, 1, Ends::open_above);
  finite_in("--model.attn_dropout", M.attn_dropout, 0, 1, Ends::open_above);
  finite_in("model.rope_base", M.rope_base, 1, 1e12, Ends::open_below);  // config.json only
  finite_in("model.init_std", M.init_std, 0, 10);
  finite_in("model.norm_eps", M.norm_eps, 0, 1, Ends::open_below);
  int_in("--moe.routed", M.moe.routed, 1, ModelConfig::kMaxExperts);
  if (M.moe.top_k < 1 || M.moe.top_k > M.moe.routed)
    bad("--moe.top_k", std::to_string(M.moe.top_k) + " must be between 1 and the " + std::to_string(M.moe.routed) +
                           " routed experts");
  int_in("--moe.shared", M.moe.shared, 0, ModelConfig::kMaxExperts);
  int_in("--moe.hidden", M.moe.expert_hidden, 0, ModelConfig::kMaxHidden);
  int_in("--moe.dense_layers", M.dense_layers, 0, M.layers);
  finite_in("--moe.bias_rate", M.moe.bias_rate, 0, 1);
  finite_in("--moe.aux_loss", M.moe.aux_loss_weight, 0, 100);
  finite_in("--moe.z_loss", M.moe.z_loss_weight, 0, 100);
  int_in("--optim.steps", optim.steps, 1, kMaxSteps);
  int_in("--optim.batch_size", optim.batch_size, 1, kMaxBatch);
  int_in("--optim.grad_accum", optim.grad_accum, 1, kMaxBatch);
  if (!(optim.lr > 0)) bad("--optim.lr", "must be positive (got " + fmt::format("{}", optim.lr) + ")");
  finite_in("--optim.lr", optim.lr, 0, 10, Ends::open_below);
  finite_in("--optim.min_lr", optim.min_lr, 0, optim.lr);
  int_in("--optim.warmup", optim.warmup, 0, kMaxSteps);
  if (optim.schedule != "cosine" && optim.schedule != "step" && optim.schedule != "constant")
    bad("--optim.schedule", "must be cosine, step or constant, not '" + optim.schedule + "'");
  for (double f : optim.step_at) finite_in("optim.step_at", f, 0, 1);  // config.json only
  finite_in("optim.step_factor", optim.step_factor, 0, 10, Ends::open_below);
  finite_in("--optim.weight_decay", optim.weight_decay, 0, 10);
  finite_in("--optim.beta1", optim.beta1, 0, 1, Ends::open_above);
  finite_in("--optim.beta2", optim.beta2, 0, 1, Ends::open_above);
  finite_in("--optim.eps", optim.eps, 0, 1, Ends::open_below);
  finite_in("--optim.grad_clip", optim.grad_clip, 0, 1e9);  // 0 disables clipping
  if (data.tokenizer != "char" && data.tokenizer != "bpe")
    bad("--data.tokenizer", "must be char or bpe, not '" + data.tokenizer + "'");
  if (data.tokenizer == "bpe" && data.vocab_size < 257) bad("--data.vocab_size", "a byte-level BPE needs more than 256");
  int_in("--data.vocab_size", data.vocab_size, 1, ModelConfig::kMaxVocab);
  finite_in("--data.val_fraction", data.val_fraction, 0, 1, Ends::open);
  if (data.split != "tail" && data.split != "chunks") bad("--data.split", "must be tail or chunks, not '" + data.split + "'");
  int_in("--eval.every", eval.every, 1, kMaxSteps);
  int_in("--eval.batches", eval.batches, 1, kMaxBatch);
  int_in("--eval.sample_tokens", eval.sample_tokens, 0, 1 << 24);
  int_in("--log_every", log_every, 1, kMaxSteps);
  int_in("--debug.inject_nan", inject_nan_at, -1, kMaxSteps);
  // Everything else the model itself checks (its vocabulary comes from the tokenizer later).
  ModelConfig m = model;
  if (m.vocab_size < 1) m.vocab_size = 1;
  m.validate();
}

// ---- JSON ------------------------------------------------------------------------

Json to_json(const TrainConfig& c) {
  Json v;
  v["preset"] = c.preset;
  v["seed"] = std::to_string(c.seed);  // a string: seeds may exceed 2^53
  v["device"] = c.device;
  v["dtype"] = c.dtype;
  v["log_every"] = c.log_every;
  const ModelConfig& m = c.model;
  Json& mj = v["model"];
  mj["vocab_size"] = m.vocab_size;
  mj["block_size"] = m.block_size;
  mj["blocks"] = m.layers;
  mj["width"] = m.width;
  mj["heads"] = m.heads;
  mj["ffn"] = m.ffn;
  mj["ffn_hidden"] = m.ffn_hidden;
  mj["dropout"] = m.dropout;
  mj["attn_dropout"] = m.attn_dropout;
  mj["rope_base"] = m.rope_base;
  mj["tie_embeddings"] = m.tie_embeddings;
  mj["init_std"] = m.init_std;
  mj["norm_eps"] = m.norm_eps;
  Json& hc = v["hc"];
  hc["residual"] = residual_kind_name(m.site.kind);
  hc["streams"] = m.site.streams;
  hc["dynamic"] = m.site.hc_dynamic;
  hc["scale_init"] = m.site.hc_scale_init;
  hc["sinkhorn_iters"] = m.site.sinkhorn_iters;
  hc["alpha_init"] = m.site.alpha_init;
  hc["phi_init_std"] = m.site.phi_init_std;
  hc["gate"] = m.site.gate == PrePostGate::Sigmoid ? "sigmoid" : "fixed";
  hc["collapse"] = m.collapse == CollapseMode::Sum ? "sum" : "learned";
  hc["fused"] = m.site.fused == SiteConfig::Fused::Auto ? "auto" : (m.site.fused == SiteConfig::Fused::On ? "on" : "off");
  hc["recompute"] = m.recompute;
  hc["recompute_group"] = m.recompute_group;
  Json& moe = v["moe"];
  moe["routed"] = m.moe.routed;
  moe["top_k"] = m.moe.top_k;
  moe["shared"] = m.moe.shared;
  moe["hidden"] = m.moe.expert_hidden;
  moe["router"] = m.moe.router == RouterKind::Softmax ? "softmax" : "sigmoid";
  moe["balance"] = m.moe.bias_balance;
  moe["bias_rate"] = m.moe.bias_rate;
  moe["aux_loss"] = m.moe.aux_loss_weight;
  moe["z_loss"] = m.moe.z_loss_weight;
  moe["dense_layers"] = m.dense_layers;
  Json& o = v["optim"];
  o["steps"] = c.optim.steps;
  o["batch_size"] = c.optim.batch_size;
  o["grad_accum"] = c.optim.grad_accum;
  o["lr"] = c.optim.lr;
  o["min_lr"] = c.optim.min_lr;
  o["warmup"] = c.optim.warmup;
  o["schedule"] = c.optim.schedule;
  o["step_at"] = c.optim.step_at;
  o["step_factor"] = c.optim.step_factor;
  o["weight_decay"] = c.optim.weight_decay;
  o["beta1"] = c.optim.beta1;
  o["beta2"] = c.optim.beta2;
  o["eps"] = c.optim.eps;
  o["grad_clip"] = c.optim.grad_clip;
  Json& d = v["data"];
  d["data"] = c.data.data;
  d["tokenizer"] = c.data.tokenizer;
  d["vocab_size"] = c.data.vocab_size;
  d["val_fraction"] = c.data.val_fraction;
  d["split"] = c.data.split;
  d["cache_dir"] = c.data.cache_dir;
  Json& e = v["eval"];
  e["every"] = c.eval.every;
  e["batches"] = c.eval.batches;
  e["sample_tokens"] = c.eval.sample_tokens;
  return v;
}

namespace {
template <class T>
void read(const Json& obj, const char* key, T& out) {
  const Json* v = json::find(obj, key);
  if (!v || v->is_null()) return;
  out = v->get<T>();
}
}  // namespace

TrainConfig train_config_from_json(const Json& v) {
  std::string name = "cpu-char";
  read(v, "preset", name);
  TrainConfig c = preset(name);
  if (const Json* s = json::find(v, "seed")) {
    try {
      c.seed = s->is_string() ? std::stoull(s->get<std::string>()) : s->get<uint64_t>();
    } catch (const std::logic_error&) {
      throw std::invalid_argument("config: seed is not a non-negative integer");
    }
  }
  read(v, "device", c.device);
  read(v, "dtype", c.dtype);
  read(v, "log_every", c.log_every);
  if (const Json* mj = json::find(v, "model")) {
    ModelConfig& m = c.model;
    read(*mj, "vocab_size", m.vocab_size);
    read(*mj, "block_size", m.block_size);
    read(*mj, "blocks", m.layers);
    read(*mj, "width", m.width);
    read(*mj, "heads", m.heads);
    read(*mj, "ffn", m.ffn);
    read(*mj, "ffn_hidden", m.ffn_hidden);
    read(*mj, "dropout", m.dropout);
    read(*mj, "attn_dropout", m.attn_dropout);
    read(*mj, "rope_base", m.rope_base);
    read(*mj, "tie_embeddings", m.tie_embeddings);
    read(*mj, "init_std", m.init_std);
    read(*mj, "norm_eps", m.norm_eps);
  }
  if (const Json* hc = json::find(v, "hc")) {
    SiteConfig& s = c.model.site;
    std::string kind = residual_kind_name(s.kind), gate = "sigmoid", collapse = "sum";
    read(*hc, "residual", kind);
    s.kind = parse_residual_kind(kind);
    read(*hc, "streams", s.streams);
    read(*hc, "dynamic", s.hc_dynamic);
    read(*hc, "scale_init", s.hc_scale_init);
    read(*hc, "sinkhorn_iters", s.sinkhorn_iters);
    read(*hc, "alpha_init", s.alpha_init);
    read(*hc, "phi_init_std", s.phi_init_std);
    read(*hc, "gate", gate);
    s.gate = gate == "fixed" ? PrePostGate::Fixed : PrePostGate::Sigmoid;
    read(*hc, "collapse", collapse);
    c.model.collapse = collapse == "learned" ? CollapseMode::Learned : CollapseMode::Sum;
    std::string fused = "auto";
    read(*hc, "fused", fused);
    s.fused = parse_fused_mode(fused);
    read(*hc, "recompute", c.model.recompute);
    read(*hc, "recompute_group", c.model.recompute_group);
  }
  if (const Json* moe = json::find(v, "moe")) {
    MoeConfig& m = c.model.moe;
    std::string router = "softmax";
    read(*moe, "routed", m.routed);
    read(*moe, "top_k", m.top_k);
    read(*moe, "shared", m.shared);
    read(*moe, "hidden", m.expert_hidden);
    read(*moe, "router", router);
    m.router = parse_router_kind(router);
    read(*moe, "balance", m.bias_balance);
    read(*moe, "bias_rate", m.bias_rate);
    read(*moe, "aux_loss", m.aux_loss_weight);
    read(*moe, "z_loss", m.z_loss_weight);
    read(*moe, "dense_layers", c.model.dense_layers);
  }
  if (const Json* o = json::find(v, "optim")) {
    read(*o, "steps", c.optim.steps);
    read(*o, "batch_size", c.optim.batch_size);
    read(*o, "grad_accum", c.optim.grad_accum);
    read(*o, "lr", c.optim.lr);
    read(*o, "min_lr", c.optim.min_lr);
    read(*o, "warmup", c.optim.warmup);
    read(*o, "schedule", c.optim.schedule);
    if (const Json* at = json::find(*o, "step_at")) {
      c.optim.step_at = at->get<std::vector<double>>();
    }
    read(*o, "step_factor", c.optim.step_factor);
    read(*o, "weight_decay", c.optim.weight_decay);
    read(*o, "beta1", c.optim.beta1);
    read(*o, "beta2", c.optim.beta2);
    read(*o, "eps", c.optim.eps);
    read(*o, "grad_clip", c.optim.grad_clip);
  }
  if (const Json* d = json::find(v, "data")) {
    read(*d, "data", c.data.data);
    read(*d, "tokenizer", c.data.tokenizer);
    read(*d, "vocab_size", c.data.vocab_size);
    read(*d, "val_fraction", c.data.val_fraction);
    read(*d, "split", c.data.split);
    read(*d, "cache_dir", c.data.cache_dir);
  }
  if (const Json* e = json::find(v, "eval")) {
    read(*e, "every", c.eval.every);
    read(*e, "batches", c.eval.batches);
    read(*e, "sample_tokens", c.eval.sample_tokens);
  }
  return c;
}

std::string describe(const TrainConfig& c, int64_t parameter_count, const std::string& data_path) {
  const ModelConfig& m = c.model;
  // What --hc.fused auto means here: the CUDA backend prefers the fused kernels, the CPU the composed ops.
  const std::string fused = m.site.fused == SiteConfig::Fused::On    ? "on"
                            : m.site.fused == SiteConfig::Fused::Off ? "off"
                            : c.device == "cuda"                      ? "auto (on: CUDA)"
                                                                      : "auto (off: the CPU runs the composed ops)";
  std::string data = c.data.data.empty() ? std::string("Tiny Shakespeare") : c.data.data;
  if (!data_path.empty() && data_path != c.data.data) data += " (" + data_path + ")";
  std::vector<std::pair<std::string, std::string>> rows = {
      {"preset", c.preset},
      {"run directory", c.run_dir},
      {"device / dtype", c.device + " / " + c.dtype},
      {"data", data + fmt::format(", {} split, {}% validation", c.data.split, 100 * c.data.val_fraction)},
      {"tokenizer", c.data.tokenizer + (c.data.tokenizer == "bpe" ? fmt::format(" ({} tokens)", c.data.vocab_size) : "") +
                        fmt::format(", vocab {}", m.vocab_size)},
      {"residual", residual_kind_name(m.site.kind) +
                       (m.site.kind == ResidualKind::Residual ? "" : fmt::format(", {} streams", m.site.streams)) +
                       (m.site.kind == ResidualKind::MHC ? fmt::format(", Sinkhorn t_max {}, fused {}{}", m.site.sinkhorn_iters,
                                                                       fused, m.recompute ? ", recompute" : "") : "") +
                       (m.site.kind == ResidualKind::HC ? (m.site.hc_dynamic ? ", dynamic" : ", static") : "")},
      {"model", fmt::format("{} blocks, C {}, {} heads, block size {}", m.layers, m.width, m.heads, m.block_size)},
      {"feed-forward",
       m.ffn == "moe" ? fmt::format("MoE: {} routed top-{} + {} shared, hidden {}, {} router, {}", m.moe.routed, m.moe.top_k,
                                    m.moe.shared, m.moe.expert_hidden > 0 ? m.moe.expert_hidden : m.resolved_ffn_hidden(),
                                    m.moe.router == RouterKind::Softmax ? "softmax" : "sigmoid",
                                    m.moe.bias_balance ? fmt::format("bias balancing γ={}", m.moe.bias_rate) : "no balancing")
                      : fmt::format("{} {}", m.ffn, m.resolved_ffn_hidden())},
      {"parameters", fmt::format("{:.3f} M", static_cast<double>(parameter_count) / 1e6)},
      {"dropout", fmt::format("{}", m.dropout)},
      {"steps", fmt::format("{} × batch {} × grad accum {} × {} tokens", c.optim.steps, c.optim.batch_size,
                            c.optim.grad_accum, m.block_size)},
      {"optimizer", fmt::format("AdamW β=({}, {}), eps {}, weight decay {} (matrices), clip {}", c.optim.beta1,
                                c.optim.beta2, c.optim.eps, c.optim.weight_decay, c.optim.grad_clip)},
      {"learning rate", fmt::format("{} → {}, {} schedule, warmup {}", c.optim.lr, c.optim.min_lr, c.optim.schedule,
                                    c.optim.warmup)},
      {"evaluation", fmt::format("every {} steps, {} batches", c.eval.every, c.eval.batches)},
      {"seed", fmt::format("{}", c.seed)},
  };
  size_t w = 0;
  for (const auto& r : rows) w = std::max(w, r.first.size());
  std::string out;
  for (const auto& r : rows) out += fmt::format("  {:<{}}  {}\n", r.first, w, r.second);
  return out;
}

}  // namespace mhc
