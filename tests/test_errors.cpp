// test_errors.cpp — misuse gets a clear error that names the problem.
#include "test_helpers.h"

#include "kernels/sinkhorn_contract.h"

using namespace mhc;
using Catch::Contains;

TEST_CASE("mismatched shapes", "[errors]") {
  Tensor a = Tensor::ones({2, 3}), b = Tensor::ones({4, 3}), c = Tensor::ones({2, 5});
  CHECK_THROWS_WITH(a + b, Contains("do not broadcast"));
  CHECK_THROWS_WITH(matmul(a, c), Contains("inner dimensions differ"));
  CHECK_THROWS_WITH(a.reshape({4, 2}), Contains("cannot reshape"));
  CHECK_THROWS_WITH(a.slice(1, 2, 5), Contains("does not fit axis"));
  CHECK_THROWS_WITH(concat({a, c}, 0), Contains("does not match"));
  CHECK_THROWS_WITH(cross_entropy(a, Tensor::from_ints({0, 1, 2}, {3})), Contains("do not match logits"));
  CHECK_THROWS_WITH(rms_norm(a, Tensor::ones({2})), Contains("weight of shape"));
  CHECK_THROWS_WITH(a.expand({3, 3}), Contains("cannot expand"));
  CHECK_THROWS_WITH(a.transpose(0, 2), Contains("out of range"));
}

TEST_CASE("wrong dtypes", "[errors]") {
  Tensor f = Tensor::ones({2, 2}), d = Tensor::ones({2, 2}, DType::f64), i = Tensor::from_ints({0, 1}, {2});
  CHECK_THROWS_WITH(f + d, Contains("dtype mismatch"));
  CHECK_THROWS_WITH(embedding(f, f), Contains("indices must be i32"));
  CHECK_THROWS_WITH(exp(i), Contains("expected a floating tensor"));
  CHECK_THROWS_WITH(Tensor::from_ints({1}, {1}).set_requires_grad(true), Contains("floating dtype"));
  CHECK_THROWS_WITH(Tensor::ones({2}, DType::bf16) * 2.0, Contains("not supported on the CPU"));
}

TEST_CASE("out-of-range indices and targets", "[errors]") {
  Tensor w = Tensor::ones({4, 2});
  CHECK_THROWS_WITH(embedding(w, Tensor::from_ints({0, 4}, {2})), Contains("outside [0, 4)"));
  CHECK_THROWS_WITH(cross_entropy(Tensor::ones({2, 3}), Tensor::from_ints({0, 3}, {2})), Contains("outside [0, 3)"));
  CHECK_THROWS_WITH(topk(Tensor::ones({2, 3}), 4), Contains("must be in [1, 3]"));
}

TEST_CASE("backward misuse", "[errors]") {
  Tensor w = Tensor::ones({3}).set_requires_grad(true);
  Tensor loss = sum(w * w);
  loss.backward();
  CHECK_THROWS_WITH(loss.backward(), Contains("already been freed"));
  CHECK_THROWS_WITH((w * 2.0).backward(), Contains("needs a seed gradient"));
  CHECK_THROWS_WITH(Tensor::ones({1}).backward(), Contains("does not require grad"));
  Tensor y = w * 2.0;
  CHECK_THROWS_WITH(y.set_requires_grad(false), Contains("only leaf tensors"));
}

TEST_CASE("device errors", "[errors]") {
  if (cuda_available()) {
    SUCCEED("a GPU is present; the no-GPU message is not reachable here");
    return;
  }
  CHECK_THROWS_WITH(Tensor::ones({2}, DType::f32, Device::cuda), Contains("cuda"));
}

TEST_CASE("errors in the CPU kernels reach the caller instead of ending the program", "[errors]") {
  // An exception cannot leave an OpenMP parallel region (std::terminate), so
  // per-thread scratch space is allocated before the region: a size no
  // allocation can serve is an exception here, not an abort.
  Backend& cpu = backend_for(Device::cpu);
  float x = 0, v = 0;
  int32_t idx = 0;
  const int64_t huge = int64_t(1) << 62;
  CHECK_THROWS_AS(cpu.topk(DType::f32, &x, &v, &idx, 1, huge, 1), std::length_error);
  CHECK_THROWS_AS(cpu.attention(DType::f32, &x, &x, &x, &v, &v, 1, huge, 1, 2, 1.0, 0.f, 0), std::length_error);
  // Sinkhorn-Knopp has one bound on every device, checked before any work
  // (10^8 iterations made the CPU backward allocate 2·10^8 tiles per thread).
  Tensor L = Tensor::zeros({2, 3, 3});
  CHECK_THROWS_WITH(sinkhorn(L, kSinkhornMaxIters + 1), Contains("at most 64 Sinkhorn iterations, got 65"));
  CHECK_THROWS_WITH(sinkhorn(L, 100000000), Contains("at most 64"));
  CHECK(sum(sinkhorn(L, kSinkhornMaxIters)).item() == Approx(6.0));  // the bound itself runs
  Tensor Lg = Tensor::zeros({2, 3, 3}).set_requires_grad(true);
  Tensor P = sinkhorn(Lg, kSinkhornMaxIters);
  sum(square(P)).backward();
  CHECK(Lg.grad().defined());
}
