#!/usr/bin/env bash
# Runs minicope's bench and the PyTorch reference on the same model, alternating
# (minicope, torch, minicope, torch, ...) so that both see the same machine state,
# and prints the medians and the ratios. Usage:
#   bench/compare.sh [--rounds N] [--threads N] [--pes "cope abs rope"] [-- extra model flags]
# Needs Debian's python3-torch (apt-get install python3-torch).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=3 threads=2 pes="cope abs rope" extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --pes) pes="$2"; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    *) echo "minicope: error: compare.sh: unknown argument '$1' (see the header of bench/compare.sh)" >&2; exit 2 ;;
  esac
done
py=/usr/bin/python3
if ! "$py" -c 'import torch' 2>/dev/null; then
  echo "minicope: error: compare.sh needs PyTorch for $py: apt-get install python3-torch" >&2
  exit 1
fi
./minicope build
out=$(mktemp -d)
for pe in $pes; do
  for r in $(seq "$rounds"); do
    build/minicope bench --pe "$pe" --threads "$threads" --json "${extra[@]}" >> "$out/mc-$pe.jsonl"
    "$py" bench/torch_reference.py --pe "$pe" --threads "$threads" "${extra[@]}" >> "$out/pt-$pe.jsonl"
  done
done
"$py" - "$out" $pes <<'PY'
import json, statistics, sys
out, pes = sys.argv[1], sys.argv[2:]
def load(path):
    rows = [json.loads(l) for l in open(path)]
    return {k: statistics.median(r[k] for r in rows) for k in ("ms_per_step", "tokens_per_s", "gflops", "peak_rss_mb")}
print(f"{'pe':10} {'minicope ms':>12} {'torch ms':>10} {'speed-up':>9} {'mc GFLOP/s':>11} {'pt GFLOP/s':>11} {'mc MB':>8} {'pt MB':>8} {'mem ratio':>9}")
for pe in pes:
    m, t = load(f"{out}/mc-{pe}.jsonl"), load(f"{out}/pt-{pe}.jsonl")
    print(f"{pe:10} {m['ms_per_step']:12.1f} {t['ms_per_step']:10.1f} {t['ms_per_step']/m['ms_per_step']:8.2f}x "
          f"{m['gflops']:11.2f} {t['gflops']:11.2f} {m['peak_rss_mb']:8.0f} {t['peak_rss_mb']:8.0f} {m['peak_rss_mb']/t['peak_rss_mb']:9.2f}")
PY
echo "(medians over $rounds alternating rounds, each the median of its timed steps; raw JSON in $out)"
