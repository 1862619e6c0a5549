// checkpoint.cpp — see the header for the tensors and metadata.
#include "train/checkpoint.h"

#include <fmt/core.h>

#include <charconv>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "autograd/tape.h"
#include "fileio/json_io.h"
#include "fileio/safetensors.h"

namespace mhc {

namespace {

constexpr const char* kFormat = "mhc checkpoint";
constexpr const char* kExportFormat = "mhc export";
constexpr int kVersion = 2;
constexpr int kExportVersion = 1;

[[noreturn]] void fail(const std::string& path, const std::string& problem) {
  throw std::runtime_error("checkpoint " + path + " " + problem);
}

int64_t meta_int(const SafetensorsFile& f, const char* key) {
  const std::string& s = f.meta(key);
  int64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size())
    fail(f.path(), fmt::format("is corrupt: metadata '{}' is \"{}\", not an integer", key, s));
  return v;
}

CheckpointMeta parse_meta(const SafetensorsFile& f) {
  const auto& md = f.metadata();
  auto format = md.find("format");
  if (format == md.end()) fail(f.path(), "is not an mhc checkpoint (its metadata has no 'format' entry)");
  if (format->second == kExportFormat)
    fail(f.path(), "is an mhc export (weights only, written by mhc export), not a checkpoint");
  if (format->second != kFormat) fail(f.path(), "is not an mhc checkpoint (format \"" + format->second + "\")");
  for (const char* key : {"checksum", "header_checksum"})  // checked by SafetensorsFile when present: so, required
    if (!md.count(key)) fail(f.path(), std::string("is corrupt: its metadata has no '") + key + "' entry");
  const int64_t version = meta_int(f, "format_version");
  if (version != kVersion)
    fail(f.path(), fmt::format("has format version {}; this build reads version {}", version, kVersion));
  CheckpointMeta m;
  m.step = meta_int(f, "step");
  m.optimizer_steps = meta_int(f, "optimizer_steps");
  try {
    if (json::nesting_depth(f.meta("sampler_state")) != 1) throw std::invalid_argument("not a flat list");
    m.sampler_state = nlohmann::json::parse(f.meta("sampler_state")).get<std::vector<uint64_t>>();
  } catch (const std::exception&) {
    fail(f.path(), "is corrupt: metadata 'sampler_state' is not a list of unsigned integers");
  }
  const std::string& loss = f.meta("last_val_loss");
  char* end = nullptr;
  m.last_val_loss = std::strtod(loss.c_str(), &end);
  if (loss.empty() || end != loss.c_str() + loss.size())
    fail(f.path(), "is corrupt: metadata 'last_val_loss' is \"" + loss + "\", not a number");
  m.config_json = f.meta("config");
  if (md.count("ranks")) m.ranks = meta_int(f, "ranks");  // written since data-parallel training
  if (m.step < 0 || m.optimizer_steps < 0)
    fail(f.path(), fmt::format("is corrupt: it claims step {} and optimizer step {}; neither can be negative", m.step,
                               m.optimizer_steps));
  if (m.ranks < 1)
    fail(f.path(), fmt::format("is corrupt: it claims to be written by {} ranks; at least 1 did", m.ranks));
  return m;
}

}  // namespace

void save_checkpoint(const std::string& path, const std::vector<NamedTensor>& tensors, const CheckpointMeta& meta) {
  NoGradGuard no_grad;
  std::vector<Tensor> contiguous;  // a copy only of a tensor that is not contiguous already
  contiguous.reserve(tensors.size());
  std::vector<SafetensorsOut> out;
  for (const auto& nt : tensors) {
    contiguous.push_back(nt.tensor->is_contiguous() ? *nt.tensor : nt.tensor->contiguous());
    out.push_back({nt.name, &contiguous.back(), nt.tensor->dtype()});
  }
  write_safetensors(path, out,
                    {{"format", kFormat},
                     {"format_version", std::to_string(kVersion)},
                     {"step", std::to_string(meta.step)},
                     {"optimizer_steps", std::to_string(meta.optimizer_steps)},
                     {"sampler_state", nlohmann::json(meta.sampler_state).dump()},
                     {"last_val_loss", fmt::format("{}", meta.last_val_loss)},
                     {"ranks", std::to_string(meta.ranks)},
                     {"config", meta.config_json}});
}

