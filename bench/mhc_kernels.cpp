// bench/mhc_kernels.cpp — the fused mHC site kernels against the unfused
// composition of ops they replace, measured in the same run, as time, achieved
// bandwidth and fraction of the device's memory bandwidth; and the full site
// forward (pre + post, excluding the sub-block F) against its bandwidth floor.
//
//   bench_mhc_kernels                       (CUDA: M = 16384 tokens, n = 4, C = 1024 and 2048, bf16)
//   bench_mhc_kernels --tokens 4096 --dtype f32
//
// Bytes counted are the fewest each operation must move (every input read
// once, every output written once); "floor" for the site forward is the
// paper's fused traffic, (3n+1)C reads and (n+1)C writes per token
// (docs/design.md §6). Peak bandwidth is measured in the same run with a large
// device-to-device copy, and the datasheet figure is shown beside it.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <chrono>
#include <functional>

#include "autograd/ops.h"
#include "autograd/ops_mhc.h"
#include "autograd/tape.h"
#include "bench/bench_util.h"
#include "layers/manifold_hyper_connection.h"
#include "kernels/cpu/cpu_threads.h"

using namespace mhc;

namespace {

// Mean time of fn over `reps` calls after `warmup`, in microseconds (the
// device is synchronised around the timed loop, not inside it).
double time_us(Backend& be, const std::function<void()>& fn, int reps = 50, int warmup = 5) {
  for (int i = 0; i < warmup; ++i) fn();
  be.synchronize();
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < reps; ++i) fn();
  be.synchronize();
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / reps;
}

struct Row {
  std::string what;
  double fused_us, unfused_us, bytes;
};

// The practical peak: a large device-to-device copy (bytes read + written), in GB/s.
double measure_copy_bandwidth(Backend& be, Device dev, double datasheet_gbs) {
  const int64_t copy_n = int64_t(1) << 28;
  Tensor big = Tensor::empty({copy_n}, DType::f32, dev), big2 = Tensor::empty({copy_n}, DType::f32, dev);
  be.fill(DType::f32, big.data_ptr(), copy_n, 1.0);
  const double copy_us = time_us(
      be, [&] { be.copy_within(big2.data_ptr(), big.data_ptr(), copy_n * 4); }, 20, 3);
  const double peak_gbs = 2.0 * copy_n * 4 / copy_us / 1e3;
  fmt::print("device copy: {:.0f} GB/s measured ({:.0f}% of the {:.0f} GB/s datasheet figure)\n\n", peak_gbs,
             100 * peak_gbs / datasheet_gbs, datasheet_gbs);
  return peak_gbs;
}

// Each fused kernel (a)–(e) of backend_ops.def and the whole site forward,
// against the composed ops they replace, for M tokens of n streams of width C.
std::vector<Row> site_rows(Backend& be, Device dev, DType dt, int64_t M, int64_t n, int64_t C, Rng& rng) {
  const double es = static_cast<double>(dtype_size(dt));
  const int64_t P = 2 * n + n * n, K = n * C;
  const int64_t B = 1, T = M;
  Tensor x = Tensor::randn({B, T, n, C}, rng, 1.0, DType::f32, dev).to(dt);
  Tensor y = Tensor::randn({B, T, C}, rng, 1.0, DType::f32, dev).to(dt);
  SiteConfig sc;
  sc.kind = ResidualKind::MHC, sc.streams = n, sc.width = C, sc.phi_init_std = 0.02;
  Rng r1(3), r2(3);
  sc.fused = SiteConfig::Fused::On;
  ManifoldHyperConnection fused_site(sc, r1);
  sc.fused = SiteConfig::Fused::Off;
  ManifoldHyperConnection composed_site(sc, r2);
  fused_site.to(dev);
  composed_site.to(dev);
  auto identity = [](const Tensor& h) { return h; };  // F excluded

  Tensor alpha = Tensor::full({P}, 0.01, DType::f32, dev), bias = Tensor::zeros({P}, DType::f32, dev);
  Tensor phi = fused_site.phi;
  Tensor coeffs = mhc_coefficients(x, phi, alpha, bias, 20, true, 1e-6);
  std::vector<Row> rows;
  // (a) RMS statistic + projection: one pass over x vs rms_norm + matmul.
  Tensor q = Tensor::empty({M, P}, DType::f32, dev), rstd = Tensor::empty({M}, DType::f32, dev);
  rows.push_back(
      {"(a) RMS + projection",
       time_us(
           be,
           [&] { be.mhc_project(dt, x.data_ptr(), phi.data_ptr(), q.data_ptr(), rstd.data_ptr(), M, K, P, 1e-6f); }),
       time_us(be,
               [&] {
                 matmul(rms_norm(x.to(DType::f32).reshape({B, T, K}), Tensor()), phi);
               }),
       es * M * K + 4.0 * M * P});
  // (b, c) gates and Sinkhorn: one kernel vs the composed element-wise ops and the Sinkhorn op.
  rows.push_back({"(b,c) gates + Sinkhorn",
                  time_us(be,
                          [&] {
                            be.mhc_gates(dt, q.data_ptr(), alpha.data_ptr(), bias.data_ptr(), coeffs.data_ptr(), M, n,
                                         20, true);
                          }),
                  time_us(be,
                          [&] {
                            Tensor qv = q.reshape({B, T, P});
                            sigmoid(qv.slice(-1, 0, n) * 0.01);
                            sigmoid(qv.slice(-1, n, 2 * n) * 0.01) * 2.0;
                            sinkhorn(qv.slice(-1, 2 * n, P).reshape({B, T, n, n}) * 0.01, 20);
                          }),
                  4.0 * M * P * 2});
  // (d) H_pre x.
  Tensor h = Tensor::empty({B, T, C}, dt, dev);
  Tensor h_pre = coeffs.slice(-1, 0, n).to(dt).unsqueeze(-2).contiguous();
  rows.push_back({"(d) H_pre x",
                  time_us(be, [&] { be.mhc_pre(dt, x.data_ptr(), coeffs.data_ptr(), h.data_ptr(), M, n, C); }),
                  time_us(be, [&] { matmul(h_pre, x); }), es * M * (K + C)});
  // (e) H_res x + H_postᵀ y with the residual merge.
  Tensor out = Tensor::empty(x.shape(), dt, dev);
  Tensor h_aug =
      concat({coeffs.slice(-1, 2 * n, P).reshape({B, T, n, n}), coeffs.slice(-1, n, 2 * n).unsqueeze(-1)}, -1).to(dt);
  rows.push_back(
      {"(e) H_res x + H_post y",
       time_us(be, [&] { be.mhc_post(dt, x.data_ptr(), y.data_ptr(), coeffs.data_ptr(), out.data_ptr(), M, n, C); }),
       time_us(be,
               [&] {
                 matmul(h_aug, concat({x, y.unsqueeze(-2)}, -2));
               }),
       es * M * (2 * K + C)});
  // The whole site forward, F excluded.
  rows.push_back({"site forward (a-e)", time_us(be, [&] { fused_site.forward(x, identity); }),
                  time_us(be, [&] { composed_site.forward(x, identity); }), es * M * ((3 * n + 1) * C + (n + 1) * C)});
  return rows;
}

