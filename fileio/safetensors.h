// safetensors.h — reading and writing the safetensors file format
// (huggingface/safetensors): named tensors that any framework can load.
//
// Layout: an 8-byte little-endian unsigned header size N; N bytes of JSON
//   {"<name>": {"dtype": "F32", "shape": [d0, d1, …], "data_offsets": [begin, end]},
//    …, "__metadata__": {"<key>": "<string value>", …}}
// padded with spaces so that N % 8 == 0 and the data starts 8-byte aligned;
// then the data section: every tensor's bytes, row-major (C order), little
// endian, offsets relative to the start of the data section. The tensors
// cover the data section exactly: no gaps, no overlaps, nothing after.
//
// mhc adds two metadata entries to every file it writes, and checks them on
// reading when they are present:
//   "checksum":        "xxh64:<16 hex digits>", XXH64 (seed 0, fileio/xxh64.h)
//                      of the whole data section;
//   "header_checksum": "xxh64:<16 hex digits>", XXH64 of the header as
//                      nlohmann::json::dump() prints it (keys sorted, no
//                      spaces) with both checksum entries removed, so a
//                      damaged step count or config is caught too.
//
// Writing goes through fileio/file_io.h write_file_atomically: a temporary
// file, fsync, rename, fsync of the folder. Reading checks every structural
// rule before any tensor data is used and names the file and the rule that
// failed; it never reads outside the file, whatever the bytes say.
#pragma once
#include <nlohmann/json.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "autograd/tensor.h"

namespace mhc {

// Safetensors' dtype names ("F32", "BF16", "F64", "I32") and back; the
// reader throws for names mhc has no type for.
const char* safetensors_dtype_name(DType t);

// One tensor to write. `tensor` may live on any device and must be
// contiguous; it is stored as `dtype`, which is its own dtype or, for an f32
// tensor, bf16 (rounded to nearest even).
struct SafetensorsOut {
  std::string name;
  const Tensor* tensor;
  DType dtype;
};

// Writes the tensors, in the order given, and `metadata` (plus the two
// checksums above) to `path` atomically. Throws WriteError (file_io.h) when
// the file cannot be written, std::invalid_argument for a name used twice or
// a name "__metadata__".
void write_safetensors(const std::string& path, const std::vector<SafetensorsOut>& tensors,
                       const std::map<std::string, std::string>& metadata);

// An open, validated safetensors file: its header, and its data read on demand.
class SafetensorsFile {
 public:
  struct Entry {
    std::string name;
    DType dtype;
    Shape shape;
    uint64_t begin = 0, end = 0;  // byte offsets in the data section
  };

  // Reads and checks the header: the file is a regular file (file_io.h),
  // at least 8 bytes, N is not absurd (≤ 100 MB), 8 + N fits in the file,
  // N % 8 == 0, the header is a JSON object whose entries are tensors with a
  // known dtype, a shape of at most 8 non-negative dimensions and
  // data_offsets whose length is the shape's element count × item size,
  // together covering the data section exactly (else: overlapping, a gap,
  // truncated, or longer than its header says), __metadata__ maps strings to
  // strings, and header_checksum (if present) matches. The data checksum is
  // checked by read_data. `what` names the file in messages ("checkpoint").
  explicit SafetensorsFile(const std::string& path, const std::string& what = "safetensors file");

  const std::string& path() const { return path_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // A metadata value; throws naming the file and the key if it is missing.
  const std::string& meta(const std::string& key) const;
  const std::vector<Entry>& tensors() const { return entries_; }  // in data order
  const Entry* find(const std::string& name) const;               // nullptr if absent
  uint64_t data_bytes() const { return data_bytes_; }

  // Reads the data section once, in order, handing each tensor's bytes to
  // `sink` in pieces: (entry, bytes, size, offset of the piece within the
  // tensor). Then checks "checksum" (if present) and throws "… is corrupt:
  // checksum mismatch" if it differs — after the sink has seen the bytes, so
  // a caller that must not keep damaged data checks first or discards.
  using Sink = std::function<void(const Entry&, const char* bytes, size_t size, uint64_t offset)>;
  void read_data(const Sink& sink) const;

  // Every tensor's bytes (small files: tests, tools).
  std::map<std::string, std::string> read_all() const;

 private:
  [[noreturn]] void fail(const std::string& problem) const;
  // The constructor's steps: the header's bytes, its JSON, one tensor's
  // entry, and the tensors tiling the data section exactly.
  std::string read_header_text(int fd, uint64_t file_bytes) const;
  nlohmann::json parse_header(const std::string& text) const;
  Entry parse_entry(const std::string& name, const nlohmann::json& v) const;
  void check_layout() const;
  std::string path_, what_;
  // The file as opened by the constructor: read_data reads the same file even
  // if a new checkpoint has been renamed over the path since (a run saving
  // while `mhc eval` or `sample` loads it).
  struct Handle;
  std::shared_ptr<const Handle> file_;
  std::map<std::string, std::string> metadata_;
  std::vector<Entry> entries_;
  uint64_t data_start_ = 0, data_bytes_ = 0;
};

}  // namespace mhc
