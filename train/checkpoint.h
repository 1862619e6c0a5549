// checkpoint.h — everything needed to continue a run bit-identically, in one
// file: model parameters and buffers, optimizer moments and step count, the
// batch sampler's state (data position and RNG), the training step and the
// run's config.
//
// Layout: an 8-byte magic "MHCCKPT\0", a u32 format version, a u64 payload
// size and a u64 FNV-1a checksum of the payload, then the payload (named
// tensors with dtype and shape, and a small key/value section). The file is
// written to "<path>.tmp", fsynced and renamed (datasets/file_io.h), so a
// crash or power loss mid-write leaves the previous checkpoint intact, and a
// failed write (disk full) removes the .tmp and throws WriteError. Loading checks magic, version, size and
// checksum, then that every tensor matches the model's name and shape.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "layers/module.h"

namespace mhc {

struct CheckpointMeta {
  int64_t step = 0;              // optimizer steps completed
  int64_t optimizer_steps = 0;   // AdamW's t (bias correction)
  std::vector<uint64_t> sampler_state;
  std::string config_json;
  double last_val_loss = 0;
};

// Writes tensors (any device; copied to the host) and meta atomically.
void save_checkpoint(const std::string& path, const std::vector<NamedTensor>& tensors, const CheckpointMeta& meta);

// Reads a checkpoint into `tensors` (same names and shapes required; values
// are copied onto each tensor's current device) and returns its meta.
// With allow_extra, the checkpoint may hold tensors not asked for (sampling
// needs the model, not the optimizer moments).
// Throws std::runtime_error naming the file and the problem: missing, not a
// regular file, truncated, longer than its header says, corrupt (checksum),
// wrong format version, or written for a model of a different shape.
CheckpointMeta load_checkpoint(const std::string& path, const std::vector<NamedTensor>& tensors,
                               bool allow_extra = false);

// Just the meta (config, step), for `mhc sample` / `eval` to rebuild the model first.
CheckpointMeta read_checkpoint_meta(const std::string& path);

}  // namespace mhc
