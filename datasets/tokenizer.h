// tokenizer.h — the Tokenizer interface (text <-> integer ids) shared by the
// character-level, byte-level BPE and GPT-2 tokenizers, and its file format.
//
// A tokenizer file is plain text, so a reader can open it and see the vocabulary:
//
//   mhc-tokenizer 1          <- magic and format version
//   kind char                <- "char", "bpe" or "gpt2"; the rest of the body belongs to that kind
//   ...                      <- kind-specific lines (see char_tokenizer.h, bpe_tokenizer.h)
//   checksum 89ab...         <- FNV-1a of every byte above this line, 16 hex digits
//
// The checksum line comes last, so a file cut short is detected as well as
// one whose bytes were changed.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace mhc {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  virtual std::string kind() const = 0;    // "char", "bpe" or "gpt2"
  virtual int32_t vocab_size() const = 0;  // ids are 0 .. vocab_size()-1
  virtual std::vector<int32_t> encode(std::string_view text) const = 0;
  // Exact inverse of encode: decode(encode(s)) == s.
  virtual std::string decode(const std::vector<int32_t>& ids) const = 0;
  // Stable 64-bit hash of the vocabulary (and merges): equal fingerprints
  // mean equal encodings. Used as part of the token-cache key.
  virtual uint64_t fingerprint() const = 0;

  // Writes the tokenizer file to path + ".tmp", then renames it to `path`.
  void save(const std::string& path) const;
  // Reads a file written by save(), whatever its kind. A missing, truncated or
  // corrupt file throws std::runtime_error naming the file and the problem.
  static std::unique_ptr<Tokenizer> load(const std::string& path);

 protected:
  // The kind-specific lines of the file (between "kind ..." and "checksum ..."),
  // each ending in '\n'.
  virtual std::string file_body() const = 0;
};

// The ids of `text`, encoded on every core: cut where no tokenizer here
// changes its ids (a single line end between two non-blank characters) into
// parts of about 64 KiB (a part without such a place stays whole), each
// encoded on its own thread, the ids joined in order. The same ids as
// tok.encode(text), which `mhc tokenize` relies on (tests/test_gpt2_tokenizer.cpp).
std::vector<int32_t> encode_on_all_cores(const Tokenizer& tok, std::string_view text);
// Its parts: consecutive pieces of about part_bytes, each ending at such a
// place (or at the text's end); joined, they are the text.
std::vector<std::string_view> split_at_safe_cuts(std::string_view text, size_t part_bytes);

}  // namespace mhc
