#!/usr/bin/env bash
# scripts/run.sh — set up and build (scripts/setup.sh), then run the main job.
# Until the trainer lands this is the autograd tutorial program.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
build=${MHC_BUILD_DIR:-build}
"$build/tutorials/tutorial_01_autograd" "$@"
