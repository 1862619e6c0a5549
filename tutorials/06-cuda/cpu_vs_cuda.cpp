// cpu_vs_cuda.cpp — tutorial 06: the same autograd op calls on the CPU
// backend and on the CUDA backend, fed the same numbers, and the largest
// difference between their results per op (forward values and gradients):
// matmul (cuBLAS), softmax, a long sum (the two-stage deterministic
// reduction), causal attention (the flash-style kernels: FMA for f32,
// tensor cores for bf16) and the fused mHC site ops. Each difference is held
// to a stated tolerance. Then: two runs give identical bits, and a second
// pass over the same ops reaches cudaMalloc zero times (the caching allocator).
//
// Without a GPU (or in a build without the CUDA backend) it prints
// "SKIPPED: no CUDA device" and exits 0.
#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "autograd/ops.h"
#include "autograd/ops_mhc.h"
#include "autograd/tape.h"
#include "kernels/backend.h"

using namespace mhc;

namespace {

// max |got − want| over all elements, and that divided by max |want| (an
// error relative to the output's scale: an element-by-element relative error
// would blow up wherever the reference crosses zero).
struct Diff {
  double max_abs = 0, max_rel = 0;
};

Diff compare(const Tensor& got, const Tensor& want) {
  const std::vector<double> g = got.to_vector<double>(), w = want.to_vector<double>();
  if (g.size() != w.size()) throw std::runtime_error("compare: sizes differ");
  double err = 0, scale = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    const double e = std::abs(g[i] - w[i]);
    err = std::isnan(e) ? INFINITY : std::max(err, e);
    scale = std::max(scale, std::abs(w[i]));
  }
  return {err, err / std::max(scale, 1e-30)};
}

// One value an op produced, and the tolerance on its max_rel difference.
struct Output {
  std::string name;
  Tensor value;
  double tol;
};
// Builds the outputs from the inputs on whatever device the inputs live on.
using Program = std::function<std::vector<Output>(const std::vector<Tensor>& inputs)>;

// An input drawn once on the host: the CPU copy is f32, the CUDA copy has
// dtype dt. Both hold the same numbers (rounded to bf16 first when dt is bf16),
// so the comparison sees only the kernels' own error.
struct Input {
  Tensor cpu, gpu;
};

Input make_input(const Shape& shape, Rng& rng, double stddev, DType dt, bool requires_grad) {
  Tensor values = Tensor::randn(shape, rng, stddev).to(dt).to(DType::f32);  // (shape), on the CPU
  Input in{values.detach(), values.to(Device::cuda).to(dt).detach()};
  in.cpu.set_requires_grad(requires_grad);
  in.gpu.set_requires_grad(requires_grad);
  return in;
}

struct Report {
  bool print = true;
  int failures = 0;
};

// Runs `program` on the CPU inputs and on the CUDA inputs and compares every output.
void run_case(Report& report, const std::string& op, DType dt, const std::vector<Input>& inputs,
              const Program& program) {
  std::vector<Tensor> on_cpu, on_gpu;
  for (const Input& in : inputs) {
    on_cpu.push_back(in.cpu);
    on_gpu.push_back(in.gpu);
  }
  const std::vector<Output> want = program(on_cpu), got = program(on_gpu);
  for (size_t i = 0; i < want.size(); ++i) {
    const Diff d = compare(got[i].value, want[i].value);
    const bool ok = d.max_rel <= want[i].tol;
    if (!ok) report.failures++;
    if (report.print)
      fmt::print("{:<34} {:<5} {:<8} {:>10.2e} {:>10.2e} {:>10.0e}  {}\n", op, dtype_name(dt), want[i].name, d.max_abs,
                 d.max_rel, want[i].tol, ok ? "ok" : "FAILED");
  }
  for (const Input& in : inputs) {  // leaves accumulate: start the next pass from zero
    in.cpu.zero_grad();
    in.gpu.zero_grad();
  }
}

