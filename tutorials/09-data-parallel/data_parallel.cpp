// data_parallel.cpp — tutorial 09: what the K ranks of
// `mpirun -np K mhc train` compute, shown in one process: the shards of a
// global batch, the mean of the ranks' gradients against one process's
// gradient of the whole batch, why the order of that sum is fixed, the
// order in which backward completes the parameters (the hook the gradient
// reducer listens to), and the buckets they travel in. Exits non-zero when
// a check fails. Each part's number is the section of README.md showing it.
#include <fmt/core.h>
#include <fmt/format.h>

#include <cmath>
#include <stdexcept>
#include <vector>

#include "autograd/tape.h"
#include "datasets/batches.h"
#include "layers/transformer.h"
#include "parallel/bucket_plan.h"
#include "train/config.h"

using namespace mhc;

namespace {
void expect(bool ok, const std::string& what) {
  if (!ok) throw std::runtime_error("tutorial check failed: " + what);
}
constexpr int64_t kBatch = 8, kBlock = 16, kVocab = 61;
// 1. One global batch, two shards: the shards' rows are the batch's rows.
struct Shards {
  Tensor x, y, x0, y0, x1, y1;  // the global batch and the shards of ranks 0 and 1, (rows, T) i32
};
Shards shard_batch(const std::vector<int32_t>& tokens) {
  fmt::print("1. The global batch of {} windows and the shards of 2 ranks (first token of each row):\n", kBatch);
  BatchSampler whole(&tokens, kBatch, kBlock, 42);
  BatchSampler rank0(&tokens, kBatch / 2, kBlock, 42, {0, 2}), rank1(&tokens, kBatch / 2, kBlock, 42, {1, 2});
  Shards s;
  whole.next(s.x, s.y);
  rank0.next(s.x0, s.y0);
  rank1.next(s.x1, s.y1);
  auto firsts = [](const Tensor& t) {
    std::vector<int32_t> v = t.to_vector<int32_t>(), out;
    for (int64_t r = 0; r < t.size(0); ++r) out.push_back(v[static_cast<size_t>(r * kBlock)]);
    return out;
  };
  fmt::print("  one process, batch 8: {}\n", fmt::join(firsts(s.x), " "));
  fmt::print("  rank 0, batch 4:      {}\n", fmt::join(firsts(s.x0), " "));
  fmt::print("  rank 1, batch 4:      {}\n", fmt::join(firsts(s.x1), " "));
  std::vector<int32_t> joined = s.x0.to_vector<int32_t>(), second = s.x1.to_vector<int32_t>();
  joined.insert(joined.end(), second.begin(), second.end());
  expect(joined == s.x.to_vector<int32_t>(), "the shards are the rows of the global batch");
  expect(rank0.state().rng_words == whole.state().rng_words, "every rank's sampler is where one process's is");
  fmt::print("  the shards together are the global batch: true; every sampler is in the same state: true\n");
  return s;
}

// 2. The mean of the ranks' gradients against one process's gradient (each
// model has backward run already).
void compare_gradients(Transformer& full, Transformer& r0, Transformer& r1, double loss, double mean_loss) {
  const std::vector<NamedTensor> pf = full.parameters(), p0 = r0.parameters(), p1 = r1.parameters();
  double worst = 0, largest = 0;
  int64_t elements = 0;
  for (size_t i = 0; i < pf.size(); ++i) {
    const std::vector<float> g = pf[i].tensor->grad().to_vector<float>();
    const std::vector<float> g0 = p0[i].tensor->grad().to_vector<float>(), g1 = p1[i].tensor->grad().to_vector<float>();
    for (size_t e = 0; e < g.size(); ++e) {
      const float mean = (g0[e] + g1[e]) / 2.0f;  // what every rank holds after the reduction
      worst = std::max(worst, std::fabs(static_cast<double>(mean) - g[e]));
      largest = std::max(largest, std::fabs(static_cast<double>(g[e])));
    }
    elements += static_cast<int64_t>(g.size());
  }
  fmt::print("2. Gradients of {} parameters ({} elements):\n", pf.size(), elements);
  fmt::print("  loss: one process {:.7f}, mean of the ranks {:.7f}\n", loss, mean_loss);
  // The two GEMMs (4 rows, 8 rows) add in another order; how far apart they
  // land depends on the BLAS kernel (a few 1e-7 of the largest element), so
  // the program prints the verdict against f32 rounding, 1e-5 relative.
  fmt::print("  largest |mean of ranks - one process| below 1e-5 of the largest gradient element ({:.3f}): {}\n",
             largest, worst / largest < 1e-5 ? "yes" : "no");
  expect(worst / largest < 1e-5, "the ranks' mean gradient is one process's to float rounding");
}

// 3. Why the order of the sum is fixed.
void sums_do_not_associate() {
  std::vector<float> a(100000), b(a.size()), c(a.size());
  Rng rng(3);
  for (size_t i = 0; i < a.size(); ++i) {
    a[i] = static_cast<float>(rng.normal());
    b[i] = static_cast<float>(rng.normal());
    c[i] = static_cast<float>(rng.normal());
  }
  int64_t commuted = 0, regrouped = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    commuted += (a[i] + b[i]) != (b[i] + a[i]);
    regrouped += ((a[i] + b[i]) + c[i]) != (a[i] + (b[i] + c[i]));
  }
  fmt::print(
      "3. Of {} sums of 3 random floats, (a + b) + c and a + (b + c) differ in {} ({:.1f} %); a + b and b + a in {}\n",
      a.size(), regrouped, 100.0 * static_cast<double>(regrouped) / static_cast<double>(a.size()), commuted);
  expect(commuted == 0 && regrouped > 0, "addition commutes but does not associate");
}

