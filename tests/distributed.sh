#!/usr/bin/env bash
# distributed.sh — data-parallel training on 2 MPI ranks on this machine
# (docs/distributed.md):
#   1. 2 ranks follow the loss trajectory of 1 process with the same global batch and
#      seed, to 1e-5 at every step (flipflop with an uneven split of the batch and many
#      small buckets, overlapped or not; a text run), and evaluate the same;
#   2. only rank 0 writes the run folder and prints;
#   3. a 1-process checkpoint resumes on 2 ranks and continues the same trajectory;
#   4. a rank killed (SIGKILL) or stopped (SIGSTOP), of 2 or of 3, makes the job end
#      within a bounded time with an error line from rank 0, which saves the last
#      finished step (or names the checkpoint that already holds it);
#   5. mistakes give one error line, not one per rank; a file that one rank lacks is
#      reported by that rank.
# Usage: distributed.sh PATH/TO/minicope WITH_MPI  (exit 77, "skipped", without MPI)
set -uo pipefail
bin="$1"
with_mpi="${2:-}"
skip() {  # CI sets MINICOPE_REQUIRE_MPI: there a skip is a failure
  if [[ -n "${MINICOPE_REQUIRE_MPI:-}" ]]; then echo "FAIL (MINICOPE_REQUIRE_MPI is set): $*"; exit 1; fi
  echo "SKIP: $*"
  exit 77
}
if [[ "$with_mpi" != "1" && "$with_mpi" != "TRUE" && "$with_mpi" != "ON" ]]; then
  skip "this minicope was built without MPI (install libopenmpi-dev and openmpi-bin, then rebuild)"
fi
command -v mpirun > /dev/null || skip "mpirun is not installed (Debian: openmpi-bin)"
work="$(mktemp -d)"
trap 'kill -KILL $(jobs -p) 2> /dev/null; rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# OpenMPI refuses root unless told; CI runs as root. --oversubscribe: 2 ranks even on 1 core.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
# Leak reports from MPI's own allocations are not ours (the sanitized suite runs this too).
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0"
mpi2() { mpirun -np "${ranks:-2}" "$bin" "$@"; }

# "KEY LOSS" per line of a metrics.jsonl: KEY is the step of a training line, STEP/SPLIT
# of an evaluation line (with its error rate, which must match exactly).
losses() {
  sed -E -n \
    -e 's/.*"error_rate":([^,]*),.*"loss":([^,]*),.*"split":"([^"]*)","step":([0-9]*).*/\4\/\3 \2 \1/p' \
    -e 's/.*"loss":([^,]*),"ppl".*"split":"([^"]*)","step":([0-9]*).*/\3\/\2 \1/p' \
    -e 's/.*"loss":([^,]*),"lr".*"step":([0-9]*).*/\2 \1/p' "$1"
}
# Fails unless the two runs' metrics have the same lines and losses within 1e-5.
same_trajectory() {  # same_trajectory RUN_A RUN_B WHAT
  local a b
  a="$(losses "$1/metrics.jsonl")"
  b="$(losses "$2/metrics.jsonl")"
  [[ -n "$a" ]] || fail "$3: no metrics in $1"
  paste -d ' ' <(echo "$a") <(echo "$b") | awk -v what="$3" '
    NF != 4 && NF != 6 { print "FAIL: " what ": the runs logged different lines: " $0; bad = 1; exit 1 }
    $1 != $(NF / 2 + 1) { print "FAIL: " what ": line " NR " is " $1 " in one run and " $(NF / 2 + 1) " in the other"; bad = 1; exit 1 }
    { d = $2 - $(NF / 2 + 2); if (d < 0) d = -d; if (d > worst) worst = d
      if (d > 1e-5) { print "FAIL: " what ": " $1 ": loss " $2 " with 1 process, " $(NF / 2 + 2) " with 2 ranks"; bad = 1; exit 1 }
      if (NF == 6 && $3 != $6) { print "FAIL: " what ": " $1 ": error rate " $3 " vs " $6; bad = 1; exit 1 } }
    END { if (!bad) printf "ok: %s: %d lines, largest loss difference %.3g\n", what, NR, worst }' || exit 1
}

# ---- 1. the same trajectory as one process ----------------------------------------------
ff=(--task flipflop --length 32 --dim 32 --layers 2 --heads 2 --pe cope --batch 7 --steps 40
    --log-every 1 --eval-every 10 --eval-size 40 --seed 3)
"$bin" train "${ff[@]}" --threads 1 --out "$work/one" > "$work/one.out" 2>&1 || fail "1 process: $(tail -n 3 "$work/one.out")"
mpi2 train "${ff[@]}" --bucket-kb 4 --out "$work/two" > "$work/two.out" 2> "$work/two.err" ||
  fail "2 ranks: $(tail -n 5 "$work/two.err")"
