// moe_dispatch.cpp — the CPU grouping of a mixture of experts' (token,
// expert) assignments by expert: a stable counting sort, so that each
// expert's tokens are contiguous and in token order (layers/moe.cpp).
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/cpu/cpu_backend.h"

namespace mhc {

void CpuBackend::moe_dispatch(const int32_t* expert_of, int64_t tokens, int64_t k, int64_t E, int32_t* order,
                              int32_t* token, int32_t* offsets) {
  // A counting sort: count per expert, prefix-sum into offsets, then place
  // assignments in increasing index (stable).
  const int64_t count = tokens * k;
  for (int64_t e = 0; e <= E; ++e) offsets[e] = 0;
  for (int64_t a = 0; a < count; ++a) {
    const int32_t e = expert_of[a];
    if (e < 0 || e >= E)
      throw std::out_of_range("moe_dispatch: expert " + std::to_string(e) + " outside [0, " + std::to_string(E) + ")");
    offsets[e + 1]++;
  }
  for (int64_t e = 0; e < E; ++e) offsets[e + 1] += offsets[e];
  std::vector<int32_t> next(offsets, offsets + E);
  for (int64_t a = 0; a < count; ++a) {
    const int32_t j = next[expert_of[a]]++;
    order[j] = static_cast<int32_t>(a);
    token[j] = static_cast<int32_t>(a / k);
  }
}

}  // namespace mhc
