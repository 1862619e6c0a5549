// test_cli.cpp — the `mhc` program as users run it: every kind of bad input
// gets a clear message and a non-zero exit, and leaves existing files alone;
// sample, eval and plot work on a finished run; damaged files and a full
// disk cost nothing that was already safely written.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "test_helpers.h"
#include "test_files.h"
#include "train/checkpoint.h"
#include "train/json.h"
#include "train/metrics.h"

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

// A tiny, fast model, and a run of it on the synthetic corpus.
const std::string kTinyModel =
    " --model.blocks 1 --model.width 16 --model.heads 2 --model.block_size 8"
    " --optim.batch_size 2 --optim.warmup 1 --eval.batches 1 --eval.sample_tokens 0 --data.cache_dir cache";
const std::string kTiny = " --data synthetic:addition" + kTinyModel;

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
  const std::string before = read_bytes(d.path / "old" / "checkpoint.bin");
  r = run_mhc("train --run old --overwrite" + kTiny + short_split, d.path);
  CHECK(r.code != 0);
  CHECK(read_bytes(d.path / "old" / "checkpoint.bin") == before);
  size_t entries = 0;
  for (const auto& e : fs::directory_iterator(d.path)) entries += e.path().filename().string().rfind("old", 0) == 0;
  CHECK(entries == 1);  // only the old run itself
}

TEST_CASE("resume finds the run the same flags made; finished and extended runs say what happens", "[cli]") {
  TempDir d;
  Result r = run_mhc("train --residual mhc --optim.steps 4 --eval.every 2" + kTiny, d.path);
  INFO(r.output);
  REQUIRE(r.code == 0);
  REQUIRE(fs::exists(d.path / "runs" / "cpu-char-mhc-n4" / "checkpoint.bin"));
  CHECK_THAT(r.output, Contains("fused auto (off: the CPU runs the composed ops)"));
  // The Amax gain (and validation loss) is measured before training too.
  const mhc::RunMetrics m = mhc::read_run_metrics((d.path / "runs" / "cpu-char-mhc-n4").string());
  REQUIRE(m.eval_step.size() == 3);
  CHECK(m.eval_step == std::vector<double>{0, 2, 4});
  CHECK(m.amax_forward_max[0] >= 1.0);

  r = run_mhc("train --residual mhc --resume --optim.steps 4" + kTiny, d.path);
  CHECK(r.code == 0);
  CHECK_THAT(r.output, Contains("runs/cpu-char-mhc-n4 is finished: 4 of 4 steps done"));
  r = run_mhc("train --residual mhc --resume --optim.steps 6 --eval.every 2" + kTiny, d.path);
  CHECK(r.code == 0);
  CHECK_THAT(r.output, Contains("resuming at step 4"));
  CHECK_THAT(r.output, Contains("--optim.steps changed from 4 to 6: the cosine schedule is recomputed for 6 steps"));
  CHECK(mhc::read_checkpoint_meta((d.path / "runs" / "cpu-char-mhc-n4" / "checkpoint.bin").string()).step == 6);
}

TEST_CASE("Ctrl-C writes a checkpoint, prints how to resume, and the resumed run is bit-identical", "[cli]") {
  TempDir d;
  const std::string args = " --optim.steps 400 --eval.every 100" + kTiny;
  REQUIRE(run_mhc("train --run full" + args, d.path).code == 0);
  const pid_t pid = start_mhc("train --run cut" + args, d.path, d.path / "cut.log");
  const fs::path metrics = d.path / "cut" / "metrics.jsonl";
  for (int i = 0; i < 2000 && !(fs::exists(metrics) && count_lines(metrics) >= 10); ++i) usleep(5000);
  kill(pid, SIGINT);
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  const std::string log = read_bytes(d.path / "cut.log");
  INFO(log);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 130);
  CHECK_THAT(log, Contains("interrupted: stopped after step"));
  CHECK_THAT(log, Contains("train --run cut --resume"));
  const int64_t at = mhc::read_checkpoint_meta((d.path / "cut" / "checkpoint.bin").string()).step;
  CHECK(at > 0);
  CHECK(at < 400);
  REQUIRE(run_mhc("train --run cut --resume", d.path).code == 0);
  const mhc::RunMetrics full = mhc::read_run_metrics((d.path / "full").string());
  const mhc::RunMetrics cut = mhc::read_run_metrics((d.path / "cut").string());
  CHECK(cut.step == full.step);
  CHECK(cut.loss == full.loss);  // bit for bit
  CHECK(cut.val_loss == full.val_loss);
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
  const uintmax_t checkpoint = fs::file_size(d.path / "ref" / "checkpoint.bin");
  uintmax_t small_files = 0;
  for (const char* f : {"config.json", "tokenizer.txt", "metrics.jsonl"})
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
  CHECK_THAT(r.output, Contains("cannot write '" + run + "/checkpoint.bin'") && Contains(std::strerror(ENOSPC)));
  CHECK_THAT(r.output, Contains("training stopped after step 4; the checkpoint after step 2 in " + run +
                                "/checkpoint.bin is intact"));
  CHECK(leftover_temporaries(run).empty());
  CHECK(mhc::read_checkpoint_meta(run + "/checkpoint.bin").step == 2);  // checksum verified
  const std::string metrics = read_bytes(run + "/metrics.jsonl");
  REQUIRE(!metrics.empty());
  CHECK(metrics.back() == '\n');  // whole lines only

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
  REQUIRE(disk.resize(4 * (small_files + in_pages(checkpoint))));
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

