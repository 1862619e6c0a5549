// train_ranks.cpp — see train_ranks.h.
#include "bench/train_ranks.h"

#include <fmt/core.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <thread>

#include <unistd.h>  // environ

#include "bench/bench_util.h"
#include "layers/dropout_seeds.h"
#include "parallel/grad_reducer.h"
#include "parallel/nccl_transport.h"
#include "parallel/process_group.h"
#include "train/config.h"
#include "fileio/json_io.h"
#include "train/optimizer.h"

namespace mhc::bench {

namespace {
double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}
ReduceMode mode_of(const std::string& s) {
  if (s == "overlap") return ReduceMode::Overlap;
  if (s == "end") return ReduceMode::End;
  if (s == "blocking") return ReduceMode::Blocking;
  throw std::invalid_argument("--reduce: overlap | end | blocking, not '" + s + "'");
}
}  // namespace

int rank_worker(const RanksBenchArgs& a) {
  std::unique_ptr<ProcessGroup> group = ProcessGroup::from_environment();
  const Device device = a.device == "cuda" ? Device::cuda : Device::cpu;
  if (device == Device::cuda) use_gpu_of_local_rank(*group);
  TrainConfig cfg = preset(a.preset);
  if (a.batch > 0) cfg.optim.batch_size = a.batch;
  cfg.model.vocab_size = a.vocab;
  cfg.model.site.kind = parse_residual_kind(a.variant);
  cfg.model.site.streams = cfg.model.site.kind == ResidualKind::Residual ? 1 : a.streams;
  const int64_t B = cfg.optim.batch_size, T = cfg.model.block_size;
  Transformer model(cfg.model, 1);
  model.to(device);
  model.set_compute_dtype(a.dtype == "bf16" ? DType::bf16 : DType::f32);
  AdamW opt(model.parameters(), AdamWConfig{cfg.optim.beta1, cfg.optim.beta2, cfg.optim.eps, cfg.optim.weight_decay});
  std::unique_ptr<GradReducer> reducer;
  if (group->uses_mpi()) {
    std::vector<Tensor*> params;
    for (auto& p : model.parameters()) params.push_back(p.tensor);
    reducer = std::make_unique<GradReducer>(
        params, group->size(), group->transport(device), ReducerOptions{a.bucket_mb, mode_of(a.reduce)},
        [&](std::vector<int64_t>& v) { group->broadcast(v.data(), v.size() * sizeof(int64_t)); });
  }
  // Each rank its own tokens.
  const auto [x, y] = random_batch(B, T, a.vocab, 7 + static_cast<uint64_t>(group->rank()), device);
  Backend& be = backend_for(device);
  // The trainer's step without the data pipeline and the MoE bias update
  // (a dense preset by default): forward, backward with the bucketed
  // reduction, the global loss, clipping, AdamW.
  std::vector<double> step_ms, finish_ms;
  int64_t in_backward = 0;
  for (int64_t i = 0; i < a.warmup + a.steps; ++i) {
    be.synchronize();
    const auto t0 = std::chrono::steady_clock::now();
    DropoutSeeds::begin_step(1, static_cast<uint64_t>(i));
    opt.zero_grad();
    Tensor loss = model.loss(x, y);
    if (reducer) reducer->begin();
    loss.backward();
    const auto t1 = std::chrono::steady_clock::now();
    if (reducer) reducer->finish();
    be.synchronize();
    const auto t2 = std::chrono::steady_clock::now();
    std::vector<double> l{loss.item()};  // the global loss, as the trainer reads it
    group->sum(l);
    const double norm = opt.grad_norm();
    opt.step(1e-4, norm > 1.0 ? 1.0 / norm : 1.0);
    be.synchronize();
    const auto t3 = std::chrono::steady_clock::now();
    if (i < a.warmup) continue;
    step_ms.push_back(std::chrono::duration<double, std::milli>(t3 - t0).count());
    finish_ms.push_back(std::chrono::duration<double, std::milli>(t2 - t1).count());
    if (reducer) in_backward = reducer->started_in_backward();
  }
  if (group->is_root()) {
    Json r;
    r["ranks"] = group->size();
    r["mpi"] = group->uses_mpi();
    r["batch"] = B;
    r["tokens"] = B * T;
    r["ms"] = median(step_ms);
    r["finish_ms"] = median(finish_ms);
    r["buckets"] = reducer ? static_cast<int64_t>(reducer->plan().buckets.size()) : 0;
    r["in_backward"] = in_backward;
    fmt::print("ranks-result {}\n", json::dump(r));
    std::fflush(stdout);
  }
  return 0;
}

