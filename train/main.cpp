// main.cpp — the `mhc` program: train, sample, eval, plot, sweep and report subcommands.
//
//   mhc train --preset cpu-char --residual mhc --streams 4
//   mhc sample --run runs/cpu-char-mhc-n4 --prompt "ROMEO:"
//   mhc eval   --run runs/cpu-char-mhc-n4
//   mhc plot   runs/cpu-char-residual runs/cpu-char-hc-n4 runs/cpu-char-mhc-n4 --out plots/
//   mhc sweep  experiments/cpu-variants.json      (a grid of runs; see train/sweep.h)
//   mhc report sweeps/cpu-variants                (its report.md and figures)
//   mhc tokenize input.txt --tokenizer bpe --out data/mine   (llm.c shards for --data data/mine)
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <charconv>
#include <algorithm>
#include <filesystem>

#include "autograd/tape.h"
#include "build_info.h"  // MHC_COMMIT (train/build_info.cmake)
#include "datasets/corpus.h"
#include "datasets/token_files.h"
#include "datasets/tokenizer.h"
#include "datasets/utf8.h"
#include "kernels/cpu/cpu_threads.h"
#include "layers/config_checks.h"
#include "parallel/process_group.h"
#include "train/checkpoint.h"
#include "train/config.h"
#include "train/dump_batch.h"
#include "train/generate.h"
#include "train/report.h"
#include "train/run_dir.h"
#include "train/run_plots.h"
#include "train/settings.h"
#include "train/sweep.h"
#include "train/tokenize_files.h"
#include "train/train_flags.h"
#include "train/trainer.h"

using namespace mhc;
namespace fs = std::filesystem;