same_trajectory "$work/one" "$work/two" "flipflop, 2 ranks, batch 7, 4 KiB buckets, overlapped"
grep -q "2 ranks" "$work/two.err" || fail "the progress does not say the run has 2 ranks"
mpi2 train "${ff[@]}" --overlap=false --out "$work/two-plain" > /dev/null 2>&1 || fail "2 ranks, --overlap=false failed"
same_trajectory "$work/one" "$work/two-plain" "flipflop, 2 ranks, one bucket summed after backward"

for i in $(seq 1 300); do echo "to be or not to be, that is the question $i; whether tis nobler in the mind"; done > "$work/text.txt"
tx=(--task text --data "$work/text.txt" --seq 32 --dim 32 --layers 2 --heads 2 --pe cope+rel --batch 6 --steps 20
    --log-every 1 --eval-every 10 --seed 2)
"$bin" train "${tx[@]}" --threads 1 --out "$work/text-one" > /dev/null 2>&1 || fail "text, 1 process"
mpi2 train "${tx[@]}" --out "$work/text-two" > /dev/null 2>&1 || fail "text, 2 ranks"
same_trajectory "$work/text-one" "$work/text-two" "text, 2 ranks"

# Sharded evaluation: the same metrics (the same examples, summed in another order).
"$bin" eval --ckpt "$work/one" --json --threads 1 > "$work/eval-one.json" || fail "eval, 1 process"
mpi2 eval --ckpt "$work/one" --json > "$work/eval-two.json" 2> "$work/eval-two.err" || fail "eval, 2 ranks: $(cat "$work/eval-two.err")"
cp "$work/eval-one.json" "$work/e1.jsonl" && cp "$work/eval-two.json" "$work/e2.jsonl"
mkdir -p "$work/e1" "$work/e2" && mv "$work/e1.jsonl" "$work/e1/metrics.jsonl" && mv "$work/e2.jsonl" "$work/e2/metrics.jsonl"
[[ "$(wc -l < "$work/eval-two.json")" == "$(wc -l < "$work/eval-one.json")" ]] || fail "eval on 2 ranks printed $(wc -l < "$work/eval-two.json") lines, 1 process $(wc -l < "$work/eval-one.json")"
same_trajectory "$work/e1" "$work/e2" "eval, 2 ranks"

# ---- 2. rank 0 alone writes and prints ---------------------------------------------------
[[ "$(grep -c '^minicope: training' "$work/two.err")" == 1 ]] || fail "the start of the run was printed $(grep -c '^minicope: training' "$work/two.err") times"
[[ "$(grep -c '^split ' "$work/two.out")" == 1 ]] || fail "the final table was printed $(grep -c '^split ' "$work/two.out") times"
[[ "$(ls "$work/two" | tr '\n' ' ')" == "best.safetensors config.json last.safetensors metrics.jsonl " ]] ||
  fail "the run folder holds: $(ls "$work/two")"
[[ "$(losses "$work/two/metrics.jsonl" | wc -l)" == "$(losses "$work/one/metrics.jsonl" | wc -l)" ]] || fail "metrics.jsonl has extra lines"
echo "ok: one start line, one table, one set of files"

# ---- 3. a 1-process checkpoint resumes on 2 ranks -----------------------------------------
"$bin" train "${ff[@]}" --threads 1 --stop-after 15 --out "$work/resumed" > /dev/null 2>&1 || fail "stop-after"
mpi2 train --out "$work/resumed" --resume > /dev/null 2> "$work/resumed.err" || fail "resume on 2 ranks: $(tail -n 3 "$work/resumed.err")"
same_trajectory "$work/one" "$work/resumed" "1 process to step 15, then 2 ranks"

