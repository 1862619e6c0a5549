// test_token_cli.cpp — `mhc train` on token files as users run it: nanoGPT
// and llm.c folders train (GPT-2's vocabulary by default), the files are
// recorded in config.json, a resumed run continues bit for bit and refuses a
// changed shard, a damaged file is refused before anything is written, a
// token file given as text is refused, and `mhc sample` refuses a run that
// has no tokenizer while `mhc eval` scores it.
#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>

#include "mhc_process.h"
#include "datasets/token_files.h"
#include "datasets/tokenizer.h"
#include "gpt2_files.h"
#include "test_files.h"
#include "token_file_writer.h"
#include "fileio/json_io.h"
#include "train/metrics.h"

namespace fs = std::filesystem;
using Catch::Contains;
using namespace mhc::test;

namespace {

using mhc::test::Result;
using mhc::test::run_mhc;

const std::string kTinyModel =
    " --model.blocks 1 --model.width 16 --model.heads 2 --model.block_size 8 --optim.batch_size 2 --optim.warmup 1"
    " --eval.batches 2 --eval.sample_tokens 0";

// A folder of llm.c shards: two training shards and one validation shard, ids below 1000.
void write_llmc_set(const fs::path& dir) {
  fs::create_directories(dir);
  write_llmc((dir / "tiny_train_000001.bin").string(), id_ramp(3000, 0));
  write_llmc((dir / "tiny_train_000002.bin").string(), id_ramp(2000, 17));
  write_llmc((dir / "tiny_val_000000.bin").string(), id_ramp(500, 5));
}

}  // namespace

TEST_CASE("token files: a nanoGPT folder trains with GPT-2's vocabulary, sample refuses, eval scores",
          "[cli][token_files]") {
  TempDir d;
  fs::create_directories(d.path / "owt");
  write_nanogpt(d.file("owt/train.bin"), id_ramp(4000, 0, 50257));
  write_nanogpt(d.file("owt/val.bin"), id_ramp(400, 50000, 50257));
  Result r = run_mhc("train --run r --data owt --optim.steps 2 --eval.every 2" + kTinyModel, d.path);
  INFO(r.output);
  REQUIRE(r.code == 0);
  CHECK_THAT(r.output, Contains("nanoGPT train.bin/val.bin: 1 training + 1 validation files, 4000 + 400 tokens"));
  const mhc::Json cfg = mhc::json::parse_file(d.file("r/config.json"));
  CHECK(cfg.at("model.vocab_size") == 50257);
  REQUIRE(cfg.at("data.files").size() == 2);
  CHECK(cfg.at("data.files")[0].at("name") == "train.bin");
  CHECK(cfg.at("data.files")[0].at("bytes") == 8000);
  CHECK_FALSE(fs::exists(d.file("r/tokenizer.txt")));

  r = run_mhc("sample --run r --prompt hi", d.path);
  CHECK(r.code != 0);
  CHECK_THAT(r.output, Contains("trained on token files") && Contains("has no tokenizer"));
  r = run_mhc("eval --run r", d.path);
  CHECK(r.code == 0);
  CHECK_THAT(r.output, Contains("val loss"));

  // The same file given as a text corpus is refused, as not text.
  r = run_mhc("train --run t --data owt/train.bin --data.tokenizer bpe" + kTinyModel, d.path);
  CHECK(r.code != 0);
  CHECK_THAT(r.output, Contains("owt/train.bin is not a text file") && Contains("token files are not text"));
  CHECK_FALSE(fs::exists(d.path / "t"));
}

TEST_CASE("token files: a run on llm.c shards resumes bit-identically and refuses a changed shard",
          "[cli][token_files]") {
  TempDir d;
  write_llmc_set(d.path / "shards");
  const std::string args =
      " --data shards --model.vocab_size 1000 --optim.schedule constant --eval.every 3" + kTinyModel;
  Result r = run_mhc("train --run full --optim.steps 6" + args, d.path);
  INFO(r.output);
  REQUIRE(r.code == 0);
  REQUIRE(run_mhc("train --run cut --optim.steps 3" + args, d.path).code == 0);
  r = run_mhc("train --run cut --resume --optim.steps 6", d.path);
  REQUIRE(r.code == 0);
  const mhc::RunMetrics full = mhc::read_run_metrics(d.file("full"));
  const mhc::RunMetrics cut = mhc::read_run_metrics(d.file("cut"));
  REQUIRE(full.step.size() == 6);
  CHECK(cut.step == full.step);
  CHECK(cut.loss == full.loss);  // bit for bit
  CHECK(cut.val_loss == full.val_loss);

  // A shard rewritten after the run started: same size, other ids.
  write_llmc(d.file("shards/tiny_train_000002.bin"), mhc::test::id_ramp(2000, 18));
  r = run_mhc("train --run full --resume --optim.steps 8", d.path);
  CHECK(r.code != 0);
  CHECK_THAT(r.output, Contains("tiny_train_000002.bin changed since the run started"));
  r = run_mhc("eval --run full", d.path);
  CHECK(r.code != 0);
  CHECK_THAT(r.output, Contains("tiny_train_000002.bin changed since the run started"));
}

