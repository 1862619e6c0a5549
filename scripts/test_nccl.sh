#!/usr/bin/env bash
# scripts/test_nccl.sh MHC WORKDIR HAVE_MPI HAVE_NCCL — data-parallel training
# on GPUs through NCCL (ctest test_nccl). Skipped (77), saying why, without
# MPI or NCCL in the build, without mpirun, or without a GPU.
#   K = 1: `mpirun -np 1 mhc train --device cuda` takes the NCCL path and must
#          equal the plain run bit for bit;
#   K >= 2 GPUs: K ranks with batch 8/K match one rank with batch 8 to 1e-5
#          relative, and are bit-identical run to run.
set -euo pipefail
here=$(dirname "$(realpath "$0")")
mhc=$(realpath "$1")
work=$2
skip() { echo "SKIPPED: test_nccl: $*"; exit 77; }
[[ "$3" == "ON" ]] || skip "this build has no MPI (install libopenmpi-dev openmpi-bin and reconfigure)"
[[ "$4" == "ON" ]] || skip "this build found no NCCL (nccl.h, libnccl.so) under the CUDA toolkit"
command -v mpirun >/dev/null || skip "mpirun is not installed"
gpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)
((gpus >= 1)) || skip "no GPU is visible (nvidia-smi -L lists none)"
rm -rf "$work" && mkdir -p "$work" && cd "$work"
mpi=(mpirun --allow-run-as-root --oversubscribe)
common=(--device cuda --data synthetic:grammar --model.blocks 2 --model.width 64 --model.heads 2 --model.block_size 64
        --residual mhc --streams 4 --model.ffn moe --model.dropout 0 --optim.steps 20 --optim.warmup 0
        --optim.schedule constant --eval.every 10 --eval.batches 2 --eval.sample_tokens 0 --data.cache_dir cache)
compare() { /usr/bin/env python3 "$here/compare_metrics.py" "$@"; }  # A B TOL (0: bit for bit)
"$mhc" train "${common[@]}" --optim.batch_size 8 --run plain >plain.log 2>&1 || { cat plain.log; exit 1; }
"${mpi[@]}" -np 1 "$mhc" train "${common[@]}" --optim.batch_size 8 --run nccl1 >nccl1.log 2>&1 || { cat nccl1.log; exit 1; }
grep -q "averaged over NCCL" nccl1.log || { echo "FAIL: mpirun -np 1 did not take the NCCL path"; exit 1; }
compare plain nccl1 0 --loads
if ((gpus >= 2)); then
  k=$gpus
  ((8 % k == 0)) || k=2
  for r in multi multi_again; do
    "${mpi[@]}" -np $k "$mhc" train "${common[@]}" --optim.batch_size $((8 / k)) --run $r >$r.log 2>&1 || { cat $r.log; exit 1; }
  done
  compare plain multi 1e-5
  compare multi multi_again 0
else
  echo "note: test_nccl: one GPU: the K >= 2 checks need more GPUs and did not run"
fi
echo "test_nccl: passed"