namespace {

// The run directory `train --resume` continues: --run, or else the default
// directory of the run that the same --preset / --residual / --streams start.
std::string resume_dir(const std::vector<std::string>& args) {
  if (std::string dir = flag_value(args, "--run"); !dir.empty()) return dir;
  const std::string p = flag_value(args, "--preset");
  TrainConfig c = preset(p.empty() ? "cpu-char" : p);
  if (const std::string r = flag_value(args, "--residual"); !r.empty()) c.model.site.kind = parse_residual_kind(r);
  const std::string n = flag_value(args, "--streams");
  int64_t streams = 0;
  if (std::from_chars(n.data(), n.data() + n.size(), streams).ec != std::errc() || streams < 1)
    streams = default_streams(c.model.site.kind);  // the same default as a new run's
  c.model.site.streams = streams;
  return c.default_run_dir();
}

// The run's config.json; when that is missing or damaged (empty, cut short:
// not JSON), the copy of the configuration in the run's checkpoint, with a
// warning (a resumed run then writes a good config.json again).
TrainConfig load_run_config(const std::string& run_dir) {
  const std::string path = (fs::path(run_dir) / "config.json").string();
  const std::string ckpt = (fs::path(run_dir) / kCheckpointFile).string();
  Json stored;
  try {
    if (!fs::exists(path)) throw std::runtime_error("no run in " + run_dir + " (missing " + path + ")");
    stored = json::parse_file(path);
  } catch (const std::exception& e) {
    if (!fs::exists(ckpt)) throw;
    try {
      stored = checkpoint_config(ckpt, read_checkpoint_meta(ckpt));
    } catch (const std::exception& c) {
      throw std::runtime_error(fmt::format("{}; the copy in the checkpoint cannot be read either: {}", e.what(), c.what()));
    }
    fmt::print(stderr, "warning: {}; using the configuration stored in {}\n",
               fs::exists(path) ? fmt::format("{} is damaged ({})", path, e.what()) : path + " is missing", ckpt);
  }
  TrainConfig c = train_config_from_json(stored);
  c.run_dir = run_dir;
  return c;
}

// A model's parameters and buffers as its checkpoint names them.
std::vector<NamedTensor> model_weights(Transformer& model) {
  std::vector<NamedTensor> tensors;
  for (auto& p : model.parameters()) tensors.push_back({"model." + p.name, p.tensor});
  for (auto& b : model.buffers()) tensors.push_back({"buffer." + b.name, b.tensor});
  return tensors;
}

// `mhc export`: the checkpoint's weights, checked against a model built from
// the run's settings (its tokenizer's vocabulary when it has one), so that a
// checkpoint holding other tensors than the run's model is refused.
size_t export_run(const std::string& run_dir, const std::string& out, DType dtype) {
  TrainConfig c = load_run_config(run_dir);
  const std::string tok = (fs::path(run_dir) / "tokenizer.txt").string();
  if (fs::exists(tok)) c.model.vocab_size = Tokenizer::load(tok)->vocab_size();
  Transformer model(c.model, c.seed);
  const std::string ckpt = (fs::path(run_dir) / kCheckpointFile).string();
  checkpoint_config(ckpt, read_checkpoint_meta(ckpt));  // one that holds no settings lies
  return export_weights(ckpt, out, dtype, model_weights(model));
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
  const std::string tok = (fs::path(run_dir) / "tokenizer.txt").string();
  if (!r.config.data.files.empty() && !fs::exists(tok))
    throw std::runtime_error(fmt::format(
        "{} was trained on token files ({}) and has no tokenizer: their ids cannot be turned into text or a prompt into "
        "ids. mhc sample needs a run that knows its tokenizer: trained on text, on shards from mhc tokenize (its "
        "tokenizer.txt beside them), or with --data.tokenizer gpt2:PATH naming GPT-2's files",
        run_dir, r.config.data.data));
  r.tokenizer = Tokenizer::load(tok);
  r.config.model.vocab_size = r.tokenizer->vocab_size();
  r.model = std::make_unique<Transformer>(r.config.model, r.config.seed);
  // The checkpoint also holds optimizer moments; sampling loads only the model.
  const std::string ckpt = (fs::path(run_dir) / kCheckpointFile).string();
  checkpoint_config(ckpt, read_checkpoint_meta(ckpt));  // one that holds no settings lies
  load_checkpoint(ckpt, model_weights(*r.model), /*allow_extra=*/true);
  const Device dev = device == "cuda" ? Device::cuda : Device::cpu;
  r.model->to(dev);
  return r;
}

int run_train(const char* program, const TrainFlags& flags, ProcessGroup& group) {
  const TrainConfig c = flags.resolve();
  RunOptions run = flags.run;
  if (run.resume && run.overwrite) throw std::invalid_argument("--resume and --overwrite cannot be combined");
  if (run.override_config && !run.resume) throw std::invalid_argument("--override only applies with --resume");
  run.catch_interrupt = true;
  Trainer trainer(c, run, &group);
  const TrainResult result = trainer.run();
  if (result.interrupted) {
    const std::string dir = trainer.config().run_dir;
    if (group.is_root()) {  // the ranks stopped together; rank 0 says so
      fmt::print(stderr,
                 "\ninterrupted: stopped after step {} of {}; the checkpoint in {} holds everything so far.\n"
                 "Continue it bit-identically with:\n  {} train --run {} --resume\n",
                 result.end_step, trainer.config().optim.steps, dir, program, dir);
      std::fflush(stderr);
    }
    // Rank 0 has written its checkpoint and said so: now every rank may exit
    // (mpirun ends the whole job at the first non-zero exit status).
    group.barrier();
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
               "  mhc plot runs/cpu-char-residual runs/cpu-char-mhc-n4 --out plots\n"
               "  mhc sweep experiments/cpu-variants.json\n"};
  app.set_version_flag("--version", fmt::format("mhc {} (commit {}; {})", MHC_VERSION, MHC_COMMIT, MHC_BUILD_OPTIONS),
                       "print the version, the commit and the build's options, and exit");
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "show every option of every subcommand");

