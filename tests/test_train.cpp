// test_train.cpp — the trainer end to end on the built-in synthetic corpus:
// determinism, bit-identical resume, learning for every residual variant,
// the run-directory rules, and the metrics writer on a full disk.
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "test_helpers.h"
#include "test_run_helpers.h"
#include "fileio/file_io.h"
#include "train/checkpoint.h"
#include "train/flops.h"
#include "train/memory_estimate.h"
#include "train/metrics.h"
#include "train/trainer.h"

using namespace mhc;
namespace fs = std::filesystem;

namespace {

using mhc::test::TempDir;

TrainConfig small_config(const fs::path& dir, ResidualKind kind, int64_t streams, const std::string& ffn = "gelu") {
  TrainConfig c = mhc::test::synthetic_run_config(dir, "cpu-char");
  c.model.blocks = 2;
  c.model.width = 32;
  c.model.heads = 2;
  c.model.block_size = 16;
  c.model.ffn = parse_ffn_type(ffn);
  c.model.moe.routed = 4;
  c.model.moe.top_k = 2;
  c.model.moe.shared = 1;
  c.model.moe.hidden = 32;
  c.model.dropout = 0.1;  // exercises the dropout seeds in determinism and resume
  c.model.site.kind = kind;
  c.model.site.streams = streams;
  c.optim.batch_size = 4;
  c.optim.steps = 20;
  c.optim.warmup = 2;
  c.optim.lr = 3e-3;
  c.eval.every = 10;
  c.eval.batches = 2;
  return c;
}

RunOptions quiet() { return mhc::test::quiet_run(); }

}  // namespace

TEST_CASE("same seed, same device: bit-identical losses", "[train]") {
  for (auto [kind, n, ffn] : {std::tuple{ResidualKind::MHC, 4, "gelu"}, std::tuple{ResidualKind::HC, 2, "moe"}}) {
    TempDir a, b;
    auto la = Trainer(small_config(a.path, kind, n, ffn), quiet()).run().losses;
    auto lb = Trainer(small_config(b.path, kind, n, ffn), quiet()).run().losses;
    REQUIRE(la.size() == 20);
    CHECK(la == lb);  // exact equality, not approximate
    // And a different seed gives a different run (the check can fail).
    TempDir c;
    TrainConfig other = small_config(c.path, kind, n, ffn);
    other.seed = 7;
    CHECK(Trainer(other, quiet()).run().losses != la);
  }
}

TEST_CASE("resume from step 10 continues bit-identically", "[train]") {
  for (auto [kind, n, ffn] : {std::tuple{ResidualKind::MHC, 4, "moe"}, std::tuple{ResidualKind::Residual, 1, "gelu"}}) {
    TempDir full_dir, split_dir;
    TrainConfig cfg_full = small_config(full_dir.path, kind, n, ffn);
    cfg_full.optim.grad_accum = 2;
    const TrainResult full_run = Trainer(cfg_full, quiet()).run();
    const auto& full = full_run.losses;

    TrainConfig cfg = small_config(split_dir.path, kind, n, ffn);
    cfg.optim.grad_accum = 2;
    RunOptions first = quiet();
    first.stop_after = 10;  // interrupted after step 10 (the checkpoint at step 10 was written)
    auto part1 = Trainer(cfg, first).run();
    REQUIRE(part1.losses.size() == 10);
    RunOptions again = quiet();
    again.resume = true;
    auto part2 = Trainer(cfg, again).run();
    REQUIRE(part2.first_step == 10);
    REQUIRE(part2.losses.size() == 10);
    std::vector<double> joined = part1.losses;
    joined.insert(joined.end(), part2.losses.begin(), part2.losses.end());
    CHECK(joined == full);
    CHECK(part2.last_val_loss == full_run.last_val_loss);  // same weights at the end
  }
}

