// nccl_stub.cpp — builds without CUDA: no GPU to choose, no NCCL.
#include <stdexcept>

#include "parallel/nccl_transport.h"
#include "parallel/process_group.h"

namespace mhc {

void use_gpu_of_local_rank(const ProcessGroup&) {}
std::unique_ptr<ReduceTransport> make_nccl_transport(ProcessGroup&) {
  throw std::runtime_error("data-parallel training on CUDA needs NCCL, and this build has no CUDA backend");
}

}  // namespace mhc
