// file_io.cpp — whole-file reads and temp-file-then-rename writes.
#include "datasets/file_io.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <system_error>

namespace mhc {

namespace fs = std::filesystem;

void require_regular_file(const std::string& path, const std::string& what) {
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);  // follows links
  const char* is = nullptr;
  switch (status.type()) {
    case fs::file_type::regular: return;
    case fs::file_type::not_found: throw std::runtime_error(fmt::format("{} '{}' does not exist", what, path));
    case fs::file_type::directory: is = "a directory"; break;
    case fs::file_type::fifo: is = "a FIFO (named pipe)"; break;
    case fs::file_type::character: is = "a character device"; break;
    case fs::file_type::block: is = "a block device"; break;
    case fs::file_type::socket: is = "a socket"; break;
    default:
      throw std::runtime_error(fmt::format("{} '{}' cannot be examined: {}", what, path,
                                           ec ? ec.message() : std::string("unknown file type")));
  }
  throw std::runtime_error(fmt::format("{} '{}' is {}, not a regular file", what, path, is));
}

std::string read_file(const std::string& path, const std::string& what) {
  require_regular_file(path, what);
  std::error_code ec;
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw std::runtime_error(
        fmt::format("{} '{}' cannot be opened for reading: {}", what, path, std::strerror(errno)));

  std::string bytes;
  if (const auto size = fs::file_size(path, ec); !ec) bytes.reserve(size);
  // Read in fixed-size chunks (a file may grow or shrink while it is read).
  std::string chunk(1 << 20, '\0');
  while (in) {
    in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    bytes.append(chunk.data(), static_cast<size_t>(in.gcount()));
  }
  if (in.bad())
    throw std::runtime_error(fmt::format("{} '{}': read error after {} bytes", what, path, bytes.size()));
  return bytes;
}

void write_file_atomically(const std::string& path, std::string_view bytes,
                           const std::string& temp_path) {
  write_file_atomically(
      path, [&](std::ostream& out) { out.write(bytes.data(), static_cast<std::streamsize>(bytes.size())); },
      temp_path);
}

void write_file_atomically(const std::string& path, const std::function<void(std::ostream&)>& write,
                           const std::string& temp_path) {
  {
    std::ofstream out(temp_path, std::ios::binary | std::ios::trunc);
    if (!out)
      throw std::runtime_error(fmt::format("cannot create '{}' (to be renamed to '{}'): {}", temp_path,
                                           path, std::strerror(errno)));
    try {
      write(out);
    } catch (...) {
      out.close();
      std::remove(temp_path.c_str());
      throw;
    }
    out.flush();
    if (!out) {
      out.close();
      std::remove(temp_path.c_str());
      throw std::runtime_error(fmt::format("writing '{}' failed (disk full?)", temp_path));
    }
  }
  std::error_code ec;
  fs::rename(temp_path, path, ec);
  if (ec) {
    std::remove(temp_path.c_str());
    throw std::runtime_error(
        fmt::format("cannot rename '{}' to '{}': {}", temp_path, path, ec.message()));
  }
}

}  // namespace mhc
