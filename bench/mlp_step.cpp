// bench/mlp_step.cpp — one forward + backward of a 2-layer MLP, the
// smallest complete training step: time per step, the share of it spent in
// the two matrix products' floating-point work, and how many allocations
// reach the system allocator once warm (the caching allocator's job is to
// make that zero).
#include <fmt/core.h>

#include "autograd/ops.h"
#include "autograd/tape.h"
#include "bench/bench_util.h"
#include "kernels/cpu/cpu_threads.h"

using namespace mhc;

int main() {
  mhc::adapt_cpu_threads_to_load(true);
  const double sgemm_gflops = bench::print_blas_header();  // the BLAS in use, and this CPU's rate now
  (void)sgemm_gflops;
  const int64_t B = 768, D = 128, H = 512, V = 65;  // the cpu-char model's token count and widths
  Rng rng(1);
  Tensor x = Tensor::randn({B, D}, rng);
  Tensor y = Tensor::uniform({B}, rng, 0, V).to(DType::i32);
  Tensor W1 = Tensor::randn({D, H}, rng, 0.05).set_requires_grad(true);
  Tensor W2 = Tensor::randn({H, V}, rng, 0.05).set_requires_grad(true);
  auto step = [&] {
    W1.zero_grad();
    W2.zero_grad();
    Tensor loss = cross_entropy(matmul(gelu(matmul(x, W1)), W2), y);
    loss.backward();
  };
  Backend& cpu = backend_for(Device::cpu);
  for (int i = 0; i < 3; ++i) step();
  const auto before = cpu.allocator_stats();
  const int reps = 50;
  const double ms = bench::median_ms(step, reps, 0);
  const auto after = cpu.allocator_stats();
  const double flops = 6.0 * B * (D * H + H * V);  // forward 2·, backward 4· per weight element and token
  fmt::print("2-layer MLP ({}x{} -> {} -> {}), forward + backward, f32 CPU\n", B, D, H, V);
  fmt::print("  time per step            {:8.3f} ms\n", ms);
  fmt::print("  matmul work rate         {:8.1f} GFLOP/s\n", flops / ms / 1e6);
  fmt::print("  storage requests / step  {:8.1f}\n", double(after.requests - before.requests) / reps);
  fmt::print("  system allocations, warm {:8d}  (over {} steps; 0 = every block came from the cache)\n",
             after.system_allocations - before.system_allocations, reps);
  return 0;
}
