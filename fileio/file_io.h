// file_io.h — whole-file reads and all-or-nothing, durable writes. A write
// goes to a temporary file that is fsynced, renamed over the target only once
// it is complete, and then the folder is fsynced too: a reader never sees a
// half-written file (rename is atomic on POSIX), and after a power loss the
// target holds either its old or its new contents, never zeros or a stub.
#pragma once
#include <functional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>

namespace mhc {

// Throws std::runtime_error naming the file unless `path` is a regular file
// (or a link to one), saying what it is instead: missing, a directory, a FIFO
// (which would block the read until something writes to it), a character
// device (/dev/zero never ends), a block device or a socket. Only the type is
// looked at; nothing is opened. `what` describes the file, e.g. "checkpoint".
void require_regular_file(const std::string& path, const std::string& what = "file");

// A file could not be written (disk full, permissions, I/O error). The
// message names the file and the system's reason (strerror).
class WriteError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The whole file as bytes (any size). Throws std::runtime_error naming the
// file for: not a regular file (see require_regular_file), unreadable
// (permissions), read error.
// `what` describes the file in messages, e.g. "text file", "tokenizer file".
std::string read_file(const std::string& path, const std::string& what = "file");

// Writes `bytes` to `temp_path`, fsyncs and closes it, renames it to `path`
// and fsyncs the folder. On any failure the temporary file is removed and a
// WriteError names `path`, the step that failed and the system's reason;
// `path` is then untouched.
void write_file_atomically(const std::string& path, std::string_view bytes, const std::string& temp_path);

// The same for content too large to hold twice: `write` streams it into the
// temporary file (it may seek, e.g. to fill in a header last). Once a write
// has failed the stream is bad and further output is dropped, so `write`
// need not check; an exception from `write` also removes the temporary file.
void write_file_atomically(const std::string& path, const std::function<void(std::ostream&)>& write,
                           const std::string& temp_path);

// fsync of the folder holding `path`, so that a rename or a newly created
// file in it survives a power loss. Throws WriteError on failure (a file
// system that cannot sync folders is not a failure).
void sync_parent_folder(const std::string& path);

}  // namespace mhc
