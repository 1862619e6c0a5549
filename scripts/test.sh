#!/usr/bin/env bash
# scripts/test.sh — set up and build (scripts/setup.sh), then run every test
# through ctest. CUDA tests skip, saying so, on a machine without a GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
build=${MHC_BUILD_DIR:-build}
ctest --test-dir "$build" --output-on-failure -j"$(nproc)" "$@"
