#!/usr/bin/env bash
# test_torch_twin.sh — checks mhc against its PyTorch twin (scripts/torch_model.py).
#
#   scripts/test_torch_twin.sh MHC_BINARY WORK_DIR
#
# For each model variant below: trains a tiny run (2 blocks, C = 32, 20 steps on
# synthetic:addition, a learning rate high enough to move every weight off its
# init), exports its weights, dumps its first validation batch with
# `mhc eval --dump-batch`, and runs the twin with /usr/bin/python3 (Debian's
# PyTorch, not whatever python3 is first on PATH), which exits non-zero when
# logits differ by more than 1e-4 or a gradient by more than 1e-3 relative.
# Exits 77 (ctest: skipped) when /usr/bin/python3 has no torch or numpy.
set -u
MHC=${1:?usage: test_torch_twin.sh MHC_BINARY WORK_DIR}
WORK=${2:?usage: test_torch_twin.sh MHC_BINARY WORK_DIR}
PY=/usr/bin/python3
TWIN="$(cd "$(dirname "$0")" && pwd)/torch_model.py"
export OMP_WAIT_POLICY=PASSIVE

if ! "$PY" -c 'import torch, numpy' 2>/dev/null; then
  echo "SKIP: $PY cannot import torch and numpy (scripts/setup.sh installs python3-torch and python3-numpy)"
  exit 77
fi
[ -x "$MHC" ] || { echo "FAIL: no mhc binary at $MHC"; exit 1; }

# name | flags (beyond the common ones)
VARIANTS=(
  "residual-gelu|--residual residual"
  "hc-gelu|--residual hc --streams 4"
  "hc-static-swiglu|--residual hc --streams 2 --hc.static --model.ffn swiglu"
  "mhc-gelu|--residual mhc --streams 4"
  "mhc-peaked-swiglu-learned-tied|--residual mhc --streams 4 --hc.alpha_init 1 --hc.phi_init_std 0.3 --model.ffn swiglu --hc.collapse learned --model.tie_embeddings"
  "mhc-fused-recompute|--residual mhc --streams 4 --hc.alpha_init 1 --hc.phi_init_std 0.3 --hc.fused on --hc.recompute"
  "mhc-fixed-gate|--residual mhc --streams 2 --hc.gate fixed"
  "mhc-peaked-n3-3iters|--residual mhc --streams 3 --hc.alpha_init 1 --hc.phi_init_std 0.5 --hc.sinkhorn_iters 3"
  "mhc-peaked-moe|--residual mhc --streams 4 --hc.alpha_init 1 --hc.phi_init_std 0.3 --model.ffn moe --moe.routed 4 --moe.top_k 2 --moe.shared 1 --moe.hidden 32"
  "residual-moe-sigmoid|--residual residual --model.ffn moe --moe.routed 4 --moe.top_k 2 --moe.shared 0 --moe.hidden 32 --moe.router sigmoid --moe.dense_layers 1"
  "hc-moe|--residual hc --streams 2 --model.ffn moe --moe.routed 4 --moe.top_k 1 --moe.shared 1 --moe.hidden 32"
)
COMMON="--data synthetic:addition --model.blocks 2 --model.width 32 --model.heads 2 --model.block_size 32
  --optim.steps 20 --optim.batch_size 4 --optim.lr 0.01 --optim.warmup 0 --moe.bias_rate 0.01
  --eval.every 20 --eval.batches 1 --eval.sample_tokens 0"

rm -rf "$WORK" && mkdir -p "$WORK" || exit 1
failed=()
for v in "${VARIANTS[@]}"; do
  name=${v%%|*}
  flags=${v#*|}
  run="$WORK/$name"
  echo "=== $name: $flags"
  # shellcheck disable=SC2086
  if ! "$MHC" train $COMMON $flags --run "$run" >"$run.log" 2>&1 ||
     ! "$MHC" export "$run" >>"$run.log" 2>&1 ||
     ! "$MHC" eval --run "$run" --dump-batch "$run/dump.safetensors" >>"$run.log" 2>&1; then
    cat "$run.log"
    echo "FAIL: $name: mhc failed"
    failed+=("$name")
    continue
  fi
  if ! "$PY" "$TWIN" --weights "$run/model.safetensors" --batch "$run/dump.safetensors" --grads --show 3; then
    failed+=("$name")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAIL: the twin does not match mhc for: ${failed[*]}"
  exit 1
fi
echo "all ${#VARIANTS[@]} variants match"