// Every op of the tutorial, once. Called twice: the second pass checks the allocator.
void run_all(Report& report) {
  Rng rng(6);
  // ---- matmul: cuBLAS, f32 (no TF32) and bf16 (f32 accumulation) --------------------------
  for (DType dt : {DType::f32, DType::bf16}) {
    const std::vector<Input> in = {make_input({8, 128, 256}, rng, 1.0, dt, false),  // a (batch, M, K)
                                   make_input({256, 192}, rng, 1.0, dt, false)};    // b (K, N)
    const double tol = dt == DType::f32 ? 1e-5 : 1e-2;
    run_case(report, "matmul (8,128,256) @ (256,192)", dt, in, [&](const std::vector<Tensor>& t) {
      return std::vector<Output>{{"out", matmul(t[0], t[1]), tol}};  // (8, 128, 192)
    });
  }
  // ---- softmax over the last axis ------------------------------------------------------------
  {
    const std::vector<Input> in = {make_input({64, 1000}, rng, 3.0, DType::f32, false)};  // (rows, V)
    run_case(report, "softmax (64,1000), axis -1", DType::f32, in, [](const std::vector<Tensor>& t) {
      return std::vector<Output>{{"out", softmax(t[0], -1), 1e-5}};
    });
  }
  // ---- a long sum: 2^20 values per row, cut into fixed chunks on the GPU ---------------------------
  {
    const std::vector<Input> in = {make_input({4, int64_t{1} << 20}, rng, 1.0, DType::f32, false)};
    run_case(report, "sum (4,1048576), axis 1", DType::f32, in, [](const std::vector<Tensor>& t) {
      return std::vector<Output>{{"out", sum(t[0], {1}), 1e-5}};  // (4)
    });
  }
  // ---- causal attention, forward and the three input gradients ------------------------------------
  for (DType dt : {DType::f32, DType::bf16}) {
    const int64_t B = 2, T = 256, H = 4, D = 64;
    const std::vector<Input> in = {make_input({B, T, H, D}, rng, 1.0, dt, true),    // q
                                   make_input({B, T, H, D}, rng, 1.0, dt, true),    // k
                                   make_input({B, T, H, D}, rng, 1.0, dt, true),    // v
                                   make_input({B, T, H, D}, rng, 1.0, dt, false)};  // w: loss = Σ out ⊙ w
    const double tol_out = dt == DType::f32 ? 1e-4 : 2e-2, tol_grad = dt == DType::f32 ? 1e-3 : 5e-2;
    run_case(report, "causal_attention (2,256,4,64)", dt, in, [&](const std::vector<Tensor>& t) {
      Tensor out = causal_attention(t[0], t[1], t[2]);  // (B, T, H, D)
      sum(out * t[3]).backward();
      return std::vector<Output>{{"out", out, tol_out},
                                 {"dq", t[0].grad(), tol_grad},
                                 {"dk", t[1].grad(), tol_grad},
                                 {"dv", t[2].grad(), tol_grad}};
    });
  }
  // ---- the fused mHC site ops: coefficients (a-c), H_pre x (d), H_res x + H_postᵀ y (e) --------
  for (DType dt : {DType::f32, DType::bf16}) {
    const int64_t B = 2, T = 64, n = 4, C = 256, P = 2 * n + n * n;
    const std::vector<Input> in = {
        make_input({B, T, n, C}, rng, 1.0, dt, true),          // x, the stream state
        make_input({n * C, P}, rng, 0.05, DType::f32, true),   // φ (coefficient dtype: always f32)
        make_input({P}, rng, 0.5, DType::f32, false),          // b
        make_input({B, T, n, C}, rng, 1.0, dt, false)};        // w: loss = Σ x' ⊙ w
    const double tol_coeffs = dt == DType::f32 ? 1e-4 : 1e-3;  // f32 for both stream dtypes
    const double tol_out = dt == DType::f32 ? 1e-4 : 2e-2, tol_grad = dt == DType::f32 ? 1e-3 : 5e-2;
    run_case(report, "mhc site, n 4, C 256, 128 tokens", dt, in, [&](const std::vector<Tensor>& t) {
      const Tensor &x = t[0], &phi = t[1], &bias = t[2], &w = t[3];
      Tensor alpha = Tensor::full({P}, 0.5, DType::f32, x.device());
      Tensor coeffs = mhc_coefficients(x, phi, alpha, bias, 20, true, 1e-6);  // (B, T, P) f32
      Tensor h_in = mhc_pre(x, coeffs);                                       // (B, T, C)
      Tensor y = tanh(h_in);                                                  // a stand-in sub-block F
      Tensor x_next = mhc_post(x, y, coeffs);                                 // (B, T, n, C)
      sum(x_next * w).backward();
      return std::vector<Output>{{"coeffs", coeffs, tol_coeffs},
                                 {"x'", x_next, tol_out},
                                 {"dx", x.grad(), tol_grad},
                                 {"dphi", phi.grad(), tol_grad}};
    });
  }
}

