// blas_runtime.cpp — the OpenBLAS kernel choice made before main, the run's
// description of it, and the start-up self-check (see blas_runtime.h).
#include "kernels/cpu/blas_runtime.h"

#include <cblas.h>
#include <dlfcn.h>
#include <strings.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <tuple>
#include <vector>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include "kernels/cpu/address_space.h"
#include "kernels/cpu/cpu_threads.h"

namespace mhc::cpu {

namespace {

// The environment variable that tells a re-executed process what mhc chose
// and why (struct Marker below). It is trusted only while OPENBLAS_CORETYPE
// still names that core: a user who sets another core in a child's
// environment is obeyed and reported as such.
constexpr const char* kMarker = "MHC_BLAS_CHOICE";

#if defined(__x86_64__)
bool bit(unsigned v, int b) { return (v >> b) & 1u; }
unsigned long long xcr0() {
  unsigned lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<unsigned long long>(hi) << 32) | lo;
}
#endif

bool same_name(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

// The library holds a core when it exports that core's function table
// (gotoblas_SKYLAKEX for "SkylakeX"): Debian's DYNAMIC_ARCH builds do.
bool library_has_core(std::string_view core) {
  std::string sym = "gotoblas_";
  for (char ch : core) sym += static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return dlsym(RTLD_DEFAULT, sym.c_str()) != nullptr;
}

std::string library_version() {
  const std::string config =
      openblas_get_config();  // "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Prescott MAX_THREADS=64"
  const size_t first = config.find(' ');
  const size_t second = first == std::string::npos ? first : config.find(' ', first + 1);
  return config.substr(0, second);
}

BlasInfo& info_storage() {
  static BlasInfo info;
  return info;
}

// The marker a re-executed process reads: "CORE;DETECTED;REASON;TRIED",
// TRIED the cores OpenBLAS already refused, comma-separated (0.3.21 cannot
// be forced to Cooperlake, for one: it then detects again, which on a CPU
// it does not know gives Prescott).
struct Marker {
  std::string core, detected, reason, tried;
};

// The marker, when present and meant for the OPENBLAS_CORETYPE in effect.
bool read_marker(const char* coretype, Marker* m) {
  const char* text = std::getenv(kMarker);
  if (!text || !coretype) return false;
  std::string parts[4];
  size_t k = 0;
  for (const char* c = text; *c && k < 4; ++c) {
    if (*c == ';')
      ++k;
    else
      parts[k] += *c;
  }
  if (k < 2 || !same_name(parts[0], coretype)) return false;
  *m = {parts[0], parts[1], parts[2], parts[3]};
  return true;
}

bool listed(const std::string& list, std::string_view core) {
  size_t start = 0;
  while (start <= list.size()) {
    const size_t end = std::min(list.find(',', start), list.size());
    if (same_name(std::string_view(list).substr(start, end - start), core)) return true;
    start = end + 1;
  }
  return false;
}

// Re-executes the program on the best core for `detected` that the library
// holds and that is not in `tried`; returns only when there is none (or
// exec failed).
void reexecute_on_better_core(const std::string& detected, const std::string& tried, char** argv) {
  if (!argv || !argv[0]) return;
  const CoreChoice c = choose_blas_core(read_cpu_features(), detected, [&](std::string_view core) {
    return library_has_core(core) && !listed(tried, core);
  });
  if (c.core.empty()) return;
  setenv("OPENBLAS_CORETYPE", c.core.c_str(), 1);
  setenv(kMarker, (c.core + ";" + detected + ";" + c.reason + ";" + tried).c_str(), 1);
  execv("/proc/self/exe", argv);
}

[[noreturn]] void refuse_kernel(const std::string& what) {
  std::fprintf(stderr,
               "mhc: the OpenBLAS kernel \"%s\" multiplies wrongly on this machine (%s); "
               "set OPENBLAS_CORETYPE to another kernel (e.g. Haswell or Prescott)\n",
               openblas_get_corename(), what.c_str());
  std::_Exit(70);
}

// The kernel choice, before main (see blas_runtime.h); fills blas_info().
void choose_kernel(char** argv) {
  BlasInfo& info = info_storage();
  info.library = library_version();
  info.core = openblas_get_corename();
  // An empty OPENBLAS_CORETYPE is no setting (OpenBLAS detects as without one).
  const char* coretype = std::getenv("OPENBLAS_CORETYPE");
  if (coretype && !*coretype) coretype = nullptr;
  const char* l2_size = std::getenv("OPENBLAS_L2_SIZE");
  if (l2_size && !*l2_size) l2_size = nullptr;
  const char* select = std::getenv("MHC_BLAS_SELECT");
  Marker m;
  if (read_marker(coretype, &m)) {  // a process that mhc re-executed
    info.detected = m.detected, info.reason = m.reason;
    if (same_name(info.core, coretype)) return;
    // OpenBLAS refused the core: the next one, else what it runs now.
    const std::string tried = m.tried.empty() ? m.core : m.tried + "," + m.core;
    reexecute_on_better_core(m.detected, tried, argv);
    unsetenv(kMarker);
    info.reason = "OpenBLAS accepted none of " + tried;
  } else if (coretype || l2_size) {
    info.detected = info.core;
    info.reason = coretype ? "OPENBLAS_CORETYPE set in the environment" : "OPENBLAS_L2_SIZE set in the environment";
  } else if (select && std::string(select) == "0") {
    info.detected = info.core;
    info.reason = "detected; MHC_BLAS_SELECT=0";
  } else {
    // MHC_BLAS_TEST_DETECTED stands in for what OpenBLAS detected, so a test
    // can take the re-executing path on a CPU that OpenBLAS knows.
    const char* pretend = std::getenv("MHC_BLAS_TEST_DETECTED");
    info.detected = pretend ? pretend : info.core;
    info.reason = "detected";
    reexecute_on_better_core(info.detected, "", argv);
  }
}

// Runs before main and before the program's own static objects: chooses the
// kernel (re-executing the program when it does), then checks that it
// multiplies correctly.
void choose_kernel_at_start(char** argv) {
  choose_kernel(argv);
  const std::string wrong = blas_self_check();
  if (wrong.empty()) return;
  const char* marker = std::getenv(kMarker);
  if (marker && argv && argv[0] && !same_name(info_storage().detected, info_storage().core)) {
    // Our own choice multiplies wrongly: back to the core OpenBLAS detected.
    const BlasInfo& i = info_storage();
    std::fprintf(stderr, "mhc: OpenBLAS kernel %s failed the self-check (%s); falling back to %s\n", i.core.c_str(),
                 wrong.c_str(), i.detected.c_str());
    setenv("OPENBLAS_CORETYPE", i.detected.c_str(), 1);
    setenv(kMarker, (i.detected + ";" + i.detected + ";" + i.core + " failed the self-check;").c_str(), 1);
    execv("/proc/self/exe", argv);
  }
  refuse_kernel(wrong);
}

// glibc passes (argc, argv, envp) to the functions of .init_array. Priority
// 101 runs this before the C++ static objects of the program.
__attribute__((constructor(101))) void blas_runtime_constructor(int /*argc*/, char** argv, char** /*envp*/) {
  link_address_space_check();  // the limit was checked before OpenBLAS loaded
  choose_kernel_at_start(argv);
}

// A fixed pseudo-random value in [-1, 1): operands for the self-check.
float operand(uint32_t& state) {
  state = state * 1664525u + 1013904223u;
  return static_cast<float>(state >> 8) / static_cast<float>(1u << 23) - 1.f;
}

// One product C = op(A) · op(B), (m, k) · (k, n), against the loop.
std::string check_product(int m, int n, int k, bool trans_a, bool trans_b) {
  uint32_t state = static_cast<uint32_t>(m * 131 + n * 17 + k);
  std::vector<float> a(static_cast<size_t>(m) * k), b(static_cast<size_t>(k) * n), c(static_cast<size_t>(m) * n, 7.f);
  for (float& v : a) v = operand(state);
  for (float& v : b) v = operand(state);
  const int lda = trans_a ? m : k, ldb = trans_b ? k : n;
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, m, n, k, 1.f,
              a.data(), lda, b.data(), ldb, 0.f, c.data(), n);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      double exact = 0, magnitude = 0;
      for (int l = 0; l < k; ++l) {
        const double x = trans_a ? a[static_cast<size_t>(l) * m + i] : a[static_cast<size_t>(i) * k + l];
        const double y = trans_b ? b[static_cast<size_t>(j) * k + l] : b[static_cast<size_t>(l) * n + j];
        exact += x * y;
        magnitude += std::fabs(x * y);
      }
      // The operands are exact in f32, so only the k roundings of an f32
      // sum enter: |error| <= k·u·Σ|a·b| with u = 2^-24, whatever the order
      // of the additions or FMA. Twice that bound leaves room; a wrong
      // kernel misses by orders of magnitude.
      const double bound = 2.0 * k * std::ldexp(1.0, -24) * magnitude + 1e-30;
      const double err = std::fabs(static_cast<double>(c[static_cast<size_t>(i) * n + j]) - exact);
      if (!(err <= bound)) {
        char buf[200];
        std::snprintf(buf, sizeof buf, "%dx%dx%d%s%s product, C[%d,%d] = %.9g, expected %.9g", m, k, n,
                      trans_a ? " A^T" : "", trans_b ? " B^T" : "", i, j, c[static_cast<size_t>(i) * n + j], exact);
        return buf;
      }
    }
  return "";
}

}  // namespace

