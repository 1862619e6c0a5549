#!/usr/bin/env bash
# scripts/test_data_parallel.sh MHC WORKDIR HAVE_MPI — data-parallel training
# on the CPU under mpirun (ctest test_data_parallel). Skipped (77) when the
# build has no MPI or mpirun is missing. Checks, on a tiny MoE + mHC model:
#   1. mpirun -np 1 gives the bits of a plain run (the MPI path with one rank);
#   2. 2 ranks x batch 4 give the losses, gradient norms and validation losses
#      of 1 rank x batch 8 to within 1e-5 relative, and the same expert loads;
#   3. 2 ranks are bit-identical run to run, and with any bucketing; one
#      process evaluating their checkpoint gets their validation loss;
#   4. a 2-rank run resumed from its checkpoint is bit-identical to one that
#      was not stopped, and resuming it as one process is refused;
#   5. rank 0 alone writes files (rank 1 runs in another folder that stays empty),
#      and ranks started with different settings are refused;
#   6. a stop signal (Ctrl-C, SIGTERM) that reaches one rank stops every rank
#      after the same step, with a checkpoint there;
#   7. a divergence stops every rank at the same step;
#   8. a rank that fails, or is killed, ends the whole job with a message
#      naming it, and the checkpoint written before is intact;
#   9. on memory-mapped token files (llm.c shards) 2 ranks x batch 4 match
#      1 process x batch 8.
set -euo pipefail
here=$(dirname "$(realpath "$0")")
mhc=$(realpath "$1")
work=$2
have_mpi=$3
if [[ "$have_mpi" != "ON" ]]; then
  echo "SKIPPED: test_data_parallel: this build has no MPI (install libopenmpi-dev openmpi-bin and reconfigure)"
  exit 77
fi
if ! command -v mpirun >/dev/null; then
  echo "SKIPPED: test_data_parallel: mpirun is not installed (apt-get install openmpi-bin)"
  exit 77
fi
rm -rf "$work" && mkdir -p "$work" && cd "$work"
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE  # one thread per rank: 2 ranks on 2 cores
# Under AddressSanitizer (scripts/test.sh, phase 2) the ranks keep every
# check but leak detection: OpenMPI never frees what MPI_Init allocates, and
# its frames cannot be told apart reliably enough to suppress. The same
# trainer code runs leak-checked in the plain runs here and in test_train.
mpi=(env "ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" mpirun --allow-run-as-root --oversubscribe)
common=(--data synthetic:grammar --model.blocks 2 --model.width 32 --model.heads 2 --model.block_size 32
        --residual mhc --streams 4 --model.ffn moe --model.dropout 0 --optim.warmup 0 --optim.schedule constant
        --eval.every 10 --eval.batches 2 --eval.sample_tokens 0 --data.cache_dir cache)
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
pass() { echo "ok: $*"; }

# compare A B TOL: every loss, grad_norm and val_loss of A and B agree to
# relative TOL (0: bit for bit), and so do the expert loads.
compare() { /usr/bin/env python3 "$here/compare_metrics.py" "$@" --loads; }

steps=(--optim.steps 20)
"$mhc" train "${common[@]}" "${steps[@]}" --optim.batch_size 8 --run one >one.log 2>&1 || { cat one.log; exit 1; }
"${mpi[@]}" -np 1 "$mhc" train "${common[@]}" "${steps[@]}" --optim.batch_size 8 --run np1 >np1.log 2>&1 || { cat np1.log; exit 1; }
grep -q "data parallel: 1 rank" np1.log || fail "mpirun -np 1 did not take the MPI path"
# A log in a file holds plain lines: no carriage returns or terminal escapes (mpirun hands ranks a pty).
if grep -q $'\r\|\x1b' np1.log; then fail "the mpirun log holds terminal redraws"; else pass "the mpirun log is plain text"; fi
compare one np1 0 && pass "mpirun -np 1 equals the plain run bit for bit" || fail "mpirun -np 1 differs from the plain run"

for r in two two_again; do
  "${mpi[@]}" -np 2 "$mhc" train "${common[@]}" "${steps[@]}" --optim.batch_size 4 --run $r >$r.log 2>&1 || { cat $r.log; exit 1; }
done
"${mpi[@]}" -np 2 "$mhc" train "${common[@]}" "${steps[@]}" --optim.batch_size 4 --run two_blocking \
  --dist.bucket_mb 0 --dist.reduce blocking >two_blocking.log 2>&1 || { cat two_blocking.log; exit 1; }
compare one two 1e-5 && pass "2 ranks x batch 4 match 1 rank x batch 8 to 1e-5" || fail "2 ranks differ from 1 rank"
compare two two_again 0 && pass "2 ranks: bit-identical run to run" || fail "2 ranks: not repeatable"
compare two two_blocking 0 && pass "2 ranks: bucketing does not change a bit" || fail "2 ranks: bucketing changed results"

