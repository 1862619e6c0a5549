// adamw_plan.h — how a multi-tensor AdamW update (Backend::adamw_multi) is
// cut into GPU launches, in plain C++ so every build tests it.
//
// The list's elements are cut into chunks of kAdamWChunkElems elements of one
// tensor each (the last chunk of a tensor may be shorter); one CUDA block
// updates one chunk. A launch passes its tensors and its chunk table by value
// as the kernel's argument, so both are bounded: at most kAdamWMaxSlots
// tensors and kAdamWMaxChunks chunks per launch. A tensor whose chunks do not
// all fit in a launch continues in the next one (a slot in each). Empty
// tensors get no slot. For the models here that is one launch for the dense
// presets and a few for moe-1280.
#pragma once
#include <cstdint>
#include <vector>

#include "kernels/backend.h"

namespace mhc {

inline constexpr int64_t kAdamWChunkElems = 65536;
inline constexpr int64_t kAdamWMaxSlots = 256;
inline constexpr int64_t kAdamWMaxChunks = 2048;

// Chunk `index` of the launch's tensor `slot`: elements
// [index · chunk_elems, min(n, (index + 1) · chunk_elems)).
struct AdamWChunk {
  int32_t slot = 0;
  int32_t index = 0;
};

struct AdamWLaunch {
  std::vector<int64_t> tensors;    // position in the caller's list, per slot
  std::vector<AdamWChunk> chunks;  // one per block
};

// Throws std::invalid_argument "<who>: ..." naming the list position of the
// first bad entry: count < 0, a null list, n < 0, a null param/grad/m/v of a
// non-empty tensor, or bias corrections bc1, bc2 that are not positive.
void check_adamw_list(const char* who, const AdamWTensor* list, int64_t count, const AdamWHyper& h);

// The launches that cover list[0, count) in order (checks the list first).
// chunk_elems, max_slots and max_chunks must be positive; a tensor's chunk
// count must fit an int32.
std::vector<AdamWLaunch> plan_adamw_launches(const AdamWTensor* list, int64_t count, const AdamWHyper& h,
                                             int64_t chunk_elems = kAdamWChunkElems, int64_t max_slots = kAdamWMaxSlots,
                                             int64_t max_chunks = kAdamWMaxChunks);

}  // namespace mhc
