// blas_runtime.h — which OpenBLAS kernel runs, why, and a check that it
// multiplies correctly.
//
// Debian 12's OpenBLAS 0.3.21 falls back to its generic SSE3 kernels
// ("Prescott") on CPUs newer than itself, a third of the speed the machine
// allows. OpenBLAS reads OPENBLAS_CORETYPE once, when the library loads, so
// the choice cannot be made inside main: a constructor in blas_runtime.cpp
// runs before main, asks OpenBLAS which core it detected and, when that core
// is generic on a CPU whose features support a better one, sets
// OPENBLAS_CORETYPE and re-executes the program (same process id, same
// arguments). An OPENBLAS_CORETYPE or OPENBLAS_L2_SIZE already in the
// environment is always obeyed: machines set them because other kernels
// misbehave there. MHC_BLAS_SELECT=0 turns the choice off;
// MHC_BLAS_TEST_DETECTED=Prescott makes the choice act as if OpenBLAS had
// detected that core (for the tests of the re-executing path).
//
// Every process then multiplies a small product with OpenBLAS and with a
// plain loop (blas_self_check); a kernel that disagrees is refused (an
// automatic choice falls back to the detected core, a kernel set by the user
// stops the program with a message).
#pragma once
#include <functional>
#include <string>
#include <string_view>

namespace mhc::cpu {

// What cpuid and the operating system say the CPU can run.
struct CpuFeatures {
  bool intel = false, amd = false;  // the vendor
  bool avx2 = false, fma = false;
  bool avx512f = false, avx512bw = false, avx512dq = false, avx512vl = false;
  bool avx512_bf16 = false;                 // Cooper Lake and later
  bool amx_tile = false, amx_bf16 = false;  // Sapphire Rapids and later
  bool os_ymm = false, os_zmm = false;      // the OS saves AVX / AVX-512 state (XCR0)
};

CpuFeatures read_cpu_features();  // this machine's (all false off x86-64)

// OpenBLAS's generic cores: SSE-only kernels that it falls back to on CPUs it
// does not know ("Prescott", "Core2", "Nehalem", "Atom", "Generic", ...).
bool is_generic_core(std::string_view core);

// The decision: a core to request, or none (keep what OpenBLAS detected).
struct CoreChoice {
  std::string core;    // e.g. "SkylakeX"; empty: keep the detected core
  std::string reason;  // e.g. "chosen from AVX-512"
};

// A pure function of the CPU's features, the detected core and the cores the
// library holds (`library_has("SkylakeX")`): a better core only where the
// detected one is generic and the features support it, preferring
// SapphireRapids (AMX) > Cooperlake (AVX512_BF16) > SkylakeX (AVX-512 F, BW,
// DQ, VL) > Zen (AMD with AVX2 + FMA) > Haswell (AVX2 + FMA).
CoreChoice choose_blas_core(const CpuFeatures& f, std::string_view detected,
                            const std::function<bool(std::string_view)>& library_has);

// What runs in this process, and why.
struct BlasInfo {
  std::string library;   // "OpenBLAS 0.3.21"
  std::string core;      // the core OpenBLAS runs now
  std::string detected;  // the core OpenBLAS detected by itself (before any choice)
  std::string reason;    // "chosen from AVX-512", "detected", "OPENBLAS_CORETYPE set in the environment", ...
};
const BlasInfo& blas_info();

// One line for run headers and benchmarks:
// "OpenBLAS 0.3.21, SkylakeX (detected: Prescott; chosen from AVX-512), 2 threads".
std::string blas_summary();

// sgemm on an m × k by k × n product (both transposes) against a plain loop in
// double; the relative error bound is derived from k and the operands (see the
// definition). Returns an empty string when every product agrees, else what
// disagreed.
std::string blas_self_check();

}  // namespace mhc::cpu
