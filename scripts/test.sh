#!/usr/bin/env bash
# scripts/test.sh — set up and build (scripts/setup.sh), then run every test
# through ctest. CUDA tests skip, saying so, on a machine without a GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
build=${MHC_BUILD_DIR:-build}
# ctest runs tests side by side: let idle OpenMP threads sleep instead of
# spinning, or parallel tests on 2 cores slow each other down tenfold.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
status=0
ctest --test-dir "$build" --output-on-failure -j"$(nproc)" "$@" || status=$?
# ctest says only "Skipped"; each skipping test printed why (a line with SKIPPED).
log="$build/Testing/Temporary/LastTest.log"
if [[ -f "$log" ]] && grep -q "SKIPPED" "$log"; then
  echo "Why tests were skipped:"
  grep -h "SKIPPED" "$log" | sort -u | sed 's/^/  /'
fi
exit "$status"
