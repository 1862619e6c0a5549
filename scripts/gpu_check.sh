#!/usr/bin/env bash
# scripts/gpu_check.sh — the one command a GPU session runs, on the GPU
# machine, from the bundle that scripts/device_bundle.sh made (.device.tar.xz
# in the repository root). In at most ~8 minutes on one H100 or H200:
#
#   1. every CUDA test (test_cuda_backend, test_cuda_model, test_cuda_mhc) and
#      tutorial 06 (the CPU against the CUDA backend);
#   2. bench_train_step: shakespeare-char bf16 (residual, mhc, mhc-rc, hc) and
#      moe-1280 bf16 (residual, mhc); bench_mhc_kernels;
#   3. 300 steps of shakespeare-char in bf16, residual and mHC, whose final
#      validation losses must fall inside bounds that a correct run meets;
#   4. `mhc sweep experiments/gpu-variants.json --dry-run`;
#   5. the NCCL path at K = 1: skipped, saying why (the bundle has no MPI, so
#      no NCCL transport: see device_bundle.sh).
#
# Logs go to $OUT (or ./gpu-logs), one per check, and one JSON summary,
# summary.json: every check with pass / fail / skip, its seconds and its
# figures. Exits non-zero when any check fails.
#
#   scripts/gpu_check.sh            # everything
#   GPU_CHECK_QUICK=1 scripts/...   # 60 training steps instead of 300 (a rerun)
#   GPU_CHECK_WORK=DIR              # where the runs go (default /tmp/gpu-check, emptied first)
set -uo pipefail
cd "$(dirname "$0")/.."
out=$(realpath -m "${OUT:-gpu-logs}")
mkdir -p "$out"
[[ -f .device.tar.xz ]] || { echo "gpu_check: no .device.tar.xz here; run scripts/device_bundle.sh first" >&2; exit 2; }
rm -rf .device && tar xJf .device.tar.xz  # always the bundle that came with this call
export LD_LIBRARY_PATH=$PWD/.device${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export MHC_DATA_DIR=$PWD/.device/data MHC_CACHE_DIR=/tmp/mhc-cache
work=${GPU_CHECK_WORK:-/tmp/gpu-check}  # run directories: large, so not under $OUT
rm -rf "$work" && mkdir -p "$work"
steps=300
[[ "${GPU_CHECK_QUICK:-0}" == "1" ]] && steps=60
# A correct shakespeare-char run in bf16 is well below the character unigram
# entropy (about 3.3 nats) after 300 steps and above what memorising the
# corpus would give; a broken kernel stays near ln(65) = 4.17 or goes NaN.
val_max=2.8 val_min=0.9
((steps < 300)) && val_max=3.3

summary=()  # JSON objects, one per check
record() {  # NAME STATUS SECONDS FIGURES-JSON
  summary+=("{\"check\":\"$1\",\"status\":\"$2\",\"seconds\":$3,\"figures\":${4:-{\}}}")
  printf '%-34s %-5s %4ss\n' "$1" "$2" "$3"
}
# run NAME TIMEOUT CMD...: runs CMD with its output in $out/NAME.log; pass on exit 0.
run() {
  local name=$1 limit=$2
  shift 2
  local t0=$SECONDS
  timeout "$limit" "$@" >"$out/$name.log" 2>&1
  local rc=$?
  local status=pass
  ((rc == 0)) || status=fail
  ((rc == 124)) && echo "  (timed out after ${limit}s)" >>"$out/$name.log"
  record "$name" "$status" $((SECONDS - t0)) "{\"exit\":$rc}"
  [[ $status == pass ]] || tail -5 "$out/$name.log" | sed 's/^/    /'
}

nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv | tee "$out/gpu.txt"
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)

# 1. Tests.
for t in test_cuda_backend test_cuda_model test_cuda_mhc; do run "$t" 300 .device/$t; done
run tutorial_06_cuda 120 .device/tutorial_06_cuda

# 2. Benchmarks: the figures go into the summary as the tables' rows.
bench_rows() {  # LOG -> JSON object of variant: ms/step
  awk 'BEGIN{printf "{"; n=0} $1 ~ /^(residual|hc|mhc|mhc-rc|mhc-fused|mhc-unfused)$/ && $3 ~ /^[0-9.]+$/ {
         printf "%s\"%s_ms\":%s", (n++ ? "," : ""), $1, $3 } END{printf "}"}' "$1"
}
bench() {  # NAME ARGS...
  local name=$1
  shift
  run "$name" 180 .device/bench_train_step --device cuda --dtype bf16 --steps 10 --warmup 3 "$@"
  local last=${summary[-1]}
  summary[-1]="${last%\}\}},\"ms_per_step\":$(bench_rows "$out/$name.log")}}"  # into its figures
}
bench bench_shakespeare_char --preset shakespeare-char --variants residual,mhc,mhc-rc,hc
bench bench_moe_1280 --preset moe-1280 --variants residual,mhc
run bench_mhc_kernels 120 .device/bench_mhc_kernels --device cuda

# 3. Training: 300 steps each, validation loss within bounds.
train() {  # VARIANT
  local name=train_$1 t0=$SECONDS
  timeout 240 .device/mhc train --preset shakespeare-char --device cuda --dtype bf16 --residual "$1" \
    --optim.steps "$steps" --eval.every "$steps" --eval.sample_tokens 0 --run "$work/$1" \
    >"$out/$name.log" 2>&1
  local rc=$?
  local val
  val=$(grep -o '"val_loss":[0-9.eE+-]*' "$work/$1/metrics.jsonl" 2>/dev/null | tail -1 | cut -d: -f2)
  local status=fail
  if ((rc == 0)) && [[ -n "$val" ]] && awk -v v="$val" -v lo="$val_min" -v hi="$val_max" 'BEGIN{exit !(v > lo && v < hi)}'; then
    status=pass
  fi
  record "$name" "$status" $((SECONDS - t0)) "{\"exit\":$rc,\"steps\":$steps,\"val_loss\":${val:-null},\"bounds\":[$val_min,$val_max]}"
  [[ $status == pass ]] || tail -5 "$out/$name.log" | sed 's/^/    /'
}
train residual
train mhc

# 4. The GPU sweep's plan.
run sweep_dry_run 120 .device/mhc sweep experiments/gpu-variants.json --dry-run --dir "$work/sweeps"

# 5. NCCL at K = 1.
record nccl_k1 skip 0 '{"why":"the bundle is built without MPI (device_bundle.sh), so it has no NCCL transport"}'

failed=0
for s in "${summary[@]}"; do [[ $s == *'"status":"fail"'* ]] && failed=$((failed + 1)); done
{
  printf '{"gpu":"%s","steps":%s,"failed":%s,"checks":[\n' "$gpu" "$steps" "$failed"
  (IFS=$'\n'; echo "${summary[*]}" | sed '$!s/$/,/')
  printf ']}\n'
} >"$out/summary.json"
echo "gpu_check: ${#summary[@]} checks, $failed failed; summary in $out/summary.json"
((failed == 0))
