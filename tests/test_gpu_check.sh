#!/usr/bin/env bash
# tests/test_gpu_check.sh — scripts/gpu_check.sh's own logic, on a machine
# without a GPU (ctest test_gpu_check). The bundle is faked: every binary
# gpu_check.sh runs is a small script that prints what the real one prints
# (a bench table, a metrics.jsonl), so the test checks what the GPU session
# will rely on: each check's pass / fail, the bounds on the validation
# losses, the figures parsed into summary.json, valid JSON, and a non-zero
# exit when a check fails.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/scripts" "$work/experiments" "$work/.device/data"
cp "$repo/scripts/gpu_check.sh" "$work/scripts/"
cp "$repo/experiments/gpu-variants.json" "$work/experiments/"
fake() {  # NAME BODY: an executable script in the fake bundle
  printf '#!/usr/bin/env bash\n%s\n' "$2" >"$work/.device/$1"
  chmod +x "$work/.device/$1"
}
for t in test_cuda_backend test_cuda_model test_cuda_mhc tutorial_06_cuda; do fake "$t" 'echo "All tests passed"'; done
fake bench_train_step 'echo "   variant  streams    ms/step"; for v in residual mhc mhc-rc hc; do echo "  $v 4 12.50 1000 10% 100 1.000x 0.0"; done'
fake bench_mhc_kernels 'echo "fused site forward 0.7 ms"'
# mhc: `train` writes a metrics.jsonl whose last validation loss is 2.1 for
# the residual (inside the bounds) and 4.2 for mHC (a broken run: outside);
# `sweep` prints a plan.
fake mhc 'run=""; residual=""; prev=""
for a in "$@"; do [[ $prev == --run ]] && run=$a; [[ $prev == --residual ]] && residual=$a; prev=$a; done
if [[ $1 == train ]]; then
  mkdir -p "$run"; loss=2.1; [[ $residual == mhc ]] && loss=4.2
  printf "{\"step\":0,\"val_loss\":4.17}\n{\"step\":300,\"val_loss\":%s}\n" "$loss" >"$run/metrics.jsonl"
fi
echo "mhc $1 done"'
(cd "$work" && tar cJf .device.tar.xz .device && rm -rf .device)

status=0
OUT="$work/out" GPU_CHECK_WORK="$work/runs" bash "$work/scripts/gpu_check.sh" >"$work/log" 2>&1 || status=$?
cat "$work/log"
fail() { echo "FAIL: test_gpu_check: $*"; exit 1; }
((status != 0)) || fail "gpu_check.sh exited 0 although the mHC run's validation loss is outside its bounds"
summary="$work/out/summary.json"
[[ -f $summary ]] || fail "no summary.json"
/usr/bin/env python3 - "$summary" <<'EOF' || fail "summary.json is not what it should be"
import json, sys
s = json.load(open(sys.argv[1]))
checks = {c["check"]: c for c in s["checks"]}
expected = ["test_cuda_backend", "test_cuda_model", "test_cuda_mhc", "tutorial_06_cuda", "bench_shakespeare_char",
            "bench_moe_1280", "bench_mhc_kernels", "train_residual", "train_mhc", "sweep_dry_run", "nccl_k1"]
assert list(checks) == expected, list(checks)
assert checks["train_residual"]["status"] == "pass", checks["train_residual"]
assert checks["train_residual"]["figures"]["val_loss"] == 2.1
assert checks["train_mhc"]["status"] == "fail" and checks["train_mhc"]["figures"]["val_loss"] == 4.2
assert checks["bench_shakespeare_char"]["figures"]["ms_per_step"]["mhc-rc_ms"] == 12.5
assert checks["nccl_k1"]["status"] == "skip"
assert s["failed"] == 1, s["failed"]
print("summary.json: 11 checks, the broken run failed, the rest passed, figures parsed")
EOF
echo "test_gpu_check: ok"
