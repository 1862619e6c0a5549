// test_cli.cpp — the `mhc` program as users run it: every kind of bad input
// gets a clear message and a non-zero exit, and leaves existing files alone;
// sample, eval and plot work on a finished run; damaged files and a full
// disk cost nothing that was already safely written.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <fstream>
#include <sstream>

#include <fmt/core.h>

#include "mhc_process.h"
#include "test_helpers.h"
#include "test_files.h"
#include "train/checkpoint.h"
#include "fileio/json_io.h"
#include "train/metrics.h"
#include "train/run_lock.h"
#include "fileio/safetensors.h"
#include "train/settings.h"
#include "train/train_flags.h"

namespace fs = std::filesystem;

namespace {

using mhc::test::Result;
using mhc::test::run_mhc;

using mhc::test::read_bytes;
using mhc::test::TempDir;

// A tiny, fast model, and a run of it on the synthetic corpus.
const std::string kTinyModel =
    " --model.blocks 1 --model.width 16 --model.heads 2 --model.block_size 8"
    " --optim.batch_size 2 --optim.warmup 1 --eval.batches 1 --eval.sample_tokens 0 --data.cache_dir cache";
const std::string kTiny = " --data synthetic:addition" + kTinyModel;
// The preset's model on the synthetic corpus, for flags that kTinyModel sets already.
const std::string kPresetModel = " --data synthetic:addition --data.cache_dir cache";

}  // namespace

using Catch::Contains;

