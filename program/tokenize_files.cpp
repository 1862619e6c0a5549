// tokenize_files.cpp — see tokenize_files.h.
#include "program/tokenize_files.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>

#include "fileio/file_io.h"
#include "datasets/shard_writer.h"
#include "datasets/text_check.h"
#include "datasets/tokenizer_spec.h"
#include "fileio/utf8.h"

namespace fs = std::filesystem;

namespace mhc {

namespace {

constexpr size_t kPiece = 1 << 20;  // bytes read at a time

// Calls `use(text)` for consecutive pieces of all inputs, each ending at a
// line end where there is one (else at a character boundary), until `use`
// returns false. Checks the start of each file is text.
void for_each_piece(const std::vector<std::string>& inputs, const std::function<bool(std::string_view)>& use) {
  std::string carry;
  for (const std::string& path : inputs) {
    std::ifstream in(path, std::ios::binary);
    std::string buf(kPiece, '\0');
    bool first = true;
    while (in) {
      in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
      const auto got = static_cast<size_t>(in.gcount());
      if (in.bad()) throw std::runtime_error(path + ": read error");
      if (first) check_text_corpus(path, std::string_view(buf.data(), got)), first = false;
      carry.append(buf.data(), got);
      size_t cut = carry.rfind('\n');
      cut = cut == std::string::npos ? carry.size() : cut + 1;
      if (cut == carry.size() || cut < carry.size() / 2) {  // no line end nearby: cut before a character's lead byte
        cut = carry.size();
        while (cut > 0 && in && (static_cast<unsigned char>(carry[cut - 1]) & 0xC0) == 0x80) --cut;
        if (cut > 0 && in && static_cast<unsigned char>(carry[cut - 1]) >= 0xC0) --cut;
      }
      if (!in) cut = carry.size();  // the file's end ends the piece
      if (cut > 0 && !use(std::string_view(carry.data(), cut))) return;
      carry.erase(0, cut);
    }
  }
}

// The text a learnt tokenizer is trained from: for char, every distinct
// character of the input once (a pass over it all); for bpe, its first sample_mb.
std::string training_text(const TokenizeOptions& opt, bool every_character) {
  if (!every_character) {
    std::string sample;
    const auto limit = static_cast<size_t>(opt.sample_mb * (1 << 20));
    for_each_piece(opt.inputs, [&](std::string_view piece) {
      sample.append(piece.substr(0, limit - sample.size()));
      return sample.size() < limit;
    });
    return sample;
  }
  std::set<char32_t> seen;
  for_each_piece(opt.inputs, [&](std::string_view piece) {
    for (size_t pos = 0; pos < piece.size();) {
      int length = 1;
      seen.insert(decode_utf8(piece, pos, length));
      pos += static_cast<size_t>(length);
    }
    return true;
  });
  std::string all;
  for (char32_t cp : seen) append_utf8(all, cp);
  return all;
}

void print_progress(int64_t done, int64_t total, double seconds) {
  const double mb = static_cast<double>(done) / 1e6, rate = seconds > 0 ? mb / seconds : 0;
  const double eta = rate > 0 ? (static_cast<double>(total - done) / 1e6) / rate : 0;
  fmt::print(stderr, "\rtokenize: {:.1f} of {:.1f} MB ({:.0f} %), {:.1f} MB/s, ETA {:.0f} s   ", mb,
             static_cast<double>(total) / 1e6,
             100.0 * static_cast<double>(done) / static_cast<double>(std::max<int64_t>(total, 1)), rate, eta);
}

}  // namespace

TokenizeSummary tokenize_files(const TokenizeOptions& opt) {
  const auto t0 = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
  if (opt.inputs.empty()) throw std::invalid_argument("mhc tokenize: no input files");
  if (!(opt.val_fraction > 0 && opt.val_fraction < 1))
    throw std::invalid_argument(fmt::format("--val_fraction {} is outside (0, 1)", opt.val_fraction));
  int64_t total = 0;
  for (const std::string& f : opt.inputs) {
    require_regular_file(f, "text file");
    total += static_cast<int64_t>(fs::file_size(f));
  }
  if (total == 0) throw std::runtime_error("mhc tokenize: the input files are empty");
  const TokenizerSpec spec = parse_tokenizer_spec(opt.tokenizer, opt.vocab_size);
  const std::unique_ptr<Tokenizer> tok =
      make_tokenizer(spec, spec.learnt() ? training_text(opt, spec.kind == TokenizerSpec::Kind::Char) : "");
  if (tok->vocab_size() > 65536)
    throw std::invalid_argument(fmt::format("a vocabulary of {} does not fit llm.c's uint16 ids", tok->vocab_size()));
  fs::create_directories(opt.out);
  const std::string prefix = fs::path(opt.inputs.front()).stem().string();
  ShardWriter train(opt.out, prefix, "train", opt.shard_tokens), val(opt.out, prefix, "val", opt.shard_tokens);
  const auto val_from = static_cast<int64_t>(static_cast<double>(total) * (1 - opt.val_fraction));  // byte offset
  int64_t done = 0;
  double last_print = -1;
  for_each_piece(opt.inputs, [&](std::string_view piece) {
    // The piece that crosses val_from is cut at its last line end before it (if any).
    std::string_view to_train = piece, to_val;
    if (done + static_cast<int64_t>(piece.size()) > val_from) {
      const size_t at = done >= val_from ? 0 : static_cast<size_t>(val_from - done);
      size_t cut = at == 0 ? 0 : piece.rfind('\n', at);
      cut = cut == std::string_view::npos ? at : (at == 0 ? 0 : cut + 1);
      while (cut > 0 && cut < piece.size() && (static_cast<unsigned char>(piece[cut]) & 0xC0) == 0x80)
        --cut;  // whole characters
      to_train = piece.substr(0, cut), to_val = piece.substr(cut);
    }
    if (!to_train.empty()) train.add(encode_on_all_cores(*tok, to_train));
    if (!to_val.empty()) val.add(encode_on_all_cores(*tok, to_val));
    done += static_cast<int64_t>(piece.size());
    if (opt.progress && (elapsed() - last_print > 0.5 || done == total))
      print_progress(done, total, last_print = elapsed());
    return true;
  });
  if (opt.progress) fmt::print(stderr, "\n");
  TokenizeSummary s;
  s.train_tokens = train.tokens(), s.val_tokens = val.tokens(), s.bytes = total;
  if (s.train_tokens == 0 || s.val_tokens == 0)
    throw std::runtime_error(
        fmt::format("mhc tokenize: the {} split would be empty ({} bytes of text, --val_fraction {}): "
                    "use more text or another fraction",
                    s.train_tokens == 0 ? "training" : "validation", total, opt.val_fraction));
  s.train_shards = train.finish(), s.val_shards = val.finish();
  tok->save((fs::path(opt.out) / "tokenizer.txt").string());
  s.seconds = elapsed();
  return s;
}

}  // namespace mhc
