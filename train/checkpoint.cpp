// checkpoint.cpp — see the header for the format.
#include "train/checkpoint.h"

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "autograd/tape.h"

namespace mhc {

namespace {

constexpr char kMagic[8] = {'M', 'H', 'C', 'C', 'K', 'P', 'T', '\0'};
constexpr uint32_t kVersion = 1;
constexpr size_t kHeaderBytes = 8 + 4 + 8 + 8;

uint64_t fnv1a(const std::string& bytes) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

// Little helpers to append / read plain values.
struct Writer {
  std::string buf;
  template <class T>
  void pod(const T& v) {
    buf.append(reinterpret_cast<const char*>(&v), sizeof v);
  }
  void str(const std::string& s) {
    pod<uint64_t>(s.size());
    buf.append(s);
  }
};

struct Reader {
  const std::string& buf;
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
    std::string s = buf.substr(pos, n);
    pos += n;
    return s;
  }
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("checkpoint " + path + " does not exist or cannot be read");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Validates the header and returns a reader positioned at the payload.
std::string checked_payload(const std::string& path) {
  const std::string file = read_file(path);
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
  if (file.size() - kHeaderBytes != size)
    throw std::runtime_error("checkpoint " + path + " is truncated: the header promises " + std::to_string(size) +
                             " payload bytes, the file has " + std::to_string(file.size() - kHeaderBytes));
  std::string payload = file.substr(kHeaderBytes);
  if (fnv1a(payload) != checksum) throw std::runtime_error("checkpoint " + path + " is corrupt: checksum mismatch");
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
  Writer w;
  w.pod<int64_t>(meta.step);
  w.pod<int64_t>(meta.optimizer_steps);
  w.pod<double>(meta.last_val_loss);
  w.pod<uint64_t>(meta.sampler_state.size());
  for (uint64_t s : meta.sampler_state) w.pod<uint64_t>(s);
  w.str(meta.config_json);
  w.pod<uint64_t>(tensors.size());
  for (const auto& nt : tensors) {
    const Tensor t = nt.tensor->contiguous();
    w.str(nt.name);
    w.pod<uint8_t>(static_cast<uint8_t>(t.dtype()));
    w.pod<uint8_t>(static_cast<uint8_t>(t.dim()));
    for (int d = 0; d < t.dim(); ++d) w.pod<int64_t>(t.size(d));
    const size_t bytes = t.numel() * dtype_size(t.dtype());
    std::string data(bytes, '\0');
    backend_for(t.device()).copy_to_host(data.data(), t.data_ptr(), bytes);
    w.buf.append(data);
  }
  std::string header(kMagic, 8);
  const uint32_t version = kVersion;
  const uint64_t size = w.buf.size(), checksum = fnv1a(w.buf);
  header.append(reinterpret_cast<const char*>(&version), 4);
  header.append(reinterpret_cast<const char*>(&size), 8);
  header.append(reinterpret_cast<const char*>(&checksum), 8);

  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw std::runtime_error("cannot write checkpoint " + tmp);
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    out.write(w.buf.data(), static_cast<std::streamsize>(w.buf.size()));
    out.flush();
    if (!out) throw std::runtime_error("writing checkpoint " + tmp + " failed (disk full?)");
  }
  std::filesystem::rename(tmp, path);
}

CheckpointMeta read_checkpoint_meta(const std::string& path) {
  const std::string payload = checked_payload(path);
  Reader r{payload, 0, path};
  return read_meta(r);
}

CheckpointMeta load_checkpoint(const std::string& path, const std::vector<NamedTensor>& tensors, bool allow_extra) {
  const std::string payload = checked_payload(path);
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
