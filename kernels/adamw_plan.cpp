// adamw_plan.cpp — argument checks and the chunk table of a multi-tensor AdamW; see the header.
#include "kernels/adamw_plan.h"

#include <limits>
#include <stdexcept>
#include <string>

namespace mhc {

namespace {

[[noreturn]] void refuse(const char* who, const std::string& what) {
  throw std::invalid_argument(std::string(who) + ": " + what);
}

}  // namespace

void check_adamw_list(const char* who, const AdamWTensor* list, int64_t count, const AdamWHyper& h) {
  if (count < 0) refuse(who, "tensor count " + std::to_string(count) + " is negative");
  if (count > 0 && !list) refuse(who, "the tensor list is null but count is " + std::to_string(count));
  if (!(h.bc1 > 0.f) || !(h.bc2 > 0.f))
    refuse(who, "bias corrections bc1 = " + std::to_string(h.bc1) + ", bc2 = " + std::to_string(h.bc2) +
                    " must be positive (1 - beta^t for a step t >= 1)");
  for (int64_t i = 0; i < count; ++i) {
    const AdamWTensor& t = list[i];
    const std::string at = "tensor " + std::to_string(i) + " of " + std::to_string(count);
    if (t.n < 0) refuse(who, at + " has n = " + std::to_string(t.n) + " elements");
    if (t.n > 0 && (!t.param || !t.grad || !t.m || !t.v))
      refuse(who, at + " (n = " + std::to_string(t.n) + ") has a null param, grad, m or v pointer");
  }
}

std::vector<AdamWLaunch> plan_adamw_launches(const AdamWTensor* list, int64_t count, const AdamWHyper& h,
                                             int64_t chunk_elems, int64_t max_slots, int64_t max_chunks) {
  const char* who = "adamw_multi";
  check_adamw_list(who, list, count, h);
  if (chunk_elems < 1 || max_slots < 1 || max_chunks < 1)
    refuse(who, "chunk size " + std::to_string(chunk_elems) + ", slots " + std::to_string(max_slots) + " and chunks " +
                    std::to_string(max_chunks) + " per launch must be positive");
  std::vector<AdamWLaunch> out;
  for (int64_t i = 0; i < count; ++i) {
    const int64_t n = list[i].n;
    if (n == 0) continue;
    const int64_t chunks = (n - 1) / chunk_elems + 1;
    if (chunks > std::numeric_limits<int32_t>::max())
      refuse(who, "tensor " + std::to_string(i) + " has " + std::to_string(n) + " elements, more than " +
                      std::to_string(std::numeric_limits<int32_t>::max()) + " chunks of " +
                      std::to_string(chunk_elems));
    for (int64_t c = 0; c < chunks; ++c) {
      if (out.empty() || static_cast<int64_t>(out.back().chunks.size()) == max_chunks ||
          (out.back().tensors.back() != i && static_cast<int64_t>(out.back().tensors.size()) == max_slots))
        out.emplace_back();
      AdamWLaunch& l = out.back();
      if (l.tensors.empty() || l.tensors.back() != i) l.tensors.push_back(i);
      l.chunks.push_back({static_cast<int32_t>(l.tensors.size() - 1), static_cast<int32_t>(c)});
    }
  }
  return out;
}

}  // namespace mhc
