#!/usr/bin/env bash
# trajectory.sh — minicope's training steps replayed in PyTorch (bench/trajectory.py):
# from the same initial weights and batches (train --trace), bench/torch_reference.py's
# model under torch.optim.AdamW follows minicope's losses step by step to f32 noise.
# Padded rows (Flip-Flop) and packed ones (Counting, with the paper's options: CoPE
# after the scale, tied, post-norm, ReLU). A wrong replay is caught: the same trace with
# one learning rate changed must fail the check.
# Usage: trajectory.sh PATH/TO/minicope SOURCE_DIR  (exit 77, "skipped", without PyTorch)
set -uo pipefail
bin="$1" src="$2"
skip() {  # CI sets MINICOPE_REQUIRE_TORCH: there a skip is a failure
  if [[ -n "${MINICOPE_REQUIRE_TORCH:-}" ]]; then echo "FAIL (MINICOPE_REQUIRE_TORCH is set): $*"; exit 1; fi
  echo "SKIP: $*"
  exit 77
}
py=""
for p in /usr/bin/python3 python3; do
  if command -v "$p" > /dev/null && "$p" -c "import torch" 2> /dev/null; then py="$p"; break; fi
done
[[ -n "$py" ]] || skip "no python3 with PyTorch (Debian: python3-torch)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

check() {  # NAME TRAIN-ARGS...: train with --trace, replay, expect agreement to 1e-5
  local name="$1"; shift
  "$bin" train "$@" --trace --threads 1 --eval-size 8 --out "$work/$name" > /dev/null 2> "$work/$name.err" ||
    fail "$name: train failed: $(tail -n 1 "$work/$name.err")"
  "$py" "$src/bench/trajectory.py" "$work/$name" --tol 1e-5 > "$work/$name.out" 2>&1 ||
    fail "$name: $(tail -n 1 "$work/$name.out")"
  echo "ok: $name: $(tail -n 1 "$work/$name.out")"
}
check flipflop-cope --task flipflop --length 32 --steps 12 --eval-every 12 --warmup 2 --pe cope
check flipflop-rel --task flipflop --length 32 --steps 12 --eval-every 12 --warmup 2 --pe cope+rel
check counting-official --task counting --max-steps 16 --steps 12 --eval-every 12 --warmup 2 --pe cope --nodiv \
  --tied --post-norm --activation relu
check text-rope --task text --data "$src/README.md" --seq 32 --batch 4 --steps 8 --eval-every 8 --warmup 2 --pe rope

# The check can fail: a trace whose step 5 claims another learning rate drifts from it.
"$py" - "$work/flipflop-cope/trace.jsonl" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
lines[4]["lr"] *= 10
open(sys.argv[1], "w").write("".join(json.dumps(l) + "\n" for l in lines))
PY
if "$py" "$src/bench/trajectory.py" "$work/flipflop-cope" --tol 1e-5 > "$work/bad.out" 2>&1; then
  fail "a replay with a changed learning rate passed: $(tail -n 1 "$work/bad.out")"
fi
grep -q "FAIL at" "$work/bad.out" || fail "the failed replay did not say FAIL: $(tail -n 1 "$work/bad.out")"
echo "ok: a replay with a changed learning rate fails: $(tail -n 1 "$work/bad.out")"

# What cannot be replayed is refused with one line and status 2.
"$bin" train --task flipflop --length 32 --steps 2 --eval-every 2 --dropout 0.1 --trace --threads 1 --eval-size 8 \
  --out "$work/drop" > /dev/null 2>&1 || fail "dropout run failed"
"$py" "$src/bench/trajectory.py" "$work/drop" > "$work/drop.out" 2>&1
[[ $? == 2 ]] && grep -q "^trajectory.py: error: the run has --dropout" "$work/drop.out" || fail "dropout not refused: $(cat "$work/drop.out")"
"$py" "$src/bench/trajectory.py" "$work/nothing" > "$work/none.out" 2>&1
[[ $? == 2 ]] && grep -q "has no config.json" "$work/none.out" || fail "a missing run not refused: $(cat "$work/none.out")"
echo "ok: unreplayable runs refused"