// The same CUDA op twice: identical bits, or false.
bool bitwise_repeatable(const std::function<Tensor()>& op) {
  const std::vector<float> a = op().to_vector<float>(), b = op().to_vector<float>();
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

}  // namespace

int main() {
  fmt::print("backend_for(cpu): device {}, prefers the fused mHC kernels: {}\n",
             device_name(backend_for(Device::cpu).device()), backend_for(Device::cpu).prefers_fused_mhc());
#ifdef MHC_HAVE_CUDA
  const bool built_with_cuda = true;
#else
  const bool built_with_cuda = false;
#endif
  fmt::print("this build has the CUDA backend: {}; cuda_available(): {}\n", built_with_cuda, cuda_available());
  if (!cuda_available()) {
    fmt::print("SKIPPED: no CUDA device ({})\n", built_with_cuda
                                                     ? "the CUDA runtime sees no GPU on this machine"
                                                     : "configure with -DMHC_CUDA=ON on a machine with nvcc");
    return 0;
  }
  Backend& gpu = backend_for(Device::cuda);
  fmt::print("backend_for(cuda): device {}, prefers the fused mHC kernels: {}\n\n", device_name(gpu.device()),
             gpu.prefers_fused_mhc());

  // 1. Every op on both backends.
  fmt::print("{:<34} {:<5} {:<8} {:>10} {:>10} {:>10}\n", "op (shapes)", "dtype", "output", "max abs", "max rel",
             "tolerance");
  Report report;
  run_all(report);

  // 2. Determinism: no floating-point atomics, so a rerun repeats every bit.
  bool sum_repeats = false, attention_repeats = false;
  {  // scoped: these tensors go back to the cache before the second pass
    Rng rng(8);
    Tensor x = Tensor::randn({4, int64_t{1} << 20}, rng).to(Device::cuda);  // (4, 2^20)
    Tensor q = Tensor::randn({2, 256, 4, 64}, rng).to(Device::cuda).to(DType::bf16).set_requires_grad(true);
    sum_repeats = bitwise_repeatable([&] { return sum(x, {1}); });
    attention_repeats = bitwise_repeatable([&] {
      q.zero_grad();
      sum(square(causal_attention(q, q, q).to(DType::f32))).backward();
      return q.grad();
    });
  }
  fmt::print("\nrerun gives identical bits: sum {}, attention backward (bf16, tensor cores) {}\n",
             sum_repeats ? "yes" : "NO", attention_repeats ? "yes" : "NO");

  // 3. The caching allocator: the same ops again need no new device memory.
  const AllocatorStats before = gpu.allocator_stats();
  Report quiet;
  quiet.print = false;
  run_all(quiet);
  const AllocatorStats after = gpu.allocator_stats();
  const int64_t new_mallocs = after.system_allocations - before.system_allocations;
  fmt::print("second pass: {} allocations served, {} of them by cudaMalloc ({:.1f} MiB held from the driver)\n",
             after.requests - before.requests, new_mallocs, after.bytes_reserved / 1048576.0);

  const bool ok = report.failures == 0 && quiet.failures == 0 && sum_repeats && attention_repeats && new_mallocs == 0;
  fmt::print("\n{}\n", ok ? "all CPU/CUDA differences within tolerance" : "FAILED");
  return ok ? 0 : 1;
}