TEST_CASE("bad flags are refused with a message naming them", "[cli]") {
  TempDir d;
  struct Case {
    std::string args, message;
  };
  const std::vector<Case> cases = {
      {"train --bogus 3", "--bogus"},
      {"train --streams 0" + kTiny, "--streams: must be an integer in [1, 64] (got 0)"},
      {"train --residual residual --streams 4" + kTiny,
       "the plain residual has exactly 1 stream, not 4; use --streams 1, or --residual hc or mhc"},
      {"train --residual sideways" + kTiny, "--residual"},
      {"train --optim.lr -0.001" + kTiny, "--optim.lr: must be positive"},
      {"train --model.ffn moe --moe.routed 4 --moe.top_k 5" + kTiny,
       "MoE top-k 5 must be between 1 and the number of routed experts, 4 (--moe.top_k, --moe.routed)"},
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
  // A loop of symbolic links is not "no such file": the system's reason is given.
  fs::create_symlink("loop_b", d.path / "loop_a");
  fs::create_symlink("loop_a", d.path / "loop_b");
  r = run_mhc("train --data loop_a --optim.steps 1", d.path);
  CHECK(r.code != 0);
  CHECK_THAT(r.output, Contains("--data 'loop_a': Too many levels of symbolic links"));
}

TEST_CASE("an address-space limit (ulimit -v) too small is refused with a message, never a hang", "[cli]") {
#if defined(__SANITIZE_ADDRESS__)
  std::printf("SKIPPED: address-space limits: AddressSanitizer reserves terabytes of address space\n");
  return;
#endif
  TempDir d;
  // OpenBLAS would take 2 × 64 × 128 MiB for 64 threads, far over 3.8 GiB:
  // refused before it loads (it would retry forever). OpenBLAS starts no
  // more threads than there are processors, so the test hook stands in for
  // a 64-processor machine. `timeout` turns a hang into a failure.
  Result r = run_mhc("train --run r --optim.steps 1" + kTiny, d.path,
                     "ulimit -v 4000000 && timeout 60 env MHC_TEST_BLAS_THREADS=64 ");
  CHECK(r.code == 1);
  CHECK_THAT(r.output, Contains("the address-space limit (ulimit -v 4000000") && Contains("each of 64 threads"));
  CHECK_FALSE(fs::exists(d.path / "r"));
  // With one thread OpenBLAS fits, and a model of 6 GiB is refused by name.
  r = run_mhc("train --run r --optim.steps 1 --model.width 2048 --model.blocks 8", d.path,
              "ulimit -v 4000000 && timeout 60 env OPENBLAS_NUM_THREADS=1 ");
  CHECK(r.code == 1);
  CHECK_THAT(r.output, Contains("the run does not fit in memory") &&
                           (Contains("the address-space limit (ulimit -v 4000000) leaves") ||
                            Contains("this machine has")));  // a machine with under 4 GB names its memory
  CHECK_FALSE(fs::exists(d.path / "r"));
}

TEST_CASE("an existing run directory is never overwritten without being asked", "[cli]") {
  TempDir d;
  REQUIRE(run_mhc("train --run r --optim.steps 2 --eval.every 2" + kTiny, d.path).code == 0);
  const std::string before = read_bytes(d.path / "r" / "checkpoint.safetensors");
  const Result r = run_mhc("train --run r --optim.steps 2 --eval.every 2" + kTiny, d.path);
  CHECK(r.code != 0);
  CHECK_THAT(r.output, Contains("already exists; pass --resume to continue it or --overwrite to replace it"));
  CHECK(read_bytes(d.path / "r" / "checkpoint.safetensors") == before);
  // With --overwrite it is replaced.
  CHECK(run_mhc("train --run r --overwrite --optim.steps 2 --eval.every 2 --seed 5" + kTiny, d.path).code == 0);
  CHECK(read_bytes(d.path / "r" / "checkpoint.safetensors") != before);
}

TEST_CASE("truncated, corrupt and mismatched checkpoints are refused", "[cli]") {
  TempDir d;
  REQUIRE(run_mhc("train --run r --optim.steps 2 --eval.every 1" + kTiny, d.path).code == 0);
  const fs::path ckpt = d.path / "r" / "checkpoint.safetensors";
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
  CHECK(read_bytes(ckpt) == good);                                       // refused before anything was written

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
  CHECK(mhc::read_checkpoint_meta((d.path / "r" / "checkpoint.safetensors").string()).step == 4);
}

TEST_CASE("sample, eval and plot work on a finished run", "[cli]") {
  TempDir d;
  REQUIRE(run_mhc("train --run r --optim.steps 4 --eval.every 2 --residual mhc" + kTiny, d.path).code == 0);
  for (const char* f :
       {"config.json", "metrics.jsonl", "tokenizer.txt", "checkpoint.safetensors", "summary.png", "loss.png"})
    CHECK(fs::exists(d.path / "r" / f));
  Result s = run_mhc("sample --run r --prompt 12+ --tokens 10", d.path);
  INFO(s.output);
  CHECK(s.code == 0);
  CHECK(s.output.rfind("12+", 0) == 0);                      // the prompt, then the continuation
  CHECK(s.output.size() >= std::string("12+").size() + 10);  // 10 more characters (char tokenizer)
  Result e = run_mhc("eval --run r", d.path);
  CHECK(e.code == 0);
  CHECK_THAT(e.output, Contains("val loss") && Contains("bits/byte") && Contains("the whole validation split"));
  // Bits per byte: the synthetic corpus is ASCII and the tokenizer one
  // character per token, so it is the loss in nats / ln 2 (up to rounding).
  const mhc::RunMetrics m = mhc::read_run_metrics((d.path / "r").string());
  REQUIRE(m.val_bpb.size() == m.val_loss.size());
  for (size_t i = 0; i < m.val_loss.size(); ++i)
    CHECK(m.val_bpb[i] == Approx(m.val_loss[i] / std::log(2.0)).epsilon(1e-12));
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

// ---- what a new user runs into ---------------------------------------------------------------

namespace {

// Starts mhc with `args` (split at spaces) in `cwd`, its output going to `log`; returns the pid.
pid_t start_mhc(const std::string& args, const fs::path& cwd, const fs::path& log) {
  std::vector<std::string> words{MHC_BINARY};
  std::istringstream in(args);
  for (std::string w; in >> w;) words.push_back(w);
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    if (chdir(cwd.c_str()) != 0) _exit(126);
    setenv("OMP_NUM_THREADS", "1", 1);
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    std::vector<char*> argv;
    for (std::string& w : words) argv.push_back(w.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

size_t count_lines(const fs::path& p) {
  const std::string s = read_bytes(p);
  return static_cast<size_t>(std::count(s.begin(), s.end(), '\n'));
}

}  // namespace

TEST_CASE("a start that fails leaves no run directory, and a failed --overwrite keeps the old run", "[cli]") {
  TempDir d;
  // Fails before the directory is made (no corpus) and after (a validation split too short for one batch).
  Result r = run_mhc("train --run a" + kTiny + " --data missing.txt", d.path);
  CHECK(r.code != 0);
  CHECK(!fs::exists(d.path / "a"));
  const std::string short_split = " --data.val_fraction 0.00001";
  r = run_mhc("train --run b" + kTiny + short_split, d.path);
  INFO(r.output);
  CHECK(r.code != 0);
  CHECK_THAT(r.output, Contains("validation"));
  CHECK(!fs::exists(d.path / "b"));
  // An old run survives an --overwrite that fails late, untouched and without leftovers.
  REQUIRE(run_mhc("train --run old --optim.steps 2 --eval.every 2" + kTiny, d.path).code == 0);
  const std::string before = read_bytes(d.path / "old" / "checkpoint.safetensors");
  r = run_mhc("train --run old --overwrite" + kTiny + short_split, d.path);
  CHECK(r.code != 0);
  CHECK(read_bytes(d.path / "old" / "checkpoint.safetensors") == before);
  size_t entries = 0;
  for (const auto& e : fs::directory_iterator(d.path)) entries += e.path().filename().string().rfind("old", 0) == 0;
  CHECK(entries == 1);  // only the old run itself
}

TEST_CASE("resume finds the run the same flags made, and finished and extended runs say what happens", "[cli]") {
  TempDir d;
  Result r = run_mhc("train --residual mhc --optim.steps 4 --eval.every 2" + kTiny, d.path);
  INFO(r.output);
  REQUIRE(r.code == 0);
  REQUIRE(fs::exists(d.path / "runs" / "cpu-char-mhc-n4" / "checkpoint.safetensors"));
  CHECK_THAT(r.output, Contains("fused auto (off: the CPU runs the composed ops)"));
  // The Amax gain (and validation loss) is measured before training too.
  const mhc::RunMetrics m = mhc::read_run_metrics((d.path / "runs" / "cpu-char-mhc-n4").string());
  REQUIRE(m.eval_step.size() == 3);
  CHECK(m.eval_step == std::vector<double>{0, 2, 4});
  CHECK(m.amax_forward_max[0] >= 1.0);

  r = run_mhc("train --residual mhc --resume --optim.steps 4" + kTiny, d.path);
  CHECK(r.code == 0);
  CHECK_THAT(r.output, Contains("runs/cpu-char-mhc-n4 is finished: 4 of 4 steps done"));
  CHECK_THAT(r.output, !Contains("plots:"));  // a finished run is not rewritten
  // Killed between its last checkpoint and its plots: the plots come on resume.
  const fs::path run = d.path / "runs" / "cpu-char-mhc-n4";
  fs::remove(run / "loss.png");
  fs::remove(run / "summary.png");
  r = run_mhc("train --residual mhc --resume --optim.steps 4" + kTiny, d.path);
  CHECK(r.code == 0);
  CHECK_THAT(r.output, Contains("(they were missing)"));
  CHECK((fs::exists(run / "loss.png") && fs::exists(run / "summary.png")));
  r = run_mhc("train --residual mhc --resume --optim.steps 6 --eval.every 2" + kTiny, d.path);
  CHECK(r.code == 0);
  CHECK_THAT(r.output, Contains("resuming at step 4"));
  CHECK_THAT(r.output, Contains("--optim.steps changed from 4 to 6: the cosine schedule is recomputed for 6 steps"));
  CHECK(mhc::read_checkpoint_meta((d.path / "runs" / "cpu-char-mhc-n4" / "checkpoint.safetensors").string()).step == 6);
}

TEST_CASE("Ctrl-C writes a checkpoint, prints how to resume, and the resumed run is bit-identical", "[cli]") {
  TempDir d;
  const std::string args = " --optim.steps 400 --eval.every 100" + kTiny;
  REQUIRE(run_mhc("train --run full" + args, d.path).code == 0);
  // SIGHUP (the terminal closed) is handled as Ctrl-C is.
  for (const int sig : {SIGINT, SIGHUP}) {
    const std::string cut_run = sig == SIGINT ? "cut" : "hup";
    INFO(cut_run);
    const pid_t pid = start_mhc("train --run " + cut_run + args, d.path, d.path / (cut_run + ".log"));
    const fs::path metrics = d.path / cut_run / "metrics.jsonl";
    for (int i = 0; i < 2000 && !(fs::exists(metrics) && count_lines(metrics) >= 10); ++i) usleep(5000);
    kill(pid, sig);
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    const std::string log = read_bytes(d.path / (cut_run + ".log"));
    INFO(log);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 130);
    CHECK_THAT(log, Contains("interrupted: stopped after step"));
    CHECK_THAT(log, Contains("train --run " + cut_run + " --resume"));
    const int64_t at = mhc::read_checkpoint_meta((d.path / cut_run / "checkpoint.safetensors").string()).step;
    CHECK(at > 0);
    CHECK(at < 400);
    REQUIRE(run_mhc("train --run " + cut_run + " --resume", d.path).code == 0);
    const mhc::RunMetrics full = mhc::read_run_metrics((d.path / "full").string());
    const mhc::RunMetrics cut = mhc::read_run_metrics((d.path / cut_run).string());
    CHECK(cut.step == full.step);
    CHECK(cut.loss == full.loss);  // bit for bit
    CHECK(cut.val_loss == full.val_loss);
  }
}

TEST_CASE("sample: --temperature 0 is greedy, bad values are refused, and output is printable", "[cli]") {
  TempDir d;
  REQUIRE(run_mhc("train --run r --optim.steps 4 --eval.every 4" + kTiny, d.path).code == 0);
  const Result a = run_mhc("sample --run r --prompt 12+ --tokens 12 --temperature 0 --seed 1", d.path);
  const Result b = run_mhc("sample --run r --prompt 12+ --tokens 12 --temperature 0 --seed 2", d.path);
  INFO(a.output);
  CHECK(a.code == 0);
  CHECK(a.output == b.output);  // no randomness left
  for (const char* bad : {"--temperature -1", "--temperature nan", "--tokens -1"}) {
    const Result r = run_mhc(std::string("sample --run r --prompt 1 ") + bad, d.path);
    INFO(bad);
    CHECK(r.code != 0);
    CHECK_THAT(r.output, Contains(std::string(bad).substr(0, std::string(bad).find(' '))));
  }
}

TEST_CASE("eval finds a moved corpus with --data and says so when it cannot", "[cli]") {
  TempDir d;
  std::ofstream(d.path / "corpus.txt") << std::string(20000, 'a') + "bcd\n" + std::string(20000, 'e');
  REQUIRE(run_mhc("train --run r --optim.steps 2 --eval.every 2 --data corpus.txt" + kTinyModel, d.path).code == 0);
  fs::rename(d.path / "corpus.txt", d.path / "moved.txt");
  Result r = run_mhc("eval --run r", d.path);
  CHECK(r.code != 0);
  CHECK_THAT(r.output, Contains("which is no longer there; pass eval --data"));
  r = run_mhc("eval --run r --data moved.txt", d.path);
  INFO(r.output);
  CHECK(r.code == 0);
  CHECK_THAT(r.output, Contains("val loss"));
}

// ---- refused before any work ------------------------------------------------------------------

TEST_CASE("every numeric train flag is range-checked, NaN and infinities refused, before any work",
          "[cli][validation]") {
  TempDir d;
  struct Case {
    std::string flags, message;
  };
  // Each value was accepted once: NaN passed `x < lo || x > hi`, negative sizes
  // and weights went through, -1 wrapped to 2^64 − 1, and huge sizes overflowed.
  const std::vector<Case> cases = {
      {"--model.dropout nan", "--model.dropout: must be a finite number in [0, 1) (got nan)"},
      {"--model.attn_dropout nan", "--model.attn_dropout: must be a finite number in [0, 1)"},
      {"--hc.phi_init_std nan", "--hc.phi_init_std: must be a finite number in [0, 10]"},
      {"--hc.alpha_init nan", "--hc.alpha_init: must be a finite number in [0, 10]"},
      {"--optim.grad_clip nan", "--optim.grad_clip: must be a finite number in [0, 1000000000]"},
      {"--moe.bias_rate nan", "--moe.bias_rate: must be a finite number in [0, 1]"},
      {"--moe.aux_loss nan", "--moe.aux_loss: must be a finite number in [0, 100]"},
      {"--moe.z_loss nan", "--moe.z_loss: must be a finite number in [0, 100]"},
      {"--moe.aux_loss -1", "--moe.aux_loss: must be a finite number in [0, 100] (got -1)"},
      {"--moe.z_loss -0.5", "--moe.z_loss: must be a finite number in [0, 100] (got -0.5)"},
      {"--optim.min_lr nan", "--optim.min_lr: must be a finite number in [0, 0.001]"},
      {"--optim.weight_decay nan", "--optim.weight_decay: must be a finite number in [0, 10]"},
      {"--optim.beta1 nan", "--optim.beta1: must be a finite number in [0, 1)"},
      {"--optim.beta2 1", "--optim.beta2: must be a finite number in [0, 1) (got 1)"},
      {"--optim.lr inf", "--optim.lr: must be a finite number in (0, 10] (got inf)"},
      {"--optim.lr nan", "--optim.lr: must be positive (got nan)"},
      {"--data.val_fraction nan", "--data.val_fraction: must be a finite number in (0, 1)"},
      {"--model.ffn_hidden -1", "--model.ffn_hidden: must be an integer in [0, 1048576] (got -1)"},
      {"--moe.hidden -1", "--moe.hidden: must be an integer in [0, 1048576] (got -1)"},
      {"--moe.routed 5000", "--moe.routed: must be an integer in [1, 1024] (got 5000)"},
      {"--moe.shared -1", "--moe.shared: must be an integer in [0, 1024]"},
      {"--moe.dense_layers 5",
       "5 dense layers must be between 0 and the number of blocks, 4 (--moe.dense_layers, --model.blocks)"},
      {"--seed -1", "--seed: must be a non-negative integer below 2^64, not '-1'"},
      {"--model.blocks 100000", "--model.blocks: must be an integer in [1, 1024] (got 100000)"},
      {"--model.width 10000000", "--model.width: must be an integer in [2, 65536] (got 10000000)"},
      {"--model.heads 0", "--model.heads: must be an integer in [1, 65536] (got 0)"},
      {"--model.block_size 100000000", "--model.block_size: must be an integer in [1, 1048576]"},
      {"--residual mhc --streams 9", "mHC takes at most 8 streams (Sinkhorn-Knopp kernels), not 9 (--streams)"},
      {"--residual hc --streams 100", "--streams: must be an integer in [1, 64] (got 100)"},
      {"--hc.sinkhorn_iters 100000000", "--hc.sinkhorn_iters: must be an integer in [1, 64] (got 100000000)"},
      {"--hc.sinkhorn_iters 0", "--hc.sinkhorn_iters: must be an integer in [1, 64] (got 0)"},
      {"--hc.recompute_group -1", "--hc.recompute_group: must be an integer in [0, 2048]"},
      {"--optim.steps 0", "--optim.steps: must be an integer in [1, 1000000000000] (got 0)"},
      {"--optim.batch_size 4611686018427387904", "--optim.batch_size: must be an integer in [1, 65536]"},
      {"--optim.grad_accum 100000000", "--optim.grad_accum: must be an integer in [1, 65536]"},
      {"--optim.warmup -1", "--optim.warmup: must be an integer in [0, 1000000000000]"},
      {"--eval.every 0", "--eval.every: must be an integer in [1, 1000000000000]"},
      {"--eval.batches 1000000", "--eval.batches: must be an integer in [0, 65536]"},
      {"--eval.sample_tokens -1", "--eval.sample_tokens: must be an integer in [0, 16777216]"},
      {"--log_every 0", "--log_every: must be an integer in [1, 1000000000000]"},
      {"--data.tokenizer bpe --data.vocab_size 100000000", "--data.vocab_size: must be an integer in [1, 2097152]"},
      {"--model.width 99999999999999999999", "--model.width"},  // beyond int64: CLI11 names the flag
  };
  for (const Case& c : cases) {
    INFO("mhc train " << c.flags);
    const Result r = run_mhc("train --run r" + kPresetModel + " " + c.flags, d.path);
    CHECK(r.code != 0);
    CHECK_THAT(r.output, Contains(c.message));
    CHECK(!fs::exists(d.path / "r"));      // refused before the run directory was made
    CHECK(!fs::exists(d.path / "cache"));  // and before the corpus was tokenised
  }
}

TEST_CASE("a run too large for memory is refused with the flags and bytes, not std::bad_alloc", "[cli][validation]") {
  TempDir d;
  // Parameters: 1024 blocks of width 16384 are ~3.3e12 parameters, 48 TiB with AdamW.
  Result r =
      run_mhc("train --run r" + kPresetModel + " --model.width 16384 --model.heads 128 --model.blocks 1024", d.path);
  INFO(r.output);
  CHECK(r.code != 0);
  CHECK_THAT(r.output, Contains("does not fit in memory: the model (--model.blocks 1024 × --model.width 16384"));
  CHECK_THAT(r.output, Contains("TiB with their gradients and AdamW moments"));
  CHECK_THAT(r.output, Contains("of memory; reduce the sizes named above"));
  CHECK_THAT(r.output, !Contains("bad_alloc"));
  // Activations: a batch × block of 2^36 tokens leads the message.
  r = run_mhc("train --run r" + kPresetModel + " --optim.batch_size 65536 --model.block_size 1048576", d.path);
  INFO(r.output);
  CHECK(r.code != 0);
  CHECK_THAT(r.output, Contains("does not fit in memory: one micro-batch (--optim.batch_size 65536 × "
                                "--model.block_size 1048576 = 6.87e+10 tokens) needs at least"));
  CHECK_THAT(r.output, Contains("PiB of activations"));  // 2^36 tokens × 9218 floats
  CHECK_THAT(r.output, !Contains("negative size"));
  CHECK(!fs::exists(d.path / "r"));
}

TEST_CASE("sample and eval refuse bad options before loading the run", "[cli][validation]") {
  TempDir d;
  // No run exists: an option error must come first, naming the option.
  struct Case {
    std::string args, message;
  };
  const std::vector<Case> cases = {
      {"sample --run none --device bogus", "--device: bogus not in {cpu,cuda}"},
      {"sample --run none --tokens -1", "--tokens: must be an integer in [0, 16777216] (got -1)"},
      {"sample --run none --top_k -2", "--top_k: must be an integer in [0, 2097152] (got -2)"},
      {"sample --run none --seed -3", "--seed: must be a non-negative integer below 2^64, not '-3'"},
      {"sample --run none --temperature inf", "--temperature must be a finite number"},
      {"eval --run none --device bogus", "--device: bogus not in {cpu,cuda}"},
      {"eval --run none --batches -1", "eval --batches: must be an integer in [0, 65536] (got -1)"},
  };
  for (const Case& c : cases) {
    INFO("mhc " << c.args);
    const Result r = run_mhc(c.args, d.path);
    CHECK(r.code != 0);
    CHECK_THAT(r.output, Contains(c.message));
    CHECK_THAT(r.output, !Contains("no run in none"));
  }
}

TEST_CASE("files that are not regular files are refused by type, before they are read", "[cli][validation]") {
  TempDir d;
  REQUIRE(run_mhc("train --run r --optim.steps 2 --eval.every 2" + kTiny, d.path).code == 0);
  const fs::path run = d.path / "r";
  REQUIRE(mkfifo((d.path / "fifo").c_str(), 0600) == 0);
  fs::create_directory(d.path / "folder");
  // Corpora: a FIFO blocked the read until a writer came, /dev/zero read 4 GB and
  // then failed with std::bad_alloc, a directory was "bad magic" or empty.
  Result r = run_mhc("train --run c --data fifo" + kTinyModel, d.path);
  CHECK(r.code != 0);
  CHECK_THAT(r.output, Contains("text file 'fifo' is a FIFO (named pipe), not a regular file"));
  r = run_mhc("train --run c --data /dev/zero" + kTinyModel, d.path);
  CHECK(r.code != 0);
  CHECK_THAT(r.output, Contains("text file '/dev/zero' is a character device, not a regular file"));
  r = run_mhc("train --run c --data folder" + kTinyModel, d.path);  // a folder is read as token files
  CHECK(r.code != 0);
  CHECK_THAT(r.output, Contains("--data folder: a folder of token files must hold") && Contains("found no .bin files"));
  CHECK(!fs::exists(d.path / "c"));

  // The files of a run: each replaced in turn by a FIFO, a directory and /dev/zero (a link to it).
  const std::string resume = "train --run r --resume --optim.steps 4" + kTiny;
  for (const char* name : {"checkpoint.safetensors", "tokenizer.txt", "metrics.jsonl"}) {
    const fs::path file = run / name;
    const fs::path saved = d.path / (std::string(name) + ".saved");
    fs::rename(file, saved);
    for (const std::string kind : {"fifo", "directory", "character device"}) {
      INFO(name << " as a " << kind);
      if (kind == "fifo") REQUIRE(mkfifo(file.c_str(), 0600) == 0);
      if (kind == "directory") fs::create_directory(file);
      if (kind == "character device") fs::create_symlink("/dev/zero", file);
      const std::string is = kind == "fifo" ? "is a FIFO (named pipe)" : "is a " + kind;
      r = run_mhc(resume, d.path);
      CHECK(r.code != 0);
      CHECK_THAT(r.output, Contains(std::string(name) + "' " + is + ", not a regular file"));
      if (std::string(name) != "metrics.jsonl") {  // sample reads the checkpoint and the tokenizer
        r = run_mhc("sample --run r --tokens 2", d.path);
        CHECK(r.code != 0);
        CHECK_THAT(r.output, Contains(std::string(name) + "' " + is));
      } else {  // plot reads the metrics
        r = run_mhc("plot r --out charts", d.path);
        CHECK(r.code != 0);
        CHECK_THAT(r.output, Contains(std::string(name) + "' " + is));
      }
      fs::remove(file);
    }
    fs::rename(saved, file);
  }
  // A byte appended to an intact checkpoint is named as such (it was "truncated").
  const std::string good = read_bytes(run / "checkpoint.safetensors");
  mhc::test::write_bytes(run / "checkpoint.safetensors", good + "x");
  r = run_mhc(resume, d.path);
  CHECK(r.code != 0);
  CHECK_THAT(r.output, Contains("is longer than its header says"));
  CHECK_THAT(r.output, Contains("then 1 more (something was appended to it)"));
  CHECK_THAT(r.output, !Contains("truncated"));
  mhc::test::write_bytes(run / "checkpoint.safetensors", good);
  r = run_mhc(resume, d.path);  // and the run is intact after all that
  INFO(r.output);
  CHECK(r.code == 0);
}

TEST_CASE("a checkpoint of the same shapes but other settings is refused on resume unless --override",
          "[cli][validation]") {
  TempDir d;
  const std::string tiny = " --residual mhc --optim.steps 2 --eval.every 2" + kTiny;
  REQUIRE(run_mhc("train --run a --seed 1" + tiny, d.path).code == 0);
  REQUIRE(run_mhc("train --run b --seed 2" + tiny, d.path).code == 0);
  REQUIRE(run_mhc("train --run c --seed 1 --hc.sinkhorn_iters 7" + tiny, d.path).code == 0);
  const fs::path ckpt = d.path / "a" / "checkpoint.safetensors";
  const std::string own = read_bytes(ckpt);
  // b's checkpoint in a's directory: a's config.json says seed 1, the checkpoint seed 2.
  fs::copy_file(d.path / "b" / "checkpoint.safetensors", ckpt, fs::copy_options::overwrite_existing);
  const std::string foreign = read_bytes(ckpt);
  const std::string resume = "train --run a --resume --optim.steps 4";
  Result r = run_mhc(resume, d.path);
  CHECK(r.code != 0);
  CHECK_THAT(r.output, Contains("differ from those the checkpoint"));
  CHECK_THAT(r.output, Contains("seed: \"2\" in the run, \"1\" now"));
  CHECK_THAT(r.output, Contains("--override"));
  CHECK(read_bytes(ckpt) == foreign);  // nothing written
  fs::copy_file(d.path / "c" / "checkpoint.safetensors", ckpt, fs::copy_options::overwrite_existing);
  r = run_mhc(resume, d.path);
  CHECK(r.code != 0);
  CHECK_THAT(r.output, Contains("hc.sinkhorn_iters: 7 in the run, 20 now"));
  CHECK_THAT(r.output, !Contains("seed:"));
  // --override continues anyway, listing the differences as a warning.
  r = run_mhc(resume + " --override", d.path);
  INFO(r.output);
  CHECK(r.code == 0);
  CHECK_THAT(r.output, Contains("warning: --override: resuming with settings that differ from the checkpoint's"));
  CHECK_THAT(r.output, Contains("hc.sinkhorn_iters: 7 in the run, 20 now"));
  CHECK_THAT(r.output, Contains("resuming at step 2"));
  CHECK(mhc::read_checkpoint_meta(ckpt.string()).step == 4);
  // Its own checkpoint resumes without --override; --override alone is refused.
  mhc::test::write_bytes(ckpt, own);
  r = run_mhc(resume, d.path);
  CHECK(r.code == 0);
  CHECK_THAT(r.output, !Contains("warning"));
  r = run_mhc("train --run a --override --optim.steps 4", d.path);
  CHECK(r.code != 0);
  CHECK_THAT(r.output, Contains("--override only applies with --resume"));
}

// ---- damaged files and full disks ------------------------------------------------------------

namespace {

std::vector<std::string> leftover_temporaries(const fs::path& dir) {
  std::vector<std::string> found;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().find(".tmp") != std::string::npos) found.push_back(e.path().string());
  return found;
}

uintmax_t in_pages(uintmax_t bytes) { return (bytes + 4095) / 4096 * 4096; }  // what tmpfs charges

}  // namespace

TEST_CASE("a disk that fills up: a clear stop, the last checkpoint intact, no .tmp, metrics not emptied", "[cli]") {
  TempDir d;
  // The same run on a roomy disk sizes the tiny one.
  const std::string args = " --optim.steps 8 --eval.every 2" + kTiny;
  REQUIRE(run_mhc("train --run ref" + args, d.path).code == 0);
  const uintmax_t checkpoint = fs::file_size(d.path / "ref" / "checkpoint.safetensors");
  uintmax_t small_files = 0;
  for (const char* f : {"config.json", "tokenizer.txt", "metrics.jsonl", mhc::kLockFile})
    small_files += in_pages(fs::file_size(d.path / "ref" / f));
  // Room for the small files, one checkpoint and half another: the second cannot be written.
  mhc::test::TmpfsMount disk(small_files + in_pages(checkpoint) + in_pages(checkpoint / 2));
  if (!disk.mounted()) {
    WARN("SKIPPED: cannot mount a tmpfs (" << disk.error() << ")");
    return;
  }
  const std::string run = (disk.path() / "r").string();
  Result r = run_mhc("train --run " + run + args, d.path);
  INFO(r.output);
  CHECK(r.code == 1);
  CHECK_THAT(r.output,
             Contains("cannot write '" + run + "/checkpoint.safetensors'") && Contains(std::strerror(ENOSPC)));
  CHECK_THAT(r.output, Contains("training stopped after step 4; the checkpoint after step 2 in " + run +
                                "/checkpoint.safetensors is intact"));
  CHECK(leftover_temporaries(run).empty());
  CHECK(mhc::verify_checkpoint(run + "/checkpoint.safetensors").step == 2);  // checksum verified
  std::string metrics = read_bytes(run + "/metrics.jsonl");
  REQUIRE(!metrics.empty());
  CHECK(metrics.back() == '\n');  // whole lines only

  // Resumed on the same disk: it stops at the same checkpoint, and says the one it resumed from is intact.
  r = run_mhc("train --run " + run + " --resume", d.path);
  INFO(r.output);
  CHECK(r.code == 1);
  CHECK_THAT(r.output, Contains("training stopped after step 4; the checkpoint after step 2 in " + run +
                                "/checkpoint.safetensors is intact"));
  CHECK(mhc::verify_checkpoint(run + "/checkpoint.safetensors").step == 2);
  metrics = read_bytes(run + "/metrics.jsonl");

  // A resume on a disk with no room left: the metrics rewrite fails and the old file stays.
  mhc::test::fill_up(disk.path());
  r = run_mhc("train --run " + run + " --resume", d.path);
  INFO(r.output);
  CHECK(r.code == 1);
  CHECK_THAT(r.output, Contains("cannot write '" + run + "/metrics.jsonl'") && Contains(std::strerror(ENOSPC)));
  CHECK(read_bytes(run + "/metrics.jsonl") == metrics);
  CHECK(leftover_temporaries(run).empty());

  // Space freed: the resumed run ends exactly where the uninterrupted one did.
  fs::remove(disk.path() / "filler");
  uintmax_t charts = 0;  // the run ends by writing its charts (their size follows their content)
  for (const auto& e : fs::directory_iterator(d.path / "ref"))
    if (e.path().extension() == ".png") charts += in_pages(e.file_size());
  REQUIRE(disk.resize(4 * (small_files + in_pages(checkpoint)) + 2 * charts));
  r = run_mhc("train --run " + run + " --resume", d.path);
  INFO(r.output);
  REQUIRE(r.code == 0);
  CHECK_THAT(r.output, Contains("resuming at step 2"));
  const mhc::RunMetrics ref = mhc::read_run_metrics((d.path / "ref").string());
  const mhc::RunMetrics cut = mhc::read_run_metrics(run);
  CHECK(cut.step == ref.step);
  CHECK(cut.loss == ref.loss);  // bit for bit: the kept checkpoint was whole
  CHECK(cut.val_loss == ref.val_loss);
  CHECK(leftover_temporaries(run).empty());
}

TEST_CASE("a damaged config.json: resume, eval and sample use the checkpoint's copy, and resume writes it again",
          "[cli]") {
  TempDir d;
  REQUIRE(run_mhc("train --run r --optim.steps 2 --eval.every 2" + kTiny, d.path).code == 0);
  const fs::path config = d.path / "r" / "config.json";
  const std::string good = read_bytes(config);
  mhc::test::write_bytes(config, good.substr(0, good.size() / 2));  // cut short
  const Result e = run_mhc("eval --run r", d.path);
  INFO(e.output);
  CHECK(e.code == 0);
  CHECK_THAT(e.output, Contains("warning: r/config.json is damaged") &&
                           Contains("using the configuration stored in r/checkpoint.safetensors"));
  CHECK_THAT(e.output, Contains("val loss"));
  const Result s = run_mhc("sample --run r --prompt 12+ --tokens 4", d.path);
  INFO(s.output);
  CHECK(s.code == 0);
  CHECK_THAT(s.output, Contains("r/config.json is damaged") && Contains("12+"));

  mhc::test::write_bytes(config, "");  // what a power loss can leave
  const Result r = run_mhc("train --run r --resume --optim.steps 4 --eval.every 2", d.path);
  INFO(r.output);
  CHECK(r.code == 0);
  CHECK_THAT(r.output, Contains("r/config.json is damaged"));
  CHECK_THAT(r.output, Contains("resuming at step 2"));
  const mhc::Json rewritten = mhc::json::parse_file(config.string());
  CHECK(rewritten.at("optim.steps").get<int64_t>() == 4);
  const Result after = run_mhc("eval --run r", d.path);
  CHECK(after.code == 0);
  CHECK_THAT(after.output, !Contains("warning"));

  // No checkpoint to fall back on: the damage is the error.
  fs::remove(d.path / "r" / "checkpoint.safetensors");
  mhc::test::write_bytes(config, "{\"optim\": ");
  const Result lost = run_mhc("eval --run r", d.path);
  CHECK(lost.code != 0);
  CHECK_THAT(lost.output, Contains("r/config.json:1:"));
}

TEST_CASE("a damaged metrics.jsonl: bad lines and NUL padding are reported, plotted around, cleaned by resume",
          "[cli]") {
  TempDir d;
  REQUIRE(run_mhc("train --run r --optim.steps 4 --eval.every 2" + kTiny, d.path).code == 0);
  const fs::path metrics = d.path / "r" / "metrics.jsonl";
  std::vector<std::string> lines;
  {
    std::istringstream in(read_bytes(metrics));
    for (std::string l; std::getline(in, l);) lines.push_back(l);
  }
  // eval 0, step 1, step 2, eval 2, step 3, step 4, eval 4: a training line counts steps done, as the console
  REQUIRE(lines.size() == 7);
  REQUIRE_THAT(lines[1], Contains("\"step\":1,"));
  REQUIRE_THAT(lines[2], Contains("\"step\":2,"));
  std::string damaged;
  for (size_t i = 0; i < lines.size(); ++i)
    damaged += (i == 2 ? lines[i].substr(0, lines[i].size() / 2) : lines[i]) + "\n";
  damaged += std::string(3000, '\0');  // a power loss: the size grew, the data never came
  mhc::test::write_bytes(metrics, damaged);

  const Result p = run_mhc("plot r --out charts", d.path);
  INFO(p.output);
  CHECK(p.code == 0);
  CHECK_THAT(p.output, Contains("warning: r/metrics.jsonl has 2 damaged lines, skipped"));
  CHECK_THAT(p.output, Contains("line 3: column"));
  CHECK_THAT(p.output, Contains("line 8: 3000 NUL bytes"));
  CHECK(fs::exists(d.path / "charts" / "loss.png"));
  const mhc::RunMetrics read = mhc::read_run_metrics((d.path / "r").string());
  CHECK(read.step == std::vector<double>{1, 3, 4});
  CHECK(read.eval_step == std::vector<double>{0, 2, 4});

  const Result r = run_mhc("train --run r --resume --optim.steps 6 --eval.every 2", d.path);
  INFO(r.output);
  CHECK(r.code == 0);
  CHECK_THAT(r.output, Contains("has 2 damaged lines, left out of the rewritten file"));
  const std::string clean = read_bytes(metrics);
  CHECK(clean.find('\0') == std::string::npos);
  std::vector<double> steps, evals;
  for (const mhc::Json& v : mhc::json::parse_lines(clean))  // strict: any damage would throw
    (v.contains("val_loss") ? evals : steps).push_back(v.at("step").get<double>());
  CHECK(steps == std::vector<double>{1, 3, 4, 5, 6});
  CHECK(evals == std::vector<double>{0, 2, 4, 6});
  const Result again = run_mhc("plot r --out charts", d.path);
  CHECK(again.code == 0);
  CHECK_THAT(again.output, !Contains("warning"));
}

// ---- mhc sweep --------------------------------------------------------------------------------

namespace {
void write_spec(const fs::path& path, const std::string& axes) {
  mhc::test::write_bytes(path, R"({"base": {"data": "synthetic:addition", "model.blocks": 1, "model.width": 16,
    "model.heads": 2, "model.block_size": 8, "optim.batch_size": 2, "optim.warmup": 1, "optim.steps": 200,
    "eval.every": 50, "eval.batches": 1, "eval.sample_tokens": 0, "data.cache_dir": "cache"},
    "axes": )" + axes + "}");
}
}  // namespace