  // ---- train: the preset (or the resumed run's config) is the base that flags override.
  TrainConfig config;
  bool config_from_run = false;
  try {
    const std::vector<std::string> args(argv + 1, argv + argc);
    const bool resume = std::find(args.begin(), args.end(), "--resume") != args.end();
    const std::string run_dir = resume ? resume_dir(args) : "";
    if (resume && (fs::exists(fs::path(run_dir) / "config.json") || fs::exists(fs::path(run_dir) / kCheckpointFile))) {
      config = load_run_config(run_dir);
      config_from_run = true;
    } else {
      const std::string p = flag_value(args, "--preset");
      config = preset(p.empty() ? "cpu-char" : p);
    }
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 2;
  }
  TrainFlags train_flags(config, config_from_run);
  CLI::App* train = app.add_subcommand("train", "train a model (flags override the preset)");
  train_flags.bind(*train);

  // ---- sample
  std::string sample_run, prompt = "\n", sample_device = "cpu";
  SampleOptions so;
  CLI::App* sample = app.add_subcommand("sample", "generate text from a trained run");
  sample->add_option("--run", sample_run, "run directory")->required();
  sample->add_option("--prompt", prompt, "text to continue (default: a newline)");
  sample->add_option("--tokens", so.tokens, "tokens to generate")->check(kNotEmpty)->capture_default_str();
  sample->add_option("--temperature", so.temperature, "softmax temperature (0: greedy, always the most likely token)")
      ->check(kNotEmpty)
      ->capture_default_str();
  sample->add_option("--top_k", so.top_k, "sample among the k most likely tokens (0: all)")->check(kNotEmpty)->capture_default_str();
  sample->add_option("--seed", so.seed, "sampling seed")->check(kSeedCheck)->capture_default_str();
  sample->add_option("--device", sample_device, "cpu | cuda")->check(CLI::IsMember({"cpu", "cuda"}))->capture_default_str();

  // ---- eval
  std::string eval_run, eval_device = "cpu", eval_data;
  int64_t eval_batches_n = 0;
  CLI::App* eval = app.add_subcommand("eval", "validation loss of a trained run");
  eval->add_option("--run", eval_run, "run directory")->required();
  eval->add_option("--data", eval_data, "the run's training text, if it has moved since training");
  eval->add_option("--batches", eval_batches_n, "validation batches (default: the run's)")->check(kNotEmpty);
  eval->add_option("--device", eval_device, "cpu | cuda")->check(CLI::IsMember({"cpu", "cuda"}))->capture_default_str();
  std::string eval_dump;
  bool eval_force = false;
  eval->add_flag("--force", eval_force, "replace an existing --dump-batch file");
  eval->add_option("--dump-batch", eval_dump,
                   "also write FILE (safetensors): the first validation batch (x, y: i32 (B, T)), mhc's logits on it "
                   "(f32 (B, T, V)), its loss, and the gradient of that loss for every parameter (grad.model.<name>); "
                   "evaluation mode, no dropout. For checking an outside implementation (scripts/torch_model.py)");

  // ---- plot
  std::vector<std::string> plot_runs;
  std::string plot_out = "plots";
  CLI::App* plot = app.add_subcommand("plot", "PNG charts of one or more runs, overlaid");
  plot->add_option("runs", plot_runs, "run directories")->required();
  plot->add_option("--out", plot_out, "output folder")->capture_default_str();

  // ---- sweep
  std::string sweep_spec;
  SweepOptions sweep_opt;
  CLI::App* sweep = app.add_subcommand("sweep", "run a grid of training runs from a spec (experiments/*.json); "
                                                "re-running it continues where it stopped");
  sweep->add_option("spec", sweep_spec, "the spec file (JSON: base flags and axes)")->required();
  sweep->add_option("--dir", sweep_opt.dir, "sweeps live in DIR/<spec name>/")->capture_default_str();
  sweep->add_flag("--dry-run", sweep_opt.dry_run, "print the grid and an estimated time, run nothing");
  sweep->add_flag("--overwrite", sweep_opt.overwrite, "delete a sweep folder made from a different spec and start again");