# mhc eval of a 2-rank run, by one process, with the run's --eval.batches, scores the windows both
# ranks scored: the run's last validation loss.
logged=$(/usr/bin/env python3 -c "import json; print('%.4f' % [json.loads(l) for l in open('two/metrics.jsonl') if 'val_loss' in l][-1]['val_loss'])")
evaluated=$("$mhc" eval --run two --batches 2 | sed -n 's/.*val loss \([0-9.]*\).*/\1/p')
[[ "$logged" == "$evaluated" ]] && pass "mhc eval of the 2-rank run gives its logged val loss $logged" ||
  fail "mhc eval of the 2-rank run: $evaluated, logged $logged"

# Resume: 10 steps, then continue to 20 (constant learning rate: the schedule does not depend on the length).
"${mpi[@]}" -np 2 "$mhc" train "${common[@]}" --optim.steps 10 --optim.batch_size 4 --run resumed >resumed.log 2>&1 || { cat resumed.log; exit 1; }
"${mpi[@]}" -np 2 "$mhc" train --run resumed --resume --optim.steps 20 >>resumed.log 2>&1 || { cat resumed.log; exit 1; }
compare two resumed 0 && pass "2 ranks: resume is bit-identical" || fail "2 ranks: resume differs"
if "$mhc" train --run resumed --resume --optim.steps 30 >wrong_k.log 2>&1; then
  fail "resuming a 2-rank checkpoint as one process was accepted"
elif grep -q "written by 2 rank(s) and this job has 1" wrong_k.log; then
  pass "resume with another rank count is refused: $(grep -o 'written by 2 rank(s)[^;]*' wrong_k.log)"
else
  fail "unexpected message: $(cat wrong_k.log)"
fi

# Rank 0 alone writes: rank 1 starts in its own empty folder, with relative paths.
mkdir -p r0 r1
"${mpi[@]}" -np 1 -wdir "$PWD/r0" "$mhc" train "${common[@]}" --optim.steps 10 --optim.batch_size 4 --run run : \
  -np 1 -wdir "$PWD/r1" "$mhc" train "${common[@]}" --optim.steps 10 --optim.batch_size 4 --run run >files.log 2>&1 ||
  { cat files.log; exit 1; }
if [[ -f r0/run/checkpoint.safetensors && -f r0/run/metrics.jsonl && -z "$(ls -A r1)" ]]; then
  pass "rank 0 alone writes files ($(ls r0/run | wc -l) in its run folder, rank 1's folder empty)"
else
  fail "files: rank 0 has [$(ls r0/run 2>/dev/null | tr '\n' ' ')], rank 1 has [$(ls -A r1 | tr '\n' ' ')]"
fi

# Ranks started with different settings are refused before training.
if "${mpi[@]}" -np 1 "$mhc" train "${common[@]}" --optim.steps 10 --optim.batch_size 4 --run mismatch : \
  -np 1 "$mhc" train "${common[@]}" --optim.steps 10 --optim.batch_size 4 --run mismatch --seed 7 >mismatch.log 2>&1; then
  fail "ranks with different seeds were accepted"
elif grep -q "rank 1 holds different settings, data or model state than rank 0" mismatch.log && [[ ! -e mismatch ]]; then
  pass "ranks with different settings are refused, naming the rank, and leave no run directory"
else
  fail "ranks with different settings: $(cat mismatch.log)"
fi

# A divergence is seen by every rank at the same step (the loss is global):
# all stop, rank 0 says so once, the exit status is the trainer's 3.
code=0
timeout 120 "${mpi[@]}" -np 2 "$mhc" train "${common[@]}" --optim.steps 40 --optim.batch_size 4 --run diverged \
  --debug.inject_nan 15 >diverged.log 2>&1 || code=$?
said=$(grep -a -c "^error: the loss became nan at step 15" diverged.log || true)
if ((code == 3)) && [[ "$said" == 1 ]]; then
  pass "a divergence stops both ranks at step 15 (exit 3), said once"
else
  fail "a divergence: exit $code, said $said times; $(tail -c 400 diverged.log)"
fi

# A failing rank: rank 1 throws at step 12, after the checkpoint of step 10.
start=$SECONDS
if timeout 120 "${mpi[@]}" -np 2 "$mhc" train "${common[@]}" --optim.steps 40 --optim.batch_size 4 --run failing \
  --debug.fail_rank 1 --debug.fail_at 12 >failing.log 2>&1; then
  fail "a failing rank: the job exited 0"
elif grep -q "error: rank 1 of 2: --debug.fail_rank 1: failing at step 12" failing.log && ((SECONDS - start < 100)); then
  pass "a failing rank ends the job in $((SECONDS - start)) s, naming it"
else
  fail "a failing rank: $(cat failing.log)"
fi
"$mhc" eval --run failing >failing_eval.log 2>&1 && pass "its checkpoint is intact: $(tail -n1 failing_eval.log)" ||
  fail "the checkpoint after the failure: $(cat failing_eval.log)"