TEST_CASE("mhc sweep: a bad spec is refused with its problem, --dry-run runs nothing", "[cli][sweep]") {
  TempDir d;
  write_spec(d.path / "typo.json", R"({"residual": ["residual", "mhc"], "model.blcks": [2]})");
  Result r = run_mhc("sweep typo.json", d.path);
  CHECK(r.code != 0);
  CHECK_THAT(r.output, Contains("typo.json") && Contains("unknown flag \"model.blcks\""));
  CHECK(!fs::exists(d.path / "sweeps"));
  write_spec(d.path / "ok.json", R"({"residual": ["residual", "mhc"]})");
  r = run_mhc("sweep ok.json --dry-run", d.path);
  INFO(r.output);
  CHECK(r.code == 0);
  CHECK_THAT(r.output, Contains("ok: 2 runs") && Contains("mhc-n4-s1337") && Contains("estimated time"));
  CHECK(!fs::exists(d.path / "sweeps" / "ok"));
}

TEST_CASE("mhc sweep: killed (SIGKILL) and run again, it ends as an uninterrupted sweep does", "[cli][sweep]") {
  TempDir d;
  const std::string axes = R"({"residual": ["residual", "mhc"]})";
  write_spec(d.path / "s.json", axes);
  REQUIRE(run_mhc("sweep s.json --dir whole", d.path).code == 0);
  // Kill it while the second run (mhc) is past its first checkpoint.
  const pid_t pid = start_mhc("sweep s.json --dir cut", d.path, d.path / "cut.log");
  const fs::path metrics = d.path / "cut" / "s" / "mhc-n4-s1337" / "metrics.jsonl";
  for (int i = 0; i < 4000 && !(fs::exists(metrics) && count_lines(metrics) >= 70); ++i) usleep(5000);
  kill(pid, SIGKILL);
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFSIGNALED(status));  // it really was killed mid-sweep
  CHECK(!fs::exists(d.path / "cut" / "s" / "mhc-n4-s1337" / "outcome.json"));
  const Result again = run_mhc("sweep s.json --dir cut", d.path);
  INFO(again.output);
  REQUIRE(again.code == 0);
  CHECK_THAT(again.output, Contains("residual-s1337") && Contains("finished earlier"));
  for (const char* id : {"residual-s1337", "mhc-n4-s1337"}) {
    INFO(id);
    const mhc::RunMetrics whole = mhc::read_run_metrics((d.path / "whole" / "s" / id).string());
    const mhc::RunMetrics cut = mhc::read_run_metrics((d.path / "cut" / "s" / id).string());
    CHECK(cut.step == whole.step);
    CHECK(cut.loss == whole.loss);  // bit for bit
    CHECK(cut.val_loss == whole.val_loss);
    CHECK(cut.amax_forward_max == whole.amax_forward_max);
  }
  // Each grid point is an ordinary run directory.
  const Result eval = run_mhc("eval --run cut/s/mhc-n4-s1337", d.path);
  CHECK(eval.code == 0);
  CHECK_THAT(eval.output, Contains("val loss"));
}

