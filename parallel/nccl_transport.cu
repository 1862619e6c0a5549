// nccl_transport.cu — see nccl_transport.h. One thread per element of the
// rank's own chunk in the averaging kernel; everything else is NCCL calls.
#include <cuda_runtime.h>
#include <fmt/core.h>

#include <cstdlib>
#include <stdexcept>
#include <vector>

#include "parallel/nccl_transport.h"
#include "parallel/process_group.h"

#ifdef MHC_HAVE_NCCL
#include <nccl.h>
#endif

namespace mhc {

namespace {
void check_cuda(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw std::runtime_error(fmt::format("CUDA: {} failed: {}", what, cudaGetErrorString(e)));
}
}  // namespace

void use_gpu_of_local_rank(const ProcessGroup& group) {
  if (!group.uses_mpi()) return;
  int count = 0;
  check_cuda(cudaGetDeviceCount(&count), "cudaGetDeviceCount");
  const int gpu = gpu_for_rank(count, group.rank(), group.local_rank(), group.local_size(),
                               std::getenv("CUDA_VISIBLE_DEVICES") != nullptr);
  check_cuda(cudaSetDevice(gpu), "cudaSetDevice");
}

#ifdef MHC_HAVE_NCCL

namespace {

void check_nccl(ncclResult_t r, const char* what) {
  if (r != ncclSuccess) throw std::runtime_error(fmt::format("NCCL: {} failed: {}", what, ncclGetErrorString(r)));
}

// own[i] = (Σ_r staging[r·chunk + i]) / K, r = 0..K-1 in order.
__global__ void rank_ordered_mean(const float* staging, float* own, long long chunk, int ranks) {
  const long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x;
  if (i >= chunk) return;
  float s = staging[i];
  for (int r = 1; r < ranks; ++r) s += staging[r * chunk + i];
  own[i] = s / static_cast<float>(ranks);
}

class NcclTransport final : public ReduceTransport {
 public:
  explicit NcclTransport(ProcessGroup& group) : rank_(group.rank()), size_(group.size()) {
    ncclUniqueId id{};
    if (group.is_root()) check_nccl(ncclGetUniqueId(&id), "ncclGetUniqueId");
    group.broadcast(&id, sizeof id);
    check_nccl(ncclCommInitRank(&comm_, size_, id, rank_), "ncclCommInitRank");
    check_cuda(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
    check_cuda(cudaEventCreateWithFlags(&queued_, cudaEventDisableTiming), "cudaEventCreate");
    check_cuda(cudaEventCreateWithFlags(&reduced_, cudaEventDisableTiming), "cudaEventCreate");
  }
  ~NcclTransport() override {
    cudaStreamSynchronize(stream_);
    for (auto& s : staging_) cudaFree(s.ptr);
    cudaEventDestroy(queued_);
    cudaEventDestroy(reduced_);
    cudaStreamDestroy(stream_);
    ncclCommDestroy(comm_);
  }
  void start(int slot, float* buffer, int64_t n) override {
    if (n % size_ != 0)
      throw std::logic_error(fmt::format("NcclTransport: length {} is not a multiple of {} ranks", n, size_));
    const int64_t chunk = n / size_;
    if (static_cast<size_t>(slot) >= staging_.size()) staging_.resize(static_cast<size_t>(slot) + 1);
    Staging& st = staging_[static_cast<size_t>(slot)];
    if (st.floats < n) {  // once per slot: the bucket sizes do not change between steps
      if (st.ptr) {
        check_cuda(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
        cudaFree(st.ptr);
      }
      check_cuda(cudaMalloc(&st.ptr, static_cast<size_t>(n) * sizeof(float)), "cudaMalloc (NCCL staging)");
      st.floats = n;
    }
    // After the gradients were packed on the compute (legacy default) stream.
    check_cuda(cudaEventRecord(queued_, cudaStreamLegacy), "cudaEventRecord");
    check_cuda(cudaStreamWaitEvent(stream_, queued_, 0), "cudaStreamWaitEvent");
    check_nccl(ncclGroupStart(), "ncclGroupStart");
    for (int peer = 0; peer < size_; ++peer) {
      check_nccl(ncclSend(buffer + peer * chunk, static_cast<size_t>(chunk), ncclFloat, peer, comm_, stream_),
                 "ncclSend");
      check_nccl(ncclRecv(st.ptr + peer * chunk, static_cast<size_t>(chunk), ncclFloat, peer, comm_, stream_),
                 "ncclRecv");
    }
    check_nccl(ncclGroupEnd(), "ncclGroupEnd");
    float* own = buffer + rank_ * chunk;
    if (chunk > 0) {
      const int threads = 256;
      const auto blocks = static_cast<unsigned>((chunk + threads - 1) / threads);
      rank_ordered_mean<<<blocks, threads, 0, stream_>>>(st.ptr, own, chunk, size_);
      check_cuda(cudaGetLastError(), "rank_ordered_mean");
    }
    check_nccl(ncclAllGather(own, buffer, static_cast<size_t>(chunk), ncclFloat, comm_, stream_), "ncclAllGather");
    started_ = true;
  }
  void wait_all() override {
    if (!started_) return;
    check_cuda(cudaEventRecord(reduced_, stream_), "cudaEventRecord");
    check_cuda(cudaStreamWaitEvent(cudaStreamLegacy, reduced_, 0), "cudaStreamWaitEvent");
    started_ = false;
  }

 private:
  struct Staging {
    float* ptr = nullptr;
    int64_t floats = 0;
  };
  int rank_, size_;
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
  cudaEvent_t queued_ = nullptr, reduced_ = nullptr;
  std::vector<Staging> staging_;
  bool started_ = false;
};

}  // namespace

std::unique_ptr<ReduceTransport> make_nccl_transport(ProcessGroup& group) {
  return std::make_unique<NcclTransport>(group);
}

#else  // CUDA without NCCL

std::unique_ptr<ReduceTransport> make_nccl_transport(ProcessGroup&) {
  throw std::runtime_error(
      "data-parallel training on CUDA needs NCCL, and this build found no nccl.h and libnccl.so under the CUDA "
      "toolkit: install NCCL there (or into the system) and reconfigure");
}

#endif

}  // namespace mhc
