#!/usr/bin/env bash
# scripts/compare_runs.sh OLD NEW [WORKDIR] — do two minicope programs train the same?
#
# Trains the same small fixed-seed runs with both programs (every task, every position
# encoding, the model options, a resumed run, and 2 MPI ranks when mpirun is here) and
# compares what they leave: the checkpoints byte for byte (cmp), config.json, and
# metrics.jsonl without its timings (tokens_per_s), then what eval prints of each
# best checkpoint, what train printed, and (text) a sample; then what both say (message, exit status) to command lines that fail.
# A refactoring that changes no arithmetic must leave every file equal.
# Exit 0 when everything matches, 1 otherwise (each difference is named).
set -uo pipefail

[ $# -ge 2 ] || { echo "usage: scripts/compare_runs.sh OLD_MINICOPE NEW_MINICOPE [WORKDIR]" >&2; exit 2; }
old="$(realpath "$1")" new="$(realpath "$2")"
work="${3:-$(mktemp -d)}"
mkdir -p "$work"
text="$work/text.txt"
# A small text of its own (no ../shared needed): words, digits, newlines.
for i in $(seq 1 600); do echo "line $i: the quick brown fox $((i * 7 % 13)) jumps over $((i % 5)) lazy dogs"; done >"$text"

small=(--steps 24 --eval-every 12 --eval-size 40 --dim 32 --layers 2 --heads 2 --batch 8 --warmup 4)
declare -A cases=(
  [ff-none]="--task flipflop --length 32 --pe none"
  [ff-abs]="--task flipflop --length 32 --pe abs"
  [ff-rel]="--task flipflop --length 32 --pe rel"
  [ff-rope]="--task flipflop --length 32 --pe rope"
  [ff-cope]="--task flipflop --length 32 --pe cope"
  [ff-cope-rel]="--task flipflop --length 32 --pe cope+rel"
  [ff-cope-rope]="--task flipflop --length 32 --pe cope+rope"
  [ff-cope-sep-key]="--task flipflop --length 32 --pe cope --sep-key=true --nodiv=true --npos 8"
  [ff-cope-val-gates]="--task flipflop --length 32 --pe cope --val-gates=true"
  [ff-cope-shared]="--task flipflop --length 32 --pe cope+rel --shared=true --every 2"
  [ff-model-options]="--task flipflop --length 32 --pe rope --dropout 0.1 --tied=false --post-norm=true --gelu erf --schedule linear --weight-decay 0.3"
  [selcopy]="--task selcopy --data-tokens 4 --noise-tokens 12 --pe cope"
  [counting]="--task counting --vars 3 --max-steps 8 --pe cope"
  [text-byte]="--task text --data $text --tokenizer byte --seq 32 --pe cope"
  [text-char]="--task text --data $text --tokenizer char --seq 32 --pe rope"
  [text-word]="--task text --data $text --tokenizer word --seq 16 --pe cope+rel --vocab-size 30"
)

fail=0
differ() { echo "DIFFERS: $*"; fail=1; }

# Runs one case with one program into $work/<which>/<case>.
run_case() {  # run_case which binary name args...
  local which="$1" bin="$2" name="$3"; shift 3
  local dir="$work/$which/$name"
  rm -rf "$dir"
  if [ "$name" = resumed ]; then
    "$bin" train --out "$dir" "$@" --stop-after 12 >/dev/null 2>&1 && "$bin" train --out "$dir" --resume >"$work/$which-$name.out" 2>/dev/null
  elif [ "$name" = mpi ]; then
    mpirun --allow-run-as-root --oversubscribe -np 2 "$bin" train --out "$dir" "$@" >"$work/$which-$name.out" 2>/dev/null
  else
    "$bin" train --out "$dir" "$@" >"$work/$which-$name.out" 2>/dev/null
  fi || { echo "train failed: $which $name"; return 1; }
  # what train printed (its final table; the progress lines on stderr carry timings)
  grep -v -E 'tok/s|done in' "$work/$which-$name.out" >"$dir/train.out"
  case "$name" in text-*) "$bin" sample --ckpt "$dir" --prompt "line 1" --tokens 40 --seed 3 >"$dir/sample.out" 2>&1 ;; esac
  "$bin" eval --ckpt "$dir" --json >"$dir/eval.out" 2>&1 || echo "eval failed: $which $name" >>"$dir/eval.out"
  grep -v '^$' "$dir/metrics.jsonl" | sed -E 's/"tokens_per_s":[^,}]*//' >"$dir/metrics.notime"
}