  // ---- export
  std::string export_run_dir, export_out, export_dtype = "f32";
  CLI::App* exporter = app.add_subcommand("export", "the weights of a run alone, as a safetensors file for use outside "
                                                    "mhc (tensor names: README, \"Using a model outside mhc\")");
  exporter->add_option("run", export_run_dir, "run directory")->required();
  exporter->add_option("--dtype", export_dtype, "f32 | bf16 (parameters; rounded to nearest even)")
      ->check(CLI::IsMember({"f32", "bf16"}))
      ->capture_default_str();
  exporter->add_option("--out", export_out, "output file (default: RUN/model.safetensors); its folder is made if missing");
  bool export_force = false;
  exporter->add_flag("--force", export_force, "replace an existing output file");

  // ---- tokenize
  TokenizeOptions tz;
  CLI::App* tokenize = app.add_subcommand("tokenize", "text files to llm.c token shards (train and val) for "
                                                      "`mhc train --data DIR`; streaming");
  tokenize->add_option("inputs", tz.inputs, "UTF-8 text files, read in order as one text")->required();
  tokenize->add_option("--tokenizer", tz.tokenizer, "char | bpe | gpt2:PATH (GPT-2's encoder.json + vocab.bpe folder, or tokenizer.json)")->capture_default_str();
  tokenize->add_option("--out", tz.out, "output folder (created)")->required();
  tokenize->add_option("--vocab_size", tz.vocab_size, "bpe: the vocabulary to learn (at most 65536)")
      ->check(CLI::Range(257, 65536))->capture_default_str();
  tokenize->add_option("--shard_tokens", tz.shard_tokens, "token ids per shard")
      ->check(CLI::Range(int64_t{1}, int64_t{INT32_MAX}))->capture_default_str();
  tokenize->add_option("--val_fraction", tz.val_fraction, "the last share of the text (by bytes, at a line end) "
                                                          "is the validation split")->capture_default_str();
  tokenize->add_option("--sample_mb", tz.sample_mb, "bpe: MiB of text (from the start) the merges are learnt from")
      ->check(CLI::PositiveNumber)->capture_default_str();

