// address_space.h — the address-space limit (`ulimit -v`, RLIMIT_AS) against
// what OpenBLAS and a run need, so that a limit too small is refused with a
// message instead of a hang.
//
// OpenBLAS 0.3 (x86-64) takes one buffer of 128 MiB per thread when it loads,
// and one more for each thread that calls it; when the operating system
// refuses one, it retries forever, spinning at full CPU without a word. It
// loads before main, so the check runs earlier still: a function in the
// program's .preinit_array (address_space.cpp), which glibc calls before any
// shared library's initialiser.
#pragma once
#include <string>

namespace mhc::cpu {

// OpenBLAS's BUFFER_SIZE on x86-64 (32 << 22 bytes) plus the two guard pages
// it maps beside each buffer.
constexpr double kBlasBufferBytes = 134217728.0 + 2 * 4096.0;

// The threads OpenBLAS will start, read as it reads them:
// OPENBLAS_NUM_THREADS, then GOTO_NUM_THREADS, then OMP_NUM_THREADS, else the
// processors online, and never more than those. MHC_TEST_BLAS_THREADS (a
// test hook) replaces the answer, uncapped. envp: the environment to read (null: this process's).
int blas_threads_from_environment(char** envp = nullptr);

// The limit in bytes, or 0 when there is none.
double address_space_limit_bytes();

// Bytes of address space this process has mapped now (/proc/self/statm).
double mapped_bytes();

// What is left under the limit for the run's own memory once OpenBLAS holds
// all its buffers: limit − mapped − the buffers not mapped yet. A negative
// value means OpenBLAS itself will not fit. Infinity when there is no limit.
double address_space_headroom_bytes();

// Empty when OpenBLAS's buffers (2 × threads of them: one per thread at
// load, one per calling thread) fit under limit_bytes beside mapped_bytes;
// else the message that refuses the start, naming the limit. A pure
// function, for the tests.
std::string blas_buffers_shortfall(double limit_bytes, double mapped, int threads);

// Does nothing; blas_runtime.cpp calls it so that a static link always takes
// address_space.o, and with it the .preinit_array check.
void link_address_space_check();

}  // namespace mhc::cpu
