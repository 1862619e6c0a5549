// dry_cuda_backend.h — a stand-in for the CUDA backend, for tests that must
// run without a GPU. Every call goes through the CUDA contract first
// (kernels/cuda_contract.h, exactly the checks CudaBackend makes) and is
// counted per entry point and dtype; a contract violation throws, as it would
// on the GPU. It does no arithmetic:
//   * memory is host memory (zeroed, 256-byte aligned like cudaMalloc's);
//   * data movement (fill, copy_strided, cast, gather, the copies) is real;
//   * compute outputs are left as they are (zeros in fresh memory), except
//     where host code reads results back and needs them valid: topk writes
//     distinct indices (r + j) mod cols, moe_dispatch groups the assignments
//     by expert for real, count_not_equal counts for real;
//   * prefers_fused_mhc() is true, as on CUDA.
// DryCudaScope installs one for Device::cuda (set_cuda_backend_for_testing)
// for its lifetime; every tensor on Device::cuda must be gone before it ends.
#pragma once
#include <array>
#include <map>
#include <set>
#include <string>

#include "kernels/backend.h"

namespace mhc::test {

class DryCudaBackend final : public Backend {
 public:
  // How often the contract of an entry point was checked with dtype t (the
  // first dtype argument; f32 for adamw_multi, i32 for count_not_equal and moe_dispatch).
  int64_t calls(const std::string& op, DType t) const;
  int64_t calls(const std::string& op) const;  // with any dtype
  std::set<std::string> ops_called() const;
  std::string report() const;  // "op: f32 ×3, bf16 ×1; ..." for failure messages
  void reset_counts() { calls_.clear(); }

#define MHC_BACKEND_METHOD(ret, name, params, qualifier) ret name params qualifier override;
#define MHC_BACKEND_OP(name, params, args) void name params override;
#include "kernels/backend_ops.def"

 private:
  void record(const char* op, DType t) { ++calls_[op][static_cast<size_t>(t)]; }
  std::map<std::string, std::array<int64_t, 4>> calls_;  // indexed by DType
  AllocatorStats stats_;
};

// Installs `backend` as Device::cuda's backend while in scope.
class DryCudaScope {
 public:
  explicit DryCudaScope(DryCudaBackend& backend) : previous_(set_cuda_backend_for_testing(&backend)) {}
  ~DryCudaScope() { set_cuda_backend_for_testing(previous_); }
  DryCudaScope(const DryCudaScope&) = delete;
  DryCudaScope& operator=(const DryCudaScope&) = delete;

 private:
  Backend* previous_;
};

}  // namespace mhc::test
