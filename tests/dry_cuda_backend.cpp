// dry_cuda_backend.cpp — see dry_cuda_backend.h. Each entry point: the CUDA
// contract check, the count, and (only where the header says so) real work.
#include "dry_cuda_backend.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

#include "kernels/cuda_contract.h"

namespace mhc::test {

namespace {
constexpr size_t kAlign = 256;  // cudaMalloc's alignment
Backend& host() { return backend_for(Device::cpu); }
}  // namespace

int64_t DryCudaBackend::calls(const std::string& op, DType t) const {
  auto it = calls_.find(op);
  return it == calls_.end() ? 0 : it->second[static_cast<size_t>(t)];
}

int64_t DryCudaBackend::calls(const std::string& op) const {
  int64_t total = 0;
  for (DType t : {DType::f32, DType::f64, DType::bf16, DType::i32}) total += calls(op, t);
  return total;
}

std::set<std::string> DryCudaBackend::ops_called() const {
  std::set<std::string> out;
  for (const auto& [op, counts] : calls_) out.insert(op);
  return out;
}

std::string DryCudaBackend::report() const {
  std::string out;
  for (const auto& [op, counts] : calls_) {
    out += op + ":";
    for (DType t : {DType::f32, DType::f64, DType::bf16, DType::i32})
      if (counts[static_cast<size_t>(t)])
        out += std::string(" ") + dtype_name(t) + " ×" + std::to_string(counts[static_cast<size_t>(t)]);
    out += "; ";
  }
  return out;
}

// ---- memory ------------------------------------------------------------------------------

void* DryCudaBackend::allocate(size_t bytes) {
  const size_t padded = (std::max<size_t>(bytes, 1) + kAlign - 1) / kAlign * kAlign;
  void* p = std::aligned_alloc(kAlign, padded);
  if (!p) throw std::bad_alloc();
  std::memset(p, 0, padded);
  ++stats_.requests;
  ++stats_.system_allocations;
  stats_.bytes_in_use += static_cast<int64_t>(bytes);
  stats_.bytes_reserved += static_cast<int64_t>(bytes);
  stats_.peak_bytes_in_use = std::max(stats_.peak_bytes_in_use, stats_.bytes_in_use);
  return p;
}

void DryCudaBackend::deallocate(void* ptr, size_t bytes) {
  std::free(ptr);
  ++stats_.system_frees;
  stats_.bytes_in_use -= static_cast<int64_t>(bytes);
  stats_.bytes_reserved -= static_cast<int64_t>(bytes);
}

void DryCudaBackend::copy_to_host(void* host_dst, const void* src, size_t bytes) {
  if (bytes) std::memmove(host_dst, src, bytes);
}
void DryCudaBackend::copy_from_host(void* dst, const void* host_src, size_t bytes) {
  if (bytes) std::memmove(dst, host_src, bytes);
}
void DryCudaBackend::copy_within(void* dst, const void* src, size_t bytes) {
  if (bytes) std::memmove(dst, src, bytes);
}

void DryCudaBackend::reset_peak_memory() { stats_.peak_bytes_in_use = stats_.bytes_in_use; }
AllocatorStats DryCudaBackend::allocator_stats() const { return stats_; }
void DryCudaBackend::empty_cache() {}
void DryCudaBackend::synchronize() {}
Device DryCudaBackend::device() const { return Device::cuda; }
bool DryCudaBackend::prefers_fused_mhc() const { return true; }

// ---- compute: the contract, the count, and an effect chosen by overload ----------------------

namespace {

// One tag type per primitive, so that its effect below is picked by overload.
namespace op {
#define MHC_BACKEND_OP(name, params, args) \
  struct name {};
#include "kernels/backend_ops.def"
}  // namespace op

// The dtype a call is counted under: its first DType argument (GemmArgs's
// for gemm); f32 for adamw_multi, i32 for the integer-only primitives.
struct CountedDType {
  DType t = DType::i32;
  bool found = false;
  void see(DType d) {
    if (!found) t = d, found = true;
  }
  void see(const GemmArgs& g) { see(g.dtype); }
  void see(const AdamWTensor*) { see(DType::f32); }
  template <class X>
  void see(const X&) {}
};
template <class... A>
DType counted_dtype(const A&... a) {
  CountedDType c;
  (c.see(a), ...);
  return c.t;
}

// Most primitives are checked and counted, not computed.
template <class Op, class... A>
void effect(Op, const A&...) {}

// Data movement is real.
void effect(op::fill, DType t, void* y, int64_t n, double value) { host().fill(t, y, n, value); }
void effect(op::copy_strided, DType t, const void* x, const Layout& lx, void* y, const Layout& ly) {
  host().copy_strided(t, x, lx, y, ly);
}
void effect(op::cast, DType from, const void* x, DType to, void* y, int64_t n) { host().cast(from, x, to, y, n); }
void effect(op::gather, DType t, const void* x, const int32_t* idx, void* y, int64_t outer, int64_t dim, int64_t inner,
            int64_t n_idx) {
  host().gather(t, x, idx, y, outer, dim, inner, n_idx);
}

// Results host code reads back: valid but trivial.
void effect(op::count_not_equal, const int32_t* x, int64_t n, int32_t value, float* out) {
  const int64_t c = std::count_if(x, x + n, [value](int32_t v) { return v != value; });
  out[0] = static_cast<float>(std::max<int64_t>(c, 1));
}

void effect(op::topk, DType, const void*, void*, int32_t* indices, int64_t rows, int64_t cols, int64_t k) {
  // Distinct, in range, and spread over the columns (MoE: every expert gets tokens).
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < k; ++j) indices[r * k + j] = static_cast<int32_t>((r + j) % cols);
}

void effect(op::moe_dispatch, const int32_t* expert_of, int64_t tokens, int64_t k, int64_t E, int32_t* order,
            int32_t* token, int32_t* offsets) {
  // Stable grouping by expert, as backend_ops.def specifies (out-of-range experts last, as on CUDA).
  const int64_t count = tokens * k;
  int64_t j = 0;
  for (int64_t e = 0; e < E; ++e) {
    offsets[e] = static_cast<int32_t>(j);
    for (int64_t a = 0; a < count; ++a)
      if (expert_of[a] == e) order[j++] = static_cast<int32_t>(a);
  }
  offsets[E] = static_cast<int32_t>(j);
  for (int64_t a = 0; a < count; ++a)
    if (expert_of[a] < 0 || expert_of[a] >= E) order[j++] = static_cast<int32_t>(a);
  for (int64_t i = 0; i < count; ++i) token[i] = static_cast<int32_t>(order[i] / k);
}

}  // namespace

#define MHC_BACKEND_OP(name, params, args) \
  void DryCudaBackend::name params {       \
    cuda_contract::name args;              \
    record(#name, counted_dtype args);     \
    effect(op::name{}, MHC_UNPAREN args);  \
  }
#define MHC_UNPAREN(...) __VA_ARGS__
#include "kernels/backend_ops.def"
#undef MHC_UNPAREN

}  // namespace mhc::test
