// test_cli.cpp — the `mhc` program as users run it: every kind of bad input
// gets a clear message and a non-zero exit, and leaves existing files alone;
// sample, eval and plot work on a finished run.
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "test_helpers.h"
#include "test_files.h"
#include "train/checkpoint.h"

namespace fs = std::filesystem;

namespace {

struct Result {
  int code;
  std::string output;  // stdout and stderr together
};

// Runs the mhc binary with `args` from the working directory `cwd`.
Result run_mhc(const std::string& args, const fs::path& cwd) {
  const std::string cmd = "cd '" + cwd.string() + "' && OMP_NUM_THREADS=1 '" MHC_BINARY "' " + args + " 2>&1";
  FILE* pipe = popen(cmd.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

using mhc::test::TempDir;
using mhc::test::read_bytes;

// A tiny, fast run on the synthetic corpus.
const std::string kTiny =
    " --data synthetic:addition --model.blocks 1 --model.width 16 --model.heads 2 --model.block_size 8"
    " --optim.batch_size 2 --optim.warmup 1 --eval.batches 1 --eval.sample_tokens 0 --data.cache_dir cache";

}  // namespace

using Catch::Contains;

TEST_CASE("bad flags are refused with a message naming them", "[cli]") {
  TempDir d;
  struct Case {
    std::string args, message;
  };
  const std::vector<Case> cases = {
      {"train --bogus 3", "--bogus"},
      {"train --streams 0" + kTiny, "--streams: must be at least 1"},
      {"train --residual residual --streams 4" + kTiny, "plain residual has exactly 1 stream"},
      {"train --residual sideways" + kTiny, "--residual"},
      {"train --optim.lr -0.001" + kTiny, "--optim.lr: must be positive"},
      {"train --model.ffn moe --moe.routed 4 --moe.top_k 5" + kTiny, "--moe.top_k: 5 must be between 1 and the 4"},
      {"train --model.heads 3" + kTiny, "--model.heads"},
      {"train --preset huge" + kTiny, "unknown preset 'huge'"},
      {"train --dtype bf16" + kTiny, "bf16 needs --device cuda"},
      {"train --resume --overwrite" + kTiny, "cannot be combined"},
      {"", "A subcommand is required"},
  };
  for (const Case& c : cases) {
    INFO("mhc " << c.args);
    const Result r = run_mhc(c.args, d.path);
    CHECK(r.code != 0);
    CHECK_THAT(r.output, Contains(c.message));
  }
  // --residual mhc --streams 1 is allowed (residual-equivalent).
  const Result ok = run_mhc("train --residual mhc --streams 1 --optim.steps 2 --eval.every 2 --run r1" + kTiny, d.path);
  INFO(ok.output);
  CHECK(ok.code == 0);
}

TEST_CASE("missing or empty corpus files", "[cli]") {
  TempDir d;
  Result r = run_mhc("train --data no/such/file.txt --optim.steps 1", d.path);
  CHECK(r.code != 0);
  CHECK_THAT(r.output, Contains("no/such/file.txt"));
  std::ofstream(d.path / "empty.txt").close();
  r = run_mhc("train --data empty.txt --optim.steps 1", d.path);
  CHECK(r.code != 0);
  CHECK_THAT(r.output, Contains("empty"));
}

TEST_CASE("an existing run directory is never overwritten without being asked", "[cli]") {
  TempDir d;
  REQUIRE(run_mhc("train --run r --optim.steps 2 --eval.every 2" + kTiny, d.path).code == 0);
  const std::string before = read_bytes(d.path / "r" / "checkpoint.bin");
  const Result r = run_mhc("train --run r --optim.steps 2 --eval.every 2" + kTiny, d.path);
  CHECK(r.code != 0);
  CHECK_THAT(r.output, Contains("already exists; pass --resume to continue it or --overwrite to replace it"));
  CHECK(read_bytes(d.path / "r" / "checkpoint.bin") == before);
  // With --overwrite it is replaced.
  CHECK(run_mhc("train --run r --overwrite --optim.steps 2 --eval.every 2 --seed 5" + kTiny, d.path).code == 0);
  CHECK(read_bytes(d.path / "r" / "checkpoint.bin") != before);
}

TEST_CASE("truncated, corrupt and mismatched checkpoints are refused", "[cli]") {
  TempDir d;
  REQUIRE(run_mhc("train --run r --optim.steps 2 --eval.every 1" + kTiny, d.path).code == 0);
  const fs::path ckpt = d.path / "r" / "checkpoint.bin";
  const std::string good = read_bytes(ckpt);
  auto write = [&](const std::string& bytes) { std::ofstream(ckpt, std::ios::binary | std::ios::trunc) << bytes; };

  write(good.substr(0, good.size() / 2));
  Result r = run_mhc("train --run r --resume --optim.steps 4" + kTiny, d.path);
  CHECK(r.code != 0);
  CHECK_THAT(r.output, Contains("is truncated"));

  std::string flipped = good;
  flipped[flipped.size() - 3] ^= 0x5a;
  write(flipped);
  r = run_mhc("train --run r --resume --optim.steps 4" + kTiny, d.path);
  CHECK(r.code != 0);
  CHECK_THAT(r.output, Contains("corrupt"));

  write(good);
  std::string wider = kTiny;
  wider.replace(wider.find("--model.width 16"), 16, "--model.width 32");
  r = run_mhc("train --run r --resume --optim.steps 4" + wider, d.path);
  CHECK(r.code != 0);
  CHECK_THAT(r.output, Contains("model.width: 16 in the run, 32 now"));  // the run's config, checked first
  CHECK(read_bytes(ckpt) == good);  // refused before anything was written

  r = run_mhc("train --run r --resume --optim.steps 4" + kTiny, d.path);  // the intact one resumes
  INFO(r.output);
  CHECK(r.code == 0);
  CHECK_THAT(r.output, Contains("resuming at step 2"));
}

TEST_CASE("a NaN loss stops the run at that step and keeps the last good checkpoint", "[cli]") {
  TempDir d;
  const Result r = run_mhc("train --run r --optim.steps 10 --eval.every 2 --debug.inject_nan 5" + kTiny, d.path);
  CHECK(r.code == 3);
  CHECK_THAT(r.output, Contains("the loss became nan at step 5"));
  CHECK_THAT(r.output, Contains("last good checkpoint (after step 4)"));
  CHECK(mhc::read_checkpoint_meta((d.path / "r" / "checkpoint.bin").string()).step == 4);
}

TEST_CASE("sample, eval and plot work on a finished run", "[cli]") {
  TempDir d;
  REQUIRE(run_mhc("train --run r --optim.steps 4 --eval.every 2 --residual mhc" + kTiny, d.path).code == 0);
  for (const char* f : {"config.json", "metrics.jsonl", "tokenizer.txt", "checkpoint.bin", "summary.png", "loss.png"})
    CHECK(fs::exists(d.path / "r" / f));
  Result s = run_mhc("sample --run r --prompt 12+ --tokens 10", d.path);
  INFO(s.output);
  CHECK(s.code == 0);
  CHECK(s.output.rfind("12+", 0) == 0);                     // the prompt, then the continuation
  CHECK(s.output.size() >= std::string("12+").size() + 10);  // 10 more characters (char tokenizer)
  Result e = run_mhc("eval --run r", d.path);
  CHECK(e.code == 0);
  CHECK_THAT(e.output, Contains("val loss"));
  Result p = run_mhc("plot r --out charts", d.path);
  CHECK(p.code == 0);
  CHECK(fs::exists(d.path / "charts" / "summary.png"));
  Result missing = run_mhc("plot nowhere", d.path);
  CHECK(missing.code != 0);
  CHECK_THAT(missing.output, Contains("no metrics in nowhere"));
  Result help = run_mhc("train --help", d.path);
  CHECK(help.code == 0);
  CHECK_THAT(help.output, Contains("Hyper-connections"));
  CHECK_THAT(help.output, Contains("--moe.top_k"));
}