CpuFeatures read_cpu_features() {
  CpuFeatures f;
#if defined(__x86_64__)
  unsigned a, b, c, d;
  if (!__get_cpuid(0, &a, &b, &c, &d)) return f;
  const unsigned max_leaf = a;
  f.intel = b == 0x756e6547 && d == 0x49656e69 && c == 0x6c65746e;    // "GenuineIntel"
  f.amd = (b == 0x68747541 && d == 0x69746e65 && c == 0x444d4163) ||  // "AuthenticAMD"
          (b == 0x6f677948 && d == 0x6e65476e && c == 0x656e6975);    // "HygonGenuine" (Zen)
  __get_cpuid(1, &a, &b, &c, &d);
  f.fma = bit(c, 12);
  const bool osxsave = bit(c, 27), avx = bit(c, 28);
  if (osxsave && avx) {
    const unsigned long long x = xcr0();
    f.os_ymm = (x & 0x6) == 0x6;    // SSE and AVX state
    f.os_zmm = (x & 0xe6) == 0xe6;  // and opmask, ZMM0-15 high halves, ZMM16-31
  }
  if (max_leaf >= 7) {
    __cpuid_count(7, 0, a, b, c, d);
    f.avx2 = bit(b, 5);
    f.avx512f = bit(b, 16), f.avx512dq = bit(b, 17), f.avx512bw = bit(b, 30), f.avx512vl = bit(b, 31);
    f.amx_bf16 = bit(d, 22), f.amx_tile = bit(d, 24);
    const unsigned subleaves = a;
    if (subleaves >= 1) {
      __cpuid_count(7, 1, a, b, c, d);
      f.avx512_bf16 = bit(a, 5);
    }
  }
#endif
  return f;
}