TEST_CASE("token files: a damaged shard or an id beyond the vocabulary is refused before training",
          "[cli][token_files]") {
  TempDir d;
  write_llmc_set(d.path / "shards");
  Result r = run_mhc("train --run r --data 'shards/*.bin' --model.vocab_size 500" + kTinyModel, d.path);
  CHECK(r.code != 0);
  CHECK_THAT(r.output, Contains("tiny_train_000001.bin") && Contains("id 500, at or above the vocabulary of 500"));
  CHECK_FALSE(fs::exists(d.path / "r"));
  write_llmc(d.file("shards/tiny_val_000000.bin"), id_ramp(500, 5), 20240520, 1, 499);
  r = run_mhc("train --run r --data shards --model.vocab_size 1000" + kTinyModel, d.path);
  CHECK(r.code != 0);
  CHECK_THAT(r.output, Contains("tiny_val_000000.bin") && Contains("header says 499 tokens"));
  CHECK_FALSE(fs::exists(d.path / "r"));
  fs::create_directories(d.path / "notes");
  write_bytes(d.file("notes/readme.txt"), "hello");
  r = run_mhc("train --run r --data notes" + kTinyModel, d.path);
  CHECK(r.code != 0);
  CHECK_THAT(r.output, Contains("a folder of token files must hold") && Contains("llm.c shards"));
}

namespace {

// Lines of text with some multi-byte characters, about `lines` × 30 bytes.
std::string sample_text(int lines) {
  std::string text;
  for (int i = 0; i < lines; ++i) text += fmt::format("line {} of the café: {} × {}\n", i, i * 7 % 13, i % 5);
  return text;
}

// Everything the shards in `dir` hold, decoded with the tokenizer beside them.
std::string decode_shards(const fs::path& dir) {
  const mhc::TokenData data = mhc::open_token_files(dir.string(), 65536);
  const auto tok = mhc::Tokenizer::load((dir / "tokenizer.txt").string());
  std::string text;
  for (const mhc::TokenSource* split :
       {static_cast<const mhc::TokenSource*>(data.train.get()), static_cast<const mhc::TokenSource*>(data.val.get())}) {
    std::vector<int32_t> ids(split->size());
    split->read(0, split->size(), ids.data());
    text += tok->decode(ids);
  }
  return text;
}

}  // namespace

TEST_CASE("tokenize: text becomes llm.c shards that decode back to it, and train and sample",
          "[cli][token_files][tokenize]") {
  TempDir d;
  const std::string text =
      sample_text(4000);  // ~120 KB, several 1 MiB-free pieces are not needed: one file, two inputs
  write_bytes(d.file("a.txt"), text.substr(0, 50000));
  write_bytes(d.file("b.txt"), text.substr(50000));
  for (const char* kind : {"char", "bpe"}) {
    INFO(kind);
    const std::string out = std::string("tok_") + kind;
    Result r = run_mhc(
        fmt::format("tokenize a.txt b.txt --tokenizer {} --vocab_size 300 --shard_tokens 20000 --out {}", kind, out),
        d.path);
    INFO(r.output);
    REQUIRE(r.code == 0);
    CHECK_THAT(r.output,
               Contains("tokenize: ") && Contains("MB/s") && Contains("train on them with: mhc train --data"));
    CHECK(fs::exists(d.path / out / "a_train_000000.bin"));
    CHECK(fs::exists(d.path / out / "a_train_000001.bin"));  // more than 20000 ids: a second shard
    CHECK(fs::exists(d.path / out / "a_val_000000.bin"));
    CHECK(decode_shards(d.path / out) == text);  // nothing lost, nothing reordered
    const mhc::TokenData data = mhc::open_token_files((d.path / out).string(), 65536);
    // The validation split is about the last 10 % of the text.
    const double share =
        static_cast<double>(data.val->size()) / static_cast<double>(data.train->size() + data.val->size());
    CHECK(share > 0.07);
    CHECK(share < 0.13);
  }
  // A run on them takes the tokenizer found beside the shards, so it can sample.
  Result r = run_mhc("train --run r --data tok_char --optim.steps 2 --eval.every 2" + kTinyModel, d.path);
  INFO(r.output);
  REQUIRE(r.code == 0);
  CHECK(fs::exists(d.file("r/tokenizer.txt")));
  r = run_mhc("sample --run r --prompt line --tokens 5", d.path);
  CHECK(r.code == 0);
  CHECK_THAT(r.output, Contains("line"));
  // Binary input is refused as not text.
  write_nanogpt(d.file("ids.bin"), id_ramp(100));
  r = run_mhc("tokenize ids.bin --out t2", d.path);
  CHECK(r.code != 0);
  CHECK_THAT(r.output, Contains("ids.bin is not a text file"));
}

