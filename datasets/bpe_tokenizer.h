// bpe_tokenizer.h — byte-level byte-pair encoding (BPE), as in GPT-2.
//
// Ids 0..255 are the 256 byte values, so any byte string can be encoded.
// Training repeatedly finds the most frequent adjacent pair of ids in the
// text and gives it a new id (256, 257, ...): one merge per new id. Encoding
// replays the merges in the order they were learned (their "rank").
//
// Merges never cross word boundaries: the text is first split into words
// (split_into_words below), so a token is at most one word (with its leading
// space), never " the" glued to the next word's first letters.
//
// File body (see tokenizer.h for the envelope):
//   merges 768
//   116 104 # "th"        <- merge 0 makes id 256 from ids 116 and 104;
//   32 256 # " th"           the comment shows the bytes of the new token
//   ...
#pragma once
#include <unordered_map>

#include "datasets/tokenizer.h"

namespace mhc {

// Splits text into the pieces BPE merges never cross; concatenating the
// pieces gives the text back exactly. A piece is one of:
//   - a run of letters (ASCII letters and any byte >= 0x80, so UTF-8 characters
//     stay whole), optionally preceded by an apostrophe ("'tis", "'ll"),
//   - a run of digits,
//   - a run of other non-space bytes (punctuation) with the line breaks right
//     after it (".\n", ":\n" end most lines of verse),
//   each optionally preceded by one space (" the", " 42", " --");
//   - a run of whitespace (its last space goes to the next piece when one follows).
std::vector<std::string_view> split_into_words(std::string_view text);

class BpeTokenizer final : public Tokenizer {
 public:
  struct Merge {
    int32_t left, right;  // the pair of ids merged; the new id is 256 + the merge's rank
  };

  // Learns merges until the vocabulary has `vocab_size` ids. If the text runs
  // out of pairs first, training stops early and vocab_size() is smaller than
  // asked. Throws std::invalid_argument for vocab_size < 256.
  static BpeTokenizer train(std::string_view text, int32_t vocab_size);
  // Merge k may only use ids below 256 + k.
  explicit BpeTokenizer(std::vector<Merge> merges);

  std::string kind() const override { return "bpe"; }
  int32_t vocab_size() const override { return 256 + static_cast<int32_t>(merges_.size()); }
  std::vector<int32_t> encode(std::string_view text) const override;
  std::string decode(const std::vector<int32_t>& ids) const override;
  uint64_t fingerprint() const override;

  const std::vector<Merge>& merges() const { return merges_; }
  const std::string& token_bytes(int32_t id) const;  // the bytes an id stands for

  // Parses the kind-specific lines of a tokenizer file (used by Tokenizer::load).
  static BpeTokenizer parse_file_body(const std::vector<std::string_view>& lines);

 protected:
  std::string file_body() const override;

 private:
  // Encodes one word (a piece from split_into_words).
  std::vector<int32_t> encode_word(std::string_view word) const;

  std::vector<Merge> merges_;                           // in rank order
  std::vector<std::string> bytes_of_id_;                // id -> bytes (vocab_size() entries)
  std::unordered_map<uint64_t, int32_t> rank_of_pair_;  // pair_key(left, right) -> rank
};

}  // namespace mhc
