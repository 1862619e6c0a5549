// bucket_plan.cpp — see bucket_plan.h.
#include "parallel/bucket_plan.h"

#include <fmt/core.h>

#include <stdexcept>

namespace mhc {

BucketPlan plan_buckets(const std::vector<int64_t>& numels, int64_t cap_floats, int ranks) {
  std::vector<int64_t> reverse(numels.size());
  for (size_t i = 0; i < reverse.size(); ++i) reverse[i] = static_cast<int64_t>(reverse.size() - 1 - i);
  return plan_buckets_in_order(numels, reverse, cap_floats, ranks);
}

BucketPlan plan_buckets_in_order(const std::vector<int64_t>& numels, const std::vector<int64_t>& order,
                                 int64_t cap_floats, int ranks) {
  if (ranks < 1) throw std::invalid_argument(fmt::format("plan_buckets: {} ranks; at least 1 is needed", ranks));
  if (cap_floats < 0) throw std::invalid_argument(fmt::format("plan_buckets: negative bucket size {}", cap_floats));
  if (order.size() != numels.size())
    throw std::invalid_argument(
        fmt::format("plan_buckets: an order of {} for {} parameters", order.size(), numels.size()));
  std::vector<bool> seen(numels.size(), false);
  for (int64_t i : order) {
    if (i < 0 || i >= static_cast<int64_t>(numels.size()) || seen[static_cast<size_t>(i)])
      throw std::invalid_argument(fmt::format("plan_buckets: the order lists parameter {} twice or out of range", i));
    seen[static_cast<size_t>(i)] = true;
  }
  BucketPlan plan;
  plan.bucket_of.assign(numels.size(), -1);
  std::vector<std::vector<int64_t>> groups;  // parameter indices per bucket
  int64_t filled = 0;
  for (int64_t i : order) {
    const int64_t n = numels[static_cast<size_t>(i)];
    if (n < 0) throw std::invalid_argument(fmt::format("plan_buckets: parameter {} has {} elements", i, n));
    if (groups.empty() || filled + n > cap_floats) {  // a new bucket (the first one also when it overflows)
      if (groups.empty() || !groups.back().empty()) groups.emplace_back();
      filled = 0;
    }
    groups.back().push_back(i);
    filled += n;
  }
  for (const auto& group : groups) {
    Bucket b;
    int64_t offset = 0;
    for (int64_t p : group) {
      b.entries.push_back({p, offset, numels[static_cast<size_t>(p)], 0});
      offset += numels[static_cast<size_t>(p)];
    }
    for (BucketEntry& e : b.entries) e.flag = offset++;
    b.length = (offset + ranks - 1) / ranks * ranks;
    for (const BucketEntry& e : b.entries)
      plan.bucket_of[static_cast<size_t>(e.param)] = static_cast<int64_t>(plan.buckets.size());
    plan.buckets.push_back(std::move(b));
  }
  return plan;
}

}  // namespace mhc
