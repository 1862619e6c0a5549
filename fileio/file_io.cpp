// file_io.cpp — whole-file reads and temp-file, fsync, rename, fsync-folder writes.
#include "fileio/file_io.h"

#include <fmt/format.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <streambuf>
#include <system_error>
#include <vector>

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
    throw std::runtime_error(fmt::format("{} '{}' cannot be opened for reading: {}", what, path, std::strerror(errno)));

  std::string bytes;
  if (const auto size = fs::file_size(path, ec); !ec) bytes.reserve(size);
  // Read in fixed-size chunks (a file may grow or shrink while it is read).
  std::string chunk(1 << 20, '\0');
  while (in) {
    in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    bytes.append(chunk.data(), static_cast<size_t>(in.gcount()));
  }
  if (in.bad()) throw std::runtime_error(fmt::format("{} '{}': read error after {} bytes", what, path, bytes.size()));
  return bytes;
}

namespace {

// An output stream buffer over a POSIX file descriptor that remembers the
// first errno of a failed write or seek: std::ofstream reports only that
// something failed, not why (ENOSPC, EDQUOT, EIO).
class FdBuffer : public std::streambuf {
 public:
  explicit FdBuffer(int fd) : fd_(fd), buffer_(1 << 16) { reset(); }
  int error() const { return error_; }  // 0 while every write succeeded

 protected:
  int_type overflow(int_type c) override {
    if (!drain()) return traits_type::eof();
    if (!traits_type::eq_int_type(c, traits_type::eof())) {
      *pptr() = traits_type::to_char_type(c);
      pbump(1);
    }
    return traits_type::not_eof(c);
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    if (n <= epptr() - pptr()) {  // fits: buffer it
      std::memcpy(pptr(), s, static_cast<size_t>(n));
      pbump(static_cast<int>(n));
      return n;
    }
    if (!drain() || !write_all(s, static_cast<size_t>(n))) return 0;  // large: write it straight through
    return n;
  }
  int sync() override { return drain() ? 0 : -1; }
  pos_type seekoff(off_type off, std::ios_base::seekdir dir, std::ios_base::openmode) override {
    if (!drain()) return pos_type(off_type(-1));
    const int whence = dir == std::ios_base::beg ? SEEK_SET : dir == std::ios_base::cur ? SEEK_CUR : SEEK_END;
    const off_t at = ::lseek(fd_, static_cast<off_t>(off), whence);
    if (at < 0) {
      error_ = errno;
      return pos_type(off_type(-1));
    }
    return pos_type(static_cast<off_type>(at));
  }
  pos_type seekpos(pos_type pos, std::ios_base::openmode which) override {
    return seekoff(off_type(pos), std::ios_base::beg, which);
  }

 private:
  bool write_all(const char* p, size_t n) {
    if (error_) return false;
    while (n > 0) {
      const ssize_t done = ::write(fd_, p, n);
      if (done < 0 && errno == EINTR) continue;
      if (done <= 0) {
        error_ = done < 0 ? errno : EIO;
        return false;
      }
      p += done;
      n -= static_cast<size_t>(done);
    }
    return true;
  }
  void reset() { setp(buffer_.data(), buffer_.data() + buffer_.size()); }
  bool drain() {
    const bool ok = write_all(pbase(), static_cast<size_t>(pptr() - pbase()));
    reset();
    return ok;
  }
  int fd_;
  int error_ = 0;
  std::vector<char> buffer_;
};

std::string folder_of(const std::string& path) {
  const fs::path parent = fs::path(path).parent_path();
  return parent.empty() ? std::string(".") : parent.string();
}

}  // namespace

void sync_parent_folder(const std::string& path) {
  const std::string folder = folder_of(path);
  const int fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw WriteError(fmt::format("cannot open folder '{}' to sync it: {}", folder, std::strerror(errno)));
  const int failed = ::fsync(fd) != 0 ? errno : 0;
  ::close(fd);
  // EINVAL: this file system does not sync folders (nothing to wait for).
  if (failed && failed != EINVAL)
    throw WriteError(
        fmt::format("cannot sync folder '{}' (after writing '{}'): {}", folder, path, std::strerror(failed)));
}

void write_file_atomically(const std::string& path, std::string_view bytes, const std::string& temp_path) {
  write_file_atomically(
      path, [&](std::ostream& out) { out.write(bytes.data(), static_cast<std::streamsize>(bytes.size())); }, temp_path);
}

void write_file_atomically(const std::string& path, const std::function<void(std::ostream&)>& write,
                           const std::string& temp_path) {
  const int fd = ::open(temp_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0)
    throw WriteError(fmt::format("cannot write '{}': cannot create '{}': {}", path, temp_path, std::strerror(errno)));
  // Any failure from here on: the partial temporary file goes (it would keep
  // a full disk full), the target stays as it was.
  bool open = true;
  auto fail = [&](const std::string& step, int error) {
    if (open) ::close(fd);
    ::unlink(temp_path.c_str());
    throw WriteError(fmt::format("cannot write '{}': {} '{}' failed: {}; '{}' is unchanged", path, step, temp_path,
                                 std::strerror(error), path));
  };
  FdBuffer buffer(fd);
  {
    std::ostream out(&buffer);
    try {
      write(out);
    } catch (...) {
      ::close(fd);
      ::unlink(temp_path.c_str());
      throw;
    }
    out.flush();
    if (buffer.error()) fail("writing", buffer.error());
    if (!out) fail("writing", EIO);
  }
  // fsync: data that only reached the page cache can still fail to reach the
  // disk (delayed allocation, quotas, network file systems) — find out now.
  if (::fsync(fd) != 0) fail("syncing", errno);
  open = false;
  if (::close(fd) != 0) fail("closing", errno);
  std::error_code ec;
  fs::rename(temp_path, path, ec);
  if (ec) {
    ::unlink(temp_path.c_str());
    throw WriteError(fmt::format("cannot write '{}': renaming '{}' to it failed: {}; '{}' is unchanged", path,
                                 temp_path, ec.message(), path));
  }
  sync_parent_folder(path);
}

}  // namespace mhc
