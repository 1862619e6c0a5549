// safetensors.cpp — see the header for the format and the checks.
#include "fileio/safetensors.h"

#include <fcntl.h>
#include <fmt/core.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <ostream>
#include <set>
#include <stdexcept>

#include "autograd/tape.h"
#include "fileio/file_io.h"
#include "fileio/xxh64.h"
#include "fileio/json_io.h"

namespace mhc {

namespace {

constexpr uint64_t kMaxHeaderBytes = 100'000'000;  // safetensors' own limit
constexpr size_t kChunk = 8 << 20;                 // bytes read or converted at a time
constexpr const char* kChecksum = "checksum";
constexpr const char* kHeaderChecksum = "header_checksum";

std::string hex16(uint64_t v) { return fmt::format("{:016x}", v); }

// XXH64 of the header as dump() prints it, without the two checksum entries.
uint64_t header_hash(nlohmann::json header) {
  if (auto it = header.find("__metadata__"); it != header.end() && it->is_object()) {
    it->erase(kChecksum);
    it->erase(kHeaderChecksum);
  }
  return xxh64(header.dump());
}

bool dtype_from_name(const std::string& s, DType& t) {
  for (DType d : {DType::f32, DType::bf16, DType::f64, DType::i32})
    if (s == safetensors_dtype_name(d)) {
      t = d;
      return true;
    }
  return false;
}

// A whole read of `size` bytes at `offset`, or false (end of file, error).
bool read_at(int fd, char* dst, size_t size, uint64_t offset) {
  while (size > 0) {
    const ssize_t got = ::pread(fd, dst, size, static_cast<off_t>(offset));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    dst += got;
    size -= static_cast<size_t>(got);
    offset += static_cast<uint64_t>(got);
  }
  return true;
}

}  // namespace

const char* safetensors_dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "F32";
    case DType::bf16: return "BF16";
    case DType::f64: return "F64";
    case DType::i32: return "I32";
  }
  return "?";
}

// ---- writing

