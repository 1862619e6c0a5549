// site_traffic.cpp — tutorial 07: the memory traffic of one mHC site per
// token, op by op, for the composed ("unfused") path of
// layers/manifold_hyper_connection.cpp and for the fused kernels (a)-(e) of
// kernels/cuda/cuda_mhc.cu; then the arithmetic behind the H100 benchmark
// figures quoted in the README (achieved GB/s, the bandwidth floor, the
// selective-recompute memory saving), recomputed and checked.
//
//   tutorial_07_fused_kernels            n = 4, C = 1024, bf16 streams
//   tutorial_07_fused_kernels 4 2048 f32 any n, C and stream dtype for the table
//
// Runs on the CPU only: nothing here touches a device.
#include <fmt/core.h>

#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "layers/recompute.h"

using namespace mhc;

namespace {

int failures = 0;

void check(bool ok, const std::string& what) {
  fmt::print("  check: {} -> {}\n", what, ok ? "ok" : "FAILED");
  if (!ok) failures++;
}

// Bytes one op reads and writes for one token (parameters shared by all
// tokens, such as φ, α and b, are not counted: a kernel reads them once).
struct Traffic {
  std::string op;
  double read = 0, written = 0;
};

struct Site {
  int64_t n, C;
  double es;     // bytes per stream element: 2 (bf16) or 4 (f32)
  double f = 4;  // bytes per coefficient (f32 for both stream dtypes)
  int64_t P() const { return 2 * n + n * n; }
};

// The composed forward of ManifoldHyperConnection::forward (--hc.fused off), op by op.
std::vector<Traffic> unfused_ops(const Site& s) {
  const double n = s.n, C = s.C, es = s.es, f = s.f, P = s.P();
  const bool cast = es != f;  // x.to(f32) and the two .to(bf16) exist only for bf16 streams
  std::vector<Traffic> ops;
  if (cast) ops.push_back({"x.to(f32)", n * C * es, n * C * f});
  ops.push_back({"rms_norm over nC (y and rstd)", n * C * f, n * C * f + f});
  ops.push_back({"matmul v' phi", n * C * f, P * f});
  // The coefficient math, one small op each: pre (·α, +b, σ), post (·α, +b, σ, ·2),
  // res (·α, +b, sinkhorn), H_pre.to(dt), concat [H_res | H_postᵀ], its .to(dt).
  Traffic small{cast ? "13 small coefficient ops" : "11 small coefficient ops", 0, 0};
  small.read = 3 * n * f + 4 * n * f + 3 * n * n * f + (n * n + n) * f;
  small.written = 3 * n * f + 4 * n * f + 3 * n * n * f + (n * n + n) * f;
  if (cast) {
    small.read += n * f + (n * n + n) * f;
    small.written += n * es + (n * n + n) * es;
  }
  ops.push_back(small);
  ops.push_back({"matmul H_pre x", n * C * es + n * es, C * es});
  ops.push_back({"concat [x; y]", (n + 1) * C * es, (n + 1) * C * es});
  ops.push_back({"matmul [H_res|H_post^T] [x; y]", (n + 1) * C * es + n * (n + 1) * es, n * C * es});
  return ops;
}

// The fused kernels (kernels/backend_ops.def, "fused mHC site").
std::vector<Traffic> fused_ops(const Site& s) {
  const double n = s.n, C = s.C, es = s.es, f = s.f, P = s.P();
  return {{"(a) mhc_project: x -> q, rstd", n * C * es, P * f + f},
          {"(b,c) mhc_gates: q -> coeffs", P * f, P * f},
          {"(d) mhc_pre: x -> h_in", n * C * es + n * f, C * es},
          {"(e) mhc_post: x, y -> x'", (n + 1) * C * es + (n + n * n) * f, n * C * es}};
}

Traffic total(const std::vector<Traffic>& ops) {
  Traffic t{"total", 0, 0};
  for (const Traffic& o : ops) {
    t.read += o.read;
    t.written += o.written;
  }
  return t;
}

void print_ops(const char* title, const std::vector<Traffic>& ops) {
  fmt::print("{:<38} {:>10} {:>10}\n", title, "read B", "written B");
  for (const Traffic& o : ops) fmt::print("  {:<36} {:>10.0f} {:>10.0f}\n", o.op, o.read, o.written);
  const Traffic t = total(ops);
  fmt::print("  {:<36} {:>10.0f} {:>10.0f}   ({:.0f} bytes)\n", t.op, t.read, t.written, t.read + t.written);
}

// ---- the H100 measurements quoted in the README (bench_mhc_kernels, this commit's build) ----

constexpr double kCopyGBs = 3006;  // device-to-device copy, as printed (rounded to 1 GB/s)
constexpr int64_t kTokens = 16384, kStreams = 4;

struct Measured {
  const char* kernel;
  double fused_us, unfused_us, printed_gbs;
  // The bench's byte count per token (bench/mhc_kernels.cpp: every input read once, every output written once).
  double (*bytes_per_token)(int64_t C, double es);
};

const int64_t P4 = 2 * kStreams + kStreams * kStreams;
double bytes_a(int64_t C, double es) { return es * kStreams * C + 4.0 * P4; }
double bytes_bc(int64_t, double) { return 4.0 * P4 * 2; }
double bytes_d(int64_t C, double es) { return es * (kStreams * C + C); }
double bytes_e(int64_t C, double es) { return es * (2 * kStreams * C + C); }
double bytes_site(int64_t C, double es) { return es * ((3 * kStreams + 1) * C + (kStreams + 1) * C); }

struct Width {
  int64_t C;
  std::vector<Measured> rows;
  double printed_floor_us;
};

const std::vector<Width> kH100 = {
    {1024,
     {{"(a) RMS + projection", 480.1, 644.9, 283, bytes_a},
      {"(b,c) gates + Sinkhorn", 16.1, 57.5, 196, bytes_bc},
      {"(d) H_pre x", 67.3, 168.9, 2492, bytes_d},
      {"(e) H_res x + H_post y", 164.6, 1010.4, 1834, bytes_e},
      {"site forward (a-e)", 746.2, 1880.1, 809, bytes_site}},
     200.9},
    {2048,
     {{"(a) RMS + projection", 956.3, 1120.1, 282, bytes_a},
      {"(b,c) gates + Sinkhorn", 16.4, 57.1, 192, bytes_bc},
      {"(d) H_pre x", 131.4, 328.8, 2554, bytes_d},
      {"(e) H_res x + H_post y", 321.6, 1997.0, 1878, bytes_e},
      {"site forward (a-e)", 1441.2, 3499.3, 838, bytes_site}},
     401.9},
};

// ---- 1. the traffic table -----------------------------------------------------------------
void traffic_table(const Site& site) {
  const int64_t n = site.n, C = site.C;
  fmt::print("1. Per token: n = {}, C = {}, {} streams, f32 coefficients, P = 2n + n^2 = {}\n\n", n, C,
             site.es == 2 ? "bf16" : "f32", site.P());
  const std::vector<Traffic> unfused = unfused_ops(site), fused = fused_ops(site);
  print_ops("unfused (composed ops)", unfused);
  fmt::print("\n");
  print_ops("fused (kernels (a)-(e))", fused);
  const Traffic tu = total(unfused), tf = total(fused);
  fmt::print("\n  the fused site moves {:.2f}x fewer bytes\n", (tu.read + tu.written) / (tf.read + tf.written));

  // The part that grows with C: the difference between the tables at C and 2C, per C, in stream elements.
  Site wide = site;
  wide.C = 2 * C;
  const Traffic tf2 = total(fused_ops(wide)), tu2 = total(unfused_ops(wide));
  const double fr = (tf2.read - tf.read) / C / site.es, fw = (tf2.written - tf.written) / C / site.es;
  fmt::print("  per C, in stream elements: fused reads {:.0f} = (3n+1), writes {:.0f} = (n+1)\n", fr, fw);
  check(fr == 3 * n + 1 && fw == n + 1, "fused traffic is (3n+1)C reads and (n+1)C writes plus O(n^2) coefficients");
  if (site.es == 4) {
    const double ur = (tu2.read - tu.read) / C / 4, uw = (tu2.written - tu.written) / C / 4;
    fmt::print("  unfused, f32 streams: reads {:.0f} = (5n+2), writes {:.0f} = (3n+2)\n", ur, uw);
    check(ur == 5 * n + 2 && uw == 3 * n + 2, "unfused f32 traffic is (5n+2)C reads and (3n+2)C writes");
  }
}

// ---- 2. the benchmark's arithmetic, for one width's rows ----------------------------------
void recompute_bench_rows(const Width& w) {
  fmt::print("\n  C = {}\n  {:<24} {:>9} {:>9} {:>9} {:>9} {:>10}\n", w.C, "kernel", "fused us", "MB moved", "GB/s",
             "printed", "floor us");
  double kernels_us = 0;
  bool gbs_reproduced = true;
  for (const Measured& m : w.rows) {
    const double bytes = m.bytes_per_token(w.C, 2.0) * kTokens;
    const double gbs = bytes / m.fused_us / 1e3;
    const double floor_us = bytes / kCopyGBs / 1e3;  // this kernel at the measured copy bandwidth
    fmt::print("  {:<24} {:>9.1f} {:>9.1f} {:>9.0f} {:>9.0f} {:>10.1f}\n", m.kernel, m.fused_us, bytes / 1e6, gbs,
               m.printed_gbs, floor_us);
    if (std::abs(gbs - m.printed_gbs) > 1.0) gbs_reproduced = false;
    if (std::string(m.kernel).rfind("site", 0) != 0) kernels_us += m.fused_us;
  }
  check(gbs_reproduced, "every printed GB/s = the bench's byte count / the fused time, to 1 GB/s");
  const Measured& site_row = w.rows.back();
  const double floor_us = site_row.bytes_per_token(w.C, 2.0) * kTokens / kCopyGBs / 1e3;
  check(std::abs(floor_us - w.printed_floor_us) < 0.1,
        fmt::format("site floor {:.1f} us (printed {:.1f}); {:.2f}x the floor", floor_us, w.printed_floor_us,
                    site_row.fused_us / floor_us));
  const Measured& a = w.rows[0];
  const Measured& d = w.rows[2];
  fmt::print("  the four kernels add up to {:.1f} us of the site's {:.1f} us; (a) alone is {:.0f}%\n", kernels_us,
             site_row.fused_us, 100 * a.fused_us / site_row.fused_us);
  // If (a) moved its bytes as efficiently as (d) does:
  const double a_like_d_us = a.fused_us * (a.printed_gbs / d.printed_gbs);
  fmt::print("  with (a) at (d)'s bandwidth ({:.0f} us instead of {:.1f}): site {:.0f} us = {:.2f}x the floor\n",
             a_like_d_us, a.fused_us, site_row.fused_us - a.fused_us + a_like_d_us,
             (site_row.fused_us - a.fused_us + a_like_d_us) / floor_us);
  // (a) as arithmetic: K·P multiply-adds per token in f32.
  const double fma = static_cast<double>(kTokens) * kStreams * w.C * P4;
  fmt::print("  (a) does {:.2f} G f32 multiply-adds: {:.1f} TFLOP/s\n", fma / 1e9, 2 * fma / a.fused_us / 1e6);
}

// ---- 3. selective recompute -----------------------------------------------------------------
void recompute_memory() {
  fmt::print("\n3. Selective recompute: group size L_r = round(sqrt(nL/(n+2))) for L sites\n");
  for (int64_t L : {12, 16}) {
    const int Lr = RecomputePlan::best_group_size(kStreams, L);
    const int expected = static_cast<int>(std::lround(std::sqrt(4.0 * L / 6.0)));
    const int64_t kept = (L + Lr - 1) / Lr, rebuilt = Lr - 1;
    fmt::print("  L = {:>2} sites: L_r = {}; states held per token {} x nC without, {} + {} = {} x nC with\n", L, Lr, L,
               kept, rebuilt, kept + rebuilt);
    if (Lr != expected) check(false, "RecomputePlan::best_group_size");
  }
  // shakespeare-char: 64 x 256 tokens, C = 384, n = 4, bf16, 12 sites.
  const double state_mib = 64.0 * 256 * kStreams * 384 * 2 / (1 << 20);
  const double predicted = (12 - (4 + 2)) * state_mib, measured = 2624.5 - 2336.5;
  check(std::abs(predicted - measured) < 1.0,
        fmt::format("shakespeare-char: one state is {:.0f} MiB; 6 fewer states = {:.0f} MiB, measured mhc - mhc-rc "
                    "peak = {:.1f} MiB",
                    state_mib, predicted, measured));
}

// ---- 4. the training step ---------------------------------------------------------------------
void step_floor() {
  fmt::print("\n4. bench_train_step on an H100, bf16: the mHC sites' forward floor against the measured cost\n");
  struct Step {
    const char* preset;
    int64_t tokens, C, sites;
    double residual_ms, mhc_ms, printed_ratio;
  };
  bool ratios_match = true;
  for (const Step& st : {Step{"shakespeare-char", 64 * 256, 384, 12, 12.93, 26.20, 2.026},
                         Step{"moe-1280", 8 * 1024, 1280, 16, 170.16, 189.32, 1.113}}) {
    const double site_bytes = 2.0 * st.tokens * ((3 * kStreams + 1) + (kStreams + 1)) * st.C;
    const double floor_ms = st.sites * site_bytes / kCopyGBs / 1e6;
    const double ratio = st.mhc_ms / st.residual_ms;
    fmt::print("  {:<16} {:>2} sites x {:.0f} MB: forward floor {:.2f} ms; mhc - residual = {:.2f} ms ({:.3f}x)\n",
               st.preset, st.sites, site_bytes / 1e6, floor_ms, st.mhc_ms - st.residual_ms, ratio);
    if (std::abs(ratio - st.printed_ratio) > 0.0015) ratios_match = false;
  }
  check(ratios_match, "ms/step ratios as the bench printed them (2.026x, 1.113x)");
}

}  // namespace

int main(int argc, char** argv) {
  Site site{4, 1024, 2.0};
  if (argc > 1) site.n = std::atoll(argv[1]);
  if (argc > 2) site.C = std::atoll(argv[2]);
  if (argc > 3) site.es = std::string(argv[3]) == "f32" ? 4.0 : 2.0;
  traffic_table(site);
  fmt::print("\n2. bench_mhc_kernels on an H100 (M = {} tokens, n = {}, bf16): GB/s and floor recomputed\n", kTokens,
             kStreams);
  for (const Width& w : kH100) recompute_bench_rows(w);
  fmt::print("\n  Sinkhorn fwd+bwd, 16384 matrices, one thread each, 128 threads a block: {} blocks for 132 SMs\n",
             16384 / 128);
  recompute_memory();
  step_floor();
  fmt::print("\n{}\n", failures == 0 ? "all arithmetic checks passed" : "FAILED");
  return failures == 0 ? 0 : 1;
}