Json checkpoint_config(const std::string& path, const CheckpointMeta& meta) {
  if (meta.config_json.empty())
    fail(path, "is corrupt: its metadata 'config' is empty, so the run's settings cannot be checked against it");
  Json config = json::parse(meta.config_json, path + " (metadata 'config')");
  if (!config.is_object() || config.empty())
    fail(path, "is corrupt: its metadata 'config' is " + json::dump(config) +
                   ", not the run's settings, so they cannot be checked against it");
  return config;
}

CheckpointMeta read_checkpoint_meta(const std::string& path) { return parse_meta(SafetensorsFile(path, "checkpoint")); }

CheckpointMeta verify_checkpoint(const std::string& path) {
  const SafetensorsFile f(path, "checkpoint");
  CheckpointMeta meta = parse_meta(f);
  f.read_data([](const SafetensorsFile::Entry&, const char*, size_t, uint64_t) {});
  return meta;
}

CheckpointMeta load_checkpoint(const std::string& path, const std::vector<NamedTensor>& tensors, bool allow_extra) {
  const SafetensorsFile f(path, "checkpoint");
  CheckpointMeta meta = parse_meta(f);
  // Check everything the header says before touching the model, so a mismatch changes nothing.
  std::map<std::string, Tensor*> wanted;
  for (const auto& nt : tensors) {
    const SafetensorsFile::Entry* e = f.find(nt.name);
    if (!e) fail(path, "was written for a different model: it has no tensor '" + nt.name + "'");
    if (e->shape != nt.tensor->shape() || e->dtype != nt.tensor->dtype())
      fail(path, "was written for a different model: '" + nt.name + "' is " + std::string(dtype_name(e->dtype)) + " " +
                     e->shape.str() + " in the checkpoint but " + nt.tensor->describe() + " here");
    if (!nt.tensor->is_contiguous())
      throw std::logic_error("load_checkpoint: tensor " + nt.name + " is not contiguous");
    wanted[nt.name] = nt.tensor;
  }
  if (!allow_extra && f.tensors().size() != tensors.size())
    fail(path, fmt::format("was written for a different model: it holds {} tensors, this model has {}",
                           f.tensors().size(), tensors.size()));
  NoGradGuard no_grad;
  f.read_data([&](const SafetensorsFile::Entry& e, const char* bytes, size_t size, uint64_t offset) {
    auto it = wanted.find(e.name);
    if (it == wanted.end()) return;
    Tensor& t = *it->second;
    backend_for(t.device()).copy_from_host(static_cast<char*>(t.data_ptr()) + offset, bytes, size);
  });
  return meta;
}

size_t export_weights(const std::string& checkpoint, const std::string& out, DType dtype,
                      const std::vector<NamedTensor>& model) {
  if (dtype != DType::f32 && dtype != DType::bf16)
    throw std::invalid_argument(std::string("export: --dtype ") + dtype_name(dtype) + " is not f32 or bf16");
  // Every tensor of the model by name, shape and dtype, read and checksummed:
  // a checkpoint that holds an I32, a transposed or another model's tensor
  // is refused here, before anything is written.
  const CheckpointMeta meta = load_checkpoint(checkpoint, model, /*allow_extra=*/true);
  std::map<std::string, const Tensor*> weights;
  for (const auto& nt : model) weights[nt.name] = nt.tensor;
  const SafetensorsFile f(checkpoint, "checkpoint");
  for (const auto& e : f.tensors()) {
    const bool weight = e.name.rfind("model.", 0) == 0 || e.name.rfind("buffer.", 0) == 0;
    if (weight && !weights.count(e.name))
      fail(checkpoint, "was written for a different model: it holds '" + e.name + "', which the run's model (" +
                           "built from its config) does not have");
  }
  std::vector<SafetensorsOut> tensors;
  for (const auto& e : f.tensors()) {  // in the checkpoint's order
    auto it = weights.find(e.name);
    if (it == weights.end()) continue;
    const bool convert = dtype == DType::bf16 && e.dtype == DType::f32 && e.name.rfind("model.", 0) == 0;
    tensors.push_back({e.name, it->second, convert ? DType::bf16 : e.dtype});
  }
  write_safetensors(out, tensors,
                    {{"format", kExportFormat},
                     {"format_version", std::to_string(kExportVersion)},
                     {"dtype", dtype_name(dtype)},
                     {"step", std::to_string(meta.step)},
                     {"config", meta.config_json}});
  return tensors.size();
}