void print_rows(const std::vector<Row>& rows, double peak_gbs, double datasheet_gbs) {
  fmt::print("{:<24} {:>10} {:>10} {:>9} {:>10} {:>10} {:>10}\n", "kernel", "fused us", "unfused us", "speed-up",
             "fused GB/s", "of copy", "of sheet");
  for (const Row& r : rows) {
    const double gbs = r.bytes / r.fused_us / 1e3;
    fmt::print("{:<24} {:>10.1f} {:>10.1f} {:>8.2f}x {:>10.0f} {:>9.0f}% {:>9.0f}%\n", r.what, r.fused_us, r.unfused_us,
               r.unfused_us / r.fused_us, gbs, 100 * gbs / peak_gbs, 100 * gbs / datasheet_gbs);
  }
  const double floor_us = rows.back().bytes / peak_gbs / 1e3;
  fmt::print(
      "site forward: {:.1f} us against a floor of {:.1f} us at the measured copy bandwidth: {:.2f}x the floor\n\n",
      rows.back().fused_us, floor_us, rows.back().fused_us / floor_us);
}

// Sinkhorn-Knopp forward + backward: 16384 4×4 matrices, t_max = 20.
void time_sinkhorn(Backend& be, Device dev, Rng& rng) {
  const int64_t S = 16384, ns = 4;
  Tensor L = Tensor::randn({S, ns, ns}, rng, 1.0, DType::f32, dev),
         G = Tensor::randn({S, ns, ns}, rng, 1.0, DType::f32, dev);
  Tensor Pm = Tensor::empty({S, ns, ns}, DType::f32, dev), GL = Tensor::empty({S, ns, ns}, DType::f32, dev);
  const double us = time_us(be, [&] {
    be.sinkhorn(DType::f32, L.data_ptr(), Pm.data_ptr(), S, ns, 20);
    be.sinkhorn_backward(DType::f32, L.data_ptr(), G.data_ptr(), GL.data_ptr(), S, ns, 20);
  });
  fmt::print("Sinkhorn-Knopp forward + backward, {} matrices {}x{}, t_max 20: {:.1f} us\n", S, ns, ns, us);
}

}  // namespace

int main(int argc, char** argv) {
  mhc::adapt_cpu_threads_to_load(true);
  CLI::App app{"fused mHC kernels vs their unfused composition"};
  std::string device_s = "cuda", dtype_s = "bf16";
  int64_t M = 16384, n = 4;
  std::vector<int64_t> widths = {1024, 2048};
  double datasheet_gbs = 3350;  // H100 SXM HBM3
  app.add_option("--device", device_s)->capture_default_str();
  app.add_option("--dtype", dtype_s)->capture_default_str();
  app.add_option("--tokens", M)->capture_default_str();
  app.add_option("--streams", n)->capture_default_str();
  app.add_option("--widths", widths)->capture_default_str();
  app.add_option("--datasheet_gbs", datasheet_gbs, "the device's rated memory bandwidth")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  bench::print_blas_header();  // the BLAS in use, and this CPU's rate now
  const Device dev = device_s == "cuda" ? Device::cuda : Device::cpu;
  if (dev == Device::cuda && !cuda_available()) {
    fmt::print("bench_mhc_kernels: no CUDA GPU visible; nothing to measure\n");
    return 0;
  }
  const DType dt = dtype_s == "bf16" ? DType::bf16 : DType::f32;
  Backend& be = backend_for(dev);
  NoGradGuard no_grad;
  Rng rng(1);
  const double peak_gbs = measure_copy_bandwidth(be, dev, datasheet_gbs);
  for (int64_t C : widths) {
    const std::vector<Row> rows = site_rows(be, dev, dt, M, n, C, rng);
    fmt::print("M = {} tokens, n = {}, C = {}, {}\n", M, n, C, dtype_name(dt));
    print_rows(rows, peak_gbs, datasheet_gbs);
  }
  time_sinkhorn(be, dev, rng);
  return 0;
}