# ---- 4. a rank that dies, a rank that hangs -------------------------------------------------
rank_pid() {  # the pid of rank $1 of the job started last (its environment names its rank)
  local p
  for p in $(pgrep -f "$bin train"); do
    grep -qz "^OMPI_COMM_WORLD_RANK=$1\$" "/proc/$p/environ" 2> /dev/null && { echo "$p"; return 0; }
  done
  return 1
}
long=(--task flipflop --length 32 --dim 32 --layers 2 --heads 2 --batch 8 --steps 1000000 --eval-every 50 --eval-size 20)
lose_a_rank() {  # lose_a_rank NAME SIGNAL EXTRA_FLAGS... : starts a long run, signals rank 1 once rank 0 has a checkpoint
  local name="$1" sig="$2" pid r1 start now
  shift 2
  mpi2 train "${long[@]}" "$@" --out "$work/$name" > /dev/null 2> "$work/$name.err" &
  pid=$!
  for _ in $(seq 1 300); do [[ -f "$work/$name/last.safetensors" ]] && break; sleep 0.1; done
  [[ -f "$work/$name/last.safetensors" ]] || fail "$name: no checkpoint after 30 s: $(tail -n 3 "$work/$name.err")"
  r1="$(rank_pid 1)" || fail "$name: rank 1 not found"
  start=$(date +%s)
  kill "-$sig" "$r1"
  for _ in $(seq 1 300); do kill -0 "$pid" 2> /dev/null || break; sleep 0.1; done
  now=$(date +%s)
  if kill -0 "$pid" 2> /dev/null; then
    kill -KILL "$r1" 2> /dev/null
    fail "$name: the job was still running $((now - start)) s after rank 1 got SIG$sig"
  fi
  wait "$pid" && fail "$name: mpirun exited 0 after rank 1 got SIG$sig"
  [[ "$(grep -c '^minicope: error: rank 0: ' "$work/$name.err")" == 1 ]] ||
    fail "$name: rank 0 did not print one error line: $(grep -v '^step' "$work/$name.err" | tail -n 12)"
  # Rank 0 saves the last finished step, or says the checkpoint on disk already holds it
  # (the rank was lost just after a periodic save).
  grep '^minicope: error: rank 0: ' "$work/$name.err" |
    grep -q -e "saved step [0-9]* to $work/$name/last.safetensors" -e "the last checkpoint is $work/$name/last.safetensors (step [0-9]*)" ||
    fail "$name: rank 0 did not save the last step: $(grep '^minicope: error' "$work/$name.err")"
  "$bin" eval --ckpt "$work/$name/last.safetensors" --threads 1 > /dev/null || fail "$name: the saved checkpoint does not load"
  echo "ok: $name: the job ended within $((now - start + 1)) s: $(grep '^minicope: error: rank 0: ' "$work/$name.err" | cut -c1-110)..."
}
# mpirun sends SIGKILL 1 s after SIGTERM by default, and the ranks give up waiting after
# half of that. Rank 0 then has 0.5 s to save and print, which a busy machine (CI runs
# tests side by side) may not give it: 4 s here, 2 s of which are rank 0's.
export OMPI_MCA_odls_base_sigkill_timeout=4
lose_a_rank killed KILL
lose_a_rank stopped STOP --rank-timeout 2
# 3 ranks, one killed: the third must not end the job before rank 0 has saved.
ranks=3 lose_a_rank killed-of-3 KILL
unset OMPI_MCA_odls_base_sigkill_timeout

# ---- 5. one error line for a mistake, not one per rank -----------------------------------
mpi2 train --lr fast > /dev/null 2> "$work/bad.err"
code=$?
[[ $code == 2 ]] || fail "a bad flag on 2 ranks exits $code, not 2"
[[ "$(grep -c '^minicope: error: ' "$work/bad.err")" == 1 ]] || fail "a bad flag on 2 ranks: $(cat "$work/bad.err")"
mpi2 train --task flipflop --length 32 --dim 32 --layers 2 --heads 2 --batch 1 --steps 4 --out "$work/tiny-batch" > /dev/null 2> "$work/batch.err"
[[ "$(grep -c '^minicope: error: --batch 1 is smaller than the 2 ranks' "$work/batch.err")" == 1 ]] || fail "--batch 1 on 2 ranks: $(cat "$work/batch.err")"
[[ ! -e "$work/tiny-batch" ]] || fail "a refused run left $work/tiny-batch behind"
mpi2 sample --ckpt "$work/one" > /dev/null 2> "$work/sample.err"
[[ "$(grep -c "^minicope: error: 'sample' runs in one process" "$work/sample.err")" == 1 ]] || fail "sample on 2 ranks: $(cat "$work/sample.err")"
mpi2 eval --ckpt "$work/one" --split nope > /dev/null 2> "$work/split.err"
[[ "$(grep -c "^minicope: error: --split: flipflop has no split 'nope'" "$work/split.err")" == 1 ]] || fail "eval --split nope on 2 ranks: $(cat "$work/split.err")"
# A file that only one rank lacks (two command lines, one per rank): that rank says so.
echo '{"steps": 5}' > "$work/config.json"
mpirun -np 1 "$bin" train --config "$work/config.json" --out "$work/split-config" : \
       -np 1 "$bin" train --config "$work/missing.json" --out "$work/split-config" > /dev/null 2> "$work/config.err"
[[ "$(grep -c '^minicope: error: ' "$work/config.err")" == 1 ]] &&
  grep -q "^minicope: error: rank 1: .*missing.json" "$work/config.err" || fail "a config file missing on rank 1: $(cat "$work/config.err")"
[[ ! -e "$work/split-config" ]] || fail "a run refused on rank 1 left its folder behind"
echo "ok: mistakes give one error line"
echo "PASS"
