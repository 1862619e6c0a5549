// bench/train_step.cpp — one full training step (forward, backward, clip,
// AdamW) of a preset's model, for several residual variants measured in the
// same run: ms/step, tokens/s, model FLOP utilisation, peak memory, and the
// ratio of each variant to the plain residual.
//
//   bench_train_step --preset cpu-char --device cpu --variants residual,hc,mhc --streams 4
//   bench_train_step --preset shakespeare-char --device cuda --dtype bf16
//   bench_train_step --preset cpu-char --load 1   # also with one busy process competing
//   bench_train_step --preset cpu-char --ranks 1,2  # data parallel under mpirun (train_ranks.h)
//
// Batches are random token ids (no corpus needed); the step is the trainer's.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <sstream>
#include <tuple>

#include "autograd/op_profile.h"
#include "autograd/ops.h"
#include "bench/bench_util.h"
#include "bench/train_ranks.h"
#include "kernels/cpu/cpu_threads.h"
#include "autograd/tape.h"
#include "layers/dropout_seeds.h"
#include "train/config.h"
#include "train/flops.h"
#include "train/optimizer.h"

using namespace mhc;

namespace {

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');) out.push_back(item);
  return out;
}

// --profile: each op kind's forward and backward milliseconds per step and
// its share of the step, largest first; what the tape did not see is the rest.
void print_op_profile(const std::string& variant, const OpProfile& p, double step_ms, int64_t steps) {
  std::vector<std::pair<std::string, OpTime>> rows(p.times().begin(), p.times().end());
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
    return a.second.forward_s + a.second.backward_s > b.second.forward_s + b.second.backward_s;
  });
  const double per_step = 1000.0 / static_cast<double>(steps);  // seconds in total -> ms per step
  fmt::print("\n{}: {:.2f} ms/step over {} profiled steps, by op kind\n", variant, step_ms, steps);
  fmt::print("  {:<36} {:>8} {:>9} {:>9} {:>7}\n", "op", "calls", "fwd ms", "bwd ms", "share");
  double seen = 0, fwd_all = 0, bwd_all = 0;
  for (const auto& [op, t] : rows) {
    const double fwd = t.forward_s * per_step, bwd = t.backward_s * per_step;
    seen += fwd + bwd, fwd_all += fwd, bwd_all += bwd;
    fmt::print("  {:<36} {:>8.0f} {:>9.3f} {:>9.3f} {:>6.1f}%\n", op,
               static_cast<double>(std::max(t.forward_calls, t.backward_calls)) / static_cast<double>(steps), fwd, bwd,
               100 * (fwd + bwd) / step_ms);
  }
  fmt::print("  {:<36} {:>8} {:>9.3f} {:>9.3f} {:>6.1f}%\n", "all (forward, backward)", "", fwd_all, bwd_all,
             100 * seen / step_ms);
  fmt::print("  {:<36} {:>8} {:>9} {:>9} {:>6.1f}%\n", "not seen by the tape", "", "", "",
             100 * (step_ms - seen) / step_ms);
}

struct Options {
  std::string preset = "cpu-char", device = "cpu", dtype = "f32", variants = "residual,hc,mhc";
  int64_t streams = 4, steps = 20, warmup = 3, vocab = 65, batch = 0, load = 0;
  double peak_tflops = 0;
  bool profile = false;
  std::vector<int> ranks;
  bench::RanksBenchArgs ra;
  bool worker = false;
};

