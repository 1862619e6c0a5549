// file_io.h — whole-file reads and all-or-nothing writes. A write goes to a
// temporary file that is renamed over the target only once it is complete,
// so a reader never sees a half-written file (rename is atomic on POSIX).
#pragma once
#include <functional>
#include <ostream>
#include <string>
#include <string_view>

namespace mhc {

// Throws std::runtime_error naming the file unless `path` is a regular file
// (or a link to one), saying what it is instead: missing, a directory, a FIFO
// (which would block the read until something writes to it), a character
// device (/dev/zero never ends), a block device or a socket. Only the type is
// looked at; nothing is opened. `what` describes the file, e.g. "checkpoint".
void require_regular_file(const std::string& path, const std::string& what = "file");

// The whole file as bytes (any size). Throws std::runtime_error naming the
// file for: not a regular file (see require_regular_file), unreadable
// (permissions), read error.
// `what` describes the file in messages, e.g. "text file", "tokenizer file".
std::string read_file(const std::string& path, const std::string& what = "file");

// Writes `bytes` to `temp_path`, flushes and closes it, then renames it to
// `path`. On any failure the temporary file is removed and std::runtime_error
// says which step failed; `path` is then untouched.
void write_file_atomically(const std::string& path, std::string_view bytes,
                           const std::string& temp_path);

// The same for content too large to hold twice: `write` streams it into the
// temporary file (it may seek, e.g. to fill in a header last).
void write_file_atomically(const std::string& path, const std::function<void(std::ostream&)>& write,
                           const std::string& temp_path);

}  // namespace mhc
