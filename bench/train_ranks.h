// train_ranks.h — bench_train_step --ranks: the training step of K
// data-parallel ranks (mpirun), against one process in the same run.
#pragma once
#include <string>
#include <vector>

namespace mhc::bench {

struct RanksBenchArgs {
  std::string preset = "cpu-char", device = "cpu", dtype = "f32", variant = "residual";
  int64_t streams = 4, steps = 20, warmup = 3, vocab = 65, batch = 0;
  std::vector<int> ranks = {1, 2};
  // Worker only (one rank, started by mpirun or directly for the baseline):
  double bucket_mb = 1;
  std::string reduce = "overlap";
};

// The parent: starts `self` once without MPI (the baseline: one process) and
// under mpirun for each K (K = 1 through MPI or NCCL: the overhead of the
// data-parallel path; K > 1 with each reduction mode), then prints ms/step,
// the exposed reduction time, and scaling efficiency. Every process runs one
// CPU thread (OMP_NUM_THREADS=1), so K ranks use K cores.
int ranks_bench(const std::string& self, const RanksBenchArgs& args);

// One rank: times `steps` steps after `warmup`; rank 0 prints one line
// "ranks-result {json}" for the parent.
int rank_worker(const RanksBenchArgs& args);

}  // namespace mhc::bench
