// test_blas_runtime.cpp — the OpenBLAS kernel choice (a pure function of the
// CPU's features and the detected core), the run's description of it, and
// the start-up self-check.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>

#include "kernels/cpu/address_space.h"
#include "kernels/cpu/blas_runtime.h"

using namespace mhc::cpu;

namespace {

// Debian 12's OpenBLAS 0.3.21 holds these (no SapphireRapids yet).
bool debian_0_3_21(std::string_view core) {
  static const std::set<std::string, std::less<>> cores = {"Prescott", "Core2",    "Nehalem",    "Haswell",
                                                           "Zen",      "SkylakeX", "Cooperlake", "Atom"};
  return cores.count(core) > 0;
}
bool every_core(std::string_view) { return true; }

CpuFeatures avx2_machine(bool amd) {
  CpuFeatures f;
  f.intel = !amd, f.amd = amd;
  f.avx2 = f.fma = f.os_ymm = true;
  return f;
}

CpuFeatures avx512_machine() {
  CpuFeatures f = avx2_machine(false);
  f.avx512f = f.avx512bw = f.avx512dq = f.avx512vl = f.os_zmm = true;
  return f;
}

}  // namespace

TEST_CASE("generic cores are recognised, whatever their case", "[blas]") {
  for (const char* g : {"Prescott", "Core2", "Nehalem", "Atom", "Generic", "prescott", "NEHALEM"}) {
    INFO(g);
    CHECK(is_generic_core(g));
  }
  for (const char* g : {"Haswell", "SkylakeX", "Cooperlake", "Zen", "SapphireRapids", "Sandybridge"}) {
    INFO(g);
    CHECK_FALSE(is_generic_core(g));
  }
}

TEST_CASE("a generic core on a capable CPU is replaced by the best core the library holds", "[blas]") {
  SECTION("AVX-512 F/BW/DQ/VL: SkylakeX") {
    const CoreChoice c = choose_blas_core(avx512_machine(), "Prescott", debian_0_3_21);
    CHECK(c.core == "SkylakeX");
    CHECK(c.reason == "chosen from AVX-512");
  }
  SECTION("with AVX512_BF16: Cooperlake") {
    CpuFeatures f = avx512_machine();
    f.avx512_bf16 = true;
    CHECK(choose_blas_core(f, "Prescott", debian_0_3_21).core == "Cooperlake");
  }
  SECTION("with AMX: SapphireRapids where the library has it, else Cooperlake") {
    CpuFeatures f = avx512_machine();
    f.avx512_bf16 = f.amx_tile = f.amx_bf16 = true;
    CHECK(choose_blas_core(f, "Prescott", every_core).core == "SapphireRapids");
    CHECK(choose_blas_core(f, "Prescott", every_core).reason == "chosen from AMX");
    CHECK(choose_blas_core(f, "Prescott", debian_0_3_21).core == "Cooperlake");
  }
  SECTION("AVX2 + FMA: Haswell on Intel, Zen on AMD") {
    CHECK(choose_blas_core(avx2_machine(false), "Nehalem", debian_0_3_21).core == "Haswell");
    CHECK(choose_blas_core(avx2_machine(true), "Prescott", debian_0_3_21).core == "Zen");
    CHECK(choose_blas_core(avx2_machine(true), "Prescott", debian_0_3_21).reason == "chosen from AVX2 + FMA on AMD");
  }
  SECTION("AMD with AVX-512 (Zen 4): SkylakeX") {
    CpuFeatures f = avx512_machine();
    f.intel = false, f.amd = true;
    CHECK(choose_blas_core(f, "Prescott", debian_0_3_21).core == "SkylakeX");
  }
}

TEST_CASE("the choice keeps what it should keep", "[blas]") {
  SECTION("a core OpenBLAS knows is never replaced") {
    CHECK(choose_blas_core(avx512_machine(), "Haswell", every_core).core.empty());
    CHECK(choose_blas_core(avx512_machine(), "Zen", every_core).core.empty());
    CHECK(choose_blas_core(avx512_machine(), "SkylakeX", every_core).core.empty());
  }
  SECTION("features the OS does not save do not count") {
    CpuFeatures f = avx512_machine();
    f.os_zmm = false;  // AVX-512 in cpuid, but XCR0 leaves ZMM state off
    CHECK(choose_blas_core(f, "Prescott", debian_0_3_21).core == "Haswell");
    f.os_ymm = false;
    CHECK(choose_blas_core(f, "Prescott", debian_0_3_21).core.empty());
  }
  SECTION("partial AVX-512 (no BW or VL) is not SkylakeX") {
    CpuFeatures f = avx512_machine();
    f.avx512bw = false;
    CHECK(choose_blas_core(f, "Prescott", debian_0_3_21).core == "Haswell");
  }
  SECTION("AVX2 without FMA, or an SSE-only CPU: nothing better") {
    CpuFeatures f = avx2_machine(false);
    f.fma = false;
    CHECK(choose_blas_core(f, "Prescott", debian_0_3_21).core.empty());
    CHECK(choose_blas_core(CpuFeatures{}, "Prescott", debian_0_3_21).core.empty());
  }
  SECTION("a library without the core is not asked for it") {
    CHECK(choose_blas_core(avx512_machine(), "Prescott", [](std::string_view c) { return c == "Haswell"; }).core ==
          "Haswell");
    CHECK(choose_blas_core(avx512_machine(), "Prescott", [](std::string_view) { return false; }).core.empty());
  }
}