TEST_CASE("a damaged config.json: resume, eval and sample use the checkpoint's copy, and resume writes it again", "[cli]") {
  TempDir d;
  REQUIRE(run_mhc("train --run r --optim.steps 2 --eval.every 2" + kTiny, d.path).code == 0);
  const fs::path config = d.path / "r" / "config.json";
  const std::string good = read_bytes(config);
  mhc::test::write_bytes(config, good.substr(0, good.size() / 2));  // cut short
  const Result e = run_mhc("eval --run r", d.path);
  INFO(e.output);
  CHECK(e.code == 0);
  CHECK_THAT(e.output, Contains("warning: r/config.json is damaged") &&
                           Contains("using the configuration stored in r/checkpoint.bin"));
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
  const mhc::json::Value rewritten = mhc::json::parse_file(config.string());
  CHECK(rewritten.at("optim").at("steps").as_int() == 4);
  const Result after = run_mhc("eval --run r", d.path);
  CHECK(after.code == 0);
  CHECK_THAT(after.output, !Contains("warning"));

  // No checkpoint to fall back on: the damage is the error.
  fs::remove(d.path / "r" / "checkpoint.bin");
  mhc::test::write_bytes(config, "{\"optim\": ");
  const Result lost = run_mhc("eval --run r", d.path);
  CHECK(lost.code != 0);
  CHECK_THAT(lost.output, Contains("r/config.json:1:"));
}

TEST_CASE("a damaged metrics.jsonl: bad lines and NUL padding are reported, plotted around, cleaned by resume", "[cli]") {
  TempDir d;
  REQUIRE(run_mhc("train --run r --optim.steps 4 --eval.every 2" + kTiny, d.path).code == 0);
  const fs::path metrics = d.path / "r" / "metrics.jsonl";
  std::vector<std::string> lines;
  {
    std::istringstream in(read_bytes(metrics));
    for (std::string l; std::getline(in, l);) lines.push_back(l);
  }
  // eval 0, step 0, step 1, eval 2, step 2, step 3, eval 4
  REQUIRE(lines.size() == 7);
  REQUIRE_THAT(lines[2], Contains("\"step\":1,"));
  std::string damaged;
  for (size_t i = 0; i < lines.size(); ++i) damaged += (i == 2 ? lines[i].substr(0, lines[i].size() / 2) : lines[i]) + "\n";
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
  CHECK(read.step == std::vector<double>{0, 2, 3});
  CHECK(read.eval_step == std::vector<double>{0, 2, 4});

  const Result r = run_mhc("train --run r --resume --optim.steps 6 --eval.every 2", d.path);
  INFO(r.output);
  CHECK(r.code == 0);
  CHECK_THAT(r.output, Contains("has 2 damaged lines, left out of the rewritten file"));
  const std::string clean = read_bytes(metrics);
  CHECK(clean.find('\0') == std::string::npos);
  std::vector<double> steps, evals;
  for (const mhc::json::Value& v : mhc::json::parse_lines(clean))  // strict: any damage would throw
    (v.contains("val_loss") ? evals : steps).push_back(v.at("step").as_number());
  CHECK(steps == std::vector<double>{0, 2, 3, 4, 5});
  CHECK(evals == std::vector<double>{0, 2, 4, 6});
  const Result again = run_mhc("plot r --out charts", d.path);
  CHECK(again.code == 0);
  CHECK_THAT(again.output, !Contains("warning"));
}
