// text_check.cpp — see text_check.h.
#include "datasets/text_check.h"

#include <fmt/format.h>

#include <stdexcept>

#include "datasets/token_files.h"
#include "fileio/utf8.h"

namespace mhc {

namespace {

// What is wrong with the start of the file as text; empty when nothing is.
std::string binary_sign(std::string_view head) {
  if (head.size() >= 4) {
    const auto* p = reinterpret_cast<const unsigned char*>(head.data());
    const uint32_t first = p[0] | p[1] << 8 | p[2] << 16 | static_cast<uint32_t>(p[3]) << 24;
    if (first == static_cast<uint32_t>(kLlmcMagic))
      return fmt::format("it starts with llm.c's shard magic {}", kLlmcMagic);
  }
  if (const size_t nul = head.find('\0'); nul != std::string_view::npos)
    return fmt::format("it has a NUL byte at offset {}", nul);
  for (size_t pos = 0; pos < head.size();) {
    int length = 1;
    try {
      decode_utf8(head, pos, length);
    } catch (const std::invalid_argument& e) {
      if (pos + 4 > head.size() && head.size() == 1024) break;  // a character cut by the end of the KiB looked at
      return e.what();
    }
    pos += static_cast<size_t>(length);
  }
  return "";
}

}  // namespace

void check_text_corpus(const std::string& path, std::string_view bytes) {
  const std::string sign = binary_sign(bytes.substr(0, 1024));
  if (sign.empty()) return;
  throw std::runtime_error(fmt::format(
      "{} is not a text file ({} in its first KiB): token files are not text. To train on token files, pass their "
      "folder or a glob as --data: nanoGPT's train.bin and val.bin (headerless little-endian uint16 ids) or llm.c "
      "shards (a 256 x int32 header with magic {}, version 1, then uint16 ids); to train on text, pass a UTF-8 text file",
      path, sign, kLlmcMagic));
}

}  // namespace mhc
