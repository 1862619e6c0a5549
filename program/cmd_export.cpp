// cmd_export.cpp — `mhc export`: the weights of a run alone, as a
// safetensors file for use outside mhc (train/checkpoint.h, export_weights).
#include <fmt/core.h>

#include <filesystem>

#include "program/run_files.h"
#include "program/subcommand.h"
#include "train/checkpoint.h"
#include "train/run_dir.h"

namespace mhc {

namespace {

namespace fs = std::filesystem;

// The checkpoint's weights, checked against a model built from the run's
// settings (its tokenizer's vocabulary when it has one), so that a
// checkpoint holding other tensors than the run's model is refused.
size_t export_run(const std::string& run_dir, const std::string& out, DType dtype) {
  TrainConfig c = load_run_config(run_dir);
  const std::string tok = (fs::path(run_dir) / "tokenizer.txt").string();
  if (fs::exists(tok)) c.model.vocab_size = Tokenizer::load(tok)->vocab_size();
  Transformer model(c.model, c.seed);
  const std::string ckpt = (fs::path(run_dir) / kCheckpointFile).string();
  checkpoint_config(ckpt, read_checkpoint_meta(ckpt));  // one that holds no settings lies
  return export_weights(ckpt, out, dtype, model_weights(model));
}

class ExportCommand : public Subcommand {
 public:
  explicit ExportCommand(CLI::App& parent) {
    CLI::App* a = app_ = parent.add_subcommand("export",
                                               "the weights of a run alone, as a safetensors file for use "
                                               "outside mhc (tensor names: README, \"Using a model outside mhc\")");
    a->add_option("run", run_, "run directory")->required();
    a->add_option("--dtype", dtype_, "f32 | bf16 (parameters; rounded to nearest even)")
        ->check(CLI::IsMember({"f32", "bf16"}))
        ->capture_default_str();
    a->add_option("--out", out_, "output file (default: RUN/model.safetensors); its folder is made if missing");
    a->add_flag("--force", force_, "replace an existing output file");
  }
  int run(const CommandContext&) override {
    const std::string out = out_.empty() ? (fs::path(run_) / kExportFile).string() : out_;
    check_output_file(out, force_, "export --out", true);
    const size_t n = export_run(run_, out, dtype_ == "bf16" ? DType::bf16 : DType::f32);
    fmt::print("wrote {} ({} tensors, {})\n", out, n, dtype_);
    return 0;
  }

 private:
  std::string run_, out_, dtype_ = "f32";
  bool force_ = false;
};

}  // namespace

std::unique_ptr<Subcommand> add_export(CLI::App& app) { return std::make_unique<ExportCommand>(app); }

}  // namespace mhc