// 4. The order in which backward completes the parameters.
void show_completion_order(const std::vector<std::string>& completed, const std::vector<NamedTensor>& p1) {
  fmt::print("4. Backward completes the parameters in this order (first 4, last 2 of {}):\n", completed.size());
  for (size_t i = 0; i < completed.size(); ++i)
    if (i < 4 || i + 2 >= completed.size()) fmt::print("  {:>2}. {}\n", i + 1, completed[i]);
  int64_t ahead = 0;  // parameters completed before one registered after them
  for (size_t i = 0; i < completed.size(); ++i)
    for (size_t j = i + 1; j < completed.size(); ++j) {
      size_t ri = 0, rj = 0;
      for (size_t k = 0; k < p1.size(); ++k) {
        if (p1[k].name == completed[i]) ri = k;
        if (p1[k].name == completed[j]) rj = k;
      }
      ahead += ri < rj;
    }
  fmt::print("  pairs completed in registration order (not reversed): {} of {}\n", ahead,
             completed.size() * (completed.size() - 1) / 2);
  expect(completed.size() == p1.size(), "backward completes every parameter once");
}

// 5. The buckets.
void show_buckets(const std::vector<NamedTensor>& p1) {
  std::vector<int64_t> numels;
  for (const NamedTensor& p : p1) numels.push_back(p.tensor->numel());
  const BucketPlan plan = plan_buckets(numels, 4096, 2);  // 16 KiB of gradients per bucket, 2 ranks
  fmt::print("5. Buckets of at most 4096 floats for 2 ranks: {}\n", plan.buckets.size());
  for (size_t b = 0; b < plan.buckets.size(); ++b) {
    const Bucket& k = plan.buckets[b];
    const BucketEntry& first = k.entries.front();
    fmt::print("  bucket {:>2}: {:>2} parameter(s) from {:<32} {:>5} floats with flags and padding\n", b,
               k.entries.size(), p1[static_cast<size_t>(first.param)].name, k.length);
  }
  int64_t in_order = 0;
  for (size_t b = 0; b + 1 < plan.buckets.size(); ++b)
    in_order += plan.buckets[b].entries.front().param > plan.buckets[b + 1].entries.front().param;
  expect(in_order + 1 == static_cast<int64_t>(plan.buckets.size()), "buckets go from the last parameter to the first");
}

}  // namespace

int main() {
  // A token stream (any will do) and a tiny mHC model.
  std::vector<int32_t> tokens(5000);
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<int32_t>((i * 7 + i / 13) % kVocab);
  ModelConfig m = preset("cpu-char").model;
  m.blocks = 2, m.width = 32, m.heads = 2, m.block_size = kBlock, m.vocab_size = kVocab;
  m.site.kind = ResidualKind::MHC, m.site.streams = 4;

  const Shards s = shard_batch(tokens);
  Transformer full(m, 7), r0(m, 7), r1(m, 7);  // the same seed: the same initial weights on every rank
  Tensor loss = full.loss(s.x, s.y), l0 = r0.loss(s.x0, s.y0), l1 = r1.loss(s.x1, s.y1);
  loss.backward();
  l0.backward();
  std::vector<std::string> completed;  // part 4: the order in which backward completes rank 1's parameters
  {
    std::vector<NamedTensor> params = r1.parameters();
    LeafDoneScope hook([&](TensorImpl& leaf) {
      for (const NamedTensor& p : params)
        if (&p.tensor->impl() == &leaf) completed.push_back(p.name);
    });
    l1.backward();
  }
  compare_gradients(full, r0, r1, loss.item(), (l0.item() + l1.item()) / 2);
  sums_do_not_associate();
  show_completion_order(completed, r1.parameters());
  show_buckets(r1.parameters());
  return 0;
}
