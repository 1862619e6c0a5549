// run_dir.cpp — see run_dir.h.
#include "train/run_dir.h"

#include "train/run_plots.h"

#include <fmt/core.h>

#include <algorithm>
#include <filesystem>
#include <stdexcept>

#include "train/checkpoint.h"
#include "train/trainer.h"

namespace fs = std::filesystem;

namespace mhc {

namespace {

std::string path_in(const std::string& dir, const char* name) { return (fs::path(dir) / name).string(); }

// A directory with nothing in it but a lock file (a start that took the lock and stopped).
bool empty_but_lock(const std::string& dir) {
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename() != kLockFile) return false;
  return true;
}

}  // namespace

bool written_by_mhc(const std::string& name) {
  static const std::vector<std::string> kNames = [] {
    std::vector<std::string> names = {"config.json", "metrics.jsonl", "tokenizer.txt", kCheckpointFile,
                                      kExportFile,   "outcome.json",  kLockFile,       kBestFile};
    for (const std::string& chart : run_plot_files()) names.push_back(chart);  // the charts' one list
    return names;
  }();
  const std::string base =
      name.size() > 4 && name.compare(name.size() - 4, 4, ".tmp") == 0 ? name.substr(0, name.size() - 4) : name;
  return std::find(kNames.begin(), kNames.end(), base) != kNames.end();
}

std::vector<std::string> foreign_entries(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (!written_by_mhc(name) || !e.is_regular_file()) out.push_back(name);
  }
  return out;
}

void check_output_file(const std::string& path, bool force, const std::string& flag, bool make_folders) {
  const fs::path p(path);
  std::error_code ec;
  const fs::file_status st = fs::symlink_status(p, ec);
  const fs::path folder = p.parent_path().empty() ? fs::path(".") : p.parent_path();
  const bool in_run = fs::exists(folder / "config.json") || fs::exists(folder / kCheckpointFile);
  const std::string name = p.filename().string();
  if (in_run && written_by_mhc(name) && name != kExportFile)
    throw std::runtime_error(
        fmt::format("{} {}: that is a file of the run in {}; refusing to replace it (choose "
                    "another name)",
                    flag, path, folder.string()));
  if (fs::exists(st)) {
    const char* kind = fs::is_symlink(st)                                   ? "a symbolic link"
                       : fs::is_directory(st)                               ? "a folder"
                       : fs::is_fifo(st)                                    ? "a FIFO"
                       : fs::is_character_file(st) || fs::is_block_file(st) ? "a device"
                       : fs::is_socket(st)                                  ? "a socket"
                       : fs::is_regular_file(st)                            ? nullptr
                                                                            : "not a regular file";
    if (kind)
      throw std::runtime_error(
          fmt::format("{} {}: it is {}, which a regular output file would replace; give the "
                      "path of a regular file",
                      flag, path, kind));
    if (!force) throw std::runtime_error(fmt::format("{} {}: the file exists; pass --force to replace it", flag, path));
  }
  if (make_folders && !p.parent_path().empty()) fs::create_directories(p.parent_path());
}

RunDirClaim::RunDirClaim(const std::string& dir, const RunOptions& opt) : dir_(dir), resume_(opt.resume) {
  if (fs::exists(dir) && !fs::is_directory(dir))
    throw std::runtime_error("--run " + dir + " is a file, not a directory");
  if (fs::is_directory(dir)) lock_ = std::make_unique<RunLock>(dir, "run");  // before anything is read
  if (opt.resume) {
    if (!fs::exists(path_in(dir, kCheckpointFile)))
      throw std::runtime_error("--resume: no checkpoint in " + dir + " (expected " + path_in(dir, kCheckpointFile) +
                               "), and no run's config.json to start again from: " +
                               (fs::exists(dir) ? "start a new run there with --overwrite instead of --resume"
                                                : "start a new run without --resume"));
    return;
  }
  if (!fs::is_directory(dir) || empty_but_lock(dir)) return;
  if (!opt.overwrite) {
    const bool started = fs::exists(path_in(dir, "config.json")) && !fs::exists(path_in(dir, kCheckpointFile));
    throw std::runtime_error("run directory " + dir + " already exists; " +
                             (started ? std::string("it stopped before its first checkpoint: pass --resume to start "
                                                    "it again from step 0, or --overwrite to replace it")
                                      : std::string("pass --resume to continue it or --overwrite to replace it")));
  }
  // --overwrite replaces a run, never some other folder given by mistake, nor files kept beside a run.
  const std::vector<std::string> foreign = foreign_entries(dir);
  if (!foreign.empty()) {
    std::string names;
    for (size_t i = 0; i < foreign.size() && i < 5; ++i) names += (i ? ", " : "") + foreign[i];
    if (foreign.size() > 5) names += fmt::format(" and {} more", foreign.size() - 5);
    throw std::runtime_error(
        fmt::format("--overwrite: {} holds {} that an mhc run does not write ({}); refusing to "
                    "delete them (it replaces only a run's own files): move them elsewhere first",
                    dir, foreign.size() == 1 ? "an entry" : "entries", names));
  }
}

void RunDirClaim::take() {
  if (resume_) return;
  if (fs::is_directory(dir_) && !empty_but_lock(dir_)) {
    aside_ = dir_ + ".replaced-by-overwrite";
    fs::remove_all(aside_);
    fs::rename(dir_, aside_);  // our lock moves with it: the old run stays ours until it is deleted
    aside_lock_ = std::move(lock_);
  }
  created_ = !fs::exists(dir_);
  fs::create_directories(dir_);
  if (!lock_) lock_ = std::make_unique<RunLock>(dir_, "run");
  // Two fresh starts raced to make it: the one that locked second finds the other's files.
  if (!empty_but_lock(dir_)) {
    created_ = false;
    throw std::runtime_error("run directory " + dir_ + " was created by another process meanwhile");
  }
}

void RunDirClaim::keep() {
  if (kept_) return;
  kept_ = true;
  if (!aside_.empty()) fs::remove_all(aside_);
  aside_lock_.reset();
}

RunDirClaim::~RunDirClaim() {
  if (kept_ || resume_) return;
  std::error_code ignored;
  if (created_ || !aside_.empty()) fs::remove_all(dir_, ignored);
  if (!aside_.empty()) fs::rename(aside_, dir_, ignored);
}

}  // namespace mhc
