// test_parallel.cpp — the host-side logic of data-parallel training, without
// MPI: how a launch is recognised, how gradients are bucketed, how the
// reducer packs, orders, averages and writes back gradients (over a
// stand-in transport that plays the other ranks), the autograd hook it
// listens to, and how batches are sharded. The MPI path itself is tested by
// scripts/test_data_parallel.sh (test_data_parallel).
#include <catch2/catch.hpp>

#include <map>
#include <string>

#include "autograd/ops.h"
#include "autograd/tape.h"
#include "datasets/batches.h"
#include "parallel/bucket_plan.h"
#include "parallel/grad_reducer.h"
#include "parallel/launch.h"

using namespace mhc;

namespace {
LaunchInfo launch_from(const std::map<std::string, std::string>& vars) {
  return detect_launch([&](const char* name) -> const char* {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  });
}
}  // namespace

TEST_CASE("a launch is recognised from OpenMPI's and PMI's variables", "[parallel]") {
  CHECK_FALSE(launch_from({}).by_mpi);
  CHECK(launch_from({}).size == 1);
  const LaunchInfo o = launch_from({{"OMPI_COMM_WORLD_SIZE", "4"},
                                    {"OMPI_COMM_WORLD_RANK", "3"},
                                    {"OMPI_COMM_WORLD_LOCAL_SIZE", "2"},
                                    {"OMPI_COMM_WORLD_LOCAL_RANK", "1"}});
  CHECK(o.by_mpi);
  CHECK(o.launcher == "OpenMPI");
  CHECK(o.rank == 3);
  CHECK(o.size == 4);
  CHECK(o.local_rank == 1);
  CHECK(o.local_size == 2);
  const LaunchInfo p = launch_from({{"PMI_SIZE", "2"}, {"PMI_RANK", "1"}});
  CHECK(p.launcher == "PMI");
  CHECK(p.rank == 1);
  CHECK(p.local_size == 1);
}

TEST_CASE("a bad launch variable is refused by name", "[parallel]") {
  CHECK_THROWS_WITH(launch_from({{"OMPI_COMM_WORLD_SIZE", "2"}, {"OMPI_COMM_WORLD_RANK", "2"}}),
                    Catch::Contains("OMPI_COMM_WORLD_RANK=2") && Catch::Contains("[0, 1]"));
  CHECK_THROWS_WITH(launch_from({{"OMPI_COMM_WORLD_SIZE", "two"}}), Catch::Contains("OMPI_COMM_WORLD_SIZE=two"));
  CHECK_THROWS_WITH(launch_from({{"PMI_SIZE", "0"}}), Catch::Contains("PMI_SIZE=0"));
}

TEST_CASE("each rank gets its own GPU, or the one a scheduler left it, or an error", "[parallel]") {
  CHECK(gpu_for_rank(4, 5, 1, 4, false) == 1);  // rank 5 of the job, 1 on its machine: GPU 1
  CHECK(gpu_for_rank(1, 3, 0, 1, false) == 0);  // one rank, one GPU
  CHECK(gpu_for_rank(1, 3, 2, 4, true) == 0);   // CUDA_VISIBLE_DEVICES per rank: the one it sees
  CHECK_THROWS_WITH(gpu_for_rank(1, 1, 1, 2, false), Catch::Contains("2 ranks on a machine with one GPU"));
  CHECK_THROWS_WITH(gpu_for_rank(2, 7, 3, 4, false),
                    Catch::Contains("rank 7 is rank 3 of 4 on its machine, which has 2 GPUs"));
  CHECK_THROWS_WITH(gpu_for_rank(0, 0, 0, 1, false), Catch::Contains("no GPU is visible"));
}

