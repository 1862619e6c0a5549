#!/usr/bin/env bash
# scripts/run.sh — set up and build (scripts/setup.sh), then run the main job:
# train the cpu-char model (residual stream) on Tiny Shakespeare, which the
# repository carries in data/, into a fresh run directory under runs/.
# Extra arguments go to `mhc train`, e.g. `scripts/run.sh --residual mhc`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
build=${MHC_BUILD_DIR:-build}
args=("$@")
given() { [[ " ${args[*]} " == *" $1 "* || " ${args[*]} " == *" $1="* ]]; }
given --preset || args+=(--preset cpu-char)
given --run || args+=(--run "runs/$(date +%Y%m%d-%H%M%S)")  # a new directory: nothing is overwritten
exec "$build/mhc" train "${args[@]}"
