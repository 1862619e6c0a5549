// process_group.h — the processes (ranks) of one data-parallel job, and the
// collectives the trainer needs between them.
//
// A plain `mhc train` is a group of one: no MPI is initialised and every
// collective is the identity. Under mpirun (launch.h), from_environment()
// initialises MPI once; the group finalises it when it is destroyed.
//
// Every sum is deterministic by construction, whatever algorithm MPI picks:
// each element is added by one rank, over the contributions of ranks
// 0, 1, ..., K-1 in that order. So the same job gives the same bits on every
// run, and a job of one rank gives exactly a single process's bits.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kernels/dtype.h"
#include "parallel/launch.h"

namespace mhc {

// Averages flat f32 buffers over the ranks (each element: the rank-ordered
// sum divided by K). The buffers live on the transport's device; a buffer's
// length is a multiple of K. Reductions run in the order they were started;
// a started buffer must not be touched until wait_all() returns.
class ReduceTransport {
 public:
  virtual ~ReduceTransport() = default;
  // Starts averaging buffer (n floats); `slot` names it (the bucket index),
  // so that scratch space is set up once per slot and reused every step.
  virtual void start(int slot, float* buffer, int64_t n) = 0;
  // Gives started reductions a chance to progress (called during backward).
  virtual void poll() {}
  // Completes every started reduction, in the order started.
  virtual void wait_all() = 0;
};

class ProcessGroup {
 public:
  // One process, no MPI.
  static std::unique_ptr<ProcessGroup> single();
  // From this process's environment: single() unless an MPI launcher started
  // it; then MPI is initialised. Throws, saying what is missing, when the
  // launcher started several processes and this build has no MPI.
  static std::unique_ptr<ProcessGroup> from_environment();
  ~ProcessGroup();
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  int rank() const { return info_.rank; }
  int size() const { return info_.size; }
  int local_rank() const { return info_.local_rank; }
  int local_size() const { return info_.local_size; }
  bool uses_mpi() const { return impl_ != nullptr; }  // launched by MPI, even as one rank
  bool is_root() const { return info_.rank == 0; }

  // values[i] := Σ over ranks (in rank order) of values[i]; the same length on every rank.
  void sum(std::vector<double>& values);
  // Every rank's value, indexed by rank.
  std::vector<uint64_t> gather(uint64_t value);
  // Rank 0's bytes into `data` on every rank (the same `bytes` everywhere).
  void broadcast(void* data, size_t bytes);
  // Returns when every rank has called it. Before a rank exits with a
  // non-zero status that all share (an interrupt, a divergence): mpirun ends
  // the whole job at the first such exit, and rank 0 may still be writing.
  void barrier();
  // Ends every process of the job now, with exit status `code` (MPI_Abort);
  // a group of one exits the process.
  [[noreturn]] void abort(int code);

  // The gradient transport for tensors on `device`: MPI over host memory for
  // the CPU, NCCL for CUDA. Throws, naming what this build lacks.
  std::unique_ptr<ReduceTransport> transport(Device device);

  struct Impl;  // MPI state (process_group.cpp)
 private:
  ProcessGroup() = default;
  LaunchInfo info_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mhc
