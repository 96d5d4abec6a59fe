#!/usr/bin/env bash
# reproduce.sh — the CoPE paper's experiments at a CPU scale (docs/results.md).
#
#   scripts/reproduce.sh [--quick | --paper] [--out DIR] [--jobs N] [--only GROUPS]
#                        [--lengths L,...] [--epochs N] [--select REGEX] [--dry-run]
#
#   --quick   the synthetic tasks only, one seed: Flip-Flop, Selective Copy and Counting
#             (3 and 5 variables, programs of up to 128 statements) for the encodings of
#             the paper's Tables 2 and 3. 10 min 57 s on 2 cores (AMD EPYC, 2026-12-04).
#   (full)    the same tasks with 3 seeds each, Counting at up to 128, 256 and 512
#             statements, plus Tiny Shakespeare and the Linux kernel source (Table 4)
#             with abs, rel, rope, cope, cope+rel, cope+rope, each evaluated at 1x, 2x
#             and 4x its training context (Figure 3).
#   --paper   the paper's sizes, one run after another on every core (--jobs to change),
#             in this order:
#             selcopy: the paper's 128 data tokens among 128 noise tokens (dense 64,
#               sparse 256: configs/selcopy-128-PE.json, no weight decay, Adam beta2
#               0.99), then the trend at 64, 32 and 16 (as many noise tokens), cope,
#               rope, abs, 3 seeds; longest first (a 128-token run 13-24 minutes on one
#               core beside other runs, a 16-token run about one), so that two jobs end
#               together (docs/results.md, Table 2, gives each run's time)
#             flipflop: 512 tokens, 256 instruction-bit pairs as in Liu et al. 2023
#               (configs/flipflop-512-PE.json), cope, rope, abs, 3 seeds
#             text: Tiny Shakespeare and the Linux kernel source, characters, at context
#               512 (batch 2) and 256 (batch 4), the nanoGPT CPU model otherwise, cope,
#               rel, rope, abs, cope+rel, 3 seeds, evaluated at 1x, 2x, 4x context (abs: 1x)
#             counting: the official configuration (facebookresearch/RAM,
#               projects/cope/run.sh): data files of 10,000 / 1,000 / 1,000 programs of up
#               to 512 statements (written by scripts/counting_data.py), 4 layers of width
#               256, context 512 with programs cut from the left, post-norm, dropout 0.1
#               on residuals and attention, ReLU, tied embeddings, Adam at a constant
#               7e-5, batch 64, 100 epochs; cope and rel at 3 variables first. Each
#               run takes days on 2 cores: --epochs N cuts it (the script says so).
#             The model of the synthetic tasks stays the default 2 layers of width 64
#             (the one thing scaled down there). Measured: the 9 Flip-Flop runs, 83 minutes
#             with --jobs 2 on 2 cores (10-24 minutes a run; docs/results.md, Table 2).
#   --out     where the runs go (default runs/reproduce, runs/reproduce-quick, runs/paper)
#   --jobs    runs at a time, each on cores / jobs threads (default: as many runs as
#             cores, one thread each; --paper: one run on every core); small models
#             train faster as parallel single-thread runs than one at a time
#   --only    a comma-separated subset of: flipflop, selcopy, counting, text (with
#             --paper: selcopy,flipflop,text first, counting alone takes weeks)
#   --lengths the Counting program lengths to run, a comma-separated subset of 128, 256,
#             512 (default: 128 quick, all three full), e.g. to finish one length first
#   --select  only the planned runs whose names match REGEX (an extended regular
#             expression, matched against the whole name; the names are in DIR/plan.txt,
#             see --dry-run): a block that fits a session, e.g. --paper --only text
#             --select 'paper-.*-c512-.*' for the context-512 rows, or --only counting
#             --lengths 256 --select 'counting-m256-v3-(cope|rel)-s.' for two encodings.
#             The tables and pictures at the end cover every finished run in DIR.
#   --dry-run write DIR/plan.txt and DIR/commands.txt and stop
#   MINICOPE_BIN=FILE  train with this copy of the program (default build/minicope, built
#             first), so that rebuilding during a long reproduction does not change its later runs
#
# A finished run (its folder has result.jsonl) is kept and skipped, and an unfinished one
# with a checkpoint is resumed (--resume), so the script can be stopped and started
# again; a kept run whose arguments or config file (its sha256) have changed since is
# refused, not mixed into the tables (DIR/NAME.args records both). At the end it writes DIR/results.md (minicope report), DIR/times.tsv (each
# invocation of a run: its seconds, done or failed) and pictures (DIR/*.svg). Every
# run is an ordinary `minicope train` command, printed in DIR/commands.txt.
set -euo pipefail
# The whole script is one { } group, which bash reads to its end before it runs any of it,
# so the file can be edited (or updated by git) while a long reproduction runs.
{

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
quick=0 paper=0 out="" jobs="" only="flipflop,selcopy,counting,text" epochs="" lengths="" select="" dry=0
die() { echo "reproduce.sh: error: $*" >&2; exit 2; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) quick=1 ;;
    --paper) paper=1 ;;
    --dry-run) dry=1 ;;
    --epochs) [[ $# -ge 2 && "$2" =~ ^[1-9][0-9]*$ ]] || die "--epochs needs a whole number >= 1"; epochs="$2"; shift ;;
    --out) [[ $# -ge 2 && -n "$2" ]] || die "--out needs a folder"; out="$2"; shift ;;
    --jobs) [[ $# -ge 2 && "$2" =~ ^[1-9][0-9]*$ ]] || die "--jobs needs a whole number >= 1"; jobs="$2"; shift ;;
    --only) [[ $# -ge 2 && -n "$2" ]] || die "--only needs a list of groups"; only="$2"; shift ;;
    --lengths) [[ $# -ge 2 && "$2" =~ ^(128|256|512)(,(128|256|512))*$ ]] || die "--lengths needs a comma-separated list of 128, 256, 512"; lengths="$2"; shift ;;
    --select) [[ $# -ge 2 && -n "$2" ]] || die "--select needs a regular expression"; select="$2"; shift ;;
    -h|--help) awk 'NR > 1 && !/^#/ {exit} NR > 1' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
  shift
done
for g in ${only//,/ }; do
  [[ "$g" =~ ^(flipflop|selcopy|counting|text)$ ]] || die "--only: unknown group '$g' (flipflop, selcopy, counting, text)"
done
# --select: a bad expression is refused here, before anything is written (awk says why)
if [[ -n "$select" ]] && ! why=$(awk -v re="^($select)\$" 'BEGIN { if ("" ~ re) {} }' 2>&1 > /dev/null); then
  why="${why%%$'\n'*}"  # awk's first line says why
  die "--select '$select' is not an extended regular expression: ${why##*: }"
fi
[[ $quick == 1 && $paper == 1 ]] && die "--quick and --paper are different plans; choose one"
[[ -n "$epochs" && $paper == 0 ]] && die "--epochs applies to --paper (its Counting runs)"
[[ -n "$epochs" && ",$only," != *",counting,"* ]] && die "--epochs cuts --paper's Counting runs, and --only leaves them out"
[[ -n "$lengths" && $paper == 1 ]] && die "--lengths does not apply to --paper (its programs are of up to 512 statements)"
wants() { [[ ",$only," == *",$1,"* ]]; }
if [[ -z "$out" ]]; then
  # (not out=...$([[ ... ]] && ...): under set -e a false test there ends the script)
  if [[ $paper == 1 ]]; then out="$here/runs/paper"
  elif [[ $quick == 1 ]]; then out="$here/runs/reproduce-quick"
  else out="$here/runs/reproduce"; fi
fi
jobs_given=0
[[ -n "$jobs" ]] && jobs_given=1
[[ -n "$jobs" ]] || jobs="$(nproc)"
if [[ -e "$out" && ! -d "$out" ]]; then die "--out $out exists and is not a folder"; fi
[[ "$out" =~ [[:space:]] ]] && die "--out '$out': a folder without blanks, please (the plan is split on white space)"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

bin="${MINICOPE_BIN:-$here/build/minicope}"  # MINICOPE_BIN: a copy of the program, so rebuilding does not change a running reproduction
[[ -z "${MINICOPE_BIN:-}" || -x "$MINICOPE_BIN" ]] || die "MINICOPE_BIN=$MINICOPE_BIN is not an executable file"
data="$here/../shared/data"

# ---- the experiments: one line per run, "NAME ARGS..." --------------------------------
seeds="1 2 3"
[[ $quick == 1 ]] && seeds="1"
plan="$out/plan.txt"
: > "$plan"
add() { echo "$*" >> "$plan"; }
have_text() {  # the two corpora of Table 4, or a message saying which is missing
  [[ -f "$data/tinyshakespeare.txt" && -f "$data/linux_kernel.txt" ]] && return 0
  echo "reproduce.sh: skipping text: $data/tinyshakespeare.txt or linux_kernel.txt is missing (see ../shared/data/README.md)" >&2
  return 1
}

# ---- --paper: the paper's sizes, one run after another (counting's block is below) ----
if [[ $paper == 1 ]]; then
  if wants selcopy; then
    for n in 128 64 32 16; do for s in $seeds; do for pe in cope rope abs; do
      add "paper-selcopy-$n-$pe-s$s --config $here/configs/selcopy-128-$pe.json --data-tokens $n --noise-tokens $n --seed $s"
    done; done; done
  fi
  if wants flipflop; then
    for s in $seeds; do for pe in cope rope abs; do
      add "paper-flipflop-512-$pe-s$s --config $here/configs/flipflop-512-$pe.json --seed $s"
    done; done
  fi
  if wants text; then
    if have_text; then
      for ctx in 512 256; do for s in $seeds; do for pe in cope rel rope abs cope+rel; do
        b=$((1024 / ctx))  # 1024 tokens a step at either context
        add "paper-shakespeare-c$ctx-$pe-s$s --config $here/configs/shakespeare-char-${pe/+/-}.json --data $data/tinyshakespeare.txt --seq $ctx --batch $b --init-scheme gpt2 --seed $s"
        add "paper-linux-c$ctx-$pe-s$s --config $here/configs/linux-kernel-char-${pe/+/-}.json --data $data/linux_kernel.txt --seq $ctx --batch $b --init-scheme gpt2 --seed $s"
      done; done; done
    fi
  fi
  [[ $jobs_given == 1 ]] || jobs=1  # one run at a time, on every core
fi

# Longest runs first, so that the last ones to finish are short.
# Text (Table 4, Figure 3): the nanoGPT CPU configuration of configs/ (context 64 for
# both corpora, to fit the time), one seed per corpus.
if wants text && [[ $quick == 0 && $paper == 0 ]]; then
  if have_text; then
    for pe in abs rel rope cope cope+rel cope+rope; do
      add "shakespeare-$pe --config $here/configs/shakespeare-char-${pe/+/-}.json --data $data/tinyshakespeare.txt --init-scheme gpt2"
      add "linux-$pe --config $here/configs/linux-kernel-char-${pe/+/-}.json --data $data/linux_kernel.txt --seq 64 --init-scheme gpt2"
    done
  fi
fi

# Flip-Flop (Table 2): 256 tokens, so the sparse split's gaps between a write and its
# read (up to ~250 tokens) are far longer than training shows (p_i = 0.8: rarely over 60).
# Stock PyTorch's initialisation (--init-scheme pytorch): with GPT-2's N(0, 0.02) token
# embeddings a CoPE seed in three stalled (docs/results.md, "Table 2: Flip-Flop").
# 3000 steps: at 1500 one CoPE seed of three still failed; at 3000 all three solve it
# (16-18 minutes a run on one core). The quick mode keeps 1500, to fit its time.
if wants flipflop && [[ $paper == 0 ]]; then
  ff_steps=$([[ $quick == 1 ]] && echo 1500 || echo 3000)
  for s in $seeds; do for pe in cope rope abs; do
    add "flipflop-$pe-s$s --task flipflop --length 256 --batch 16 --steps $ff_steps --eval-every 250 --init-scheme pytorch --pe $pe --seed $s"
  done; done
fi
# Counting (Table 3): programs of up to 128, 256 and 512 statements over 3 or 5
# variables (quick: 128 only), where the variable-blind shortcut is wrong on 30-70% of
# programs (docs/tasks.md). The recipe (docs/results.md, "Table 3"): the default 2-layer
# width-64 model, many small steps (batch 16), CoPE's logits inside the 1/sqrt(d) scale
# (the default placement, as the official run.sh: on Counting it beat --nodiv, 9.2% against
# 21.0% test error at 3 variables, 10.8% against 22.8% at 5, seed 1, same binary),
# stock PyTorch's initialisation (--init-scheme pytorch: with GPT-2's N(0, 0.02) most
# seeds of every encoding stay on the shortcut at 128 statements).
# Quick: 5000 steps (about 2 minutes a run on one core); full: 16000.
counting_recipe="--batch 16 --steps $([[ $quick == 1 ]] && echo 5000 || echo 16000) --eval-every 1000 --init-scheme pytorch"
if wants counting && [[ $paper == 0 ]]; then
  [[ -n "$lengths" ]] || lengths=$([[ $quick == 1 ]] && echo "128" || echo "512,256,128")
  lengths=$(tr ',' '\n' <<< "$lengths" | sort -rnu)  # longest first, each once
  for len in $lengths; do for s in $seeds; do for v in 3 5; do for pe in cope rel abs; do
    add "counting-m$len-v$v-$pe-s$s --task counting --vars $v --max-steps $len $counting_recipe --pe $pe --seed $s"
  done; done; done; done
fi
# The official Counting configuration (--paper): data files first, then one run each.
if wants counting && [[ $paper == 1 ]]; then
  # --init-scheme pytorch: the official code is PyTorch and keeps its modules' default draws
  official="--layers 4 --dim 256 --heads 4 --seq 512 --cut-left --tied --post-norm --dropout 0.1 --attn-dropout 0.1 --init-scheme pytorch"
  official+=" --activation relu --lr 7e-5 --schedule constant --warmup 0 --weight-decay 0 --clip 0 --batch 64"
  official+=" --epochs ${epochs:-100} --eval-every 500"
  [[ -n "$epochs" ]] && echo "reproduce.sh: --paper cut: $epochs epochs instead of the paper's 100" >&2
  for v in 3 5; do
    d="$out/data/count_var${v}_step512_train10k"
    if [[ ! -d "$d" && $dry == 0 ]]; then
      python3 "$here/scripts/counting_data.py" --out "$d" --vars $v --max-steps 512 --train 10000 --test 1000 --seed $v > /dev/null ||
        die "could not write the Counting data files into $d"
    fi
    for pe in cope rel abs; do  # the most informative rows first: cope and rel at 3 variables
      # --vars: not read on --data, but stored, so that report files the run under its column
      add "paper-counting-e${epochs:-100}-v$v-$pe --task counting --vars $v --data $d $official --pe $pe --seed 1"
    done
  done
  [[ $jobs_given == 1 ]] || jobs=1  # one run at a time, on every core
fi
# Selective Copy (Table 2): 4 tokens among 32 noise tokens; dense 16, sparse 64.
# PyTorch's initialisation, named (it is also the default, --init-scheme auto, since
# 2026-12-04; until then these rows drew GPT-2's, and a run kept from then is refused).
if wants selcopy && [[ $paper == 0 ]]; then
  for s in $seeds; do for pe in cope rope abs; do
    add "selcopy-$pe-s$s --task selcopy --steps 2000 --eval-every 250 --init-scheme pytorch --pe $pe --seed $s"
  done; done
fi
# ---- running them ----------------------------------------------------------------------
# Whether the run in DIR trained to its last step: its last checkpoint's metadata (the
# safetensors header, docs/checkpoint.md) holds the step it reached and its configuration.
trained_to_end() {  # DIR
  python3 - "$1/last.safetensors" <<'PY'
import json, struct, sys
with open(sys.argv[1], "rb") as f:
    meta = json.loads(f.read(struct.unpack("<Q", f.read(8))[0]))["__metadata__"]
sys.exit(0 if int(meta["step"]) >= json.loads(meta["config"])["steps"] else 1)
PY
}
run_one() {  # NAME ARGS...: trains into $out/NAME unless it has finished before
  [[ -n "${1:-}" ]] || return 1  # never an empty name: $out/ itself is no run folder
  local name="$1"; shift
  local dir="$out/$name" how="started"
  # A run kept from before must have been made by the same command: a changed recipe
  # under an old --out would otherwise mix two recipes in one table.
  # (the settings are kept beside the run's folder, in NAME.args, written before it starts:
  # line 1 the arguments, line 2 the sha256 of each --config file they name, so that an
  # edited config counts as a changed recipe too)
  local a prev="" configs=""
  for a in "$@"; do
    [[ "$prev" == --config ]] && configs+="$(sha256sum < "$a" | cut -c1-64) "
    prev="$a"
  done
  if [[ -f "$out/$name.args" ]]; then
    if [[ "$(sed -n 1p "$out/$name.args")" != "$*" ]]; then
      echo "reproduce.sh: $name in $out was trained with other settings ($(sed -n 1p "$out/$name.args")); remove it or choose another --out" >&2
      return 1
    fi
    local kept_configs; kept_configs="$(sed -n 2p "$out/$name.args")"
    if [[ -n "$configs" && -n "$kept_configs" && "$kept_configs" != "config sha256 $configs" ]]; then
      echo "reproduce.sh: $name in $out was trained with another version of its config file; remove it or choose another --out" >&2
      return 1
    fi
  elif [[ -d "$dir" ]]; then
    echo "reproduce.sh: $name: kept from a version of reproduce.sh that did not record its settings; they are not checked" >&2
  fi
  { printf '%s\n' "$*"; [[ -z "$configs" ]] || printf 'config sha256 %s\n' "$configs"; } > "$out/$name.args"
  if [[ ! -f "$dir/result.jsonl" ]]; then
    local again=() t0=$SECONDS status=0
    if [[ -f "$dir/last.safetensors" ]] && trained_to_end "$dir" 2>/dev/null && [[ -f "$dir/best.safetensors" ]]; then
      how="trained before, evaluated"  # stopped after its last checkpoint, before its result was kept
    elif [[ -f "$dir/last.safetensors" ]]; then
      again=(--resume) how="resumed"  # an unfinished run continues from its last checkpoint
    else
      rm -rf "$dir"  # an unfinished run without a checkpoint starts again
    fi
    echo "reproduce.sh: $name $how"
    echo "---- reproduce.sh: $how $(date -u +%FT%TZ)" >> "$out/$name.log"
    if [[ "$how" == "trained before, evaluated" ]]; then
      "$bin" eval --ckpt "$dir" --json --threads "$threads" > "$out/$name.result.tmp" 2>> "$out/$name.log" || status=$?
    else
      "$bin" train "$@" --threads "$threads" --out "$dir" "${again[@]}" --json > "$out/$name.result.tmp" 2>> "$out/$name.log" || status=$?
    fi
    printf '%s\t%s\t%s\n' "$name" $((SECONDS - t0)) "$([[ $status == 0 ]] && echo done || echo failed)" >> "$out/times.tsv"
    if [[ $status != 0 ]]; then
      echo "reproduce.sh: $name failed; see $out/$name.log: $(tail -n 1 "$out/$name.log")" >&2
      return 1
    fi
    mv "$out/$name.result.tmp" "$dir/result.jsonl"
    echo "reproduce.sh: $name done in $((SECONDS - t0)) s"
  fi
  # Text: the validation loss past the training context (Figure 3); abs cannot go there.
  if grep -q '"task": "text"' "$dir/config.json" && ! grep -q '"pe": "abs"' "$dir/config.json"; then
    local seq f
    seq="$(sed -n 's/^ *"seq": \([0-9]*\),*$/\1/p' "$dir/config.json")"
    for f in 2 4; do
      [[ -s "$dir/eval-${f}x.jsonl" ]] && continue
      if ! "$bin" eval --ckpt "$dir" --seq $((seq * f)) --json --threads "$threads" > "$dir/eval-${f}x.tmp" 2>> "$out/$name.log"; then
        echo "reproduce.sh: $name: eval at ${f}x failed; see $out/$name.log" >&2
        rm -f "$dir/eval-${f}x.tmp"
        return 1
      fi
      mv "$dir/eval-${f}x.tmp" "$dir/eval-${f}x.jsonl"
    done
  fi
  return 0
}
export -f run_one trained_to_end
threads=$(( $(nproc) / jobs )); [[ $threads -ge 1 ]] || threads=1
export out bin threads

[[ -s "$plan" ]] || die "nothing to run: --only $only leaves no runs in this mode"
if [[ -n "$select" ]]; then
  awk -v re="^($select)\$" '$1 ~ re' "$plan" > "$plan.selected"
  mv "$plan.selected" "$plan"
  [[ -s "$plan" ]] || { rm -f "$plan"; die "nothing to run: --select '$select' matches none of the planned runs' names (see --dry-run without it)"; }
fi
while read -r name args; do
  echo "minicope train $args --threads $threads --out $out/$name --json > $out/$name/result.jsonl"
done < "$plan" > "$out/commands.txt"
if [[ $dry == 1 ]]; then echo "reproduce.sh: dry run: $(wc -l < "$plan") runs in $out/commands.txt"; exit 0; fi
# installs what is missing and builds (not for a given MINICOPE_BIN: that copy is what runs)
[[ -n "${MINICOPE_BIN:-}" ]] || "$here/minicope" help > /dev/null
runs=$(wc -l < "$plan")
done_before=0
while read -r name args; do [[ -f "$out/$name/result.jsonl" ]] && done_before=$((done_before + 1)); done < "$plan"
echo "reproduce.sh: $runs runs ($done_before finished before, kept), $jobs at a time, into $out"
start=$SECONDS
failed=0
xargs -r -P "$jobs" -L 1 bash -c 'run_one "$@"' _ < "$plan" || failed=1
elapsed=$((SECONDS - start))

# ---- tables and pictures ----------------------------------------------------------------
"$bin" report "$out" > "$out/results.md" || failed=1
s1="$(echo $seeds | cut -d' ' -f1)"
plot_curves() {  # FILE SPLIT TITLE RUN...
  local file="$1" split="$2" title="$3"; shift 3
  local have=() r
  for r in "$@"; do [[ -f "$out/$r/metrics.jsonl" ]] && have+=("$out/$r"); done
  [[ ${#have[@]} -eq 0 ]] || "$bin" plot curves "${have[@]}" --split "$split" --title "$title" --out "$out/$file" > /dev/null || failed=1
}
plot_curves flipflop-sparse.svg sparse "Flip-Flop: error on sparse (p_i = 0.98)" flipflop-{abs,rope,cope}-s$s1
plot_curves selcopy-sparse.svg sparse "Selective Copy: error on sparse (twice the noise)" selcopy-{abs,rope,cope}-s$s1
plot_curves counting-5.svg test "Counting, at most 128 statements, 5 variables: test error" counting-m128-v5-{abs,rel,cope}-s$s1
plot_curves paper-flipflop-sparse.svg sparse "Flip-Flop, 512 tokens: error on sparse (p_i = 0.98)" paper-flipflop-512-{abs,rope,cope}-s$s1
plot_curves paper-selcopy-sparse.svg sparse "Selective Copy, 128 tokens: error on sparse (256 noise)" paper-selcopy-128-{abs,rope,cope}-s$s1
# What the Selective Copy CoPE model counts: a test example of the 128-token model (385
# tokens: 256 of input, the separator at 256, 128 of output), drawn as the window a map
# fits (256 x 256 at most): the queries from the separator on against the input's keys.
if [[ -f "$out/paper-selcopy-128-cope-s$s1/best.safetensors" ]]; then
  for l in 0 1; do for ((h = 0; h < 4; h++)); do
    "$bin" plot attention --ckpt "$out/paper-selcopy-128-cope-s$s1" --split test --layer $l --head $h \
      --queries 256:384 --keys 0:256 --out "$out/selcopy-cope-attention-l$l-h$h.svg" > "$out/selcopy-cope-attention-l$l-h$h.txt" || failed=1
  done; done
fi
if ls -d "$out"/counting-m* > /dev/null 2>&1; then
  "$bin" plot lengths "$out" --out "$out/counting-lengths.svg" > /dev/null || failed=1
fi
# Figure 3's shape: each text model's validation perplexity at 1x, 2x and 4x its training
# context, a chart per corpus (the values are printed into text-contexts.txt too).
if grep -qs '"task": "text"' "$out"/*/config.json; then
  "$bin" plot contexts "$out" --out "$out/text-contexts.svg" > "$out/text-contexts.txt" || failed=1
fi
# What a CoPE counting model's gates count: a short hand-written program (a map draws
# at most 256 tokens) through each head of the model trained on the longest programs;
# which head counts what differs between runs, so every head of every layer is drawn.
# Beside each map, NAME.txt has the mean gate of each key token over all queries, and
# NAME-last.txt over the last query alone (the `a` of `print a`, where the answer is
# predicted): what that head counts when it answers.
program="a = 0 ; pass; b = 0 ; a ++; pass; b ++; a ++; pass; pass; b = 0 ; a ++; b ++; pass; print a"
last=$(($(wc -w <<< "$program") - 1))  # one token per word: the index of the last
for r in paper-counting-e${epochs:-100}-v3-cope counting-m512-v3-cope-s$s1 counting-m256-v3-cope-s$s1 counting-m128-v3-cope-s$s1; do
  if [[ -f "$out/$r/result.jsonl" && -f "$out/$r/best.safetensors" ]]; then  # a finished run
    heads="$(sed -n 's/^ *"heads": \([0-9]*\),*$/\1/p' "$out/$r/config.json" 2> /dev/null || true)"
    layers="$(sed -n 's/^ *"layers": \([0-9]*\),*$/\1/p' "$out/$r/config.json" 2> /dev/null || true)"
    for ((l = 0; l < ${layers:-2}; l++)); do for ((h = 0; h < ${heads:-4}; h++)); do
      map="$out/counting-cope-attention-l$l-h$h"
      "$bin" plot attention --ckpt "$out/$r" --text "$program" --layer $l --head $h --out "$map.svg" > "$map.txt" || failed=1
      "$bin" plot attention --ckpt "$out/$r" --text "$program" --layer $l --head $h --queries $last:$((last + 1)) \
        --out "$map-last.svg" > "$map-last.txt" || failed=1
    done; done
    break
  fi
done
printf 'all\t%s\n' "$elapsed" >> "$out/times.tsv"
echo "reproduce.sh: $((runs - done_before)) runs in $((elapsed / 60)) min $((elapsed % 60)) s; tables: $out/results.md"
cat "$out/results.md"
exit $failed
}