namespace {

struct RanksConfig {
  std::string label;
  int ranks;
  bool mpi;
  std::string reduce;
  double bucket_mb;
};

// The configurations to time: one process without MPI (the baseline), then
// per rank count K the ceiling (K processes alone, CPU only) and the three
// ways of reducing gradients.
std::vector<RanksConfig> ranks_configs(const RanksBenchArgs& a) {
  std::vector<RanksConfig> configs{{"one process, no MPI", 1, false, "overlap", a.bucket_mb}};
  for (int k : a.ranks) {
    if (k < 1) throw std::invalid_argument(fmt::format("--ranks: {} is not a rank count", k));
    const std::string via = a.device == "cuda" ? "NCCL" : "MPI";
    if (k == 1) {
      configs.push_back({"mpirun -np 1 (" + via + " path)", 1, true, "overlap", a.bucket_mb});
      continue;
    }
    // The ceiling: K copies of the one-process step side by side, no communication
    // (on a VM whose cores share caches, memory or a host core, below K x).
    if (a.device != "cuda")
      configs.push_back({fmt::format("{} processes alone (ceiling)", k), k, false, "overlap", a.bucket_mb});
    configs.push_back({fmt::format("{} ranks, buckets overlapped", k), k, true, "overlap", a.bucket_mb});
    configs.push_back({fmt::format("{} ranks, buckets after backward", k), k, true, "end", a.bucket_mb});
    configs.push_back({fmt::format("{} ranks, per parameter, blocking", k), k, true, "blocking", 0.0});
  }
  return configs;
}

int count_gpus() {
  int gpus = 0;
  if (FILE* p = popen("nvidia-smi -L 2>/dev/null | grep -c '^GPU'", "r")) {
    if (fscanf(p, "%d", &gpus) != 1) gpus = 0;
    pclose(p);
  }
  return gpus;
}

// The shell command that runs configuration c: mpirun with c.ranks ranks, or
// c.ranks independent copies at once, each pinned to its core like mpirun's ranks.
std::string ranks_command(const std::string& self, const RanksBenchArgs& a, const RanksConfig& c, unsigned cores) {
  const std::string worker = fmt::format(
      "'{}' --rank-worker --preset {} --device {} --dtype {} --variants {} --streams {} --steps {} --warmup {} "
      "--vocab {} --batch {} --bucket-mb {} --reduce {}",
      self, a.preset, a.device, a.dtype, a.variant, a.streams, a.steps, a.warmup, a.vocab, a.batch, c.bucket_mb,
      c.reduce);
  if (c.mpi)
    return fmt::format(
        "OMP_NUM_THREADS=1 mpirun --allow-run-as-root --oversubscribe --bind-to {} -x OMP_NUM_THREADS "
        "-np {} {} 2>&1",
        static_cast<unsigned>(c.ranks) <= cores ? "core" : "none", c.ranks, worker);
  std::string cmd;
  for (int i = 0; i < c.ranks; ++i)
    cmd += fmt::format("OMP_NUM_THREADS=1 {}{} 2>&1 & ",
                       static_cast<unsigned>(c.ranks) <= cores && c.ranks > 1 ? fmt::format("taskset -c {} ", i) : "",
                       worker);
  return "(" + cmd + "wait)";
}

// Runs the command; returns the workers' result lines (one per process
// alone; rank 0's under mpirun), or throws with their output.
std::vector<Json> run_workers(const std::string& cmd, size_t expected) {
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) throw std::runtime_error("--ranks: cannot start: " + cmd);
  std::string out;
  std::vector<Json> results;
  char buf[4096];
  while (fgets(buf, sizeof buf, pipe)) {
    const std::string line(buf);
    out += line;
    if (line.rfind("ranks-result ", 0) == 0) results.push_back(json::parse(line.substr(13), "worker output"));
  }
  const int status = pclose(pipe);
  if (status != 0 || results.size() != expected)
    throw std::runtime_error(fmt::format("--ranks: `{}` failed (status {}):\n{}", cmd, status, out));
  return results;
}

}  // namespace

