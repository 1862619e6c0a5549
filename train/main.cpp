// main.cpp — the `mhc` program: train, sample, eval and plot subcommands.
//
//   mhc train --preset cpu-char --residual mhc --streams 4
//   mhc sample --run runs/cpu-char-mhc-n4 --prompt "ROMEO:"
//   mhc eval   --run runs/cpu-char-mhc-n4
//   mhc plot   runs/cpu-char-residual runs/cpu-char-hc-n4 runs/cpu-char-mhc-n4 --out plots/
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <charconv>
#include <cstring>
#include <filesystem>

#include "autograd/tape.h"
#include "datasets/corpus.h"
#include "datasets/tokenizer.h"
#include "datasets/utf8.h"
#include "kernels/cpu/cpu_threads.h"
#include "layers/config_checks.h"
#include "train/checkpoint.h"
#include "train/config.h"
#include "train/generate.h"
#include "train/run_plots.h"
#include "train/trainer.h"

using namespace mhc;
namespace fs = std::filesystem;

namespace {

// The value of `--flag X` or `--flag=X` in argv, or "" when absent.
std::string scan_flag(int argc, char** argv, const char* flag) {
  const size_t n = std::strlen(flag);
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], flag) == 0 && i + 1 < argc) return argv[i + 1];
    if (std::strncmp(argv[i], flag, n) == 0 && argv[i][n] == '=') return argv[i] + n + 1;
  }
  return "";
}
bool has_flag(int argc, char** argv, const char* flag) {
  for (int i = 1; i < argc; ++i)
    if (std::strcmp(argv[i], flag) == 0) return true;
  return false;
}

// --seed is unsigned; CLI11 would wrap "-1" to 2^64 − 1.
const CLI::Validator kSeedCheck(
    [](std::string& s) {
      const bool digits = !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
      return digits ? std::string() : "must be a non-negative integer below 2^64, not '" + s + "'";
    },
    "UINT");

// The run directory `train --resume` continues: --run, or else the default
// directory of the run that the same --preset / --residual / --streams start.
std::string resume_dir(int argc, char** argv) {
  if (std::string dir = scan_flag(argc, argv, "--run"); !dir.empty()) return dir;
  const std::string p = scan_flag(argc, argv, "--preset");
  TrainConfig c = preset(p.empty() ? "cpu-char" : p);
  if (const std::string r = scan_flag(argc, argv, "--residual"); !r.empty()) c.model.site.kind = parse_residual_kind(r);
  const std::string n = scan_flag(argc, argv, "--streams");
  int64_t streams = 0;
  if (std::from_chars(n.data(), n.data() + n.size(), streams).ec != std::errc() || streams < 1)
    streams = c.model.site.kind == ResidualKind::Residual ? 1 : 4;  // the same default as a new run's
  c.model.site.streams = streams;
  return c.default_run_dir();
}

// The run's config.json; when that is missing or damaged (empty, cut short:
// not JSON), the copy of the configuration in the run's checkpoint, with a
// warning (a resumed run then writes a good config.json again).
TrainConfig load_run_config(const std::string& run_dir) {
  const std::string path = (fs::path(run_dir) / "config.json").string();
  const std::string ckpt = (fs::path(run_dir) / "checkpoint.bin").string();
  json::Value stored;
  try {
    if (!fs::exists(path)) throw std::runtime_error("no run in " + run_dir + " (missing " + path + ")");
    stored = json::parse_file(path);
  } catch (const std::exception& e) {
    if (!fs::exists(ckpt)) throw;
    std::string from_checkpoint;
    try {
      from_checkpoint = read_checkpoint_meta(ckpt).config_json;
    } catch (const std::exception& c) {
      throw std::runtime_error(fmt::format("{}; the copy in the checkpoint cannot be read either: {}", e.what(), c.what()));
    }
    if (from_checkpoint.empty()) throw;
    fmt::print(stderr, "warning: {}; using the configuration stored in {}\n",
               fs::exists(path) ? fmt::format("{} is damaged ({})", path, e.what()) : path + " is missing", ckpt);
    stored = json::parse(from_checkpoint, ckpt);
  }
  TrainConfig c = train_config_from_json(stored);
  c.run_dir = run_dir;
  return c;
}