TEST_CASE("buckets fill in reverse registration order up to the cap, padded to the rank count", "[parallel]") {
  // Parameters 0..4 of 10, 20, 30, 100, 5 floats; a cap of 40 floats; 3 ranks.
  const BucketPlan plan = plan_buckets({10, 20, 30, 100, 5}, 40, 3);
  REQUIRE(plan.buckets.size() == 4);
  auto params_of = [&](size_t b) {
    std::vector<int64_t> ps;
    for (const BucketEntry& e : plan.buckets[b].entries) ps.push_back(e.param);
    return ps;
  };
  CHECK(params_of(0) == std::vector<int64_t>{4});     // 5; adding 100 would pass 40
  CHECK(params_of(1) == std::vector<int64_t>{3});     // larger than the cap: alone
  CHECK(params_of(2) == std::vector<int64_t>{2});     // 30; adding 20 would pass 40
  CHECK(params_of(3) == std::vector<int64_t>{1, 0});  // 20 + 10
  const Bucket& last = plan.buckets[3];
  CHECK(last.entries[0].offset == 0);
  CHECK(last.entries[1].offset == 20);
  CHECK(last.entries[0].flag == 30);  // flags after the gradients
  CHECK(last.entries[1].flag == 31);
  CHECK(last.length == 33);  // 32 rounded up to a multiple of 3
  for (const Bucket& b : plan.buckets) CHECK(b.length % 3 == 0);
  CHECK(plan.bucket_of == std::vector<int64_t>{3, 3, 2, 1, 0});
  // Cap 0: one bucket per parameter.
  CHECK(plan_buckets({1, 2, 3}, 0, 2).buckets.size() == 3);
  CHECK(plan_buckets({1, 2, 3}, 1 << 20, 2).buckets.size() == 1);
  CHECK_THROWS_WITH(plan_buckets({1}, 4, 0), Catch::Contains("0 ranks"));
  CHECK_THROWS_WITH(plan_buckets({1, -1}, 4, 1), Catch::Contains("parameter 1 has -1 elements"));
}

namespace {
// Plays rank 0 of two ranks: rank 1's buffer for a slot is given by the test.
// start() records the slot (and whether backward was running then); the
// average is computed at wait_all(), in rank order, as the real transports do.
struct TwoRankStandIn final : ReduceTransport {
  std::map<int, std::vector<float>> other;  // rank 1's buffer per slot
  std::vector<int> started;
  std::vector<std::pair<float*, int64_t>> pending;
  void start(int slot, float* buffer, int64_t n) override {
    REQUIRE(n % 2 == 0);
    started.push_back(slot);
    other[slot].resize(static_cast<size_t>(n), 0.0f);
    pending.push_back({buffer, slot});
  }
  void wait_all() override {
    for (auto [buf, slot] : pending) {
      const std::vector<float>& o = other[static_cast<int>(slot)];
      for (size_t i = 0; i < o.size(); ++i) buf[i] = (buf[i] + o[i]) / 2.0f;
    }
    pending.clear();
  }
};
}  // namespace

TEST_CASE("the reducer averages gradients bucket by bucket and keeps untouched ones undefined", "[parallel]") {
  Tensor a = Tensor::from_vector(std::vector<float>{1, 2}, {2}).set_requires_grad(true);
  Tensor b = Tensor::from_vector(std::vector<float>{3, 4, 5}, {3}).set_requires_grad(true);
  Tensor c = Tensor::from_vector(std::vector<float>{6}, {1}).set_requires_grad(true);  // used by no rank
  Tensor d = Tensor::from_vector(std::vector<float>{7}, {1}).set_requires_grad(true);  // used by rank 1 only
  auto transport = std::make_unique<TwoRankStandIn>();
  TwoRankStandIn* t = transport.get();
  // Cap of 3 floats: buckets {d, c}, {b}, {a}.
  GradReducer reducer({&a, &b, &c, &d}, 2, std::move(transport),
                      ReducerOptions{3.0 * 4 / (1024.0 * 1024.0), ReduceMode::Overlap});
  REQUIRE(reducer.plan().buckets.size() == 3);
  // Rank 1's buffers: layout [grads | flags | padding]. Bucket 0 = {d, c}: d has grad 10, c none.
  t->other[0] = {10, 0, 1, 0};
  t->other[1] = {30, 40, 50, 1};   // b: 30, 40, 50
  t->other[2] = {100, 200, 1, 0};  // a: 100, 200

  Tensor loss = sum(square(a)) + sum(square(b));  // grads: 2a, 2b; c and d get none here
  reducer.begin();
  loss.backward();
  // {d, c} never complete during backward (no grad reaches them), so nothing may start before it: buckets go in order.
  CHECK(reducer.started_in_backward() == 0);
  reducer.finish();
  CHECK(t->started == std::vector<int>{0, 1, 2});
  CHECK(a.grad().to_vector<float>() == std::vector<float>{(2 + 100) / 2.0f, (4 + 200) / 2.0f});
  CHECK(b.grad().to_vector<float>() == std::vector<float>{(6 + 30) / 2.0f, (8 + 40) / 2.0f, (10 + 50) / 2.0f});
  CHECK_FALSE(c.grad().defined());                              // no rank had one: as in a single process
  REQUIRE(d.grad().defined());                                  // rank 1 had one
  CHECK(d.grad().to_vector<float>() == std::vector<float>{5});  // (0 + 10) / 2
}