namespace {

// The checks of load_init_weights, before anything is read: every wanted
// tensor present with its shape and a dtype it can be read from.
void check_init_tensors(const SafetensorsFile& f, const std::vector<NamedTensor>& params,
                        const std::vector<NamedTensor>& buffers) {
  const std::string& path = f.path();
  auto check = [&](const NamedTensor& nt, bool required) {
    const SafetensorsFile::Entry* e = f.find(nt.name);
    if (!e) {
      if (required)
        throw std::runtime_error("--init-from " + path + ": it has no tensor '" + nt.name +
                                 "', which this model needs");
      return;
    }
    if (e->shape != nt.tensor->shape())
      throw std::runtime_error("--init-from " + path + ": '" + nt.name + "' has shape " + e->shape.str() +
                               " in the file but " + nt.tensor->shape().str() + " in this model (another model size?)");
    const bool widen = e->dtype == DType::bf16 && nt.tensor->dtype() == DType::f32;
    if (e->dtype != nt.tensor->dtype() && !widen)
      throw std::runtime_error("--init-from " + path + ": '" + nt.name + "' is " + dtype_name(e->dtype) +
                               ", this model's is " + dtype_name(nt.tensor->dtype()));
  };
  for (const auto& nt : params) check(nt, true);
  for (const auto& nt : buffers) check(nt, false);
  for (const auto& e : f.tensors()) {
    if (e.name.rfind("model.", 0) != 0) continue;
    bool known = false;
    for (const auto& nt : params) known = known || nt.name == e.name;
    if (!known)
      throw std::runtime_error("--init-from " + path + ": it has tensor '" + e.name +
                               "', which this model lacks (another model variant?)");
  }
}

}  // namespace

void load_init_weights(const std::string& path, const std::vector<NamedTensor>& params,
                       const std::vector<NamedTensor>& buffers) {
  const SafetensorsFile f(path, "--init-from file");
  if (auto it = f.metadata().find("format");
      it != f.metadata().end() && it->second != kFormat && it->second != kExportFormat)
    throw std::runtime_error("--init-from " + path + ": format \"" + it->second +
                             "\" is not an mhc export or checkpoint");
  check_init_tensors(f, params, buffers);
  const std::map<std::string, std::string> bytes = f.read_all();  // checksums (when present) verified
  NoGradGuard no_grad;
  auto load = [&](const NamedTensor& nt) {
    auto it = bytes.find(nt.name);
    if (it == bytes.end()) return;
    Tensor& t = *nt.tensor;
    std::string data = it->second;
    if (f.find(nt.name)->dtype == DType::bf16 && t.dtype() == DType::f32) {  // exact widening: bf16 is f32's top half
      std::string wide(data.size() * 2, '\0');
      for (size_t i = 0; i < data.size() / 2; ++i) {
        uint16_t h;
        std::memcpy(&h, data.data() + 2 * i, 2);
        const uint32_t w = static_cast<uint32_t>(h) << 16;
        std::memcpy(wide.data() + 4 * i, &w, 4);
      }
      data = std::move(wide);
    }
    if (!t.is_contiguous()) throw std::logic_error("load_init_weights: tensor " + nt.name + " is not contiguous");
    backend_for(t.device()).copy_from_host(t.data_ptr(), data.data(), data.size());
  };
  for (const auto& nt : params) load(nt);
  for (const auto& nt : buffers) load(nt);
}

}  // namespace mhc
