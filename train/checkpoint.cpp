// checkpoint.cpp — see the header for the format.
#include "train/checkpoint.h"

#include <cstring>
#include <ostream>
#include <stdexcept>
#include <string_view>

#include "autograd/tape.h"
#include "datasets/file_io.h"
#include "datasets/hash.h"

namespace mhc {

namespace {

constexpr char kMagic[8] = {'M', 'H', 'C', 'C', 'K', 'P', 'T', '\0'};
constexpr uint32_t kVersion = 1;
constexpr size_t kHeaderBytes = 8 + 4 + 8 + 8;

// Appends plain values to the payload: straight into the file, keeping the
// running FNV-1a checksum and size (a checkpoint is never held in memory whole).
struct Writer {
  std::ostream& out;
  uint64_t hash = kFnvOffset, size = 0;
  void bytes(const void* p, size_t n) {
    out.write(static_cast<const char*>(p), static_cast<std::streamsize>(n));
    hash = fnv1a64(p, n, hash);
    size += n;
  }
  template <class T>
  void pod(const T& v) {
    bytes(&v, sizeof v);
  }
  void str(const std::string& s) {
    pod<uint64_t>(s.size());
    bytes(s.data(), s.size());
  }
};

struct Reader {
  std::string_view buf;
  size_t pos = 0;
  std::string path;
  void need(size_t n) {
    if (pos + n > buf.size()) throw std::runtime_error("checkpoint " + path + " is corrupt: a record runs past the end");
  }
  template <class T>
  T pod() {
    need(sizeof(T));
    T v;
    std::memcpy(&v, buf.data() + pos, sizeof v);
    pos += sizeof v;
    return v;
  }
  std::string str() {
    const uint64_t n = pod<uint64_t>();
    need(n);
    std::string s(buf.substr(pos, n));
    pos += n;
    return s;
  }
};

// Validates the header; returns the payload, a view into `file`.
std::string_view checked_payload(const std::string& file, const std::string& path) {
  if (file.size() < kHeaderBytes || std::memcmp(file.data(), kMagic, 8) != 0)
    throw std::runtime_error("checkpoint " + path + " is not an mhc checkpoint (bad magic or too short)");
  uint32_t version;
  uint64_t size, checksum;
  std::memcpy(&version, file.data() + 8, 4);
  std::memcpy(&size, file.data() + 12, 8);
  std::memcpy(&checksum, file.data() + 20, 8);
  if (version != kVersion)
    throw std::runtime_error("checkpoint " + path + " has format version " + std::to_string(version) +
                             "; this build reads version " + std::to_string(kVersion));
  if (file.size() - kHeaderBytes < size)
    throw std::runtime_error("checkpoint " + path + " is truncated: the header promises " + std::to_string(size) +
                             " payload bytes, the file has " + std::to_string(file.size() - kHeaderBytes));
  if (file.size() - kHeaderBytes > size)
    throw std::runtime_error("checkpoint " + path + " is longer than its header says: " + std::to_string(size) +
                             " payload bytes, then " + std::to_string(file.size() - kHeaderBytes - size) +
                             " more (something was appended to it)");
  const std::string_view payload = std::string_view(file).substr(kHeaderBytes);
  if (fnv1a64(payload) != checksum) throw std::runtime_error("checkpoint " + path + " is corrupt: checksum mismatch");
  return payload;
}

CheckpointMeta read_meta(Reader& r) {
  CheckpointMeta m;
  m.step = r.pod<int64_t>();
  m.optimizer_steps = r.pod<int64_t>();
  m.last_val_loss = r.pod<double>();
  const uint64_t ns = r.pod<uint64_t>();
  for (uint64_t i = 0; i < ns; ++i) m.sampler_state.push_back(r.pod<uint64_t>());
  m.config_json = r.str();
  return m;
}

}  // namespace

void save_checkpoint(const std::string& path, const std::vector<NamedTensor>& tensors, const CheckpointMeta& meta) {
  NoGradGuard no_grad;
  write_file_atomically(
      path,
      [&](std::ostream& out) {
        // The header's size and checksum are known only at the end: write
        // zeros now, fill them in last.
        out.write(kMagic, 8);
        const uint32_t version = kVersion;
        out.write(reinterpret_cast<const char*>(&version), 4);
        const char zeros[16] = {};
        out.write(zeros, 16);
        Writer w{out};
        w.pod<int64_t>(meta.step);
        w.pod<int64_t>(meta.optimizer_steps);
        w.pod<double>(meta.last_val_loss);
        w.pod<uint64_t>(meta.sampler_state.size());
        for (uint64_t s : meta.sampler_state) w.pod<uint64_t>(s);
        w.str(meta.config_json);
        w.pod<uint64_t>(tensors.size());
        std::string host;  // one staging buffer, reused
        for (const auto& nt : tensors) {
          const Tensor t = nt.tensor->contiguous();
          w.str(nt.name);
          w.pod<uint8_t>(static_cast<uint8_t>(t.dtype()));
          w.pod<uint8_t>(static_cast<uint8_t>(t.dim()));
          for (int d = 0; d < t.dim(); ++d) w.pod<int64_t>(t.size(d));
          const size_t bytes = t.numel() * dtype_size(t.dtype());
          host.resize(bytes);
          backend_for(t.device()).copy_to_host(host.data(), t.data_ptr(), bytes);
          w.bytes(host.data(), bytes);
        }
        out.seekp(12);
        out.write(reinterpret_cast<const char*>(&w.size), 8);
        out.write(reinterpret_cast<const char*>(&w.hash), 8);
      },
      path + ".tmp");
}

CheckpointMeta read_checkpoint_meta(const std::string& path) {
  const std::string file = read_file(path, "checkpoint");
  Reader r{checked_payload(file, path), 0, path};
  return read_meta(r);
}

CheckpointMeta load_checkpoint(const std::string& path, const std::vector<NamedTensor>& tensors, bool allow_extra) {
  const std::string file = read_file(path, "checkpoint");
  const std::string_view payload = checked_payload(file, path);
  Reader r{payload, 0, path};
  CheckpointMeta meta = read_meta(r);
  const uint64_t count = r.pod<uint64_t>();
  struct Stored {
    DType dtype;
    Shape shape;
    size_t offset;
  };
  std::map<std::string, Stored> stored;
  for (uint64_t i = 0; i < count; ++i) {
    std::string name = r.str();
    Stored s;
    s.dtype = static_cast<DType>(r.pod<uint8_t>());
    const int nd = r.pod<uint8_t>();
    for (int d = 0; d < nd; ++d) s.shape.push_back(r.pod<int64_t>());
    s.offset = r.pos;
    const size_t bytes = s.shape.product() * dtype_size(s.dtype);
    r.need(bytes);
    r.pos += bytes;
    stored.emplace(std::move(name), s);
  }
  // Check everything before touching the model, so a mismatch changes nothing.
  for (const auto& nt : tensors) {
    auto it = stored.find(nt.name);
    if (it == stored.end())
      throw std::runtime_error("checkpoint " + path + " was written for a different model: it has no tensor '" +
                               nt.name + "'");
    if (it->second.shape != nt.tensor->shape() || it->second.dtype != nt.tensor->dtype())
      throw std::runtime_error("checkpoint " + path + " was written for a different model: '" + nt.name + "' is " +
                               std::string(dtype_name(it->second.dtype)) + " " + it->second.shape.str() +
                               " in the checkpoint but " + nt.tensor->describe() + " here");
  }
  if (!allow_extra && stored.size() != tensors.size())
    throw std::runtime_error("checkpoint " + path + " was written for a different model: it holds " +
                             std::to_string(stored.size()) + " tensors, this model has " + std::to_string(tensors.size()));
  NoGradGuard no_grad;
  for (const auto& nt : tensors) {
    const Stored& s = stored.at(nt.name);
    Tensor& t = *nt.tensor;
    if (!t.is_contiguous()) throw std::logic_error("load_checkpoint: tensor " + nt.name + " is not contiguous");
    backend_for(t.device()).copy_from_host(t.data_ptr(), payload.data() + s.offset, t.numel() * dtype_size(t.dtype()));
  }
  return meta;
}

}  // namespace mhc
