// text_check.h — refusing a binary file given as a text corpus: a token file
// (nanoGPT's train.bin, an llm.c shard) read as text would train on the raw
// bytes of its ids without a word.
#pragma once
#include <string>
#include <string_view>

namespace mhc {

// Looks at the first KiB of `bytes` (the contents of `path`): an llm.c shard's
// magic, a NUL byte or invalid UTF-8 there (a character cut by the KiB's end
// is allowed) throws std::runtime_error naming the file, saying that token
// files are not text and how to pass token files instead.
void check_text_corpus(const std::string& path, std::string_view bytes);

}  // namespace mhc