TEST_CASE("mhc export writes the weights alone, f32 or bf16, read back equal to the checkpoint's", "[cli][export]") {
  TempDir d;
  REQUIRE(run_mhc("train --run r --residual mhc --optim.steps 2 --eval.every 2" + kTiny, d.path).code == 0);
  Result r = run_mhc("export r", d.path);
  INFO(r.output);
  REQUIRE(r.code == 0);
  CHECK_THAT(r.output, Contains("wrote r/model.safetensors"));
  r = run_mhc("export r --dtype bf16 --out half.safetensors", d.path);
  REQUIRE(r.code == 0);
  const mhc::SafetensorsFile ckpt((d.path / "r" / "checkpoint.safetensors").string());
  const mhc::SafetensorsFile f32((d.path / "r" / "model.safetensors").string());
  const mhc::SafetensorsFile b16((d.path / "half.safetensors").string());
  const auto want = ckpt.read_all(), got = f32.read_all(), half = b16.read_all();
  size_t weights = 0;
  for (const auto& [name, bytes] : want) {
    INFO(name);
    if (name.rfind("adamw.", 0) == 0) {
      CHECK(got.count(name) == 0);
      continue;
    }
    ++weights;
    CHECK(got.at(name) == bytes);
    const bool parameter = name.rfind("model.", 0) == 0;
    CHECK(b16.find(name)->dtype == (parameter ? mhc::DType::bf16 : mhc::DType::f32));
    CHECK(half.at(name).size() == (parameter ? bytes.size() / 2 : bytes.size()));
  }
  CHECK(got.size() == weights);
  CHECK(f32.meta("config") == ckpt.meta("config"));
  r = run_mhc("export r --dtype f16", d.path);
  CHECK(r.code != 0);
  r = run_mhc("export nowhere", d.path);
  CHECK(r.code != 0);
  CHECK_THAT(r.output, Contains("no run in nowhere (missing nowhere/config.json)"));
}