void add_options(CLI::App& app, Options& o) {
  app.add_option("--preset", o.preset)->capture_default_str();
  app.add_option("--device", o.device)->capture_default_str();
  app.add_option("--dtype", o.dtype)->capture_default_str();
  app.add_option("--variants", o.variants,
                 "comma-separated: residual, hc, mhc, mhc-fused, mhc-unfused, mhc-rc (mHC with selective recompute)")
      ->capture_default_str();
  app.add_option("--streams", o.streams)->capture_default_str();
  app.add_option("--steps", o.steps, "timed steps")->capture_default_str();
  app.add_option("--warmup", o.warmup, "untimed steps first")->capture_default_str();
  app.add_option("--vocab", o.vocab, "vocabulary size")->capture_default_str();
  app.add_option("--batch", o.batch, "override the preset's batch size");
  app.add_option(
      "--peak_tflops", o.peak_tflops,
      "hardware peak for MFU (default: H100 SXM 989 bf16 / 67 f32; CPU: the sgemm rate measured in the run)");
  app.add_flag("--profile", o.profile,
               "then, per variant, each op kind's forward and backward time as a share of the step (CPU; "
               "autograd/op_profile.h says how time is attributed)");
  app.add_option("--load", o.load, "then time again with this many busy-looping processes competing for the CPU")
      ->check(CLI::Range(0, 64))
      ->capture_default_str();
  app.add_option("--ranks", o.ranks, "time data-parallel steps with these rank counts under mpirun instead (e.g. 1,2)")
      ->delimiter(',');
  app.add_flag("--rank-worker", o.worker, "(internal) one rank of --ranks")->group("");
  app.add_option("--bucket-mb", o.ra.bucket_mb, "--ranks: gradient MiB per bucket")->capture_default_str();
  app.add_option("--reduce", o.ra.reduce, "(internal) overlap | end | blocking")->group("");
}

// One residual variant's model, optimizer and batch, and its measurements.
struct Variant {
  std::string name;
  TrainConfig config;
  std::unique_ptr<Transformer> model;
  std::unique_ptr<AdamW> opt;
  Tensor x, y;
  std::vector<double> ms;
  int64_t resident_bytes = 0, step_peak_bytes = 0, system_allocations = 0;
};

// mHC variants: mhc (fused kernels where the backend prefers them),
// mhc-fused / mhc-unfused (forced), mhc-rc (with selective recompute).
Variant make_variant(const std::string& v, const TrainConfig& base, const Options& o, Device device) {
  Variant var;
  var.name = v;
  var.config = base;
  const bool rc = v == "mhc-rc";
  const bool mhc_variant = v.rfind("mhc", 0) == 0;
  if (v == "mhc-fused") var.config.model.site.fused = SiteConfig::Fused::On;
  if (v == "mhc-unfused") var.config.model.site.fused = SiteConfig::Fused::Off;
  if (mhc_variant && v != "mhc" && !rc && v != "mhc-fused" && v != "mhc-unfused")
    throw std::invalid_argument("--variants: unknown variant '" + v + "'");
  var.config.model.site.kind = parse_residual_kind(mhc_variant ? "mhc" : v);
  var.config.model.recompute = rc;
  var.config.model.site.streams = var.config.model.site.kind == ResidualKind::Residual ? 1 : o.streams;
  Backend& be = backend_for(device);
  const int64_t before = be.allocator_stats().bytes_in_use;
  var.model = std::make_unique<Transformer>(var.config.model, 1);
  var.model->to(device);
  var.model->set_compute_dtype(o.dtype == "bf16" ? DType::bf16 : DType::f32);
  var.opt = std::make_unique<AdamW>(var.model->parameters(), AdamWConfig{base.optim.beta1, base.optim.beta2,
                                                                         base.optim.eps, base.optim.weight_decay});
  std::tie(var.x, var.y) = bench::random_batch(base.optim.batch_size, base.model.block_size, o.vocab, 7, device);
  var.resident_bytes = be.allocator_stats().bytes_in_use - before;
  return var;
}

// One training step, as the trainer takes it; with a profile, the forward
// starts its clock and the optimizer's part (zero_grad, the norm, AdamW,
// router biases) is added to it.
void step(Variant& v, int64_t i, OpProfile* profile = nullptr) {
  cpu_threads_tick();  // as the trainer does between steps
  DropoutSeeds::begin_step(1, static_cast<uint64_t>(i));
  double t0 = profile_clock();
  v.opt->zero_grad();
  double optimizer_s = profile_clock() - t0;
  if (profile) profile->mark();
  Tensor loss = v.model->loss(v.x, v.y);
  loss.backward();
  t0 = profile_clock();
  const double norm = v.opt->grad_norm();  // one host sync, as in training
  v.opt->step(1e-4, norm > 1.0 ? 1.0 / norm : 1.0);
  for (MoeFeedForward* m : v.model->moe_layers()) m->update_bias();
  optimizer_s += profile_clock() - t0;
  if (profile) profile->add("optimizer (zero_grad, norm, AdamW)", optimizer_s);
}

