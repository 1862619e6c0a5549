// test_files.h — a temporary folder removed at scope exit, whole-file
// bytes, and a tiny tmpfs for disk-full tests, for the tests that touch files.
#pragma once
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>

namespace mhc::test {

// A fresh, uniquely named empty folder (mkdtemp), removed with everything in
// it at scope exit.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "mhc-test-XXXXXX").string();
    if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed for " + pattern);
    path = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return (path / name).string(); }
};

inline std::string read_bytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

inline void write_bytes(const std::filesystem::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary | std::ios::trunc) << bytes;
}

// A tmpfs of `bytes` (a disk that fills up on cue) mounted on a fresh folder,
// unmounted and removed at scope exit, even when a REQUIRE fails. Mounting
// needs root (tests run as root here and in CI); where it is refused,
// mounted() is false and error() says why: the test then skips visibly.
struct TmpfsMount {
  TempDir dir;  // declared first: removed after the unmount
  explicit TmpfsMount(size_t bytes) {
    if (::mount("tmpfs", dir.path.c_str(), "tmpfs", 0, options(bytes).c_str()) == 0)
      mounted_ = true;
    else
      error_ = std::strerror(errno);
  }
  ~TmpfsMount() {
    if (mounted_) ::umount2(dir.path.c_str(), MNT_DETACH);
  }
  TmpfsMount(const TmpfsMount&) = delete;
  TmpfsMount& operator=(const TmpfsMount&) = delete;
  bool mounted() const { return mounted_; }
  const std::string& error() const { return error_; }
  const std::filesystem::path& path() const { return dir.path; }
  // Changes the size, keeping the files (e.g. "free some space").
  bool resize(size_t bytes) {
    return ::mount("tmpfs", dir.path.c_str(), "tmpfs", MS_REMOUNT, options(bytes).c_str()) == 0;
  }

 private:
  static std::string options(size_t bytes) { return "size=" + std::to_string(bytes) + ",mode=0755"; }
  bool mounted_ = false;
  std::string error_;
};

// Fills the file system holding `dir` to the last byte with `dir`/filler.
inline void fill_up(const std::filesystem::path& dir) {
  const int fd = ::open((dir / "filler").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (fd < 0) return;
  const std::string block(4096, 'x');
  for (size_t n = block.size(); n > 0; n /= 2)
    while (::write(fd, block.data(), n) == static_cast<ssize_t>(n)) {}
  ::close(fd);
}

}  // namespace mhc::test