TEST_CASE("eval --dump-batch writes the batch, logits, loss and every parameter's gradient", "[cli]") {
  TempDir d;
  REQUIRE(run_mhc("train --run r --optim.steps 2 --eval.every 2 --residual mhc --streams 2" + kTiny, d.path).code == 0);
  // --batches 1, the run's own setting: the first validation batch alone.
  Result r = run_mhc("eval --run r --batches 1 --dump-batch dump.safetensors", d.path);
  INFO(r.output);
  REQUIRE(r.code == 0);
  CHECK_THAT(r.output, Contains("wrote dump.safetensors"));
  CHECK_THAT(r.output, Contains("(2 windows of 8 tokens)"));
  const mhc::SafetensorsFile ckpt((d.path / "r" / "checkpoint.safetensors").string());
  const mhc::SafetensorsFile dump((d.path / "dump.safetensors").string());
  CHECK(dump.meta("format") == "mhc batch dump");
  CHECK(dump.meta("step") == "2");
  CHECK(dump.meta("config") == ckpt.meta("config"));
  const int64_t V = ckpt.find("model.wte")->shape[0];
  REQUIRE(dump.find("x") != nullptr);
  CHECK(dump.find("x")->dtype == mhc::DType::i32);
  CHECK(dump.find("x")->shape == mhc::Shape({2, 8}));  // kTinyModel: batch 2, block 8
  CHECK(dump.find("y")->shape == mhc::Shape({2, 8}));
  CHECK(dump.find("logits")->shape == mhc::Shape({2, 8, V}));
  const auto bytes = dump.read_all();
  auto values = [&](const std::string& name) {
    const std::string& b = bytes.at(name);
    std::vector<float> v(b.size() / sizeof(float));
    std::memcpy(v.data(), b.data(), b.size());
    return v;
  };
  // The loss is the cross-entropy of the stored logits against the stored targets.
  const std::vector<float> logits = values("logits"), loss = values("loss");
  std::vector<int32_t> y(16);
  std::memcpy(y.data(), bytes.at("y").data(), bytes.at("y").size());
  double ce = 0;
  for (int64_t i = 0; i < 16; ++i) {
    REQUIRE((y[i] >= 0 && y[i] < V));
    double m = -1e300, s = 0;
    for (int64_t v = 0; v < V; ++v) m = std::max(m, double(logits[i * V + v]));
    for (int64_t v = 0; v < V; ++v) s += std::exp(double(logits[i * V + v]) - m);
    ce += (m + std::log(s) - logits[i * V + y[i]]) / 16;
  }
  REQUIRE(loss.size() == 1);
  CHECK(std::abs(ce - loss[0]) < 1e-5);
  CHECK(std::abs(std::stod(dump.meta("loss")) - loss[0]) < 1e-6);
  // The run evaluates on this one batch: eval's val loss is the same number.
  char printed[64];
  std::snprintf(printed, sizeof printed, "val loss %.4f", double(loss[0]));
  CHECK_THAT(r.output, Contains(printed));
  // A gradient for every parameter, of its shape, and not all zero.
  size_t params = 0;
  for (const auto& e : ckpt.tensors()) {
    if (e.name.rfind("model.", 0) != 0) continue;
    ++params;
    INFO(e.name);
    const auto* g = dump.find("grad." + e.name);
    REQUIRE(g != nullptr);
    CHECK(g->shape == e.shape);
    CHECK(g->dtype == mhc::DType::f32);
  }
  CHECK(dump.tensors().size() == params + 4);
  const std::vector<float> g_head = values("grad.model.head.weight");
  CHECK(std::any_of(g_head.begin(), g_head.end(), [](float v) { return v != 0; }));
  r = run_mhc("eval --run r --dump-batch nowhere/dump.safetensors", d.path);
  CHECK(r.code != 0);
  CHECK_THAT(r.output, Contains("nowhere/dump.safetensors"));
}

