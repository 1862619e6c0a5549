// token_source.cpp — reading windows of ids from memory or from mapped files.
#include "datasets/token_source.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace mhc {

void TokenVector::read(int64_t offset, int64_t n, int32_t* out) const { std::copy_n(ids_->begin() + offset, n, out); }

namespace {
// A fault maps the page cache's whole folio around the address (up to 2 MiB
// where the file was read sequentially before), so sampling windows would
// grow this process's resident memory toward the size of the data. The
// window is copied out: its pages are unmapped again (the page cache keeps
// them; a later read maps them back), and resident memory stays flat.
void release(const unsigned char* p, size_t n) {
  static const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t begin = reinterpret_cast<uintptr_t>(p) & ~(page - 1);
  const uintptr_t end = reinterpret_cast<uintptr_t>(p) + n;
  ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}
}  // namespace

MappedTokens::MappedTokens(std::vector<Part> parts) : parts_(std::move(parts)) {
  for (const Part& p : parts_) {
    begin_.push_back(total_);
    total_ += p.tokens;
  }
}

void MappedTokens::read(int64_t offset, int64_t n, int32_t* out) const {
  // The last part that begins at or before `offset` (empty parts are skipped by the loop).
  size_t i = static_cast<size_t>(std::upper_bound(begin_.begin(), begin_.end(), offset) - begin_.begin()) - 1;
  while (n > 0) {
    const Part& p = parts_[i];
    const int64_t local = offset - begin_[i];
    const int64_t take = std::min(n, p.tokens - local);
    const unsigned char* bytes = p.file.data() + p.header_bytes + 2 * local;
    for (int64_t k = 0; k < take; ++k)  // little-endian uint16, whatever the host's order
      out[k] = static_cast<int32_t>(bytes[2 * k]) | (static_cast<int32_t>(bytes[2 * k + 1]) << 8);
    release(bytes, static_cast<size_t>(2 * take));
    out += take, offset += take, n -= take;
    ++i;
  }
}

}  // namespace mhc
