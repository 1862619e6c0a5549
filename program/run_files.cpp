// run_files.cpp — a finished run read back from its folder (see run_files.h).
#include "program/run_files.h"

#include <fmt/core.h>

#include <filesystem>
#include <stdexcept>

#include "fileio/json_io.h"
#include "train/checkpoint.h"
#include "train/settings.h"

namespace mhc {

namespace fs = std::filesystem;

TrainConfig load_run_config(const std::string& run_dir) {
  const std::string path = (fs::path(run_dir) / "config.json").string();
  const std::string ckpt = (fs::path(run_dir) / kCheckpointFile).string();
  Json stored;
  try {
    if (!fs::exists(path)) throw std::runtime_error("no run in " + run_dir + " (missing " + path + ")");
    stored = json::parse_file(path);
  } catch (const std::exception& e) {
    if (!fs::exists(ckpt)) throw;
    try {
      stored = checkpoint_config(ckpt, read_checkpoint_meta(ckpt));
    } catch (const std::exception& c) {
      throw std::runtime_error(
          fmt::format("{}; the copy in the checkpoint cannot be read either: {}", e.what(), c.what()));
    }
    fmt::print(stderr, "warning: {}; using the configuration stored in {}\n",
               fs::exists(path) ? fmt::format("{} is damaged ({})", path, e.what()) : path + " is missing", ckpt);
  }
  TrainConfig c = train_config_from_json(stored);
  c.run_dir = run_dir;
  return c;
}

std::vector<NamedTensor> model_weights(Transformer& model) {
  std::vector<NamedTensor> tensors;
  for (auto& p : model.parameters()) tensors.push_back({"model." + p.name, p.tensor});
  for (auto& b : model.buffers()) tensors.push_back({"buffer." + b.name, b.tensor});
  return tensors;
}

LoadedRun load_run(const std::string& run_dir, const std::string& device) {
  LoadedRun r;
  r.config = load_run_config(run_dir);
  const std::string tok = (fs::path(run_dir) / "tokenizer.txt").string();
  if (!r.config.data.files.empty() && !fs::exists(tok))
    throw std::runtime_error(fmt::format(
        "{} was trained on token files ({}) and has no tokenizer: their ids cannot be turned into text or a prompt into "
        "ids. mhc sample needs a run that knows its tokenizer: trained on text, on shards from mhc tokenize (its "
        "tokenizer.txt beside them), or with --data.tokenizer gpt2:PATH naming GPT-2's files",
        run_dir, r.config.data.data));
  r.tokenizer = Tokenizer::load(tok);
  r.config.model.vocab_size = r.tokenizer->vocab_size();
  r.model = std::make_unique<Transformer>(r.config.model, r.config.seed);
  // The checkpoint also holds optimizer moments; sampling loads only the model.
  const std::string ckpt = (fs::path(run_dir) / kCheckpointFile).string();
  checkpoint_config(ckpt, read_checkpoint_meta(ckpt));  // one that holds no settings lies
  load_checkpoint(ckpt, model_weights(*r.model), /*allow_extra=*/true);
  r.model->to(device == "cuda" ? Device::cuda : Device::cpu);
  return r;
}

}  // namespace mhc
