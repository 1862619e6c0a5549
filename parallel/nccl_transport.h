// nccl_transport.h — gradient reduction between GPUs with NCCL, and the
// choice of GPU for each rank. Defined in nccl_transport.cu in CUDA builds
// (the NCCL parts only where the build found nccl.h and libnccl), and in
// nccl_stub.cpp otherwise.
#pragma once
#include <memory>

namespace mhc {

class ProcessGroup;
class ReduceTransport;

// Makes GPU `local rank` this process's device (before anything else uses
// CUDA): K ranks on one machine use GPUs 0..K-1. A rank that sees a single
// GPU (a scheduler that sets CUDA_VISIBLE_DEVICES per rank) uses it. Throws
// when a machine shows several GPUs but fewer than its ranks. Does nothing
// for a group that is not launched by MPI (a single process keeps the default GPU).
void use_gpu_of_local_rank(const ProcessGroup& group);

// The same rank-ordered mean as the MPI transport (process_group.h), on
// device buffers: NCCL send/receive pairs hand rank r the r-th chunk of every
// rank's buffer, a kernel adds them in rank order and divides by K, and an
// NCCL all-gather returns the averaged chunks to everyone. All of it runs on
// a stream of its own, after the work queued so far on the compute stream,
// so backward goes on meanwhile; wait_all() makes the compute stream wait for
// it without blocking the host (GradReducer::finish reads flags back, which
// waits, only for a bucket holding a parameter without a gradient on this rank).
// Throws, saying so, when the build has no NCCL.
std::unique_ptr<ReduceTransport> make_nccl_transport(ProcessGroup& group);

}  // namespace mhc