compare_case() {
  local name="$1" a="$work/old/$1" b="$work/new/$1" f
  for f in last.safetensors best.safetensors config.json metrics.notime eval.out train.out; do
    if [ ! -e "$a/$f" ] || [ ! -e "$b/$f" ]; then differ "$name/$f (missing)"
    elif ! cmp -s "$a/$f" "$b/$f"; then differ "$name/$f"; fi
  done
  if [ -e "$a/sample.out" ] && ! cmp -s "$a/sample.out" "$b/sample.out"; then differ "$name/sample.out"; fi
}

names=("${!cases[@]}")
names+=(resumed)
cases[resumed]="--task flipflop --length 32 --pe cope"
if command -v mpirun >/dev/null 2>&1; then names+=(mpi); cases[mpi]="--task flipflop --length 32 --pe cope"; fi
IFS=$'\n' names=($(sort <<<"${names[*]}")); unset IFS
for name in "${names[@]}"; do
  read -r -a args <<<"${cases[$name]}"
  run_case old "$old" "$name" "${small[@]}" "${args[@]}"
  run_case new "$new" "$name" "${small[@]}" "${args[@]}"
  compare_case "$name"
done

# What each program says to command lines that go wrong: the message and exit status.
# (Run in $work/errors, where a run folder `held` exists and `cfg*.json` are configs.)
mkdir -p "$work/errors" && cd "$work/errors" || exit 2
rm -rf held && cp -r "$work/old/ff-cope" held
printf '{"lr": 70}' >cfg-range.json; printf '{"lr": 0.1, "lr": 0.2}' >cfg-twice.json; printf '{"nope": 1}' >cfg-unknown.json
printf '{"dim": 30, "heads": 4}' >cfg-dim.json; printf 'not json' >cfg-bad.json
bad_lines=(
  "" "nope" "help nope" "train --nope" "train --dim x" "train --dim 30" "train --lr -1" "train --tied=maybe"
  "train --config cfg-range.json" "train --config cfg-twice.json" "train --config cfg-unknown.json"
  "train --config cfg-dim.json" "train --config cfg-bad.json" "train --config missing.json"
  "train --task flipflop --length 5" "train --task selcopy --noise-tokens 1" "train --task counting --vars 0"
  "train --task text" "train --task text --data missing.txt" "train --task flipflop --tokenizer word"
  "train --out held" "train --out held --resume --dim 16" "train --out held --resume --steps 10"
  "train --out nothing --resume" "train --resume" "train --out held/last.safetensors"
  "train --task flipflop --length 100000" "train --batch 100000000 --dim 4096 --out big"
  "train --sep-key=true --val-gates=true" "train --seq 8 --task flipflop"
  "eval" "eval --ckpt" "eval --ckpt missing" "eval --ckpt held --seq 10" "eval --ckpt held --split nope"
  "eval --ckpt cfg-bad.json" "sample --ckpt held" "plot" "plot curves --out x.svg" "plot attention --ckpt held --out held/config.json"
  "report" "report missing" "bench --dim 30 --heads 4" "bench --seq 0" "gradcheck --op nope"
)
for line in "${bad_lines[@]}"; do
  read -r -a argv <<<"$line"
  a="$(timeout 60 "$old" "${argv[@]}" 2>&1 >/dev/null; echo "exit $?")"
  b="$(timeout 60 "$new" "${argv[@]}" 2>&1 >/dev/null; echo "exit $?")"
  [ "$a" = "$b" ] || { differ "minicope $line"; printf '  old: %s\n  new: %s\n' "$a" "$b"; }
  case "$a" in *"exit 0"|*"exit 124") differ "minicope $line did not fail (update the list)" ;; esac
done
cd - >/dev/null || exit 2

if [ $fail = 0 ]; then echo "same: ${#names[@]} runs, ${#bad_lines[@]} failing command lines, every checkpoint byte for byte, every message and exit status ($work)"; else echo "see $work"; fi
exit $fail
