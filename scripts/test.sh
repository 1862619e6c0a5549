#!/usr/bin/env bash
# scripts/test.sh — set up and build (scripts/setup.sh), then run every test
# through ctest. CUDA tests skip, saying so, on a machine without a GPU.
# Then the same tests again, built with AddressSanitizer and
# UndefinedBehaviorSanitizer (CPU only, in build-asan/): a memory error, a
# leak or undefined behaviour (signed overflow, a misaligned load, ...) fails.
#
#   MHC_BUILD_DIR        Release build folder (default: build)
#   MHC_SANITIZERS=0     skip the sanitizer phase (a quick local run)
#   MHC_ASAN_BUILD_DIR   sanitizer build folder (default: build-asan)
#   MHC_SECOND_KERNEL=0  skip the second-kernel pass (below)
#
# Between the two phases, the tests whose figures depend on floating-point
# summation order (tutorial pages, gradchecks, the PyTorch twin, determinism,
# resume and fixtures) run again under another OpenBLAS kernel than the one
# the first pass used, so a figure that holds on one kernel only fails here
# and not first on the next machine. Only where the environment sets neither
# OPENBLAS_CORETYPE nor OPENBLAS_L2_SIZE: a machine that sets them does so
# because other kernels misbehave there, and neither this script nor a test
# overrides that.
# Arguments go to both ctest runs, e.g. scripts/test.sh -R sinkhorn.
# Exits non-zero when either phase fails.
set -euo pipefail
cd "$(dirname "$0")/.."
phase() { printf '\n==== test.sh [%dm%02ds]: %s ====\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*"; }

# ctest says only "Skipped"; each skipping test printed why (a line with SKIPPED).
explain_skips() {
  local log="$1/Testing/Temporary/LastTest.log"
  if [[ -f "$log" ]] && grep -q "SKIPPED" "$log"; then
    echo "Why tests were skipped:"
    grep -h "SKIPPED" "$log" | sort -u | sed 's/^/  /'
  fi
}

# ctest runs tests side by side: let idle OpenMP threads sleep instead of
# spinning, or parallel tests on 2 cores slow each other down tenfold.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}

# ---- phase 1: the Release build and its tests --------------------------------
phase "1/2 Release: build (${MHC_BUILD_DIR:-build}/)"
scripts/setup.sh
build=${MHC_BUILD_DIR:-build}
phase "1/2 Release: tests (ctest in $build/)"
release=0
ctest --test-dir "$build" --output-on-failure -j"$(nproc)" "$@" || release=$?
explain_skips "$build"

# ---- phase 1b: the numerics-sensitive tests under a second OpenBLAS kernel ----
second=0
numerics='tutorial_|exercise_|gradcheck|torch_twin|determinis|bit-identical|bit for bit|resume|fixture|thread count'
if [[ "${MHC_SECOND_KERNEL:-1}" == "0" ]]; then
  phase "1b second kernel: skipped (MHC_SECOND_KERNEL=0)"
elif [[ -n "${OPENBLAS_CORETYPE:-}${OPENBLAS_L2_SIZE:-}" ]]; then
  phase "1b second kernel: skipped (the environment sets OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE; obeyed as it is)"
else
  # The kernel the first pass ran (OpenBLAS names it at load; the last name is
  # the one after mhc's choice), and another that this CPU can run.
  # (Catch2's --list-test-names-only exits with the number of tests.)
  first=$({ OPENBLAS_VERBOSE=2 "$build/tests/test_blas_runtime" --list-test-names-only 2>&1 || true; } |
    sed -n 's/^Core: //p' | tail -1)
  other=Haswell
  if [[ "${first,,}" == haswell ]] || ! grep -qw avx2 /proc/cpuinfo; then other=Prescott; fi
  phase "1b second kernel: the numerics-sensitive tests under OPENBLAS_CORETYPE=$other (first pass: ${first:-unknown})"
  OPENBLAS_CORETYPE=$other ctest --test-dir "$build" --output-on-failure -j"$(nproc)" -R "$numerics" "$@" || second=$?
fi

if [[ "${MHC_SANITIZERS:-1}" == "0" ]]; then
  phase "2/2 sanitizers: skipped (MHC_SANITIZERS=0)"
  ((release == 0)) && echo "test.sh: Release tests passed" || echo "test.sh: Release tests FAILED" >&2
  ((second == 0)) || echo "test.sh: second-kernel tests FAILED" >&2
  ((release == 0 && second == 0))
  exit
fi

# ---- phase 2: ASan + UBSan build (CPU only) and the same tests ---------------
# Its own folder: instrumented objects differ from the Release ones. Only
# what ctest runs is built (the libraries, mhc, tests, tutorials; no benches).
asan=${MHC_ASAN_BUILD_DIR:-build-asan}
phase "2/2 sanitizers: build ($asan/, ASan + UBSan, CPU only)"
# The same set-up as the Release build (progress, log, errors), in its own folder.
MHC_BUILD_DIR="$asan" MHC_CUDA=OFF MHC_CMAKE_ARGS="-DMHC_SANITIZE=ON" scripts/setup.sh

phase "2/2 sanitizers: tests (ctest in $asan/)"
# Every report goes to a file in $reports (also those of `mhc` processes the
# CLI tests start, whose exit codes a test may read as an expected failure);
# any file there fails the phase, and they are printed after ctest (a failing
# test's ctest output lacks its report). UBSan aborts at its first finding
# (-fno-sanitize-recover=undefined; halt_on_error says the same at run time).
# LeakSanitizer ignores only what scripts/lsan.supp lists, each with its reason.
reports="$(cd "$asan" && pwd)/sanitizer-reports"
rm -rf "$reports" && mkdir -p "$reports"
export ASAN_OPTIONS="detect_leaks=1:handle_abort=1:check_initialization_order=1:strict_init_order=1:log_path=$reports/asan"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$reports/ubsan"
export LSAN_OPTIONS="suppressions=$PWD/scripts/lsan.supp:print_suppressions=0"
sanitized=0
ctest --test-dir "$asan" --output-on-failure -j"$(nproc)" "$@" || sanitized=$?
explain_skips "$asan"
if compgen -G "$reports/*" >/dev/null; then
  files=("$reports"/*)
  echo "test.sh: ${#files[@]} sanitizer report(s) in $reports/ (file name: sanitizer.pid):" >&2
  for f in "${files[@]}"; do  # one line each: the finding and where
    echo "  $(basename "$f"): $(grep -m1 -E "SUMMARY:|runtime error:" "$f" || head -n1 "$f")" >&2
  done
  for f in "${files[@]:0:3}"; do  # the first three in full
    printf '\n---- %s\n' "$f" >&2
    cat "$f" >&2
  done
  sanitized=1
fi

phase "summary"
((release == 0)) && echo "test.sh: Release tests passed" || echo "test.sh: Release tests FAILED" >&2
((second == 0)) && echo "test.sh: second-kernel tests passed" || echo "test.sh: second-kernel tests FAILED" >&2
((sanitized == 0)) && echo "test.sh: sanitizer tests passed" || echo "test.sh: sanitizer tests FAILED" >&2
((release == 0 && second == 0 && sanitized == 0))
