// mapped_file.h — a read-only memory map of a whole file (RAII): the pages
// are read from disk when first touched and may be dropped again by the
// kernel, so a file far larger than RAM can be sampled from.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace mhc {

class MappedFile {
 public:
  // Maps `path` read-only. Throws std::runtime_error naming the file when it
  // cannot be opened or mapped. An empty file maps to data() == nullptr, size() == 0.
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const unsigned char* data() const { return data_; }
  size_t size() const { return size_; }  // bytes
  const std::string& path() const { return path_; }

 private:
  void release();
  std::string path_;
  const unsigned char* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace mhc
