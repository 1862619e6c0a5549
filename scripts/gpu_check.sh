#!/usr/bin/env bash
# scripts/gpu_check.sh — what a GPU session runs, on the GPU machine, from a
# bundle made by scripts/device_bundle.sh: the CUDA tests, then the training
# step benchmark. Logs go to $OUT (or ./gpu-logs).
set -uo pipefail
out=${OUT:-gpu-logs}
mkdir -p "$out"
rm -rf .device && tar xJf .device.tar.xz  # always the bundle that came with this call
export LD_LIBRARY_PATH=$PWD/.device${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export MHC_DATA_DIR=$PWD/.device/data MHC_CACHE_DIR=/tmp/mhc-cache
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv | tee "$out/gpu.txt"
for t in test_cuda_backend test_cuda_model test_cuda_mhc; do
  timeout 300 .device/$t "$@" > "$out/$t.log" 2>&1
  echo "$t: exit $?"; tail -4 "$out/$t.log"
done