TEST_CASE("this process: the kernel in use is described and multiplies correctly", "[blas]") {
  const BlasInfo& i = blas_info();
  CHECK(i.library.rfind("OpenBLAS ", 0) == 0);
  CHECK_FALSE(i.core.empty());
  CHECK_FALSE(i.reason.empty());
  const std::string s = blas_summary();
  INFO(s);
  CHECK(s.rfind(i.library + ", " + i.core + " (", 0) == 0);
  CHECK(s.find(" thread") != std::string::npos);
  if (const char* forced = std::getenv("OPENBLAS_CORETYPE"); forced && !std::getenv("MHC_BLAS_CHOICE")) {
    CHECK(i.reason == "OPENBLAS_CORETYPE set in the environment");
  }
  if (const char* marker = std::getenv("MHC_BLAS_CHOICE"); marker && std::getenv("OPENBLAS_CORETYPE")) {
    // mhc chose the kernel (and re-executed this test): it is the one asked
    // for, no generic one, and the description says why.
    CHECK(i.reason.rfind("chosen from", 0) == 0);
    CHECK_FALSE(is_generic_core(i.core));
    CHECK(is_generic_core(i.detected));
    CHECK(s.find("detected: " + i.detected + "; chosen from") != std::string::npos);
  }
  CHECK(blas_self_check().empty());
}

// Whether the environment outside this test set the kernel (then obeyed
// and never overridden); OPENBLAS_CORETYPE with mhc's marker beside it was
// set by mhc's own choice when this test started.
bool environment_sets_kernel() {
  return std::getenv("OPENBLAS_L2_SIZE") || (std::getenv("OPENBLAS_CORETYPE") && !std::getenv("MHC_BLAS_CHOICE"));
}

// Runs this test program with `env_args` (for env) on the hidden test below,
// which prints the BLAS summary; returns what it printed.
std::string child_summary(const std::string& env_args) {
  char self[4096] = {};
  REQUIRE(readlink("/proc/self/exe", self, sizeof self - 1) > 0);
  const std::string command = "env -u MHC_BLAS_CHOICE -u MHC_BLAS_SELECT -u OPENBLAS_CORETYPE " + env_args + " '" +
                              self + "' '[.blas-child]' 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  REQUIRE(pipe);
  std::string out;
  char buf[512];
  for (size_t n; (n = fread(buf, 1, sizeof buf, pipe)) > 0;) out.append(buf, n);
  REQUIRE(pclose(pipe) == 0);
  return out;
}

// Run by the tests below in a child process: prints what it runs on.
TEST_CASE("(child) print the BLAS summary", "[.blas-child]") { std::printf("summary: %s\n", blas_summary().c_str()); }

TEST_CASE("a generic detected core makes the program re-execute itself on the chosen kernel", "[blas]") {
  if (environment_sets_kernel()) {
    WARN("SKIPPED: the environment sets OPENBLAS_CORETYPE or OPENBLAS_L2_SIZE; a test never overrides them");
    return;
  }
  const CoreChoice expect = choose_blas_core(read_cpu_features(), "Prescott", [](std::string_view) { return true; });
  // As if OpenBLAS had detected Prescott: the child chooses, sets
  // OPENBLAS_CORETYPE, re-executes itself, and says why in its summary.
  const std::string out = child_summary("MHC_BLAS_TEST_DETECTED=Prescott");
  INFO(out);
  if (expect.core.empty()) {
    CHECK(out.find("(detected)") != std::string::npos);  // an SSE-only CPU: nothing better to ask for
  } else {
    // The library may lack the first choice (0.3.21 has no SapphireRapids):
    // the child names the core it asked for and got, and why.
    CHECK(out.find("(detected: Prescott; chosen from ") != std::string::npos);
    CHECK(out.find("did not accept") == std::string::npos);
  }
}

TEST_CASE("a core that OpenBLAS refuses is followed by the next candidate", "[blas]") {
  if (environment_sets_kernel()) {
    WARN("SKIPPED: the environment sets OPENBLAS_CORETYPE or OPENBLAS_L2_SIZE; a test never overrides them");
    return;
  }
  const CoreChoice expect = choose_blas_core(read_cpu_features(), "Prescott", [](std::string_view) { return true; });
  if (expect.core.empty()) return;  // an SSE-only CPU: no candidate to go on to
  // As if mhc had asked for a core OpenBLAS does not know ("Bogus"): the
  // child sees another core in use, goes on to the best real candidate, and
  // re-executes once more.
  const std::string out = child_summary("OPENBLAS_CORETYPE=Bogus MHC_BLAS_CHOICE='Bogus;Prescott;chosen from a test;'");
  INFO(out);
  CHECK(out.find("(detected: Prescott; chosen from AVX") != std::string::npos);
}

TEST_CASE("an address-space limit too small for OpenBLAS's buffers is named, not hung on", "[blas]") {
  const double mib = 1024.0 * 1024.0;
  CHECK(blas_buffers_shortfall(0, 900 * mib, 2).empty());  // no limit
  // Two buffers of 128 MiB (and two guard pages) per thread: 900 MiB mapped
  // and 2 threads need 900 + 512 MiB and a little.
  CHECK(blas_buffers_shortfall(1500 * mib, 900 * mib, 2).empty());
  const std::string why = blas_buffers_shortfall(1400 * mib, 900 * mib, 2);
  CHECK_THAT(why, Catch::Contains("address-space limit (ulimit -v 1433600") && Catch::Contains("1400 MiB") &&
                      Catch::Contains("take 900 MiB") && Catch::Contains("each of 2 threads") &&
                      Catch::Contains("Raise the limit"));
  CHECK(blas_buffers_shortfall(1400 * mib, 900 * mib, 1).empty());  // one thread fits
  CHECK(blas_threads_from_environment() >= 1);
  CHECK(mapped_bytes() > 0);
}
