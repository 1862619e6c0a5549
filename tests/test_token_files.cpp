// test_token_files.cpp — nanoGPT and llm.c token files: found and told apart
// from the files, read as one stream across files, sampled exactly as the
// same ids in memory (so resume and data-parallel sharding carry over), and
// each kind of damaged file refused naming the file and the problem; a
// binary file given as text refused.
#include <catch2/catch.hpp>

#include <filesystem>

#include "datasets/batches.h"
#include "datasets/text_check.h"
#include "datasets/token_files.h"
#include "fileio/xxh64.h"
#include "test_files.h"
#include "token_file_writer.h"

namespace fs = std::filesystem;
using Catch::Contains;
using namespace mhc;
using namespace mhc::test;

namespace {

std::vector<int32_t> read_all(const TokenSource& s) {
  std::vector<int32_t> out(s.size());
  s.read(0, s.size(), out.data());
  return out;
}

std::vector<int32_t> concat(std::vector<std::vector<int32_t>> parts) {
  std::vector<int32_t> out;
  for (auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

std::vector<int32_t> ints(const Tensor& t) { return t.to_vector<int32_t>(); }

}  // namespace

TEST_CASE("token files: nanoGPT's train.bin and val.bin are found, mapped and checksummed", "[token_files]") {
  TempDir d;
  const auto train = id_ramp(500, 7, 50257), val = id_ramp(60, 3);
  write_nanogpt(d.file("train.bin"), train);
  write_nanogpt(d.file("val.bin"), val);
  write_bytes(d.file("meta.pkl"), "not a token file");
  REQUIRE(is_token_data(d.path.string()));
  const TokenData data = open_token_files(d.path.string(), kGpt2VocabSize);
  CHECK(data.format == TokenFormat::NanoGpt);
  CHECK(read_all(*data.train) == train);
  CHECK(read_all(*data.val) == val);
  REQUIRE(data.records.size() == 2);
  CHECK(data.records[0].name == "train.bin");
  CHECK(data.records[0].bytes == 1000);
  Xxh64 h;
  const std::string bytes = u16_bytes(train);
  h.update(bytes.data(), bytes.size());
  CHECK(data.records[0].xxh64 == h.digest());
}

TEST_CASE("token files: llm.c shards from a folder or a glob are one stream per split, across shards",
          "[token_files]") {
  TempDir d;
  const auto a = id_ramp(100, 0), b = id_ramp(37, 500), c = id_ramp(80, 900, 50257), v = id_ramp(40, 11);
  write_llmc(d.file("fw_train_000001.bin"), a);
  write_llmc(d.file("fw_train_000002.bin"), b);
  write_llmc(d.file("fw_train_000003.bin"), c);
  write_llmc(d.file("fw_val_000000.bin"), v);
  const std::vector<int32_t> all = concat({a, b, c});
  for (const std::string& flag : {d.path.string(), d.file("fw_*.bin")}) {
    INFO(flag);
    REQUIRE(is_token_data(flag));
    const TokenData data = open_token_files(flag, kGpt2VocabSize);
    CHECK(data.format == TokenFormat::Llmc);
    CHECK(data.train->files() == 3);
    CHECK(read_all(*data.train) == all);
    CHECK(read_all(*data.val) == v);
    // A window across two shard boundaries (the 37-id shard in the middle).
    std::vector<int32_t> w(50);
    data.train->read(90, 50, w.data());
    CHECK(w == std::vector<int32_t>(all.begin() + 90, all.begin() + 140));
  }
  CHECK_FALSE(is_token_data(d.file("fw_val_000000.bin")));  // one file is a (refused) text corpus, not a set
}

TEST_CASE("token files: the sampler draws the same batches from mapped files as from the ids in memory",
          "[token_files]") {
  TempDir d;
  const auto a = id_ramp(300, 0, 50257), b = id_ramp(211, 40000, 50257);
  write_llmc(d.file("x_train_1.bin"), a);
  write_llmc(d.file("x_train_2.bin"), b);
  write_llmc(d.file("x_val_1.bin"), id_ramp(20));
  const TokenData data = open_token_files(d.path.string(), kGpt2VocabSize);
  const std::vector<int32_t> memory = concat({a, b});
  BatchSampler mapped(data.train.get(), 4, 16, 99), in_memory(&memory, 4, 16, 99);
  Tensor x1, y1, x2, y2;
  for (int i = 0; i < 20; ++i) {
    mapped.next(x1, y1);
    in_memory.next(x2, y2);
    REQUIRE(ints(x1) == ints(x2));
    REQUIRE(ints(y1) == ints(y2));
  }
  // Resume: a new sampler set to the saved state continues the same sequence.
  BatchSampler resumed(data.train.get(), 4, 16, 12345);
  resumed.set_state(mapped.state());
  mapped.next(x1, y1);
  resumed.next(x2, y2);
  CHECK(ints(x1) == ints(x2));
  // Two data-parallel ranks keep the halves of the global batch of one process.
  BatchSampler whole(data.train.get(), 6, 8, 5), r0(data.train.get(), 3, 8, 5, {0, 2}),
      r1(data.train.get(), 3, 8, 5, {1, 2});
  Tensor xw, yw, x0, y0, xr, yr;
  whole.next(xw, yw);
  r0.next(x0, y0);
  r1.next(xr, yr);
  CHECK(ints(xw) == concat({ints(x0), ints(xr)}));
}

TEST_CASE("token files: each kind of damaged file is refused, naming the file and the problem", "[token_files]") {
  TempDir d;
  const auto ids = id_ramp(100);
  auto llmc_set = [&](const std::string& sub) {
    fs::create_directories(d.path / sub);
    write_llmc((d.path / sub / "s_train_1.bin").string(), ids);
    write_llmc((d.path / sub / "s_val_1.bin").string(), ids);
    return (d.path / sub).string();
  };
  auto refused = [](const std::string& flag) {
    try {
      open_token_files(flag, kGpt2VocabSize);
    } catch (const std::runtime_error& e) {
      return std::string(e.what());
    }
    return std::string("(accepted)");
  };
  std::string dir = llmc_set("magic");
  write_llmc(dir + "/s_train_2.bin", ids, 12345);
  CHECK_THAT(refused(dir), Contains("s_train_2.bin") && Contains("wrong magic 12345") && Contains("20240520"));
  dir = llmc_set("version");
  write_llmc(dir + "/s_train_2.bin", ids, 20240520, 2);
  CHECK_THAT(refused(dir), Contains("s_train_2.bin") && Contains("version 2, expected 1"));
  dir = llmc_set("count");
  write_llmc(dir + "/s_val_1.bin", ids, 20240520, 1, 150);
  CHECK_THAT(refused(dir), Contains("s_val_1.bin") && Contains("header says 150 tokens") && Contains("1224 bytes"));
  dir = llmc_set("short");
  write_bytes(dir + "/s_val_1.bin", std::string("\x88\xd8\x34\x01", 4));
  CHECK_THAT(refused(dir), Contains("s_val_1.bin") && Contains("shorter than the 1024-byte header"));
  dir = llmc_set("vocab");
  write_llmc(dir + "/s_val_1.bin", {1, 2, 50257, 3});
  CHECK_THAT(refused(dir),
             Contains("s_val_1.bin") && Contains("token 2") && Contains("id 50257") && Contains("vocabulary of 50257"));
  dir = llmc_set("noval");
  fs::remove(dir + "/s_val_1.bin");
  CHECK_THAT(refused(dir), Contains("no validation files") && Contains("*val*"));

  fs::create_directories(d.path / "odd");
  write_nanogpt(d.file("odd/train.bin"), ids);
  write_bytes(d.file("odd/val.bin"), u16_bytes(ids) + "x");
  CHECK_THAT(refused(d.file("odd")), Contains("val.bin") && Contains("201 bytes, an odd number"));
  fs::create_directories(d.path / "empty");
  write_nanogpt(d.file("empty/train.bin"), ids);
  write_bytes(d.file("empty/val.bin"), "");
  CHECK_THAT(refused(d.file("empty")), Contains("validation split is empty") && Contains("val.bin"));
  fs::create_directories(d.path / "neither");
  write_bytes(d.file("neither/data.bin"), u16_bytes(ids));
  CHECK_THAT(refused(d.file("neither")), Contains("neither") && Contains("data.bin") &&
                                             Contains("nanoGPT's train.bin") && Contains("llm.c shards"));
  CHECK_THAT(refused(d.file("nothing_*.bin")), Contains("matches no files") && Contains("llm.c shards"));
}

TEST_CASE("token files: a file that changed since the run started is named", "[token_files]") {
  const std::vector<TokenFileRecord> run = {{"a_train.bin", 1224, 0x1234}, {"a_val.bin", 1224, 0x99}};
  CHECK_NOTHROW(check_token_files_unchanged(run, run, "d"));
  auto changed = run;
  changed[1].xxh64 = 0x98;
  CHECK_THROWS_WITH(check_token_files_unchanged(run, changed, "d"),
                    Contains("a_val.bin changed since the run started") && Contains("0000000000000099"));
  changed = run;
  changed[0].bytes = 2000;
  CHECK_THROWS_WITH(check_token_files_unchanged(run, changed, "d"),
                    Contains("a_train.bin changed") && Contains("2000 bytes"));
  CHECK_THROWS_WITH(check_token_files_unchanged(run, {run[0]}, "d"), Contains("a_val.bin is missing"));
  CHECK_THROWS_WITH(check_token_files_unchanged({run[0]}, run, "d"), Contains("a_val.bin is new"));
}

TEST_CASE("text corpora: a binary file is refused as text, saying token files are not text", "[token_files][text]") {
  CHECK_NOTHROW(check_text_corpus("t.txt", "First Citizen:\nBefore we proceed any further, hear me speak.\n"));
  CHECK_NOTHROW(check_text_corpus("t.txt", std::string(1023, 'a') + "\xc3\xa9 and more"));  // é cut by the KiB's end
  CHECK_THROWS_WITH(check_text_corpus("train.bin", u16_bytes({15496, 995, 0, 50256})),
                    Contains("train.bin is not a text file") && Contains("NUL byte") &&
                        Contains("token files are not text") && Contains("nanoGPT's train.bin and val.bin"));
  CHECK_THROWS_WITH(check_text_corpus("s.bin", std::string("\x88\xd8\x34\x01\x01\0\0\0", 8)),
                    Contains("llm.c's shard magic") && Contains("token files are not text"));
  CHECK_THROWS_WITH(check_text_corpus("x.txt", "abc\xff\xfe"), Contains("invalid UTF-8") && Contains("x.txt"));
}
