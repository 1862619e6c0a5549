// run_dir.h — claiming a run directory for `mhc train`: one writer at a time
// (train/run_lock.h), --overwrite only of an mhc run, and a start that fails
// leaves the disk as it was.
//
//   RunDirClaim claim(dir, options);  // locks; checks; changes nothing yet
//   ... read the data, build the model (may fail: nothing has changed) ...
//   claim.take();                     // --overwrite: the old run moves aside; the directory is made
//   ... the first training step (may fail: the destructor puts the old run back) ...
//   claim.keep();                     // the new run stays; the old one is deleted
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "train/run_lock.h"

namespace mhc {

struct RunOptions;

// Whether `name` (a file name, no folder) is one that an mhc run, or a sweep
// or export into it, writes: config.json, metrics.jsonl, the checkpoint,
// charts, the lock file, and their temporary files.
bool written_by_mhc(const std::string& name);

// The entries of `dir` that an mhc run does not write (for --overwrite's refusal).
std::vector<std::string> foreign_entries(const std::string& dir);

// An output file that `mhc export --out` or `mhc eval --dump-batch` may
// write. Throws std::runtime_error naming `flag` and the path when it is a
// file of a run (its checkpoint, metrics.jsonl, config.json, …: anything a run
// writes but an export, in a folder holding a run), when it exists but is not
// a regular file (a symbolic link, FIFO, device, folder: never replaced by a
// regular file nor followed), or when it is a regular file and `force` is
// false. Creates the missing folders above it when `make_folders`.
void check_output_file(const std::string& path, bool force, const std::string& flag, bool make_folders);

class RunDirClaim {
 public:
  // Locks the directory when it exists (another writer: RunLockedError) and
  // checks it can be claimed; throws naming the problem. Changes nothing.
  RunDirClaim(const std::string& dir, const RunOptions& opt);
  ~RunDirClaim();  // not kept: a directory made by take() is removed, an old run moved aside comes back
  RunDirClaim(const RunDirClaim&) = delete;
  RunDirClaim& operator=(const RunDirClaim&) = delete;

  // A new run: moves an old one (--overwrite) aside to DIR.replaced-by-overwrite,
  // makes the directory and locks it. Nothing for a resume.
  void take();
  // The new run has started: it stays, and the old one moved aside is deleted.
  void keep();
  bool kept() const { return kept_; }

 private:
  std::string dir_, aside_;
  bool resume_, created_ = false, kept_ = false;
  std::unique_ptr<RunLock> lock_, aside_lock_;
};

}  // namespace mhc
