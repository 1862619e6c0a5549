// cmd_tokenize.cpp — `mhc tokenize`: text files to llm.c token shards for
// `mhc train --data DIR` (program/tokenize_files.h).
#include <fmt/core.h>

#include <algorithm>
#include <cstdint>

#include "program/subcommand.h"
#include "program/tokenize_files.h"

namespace mhc {

namespace {

class TokenizeCommand : public Subcommand {
 public:
  explicit TokenizeCommand(CLI::App& parent) {
    CLI::App* a = app_ = parent.add_subcommand("tokenize",
                                               "text files to llm.c token shards (train and val) for "
                                               "`mhc train --data DIR`; streaming");
    a->add_option("inputs", tz_.inputs, "UTF-8 text files, read in order as one text")->required();
    a->add_option("--tokenizer", tz_.tokenizer,
                  "char | bpe | gpt2:PATH (GPT-2's encoder.json + vocab.bpe folder, or tokenizer.json)")
        ->capture_default_str();
    a->add_option("--out", tz_.out, "output folder (created)")->required();
    a->add_option("--vocab_size", tz_.vocab_size, "bpe: the vocabulary to learn (at most 65536)")
        ->check(CLI::Range(257, 65536))
        ->capture_default_str();
    a->add_option("--shard_tokens", tz_.shard_tokens, "token ids per shard")
        ->check(CLI::Range(int64_t{1}, int64_t{INT32_MAX}))
        ->capture_default_str();
    a->add_option("--val_fraction", tz_.val_fraction,
                  "the last share of the text (by bytes, at a line end) is the validation split")
        ->capture_default_str();
    a->add_option("--sample_mb", tz_.sample_mb, "bpe: MiB of text (from the start) the merges are learnt from")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
  }
  int run(const CommandContext&) override {
    const TokenizeSummary t = tokenize_files(tz_);
    const double mb = static_cast<double>(t.bytes) / 1e6;
    fmt::print(
        "wrote {} training shard(s) ({} tokens) and {} validation shard(s) ({} tokens) and tokenizer.txt to {} "
        "({:.1f} MB of text in {:.2f} s, {:.1f} MB/s)\ntrain on them with: mhc train --data {}\n",
        t.train_shards.size(), t.train_tokens, t.val_shards.size(), t.val_tokens, tz_.out, mb, t.seconds,
        mb / std::max(t.seconds, 1e-9), tz_.out);
    return 0;
  }

 private:
  TokenizeOptions tz_;
};

}  // namespace

std::unique_ptr<Subcommand> add_tokenize(CLI::App& app) { return std::make_unique<TokenizeCommand>(app); }

}  // namespace mhc
