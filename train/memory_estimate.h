// memory_estimate.h — whether a training run can fit in memory, judged from
// its configuration before anything is built, so that a run far too large is
// refused with the sizes that make it so (not std::bad_alloc minutes later).
//
// The estimate is a lower bound: the parameters with their gradients and
// AdamW moments (4 f32 values each), and what one micro-batch's forward must
// keep for the backward at the least — per token, the two stream states of
// every block, its attention and FFN activations, and the logits with their
// gradient. The trainer's real peak is higher; a run refused here cannot fit.
#pragma once
#include <string>

#include "train/config.h"

namespace mhc {

struct MemoryEstimate {
  double parameters = 0;        // ModelConfig::parameter_count()
  double parameter_bytes = 0;   // weights, gradients and the two AdamW moments, f32
  double buffer_bytes = 0;      // RoPE tables and the fixed evaluation batches
  double activation_bytes = 0;  // one micro-batch, lower bound
  double tokens = 0;            // per micro-batch: --optim.batch_size × --model.block_size
  double total() const { return parameter_bytes + buffer_bytes + activation_bytes; }
};

// For c.model.vocab_size tokens; when that is not known yet (0), for
// --data.vocab_size with BPE and 1 with the character tokenizer.
MemoryEstimate estimate_memory(const TrainConfig& c);

// This machine's physical memory in bytes (sysconf).
double physical_memory_bytes();

// The memory one of local_ranks processes on this machine may use: its share
// of physical memory or, when the address-space limit (ulimit -v) leaves
// less, what that limit leaves beside the program and OpenBLAS's buffers.
struct HostMemory {
  double bytes = 0;
  std::string said;      // "this machine has 23.5 GiB of memory", "the address-space limit ... leaves ..."
  bool limited = false;  // by ulimit -v
};
HostMemory available_host_memory(int local_ranks);

// "1.5 GiB", "52.3 TiB": bytes in binary units.
std::string format_bytes(double bytes);

// Throws std::runtime_error when the run needs more than available_bytes of
// host memory: the message names the flags of the larger part (model or
// batch), both parts' bytes and the memory there is. With --device cuda only
// the model's first copy is on the host (it is built there, then moved).
void check_fits_in_memory(const TrainConfig& c, const HostMemory& available);
void check_fits_in_memory(const TrainConfig& c, double available_bytes);  // this machine's memory

}  // namespace mhc
