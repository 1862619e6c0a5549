// sinkhorn_contract.h — what every Sinkhorn-Knopp kernel (CPU and CUDA, the
// standalone op and the fused mHC gates) accepts, in one place: the matrix
// size n, the iteration count, the exp floor, and the dispatch of a runtime n
// to a compile-time one. See kernels/backend_ops.def for the math.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>
#include <type_traits>

namespace mhc {

inline constexpr int kSinkhornMaxN = 8;
// The most iterations any device runs (--hc.sinkhorn_iters is checked against
// it up front). The CUDA backward keeps the 2·iters·n normalisation sums of one
// matrix in per-thread local memory, which sets the bound; the CPU keeps the
// 2·iters + 1 intermediate matrices per tile. 64 is 3× the paper's t_max = 20,
// and enough for the columns of peaked logits to converge (docs/design.md §4).
inline constexpr int kSinkhornMaxIters = 64;
// P⁰ = exp(max(L − max L, −80)): no row or column can underflow to all zeros.
inline constexpr float kSinkhornExpFloor = 80.f;

// At least one iteration: with none, the output exp(L − max L) would depend
// on the shift, which the backward (like the math of mHC Eq. 9) treats as
// constant — and it would not be a projection at all.
inline void check_sinkhorn_args(const char* op, int64_t n, int iters, int max_iters = kSinkhornMaxIters) {
  if (n < 1 || n > kSinkhornMaxN)
    throw std::invalid_argument(std::string(op) +
                                ": matrices must be n×n with 1 ≤ n ≤ 8, got n = " + std::to_string(n));
  if (iters < 1)
    throw std::invalid_argument(std::string(op) + ": Sinkhorn needs at least 1 iteration, got " +
                                std::to_string(iters));
  if (iters > max_iters)
    throw std::invalid_argument(std::string(op) + ": at most " + std::to_string(max_iters) +
                                " Sinkhorn iterations, got " + std::to_string(iters));
}

// Calls f(std::integral_constant<int, n>{}) for the runtime n in 1..8.
template <class F>
void with_sinkhorn_n(int64_t n, F&& f) {
  switch (n) {
    case 1: f(std::integral_constant<int, 1>{}); return;
    case 2: f(std::integral_constant<int, 2>{}); return;
    case 3: f(std::integral_constant<int, 3>{}); return;
    case 4: f(std::integral_constant<int, 4>{}); return;
    case 5: f(std::integral_constant<int, 5>{}); return;
    case 6: f(std::integral_constant<int, 6>{}); return;
    case 7: f(std::integral_constant<int, 7>{}); return;
    case 8: f(std::integral_constant<int, 8>{}); return;
    default: throw std::invalid_argument("Sinkhorn-Knopp: n = " + std::to_string(n) + " is outside 1..8");
  }
}

}  // namespace mhc