TEST_CASE("a short run lowers the validation loss for residual, HC and mHC", "[train]") {
  for (auto [kind, n] :
       {std::pair{ResidualKind::Residual, 1}, std::pair{ResidualKind::HC, 4}, std::pair{ResidualKind::MHC, 4}}) {
    TempDir d;
    TrainConfig c = small_config(d.path, kind, n);
    c.model.dropout = 0;
    c.model.block_size = 32;
    c.optim.batch_size = 8;
    c.optim.warmup = 10;
    c.optim.steps = 300;
    c.eval.every = 300;
    c.eval.batches = 4;
    Trainer t(c, quiet());
    const double before = t.evaluate();
    const TrainResult r = t.run();
    INFO(residual_kind_name(kind) << ": val loss " << before << " -> " << r.last_val_loss);
    // Operand digits are random (irreducible), so the reachable loss is far
    // above 0; at init it is ≈ ln(13) ≈ 2.57 and 300 steps bring it near 2.1.
    std::printf("%s: val loss %.4f -> %.4f\n", residual_kind_name(kind).c_str(), before, r.last_val_loss);
    CHECK(r.last_val_loss < before - 0.3);
  }
}

TEST_CASE("the memory check refuses a run that cannot fit, naming the flags and the bytes", "[train][memory]") {
  TempDir d;
  TrainConfig c = small_config(d.path, ResidualKind::MHC, 4);
  const MemoryEstimate e = estimate_memory(c);
  // Before the tokenizer exists the character vocabulary counts as 1; BPE's is the flag.
  ModelConfig m = c.model;
  m.vocab_size = 1;
  CHECK(e.parameters == m.parameter_count());
  CHECK(e.parameter_bytes == 16 * e.parameters);
  CHECK(e.tokens == 4 * 16);
  CHECK(e.activation_bytes > 4 * e.tokens * 2 * 2 * 4 * 32);  // at least the stream states of both blocks
  TrainConfig bpe = c;
  bpe.data.tokenizer = TokenizerKind::Bpe;
  bpe.data.vocab_size = 1000;
  CHECK(estimate_memory(bpe).parameters == estimate_memory(c).parameters + 2 * 999 * 32);  // embedding and head

  CHECK_NOTHROW(check_fits_in_memory(c, 1e12));
  // The model is the larger part: its flags lead.
  CHECK_THROWS_WITH(check_fits_in_memory(c, e.total() - 1),
                    Catch::Contains("the run does not fit in memory: the model (--model.blocks 2 × --model.width 32") &&
                        Catch::Contains("with their gradients and AdamW moments (16 bytes each)") &&
                        Catch::Contains("--optim.batch_size 4 × --model.block_size 16 = 64 tokens") &&
                        Catch::Contains(format_bytes(e.total()) + " in all"));
  // A long batch: the activations lead.
  c.optim.batch_size = 4096;
  c.model.block_size = 4096;
  CHECK_THROWS_WITH(check_fits_in_memory(c, 1e9),
                    Catch::StartsWith("the run does not fit in memory: one micro-batch (--optim.batch_size 4096 × "
                                      "--model.block_size 4096 = 1.68e+07 tokens) needs at least") &&
                        Catch::Contains("this machine has 953.7 MiB of memory"));
  // On CUDA only the weights' first copy is on the host.
  c.device = Device::cuda;
  CHECK_NOTHROW(check_fits_in_memory(c, 1e9));
  CHECK_THROWS_WITH(check_fits_in_memory(c, 1e3), Catch::Contains("as f32 weights (4 bytes each)"));
  CHECK(format_bytes(512) == "512 bytes");
  CHECK(format_bytes(1.5 * 1024 * 1024 * 1024) == "1.5 GiB");
  CHECK(physical_memory_bytes() > 0);
  // Under an address-space limit (ulimit -v) the message names the limit
  // and says it can be raised.
  c.device = Device::cpu;
  CHECK_THROWS_WITH(
      check_fits_in_memory(c, HostMemory{1e9, "the address-space limit (ulimit -v 2000000) leaves x", true}),
      Catch::Contains("and the address-space limit (ulimit -v 2000000) leaves x; raise the limit or "
                      "reduce the sizes named above"));
  // With no limit set for this test process, all of this machine is offered.
  const HostMemory all = available_host_memory(1);
  if (!all.limited) CHECK(all.bytes == physical_memory_bytes());
  CHECK(available_host_memory(2).bytes <= all.bytes);
}