// Rebuilds a trained model from its run directory (config, tokenizer, checkpoint).
struct LoadedRun {
  TrainConfig config;
  std::unique_ptr<Tokenizer> tokenizer;
  std::unique_ptr<Transformer> model;
};
LoadedRun load_run(const std::string& run_dir, const std::string& device) {
  LoadedRun r;
  r.config = load_run_config(run_dir);
  r.tokenizer = Tokenizer::load((fs::path(run_dir) / "tokenizer.txt").string());
  r.config.model.vocab_size = r.tokenizer->vocab_size();
  r.model = std::make_unique<Transformer>(r.config.model, r.config.seed);
  std::vector<NamedTensor> tensors;
  for (auto& p : r.model->parameters()) tensors.push_back({"model." + p.name, p.tensor});
  for (auto& b : r.model->buffers()) tensors.push_back({"buffer." + b.name, b.tensor});
  // The checkpoint also holds optimizer moments; sampling loads only the model.
  load_checkpoint((fs::path(run_dir) / "checkpoint.bin").string(), tensors, /*allow_extra=*/true);
  const Device dev = device == "cuda" ? Device::cuda : Device::cpu;
  r.model->to(dev);
  return r;
}

void add_train_options(CLI::App& cmd, TrainConfig& c, std::string& residual, int64_t& streams, RunOptions& run,
                       std::string& gate, std::string& collapse, std::string& fused, std::string& router,
                       bool& static_hc, bool& no_balance) {
  cmd.add_option("--preset", c.preset, "starting configuration: cpu-char, shakespeare-char, tiny-moe, moe-1280")
      ->capture_default_str();
  cmd.add_option("--residual", residual, "residual variant: residual | hc | mhc")
      ->check(CLI::IsMember({"residual", "hc", "mhc"}))
      ->capture_default_str();
  cmd.add_option("--streams", streams, "residual streams n (default: 1 for residual, 4 for hc / mhc)");
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

int run_train(const char* program, TrainConfig& c, bool config_from_run, const std::string& residual, int64_t streams, bool streams_given,
              RunOptions run, const std::string& gate, const std::string& collapse, const std::string& fused,
              const std::string& router, bool static_hc, bool no_balance) {
  c.model.site.kind = parse_residual_kind(residual);
  // n defaults to 1 for the residual and 4 for HC / mHC, unless the base is
  // a resumed run's own config (which already says).
  if (streams_given) c.model.site.streams = streams;
  else if (!config_from_run) c.model.site.streams = c.model.site.kind == ResidualKind::Residual ? 1 : 4;
  if (static_hc) c.model.site.hc_dynamic = false;
  c.model.site.gate = gate == "fixed" ? PrePostGate::Fixed : PrePostGate::Sigmoid;
  c.model.collapse = collapse == "learned" ? CollapseMode::Learned : CollapseMode::Sum;
  c.model.site.fused = parse_fused_mode(fused);
  c.model.moe.router = parse_router_kind(router);
  if (no_balance) c.model.moe.bias_balance = false;
  if (run.resume && run.overwrite) throw std::invalid_argument("--resume and --overwrite cannot be combined");
  if (run.override_config && !run.resume) throw std::invalid_argument("--override only applies with --resume");
  run.catch_interrupt = true;
  Trainer trainer(c, run);
  const TrainResult result = trainer.run();
  if (result.interrupted) {
    const std::string dir = trainer.config().run_dir;
    fmt::print(stderr,
               "\ninterrupted: stopped after step {} of {}; the checkpoint in {} holds everything so far.\n"
               "Continue it bit-identically with:\n  {} train --run {} --resume\n",
               result.end_step, trainer.config().optim.steps, dir, program, dir);
    return 130;  // 128 + SIGINT, as shells report a Ctrl-C
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  adapt_cpu_threads_to_load(true);  // fewer threads while other programs keep cores busy
  CLI::App app{"mhc — train small language models with a residual stream, Hyper-Connections (HC)\n"
               "or Manifold-Constrained Hyper-Connections (mHC), and compare them.\n\n"
               "  mhc train --preset cpu-char --residual mhc --streams 4\n"
               "  mhc plot runs/cpu-char-residual runs/cpu-char-mhc-n4 --out plots\n"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "show every option of every subcommand");

  // ---- train: the preset (or the resumed run's config) is the base that flags override.
  TrainConfig config;
  bool config_from_run = false;
  try {
    const bool resume = has_flag(argc, argv, "--resume");
    const std::string run_dir = resume ? resume_dir(argc, argv) : "";
    if (resume && (fs::exists(fs::path(run_dir) / "config.json") || fs::exists(fs::path(run_dir) / "checkpoint.bin"))) {
      config = load_run_config(run_dir);
      config_from_run = true;
    } else {
      const std::string p = scan_flag(argc, argv, "--preset");
      config = preset(p.empty() ? "cpu-char" : p);
    }
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 2;
  }
  std::string residual = residual_kind_name(config.model.site.kind);
  int64_t streams = config.model.site.streams;
  std::string gate = config.model.site.gate == PrePostGate::Fixed ? "fixed" : "sigmoid";
  std::string collapse = config.model.collapse == CollapseMode::Learned ? "learned" : "sum";
  std::string router = config.model.moe.router == RouterKind::Sigmoid ? "sigmoid" : "softmax";
  std::string fused = config.model.site.fused == SiteConfig::Fused::Auto ? "auto"
                      : config.model.site.fused == SiteConfig::Fused::On ? "on" : "off";
  bool static_hc = false, no_balance = false;
  RunOptions run;
  CLI::App* train = app.add_subcommand("train", "train a model (flags override the preset)");
  add_train_options(*train, config, residual, streams, run, gate, collapse, fused, router, static_hc, no_balance);
  CLI::Option* streams_opt = train->get_option("--streams");

  // ---- sample
  std::string sample_run, prompt = "\n", sample_device = "cpu";
  SampleOptions so;
  CLI::App* sample = app.add_subcommand("sample", "generate text from a trained run");
  sample->add_option("--run", sample_run, "run directory")->required();
  sample->add_option("--prompt", prompt, "text to continue (default: a newline)");
  sample->add_option("--tokens", so.tokens, "tokens to generate")->capture_default_str();
  sample->add_option("--temperature", so.temperature, "softmax temperature (0: greedy, always the most likely token)")
      ->capture_default_str();
  sample->add_option("--top_k", so.top_k, "sample among the k most likely tokens (0: all)")->capture_default_str();
  sample->add_option("--seed", so.seed, "sampling seed")->check(kSeedCheck)->capture_default_str();
  sample->add_option("--device", sample_device, "cpu | cuda")->check(CLI::IsMember({"cpu", "cuda"}))->capture_default_str();

  // ---- eval
  std::string eval_run, eval_device = "cpu", eval_data;
  int64_t eval_batches_n = 0;
  CLI::App* eval = app.add_subcommand("eval", "validation loss of a trained run");
  eval->add_option("--run", eval_run, "run directory")->required();
  eval->add_option("--data", eval_data, "the run's training text, if it has moved since training");
  eval->add_option("--batches", eval_batches_n, "validation batches (default: the run's)");
  eval->add_option("--device", eval_device, "cpu | cuda")->check(CLI::IsMember({"cpu", "cuda"}))->capture_default_str();

  // ---- plot
  std::vector<std::string> plot_runs;
  std::string plot_out = "plots";
  CLI::App* plot = app.add_subcommand("plot", "PNG charts of one or more runs, overlaid");
  plot->add_option("runs", plot_runs, "run directories")->required();
  plot->add_option("--out", plot_out, "output folder")->capture_default_str();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    if (*train) {
      return run_train(argv[0], config, config_from_run, residual, streams, streams_opt->count() > 0, run, gate, collapse,
                       fused, router, static_hc, no_balance);
    }
    if (*sample) {
      check_sample_options(so);  // before the run is loaded
      LoadedRun r = load_run(sample_run, sample_device);
      const std::vector<int32_t> ids = generate(*r.model, r.tokenizer->encode(prompt), so);
      fmt::print("{}\n", printable_text(r.tokenizer->decode(ids)));
      return 0;
    }
    if (*eval) {
      int_in("eval --batches", eval_batches_n, 0, 1 << 16);  // 0: the run's own
      TrainConfig c = load_run_config(eval_run);
      if (eval_batches_n > 0) c.eval.batches = eval_batches_n;
      if (!eval_data.empty()) c.data.data = eval_data;
      else if (!c.data.data.empty() && !is_synthetic(c.data.data) && !fs::exists(c.data.data))
        throw std::runtime_error(fmt::format("{} was trained on {}, which is no longer there; pass eval --data "
                                             "with the file's new path",
                                             eval_run, c.data.data));
      c.device = eval_device;
      if (c.device == "cpu") c.dtype = "f32";  // bf16 is CUDA mixed precision; the CPU evaluates in f32
      RunOptions ro;
      ro.resume = true;  // an existing run: nothing in it is replaced
      ro.quiet = true;
      Trainer evaluator(c, ro);
      evaluator.restore();
      fmt::print("{}: val loss {:.4f} ({} batches of {} × {} tokens)\n", eval_run, evaluator.evaluate(), c.eval.batches,
                 c.optim.batch_size, c.model.block_size);
      return 0;
    }
    if (*plot) {
      for (const auto& f : write_run_plots(plot_runs, plot_out)) fmt::print("wrote {}\n", f);
      return 0;
    }
  } catch (const DivergenceError& e) {
    fmt::print(stderr, "\nerror: {}\n", e.what());
    return 3;
  } catch (const std::bad_alloc&) {  // the last resort: sizes are checked against memory before a run starts
    fmt::print(stderr, "error: out of memory (std::bad_alloc); use smaller --model.* sizes, --optim.batch_size or "
                       "--model.block_size\n");
    return 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
  return 0;
}