TEST_CASE(
    "gpt2: --data.tokenizer gpt2:PATH trains, samples and resumes, and tokenize --tokenizer gpt2:PATH writes its ids",
    "[cli][gpt2]") {
  TempDir d;
  write_openai_files(d.path / "gpt2");
  std::string text;
  for (int i = 0; i < 3000; ++i) text += i % 7 ? "Hello world. " : "Hello world<|endoftext|>";
  write_bytes(d.file("hello.txt"), text);
  const std::string args =
      " --data hello.txt --data.tokenizer gpt2:gpt2 --data.cache_dir cache --optim.schedule constant --eval.every 2" +
      kTinyModel;
  Result r = run_mhc("train --run r --optim.steps 2" + args, d.path);
  INFO(r.output);
  REQUIRE(r.code == 0);
  CHECK(mhc::json::parse_file(d.file("r/config.json")).at("data.tokenizer") == "gpt2:gpt2");
  CHECK(mhc::Tokenizer::load(d.file("r/tokenizer.txt"))->kind() == "gpt2");  // kept whole in the run
  fs::remove_all(d.path / "gpt2");  // the run no longer needs the files it was made from
  r = run_mhc("sample --run r --prompt 'Hello world' --tokens 4 --temperature 0", d.path);
  CHECK(r.code == 0);
  CHECK_THAT(r.output, Contains("Hello world"));
  r = run_mhc("train --run r --resume --optim.steps 4", d.path);
  CHECK(r.code == 0);
  r = run_mhc("train --run bad --data.tokenizer gpt3" + kTinyModel, d.path);
  CHECK(r.code != 0);
  CHECK_THAT(r.output, Contains("char, bpe, gpt2:PATH"));

  write_openai_files(d.path / "gpt2");
  // nanoGPT files of GPT-2 ids: naming the tokenizer lets the run sample.
  fs::create_directories(d.path / "owt");
  write_nanogpt(d.file("owt/train.bin"), id_ramp(2000, 0, 266));
  write_nanogpt(d.file("owt/val.bin"), id_ramp(300, 7, 266));
  r = run_mhc("train --run n --data owt --data.tokenizer gpt2:gpt2 --optim.steps 2" + kTinyModel, d.path);
  REQUIRE(r.code == 0);
  CHECK(mhc::json::parse_file(d.file("n/config.json")).at("model.vocab_size") == 266);  // the tokenizer's vocabulary
  r = run_mhc("sample --run n --prompt 'Hello world' --tokens 3 --temperature 0", d.path);
  CHECK(r.code == 0);
  CHECK_THAT(r.output, Contains("Hello world"));

  r = run_mhc("tokenize hello.txt --tokenizer gpt2:gpt2 --out shards", d.path);
  REQUIRE(r.code == 0);
  CHECK(decode_shards(d.path / "shards") == text);
  const mhc::TokenData data = mhc::open_token_files(d.file("shards"), 65536);
  std::vector<int32_t> first(3);
  data.train->read(0, 3, first.data());
  CHECK(first == std::vector<int32_t>{259, 264, 265});  // "Hello", " world", <|endoftext|>: ids of the small vocabulary
}