TEST_CASE("every preset is within the accepted ranges", "[train]") {
  for (const std::string& name : preset_names()) {
    INFO(name);
    CHECK_NOTHROW(preset(name).validate());
  }
}

TEST_CASE("gpt2-small is llm.c's GPT-2 124M recipe", "[train]") {
  const TrainConfig c = preset("gpt2-small");
  CHECK(c.model.blocks == 12);
  CHECK(c.model.width == 768);
  CHECK(c.model.heads == 12);
  CHECK(c.model.block_size == 1024);
  CHECK(c.model.vocab_size == 50257);
  CHECK(c.model.tie_embeddings);
  CHECK(c.optim.batch_size * c.model.block_size * c.optim.grad_accum == 524288);  // tokens per step
  CHECK(c.optim.steps * 524288 >= 10'000'000'000);                                // 10B tokens
  CHECK(c.optim.lr == 6e-4);
  CHECK(c.optim.warmup == 700);
  // GPT-2 small has 124M parameters with learned positions; RoPE has none
  // (1024 × 768 fewer) and RMSNorm no biases.
  const double p = static_cast<double>(c.model.parameter_count());
  CHECK(p > 123e6);
  CHECK(p < 124.5e6);
}

TEST_CASE("metrics writer: a full disk is reported with the file and the reason, leaving whole lines", "[train]") {
  mhc::test::TmpfsMount disk(16 * 1024);
  if (!disk.mounted()) {
    WARN("SKIPPED: cannot mount a tmpfs (" << disk.error() << ")");
    return;
  }
  const std::string path = (disk.path() / "metrics.jsonl").string();
  MetricsWriter writer(path);
  Json line;
  line["step"] = 1;
  line["note"] = std::string(300, 'x');  // 16 KiB is not a whole number of lines: the last one is cut
  size_t written = 0;
  try {
    for (; written < 1000; ++written) writer.write(line);
    FAIL("16 KiB held 1000 lines of 300 bytes");
  } catch (const WriteError& e) {
    CHECK_THAT(e.what(), Catch::Contains("cannot write '" + path + "'") && Catch::Contains(std::strerror(ENOSPC)));
  }
  CHECK(written > 10);
  const std::string bytes = mhc::test::read_bytes(path);
  CHECK(bytes.size() == written * (json::dump(line).size() + 1));  // no half line after the last whole one
  CHECK(json::parse_lines(bytes).size() == written);
  CHECK_NOTHROW(writer.close());
}

TEST_CASE("config.json: no testing aid is saved, and out-of-range whole numbers are refused, not wrapped", "[train]") {
  TrainConfig c = preset("cpu-char");
  c.inject_nan_at = 5;  // a run stopped by it must not hit the NaN again when resumed
  const Json j = to_json(c);
  CHECK_FALSE(j.contains("debug.inject_nan"));
  CHECK(train_config_from_json(j).inject_nan_at == -1);
  Json big = j;
  big["hc.sinkhorn_iters"] = 4294967297LL;  // 2^32 + 1 would wrap to 1 in an int
  CHECK_THROWS_WITH(train_config_from_json(big), Catch::Contains("hc.sinkhorn_iters"));
  Json huge = j;
  huge["optim.steps"] = std::numeric_limits<uint64_t>::max();  // would wrap to -1
  CHECK_THROWS_WITH(train_config_from_json(huge), Catch::Contains("optim.steps"));
  Json seed = j;
  seed["seed"] = "18446744073709551616";  // 2^64
  CHECK_THROWS_WITH(train_config_from_json(seed), Catch::Contains("seed") && Catch::Contains("below 2^64"));
}

TEST_CASE("a composite Amax gain past 10^3 is warned about, naming the worst site", "[train][amax]") {
  std::vector<SiteGain> gains(6);
  for (SiteGain& g : gains) g.composite_forward = g.composite_backward = 2.0;
  CHECK(gain_warning(gains, 40).empty());
  gains[4].composite_forward = 999.0;  // below the threshold
  CHECK(gain_warning(gains, 40).empty());
  gains[3].composite_backward = 2254.0;
  gains[5].composite_forward = 1500.0;
  const std::string w = gain_warning(gains, 40);
  CHECK_THAT(w, Catch::Contains("2254 at site 3 (block 1, feed-forward)"));
  CHECK_THAT(w, Catch::Contains("after 40 steps passes 1000"));
  gains[3].composite_backward = std::numeric_limits<double>::infinity();
  CHECK_THAT(gain_warning(gains, 41), Catch::Contains("inf at site 3"));
}

TEST_CASE("training FLOPs per token: 6 × the forward's multiply-adds, streams included", "[train][flops]") {
  ModelConfig c;
  c.vocab_size = 10, c.block_size = 16, c.blocks = 2, c.width = 32, c.heads = 2, c.ffn = FfnType::Gelu;
  c.site.kind = ResidualKind::Residual, c.site.streams = 1;
  // per block: attention 4·32² = 4096, GELU FFN 2·32·128 = 8192, scores and values 16·32 = 512; head 32·10
  CHECK(training_flops_per_token(c) == 6.0 * (2 * (4096 + 8192 + 512) + 320));
  c.site.kind = ResidualKind::MHC, c.site.streams = 4;
  // each of the 4 sites adds φ: 4·32·(16 + 8) = 3072 and the mixing (16 + 8)·32 = 768
  CHECK(training_flops_per_token(c) == 6.0 * (2 * (4096 + 8192 + 512) + 320 + 4 * (3072 + 768)));
  c.ffn = FfnType::Moe, c.moe.routed = 8, c.moe.top_k = 2, c.moe.shared = 1, c.moe.hidden = 16;
  // the router 32·8 and 3 active SwiGLU experts of 3·32·16 instead of the GELU FFN
  CHECK(training_flops_per_token(c) == 6.0 * (2 * (4096 + 256 + 3 * 1536 + 512) + 320 + 4 * (3072 + 768)));
}

// --eval.tokens fixes the validation set in tokens: the windows holding the
// split's first N tokens, whatever the batch size, so runs that differ in
// batch size score the same text. The losses agree to f32 rounding only:
// the batches group the windows differently, so each batch's mean and the
// weighted sum over batches add in another order (a few ulps of a loss near
// 3, far below 1e-5 relative).
TEST_CASE("eval.tokens scores the same windows whatever the batch size", "[train]") {
  TempDir a, b;
  TrainConfig ca = small_config(a.path, ResidualKind::MHC, 4), cb = small_config(b.path, ResidualKind::MHC, 4);
  ca.eval.tokens = cb.eval.tokens = 5 * 16 + 1;  // 6 windows of T = 16: the last one only partly counted for
  ca.optim.batch_size = 4, cb.optim.batch_size = 5;
  Trainer ta(ca, quiet()), tb(cb, quiet());
  CHECK(ta.validation_windows() == 6);
  CHECK(tb.validation_windows() == 6);
  const double la = ta.evaluate(), lb = tb.evaluate();
  CHECK(std::abs(la - lb) <= 1e-5 * std::abs(la));
  cb.eval.tokens = 0;  // --eval.batches 2 of batch 5: 10 windows, another set
  TempDir c;
  cb.run_dir = (c.path / "run").string();
  CHECK(Trainer(cb, quiet()).validation_windows() == 10);
}
