// checkpoint.h — everything needed to continue a run bit-identically, in one
// safetensors file (fileio/safetensors.h), `checkpoint.safetensors` in the run
// directory: model parameters and buffers and the AdamW moments as named
// tensors, and in __metadata__ the training step, the batch sampler's state
// (data position and RNG), the run's resolved config and a checksum.
//
// Tensors (all f32 today: the model keeps f32 master weights, bf16 is only a
// compute dtype on CUDA): "model.<parameter>", "buffer.<buffer>" (RoPE tables,
// MoE router biases) and "adamw.<parameter>.m" / ".v".
// Metadata (all values strings, as the format requires):
//   format           "mhc checkpoint"
//   format_version   "2" (version 1 was the private checkpoint.bin format)
//   step             optimizer steps completed
//   optimizer_steps  AdamW's t (bias correction)
//   sampler_state    JSON list of the batch sampler's words: 4 RNG words, batches drawn
//   last_val_loss    the last validation loss, shortest round-trip decimal
//   config           the run's resolved config (JSON, as config.json)
//   checksum, header_checksum   XXH64s of the data section and the header (safetensors.h)
//
// The file is written to "<path>.tmp", fsynced and renamed, and the folder
// fsynced (fileio/file_io.h), so a crash or power loss mid-write leaves the
// previous checkpoint intact; a failed write (disk full) removes the .tmp and
// throws WriteError.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "layers/module.h"
#include "fileio/json_io.h"

namespace mhc {

inline constexpr const char* kCheckpointFile = "checkpoint.safetensors";  // in the run directory
inline constexpr const char* kExportFile = "model.safetensors";           // mhc export's default
inline constexpr const char* kBestFile = "best.safetensors";              // --eval.keep_best: the best validation loss

struct CheckpointMeta {
  int64_t step = 0;             // optimizer steps completed
  int64_t optimizer_steps = 0;  // AdamW's t (bias correction)
  std::vector<uint64_t> sampler_state;
  std::string config_json;
  double last_val_loss = 0;
  int64_t ranks = 1;  // processes that trained it (data parallel); 1 when not recorded
};

// Writes tensors (any device; copied to the host) and meta atomically.
void save_checkpoint(const std::string& path, const std::vector<NamedTensor>& tensors, const CheckpointMeta& meta);

// Reads a checkpoint into `tensors` (same names, dtypes and shapes required;
// values are copied onto each tensor's current device) and returns its meta.
// With allow_extra, the checkpoint may hold tensors not asked for (sampling
// needs the model, not the optimizer moments).
// Throws std::runtime_error naming the file and the problem: missing, not a
// regular file, truncated, longer than its header says, a malformed header
// (see SafetensorsFile), corrupt (checksum), not an mhc checkpoint, wrong
// format version, or written for a model of a different shape. Names, dtypes
// and shapes are checked before any tensor is touched; a checksum mismatch is
// found only once the data has been read, and the tensors then hold it
// (callers stop: resume, sample and eval all exit on the error).
CheckpointMeta load_checkpoint(const std::string& path, const std::vector<NamedTensor>& tensors,
                               bool allow_extra = false);

// Just the meta (config, step), for `mhc sample` / `eval` to rebuild the model
// first. Reads and checks the header only (its structure and header checksum,
// and that the file is as long as the tensors say); the data checksum is
// checked by load_checkpoint and verify_checkpoint.
CheckpointMeta read_checkpoint_meta(const std::string& path);

// The run settings stored in a checkpoint's meta (its "config"), parsed.
// Throws naming `path` when they are empty, not an object or an empty object
// (a checkpoint that holds no settings cannot be checked against a run's).
Json checkpoint_config(const std::string& path, const CheckpointMeta& meta);

// read_checkpoint_meta plus the data checksum: the whole file is read.
CheckpointMeta verify_checkpoint(const std::string& path);

// `mhc export`: the weights of a checkpoint alone ("model.*" parameters and
// "buffer.*" buffers, names and shapes unchanged, no optimizer state), as a
// safetensors file at `out`, parameters stored as `dtype` (f32, or bf16
// rounded to nearest even; buffers stay f32). Metadata: format "mhc export",
// format_version "1", dtype, step and config (as in the checkpoint), and the
// two checksums. Returns the number of tensors written.
// `model`: the "model.*" parameters and "buffer.*" buffers of a model built
// from the run's settings, on the host; the checkpoint is loaded into them
// (load_checkpoint's checks by name, dtype and shape, and its checksum), and
// a "model.*" or "buffer.*" tensor the model lacks is refused, so only
// weights the run's model can use are exported.
size_t export_weights(const std::string& checkpoint, const std::string& out, DType dtype,
                      const std::vector<NamedTensor>& model);

// `mhc train --init-from FILE`: a new run's starting weights from any
// safetensors file holding "model.*" tensors: an export (f32 or bf16, widened
// exactly), a checkpoint (its optimizer moments are ignored) or the PyTorch
// twin's --write-weights. Every parameter must be present with the same shape,
// and the file may hold no "model.*" tensor the model lacks; "buffer.*"
// tensors present are loaded too (MoE router biases). Names, shapes and
// dtypes are checked before any tensor is touched; a mismatch throws
// std::runtime_error naming the file and the tensor.
void load_init_weights(const std::string& path, const std::vector<NamedTensor>& params,
                       const std::vector<NamedTensor>& buffers);

}  // namespace mhc
