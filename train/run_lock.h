// run_lock.h — one writer per run (or sweep) directory. A process that
// writes into a directory first takes an exclusive flock(2) on the lock file
// DIR/.mhc.lock and writes its process id into it; a second process is
// refused at once with a message naming that id. The kernel releases the
// lock when the holder exits, however it dies (kill -9 included), so a lock
// is never left stuck; the file itself stays (removing it would let two
// processes lock two different files of one name).
//
//   RunLock lock(run_dir, "run");   // throws RunLockedError when another process holds it
#pragma once
#include <stdexcept>
#include <string>

namespace mhc {

inline constexpr const char* kLockFile = ".mhc.lock";  // in the run or sweep directory

// Another process holds the directory's lock; pid() is its process id (0 when unknown).
class RunLockedError : public std::runtime_error {
 public:
  RunLockedError(const std::string& what, long pid) : std::runtime_error(what), pid_(pid) {}
  long pid() const { return pid_; }

 private:
  long pid_;
};

class RunLock {
 public:
  // Locks DIR/.mhc.lock (DIR must exist; the file is created when missing).
  // `what` names the directory's kind in messages ("run", "sweep").
  // Throws RunLockedError when another process holds the lock, and
  // std::runtime_error when the file cannot be opened or locked.
  RunLock(const std::string& dir, const std::string& what);
  ~RunLock();  // releases the lock (the file stays)
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
};

}  // namespace mhc
