// address_space.cpp — the address-space limit checked before OpenBLAS loads
// (see address_space.h).
#include "kernels/cpu/address_space.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>

namespace mhc::cpu {

namespace {

constexpr double kMiB = 1024.0 * 1024.0;

// `name`'s value in envp (or in the process's environment when envp is
// null), or null. Before the C library's own initialiser has run (in
// .preinit_array), getenv() does not see the environment yet: envp does.
const char* env_value(const char* name, char** envp) {
  if (!envp) return std::getenv(name);
  const size_t len = std::strlen(name);
  for (char** e = envp; *e; ++e)
    if (std::strncmp(*e, name, len) == 0 && (*e)[len] == '=') return *e + len + 1;
  return nullptr;
}

// A positive whole number from the environment, or 0.
int positive_env(const char* name, char** envp) {
  const char* v = env_value(name, envp);
  if (!v || !*v) return 0;
  const long n = std::strtol(v, nullptr, 10);
  return n > 0 && n < 1 << 20 ? static_cast<int>(n) : 0;
}

}  // namespace

int blas_threads_from_environment(char** envp) {
  // A test hook: the thread count to assume, uncapped, so that a test can
  // ask for more buffers than any limit it sets.
  if (const int n = positive_env("MHC_TEST_BLAS_THREADS", envp)) return n;
  const long online_l = sysconf(_SC_NPROCESSORS_ONLN);
  const int online = online_l > 0 ? static_cast<int>(online_l) : 1;
  for (const char* name : {"OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS"})
    if (const int n = positive_env(name, envp)) return n < online ? n : online;  // OpenBLAS caps it so
  return online;
}

double address_space_limit_bytes() {
  rlimit r{};
  if (getrlimit(RLIMIT_AS, &r) != 0 || r.rlim_cur == RLIM_INFINITY) return 0;
  return static_cast<double>(r.rlim_cur);
}

double mapped_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return 0;
  unsigned long pages = 0;
  const bool ok = std::fscanf(f, "%lu", &pages) == 1;
  std::fclose(f);
  return ok ? static_cast<double>(pages) * static_cast<double>(sysconf(_SC_PAGE_SIZE)) : 0;
}

double address_space_headroom_bytes() {
  const double limit = address_space_limit_bytes();
  if (limit <= 0) return std::numeric_limits<double>::infinity();
  // By now OpenBLAS has mapped its per-thread buffers (they are in mapped);
  // the ones for calling threads come with the first products.
  return limit - mapped_bytes() - blas_threads_from_environment() * kBlasBufferBytes;
}

namespace {

// The check with no C++ objects, so that it can run before the C++ runtime
// is initialised. Writes the message to out and returns true on a shortfall.
bool shortfall(double limit_bytes, double mapped, int threads, char* out, size_t size) {
  if (limit_bytes <= 0) return false;
  const double needed = 2.0 * threads * kBlasBufferBytes;
  if (mapped + needed <= limit_bytes) return false;
  std::snprintf(out, size,
                "mhc: the address-space limit (ulimit -v %.0f, in KiB: %.0f MiB) is too small. The program and "
                "its libraries take %.0f MiB of it, and OpenBLAS needs %.0f MiB more for its buffers (128 MiB for "
                "each of %d threads when it loads and again when they multiply); without them it would retry "
                "forever. Raise the limit (ulimit -v) or use fewer threads (OMP_NUM_THREADS).",
                limit_bytes / 1024, limit_bytes / kMiB, mapped / kMiB, needed / kMiB, threads);
  return true;
}

}  // namespace

std::string blas_buffers_shortfall(double limit_bytes, double mapped, int threads) {
  char buf[600];
  return shortfall(limit_bytes, mapped, threads, buf, sizeof buf) ? std::string(buf) : std::string();
}

namespace {

// Runs before every shared library's initialiser, OpenBLAS's included. Only
// the C library is usable here: no C++ static object is constructed yet.
void check_address_space_before_openblas(int, char**, char** envp) {
  char why[600];
  if (!shortfall(address_space_limit_bytes(), mapped_bytes(), blas_threads_from_environment(envp), why, sizeof why))
    return;
  std::fprintf(stderr, "%s\n", why);
  std::fflush(stderr);
  _exit(1);
}

}  // namespace

void link_address_space_check() {}

}  // namespace mhc::cpu

// .preinit_array exists only in executables; a shared library that linked
// this object would be refused by the linker, which is the right outcome.
__attribute__((section(".preinit_array"), used)) static void (*const mhc_preinit_address_space)(int, char**, char**) =
    &mhc::cpu::check_address_space_before_openblas;
