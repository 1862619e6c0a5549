// train_flags.cpp — see train_flags.h.
#include "train/train_flags.h"

#include <algorithm>
#include <stdexcept>

namespace mhc {

const CLI::Validator kSeedCheck(
    [](std::string& s) {
      const bool digits = !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
      return digits ? std::string() : "must be a non-negative integer below 2^64, not '" + s + "'";
    },
    "UINT");

TrainFlags::TrainFlags(TrainConfig base, bool from_run)
    : config(std::move(base)),
      config_from_run(from_run),
      residual(residual_kind_name(config.model.site.kind)),
      gate(config.model.site.gate == PrePostGate::Fixed ? "fixed" : "sigmoid"),
      collapse(config.model.collapse == CollapseMode::Learned ? "learned" : "sum"),
      fused(config.model.site.fused == SiteConfig::Fused::Auto ? "auto"
            : config.model.site.fused == SiteConfig::Fused::On ? "on"
                                                                : "off"),
      router(config.model.moe.router == RouterKind::Sigmoid ? "sigmoid" : "softmax"),
      streams(config.model.site.streams) {}

void TrainFlags::bind(CLI::App& cmd) {
  TrainConfig& c = config;
  cmd.add_option("--preset", c.preset, "starting configuration: cpu-char, shakespeare-char, tiny-moe, moe-1280")
      ->capture_default_str();
  cmd.add_option("--residual", residual, "residual variant: residual | hc | mhc")
      ->check(CLI::IsMember({"residual", "hc", "mhc"}))
      ->capture_default_str();
  streams_option = cmd.add_option("--streams", streams, "residual streams n (default: 1 for residual, 4 for hc / mhc)");
  cmd.add_option("--data", c.data.data,
                 "text file to train on, or synthetic:addition | synthetic:grammar "
                 "(default: tinyshakespeare.txt from $MHC_DATA_DIR or ../shared/data)");
  cmd.add_option("--device", c.device, "cpu | cuda")->capture_default_str();
  cmd.add_option("--dtype", c.dtype, "f32 | bf16 (bf16: CUDA mixed precision)")->capture_default_str();
  cmd.add_option("--seed", c.seed, "seed for init, data order and dropout")->check(kSeedCheck)->capture_default_str();
  cmd.add_option("--run", c.run_dir, "run directory (default: runs/<preset>-<residual>[-n<streams>])");
  cmd.add_flag("--resume", run.resume, "continue the run in --run from its checkpoint");
  cmd.add_flag("--overwrite", run.overwrite, "replace an existing run directory");
  cmd.add_flag("--override", run.override_config,
               "with --resume: continue even where settings differ from the checkpoint's (listed as a warning)");
  cmd.add_option("--log_every", c.log_every, "steps between log lines when not on a terminal")->capture_default_str();

  const char* M = "Model";
  cmd.add_option("--model.blocks", c.model.layers, "transformer blocks (2 residual sites each)")->group(M)->capture_default_str();
  cmd.add_option("--model.width", c.model.width, "model width C")->group(M)->capture_default_str();
  cmd.add_option("--model.heads", c.model.heads, "attention heads")->group(M)->capture_default_str();
  cmd.add_option("--model.block_size", c.model.block_size, "context length T")->group(M)->capture_default_str();
  cmd.add_option("--model.ffn", c.model.ffn, "feed-forward: gelu | swiglu | moe")->group(M)->capture_default_str();
  cmd.add_option("--model.ffn_hidden", c.model.ffn_hidden, "dense FFN hidden size (0: 4C gelu, 8C/3 swiglu)")
      ->group(M)->capture_default_str();
  cmd.add_option("--model.dropout", c.model.dropout, "dropout on embeddings and residual branches")->group(M)->capture_default_str();
  cmd.add_option("--model.attn_dropout", c.model.attn_dropout, "dropout on attention probabilities")->group(M)->capture_default_str();
  cmd.add_flag("--model.tie_embeddings", c.model.tie_embeddings, "share the token embedding with the output head")->group(M);

  const char* H = "Hyper-connections (hc, mhc)";
  cmd.add_flag("--hc.static", static_hc, "HC: static only (no input-dependent terms)")->group(H);
  cmd.add_option("--hc.sinkhorn_iters", c.model.site.sinkhorn_iters, "mHC: Sinkhorn-Knopp iterations t_max")->group(H)->capture_default_str();
  cmd.add_option("--hc.alpha_init", c.model.site.alpha_init, "mHC: initial α gates")->group(H)->capture_default_str();
  cmd.add_option("--hc.phi_init_std", c.model.site.phi_init_std, "mHC: initial std of φ (0: zeros, which keeps the streams identical)")->group(H)->capture_default_str();
  cmd.add_option("--hc.gate", gate, "mHC H_pre/H_post: sigmoid (σ, 2σ) | fixed (1)")
      ->check(CLI::IsMember({"sigmoid", "fixed"}))->group(H)->capture_default_str();
  cmd.add_option("--hc.collapse", collapse, "merge streams before the final norm: sum | learned")
      ->check(CLI::IsMember({"sum", "learned"}))->group(H)->capture_default_str();
  cmd.add_option("--hc.fused", fused, "mHC site kernels: auto (fused on CUDA) | on | off (the composed reference)")
      ->check(CLI::IsMember({"auto", "on", "off", "true", "false"}))->group(H)->capture_default_str();
  cmd.add_flag("--hc.recompute", c.model.recompute, "mHC: keep only each group's first stream state, rebuild the rest in backward")
      ->group(H);
  cmd.add_option("--hc.recompute_group", c.model.recompute_group, "sites per recompute group L_r (0: √(nL/(n+2)))")
      ->group(H)->capture_default_str();

  const char* E = "Mixture of experts (--model.ffn moe)";
  cmd.add_option("--moe.routed", c.model.moe.routed, "routed experts N_r")->group(E)->capture_default_str();
  cmd.add_option("--moe.top_k", c.model.moe.top_k, "experts per token")->group(E)->capture_default_str();
  cmd.add_option("--moe.shared", c.model.moe.shared, "always-on shared experts")->group(E)->capture_default_str();
  cmd.add_option("--moe.hidden", c.model.moe.expert_hidden, "expert hidden size")->group(E)->capture_default_str();
  cmd.add_option("--moe.router", router, "router scores: softmax | sigmoid")
      ->check(CLI::IsMember({"softmax", "sigmoid"}))->group(E)->capture_default_str();
  cmd.add_flag("--moe.no_balance", no_balance, "turn off aux-loss-free bias balancing")->group(E);
  cmd.add_option("--moe.bias_rate", c.model.moe.bias_rate, "bias balancing step γ")->group(E)->capture_default_str();
  cmd.add_option("--moe.aux_loss", c.model.moe.aux_loss_weight, "Switch load-balancing loss weight")->group(E)->capture_default_str();
  cmd.add_option("--moe.z_loss", c.model.moe.z_loss_weight, "router z-loss weight")->group(E)->capture_default_str();
  cmd.add_option("--moe.dense_layers", c.model.dense_layers, "leading blocks with a dense FFN")->group(E)->capture_default_str();

  const char* O = "Optimisation";
  cmd.add_option("--optim.steps", c.optim.steps, "optimizer steps")->group(O)->capture_default_str();
  cmd.add_option("--optim.batch_size", c.optim.batch_size, "sequences per micro-batch")->group(O)->capture_default_str();
  cmd.add_option("--optim.grad_accum", c.optim.grad_accum, "micro-batches per step")->group(O)->capture_default_str();
  cmd.add_option("--optim.lr", c.optim.lr, "peak learning rate")->group(O)->capture_default_str();
  cmd.add_option("--optim.min_lr", c.optim.min_lr, "final learning rate (cosine)")->group(O)->capture_default_str();
  cmd.add_option("--optim.warmup", c.optim.warmup, "linear warmup steps")->group(O)->capture_default_str();
  cmd.add_option("--optim.schedule", c.optim.schedule, "cosine | step | constant")->group(O)->capture_default_str();
  cmd.add_option("--optim.weight_decay", c.optim.weight_decay, "AdamW weight decay (matrices only)")->group(O)->capture_default_str();
  cmd.add_option("--optim.beta1", c.optim.beta1, "AdamW β1")->group(O)->capture_default_str();
  cmd.add_option("--optim.beta2", c.optim.beta2, "AdamW β2")->group(O)->capture_default_str();
  cmd.add_option("--optim.grad_clip", c.optim.grad_clip, "global gradient-norm clip (0: off)")->group(O)->capture_default_str();

  const char* D = "Data";
  cmd.add_option("--data.tokenizer", c.data.tokenizer, "char | bpe")->group(D)->capture_default_str();
  cmd.add_option("--data.vocab_size", c.data.vocab_size, "BPE vocabulary size")->group(D)->capture_default_str();
  cmd.add_option("--data.val_fraction", c.data.val_fraction, "share of the corpus held out")->group(D)->capture_default_str();
  cmd.add_option("--data.split", c.data.split,
                 "tail: the last share is validation (nanoGPT's split, comparable losses) | chunks: seeded 4096-token chunks")
      ->group(D)->capture_default_str();
  cmd.add_option("--data.cache_dir", c.data.cache_dir, "token cache (default: $MHC_CACHE_DIR or ~/.cache/mhc)")->group(D);

  const char* V = "Evaluation";
  cmd.add_option("--eval.every", c.eval.every, "steps between evaluations and checkpoints")->group(V)->capture_default_str();
  cmd.add_option("--eval.batches", c.eval.batches, "validation batches per evaluation")->group(V)->capture_default_str();
  cmd.add_option("--eval.sample_tokens", c.eval.sample_tokens, "tokens sampled at the end (0: none)")->group(V)->capture_default_str();
  cmd.add_option("--debug.inject_nan", c.inject_nan_at, "testing aid: make the loss NaN at this step")->group("");
}

TrainConfig TrainFlags::resolve() const {
  TrainConfig c = config;
  c.model.site.kind = parse_residual_kind(residual);
  // n defaults to 1 for the residual and 4 for HC / mHC, unless the base is
  // a resumed run's own config (which already says).
  if (streams_option && streams_option->count() > 0) c.model.site.streams = streams;
  else if (!config_from_run) c.model.site.streams = c.model.site.kind == ResidualKind::Residual ? 1 : 4;
  if (static_hc) c.model.site.hc_dynamic = false;
  c.model.site.gate = gate == "fixed" ? PrePostGate::Fixed : PrePostGate::Sigmoid;
  c.model.collapse = collapse == "learned" ? CollapseMode::Learned : CollapseMode::Sum;
  c.model.site.fused = parse_fused_mode(fused);
  c.model.moe.router = parse_router_kind(router);
  if (no_balance) c.model.moe.bias_balance = false;
  return c;
}

TrainConfig parse_train_flags(const std::vector<std::string>& args, RunOptions* run) {
  std::string preset_name = "cpu-char";
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--preset" && i + 1 < args.size()) preset_name = args[i + 1];
    if (args[i].rfind("--preset=", 0) == 0) preset_name = args[i].substr(9);
  }
  TrainFlags flags(preset(preset_name));
  CLI::App cmd("mhc train");
  flags.bind(cmd);
  std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 takes them last first
  try {
    cmd.parse(reversed);
  } catch (const CLI::ParseError& e) {
    throw std::invalid_argument(e.what());
  }
  TrainConfig c = flags.resolve();
  c.validate();
  if (run) *run = flags.run;
  return c;
}

}  // namespace mhc
