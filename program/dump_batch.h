// dump_batch.h — one evaluation batch with everything mhc computes on it,
// written as a safetensors file so that an outside implementation of the
// model (scripts/torch_model.py) can be checked against mhc.
//
// The file holds (names of the safetensors entries):
//   "x", "y"               (B, T) i32   the batch's input tokens and next-token targets
//   "logits"               (B, T, V) f32  the model's output on x, in evaluation mode (no dropout)
//   "loss"                 (1) f32      mean cross-entropy of logits against y (no MoE auxiliary losses)
//   "grad.model.<name>"    the gradient of that loss with respect to parameter "model.<name>" (f32,
//                          the parameter's shape; names as in checkpoints and `mhc export`)
// and in __metadata__: "format" = "mhc batch dump", "format_version", "step" (the checkpoint's),
// "loss" (the loss printed with 9 significant digits) and "config" (the run's resolved config).
#pragma once
#include <string>

namespace mhc {

class Trainer;

inline constexpr const char* kBatchDumpFormat = "mhc batch dump";
inline constexpr int kBatchDumpVersion = 1;

// Runs `trainer`'s model (restored from its checkpoint; `step` is the
// checkpoint's step, recorded in the file) on its first evaluation batch in
// evaluation mode, takes the gradients of the loss, and writes the file to
// `path` atomically. Returns the loss.
double dump_eval_batch(Trainer& trainer, int64_t step, const std::string& path);

}  // namespace mhc
