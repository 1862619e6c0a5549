// bpe_tokenizer.cpp — the BPE trainer, encoder and decoder.
//
// The trainer works on the table of unique words, not on the raw text: Tiny
// Shakespeare has about 200k words but only about 25k different ones, and a
// merge only changes the words that contain the merged pair. It keeps, for
// every adjacent pair of ids, how often it occurs (summed over the words,
// weighted by how often each word occurs) and which words contain it. A merge
// then touches only those words and updates the counts of the pairs around
// them, so one merge costs a few microseconds instead of a pass over the text.
#include "datasets/bpe_tokenizer.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <limits>
#include <map>
#include <queue>
#include <stdexcept>

#include "fileio/hash.h"

namespace mhc {

namespace {

// ---- words -------------------------------------------------------------------

enum class ByteClass { space, letter, digit, other };

ByteClass classify(unsigned char b) {
  if (b == ' ' || b == '\t' || b == '\n' || b == '\r' || b == '\v' || b == '\f') return ByteClass::space;
  if ((b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || b >= 0x80) return ByteClass::letter;
  if (b >= '0' && b <= '9') return ByteClass::digit;
  return ByteClass::other;
}

// ---- pairs -------------------------------------------------------------------

// One 64-bit key for an ordered pair of ids.
uint64_t pair_key(int32_t left, int32_t right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
}
int32_t key_left(uint64_t key) { return static_cast<int32_t>(key >> 32); }
int32_t key_right(uint64_t key) { return static_cast<int32_t>(key & 0xffffffffu); }

// Replaces every non-overlapping occurrence of (left, right) in `symbols`,
// scanning left to right, with `merged`.
void merge_pair(std::vector<int32_t>& symbols, int32_t left, int32_t right, int32_t merged) {
  size_t out = 0;
  for (size_t i = 0; i < symbols.size(); ++i) {
    if (i + 1 < symbols.size() && symbols[i] == left && symbols[i + 1] == right) {
      symbols[out++] = merged;
      ++i;  // skip `right`
    } else {
      symbols[out++] = symbols[i];
    }
  }
  symbols.resize(out);
}

bool contains_pair(const std::vector<int32_t>& symbols, int32_t left, int32_t right) {
  for (size_t i = 0; i + 1 < symbols.size(); ++i)
    if (symbols[i] == left && symbols[i + 1] == right) return true;
  return false;
}

// A pair waiting in the priority queue with the count it had when queued.
// The queue's top is the most frequent pair; ties go to the smallest
// (left, right), so training is deterministic.
struct Candidate {
  int64_t count;
  uint64_t key;                                   // pair_key(left, right): comparing keys compares (left, right)
  bool operator<(const Candidate& other) const {  // "lower priority than"
    if (count != other.count) return count < other.count;
    return key > other.key;
  }
};

// Bytes shown in the file's comments: printable ASCII as is, others escaped.
std::string escape_bytes(const std::string& bytes) {
  std::string out;
  for (unsigned char b : bytes) {
    if (b == '\n')
      out += "\\n";
    else if (b == '\t')
      out += "\\t";
    else if (b == '"' || b == '\\')
      out += {'\\', static_cast<char>(b)};
    else if (b >= 0x20 && b < 0x7F)
      out += static_cast<char>(b);
    else
      out += fmt::format("\\x{:02x}", b);
  }
  return out;
}

}  // namespace

std::vector<std::string_view> split_into_words(std::string_view text) {
  std::vector<std::string_view> words;
  const size_t n = text.size();
  auto class_at = [&](size_t i) { return classify(static_cast<unsigned char>(text[i])); };
  size_t i = 0;
  while (i < n) {
    const size_t start = i;
    // One space directly before a non-space run belongs to that run; so does
    // an apostrophe directly before letters ("'tis", "'ll").
    if (text[i] == ' ' && i + 1 < n && class_at(i + 1) != ByteClass::space) ++i;
    if (text[i] == '\'' && i + 1 < n && class_at(i + 1) == ByteClass::letter) ++i;
    const ByteClass cls = class_at(i);
    size_t end = i + 1;
    while (end < n && class_at(end) == cls) ++end;
    if (cls == ByteClass::other)  // punctuation keeps the line breaks that follow it (".\n", ":\n")
      while (end < n && (text[end] == '\n' || text[end] == '\r')) ++end;
    // A whitespace run leaves its final space to the word that follows it.
    if (cls == ByteClass::space && end < n && end - start > 1 && text[end - 1] == ' ') --end;
    words.push_back(text.substr(start, end - start));
    i = end;
  }
  return words;
}

// ---- training ------------------------------------------------------------------

namespace {

// A unique word of the training text: its current symbols and how often it occurs.
struct Word {
  std::vector<int32_t> symbols;  // current ids; starts as the bytes
  int64_t count;                 // occurrences in the text
};

// 1. The unique words and how often each occurs. std::map keeps them in
//    byte order, so nothing below depends on hash-table iteration order.
std::vector<Word> unique_words(std::string_view text) {
  std::map<std::string_view, int64_t> word_counts;
  for (std::string_view word : split_into_words(text)) ++word_counts[word];
  std::vector<Word> words;
  words.reserve(word_counts.size());
  for (const auto& [bytes, count] : word_counts) {
    Word w{{}, count};
    for (unsigned char b : bytes) w.symbols.push_back(b);
    words.push_back(std::move(w));
  }
  return words;
}

// 2. Pair statistics: the count of every adjacent pair, the words holding
//    it, and a queue of (count, pair) whose stale entries are skipped.
struct PairTable {
  std::unordered_map<uint64_t, int64_t> count;
  std::unordered_map<uint64_t, std::vector<int32_t>> holders;
  std::priority_queue<Candidate> queue;
};
PairTable count_pairs(const std::vector<Word>& words) {
  PairTable t;
  for (int32_t w = 0; w < static_cast<int32_t>(words.size()); ++w) {
    const auto& s = words[w].symbols;
    for (size_t i = 0; i + 1 < s.size(); ++i) {
      const uint64_t key = pair_key(s[i], s[i + 1]);
      t.count[key] += words[w].count;
      auto& holders = t.holders[key];
      if (holders.empty() || holders.back() != w) holders.push_back(w);
    }
  }
  for (const auto& [key, count] : t.count) t.queue.push({count, key});
  return t;
}

// The most frequent pair, or false when every word is a single token. Queue
// entries go stale when a pair's count changes (a fresher entry is queued
// then); an entry whose count is no longer the pair's count is skipped.
bool pop_best(PairTable& t, uint64_t& best) {
  while (!t.queue.empty()) {
    const auto it = t.count.find(t.queue.top().key);
    if (it != t.count.end() && it->second == t.queue.top().count) break;
    t.queue.pop();
  }
  if (t.queue.empty()) return false;
  best = t.queue.top().key;
  t.queue.pop();
  return true;
}

// 3. Merges (left, right) into `merged` in every word that holds it and
//    re-counts their pairs: take a word's old pairs out, merge, put its new
//    pairs in. Pairs with the new id are new, so only they need the word
//    added to their holder lists.
void apply_merge(PairTable& t, std::vector<Word>& words, uint64_t best, int32_t merged) {
  const int32_t left = key_left(best), right = key_right(best);
  std::unordered_map<uint64_t, int64_t> change;  // pair -> change in its count
  std::vector<int32_t> holders = std::move(t.holders[best]);
  t.holders.erase(best);
  for (int32_t w : holders) {
    Word& word = words[w];
    if (!contains_pair(word.symbols, left, right)) continue;  // listed twice, already done
    for (size_t i = 0; i + 1 < word.symbols.size(); ++i)
      change[pair_key(word.symbols[i], word.symbols[i + 1])] -= word.count;
    merge_pair(word.symbols, left, right, merged);
    for (size_t i = 0; i + 1 < word.symbols.size(); ++i) {
      const uint64_t key = pair_key(word.symbols[i], word.symbols[i + 1]);
      change[key] += word.count;
      if (word.symbols[i] == merged || word.symbols[i + 1] == merged) {
        auto& list = t.holders[key];
        if (list.empty() || list.back() != w) list.push_back(w);
      }
    }
  }
  for (const auto& [key, delta] : change) {
    if (delta == 0) continue;
    const int64_t count = (t.count[key] += delta);
    if (count > 0) {
      t.queue.push({count, key});
    } else {  // gone for good: only merges can create pairs, and they create new ids
      t.count.erase(key);
      t.holders.erase(key);
    }
  }
}

}  // namespace

BpeTokenizer BpeTokenizer::train(std::string_view text, int32_t vocab_size) {
  if (vocab_size < 256)
    throw std::invalid_argument(
        fmt::format("BpeTokenizer::train: vocab_size {} is below 256 (ids 0..255 are the bytes)", vocab_size));
  std::vector<Word> words = unique_words(text);
  PairTable pairs = count_pairs(words);
  // Merge the most frequent pair until the vocabulary is full.
  std::vector<Merge> merges;
  uint64_t best = 0;
  while (256 + static_cast<int64_t>(merges.size()) < vocab_size && pop_best(pairs, best)) {
    const int32_t merged = 256 + static_cast<int32_t>(merges.size());
    merges.push_back({key_left(best), key_right(best)});
    apply_merge(pairs, words, best, merged);
  }
  return BpeTokenizer(std::move(merges));
}

// ---- the tokenizer ----------------------------------------------------------------

BpeTokenizer::BpeTokenizer(std::vector<Merge> merges) : merges_(std::move(merges)) {
  bytes_of_id_.reserve(256 + merges_.size());
  for (int b = 0; b < 256; ++b) bytes_of_id_.emplace_back(1, static_cast<char>(b));
  for (size_t rank = 0; rank < merges_.size(); ++rank) {
    const auto [left, right] = merges_[rank];
    const int64_t next_id = 256 + static_cast<int64_t>(rank);
    if (left < 0 || right < 0 || left >= next_id || right >= next_id)
      throw std::invalid_argument(fmt::format(
          "BpeTokenizer: merge {} ({}, {}) uses an id outside [0, {}) (ids must exist before they are merged)", rank,
          left, right, next_id));
    if (!rank_of_pair_.emplace(pair_key(left, right), static_cast<int32_t>(rank)).second)
      throw std::invalid_argument(
          fmt::format("BpeTokenizer: merge {} ({}, {}) repeats an earlier merge", rank, left, right));
    bytes_of_id_.push_back(bytes_of_id_[left] + bytes_of_id_[right]);
  }
}

std::vector<int32_t> BpeTokenizer::encode_word(std::string_view word) const {
  std::vector<int32_t> symbols(word.begin(), word.end());
  for (auto& s : symbols) s = static_cast<unsigned char>(s);
  // Apply the lowest-ranked merge present, then again, until none applies.
  // This replays training: merges were learned in rank order.
  while (symbols.size() > 1) {
    int32_t best_rank = std::numeric_limits<int32_t>::max();
    for (size_t i = 0; i + 1 < symbols.size(); ++i) {
      const auto it = rank_of_pair_.find(pair_key(symbols[i], symbols[i + 1]));
      if (it != rank_of_pair_.end()) best_rank = std::min(best_rank, it->second);
    }
    if (best_rank == std::numeric_limits<int32_t>::max()) break;
    const Merge& m = merges_[best_rank];
    merge_pair(symbols, m.left, m.right, 256 + best_rank);
  }
  return symbols;
}

std::vector<int32_t> BpeTokenizer::encode(std::string_view text) const {
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 2);
  // Words repeat a lot; encode each distinct word once per call.
  std::unordered_map<std::string_view, std::vector<int32_t>> seen;
  for (std::string_view word : split_into_words(text)) {
    auto it = seen.find(word);
    if (it == seen.end()) it = seen.emplace(word, encode_word(word)).first;
    ids.insert(ids.end(), it->second.begin(), it->second.end());
  }
  return ids;
}

std::string BpeTokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string text;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= vocab_size())
      throw std::invalid_argument(
          fmt::format("BpeTokenizer::decode: id {} at position {} is outside [0, {})", ids[i], i, vocab_size()));
    text += bytes_of_id_[ids[i]];
  }
  return text;
}