bool is_generic_core(std::string_view core) {
  static const char* const kGeneric[] = {
      "Generic",   "Prescott", "Core2",   "Penryn",       "Dunnington", "Nehalem", "Atom", "Katmai", "Coppermine",
      "Northwood", "Banias",   "Opteron", "Opteron_SSE3", "Barcelona",  "Bobcat",  "Nano", "Athlon", "Unknown"};
  return std::any_of(std::begin(kGeneric), std::end(kGeneric), [&](const char* g) { return same_name(core, g); });
}

CoreChoice choose_blas_core(const CpuFeatures& f, std::string_view detected,
                            const std::function<bool(std::string_view)>& library_has) {
  if (!is_generic_core(detected)) return {};
  const bool avx512 = f.os_zmm && f.avx512f && f.avx512bw && f.avx512dq && f.avx512vl;
  const bool avx2 = f.os_ymm && f.avx2 && f.fma;
  const CoreChoice candidates[] = {
      {avx512 && f.amx_tile && f.amx_bf16 && f.avx512_bf16 ? "SapphireRapids" : "", "chosen from AMX"},
      {avx512 && f.avx512_bf16 ? "Cooperlake" : "", "chosen from AVX-512 with BF16"},
      {avx512 ? "SkylakeX" : "", "chosen from AVX-512"},
      {avx2 && f.amd ? "Zen" : "", "chosen from AVX2 + FMA on AMD"},
      {avx2 ? "Haswell" : "", "chosen from AVX2 + FMA"},
  };
  for (const CoreChoice& c : candidates)
    if (!c.core.empty() && library_has(c.core)) return c;
  return {};
}

const BlasInfo& blas_info() { return info_storage(); }

std::string blas_summary() {
  const BlasInfo& i = blas_info();
  std::string why = i.reason;
  if (!same_name(i.detected, i.core)) why = "detected: " + i.detected + "; " + i.reason;
  const int threads = cpu_threads_now();
  return i.library + ", " + i.core + " (" + why + "), " + std::to_string(threads) + " thread" +
         (threads == 1 ? "" : "s");
}

std::string blas_self_check() {
  // Odd sizes reach the kernels' edge paths; the larger one their blocking.
  for (const auto& [m, n, k, ta, tb] : {std::tuple{37, 29, 53, false, false}, std::tuple{70, 66, 130, true, false},
                                        std::tuple{33, 48, 97, false, true}}) {
    std::string wrong = check_product(m, n, k, ta, tb);
    if (!wrong.empty()) return wrong;
  }
  return "";
}

}  // namespace mhc::cpu
