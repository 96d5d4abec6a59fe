#!/usr/bin/env bash
# faults.sh — training under faults, as a user meets them (docs/reliability.md):
#   1. SIGKILL at random moments, several times: the checkpoint left behind always
#      loads, and --resume continues from it;
#   2. SIGINT and SIGTERM: a checkpoint of the current step, exit 130 / 143, resumable;
#   3. a full disk (a file-size limit, ulimit -f): the save fails with one error line
#      and the previous checkpoint is left whole.
# Usage: faults.sh PATH/TO/minicope
set -uo pipefail
bin="$1"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

tiny=(--length 16 --layers 1 --dim 16 --heads 2 --batch 8 --eval-size 20 --eval-every 3 --threads 1)
step_of() {  # the step stored in a checkpoint (eval --json prints it)
  "$bin" eval --ckpt "$1" --json --threads 1 | head -n 1 | sed 's/.*"step":\([0-9]*\).*/\1/'
}

# ---- 1. SIGKILL at random moments ----------------------------------------------------
run="$work/killed"
RANDOM=7  # a fixed sequence of moments, so a failure can be repeated
prev=0
kills=0
for round in 1 2 3 4 5 6; do
  if [[ -f "$run/last.safetensors" ]]; then
    args=(train --out "$run" --resume --steps 100000)
  else  # killed before its first checkpoint: such a folder is refused, so start afresh
    rm -rf "$run"
    args=(train --out "$run" --steps 100000 "${tiny[@]}")
  fi
  "$bin" "${args[@]}" > /dev/null 2>&1 &
  pid=$!
  sleep "0.$((3 + RANDOM % 7))"
  kill -KILL "$pid" 2> /dev/null && kills=$((kills + 1))
  wait "$pid" 2> /dev/null
  [[ -f "$run/last.safetensors" ]] || continue  # killed before its first checkpoint
  step="$(step_of "$run/last.safetensors")" || fail "round $round: last.safetensors does not load after SIGKILL"
  [[ "$step" =~ ^[0-9]+$ ]] || fail "round $round: no step from eval ('$step')"
  (( step >= prev )) || fail "round $round: the checkpoint went back from step $prev to $step"
  "$bin" eval --ckpt "$run" --threads 1 > /dev/null || fail "round $round: best.safetensors does not load after SIGKILL"
  prev=$step
done
(( kills >= 4 )) || fail "only $kills of 6 runs were still running when killed"
(( prev > 0 )) || fail "no checkpoint was ever written before a kill"
"$bin" train --out "$run" --resume --steps $((prev + 5)) > "$work/resumed.txt" 2> "$work/resumed.err" ||
  fail "--resume after the kills failed: $(cat "$work/resumed.err")"
[[ "$(step_of "$run/last.safetensors")" == $((prev + 5)) ]] || fail "the resumed run did not reach step $((prev + 5))"
echo "ok: $kills SIGKILLs; every checkpoint left behind loaded; resumed from step $prev to $((prev + 5))"

# ---- 2. SIGINT and SIGTERM -------------------------------------------------------------
for sig in INT TERM; do
  run="$work/sig$sig"
  "$bin" train --out "$run" --steps 100000 "${tiny[@]}" > /dev/null 2> "$work/sig.err" &
  pid=$!
  for _ in $(seq 50); do [[ -f "$run/last.safetensors" ]] && break; sleep 0.1; done
  kill -"$sig" "$pid"
  wait "$pid"
  code=$?
  want=$([[ $sig == INT ]] && echo 130 || echo 143)
  [[ $code == "$want" ]] || fail "SIG$sig: exit $code, expected $want: $(tail -n 2 "$work/sig.err")"
  grep -q "continue with: minicope train --out $run --resume" "$work/sig.err" || fail "SIG$sig: no resume hint"
  ! grep -q "error" "$work/sig.err" || fail "SIG$sig: an error line: $(grep error "$work/sig.err")"
  step="$(step_of "$run/last.safetensors")" || fail "SIG$sig: the checkpoint does not load"
  "$bin" train --out "$run" --resume --steps $((step + 2)) > /dev/null 2>&1 || fail "SIG$sig: --resume failed"
  echo "ok: SIG$sig saved step $step, exit $code, resumed"
done

# ---- 3. a full disk ----------------------------------------------------------------------
run="$work/full"
"$bin" train --out "$run" --steps 3 "${tiny[@]}" > /dev/null 2>&1 || fail "a short run failed"
cp "$run/last.safetensors" "$work/before.safetensors"
cp "$run/best.safetensors" "$work/before-best.safetensors"
size=$(stat -c %s "$run/last.safetensors")
# ulimit -f counts 1024-byte blocks: room for the small files, not for a checkpoint
( ulimit -f $((size / 2048)); "$bin" train --out "$run" --resume --steps 6 > /dev/null 2> "$work/full.err" )
code=$?
[[ $code == 1 ]] || fail "a full disk: exit $code, expected 1"
[[ $(wc -l < "$work/full.err") -ge 1 ]] && tail -n 1 "$work/full.err" | grep -q "^minicope: error: .*safetensors.tmp: write failed: File too large" ||
  fail "a full disk: not the expected error line: $(tail -n 1 "$work/full.err")"
cmp -s "$run/last.safetensors" "$work/before.safetensors" || fail "a full disk: the previous checkpoint changed"
cmp -s "$run/best.safetensors" "$work/before-best.safetensors" || fail "a full disk: the best checkpoint changed"
[[ ! -e "$run/last.safetensors.tmp" && ! -e "$run/best.safetensors.tmp" ]] || fail "a full disk: a partial file was left behind"
"$bin" eval --ckpt "$run/last.safetensors" --threads 1 > /dev/null || fail "a full disk: the previous checkpoint does not load"
echo "ok: a full disk left the previous checkpoint whole"