TEST_CASE("with every parameter in the graph, buckets start during backward", "[parallel]") {
  Tensor a = Tensor::from_vector(std::vector<float>{1, 2}, {2}).set_requires_grad(true);
  Tensor b = Tensor::from_vector(std::vector<float>{3}, {1}).set_requires_grad(true);
  auto transport = std::make_unique<TwoRankStandIn>();
  TwoRankStandIn* t = transport.get();
  GradReducer reducer({&a, &b}, 2, std::move(transport), ReducerOptions{0, ReduceMode::Overlap});
  Tensor loss = sum(square(a)) * sum(square(b));
  reducer.begin();
  loss.backward();
  CHECK(reducer.started_in_backward() == 2);    // both started from the hook
  CHECK(t->started == std::vector<int>{0, 1});  // b (registered last) first
  reducer.finish();
  CHECK(a.grad().to_vector<float>() == std::vector<float>{2 * 1 * 9 / 2.0f, 2 * 2 * 9 / 2.0f});  // rank 1 sent zeros
  // Mode End: nothing starts before finish().
  auto t2 = std::make_unique<TwoRankStandIn>();
  TwoRankStandIn* t2p = t2.get();
  GradReducer at_end({&a, &b}, 2, std::move(t2), ReducerOptions{0, ReduceMode::End});
  a.zero_grad();
  b.zero_grad();
  Tensor loss2 = sum(square(a)) * sum(square(b));
  at_end.begin();
  loss2.backward();
  CHECK(t2p->started.empty());
  at_end.finish();
  CHECK(t2p->started == std::vector<int>{0, 1});
}

TEST_CASE("after the first step the buckets follow the order backward completed the gradients", "[parallel]") {
  // Registered a, b, c; this loss completes them a, b, c, not c, b, a.
  Tensor a = Tensor::from_vector(std::vector<float>{1, 2}, {2}).set_requires_grad(true);
  Tensor b = Tensor::from_vector(std::vector<float>{3}, {1}).set_requires_grad(true);
  Tensor c = Tensor::from_vector(std::vector<float>{4}, {1}).set_requires_grad(true);
  std::vector<int64_t> agreed;
  auto transport = std::make_unique<TwoRankStandIn>();
  GradReducer reducer({&a, &b, &c}, 2, std::move(transport), ReducerOptions{0, ReduceMode::Overlap},
                      [&](std::vector<int64_t>& order) { agreed = order; });
  auto params_in_plan = [&] {
    std::vector<int64_t> ps;
    for (const Bucket& k : reducer.plan().buckets) ps.push_back(k.entries.front().param);
    return ps;
  };
  CHECK(params_in_plan() == std::vector<int64_t>{2, 1, 0});  // first: reverse registration
  std::vector<std::vector<float>> grads;
  for (int step = 0; step < 2; ++step) {
    for (Tensor* t : {&a, &b, &c}) t->zero_grad();
    Tensor loss = sum(square(c)) + sum(square(b)) + sum(square(a));
    reducer.begin();
    loss.backward();
    reducer.finish();
    grads.push_back(a.grad().to_vector<float>());
    if (step == 0) {
      CHECK(agreed == std::vector<int64_t>{0, 1, 2});            // handed to the other ranks once
      CHECK(params_in_plan() == std::vector<int64_t>{0, 1, 2});  // then planned in that order
    }
  }
  CHECK(grads[0] == grads[1]);                                        // the same mean either way
  CHECK(grads[0] == std::vector<float>{2 * 1 / 2.0f, 2 * 2 / 2.0f});  // (mine + rank 1's zeros) / 2
  // Another order than a permutation is refused.
  CHECK_THROWS_WITH(plan_buckets_in_order({1, 2}, {0, 0}, 0, 2), Catch::Contains("twice"));
  CHECK_THROWS_WITH(plan_buckets_in_order({1, 2}, {0}, 0, 2), Catch::Contains("an order of 1 for 2"));
}