const std::string& BpeTokenizer::token_bytes(int32_t id) const {
  if (id < 0 || id >= vocab_size())
    throw std::invalid_argument(fmt::format("BpeTokenizer::token_bytes: id {} is outside [0, {})", id, vocab_size()));
  return bytes_of_id_[id];
}

uint64_t BpeTokenizer::fingerprint() const {
  uint64_t hash = fnv1a64("bpe");
  for (const Merge& m : merges_) {
    for (int32_t id : {m.left, m.right}) {
      const auto u = static_cast<uint32_t>(id);
      const unsigned char bytes[4] = {static_cast<unsigned char>(u), static_cast<unsigned char>(u >> 8),
                                      static_cast<unsigned char>(u >> 16), static_cast<unsigned char>(u >> 24)};
      hash = fnv1a64(bytes, 4, hash);
    }
  }
  return hash;
}

std::string BpeTokenizer::file_body() const {
  std::string body = fmt::format("merges {}\n", merges_.size());
  for (size_t rank = 0; rank < merges_.size(); ++rank)
    body += fmt::format("{} {} # \"{}\"\n", merges_[rank].left, merges_[rank].right,
                        escape_bytes(bytes_of_id_[256 + rank]));
  return body;
}

BpeTokenizer BpeTokenizer::parse_file_body(const std::vector<std::string_view>& lines) {
  auto parse_int = [](std::string_view text, auto& value) {  // the whole text, in range
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    return ec == std::errc() && end == text.data() + text.size();
  };
  constexpr std::string_view kHeader = "merges ";
  int64_t count = 0;
  if (lines.empty() || lines[0].substr(0, kHeader.size()) != kHeader ||
      !parse_int(lines[0].substr(kHeader.size()), count))
    throw std::runtime_error("the BPE body should start with a 'merges N' line");
  if (static_cast<int64_t>(lines.size()) - 1 != count)
    throw std::runtime_error(fmt::format("'merges {}' but {} merges are listed", count, lines.size() - 1));

  std::vector<Merge> merges;
  for (size_t i = 1; i < lines.size(); ++i) {
    std::string_view line = lines[i];
    line = line.substr(0, line.find(" #"));  // drop the comment
    const size_t space = line.find(' ');
    int32_t left = -1, right = -1;
    if (space == std::string_view::npos || !parse_int(line.substr(0, space), left) ||
        !parse_int(line.substr(space + 1), right))
      throw std::runtime_error(fmt::format("merge {} '{}' is not of the form 'LEFT RIGHT'", i - 1, lines[i]));
    merges.push_back({left, right});
  }
  return BpeTokenizer(std::move(merges));
}

}  // namespace mhc