int ranks_bench(const std::string& self, const RanksBenchArgs& a) {
  const std::vector<RanksConfig> configs = ranks_configs(a);
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  const int gpus = a.device == "cuda" ? count_gpus() : 0;  // --device cuda: one rank per GPU
  fmt::print(
      "data-parallel training step, preset {}, {} {}, variant {}, batch {} per rank, {} timed steps after {}; "
      "1 CPU thread per process, {} cores\n",
      a.preset, a.device, a.dtype, a.variant, a.batch > 0 ? a.batch : preset(a.preset).optim.batch_size, a.steps,
      a.warmup, cores);
  // OpenMPI settings change the figures (e.g. its shared-memory single-copy mechanism): say which are set.
  for (char** e = environ; *e; ++e)
    if (std::string(*e).rfind("OMPI_MCA_", 0) == 0) fmt::print("  {}\n", *e);
  fmt::print("{:<36} {:>6} {:>9} {:>11} {:>9} {:>12} {:>11}\n", "configuration", "ranks", "ms/step", "reduce ms",
             "buckets", "tokens/s", "efficiency");
  double base_tok_s = 0;
  for (const RanksConfig& c : configs) {
    if (a.device == "cuda" && c.ranks > std::max(gpus, 1)) {
      fmt::print("{:<36} {:>6}   skipped: this machine has {} GPU(s)\n", c.label, c.ranks, gpus);
      continue;
    }
    const std::vector<Json> results =
        run_workers(ranks_command(self, a, c, cores), c.mpi ? 1u : static_cast<size_t>(c.ranks));
    const Json& r = results.front();
    double ms = 0;  // side by side: the slowest copy sets the pace
    for (const Json& each : results) ms = std::max(ms, each["ms"].get<double>());
    const double tok_s = static_cast<double>(r["tokens"].get<int64_t>() * c.ranks) / (ms / 1000.0);
    if (!c.mpi && c.ranks == 1) base_tok_s = tok_s;
    // Weak scaling: K ranks each with the baseline's batch; 1.0 = K times the throughput.
    const double eff = tok_s / (static_cast<double>(c.ranks) * base_tok_s);
    fmt::print(
        "{:<36} {:>6} {:>9.2f} {:>11} {:>9} {:>12.0f} {:>10.3f}x\n", c.label, c.ranks, ms,
        c.mpi ? fmt::format("{:.2f}", r["finish_ms"].get<double>()) : std::string("-"),
        c.mpi ? fmt::format("{}/{}", r["in_backward"].get<int64_t>(), r["buckets"].get<int64_t>()) : std::string("-"),
        tok_s, eff);
  }
  fmt::print(
      "(median step of rank 0; reduce ms: the part of the step spent after backward finishing the reductions\n"
      " (exposed communication and the copies back); buckets: started during backward / total;\n"
      " efficiency: tokens/s over ranks x the one-process tokens/s, each rank with the same batch;\n"
      " K processes alone: the slowest of K independent copies, what the machine allows without communication)\n");
  return 0;
}

}  // namespace mhc::bench