# rank_pid RUN R: the process of rank R of the job training into RUN.
rank_pid() {
  for p in $(pgrep -f -- "--run $1" || true); do
    if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$2"; then echo "$p"; fi
  done
}
# wait_for_lines RUN N: until RUN/metrics.jsonl has N lines (at most a minute).
wait_for_lines() {
  for _ in $(seq 600); do
    [[ -f $1/metrics.jsonl ]] && (($(wc -l <"$1/metrics.jsonl") >= $2)) && return 0
    sleep 0.1
  done
}

# A stop signal (what mpirun passes on for Ctrl-C, and schedulers send) that
# reaches one rank only: the ranks agree to stop after the same step, and
# rank 0 writes a checkpoint there and says so once.
timeout 120 "${mpi[@]}" -np 2 "$mhc" train "${common[@]}" --optim.steps 1000000 \
  --optim.batch_size 4 --run interrupted >interrupted.log 2>&1 &
job=$!
wait_for_lines interrupted 15
victim=$(rank_pid interrupted 1)
[[ -n "$victim" ]] && kill -TERM "$victim"
code=0
wait "$job" || code=$?
said=$(grep -a -c "^interrupted: stopped after step" interrupted.log || true)
lines=$(grep -c '"loss"' interrupted/metrics.jsonl || true)
saved=$(/usr/bin/env python3 -c "
import json, struct
f = open('interrupted/checkpoint.safetensors', 'rb'); n = struct.unpack('<Q', f.read(8))[0]
print(json.loads(f.read(n))['__metadata__']['step'])" 2>/dev/null || echo none)
if [[ -n "$victim" && "$said" == 1 && "$saved" == "$lines" ]]; then
  pass "a stop signal to rank 1 alone: both ranks stopped after step $saved, checkpointed there, said once"
else
  fail "a stop signal to rank 1 (pid ${victim:-none}): exit $code, said $said times, checkpoint step $saved, $lines training lines; $(tail -c 400 interrupted.log)"
fi

# A killed rank: kill -9 rank 1 of a long job once it has logged some steps.
timeout 120 "${mpi[@]}" -np 2 "$mhc" train "${common[@]}" --optim.steps 1000000 --optim.batch_size 4 --run killed \
  >killed.log 2>&1 &
job=$!
wait_for_lines killed 15
victim=$(rank_pid killed 1)
start=$SECONDS
if [[ -z "$victim" ]]; then
  fail "could not find rank 1's process"
  kill "$job" 2>/dev/null || true
else
  kill -9 "$victim"
fi
code=0
wait "$job" || code=$?
if ((code != 0 && code != 124)) && grep -qi "rank 1" killed.log; then
  pass "a killed rank ends the job in $((SECONDS - start)) s (exit $code): $(grep -i -m1 'rank 1' killed.log | sed 's/^ *//')"
else
  fail "a killed rank: exit $code; $(tail -n 20 killed.log)"
fi
"$mhc" eval --run killed >killed_eval.log 2>&1 && pass "its checkpoint is intact" || fail "the checkpoint after the kill: $(cat killed_eval.log)"

# Token files (llm.c shards, memory-mapped): 2 ranks x batch 4 draw the global
# batch of 1 process x batch 8 from the same shards, as with text.
/usr/bin/env python3 - <<'PY'
import os, random, struct
os.makedirs("shards", exist_ok=True)
rng = random.Random(5)
for name, n in [("t_train_000001.bin", 3000), ("t_train_000002.bin", 2000), ("t_val_000000.bin", 800)]:
    ids = [rng.randrange(200) for _ in range(n)]
    with open(f"shards/{name}", "wb") as f:
        f.write(struct.pack("<256i", 20240520, 1, n, *([0] * 253)) + struct.pack(f"<{n}H", *ids))
PY
tokens=(--data shards --model.vocab_size 200 --model.blocks 1 --model.width 32 --model.heads 2 --model.block_size 32
        --optim.warmup 0 --optim.schedule constant --eval.every 10 --eval.batches 2 --eval.sample_tokens 0 --optim.steps 10)
"$mhc" train "${tokens[@]}" --optim.batch_size 8 --run tok_one >tok_one.log 2>&1 || { cat tok_one.log; exit 1; }
"${mpi[@]}" -np 2 "$mhc" train "${tokens[@]}" --optim.batch_size 4 --run tok_two >tok_two.log 2>&1 || { cat tok_two.log; exit 1; }
/usr/bin/env python3 "$here/compare_metrics.py" tok_one tok_two 1e-5 &&
  pass "token files: 2 ranks x batch 4 match 1 process x batch 8" || fail "token files: 2 ranks differ from one process"

((fails == 0)) && echo "test_data_parallel: all checks passed" || { echo "test_data_parallel: $fails check(s) failed"; exit 1; }