TEST_CASE("metrics.jsonl and the console count steps the same way: step k is the k-th step", "[cli]") {
  TempDir d;
  const Result r = run_mhc("train --run r --optim.steps 4 --eval.every 2 --log_every 1" + kTiny, d.path);
  INFO(r.output);
  REQUIRE(r.code == 0);
  int training_lines = 0;
  for (const mhc::Json& v : mhc::json::parse_lines(read_bytes(d.path / "r" / "metrics.jsonl"))) {
    if (v.contains("val_loss")) continue;
    const auto step = v.at("step").get<int64_t>();
    CHECK(step == ++training_lines);  // 1, 2, 3, 4
    CHECK_THAT(r.output, Contains(fmt::format("step {}/4 | loss {:.4f} |", step, v.at("loss").get<double>())));
  }
  CHECK(training_lines == 4);
}

TEST_CASE("one writer per run: a second train, resume, overwrite or sweep is refused, naming the holder",
          "[cli][lock]") {
  TempDir d;
  REQUIRE(run_mhc("train --run r --optim.steps 2 --eval.every 2" + kTiny, d.path).code == 0);
  const std::string checkpoint = read_bytes(d.path / "r" / "checkpoint.safetensors");
  const std::string metrics = read_bytes(d.path / "r" / "metrics.jsonl");
  const std::string holder = "(pid " + std::to_string(getpid()) + ")";
  {
    mhc::RunLock lock((d.path / "r").string(), "run");  // this test process is the writer now
    for (const std::string& args : {std::string("train --run r --resume --optim.steps 4"),
                                    "train --run r --overwrite --optim.steps 2 --eval.every 2" + kTiny}) {
      INFO(args);
      const Result r = run_mhc(args, d.path);
      CHECK(r.code == 1);
      CHECK_THAT(r.output, Contains("run directory r is in use by another mhc process " + holder));
    }
    CHECK(read_bytes(d.path / "r" / "checkpoint.safetensors") == checkpoint);
    CHECK(read_bytes(d.path / "r" / "metrics.jsonl") == metrics);
    // A reader is not a writer: eval still works.
    CHECK(run_mhc("eval --run r", d.path).code == 0);
  }
  // Released (as the kernel does when a holder dies): the resume goes ahead.
  const Result resumed = run_mhc("train --run r --resume --optim.steps 4", d.path);
  INFO(resumed.output);
  CHECK(resumed.code == 0);
  CHECK_THAT(resumed.output, Contains("resuming at step 2"));

  // A sweep's folder: one sweep at a time.
  write_spec(d.path / "s.json", R"({"residual": ["residual"]})");
  fs::create_directories(d.path / "sweeps" / "s");
  mhc::RunLock lock((d.path / "sweeps" / "s").string(), "sweep");
  const Result sweep = run_mhc("sweep s.json", d.path);
  CHECK(sweep.code == 1);
  CHECK_THAT(sweep.output, Contains("sweep directory sweeps/s is in use by another mhc process " + holder));
  CHECK(!fs::exists(d.path / "sweeps" / "s" / "sweep.json"));
}

TEST_CASE("overwrite deletes only an mhc run's files, and only once the new start has succeeded", "[cli]") {
  TempDir d;
  const std::string args = " --optim.steps 2 --eval.every 2" + kTiny;
  REQUIRE(run_mhc("train --run r" + args, d.path).code == 0);
  const std::string checkpoint = read_bytes(d.path / "r" / "checkpoint.safetensors");
  mhc::test::write_bytes(d.path / "r" / "thesis.tex", "\\section{Results}");
  Result r = run_mhc("train --run r --overwrite --seed 5" + args, d.path);
  CHECK(r.code == 1);
  CHECK_THAT(r.output, Contains("holds an entry that an mhc run does not write (thesis.tex)"));
  CHECK(read_bytes(d.path / "r" / "thesis.tex") == "\\section{Results}");
  CHECK(read_bytes(d.path / "r" / "checkpoint.safetensors") == checkpoint);
  fs::remove(d.path / "r" / "thesis.tex");

  // A start that fails after its setup (here: no room for config.json when
  // training begins) puts the old run back, whole.
  uintmax_t used = 0;
  for (const auto& e : fs::directory_iterator(d.path / "r")) used += in_pages(fs::file_size(e.path()));
  mhc::test::TmpfsMount disk(used + 2 * 4096);  // the new run's lock file and tokenizer, then nothing
  if (!disk.mounted()) {
    WARN("SKIPPED: cannot mount a tmpfs (" << disk.error() << ")");
    return;
  }
  const fs::path old = disk.path() / "old";
  fs::copy(d.path / "r", old);
  r = run_mhc("train --run " + old.string() + " --overwrite --seed 5" + args, d.path);
  INFO(r.output);
  CHECK(r.code == 1);
  CHECK_THAT(r.output, Contains(std::strerror(ENOSPC)));
  CHECK(read_bytes(old / "checkpoint.safetensors") == checkpoint);
  CHECK(!fs::exists(disk.path() / "old.replaced-by-overwrite"));
  // With room, the same --overwrite replaces it.
  REQUIRE(disk.resize(4 * used));
  r = run_mhc("train --run " + old.string() + " --overwrite --seed 5" + args, d.path);
  CHECK(r.code == 0);
  CHECK(read_bytes(old / "checkpoint.safetensors") != checkpoint);
  CHECK(!fs::exists(disk.path() / "old.replaced-by-overwrite"));
}

TEST_CASE("a run that stopped before its first checkpoint is started again by --resume, and says so", "[cli]") {
  TempDir d;
  const std::string args = " --optim.steps 4 --eval.every 4" + kTiny;
  REQUIRE(run_mhc("train --run ref" + args, d.path).code == 0);
  REQUIRE(run_mhc("train --run r" + args, d.path).code == 0);
  fs::remove(d.path / "r" / "checkpoint.safetensors");  // as a kill before the first checkpoint leaves it
  Result r = run_mhc("train --run r" + args, d.path);
  CHECK(r.code == 1);
  CHECK_THAT(r.output, Contains("it stopped before its first checkpoint: pass --resume to start it again from step 0"));
  r = run_mhc("train --run r --resume", d.path);
  INFO(r.output);
  REQUIRE(r.code == 0);
  CHECK_THAT(r.output, Contains("r has no checkpoint: the run stopped before its first one, so it starts again from "
                                "step 0"));
  const mhc::RunMetrics ref = mhc::read_run_metrics((d.path / "ref").string());
  const mhc::RunMetrics again = mhc::read_run_metrics((d.path / "r").string());
  CHECK(again.step == ref.step);
  CHECK(again.loss == ref.loss);  // the same settings, from the same start
}

TEST_CASE("export --out and eval --dump-batch never replace a run's files, links, FIFOs or devices", "[cli][export]") {
  TempDir d;
  REQUIRE(run_mhc("train --run r --optim.steps 2 --eval.every 2" + kTiny, d.path).code == 0);
  const std::string checkpoint = read_bytes(d.path / "r" / "checkpoint.safetensors");
  const std::string metrics = read_bytes(d.path / "r" / "metrics.jsonl");
  for (const char* file : {"checkpoint.safetensors", "metrics.jsonl", "config.json"}) {
    for (const std::string& cmd : {"export r --force --out r/" + std::string(file),
                                   "eval --run r --force --dump-batch r/" + std::string(file)}) {
      INFO(cmd);
      const Result r = run_mhc(cmd, d.path);
      CHECK(r.code == 1);
      CHECK_THAT(r.output, Contains("r/" + std::string(file) + ": that is a file of the run in r"));
    }
  }
  CHECK(read_bytes(d.path / "r" / "checkpoint.safetensors") == checkpoint);
  CHECK(read_bytes(d.path / "r" / "metrics.jsonl") == metrics);
  // Not regular files: refused by kind, left as they are.
  mhc::test::write_bytes(d.path / "target", "keep");
  fs::create_symlink(d.path / "target", d.path / "link");
  REQUIRE(mkfifo((d.path / "fifo").c_str(), 0644) == 0);
  const std::vector<std::pair<std::string, std::string>> odd = {
      {"link", "a symbolic link"}, {"fifo", "a FIFO"}, {"/dev/null", "a device"}, {"r", "a folder"}};
  for (const auto& [path, kind] : odd) {
    for (const std::string& cmd : {"export r --force --out " + path, "eval --run r --force --dump-batch " + path}) {
      INFO(cmd);
      const Result r = run_mhc(cmd, d.path);
      CHECK(r.code == 1);
      CHECK_THAT(r.output, Contains(path + ": it is " + kind));
    }
  }
  CHECK(fs::is_symlink(d.path / "link"));
  CHECK(read_bytes(d.path / "target") == "keep");
  CHECK(fs::is_fifo(d.path / "fifo"));
  // An existing regular file is replaced only with --force; a missing folder is made.
  Result r = run_mhc("export r --out target", d.path);
  CHECK(r.code == 1);
  CHECK_THAT(r.output, Contains("export --out target: the file exists; pass --force to replace it"));
  CHECK(read_bytes(d.path / "target") == "keep");
  r = run_mhc("eval --run r --dump-batch target", d.path);
  CHECK(r.code == 1);
  CHECK_THAT(r.output, Contains("--dump-batch target: the file exists; pass --force to replace it"));
  CHECK(run_mhc("export r --out target --force", d.path).code == 0);
  CHECK(mhc::SafetensorsFile((d.path / "target").string()).meta("format") == "mhc export");
  r = run_mhc("export r --out new/folder/x.safetensors", d.path);
  INFO(r.output);
  CHECK(r.code == 0);
  CHECK(fs::is_regular_file(d.path / "new" / "folder" / "x.safetensors"));
}