TEST_CASE("the reducer refuses parameters it cannot reduce", "[parallel]") {
  Tensor a = Tensor::from_vector(std::vector<double>{1}, {1}, DType::f64).set_requires_grad(true);
  CHECK_THROWS_WITH(GradReducer({&a}, 2, std::make_unique<TwoRankStandIn>(), ReducerOptions{}),
                    Catch::Contains("parameter 0 is f64"));
  Tensor b = Tensor::from_vector(std::vector<float>{1}, {1}).set_requires_grad(true);
  CHECK_THROWS_WITH(GradReducer({&b}, 2, std::make_unique<TwoRankStandIn>(), ReducerOptions{-1, ReduceMode::End}),
                    Catch::Contains("bucket size -1"));
}

TEST_CASE("the leaf hook hears each leaf once its gradient is complete", "[parallel][autograd]") {
  Tensor a = Tensor::from_vector(std::vector<float>{2}, {1}).set_requires_grad(true);
  Tensor b = Tensor::from_vector(std::vector<float>{3}, {1}).set_requires_grad(true);
  // a is used twice: its gradient is complete only after both uses ran.
  Tensor loss = sum(a * b) + sum(square(a));
  std::vector<std::pair<const TensorImpl*, float>> heard;
  {
    LeafDoneScope scope([&](TensorImpl& leaf) { heard.push_back({&leaf, Tensor(leaf.grad).to_vector<float>()[0]}); });
    loss.backward();
  }
  REQUIRE(heard.size() == 2);  // each leaf once
  std::map<const TensorImpl*, float> by_leaf(heard.begin(), heard.end());
  REQUIRE(by_leaf.size() == 2);
  REQUIRE(by_leaf.count(&a.impl()) == 1);
  REQUIRE(by_leaf.count(&b.impl()) == 1);
  CHECK(by_leaf[&a.impl()] == 3 + 2 * 2);  // b + 2a: the complete gradient
  CHECK(by_leaf[&b.impl()] == 2);
  // Outside the scope nothing is heard.
  Tensor loss2 = sum(square(a));
  loss2.backward();
  CHECK(heard.size() == 2);
}

TEST_CASE("sharded batches are the rows of one global batch, whatever the rank count", "[parallel][datasets]") {
  std::vector<int32_t> tokens(500);
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<int32_t>(i);
  BatchSampler whole(&tokens, 6, 8, 42);
  BatchSampler r0(&tokens, 3, 8, 42, {0, 2}), r1(&tokens, 3, 8, 42, {1, 2});
  for (int step = 0; step < 3; ++step) {
    Tensor x, y, x0, y0, x1, y1;
    whole.next(x, y);
    r0.next(x0, y0);
    r1.next(x1, y1);
    const std::vector<int32_t> all = x.to_vector<int32_t>(), a = x0.to_vector<int32_t>(), b = x1.to_vector<int32_t>();
    CHECK(std::vector<int32_t>(all.begin(), all.begin() + 24) == a);
    CHECK(std::vector<int32_t>(all.begin() + 24, all.end()) == b);
  }
  // The sampler's state is that of the global batch: the same on every rank.
  CHECK(r0.state().rng_words == whole.state().rng_words);
  CHECK(r1.state().rng_words == whole.state().rng_words);
  CHECK_THROWS_WITH(BatchSampler(&tokens, 3, 8, 42, {2, 2}), Catch::Contains("shard 2 of 2"));
}