// The median ms/step of each variant over `steps` interleaved rounds (one
// step of each per round, so drifts in machine speed hit all alike), with
// each step's peak memory and system allocations.
std::vector<double> measure(std::vector<Variant>& vs, Backend& be, int64_t steps, int64_t& steps_done) {
  for (Variant& v : vs) v.ms.clear();
  for (int64_t i = 0; i < steps; ++i)
    for (Variant& v : vs) {
      be.synchronize();
      const int64_t in_use = be.allocator_stats().bytes_in_use;
      const int64_t allocs = be.allocator_stats().system_allocations;
      be.reset_peak_memory();
      const auto t0 = std::chrono::steady_clock::now();
      step(v, steps_done + i);
      be.synchronize();
      v.ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      v.step_peak_bytes = std::max(v.step_peak_bytes, be.allocator_stats().peak_bytes_in_use - in_use);
      v.system_allocations += be.allocator_stats().system_allocations - allocs;
    }
  steps_done += steps;
  std::vector<double> medians;
  for (Variant& v : vs) {
    std::sort(v.ms.begin(), v.ms.end());
    medians.push_back(v.ms[v.ms.size() / 2]);
  }
  return medians;
}

void print_table(const std::vector<Variant>& vs, const std::vector<double>& ms, int64_t tokens, double peak_tflops,
                 int64_t steps) {
  double residual_ms = 0;
  for (size_t k = 0; k < vs.size(); ++k)
    if (vs[k].config.model.site.kind == ResidualKind::Residual) residual_ms = ms[k];
  for (size_t k = 0; k < vs.size(); ++k) {
    const Variant& v = vs[k];
    const double tok_s = static_cast<double>(tokens) / (ms[k] / 1000.0);
    const std::string mfu =
        peak_tflops > 0
            ? fmt::format("{:.1f}%", 100 * training_flops_per_token(v.config.model) * tok_s / (peak_tflops * 1e12))
            : std::string("-");
    fmt::print("{:>10} {:>8} {:>10.2f} {:>12.0f} {:>8} {:>10.1f} {:>11} {:>12.1f}\n", v.name,
               v.config.model.site.streams, ms[k], tok_s, mfu,
               static_cast<double>(v.resident_bytes + v.step_peak_bytes) / (1 << 20),
               residual_ms > 0 ? fmt::format("{:.3f}x", ms[k] / residual_ms) : std::string("-"),
               static_cast<double>(v.system_allocations) / static_cast<double>(steps));
  }
}

// --load: the same steps with other processes busy on the CPU: how much a shared machine slows training.
void measure_under_load(std::vector<Variant>& vs, Backend& be, const Options& o, const std::vector<double>& idle,
                        int64_t& steps_done) {
  std::vector<double> loaded;
  {
    bench::CompetingLoad competing(static_cast<int>(o.load));
    loaded = measure(vs, be, o.steps, steps_done);
  }
  fmt::print("\nwith {} busy process{} competing (at the end: {}):\n", o.load, o.load == 1 ? "" : "es",
             bench::cpu_threads_setting());
  fmt::print("{:>10} {:>12} {:>12} {:>10}\n", "variant", "idle ms", "loaded ms", "slowdown");
  for (size_t k = 0; k < vs.size(); ++k)
    fmt::print("{:>10} {:>12.2f} {:>12.2f} {:>9.2f}x\n", vs[k].name, idle[k], loaded[k], loaded[k] / idle[k]);
}

// --profile (CPU): each variant's steps again, timed per op kind.
void profile_variants(std::vector<Variant>& vs, int64_t steps, int64_t& steps_done) {
  for (Variant& v : vs) {
    OpProfile p;
    const auto t0 = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < steps; ++i) step(v, steps_done + i, &p);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    steps_done += steps;
    print_op_profile(v.name, p, ms / static_cast<double>(steps), steps);
  }
}

