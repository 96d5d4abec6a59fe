#!/usr/bin/env bash
# bench/distributed.sh — training throughput on 1 process and on 2 MPI ranks of this
# machine, run alternately, --rounds times each; prints the median tokens/s of each
# setup and its ratio to 1 process with all cores (docs/distributed.md).
#
#   bench/distributed.sh [--rounds 3] [--steps 30] [--bin build/minicope] [-- MODEL FLAGS...]
#
# Setups: 1 process with all cores; 1 process with 1 thread; 2 ranks with cores/2
# threads each, gradients summed during backward (1 MiB buckets), after backward, and
# in 64 KiB buckets. tokens/s is the trainer's own figure at the last step (after
# setup, before the final evaluation).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rounds=3
steps=30
bin="$root/build/minicope"
model=(--task flipflop --length 256 --layers 4 --dim 256 --heads 4 --batch 16 --pe cope)
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    --bin) bin="$2"; shift 2 ;;
    --) shift; model=("$@"); break ;;
    *) echo "bench/distributed.sh: error: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
command -v mpirun > /dev/null || { echo "bench/distributed.sh: error: mpirun is not installed (openmpi-bin)" >&2; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
cores="$(nproc)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

names=("1 process, $cores threads" "1 process, 1 thread" "2 ranks, overlapped" "2 ranks, after backward" "2 ranks, 64 KiB buckets")
run_setup() {  # run_setup INDEX OUT
  local common=("${model[@]}" --steps "$steps" --eval-every "$steps" --eval-size 16 --log-every 1 --out "$2")
  case "$1" in
    0) "$bin" train "${common[@]}" --threads "$cores" ;;
    1) "$bin" train "${common[@]}" --threads 1 ;;
    2) mpirun -np 2 "$bin" train "${common[@]}" ;;
    3) mpirun -np 2 "$bin" train "${common[@]}" --overlap=false ;;
    4) mpirun -np 2 "$bin" train "${common[@]}" --bucket-kb 64 ;;
  esac > /dev/null 2> "$2.err" || { echo "bench/distributed.sh: error: ${names[$1]} failed: $(tail -n 3 "$2.err")" >&2; exit 1; }
  grep '"lr"' "$2/metrics.jsonl" | tail -n 1 | sed -E 's/.*"tokens_per_s":([0-9.e+-]+).*/\1/'
}
declare -A tps
for r in $(seq 1 "$rounds"); do
  for i in "${!names[@]}"; do
    tps[$i]="${tps[$i]:-} $(run_setup "$i" "$work/r$r-$i")"
    rm -rf "$work/r$r-$i"
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
base="$(echo "${tps[0]}" | median)"
echo "machine: $cores cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')); $rounds rounds of $steps steps"
echo "model: ${model[*]}"
printf '%-28s %12s %8s   %s\n' "setup" "tokens/s" "ratio" "each round"
for i in "${!names[@]}"; do
  m="$(echo "${tps[$i]}" | median)"
  printf '%-28s %12.0f %8.2f  %s\n' "${names[$i]}" "$m" "$(echo "$m / $base" | bc -l)" "$(echo "${tps[$i]}" | xargs printf '%.0f ')"
done