void write_safetensors(const std::string& path, const std::vector<SafetensorsOut>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  nlohmann::json header = nlohmann::json::object();
  uint64_t offset = 0;
  for (const auto& t : tensors) {
    if (t.name == "__metadata__" || header.contains(t.name))
      throw std::invalid_argument("write_safetensors: tensor name '" + t.name + "' is reserved or used twice");
    if (!t.tensor->is_contiguous())
      throw std::invalid_argument("write_safetensors: '" + t.name + "' is not contiguous");
    if (t.dtype != t.tensor->dtype() && !(t.dtype == DType::bf16 && t.tensor->dtype() == DType::f32))
      throw std::invalid_argument("write_safetensors: '" + t.name + "' cannot be stored as " + dtype_name(t.dtype));
    std::vector<int64_t> shape;
    for (int d = 0; d < t.tensor->dim(); ++d) shape.push_back(t.tensor->size(d));
    const uint64_t bytes = static_cast<uint64_t>(t.tensor->numel()) * dtype_size(t.dtype);
    header[t.name] = {
        {"dtype", safetensors_dtype_name(t.dtype)}, {"shape", shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  nlohmann::json meta(metadata);
  meta.erase(kChecksum);
  meta.erase(kHeaderChecksum);
  header["__metadata__"] = meta;
  header["__metadata__"][kHeaderChecksum] = "xxh64:" + hex16(header_hash(header));
  // The data checksum is known only once the data is written: a placeholder
  // of the same length now, filled in last.
  const std::string zeros = "xxh64:0000000000000000";
  const std::string placeholder = fmt::format("\"{}\":\"{}\"", kChecksum, zeros);
  header["__metadata__"][kChecksum] = zeros;
  std::string text = header.dump();
  const size_t at = text.find(placeholder);
  if (at == std::string::npos) throw std::logic_error("write_safetensors: checksum placeholder not found");
  text.append((8 - text.size() % 8) % 8, ' ');  // the data starts 8-byte aligned
  const uint64_t n = text.size();               // little-endian hosts

  NoGradGuard no_grad;
  write_file_atomically(
      path,
      [&](std::ostream& out) {
        out.write(reinterpret_cast<const char*>(&n), 8);
        out.write(text.data(), static_cast<std::streamsize>(text.size()));
        Xxh64 hash;
        auto put = [&](const void* p, size_t size) {
          out.write(static_cast<const char*>(p), static_cast<std::streamsize>(size));
          hash.update(p, size);
        };
        std::string host, converted;  // staging buffers, reused
        for (const auto& t : tensors) {
          const Tensor& src = *t.tensor;
          const size_t bytes = src.numel() * dtype_size(src.dtype());
          const char* data = static_cast<const char*>(src.data_ptr());
          if (src.device() != Device::cpu) {
            host.resize(bytes);
            backend_for(src.device()).copy_to_host(host.data(), src.data_ptr(), bytes);
            data = host.data();
          }
          if (t.dtype == src.dtype()) {
            put(data, bytes);
            continue;
          }
          const auto* f = reinterpret_cast<const float*>(data);  // f32 → bf16, a chunk at a time
          const size_t count = src.numel();
          for (size_t i = 0; i < count; i += kChunk / 2) {
            const size_t m = std::min(count - i, kChunk / 2);
            converted.resize(2 * m);
            for (size_t j = 0; j < m; ++j) {
              const uint16_t b = bf16::from_float(f[i + j]).bits;
              std::memcpy(converted.data() + 2 * j, &b, 2);
            }
            put(converted.data(), converted.size());
          }
        }
        out.seekp(static_cast<std::streamoff>(8 + at + placeholder.size() - 17));
        out.write(hex16(hash.digest()).data(), 16);
      },
      path + ".tmp");
}

// ---- reading

void SafetensorsFile::fail(const std::string& problem) const {
  throw std::runtime_error(what_ + " " + path_ + " " + problem);
}

struct SafetensorsFile::Handle {
  int fd = -1;
  ~Handle() {
    if (fd >= 0) ::close(fd);
  }
};

std::string SafetensorsFile::read_header_text(int fd, uint64_t file_bytes) const {
  uint64_t n = 0;
  if (file_bytes < 8 || !read_at(fd, reinterpret_cast<char*>(&n), 8, 0))
    fail(fmt::format("is truncated: {} bytes, fewer than the 8 of the header size", file_bytes));
  if (n > kMaxHeaderBytes)
    fail(
        fmt::format("is not a safetensors file, or is corrupt: its header size {} is beyond the format's limit of {} "
                    "bytes",
                    n, kMaxHeaderBytes));
  if (n > file_bytes - 8)
    fail(fmt::format("is truncated: its header size says {} bytes, the file holds {} after the size", n,
                     file_bytes - 8));
  if (n % 8 != 0)
    fail(
        fmt::format("is not a valid safetensors file: its header size {} is not a multiple of 8, so the data would "
                    "not start 8-byte aligned",
                    n));
  std::string text(n, '\0');
  if (!read_at(fd, text.data(), n, 8)) fail("is truncated: the header could not be read whole");
  return text;
}

nlohmann::json SafetensorsFile::parse_header(const std::string& text) const {
  nlohmann::json header;
  try {
    json::parse(text, "header");  // first the checks: nesting depth, and no name given twice (two tensors of one name)
    header = nlohmann::json::parse(text);
  } catch (const json::ParseError& e) {
    const bool json_text =
        e.message().rfind("nested", 0) == 0 || e.message().find("appears twice") != std::string::npos;
    fail((json_text ? "is corrupt: its header: " : "is corrupt: its header is not JSON: ") + e.message());
  } catch (const std::exception& e) {
    fail(std::string("is corrupt: its header is not JSON (") + e.what() + ")");
  }
  if (!header.is_object()) fail("is corrupt: its header is JSON but not an object");
  return header;
}

SafetensorsFile::Entry SafetensorsFile::parse_entry(const std::string& name, const nlohmann::json& v) const {
  const std::string where = "is corrupt: tensor '" + name + "' ";
  if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") || !v.contains("data_offsets"))
    fail(where + "is not an object with dtype, shape and data_offsets");
  Entry e;
  e.name = name;
  if (!v["dtype"].is_string() || !dtype_from_name(v["dtype"].get<std::string>(), e.dtype))
    fail(where + "has dtype " + v["dtype"].dump() + ", not one of F32, BF16, F64, I32");
  const auto& shape = v["shape"];
  if (!shape.is_array() || shape.size() > static_cast<size_t>(kMaxDims))
    fail(where + "has shape " + shape.dump() + ", not a list of at most 8 sizes");
  uint64_t numel = 1;
  for (const auto& d : shape) {
    if (!d.is_number_unsigned() || d.get<uint64_t>() > (uint64_t{1} << 40))
      fail(where + "has shape " + shape.dump() + ", whose sizes are not all non-negative integers");
    if (__builtin_mul_overflow(numel, d.get<uint64_t>(), &numel)) fail(where + "has a shape too large to exist");
    e.shape.push_back(d.get<int64_t>());
  }
  const auto& off = v["data_offsets"];
  if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned() ||
      off[0].get<uint64_t>() > off[1].get<uint64_t>())
    fail(where + "has data_offsets " + off.dump() + ", not a pair [begin, end] with begin <= end");
  e.begin = off[0].get<uint64_t>();
  e.end = off[1].get<uint64_t>();
  uint64_t bytes;
  if (__builtin_mul_overflow(numel, dtype_size(e.dtype), &bytes) || bytes != e.end - e.begin)
    fail(where + fmt::format("spans {} bytes, but {} {} takes {}", e.end - e.begin, v["dtype"].get<std::string>(),
                             shape.dump(), numel * dtype_size(e.dtype)));
  return e;
}

void SafetensorsFile::check_layout() const {
  uint64_t covered = 0;
  for (const Entry& e : entries_) {  // sorted by offset
    if (e.begin < covered)
      fail(fmt::format("is corrupt: tensor '{}' (bytes {}..{}) overlaps the tensor before it (up to {})", e.name,
                       e.begin, e.end, covered));
    if (e.begin > covered)
      fail(
          fmt::format("is corrupt: bytes {}..{} of the data section belong to no tensor (the tensors are not "
                      "contiguous)",
                      covered, e.begin));
    covered = e.end;
  }
  if (covered > data_bytes_)
    fail(fmt::format("is truncated: its header promises {} data bytes, the file has {}", covered, data_bytes_));
  if (covered < data_bytes_)
    fail(fmt::format("is longer than its header says: {} data bytes, then {} more (something was appended to it)",
                     covered, data_bytes_ - covered));
}

SafetensorsFile::SafetensorsFile(const std::string& path, const std::string& what) : path_(path), what_(what) {
  require_regular_file(path, what);  // before opening: a FIFO would block
  auto handle = std::make_shared<Handle>();
  handle->fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (handle->fd < 0) fail(std::string("cannot be opened for reading: ") + std::strerror(errno));
  file_ = handle;
  const off_t end = ::lseek(handle->fd, 0, SEEK_END);
  if (end < 0) fail(std::string("cannot be read: ") + std::strerror(errno));
  const uint64_t file_bytes = static_cast<uint64_t>(end);
  const std::string text = read_header_text(handle->fd, file_bytes);
  const nlohmann::json header = parse_header(text);
  data_start_ = 8 + text.size();
  data_bytes_ = file_bytes - data_start_;
  for (const auto& [name, v] : header.items()) {
    if (name != "__metadata__") {
      entries_.push_back(parse_entry(name, v));
      continue;
    }
    if (!v.is_object()) fail("is corrupt: __metadata__ is not an object");
    for (const auto& [key, value] : v.items()) {
      if (!value.is_string()) fail("is corrupt: metadata '" + key + "' is not a string");
      metadata_[key] = value.get<std::string>();
    }
  }
  std::sort(entries_.begin(), entries_.end(),
            [](const Entry& a, const Entry& b) { return a.begin != b.begin ? a.begin < b.begin : a.end < b.end; });
  check_layout();
  if (auto it = metadata_.find(kHeaderChecksum);
      it != metadata_.end() && it->second != "xxh64:" + hex16(header_hash(header)))
    fail("is corrupt: header checksum mismatch (its tensor list or metadata was changed)");
}

const std::string& SafetensorsFile::meta(const std::string& key) const {
  auto it = metadata_.find(key);
  if (it == metadata_.end()) fail("has no metadata entry '" + key + "'");
  return it->second;
}

const SafetensorsFile::Entry* SafetensorsFile::find(const std::string& name) const {
  for (const Entry& e : entries_)
    if (e.name == name) return &e;
  return nullptr;
}

void SafetensorsFile::read_data(const Sink& sink) const {
  const Handle& f = *file_;
  Xxh64 hash;
  std::string chunk(static_cast<size_t>(std::min<uint64_t>(kChunk, data_bytes_)), '\0');
  size_t next = 0;  // the entry that the next byte belongs to
  for (uint64_t pos = 0; pos < data_bytes_;) {
    const size_t size = static_cast<size_t>(std::min<uint64_t>(chunk.size(), data_bytes_ - pos));
    if (!read_at(f.fd, chunk.data(), size, data_start_ + pos))
      fail(fmt::format("is truncated: it ended, or could not be read, within data bytes {}..{}", pos, pos + size));
    hash.update(chunk.data(), size);
    // Hand the chunk's bytes to the tensors they belong to.
    for (uint64_t at = pos; at < pos + size;) {
      while (entries_[next].end <= at) ++next;  // skips empty tensors too
      const Entry& e = entries_[next];
      const uint64_t piece = std::min(e.end, pos + size) - at;
      sink(e, chunk.data() + (at - pos), static_cast<size_t>(piece), at - e.begin);
      at += piece;
    }
    pos += size;
  }
  if (auto it = metadata_.find(kChecksum); it != metadata_.end() && it->second != "xxh64:" + hex16(hash.digest()))
    fail("is corrupt: checksum mismatch (the data section's XXH64 differs from the one stored)");
}

std::map<std::string, std::string> SafetensorsFile::read_all() const {
  std::map<std::string, std::string> out;
  for (const Entry& e : entries_) out[e.name].reserve(e.end - e.begin);
  read_data([&](const Entry& e, const char* bytes, size_t size, uint64_t) { out[e.name].append(bytes, size); });
  return out;
}

}  // namespace mhc