int run_ranks(Options& o, const char* argv0) {
  bench::RanksBenchArgs& ra = o.ra;
  ra.preset = o.preset, ra.device = o.device, ra.dtype = o.dtype, ra.variant = o.variants;
  ra.streams = o.streams, ra.steps = o.steps, ra.warmup = o.warmup, ra.vocab = o.vocab, ra.batch = o.batch;
  if (!o.ranks.empty()) ra.ranks = o.ranks;
  if (ra.variant.find(',') != std::string::npos && !o.worker)
    ra.variant = "residual";  // one variant: the default list's first
  return o.worker ? bench::rank_worker(ra) : bench::ranks_bench(argv0, ra);
}

}  // namespace

int main(int argc, char** argv) {
  adapt_cpu_threads_to_load(true);
  CLI::App app{"time one training step per residual variant"};
  Options o;
  add_options(app, o);
  CLI11_PARSE(app, argc, argv);
  if (!o.ranks.empty() || o.worker) return run_ranks(o, argv[0]);

  const Device device = o.device == "cuda" ? Device::cuda : Device::cpu;
  if (device == Device::cuda && !cuda_available()) {
    fmt::print("bench_train_step: no CUDA GPU visible; nothing to measure\n");
    return 0;
  }
  double peak_tflops = o.peak_tflops;
  if (peak_tflops == 0 && device == Device::cuda) peak_tflops = o.dtype == "bf16" ? 989.0 : 67.0;
  TrainConfig base = preset(o.preset);
  if (o.batch > 0) base.optim.batch_size = o.batch;
  base.model.vocab_size = o.vocab;
  const int64_t B = base.optim.batch_size, T = base.model.block_size;

  fmt::print("training step, preset {}, {} {}, batch {} x {} tokens; {}\n", o.preset, o.device, o.dtype, B, T,
             bench::cpu_threads_setting());
  // On the CPU, "MFU" is against the sgemm rate this machine reaches now.
  if (device == Device::cpu) peak_tflops = bench::print_blas_header() / 1000.0;
  ModelConfig plain = base.model;
  plain.site.kind = ResidualKind::Residual, plain.site.streams = 1;
  fmt::print("model FLOPs per token (matrix products, forward + backward, train/flops.h): {:.4g} for the residual\n",
             training_flops_per_token(plain));
  fmt::print("{:>10} {:>8} {:>10} {:>12} {:>8} {:>10} {:>11} {:>12}\n", "variant", "streams", "ms/step", "tokens/s",
             device == Device::cpu ? "of sgemm" : "MFU", "peak MiB", "vs residual", "sys allocs");
  // Build every variant first, then time them in interleaved rounds.
  std::vector<Variant> vs;
  for (const std::string& v : split(o.variants)) vs.push_back(make_variant(v, base, o, device));
  Backend& be = backend_for(device);
  for (int64_t i = 0; i < o.warmup; ++i)
    for (Variant& v : vs) step(v, i);
  be.synchronize();
  reset_kernel_profile();  // MHC_CUDA_PROFILE=1: time only the measured steps
  int64_t steps_done = o.warmup;
  const std::vector<double> idle = measure(vs, be, o.steps, steps_done);
  print_table(vs, idle, B * T, peak_tflops, o.steps);
  if (o.load > 0) measure_under_load(vs, be, o, idle, steps_done);
  if (device == Device::cpu &&
      std::any_of(vs.begin(), vs.end(), [](const Variant& v) { return v.name == "mhc-fused"; }))
    fmt::print(
        "(mhc-fused on the CPU: the fused site kernels are the CUDA kernels' reference, not a fast path; "
        "--hc.fused auto runs the composed ops here)\n");
  if (o.profile && device != Device::cpu) fmt::print("\n--profile: CPU only (CUDA ops are asynchronous)\n");
  if (o.profile && device == Device::cpu) profile_variants(vs, o.steps, steps_done);
  fmt::print(
      "(median of {} interleaved steps after {} warm-up; peak = weights + optimizer + the step's activations;\n"
      " sys allocs = allocations per timed step that reached the system allocator (malloc / cudaMalloc);\n"
      " {} = model FLOPs/token x tokens/s / {})\n",
      o.steps, o.warmup, device == Device::cpu ? "of sgemm" : "MFU",
      device == Device::cpu ? std::string("the sgemm rate above") : fmt::format("peak {} TFLOP/s", peak_tflops));
  return 0;
}