  // ---- report
  std::string report_dir, report_out;
  CLI::App* report = app.add_subcommand("report", "report.md and figures of a sweep: seed means, paired differences "
                                                  "to the residual, Amax gains, speed");
  report->add_option("sweep", report_dir, "the sweep folder (sweeps/<name>)")->required();
  report->add_option("--out", report_out, "output folder (default: the sweep folder)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  // Under mpirun, this process is one rank of a data-parallel job.
  std::unique_ptr<ProcessGroup> group;
  try {
    group = ProcessGroup::from_environment();
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
  share_cpu_cores(group->local_size());  // K ranks on one machine: its cores split between them
  // An error on one rank ends the whole job (the others would wait for it
  // forever in their next reduction), saying which rank failed.
  auto fail = [&](const std::string& message, int code) {
    if (group->size() > 1) {
      fmt::print(stderr, "error: rank {} of {}: {}\n", group->rank(), group->size(), message);
      std::fflush(stderr);
      group->abort(code);
    }
    fmt::print(stderr, "error: {}\n", message);
    return code;
  };
  try {
    if (group->size() > 1 && !*train)
      throw std::invalid_argument(fmt::format("only `mhc train` runs as several processes; run `mhc {}` without mpirun",
                                              app.get_subcommands().front()->get_name()));
    if (*train) {
      return run_train(argv[0], train_flags, *group);
    }
    if (*sweep) {
      const SweepSummary s = run_sweep(parse_sweep_spec(sweep_spec), sweep_opt);
      return s.stopped ? 130 : 0;
    }
    if (*report) {
      for (const auto& f : write_sweep_report(report_dir, report_out)) fmt::print("wrote {}\n", f);
      return 0;
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
      if (!eval_dump.empty()) check_output_file(eval_dump, eval_force, "--dump-batch", false);
      TrainConfig c = load_run_config(eval_run);
      if (eval_batches_n > 0) c.eval.batches = eval_batches_n;
      if (!eval_data.empty()) c.data.data = eval_data;
      else if (!c.data.data.empty() && !is_synthetic(c.data.data) && !is_token_data(c.data.data) &&
               !fs::exists(c.data.data))
        throw std::runtime_error(fmt::format("{} was trained on {}, which is no longer there; pass eval --data "
                                             "with the file's new path",
                                             eval_run, c.data.data));
      c.device = eval_device == "cuda" ? Device::cuda : Device::cpu;  // checked by CLI11 (cpu | cuda)
      if (c.device == Device::cpu) c.dtype = DType::f32;  // bf16 is CUDA mixed precision; the CPU evaluates in f32
      RunOptions ro;
      ro.resume = true;  // an existing run: nothing in it is replaced
      ro.read_only = true;
      ro.quiet = true;
      ro.eval_ranks = read_checkpoint_meta((fs::path(eval_run) / kCheckpointFile).string()).ranks;
      Trainer evaluator(c, ro);
      const int64_t step = evaluator.restore();
      if (!eval_dump.empty())
        fmt::print("{}: wrote {} (loss {:.6f} on its first validation batch)\n", eval_run, eval_dump,
                   dump_eval_batch(evaluator, step, eval_dump));
      fmt::print("{}: val loss {:.4f} ({} batches of {} × {} tokens)\n", eval_run, evaluator.evaluate(), c.eval.batches,
                 c.optim.batch_size * ro.eval_ranks, c.model.block_size);
      return 0;
    }
    if (*tokenize) {
      const TokenizeSummary t = tokenize_files(tz);
      fmt::print("wrote {} training shard(s) ({} tokens) and {} validation shard(s) ({} tokens) and tokenizer.txt to {} "
                 "({:.1f} MB of text in {:.2f} s, {:.1f} MB/s)\ntrain on them with: mhc train --data {}\n",
                 t.train_shards.size(), t.train_tokens, t.val_shards.size(), t.val_tokens, tz.out,
                 static_cast<double>(t.bytes) / 1e6, t.seconds, static_cast<double>(t.bytes) / 1e6 / std::max(t.seconds, 1e-9),
                 tz.out);
      return 0;
    }
    if (*exporter) {
      const std::string out = export_out.empty() ? (fs::path(export_run_dir) / kExportFile).string() : export_out;
      check_output_file(out, export_force, "export --out", true);
      const size_t n = export_run(export_run_dir, out, export_dtype == "bf16" ? DType::bf16 : DType::f32);
      fmt::print("wrote {} ({} tensors, {})\n", out, n, export_dtype);
      return 0;
    }
    if (*plot) {
      for (const auto& f : write_run_plots(plot_runs, plot_out)) fmt::print("wrote {}\n", f);
      return 0;
    }
  } catch (const DivergenceError& e) {
    // The loss and gradient norm are global: every rank stops at the same step, rank 0 says so.
    if (group->is_root()) {
      fmt::print(stderr, "\nerror: {}\n", e.what());
      std::fflush(stderr);
    }
    group->barrier();  // rank 0 has said it before any rank's exit status ends the job
    return 3;
  } catch (const std::bad_alloc&) {  // the last resort: sizes are checked against memory before a run starts
    return fail("out of memory (std::bad_alloc); use smaller --model.* sizes, --optim.batch_size or --model.block_size", 1);
  } catch (const std::exception& e) {
    return fail(e.what(), 1);
  }
  return 0;
}
