// gpt2_files.h — a small GPT-2 tokenizer as files, for the tests: the 256
// byte symbols (ids 0..255 in byte order), nine merges that spell "Hello" and
// " world" (ids 256..264), and <|endoftext|> (265), written as OpenAI's
// encoder.json + vocab.bpe.
#pragma once
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "datasets/gpt2_tokenizer.h"
#include "test_files.h"

namespace mhc::test {

// The 256 byte symbols (ids 0..255, byte order), the tokens the merges make, then <|endoftext|>.
inline const std::vector<std::string> kMerges = {"H e", "l l",   "He ll",  "Hell o", "Ġ w",
                                                 "o r", "Ġw or", "Ġwor l", "Ġworl d"};

inline nlohmann::ordered_json small_vocab(bool with_end_of_text) {
  nlohmann::ordered_json v = nlohmann::ordered_json::object();
  for (int b = 0; b < 256; ++b) v[byte_symbol(static_cast<unsigned char>(b))] = b;
  int id = 256;
  for (const std::string& m : kMerges) v[m.substr(0, m.find(' ')) + m.substr(m.find(' ') + 1)] = id++;
  if (with_end_of_text) v["<|endoftext|>"] = id;
  return v;
}

inline void write_openai_files(const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  write_bytes(dir / "encoder.json", small_vocab(true).dump());
  std::string bpe = "#version: 0.2\n";
  for (const std::string& m : kMerges) bpe += m + "\n";
  write_bytes(dir / "vocab.bpe", bpe);
}

}  // namespace mhc::test
