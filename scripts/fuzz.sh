#!/usr/bin/env bash
# fuzz.sh — runs the libFuzzer targets of fuzz/ (docs/reliability.md).
#
#   scripts/fuzz.sh [--seconds N] [--jobs N] [TARGET...]
#
#   TARGET     checkpoint, config, jsonl, tokenizer, subword (default: all five)
#   --seconds  how long each target runs (default 60)
#   --jobs     targets at a time (default: the number of cores)
#
# Builds the targets with clang, AddressSanitizer and UndefinedBehaviorSanitizer into
# build-fuzz/ (installing clang and libFuzzer from Debian if missing), starts each from
# fuzz/corpus/TARGET plus what earlier runs found (build-fuzz/corpus/TARGET), and
# appends one line per run to build-fuzz/fuzz-log.tsv: target, seconds, inputs tried,
# corpus size, crashes. A crashing input is saved in build-fuzz/crashes/TARGET/; once
# fixed, copy it to fuzz/regressions/TARGET/ so that ./minicope test replays it.
# Exits 1 when a target crashed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds=60 jobs="$(nproc)" targets=()
die() { echo "fuzz.sh: error: $*" >&2; exit 2; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --seconds) [[ $# -ge 2 && "$2" =~ ^[1-9][0-9]*$ ]] || die "--seconds needs a whole number >= 1"; seconds="$2"; shift ;;
    --jobs) [[ $# -ge 2 && "$2" =~ ^[1-9][0-9]*$ ]] || die "--jobs needs a whole number >= 1"; jobs="$2"; shift ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    checkpoint|config|jsonl|tokenizer|subword) targets+=("$1") ;;
    *) die "unknown argument '$1' (targets: checkpoint, config, jsonl, tokenizer, subword; see --help)" ;;
  esac
  shift
done
[[ ${#targets[@]} -gt 0 ]] || targets=(checkpoint config jsonl tokenizer subword)

# clang and libFuzzer's runtime (Debian: clang, libclang-rt-dev of the same version)
if ! command -v clang++ > /dev/null || ! compgen -G "/usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a" > /dev/null; then
  pkgs="clang libclang-rt-dev"
  if [[ $(id -u) == 0 ]]; then apt-get install -y -q $pkgs
  elif sudo -n true 2> /dev/null; then sudo apt-get install -y -q $pkgs
  else die "clang and libFuzzer are missing; install them with: sudo apt-get install $pkgs"; fi
fi

build="$here/build-fuzz"
"$here/minicope" help > /dev/null  # the main build (and its packages), for the seed checkpoint
if [[ ! -f "$build/CMakeCache.txt" ]]; then
  CC=clang CXX=clang++ cmake -S "$here" -B "$build" -DMINICOPE_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo > /dev/null
fi
cmake --build "$build" -j "$(nproc)" --target $(printf 'fuzz_%s ' "${targets[@]}") > "$build/build.log" 2>&1 ||
  { tail -n 30 "$build/build.log"; die "the fuzz targets did not build (see $build/build.log)"; }

# A fresh small checkpoint joins the checkpoint seeds (the format's seed must be current).
if [[ " ${targets[*]} " == *" checkpoint "* ]]; then
  seed_run="$build/seed-run"
  rm -rf "$seed_run"
  "$here/build/minicope" train --out "$seed_run" --length 4 --layers 1 --dim 4 --heads 1 --batch 2 --steps 1 \
    --eval-size 2 --threads 1 > /dev/null 2>&1
  mkdir -p "$build/corpus/checkpoint"
  cp "$seed_run/last.safetensors" "$build/corpus/checkpoint/fresh-run.safetensors"
fi

run_target() {
  local t="$1" log="$build/logs/$1.log"
  mkdir -p "$build/corpus/$t" "$build/crashes/$t" "$build/logs"
  local start=$SECONDS status=0
  "$build/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$build/crashes/$t/" "$build/corpus/$t" "$here/fuzz/corpus/$t" > "$log" 2>&1 || status=$?
  local execs corpus crashes
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
  corpus="$(ls "$build/corpus/$t" | wc -l)"
  crashes="$(ls "$build/crashes/$t" | wc -l)"
  printf '%s\t%s\t%s\t%s\t%s\n' "$t" $((SECONDS - start)) "${execs:-0}" "$corpus" "$crashes" >> "$build/fuzz-log.tsv"
  echo "fuzz.sh: $t: $((SECONDS - start)) s, ${execs:-0} inputs, corpus $corpus, crashes $crashes (exit $status)"
  [[ $status == 0 && $crashes == 0 ]]
}
export -f run_target
export build here seconds

failed=0
printf '%s\n' "${targets[@]}" | xargs -P "$jobs" -I{} bash -c 'run_target {}' || failed=1
echo "fuzz.sh: totals so far (build-fuzz/fuzz-log.tsv): target, seconds, inputs, runs"
awk -F'\t' '{ s[$1] += $2; n[$1] += $3; r[$1]++ } END { for (t in s) printf "  %-10s %6d s %12d inputs %3d runs\n", t, s[t], n[t], r[t] }' \
  "$build/fuzz-log.tsv" | sort
if [[ $failed == 1 ]]; then
  echo "fuzz.sh: crashes were found: $(find "$build/crashes" -type f | head -n 5 | tr '\n' ' ')" >&2
  exit 1
fi
