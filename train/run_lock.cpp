// run_lock.cpp — see run_lock.h.
#include "train/run_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <fmt/core.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

namespace mhc {

namespace {

// The process id written in the lock file (0 when unreadable).
long holder_pid(int fd) {
  char buf[32] = {};
  const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  return n > 0 ? std::strtol(buf, nullptr, 10) : 0;
}

}  // namespace

RunLock::RunLock(const std::string& dir, const std::string& what)
    : path_((std::filesystem::path(dir) / kLockFile).string()) {
  fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd_ < 0) throw std::runtime_error(fmt::format("cannot open the lock file {}: {}", path_, std::strerror(errno)));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    const long pid = err == EWOULDBLOCK ? holder_pid(fd_) : 0;
    ::close(fd_);
    fd_ = -1;
    if (err != EWOULDBLOCK) throw std::runtime_error(fmt::format("cannot lock {}: {}", path_, std::strerror(err)));
    throw RunLockedError(
        fmt::format("{} directory {} is in use by another mhc process{} (it holds {}); only one process may write "
                    "into a {} at a time: wait for it to end, or stop it first",
                    what, dir, pid > 0 ? fmt::format(" (pid {})", pid) : std::string(), path_, what),
        pid);
  }
  // Ours now: record who holds it (only a message reads it back).
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    // A lock without the pid still works; the message of a refused process then omits it.
  }
}

RunLock::~RunLock() {
  if (fd_ >= 0) ::close(fd_);  // closing releases the flock
}

}  // namespace mhc