namespace {

// Writes the checkpoint at `path` again (valid checksums) with its meta changed by `edit`.
void rewrite_checkpoint(const fs::path& path, const std::function<void(mhc::CheckpointMeta&)>& edit) {
  const mhc::SafetensorsFile f(path.string(), "checkpoint");
  mhc::CheckpointMeta meta = mhc::read_checkpoint_meta(path.string());
  const auto bytes = f.read_all();
  std::vector<mhc::Tensor> tensors;
  tensors.reserve(f.tensors().size());
  std::vector<mhc::NamedTensor> named;
  for (const auto& e : f.tensors()) {
    tensors.push_back(mhc::Tensor::empty(e.shape, e.dtype));
    std::memcpy(tensors.back().data_ptr(), bytes.at(e.name).data(), bytes.at(e.name).size());
    named.push_back({e.name, &tensors.back()});
  }
  edit(meta);
  mhc::save_checkpoint(path.string(), named, meta);
}

}  // namespace

TEST_CASE("checkpoints that lie or nest too deep are refused by every command that reads them", "[cli][validation]") {
  TempDir d;
  REQUIRE(run_mhc("train --run r --optim.steps 2 --eval.every 2" + kTiny, d.path).code == 0);
  const fs::path ckpt = d.path / "r" / "checkpoint.safetensors";
  const std::string good = read_bytes(ckpt);
  const std::vector<std::string> readers = {"train --run r --resume --optim.steps 4", "eval --run r",
                                            "sample --run r --tokens 2", "export r --out x.safetensors"};
  auto refused_by_all = [&](const std::string& message, size_t n_readers) {
    for (size_t i = 0; i < n_readers; ++i) {
      INFO(readers[i]);
      const Result r = run_mhc(readers[i], d.path);
      CHECK(r.code == 1);
      CHECK_THAT(r.output, Contains("r/checkpoint.safetensors") && Contains(message));
    }
    CHECK(!fs::exists(d.path / "x.safetensors"));
  };
  // A header nested 10^5 deep (its checksums do not matter): refused, not a stack overflow.
  std::string deep = "{\"t\":" + std::string(100000, '[') + std::string(100000, ']') + "}";
  deep.append((8 - deep.size() % 8) % 8, ' ');  // the header size the format requires
  const uint64_t n = deep.size();
  mhc::test::write_bytes(ckpt, std::string(reinterpret_cast<const char*>(&n), 8) + deep);
  refused_by_all("nested 100001 levels deep; the limit is 64", readers.size());
  // Settings nested 2·10^5 deep, or none at all: they cannot be checked.
  const struct {
    std::string config, message;
  } configs[] = {{"{\"a\":" + std::string(200000, '[') + std::string(200000, ']') + "}", "nested 200001 levels deep"},
                 {"", "its metadata 'config' is empty"},
                 {"{}", "its metadata 'config' is {}, not the run's settings"}};
  for (const auto& c : configs) {
    mhc::test::write_bytes(ckpt, good);
    rewrite_checkpoint(ckpt, [&](mhc::CheckpointMeta& m) { m.config_json = c.config; });
    refused_by_all(c.message, 3);  // export copies the weights, not the settings
  }
  // A negative step, or no ranks.
  mhc::test::write_bytes(ckpt, good);
  rewrite_checkpoint(ckpt, [](mhc::CheckpointMeta& m) { m.step = -100; });
  refused_by_all("it claims step -100 and optimizer step 2; neither can be negative", readers.size());
  for (int64_t ranks : {0, -1}) {
    mhc::test::write_bytes(ckpt, good);
    rewrite_checkpoint(ckpt, [&](mhc::CheckpointMeta& m) { m.ranks = ranks; });
    refused_by_all(fmt::format("it claims to be written by {} ranks; at least 1 did", ranks), readers.size());
  }
  // And a metrics line nested 10^5 deep: the resume reports it and goes on without it.
  mhc::test::write_bytes(ckpt, good);
  std::ofstream(d.path / "r" / "metrics.jsonl", std::ios::app)
      << std::string(100000, '[') << std::string(100000, ']') << "\n";
  const Result r = run_mhc("train --run r --resume --optim.steps 4", d.path);
  INFO(r.output);
  CHECK(r.code == 0);
  CHECK_THAT(r.output, Contains("nested 100000 levels deep"));
}

TEST_CASE("an empty value for a numeric flag is refused naming the flag, and a seed past 2^64 - 1 too",
          "[cli][validation]") {
  // Every train setting given "": only the text ones (a path, a preset) may take it.
  std::vector<std::string> accepted;
  for (const mhc::Setting& s : mhc::settings()) {
    if (!s.flag) continue;
    try {
      mhc::parse_train_flags({"--" + s.name, ""});
      accepted.push_back(s.name);
    } catch (const std::invalid_argument& e) {
      INFO(s.name);
      // A switch takes no value: the "" is an extra argument. Hidden testing aids are refused unnamed.
      if (!s.hidden) CHECK_THAT(e.what(), Contains("--" + s.name) || Contains("was not expected"));
    }
  }
  // Text settings where "" means the default: the preset, corpus, run folder, cache, and no HellaSwag file.
  CHECK(accepted == std::vector<std::string>{"preset", "data", "run", "data.cache_dir", "eval.hellaswag"});
  CHECK_THROWS_WITH(mhc::parse_train_flags({"--optim.grad_clip", ""}),
                    Contains("--optim.grad_clip") && Contains("an empty value is not a number"));
  CHECK_THROWS_WITH(mhc::parse_train_flags({"--seed", "18446744073709551616"}),
                    Contains("--seed") && Contains("below 2^64"));
  CHECK(mhc::parse_train_flags({"--seed", "18446744073709551615"}).seed == 18446744073709551615ull);
  // sample and eval, as users run them.
  TempDir d;
  REQUIRE(run_mhc("train --run r --optim.steps 2 --eval.every 2" + kTiny, d.path).code == 0);
  for (const std::string flag : {"--temperature", "--tokens", "--top_k", "--seed"}) {
    const Result r = run_mhc("sample --run r " + flag + " ''", d.path);
    INFO(flag << ": " << r.output);
    CHECK(r.code != 0);
    CHECK_THAT(r.output, Contains(flag));
  }
  Result r = run_mhc("sample --run r --seed 18446744073709551616", d.path);
  CHECK(r.code != 0);
  CHECK_THAT(r.output, Contains("--seed") && Contains("below 2^64"));
  r = run_mhc("eval --run r --batches ''", d.path);
  CHECK(r.code != 0);
  CHECK_THAT(r.output, Contains("--batches") && Contains("an empty value is not a number"));
}

TEST_CASE("config.json says what the run trained on, and a changed corpus is not resumed silently", "[cli]") {
  TempDir d;
  std::string text;
  for (int i = 0; text.size() < 20000; ++i) text += "Line " + std::to_string(i) + ": to be, or not to be.\n";
  fs::create_directories(d.path / "corpus");
  mhc::test::write_bytes(d.path / "corpus" / "tinyshakespeare.txt", text);
  // The default corpus (found through $MHC_DATA_DIR) is recorded by its path, and every corpus by size and checksum.
  setenv("MHC_DATA_DIR", (d.path / "corpus").c_str(), 1);
  Result r = run_mhc("train --run r --optim.steps 2 --eval.every 2" + kTinyModel, d.path);
  unsetenv("MHC_DATA_DIR");
  INFO(r.output);
  REQUIRE(r.code == 0);
  const mhc::Json config = mhc::json::parse_file((d.path / "r" / "config.json").string());
  CHECK(config.at("data").get<std::string>() == (d.path / "corpus" / "tinyshakespeare.txt").string());
  CHECK(config.at("data.bytes").get<int64_t>() == static_cast<int64_t>(text.size()));
  const std::string checksum = config.at("data.checksum").get<std::string>();
  CHECK(checksum.rfind("xxh64:", 0) == 0);
  CHECK(checksum.size() == 6 + 16);
  // The corpus changes (one line appended): the resume is refused, --override goes on with a warning.
  std::ofstream(d.path / "corpus" / "tinyshakespeare.txt", std::ios::app) << "Line 1: to be.\n";
  r = run_mhc("train --run r --resume --optim.steps 4", d.path);
  CHECK(r.code == 1);
  CHECK_THAT(r.output, Contains("data.checksum: \"" + checksum + "\" in the run") &&
                           Contains("is not the one the run trained on"));
  CHECK(mhc::read_checkpoint_meta((d.path / "r" / "checkpoint.safetensors").string()).step == 2);
  r = run_mhc("train --run r --resume --override --optim.steps 4", d.path);
  INFO(r.output);
  CHECK(r.code == 0);
  CHECK_THAT(r.output, Contains("warning: --override") && Contains("data.checksum"));
  CHECK(mhc::read_checkpoint_meta((d.path / "r" / "checkpoint.safetensors").string()).step == 4);
}

TEST_CASE("mhc --version prints the version, the commit and the build's options", "[cli]") {
  TempDir d;
  const Result r = run_mhc("--version", d.path);
  INFO(r.output);
  CHECK(r.code == 0);
  CHECK_THAT(r.output, Contains("mhc 0.1.0 (commit ") && Contains("; CUDA o") && Contains(", MPI o") &&
                           Contains(", BLAS OpenBLAS"));
}

