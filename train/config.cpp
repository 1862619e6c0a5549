// config.cpp — presets, validation and JSON for TrainConfig.
#include "train/config.h"

#include <fmt/format.h>

#include <stdexcept>

#include "datasets/token_files.h"
#include "kernels/cpu/blas_runtime.h"
#include "kernels/sinkhorn_contract.h"
#include "layers/config_checks.h"
#include "train/settings.h"

namespace mhc {

namespace {

ModelConfig char_model(int64_t blocks, int64_t width, int64_t heads, int64_t block, double dropout) {
  ModelConfig m;
  m.blocks = blocks;
  m.width = width;
  m.heads = heads;
  m.block_size = block;
  m.ffn = FfnType::Gelu;
  m.dropout = dropout;
  return m;
}

[[noreturn]] void bad(const std::string& flag, const std::string& what) {
  throw std::invalid_argument(flag + ": " + what);
}

}  // namespace

std::vector<std::string> preset_names() {
  return {"cpu-char", "shakespeare-char", "tiny-moe", "moe-1280", "gpt2-small"};
}

TrainConfig preset(const std::string& name) {
  TrainConfig c;
  c.preset = name;
  if (name == "cpu-char") {
    // nanoGPT's CPU run of the Shakespeare character model.
    c.model = char_model(4, 128, 4, 64, 0.0);
    c.optim.batch_size = 12;
    c.optim.steps = 2000;
    c.eval.every = 250;
  } else if (name == "shakespeare-char") {
    // nanoGPT's train_shakespeare_char: the yardstick (val loss ≤ 1.47),
    // dropout 0.2 on the residual branches and the attention probabilities.
    c.model = char_model(6, 384, 6, 256, 0.2);
    c.model.attn_dropout = 0.2;
    c.optim.batch_size = 64;
    // nanoGPT runs 5000 steps; this model (RoPE, RMSNorm) reaches its best
    // validation loss sooner and overfits after, so the schedule ends at 2000.
    c.optim.steps = 2000;
    c.eval.every = 250;
    c.eval.batches = 20;
  } else if (name == "tiny-moe") {
    c.model = char_model(4, 128, 4, 64, 0.0);
    c.model.ffn = FfnType::Moe;
    c.model.moe.routed = 8;
    c.model.moe.top_k = 2;
    c.model.moe.shared = 1;
    c.model.moe.hidden = 128;
    c.optim.batch_size = 12;
    c.optim.steps = 2000;
  } else if (name == "moe-1280") {
    // Paper-like width, for the mHC overhead target.
    c.model = char_model(8, 1280, 16, 1024, 0.0);
    c.model.ffn = FfnType::Moe;
    c.model.moe.routed = 16;
    c.model.moe.top_k = 2;
    c.model.moe.shared = 1;
    c.model.moe.hidden = 896;
    c.data.tokenizer = TokenizerKind::Bpe;
    c.data.vocab_size = 4096;
    c.optim.batch_size = 8;
    c.optim.steps = 2000;
    c.optim.lr = 3e-4;
    c.optim.min_lr = 3e-5;
    c.optim.beta2 = 0.95;
    c.optim.warmup = 200;
  } else if (name == "gpt2-small") {
    // GPT-2 small (124M) on GPT-2-tokenised token files (llm.c's FineWeb
    // shards, nanoGPT's OpenWebText train.bin / val.bin), with llm.c's
    // GPT-2 124M recipe: 12 blocks, C = 768, 12 heads, context 1024, tied
    // embeddings; AdamW lr 6e-4 (β2 0.95, weight decay 0.1), 700 warmup
    // steps, cosine to 0, a global batch of 524,288 tokens (16 × 1024 × 32
    // micro-batches of accumulation), 19,074 steps: 10B tokens. mhc's
    // kernels need no padded vocabulary: 50,257 ids, GPT-2's. Run it with
    // --device cuda --dtype bf16; on a CPU it starts with a small batch.
    c.model = char_model(12, 768, 12, 1024, 0.0);
    c.model.tie_embeddings = true;
    c.model.vocab_size = kGpt2VocabSize;
    c.optim.batch_size = 16;
    c.optim.grad_accum = 32;
    c.optim.steps = 19074;
    c.optim.lr = 6e-4;
    c.optim.min_lr = 0.0;
    c.optim.warmup = 700;
    c.optim.beta2 = 0.95;
    c.optim.weight_decay = 0.1;
    c.eval.every = 250;
    c.eval.batches = 20;  // 20 × 16 × 1024 = 327,680 validation tokens, the same at every evaluation
  } else {
    std::string names;
    for (const auto& n : preset_names()) names += (names.empty() ? "" : ", ") + n;
    throw std::invalid_argument("--preset: unknown preset '" + name + "' (known: " + names + ")");
  }
  return c;
}

std::string TrainConfig::default_run_dir() const {
  std::string dir = "runs/" + preset + "-" + residual_kind_name(model.site.kind);
  if (model.site.kind != ResidualKind::Residual) dir += "-n" + std::to_string(model.site.streams);
  return dir;
}

void TrainConfig::validate() const {
  // Each setting's own range (train/settings.cpp), in declaration order, then
  // what combines several.
  for (const Setting& s : settings()) s.check(*this);
  if (dtype == DType::bf16 && device != Device::cuda)
    bad("--dtype", "bf16 needs --device cuda (the CPU computes in f32)");
  // What combines the model's fields, the model itself checks (its vocabulary comes from the tokenizer later).
  ModelConfig m = model;
  if (m.vocab_size < 1) m.vocab_size = 1;
  m.validate();
}

// ---- JSON: one key per setting, named as its flag ---------------------------------

Json to_json(const TrainConfig& c) {
  Json v = Json::object();
  for (const Setting& s : settings()) {
    if (!s.saved) continue;
    Json value = s.get(c);
    if (!value.is_null())
      v[s.name] = std::move(value);  // null: not recorded (data.bytes of a synthetic corpus, data.files of a text run)
  }
  return v;
}

TrainConfig train_config_from_json(const Json& v) {
  if (!v.is_object()) throw std::invalid_argument("config: expected a JSON object of setting: value");
  const Json* name = json::find(v, "preset");
  TrainConfig c = preset(name && name->is_string() ? name->get<std::string>() : "cpu-char");
  for (const auto& [key, value] : v.items()) {
    const Setting* s = find_setting(key);
    if (!s || !s->saved) throw std::invalid_argument("config: unknown setting \"" + key + "\"");
    if (!value.is_null()) s->set(c, value);
  }
  return c;
}

std::string describe(const TrainConfig& c, int64_t parameter_count, const std::string& data_path) {
  const ModelConfig& m = c.model;
  // Summary lines that combine settings or add what follows from them, then
  // every setting by group from the registry.
  const std::string fused =
      m.site.fused == SiteConfig::Fused::Auto
          ? (c.device == Device::cuda ? "auto (on: CUDA)" : "auto (off: the CPU runs the composed ops)")
          : find_setting("hc.fused")->text(c);
  std::string data = c.data.data.empty() ? std::string("Tiny Shakespeare") : c.data.data;
  if (!data_path.empty() && data_path != c.data.data) data += " (" + data_path + ")";
  std::vector<std::pair<std::string, std::string>> rows = {
      {"run directory", c.run_dir},
      {"data", data},
      {"vocabulary", fmt::format("{}", m.vocab_size)},
      {"parameters", fmt::format("{:.3f} M", static_cast<double>(parameter_count) / 1e6)},
      {"tokens / step", fmt::format("{} × batch {} × grad accum {} = {}", m.block_size, c.optim.batch_size,
                                    c.optim.grad_accum, m.block_size * c.optim.batch_size * c.optim.grad_accum)},
  };
  if (m.site.kind == ResidualKind::MHC) rows.emplace_back("mHC kernels", "fused " + fused);
  // Groups that do not apply are left out: the MoE settings of a dense
  // model, the hyper-connection settings of the plain residual.
  const bool moe = m.ffn == FfnType::Moe, hc = m.site.kind != ResidualKind::Residual;
  std::string group = "-";
  for (const Setting& s : settings()) {
    if (!s.saved || s.hidden || s.name == "data" || s.name == "model.vocab_size") continue;
    if (s.get(c).is_null()) continue;  // not set (--eval.keep_best off): left out, as in config.json
    if ((!moe && s.name.rfind("moe.", 0) == 0) || (!hc && s.name.rfind("hc.", 0) == 0)) continue;
    const std::string g = s.group.empty() ? "run" : s.group.substr(0, s.group.find(" ("));
    std::string item = s.name.substr(s.name.find('.') + 1) + " " + s.text(c);
    if (g != group)
      rows.emplace_back(g, item);
    else
      rows.back().second += ", " + item;
    group = g;
  }
  // Last, as it varies from machine to machine: the BLAS kernel and why.
  if (c.device == Device::cpu) rows.emplace_back("BLAS", cpu::blas_summary());
  size_t w = 0;
  for (const auto& r : rows) w = std::max(w, r.first.size());
  // Long rows wrap after a comma, continuing under the value column.
  constexpr size_t kWidth = 110;
  std::string out;
  for (const auto& r : rows) {
    std::string line = fmt::format("  {:<{}}  ", r.first, w);
    const size_t indent = line.size();
    size_t start = 0;
    while (start < r.second.size()) {
      size_t end = r.second.size();
      if (indent + end - start > kWidth) {
        const size_t cut = r.second.rfind(", ", start + kWidth - indent);
        if (cut != std::string::npos && cut > start) end = cut + 1;
      }
      out += (start == 0 ? line : std::string(indent, ' ')) + r.second.substr(start, end - start) + "\n";
      start = end;
      while (start < r.second.size() && r.second[start] == ' ') ++start;
    }
  }
  return out;
}

}  // namespace mhc
