#!/usr/bin/env bash
# The context sweep of docs/benchmarks.md: the same number of tokens per step (4096 by
# default) at growing contexts, batch = tokens / context, minicope and (unless
# --no-torch) bench/torch_reference.py run alternately, each point --rounds times;
# prints the median ms per step and peak MB of each, and cope / abs per implementation.
# Usage:
#   bench/context_sweep.sh [--contexts "256 512 1024 2048 4096"] [--tokens 4096]
#                          [--pes "abs cope"] [--rounds 3] [--threads 2] [--no-torch]
#                          [--minicope PATH] [-- extra model flags]
# --minicope runs another minicope binary (a before/after comparison); default build/minicope.
set -euo pipefail
cd "$(dirname "$0")/.."
contexts="256 512 1024 2048 4096" tokens=4096 pes="abs cope" rounds=3 threads=2 torch=1 bin=build/minicope extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --contexts) contexts="$2"; shift 2 ;;
    --tokens) tokens="$2"; shift 2 ;;
    --pes) pes="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --no-torch) torch=0; shift ;;
    --minicope) bin="$2"; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    *) echo "minicope: error: context_sweep.sh: unknown argument '$1' (see the header of bench/context_sweep.sh)" >&2; exit 2 ;;
  esac
done
py=/usr/bin/python3
if [ "$torch" = 1 ] && ! "$py" -c 'import torch' 2>/dev/null; then
  echo "minicope: error: context_sweep.sh needs PyTorch for $py (apt-get install python3-torch), or --no-torch" >&2
  exit 1
fi
for L in $contexts; do
  if [ $((tokens % L)) -ne 0 ]; then
    echo "minicope: error: context_sweep.sh: --tokens $tokens is not a multiple of the context $L" >&2
    exit 2
  fi
done
[ "$bin" = build/minicope ] && ./minicope build
out=$(mktemp -d)
for r in $(seq "$rounds"); do
  for L in $contexts; do
    for pe in $pes; do
      B=$((tokens / L))
      "$bin" bench --pe "$pe" --seq "$L" --batch "$B" --threads "$threads" --steps 3 --warmup-steps 1 --json "${extra[@]}" \
        >> "$out/mc-$pe-$L.jsonl"
      if [ "$torch" = 1 ]; then
        # the reference may not fit at long contexts: a failure is recorded, not fatal
        "$py" bench/torch_reference.py --pe "$pe" --seq "$L" --batch "$B" --threads "$threads" --steps 3 --warmup-steps 1 \
          "${extra[@]}" >> "$out/pt-$pe-$L.jsonl" 2>> "$out/pt-errors.log" || echo "{\"failed\": true}" >> "$out/pt-$pe-$L.jsonl"
      fi
    done
  done
done
"$py" - "$out" "$contexts" "$pes" "$tokens" <<'PY'
import json, os, statistics, sys
out, contexts, pes, tokens = sys.argv[1], sys.argv[2].split(), sys.argv[3].split(), int(sys.argv[4])
def load(impl, pe, L):
    path = f"{out}/{impl}-{pe}-{L}.jsonl"
    if not os.path.exists(path):
        return None
    rows = [json.loads(l) for l in open(path)]
    if not rows or any(r.get("failed") for r in rows):
        return None
    return {k: statistics.median(r[k] for r in rows) for k in ("ms_per_step", "peak_rss_mb")}
head = f"{'context':>7} {'batch':>5}"
for pe in pes:
    head += f" | {pe+' mc ms':>12} {'MB':>6} {'pt ms':>8} {'MB':>6} {'speed-up':>8}"
if "abs" in pes and "cope" in pes:
    head += f" | {'cope/abs mc':>11} {'pt':>5}"
print(head)
for L in contexts:
    line = f"{L:>7} {tokens // int(L):>5}"
    got = {}
    for pe in pes:
        m, t = load("mc", pe, L), load("pt", pe, L)
        got[pe] = (m, t)
        ms = f"{m['ms_per_step']:12.0f} {m['peak_rss_mb']:6.0f}" if m else f"{'-':>12} {'-':>6}"
        ts = f"{t['ms_per_step']:8.0f} {t['peak_rss_mb']:6.0f}" if t else f"{'-':>8} {'-':>6}"
        sp = f"{t['ms_per_step'] / m['ms_per_step']:7.2f}x" if m and t else f"{'-':>8}"
        line += f" | {ms} {ts} {sp}"
    if "abs" in got and "cope" in got:
        r = lambda a, c: f"{c['ms_per_step'] / a['ms_per_step']:.2f}" if a and c else "-"
        line += f" | {r(got['abs'][0], got['cope'][0]):>11} {r(got['abs'][1], got['cope'][1]):>5}"
    print(line)
PY
echo "(medians over $rounds rounds, minicope and PyTorch alternating, each the median of 3 timed steps; raw JSON in $out)"
