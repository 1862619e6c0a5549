// run_files.h — a finished run read back from its folder, for the
// subcommands that use one (sample, eval, export, train --resume): its
// settings, its tokenizer and its model with the checkpoint's weights.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "datasets/tokenizer.h"
#include "layers/module.h"
#include "layers/transformer.h"
#include "train/config.h"

namespace mhc {

// The run's config.json; when that is missing or damaged (empty, cut short:
// not JSON), the copy of the configuration in the run's checkpoint, with a
// warning (a resumed run then writes a good config.json again).
TrainConfig load_run_config(const std::string& run_dir);

// A model's parameters and buffers as its checkpoint names them
// ("model.<name>", "buffer.<name>").
std::vector<NamedTensor> model_weights(Transformer& model);

// A trained model rebuilt from its run folder (config, tokenizer, checkpoint),
// on `device` ("cpu" | "cuda").
struct LoadedRun {
  TrainConfig config;
  std::unique_ptr<Tokenizer> tokenizer;
  std::unique_ptr<Transformer> model;
};
LoadedRun load_run(const std::string& run_dir, const std::string& device);

}  // namespace mhc
