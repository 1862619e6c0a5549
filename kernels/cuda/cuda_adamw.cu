// cuda_adamw.cu — the multi-tensor AdamW update. One block per chunk of the
// host-built table (kernels/adamw_plan.h), each thread striding through its
// chunk's elements; the launch's tensors and chunks travel by value in the
// kernel argument (__grid_constant__, so it is read in place, never copied),
// so a whole model's update needs no table in device memory and one launch,
// or a few. f32 throughout, the same expression order as the CPU (sqrtf and
// division are IEEE-exact here); the bf16 working copy rounds like cast. No
// shared memory. CPU reference: kernels/cpu/adamw.cpp; compared with it in
// tests/test_cuda_backend.cpp.
#include "kernels/adamw_plan.h"
#include "kernels/cuda/cuda_helpers.cuh"
#include "kernels/cuda/cuda_profile.h"

namespace mhc {

using namespace cuda;

namespace {

// One launch's share of an adamw_multi call. Kernel arguments may take up to
// 32764 bytes (CUDA 12.1 and later, compute capability 7.0 and up).
struct AdamWLaunchArgs {
  AdamWHyper h;
  int32_t chunks = 0;
  AdamWTensor slot[kAdamWMaxSlots];
  AdamWChunk chunk[kAdamWMaxChunks];
};
static_assert(sizeof(AdamWLaunchArgs) <= 32764, "adamw_multi: launch table exceeds the kernel argument space");

__global__ void adamw_multi_kernel(const __grid_constant__ AdamWLaunchArgs args) {
  const AdamWChunk c = args.chunk[blockIdx.x];
  const AdamWTensor& t = args.slot[c.slot];
  const AdamWHyper& h = args.h;
  const int64_t begin = static_cast<int64_t>(c.index) * kAdamWChunkElems;
  const int64_t end = min(t.n, begin + kAdamWChunkElems);
  // Distinct arrays: __restrict__ lets loads move past the stores of the previous iteration.
  float* __restrict__ param = t.param;
  const float* __restrict__ grad = t.grad;
  float* __restrict__ m = t.m;
  float* __restrict__ v = t.v;
  bfloat* __restrict__ working = reinterpret_cast<bfloat*>(t.working);
  const float wd = t.weight_decay;
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
    const float g = grad[i] * h.grad_scale;
    const float mi = h.beta1 * m[i] + (1.f - h.beta1) * g;
    const float vi = h.beta2 * v[i] + (1.f - h.beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    const float update = (mi / h.bc1) / (sqrtf(vi / h.bc2) + h.eps);
    const float p = param[i] - h.lr * (wd * param[i] + update);
    param[i] = p;
    if (working) working[i] = __float2bfloat16_rn(p);
  }
}

}  // namespace

void CudaBackend::adamw_multi(const AdamWTensor* list, int64_t count, const AdamWHyper& h) {
  cuda_contract::adamw_multi(list, count, h);
  MHC_CUDA_PROFILE("adamw_multi");
  // The table is small (kernel arguments); building it is host work of
  // O(chunks), with no device allocation and no synchronisation.
  for (const AdamWLaunch& l : plan_adamw_launches(list, count, h)) {
    AdamWLaunchArgs args;
    args.h = h;
    args.chunks = static_cast<int32_t>(l.chunks.size());
    for (size_t s = 0; s < l.tensors.size(); ++s) args.slot[s] = list[l.tensors[s]];
    for (size_t c = 0; c < l.chunks.size(); ++c) args.chunk[c] = l.chunks[c];
    adamw_multi_kernel<<<static_cast<unsigned>(l.chunks.size()), kThreads>>>(args);
    MHC_CUDA_CHECK_LAUNCH();
  }
}

}  // namespace mhc