TEST_CASE("eval.keep_best keeps the checkpoint of the best validation loss beside the last", "[cli]") {
  TempDir d;
  const std::string args = " --optim.steps 8 --eval.every 2 --optim.lr 0.3" + kTiny;
  Result r = run_mhc("train --run r --eval.keep_best" + args, d.path);
  INFO(r.output);
  REQUIRE(r.code == 0);
  const mhc::RunMetrics m = mhc::read_run_metrics((d.path / "r").string());
  // The evaluations that a checkpoint follows (after steps 2, 4, 6, 8): the best of them.
  double best = INFINITY;
  int64_t best_step = -1;
  for (size_t i = 0; i < m.eval_step.size(); ++i)
    if (m.eval_step[i] > 0 && m.val_loss[i] < best) best = m.val_loss[i], best_step = m.eval_step[i];
  const mhc::CheckpointMeta kept = mhc::verify_checkpoint((d.path / "r" / "best.safetensors").string());
  CHECK(kept.step == best_step);
  CHECK(kept.last_val_loss == best);
  CHECK(mhc::read_checkpoint_meta((d.path / "r" / "checkpoint.safetensors").string()).step == 8);
  CHECK(mhc::json::parse_file((d.path / "r" / "config.json").string()).at("eval.keep_best") == true);
  // Without the flag: no best file, and config.json does not mention it.
  REQUIRE(run_mhc("train --run plain" + args, d.path).code == 0);
  CHECK(!fs::exists(d.path / "plain" / "best.safetensors"));
  CHECK(mhc::json::find(mhc::json::parse_file((d.path / "plain" / "config.json").string()), "eval.keep_best") ==
        nullptr);
}

TEST_CASE("mhc sweep: a damaged outcome.json is reported and that run checked again, not a library error",
          "[cli][sweep]") {
  TempDir d;
  write_spec(d.path / "s.json", R"({"residual": ["residual"]})");
  REQUIRE(run_mhc("sweep s.json", d.path).code == 0);
  const fs::path outcome = d.path / "sweeps" / "s" / "residual-s1337" / "outcome.json";
  const std::string good = read_bytes(outcome);
  for (const std::string& damaged : {std::string("{\"status\": "), std::string("{\"status\": 3}"), std::string("[]")}) {
    INFO(damaged);
    mhc::test::write_bytes(outcome, damaged);
    const Result r = run_mhc("sweep s.json", d.path);
    INFO(r.output);
    CHECK(r.code == 0);
    CHECK_THAT(r.output, Contains("warning: sweeps/s/residual-s1337/outcome.json is damaged") &&
                             Contains("the sweep checks that run again"));
    CHECK_THAT(r.output, !Contains("json.exception"));
    // The finished run trains nothing more; its outcome is written again.
    const mhc::Json back = mhc::json::parse_file(outcome.string());
    CHECK(back.at("status") == "finished");
    CHECK(back.at("step") == 200);
  }
  CHECK(mhc::json::parse_file(outcome.string()).at("status") == mhc::json::parse(good).at("status"));
}

TEST_CASE("mhc sweep: a timing scratch folder that a killed sweep left is removed by the next", "[cli][sweep]") {
  TempDir d;
  fs::create_directories(d.path / "tmp");
  const pid_t gone = fork();  // a process id whose process has ended
  REQUIRE(gone >= 0);
  if (gone == 0) _exit(0);
  REQUIRE(waitpid(gone, nullptr, 0) == gone);
  const fs::path stale = d.path / "tmp" / ("mhc-sweep-" + std::to_string(gone));
  const fs::path running = d.path / "tmp" / ("mhc-sweep-" + std::to_string(getpid()));
  fs::create_directories(stale / "timing");
  fs::create_directories(running / "timing");
  write_spec(d.path / "s.json", R"({"residual": ["residual"]})");
  setenv("TMPDIR", (d.path / "tmp").c_str(), 1);
  const Result r = run_mhc("sweep s.json --dry-run", d.path);
  unsetenv("TMPDIR");
  INFO(r.output);
  CHECK(r.code == 0);
  CHECK(!fs::exists(stale));
  CHECK(fs::exists(running));  // a sweep that still runs keeps its own
}

namespace {

// A HellaSwag-style file on the synthetic addition corpus ("a+b=c\n"): the
// context is a line and the start of the next, the right ending the two-digit
// sum and a newline ("13\n"), the three others the same three characters in
// an order no line of the corpus has ("\n13", "1\n3", "\n31"), so that
// neither length nor which tokens they hold tells them apart: an untrained
// model is near chance. `wrong_labels`: every label names junk.
void write_choice_file(const fs::path& path, bool wrong_labels) {
  mhc::Rng rng(3);
  std::string text;
  for (int i = 0; i < 40; ++i) {
    const int a = 5 + static_cast<int>(rng.below(5)), b = 5 + static_cast<int>(rng.below(5));  // a + b in 10..18
    const std::string s = std::to_string(a + b);
    std::vector<std::string> endings = {s + "\n", "\n" + s, s.substr(0, 1) + "\n" + s.substr(1),
                                        "\n" + std::string(s.rbegin(), s.rend())};
    const int label = static_cast<int>(rng.below(4));
    std::swap(endings[0], endings[static_cast<size_t>(label)]);
    mhc::Json line;
    line["ctx"] = fmt::format("{}+{}={}\n{}+{}=", 12 + i, 30 + i, 42 + 2 * i, a, b);
    line["endings"] = endings;
    line["label"] = wrong_labels ? (label + 1) % 4 : label;
    text += mhc::json::dump(line) + "\n";
  }
  mhc::test::write_bytes(path, text);
}

}  // namespace

TEST_CASE("HellaSwag-style evaluation: a trained model picks the right endings, and scoring is not a formality",
          "[cli]") {
  TempDir d;
  write_choice_file(d.path / "good.jsonl", false);
  write_choice_file(d.path / "bad.jsonl", true);
  const std::string model =
      " --data synthetic:addition --model.blocks 2 --model.width 32 --model.heads 2"
      " --model.block_size 32 --optim.batch_size 8 --eval.batches 2 --eval.sample_tokens 0"
      " --data.cache_dir cache";
  Result r = run_mhc("train --run r --optim.steps 200 --eval.every 100 --eval.hellaswag good.jsonl" + model, d.path);
  INFO(r.output);
  REQUIRE(r.code == 0);
  std::vector<double> acc;
  for (const mhc::Json& line : mhc::json::parse_lines_file((d.path / "r" / "metrics.jsonl").string()))
    if (const mhc::Json* a = mhc::json::find(line, "hellaswag_acc")) {
      acc.push_back(a->get<double>());
      CHECK(line.at("hellaswag_examples").get<int64_t>() == 40);
    }
  REQUIRE(acc.size() == 3);  // steps 0, 100, 200
  CHECK(acc[0] < 0.7);       // untrained: near chance (0.25), not the answers
  CHECK(acc[2] >= 0.9);      // trained: it knows the format of a sum (the junk breaks it)
  // The same model, with every label on junk, is almost never right.
  r = run_mhc("eval --run r --batches 2 --hellaswag bad.jsonl", d.path);
  REQUIRE(r.code == 0);
  const size_t at = r.output.find("bad.jsonl: accuracy ");
  REQUIRE(at != std::string::npos);
  CHECK(std::stod(r.output.substr(at + 20)) <= 0.1);
  CHECK_THAT(r.output, Contains("of 40), length-normalised"));
  // A malformed file is refused, naming the example.
  mhc::test::write_bytes(d.path / "broken.jsonl",
                         "{\"ctx\": \"1+1=\", \"endings\": [\"2\\n\", \"+=\"], \"label\": 5}\n");
  r = run_mhc("eval --run r --hellaswag broken.jsonl", d.path);
  CHECK(r.code != 0);
  CHECK_THAT(r.output, Contains("broken.jsonl: example 1: label 5 is not the index of one of its 2 endings"));
}

// Each enum has one name table (kernels/name_table.h) that feeds parsing,
// printing and the command line's choices: every entry parses to its value,
// a value prints as its first (canonical) name, a choice setting takes every
// entry from config.json and writes the canonical name back, and its help
// names every canonical name.
namespace {
using namespace mhc;
template <class E, size_t N>
void check_name_table(const std::string& setting, const EnumName<E> (&table)[N]) {
  const Setting* s = find_setting(setting);
  REQUIRE(s != nullptr);
  for (const EnumName<E>& n : table) {
    INFO("--" << setting << " " << n.name);
    const auto v = value_named(table, n.name);
    REQUIRE(v.has_value());
    CHECK(*v == n.value);
    const std::string canonical = name_of(table, n.value);
    CHECK(s->help.find(canonical) != std::string::npos);
    TrainConfig c;
    s->set(c, Json(n.name));
    CHECK(s->get(c) == Json(canonical));
  }
  CHECK(!value_named(table, "no-such-name").has_value());
}
}  // namespace

TEST_CASE("enum name tables: parsing, printing and the command line's choices agree", "[cli]") {
  using namespace mhc;
  check_name_table("residual", kResidualKindNames);
  check_name_table("device", kDeviceNames);
  check_name_table("model.ffn", kFfnTypeNames);
  check_name_table("hc.gate", kPrePostGateNames);
  check_name_table("hc.collapse", kCollapseModeNames);
  check_name_table("hc.fused", kFusedNames);
  check_name_table("moe.router", kRouterKindNames);
  check_name_table("optim.schedule", kScheduleNames);
  check_name_table("data.split", kSplitKindNames);
  check_name_table("dist.reduce", kReduceModeNames);
  CHECK(canonical_names(kFusedNames) == "auto, on, off");  // aliases are accepted, never listed
  CHECK(std::string(ffn_type_name(FfnType::SwiGLU)) == "swiglu");
  CHECK_THROWS_WITH(parse_ffn_type("relu"), Contains("gelu, swiglu, moe"));
}
