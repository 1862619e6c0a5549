// token_source.h — one split of token ids as the batch sampler sees it,
// whatever holds them: a vector of ids tokenised from text in memory
// (TokenVector), or uint16 token files memory-mapped from disk (MappedTokens,
// several files read as one stream, in order).
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "datasets/mapped_file.h"

namespace mhc {

class TokenSource {
 public:
  virtual ~TokenSource() = default;
  virtual int64_t size() const = 0;  // tokens
  // Copies ids [offset, offset + n) to out[0 .. n), as int32.
  // Pre: 0 <= offset, offset + n <= size().
  virtual void read(int64_t offset, int64_t n, int32_t* out) const = 0;
};

// A view of ids in memory; the vector is not copied and must outlive the view.
class TokenVector final : public TokenSource {
 public:
  explicit TokenVector(const std::vector<int32_t>* ids) : ids_(ids) {}
  int64_t size() const override { return static_cast<int64_t>(ids_->size()); }
  void read(int64_t offset, int64_t n, int32_t* out) const override;

 private:
  const std::vector<int32_t>* ids_;
};

// Little-endian uint16 ids in memory-mapped files, concatenated in the order
// given: a window may run from the end of one file into the next.
class MappedTokens final : public TokenSource {
 public:
  struct Part {
    MappedFile file;
    size_t header_bytes;  // ids start here (0: nanoGPT's headerless files; 1024: llm.c's shards)
    int64_t tokens;       // ids in this file
  };
  explicit MappedTokens(std::vector<Part> parts);
  int64_t size() const override { return total_; }
  void read(int64_t offset, int64_t n, int32_t* out) const override;
  size_t files() const { return parts_.size(); }

 private:
  std::vector<Part> parts_;
  std::vector<int64_t> begin_;  // begin_[i]: the stream offset of parts_[i]'s first id
  int64_t total_ = 0;
};

}  // namespace mhc
