// bucket_plan.h — how gradients are packed into the flat buffers that are
// reduced across ranks.
//
// Backward produces gradients roughly in the reverse of the order in which
// the model registered its parameters (the head's first, the embedding's
// last), so buckets are filled in that reverse order: the first bucket is
// complete early in backward and its reduction overlaps with the rest.
//
// A bucket's buffer (f32) is
//   [ grad of p0 | grad of p1 | ... | one flag per parameter | padding ]
// where a flag is 1 when this rank has a gradient for the parameter this step
// (0: it sends zeros). After the reduction the flag is the mean over ranks,
// so a parameter that no rank touched (an expert no token was routed to)
// keeps no gradient, exactly as in a single process. The length is padded to
// a multiple of the number of ranks: each rank sums one equal chunk.
#pragma once
#include <cstdint>
#include <vector>

namespace mhc {

struct BucketEntry {
  int64_t param = 0;   // index into the parameter list
  int64_t offset = 0;  // first float of its gradient in the buffer
  int64_t numel = 0;
  int64_t flag = 0;  // position of its flag in the buffer
};

struct Bucket {
  std::vector<BucketEntry> entries;  // in the order they were added (reverse registration)
  int64_t length = 0;                // floats, padded: a multiple of the rank count
};

struct BucketPlan {
  std::vector<Bucket> buckets;     // in the order they are reduced
  std::vector<int64_t> bucket_of;  // parameter index -> bucket index
};

// Parameters of `numels` (registration order) into buckets of at most
// `cap_floats` gradient floats each (a parameter larger than that gets a
// bucket of its own; cap_floats = 0: one bucket per parameter), for `ranks`
// ranks. Throws std::invalid_argument for ranks < 1, a negative size or cap.
BucketPlan plan_buckets(const std::vector<int64_t>& numels, int64_t cap_floats, int ranks);

// The same, filling buckets in `order` (parameter indices, each once: the
// order in which a backward completed them) instead of reverse registration.
// Throws std::invalid_argument when `order` is not a permutation of the parameters.
BucketPlan plan_buckets_in_order(const std::vector<int64_t>& numels, const std::vector<int64_t>& order,
                                 int64_t cap_floats, int ranks);

}  // namespace mhc
