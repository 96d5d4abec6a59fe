#!/usr/bin/env bash
# plans.sh — every file in configs/ trains (one step of a one-sequence batch, so that a
# misspelt key or a value out of range fails here, not hours into a reproduction), and
# scripts/reproduce.sh plans each mode as its --help says: the runs it lists, the
# configs they name, the arguments it refuses. --dry-run trains nothing.
# Usage: plans.sh PATH/TO/minicope SOURCE_DIR  (exit 77, "skipped", when ../shared/data
# lacks a text config's corpus: the parts that can run still run, and a failure wins)
set -uo pipefail
bin="$(realpath "$1")" src="$2"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
fail=0 skipped=0
bad() { echo "FAIL: $*"; fail=1; }
skip() { echo "SKIP: $*"; skipped=1; }

# ---- configs/: each one trains a step (text configs read ../shared/data: skipped without it)
cd "$src" || exit 1
for f in configs/*.json; do
  data=() text="$(sed -n 's/^ *"data": "\(.*\)",*$/\1/p' "$f")"
  if [[ -n "$text" ]]; then
    if [[ ! -f "$text" ]]; then skip "$f (its --data, $text, is not here)"; continue; fi
    # its first 64 KB: the whole held-out text is evaluated, which takes minutes for the kernel source
    head -c 65536 "$text" > "$work/text.txt" && data=(--data "$work/text.txt")
  fi
  if "$bin" train --config "$f" "${data[@]}" --steps 1 --batch 1 --eval-size 1 --threads 1 --out "$work/run" > /dev/null 2> "$work/err"; then
    echo "ok:   $f"
  else
    bad "$f: $(tail -n 1 "$work/err")"
  fi
  rm -rf "$work/run"
done

# ---- reproduce.sh: the plans ------------------------------------------------------------
plan() {  # EXPECTED-RUNS ARGS...: a dry run plans that many runs
  local want="$1"; shift
  rm -rf "$work/p"
  if ! scripts/reproduce.sh "$@" --dry-run --out "$work/p" > /dev/null 2> "$work/err"; then
    bad "reproduce.sh $*: $(tail -n 1 "$work/err")"; return
  fi
  local got; got=$(wc -l < "$work/p/plan.txt")
  [[ "$got" == "$want" ]] || { bad "reproduce.sh $* plans $got runs, not $want"; return; }
  local twice; twice=$(cut -d' ' -f1 "$work/p/plan.txt" | sort | uniq -d | head -n 3 | tr '\n' ' ')
  [[ -z "$twice" ]] || { bad "reproduce.sh $* names runs twice: $twice"; return; }
  # every config a run names exists
  local c
  for c in $(grep -o -- '--config [^ ]*' "$work/p/plan.txt" | cut -d' ' -f2 | sort -u); do
    [[ -f "$c" ]] || bad "reproduce.sh $*: $c does not exist"
  done
  echo "ok:   reproduce.sh $* ($got runs)"
}
text=0
[[ -f ../shared/data/tinyshakespeare.txt && -f ../shared/data/linux_kernel.txt ]] && text=1
plan 12 --quick                                   # 3 Flip-Flop, 3 Selective Copy, 6 Counting
plan 72 --only flipflop,selcopy,counting          # 3 seeds: 9 + 9 + 3 lengths x 2 vars x 3 pe x 3
plan 18 --only counting --lengths 128
plan 6 --only counting --lengths 128 --select 'counting-m128-v3-(cope|rel)-s.'  # a block: 2 pe x 3 seeds
cut -d' ' -f1 "$work/p/plan.txt" | grep -qvE '^counting-m128-v3-(cope|rel)-s[123]$' && bad "--select kept a run it does not match"
plan 1 --only counting --lengths 128 --select 'counting-m128-v3-cope-s1'  # matched whole: not -s10 or a prefix
plan 36 --paper --only selcopy                    # 4 sizes x 3 pe x 3 seeds
plan 9 --paper --only flipflop
plan 6 --paper --only counting --epochs 1         # 2 vars x 3 pe (its data is written only when it runs)
grep -q -- '--epochs 1 ' "$work/p/plan.txt" || bad "reproduce.sh --paper --epochs 1 does not cut the Counting runs"
if [[ $text == 1 ]]; then
  plan 60 --paper --only text                     # 2 corpora x 2 contexts x 5 pe x 3 seeds
  plan 111 --paper
else
  skip "the text plans (../shared/data has no Tiny Shakespeare or Linux source)"
  plan 51 --paper                                 # the rest: 36 + 9 + 6
fi

refuse() {  # PATTERN ARGS...: refused with reproduce.sh's one error line, nothing planned
  local pattern="$1"; shift
  rm -rf "$work/r"
  local err; err=$(scripts/reproduce.sh "$@" --dry-run --out "$work/r" 2>&1 > /dev/null); local code=$?
  if [[ $code == 0 ]] || ! grep -qE "$pattern" <<< "$err" || [[ -f "$work/r/plan.txt" ]]; then
    bad "reproduce.sh $* -> exit $code: $err"
  else
    echo "ok:   reproduce.sh $* refused"
  fi
}
refuse '^reproduce.sh: error: --quick and --paper' --quick --paper
refuse '^reproduce.sh: error: --epochs applies to --paper' --epochs 3
refuse '^reproduce.sh: error: --only: unknown group .tables.' --only tables
refuse '^reproduce.sh: error: --lengths does not apply to --paper' --paper --lengths 128
refuse '^reproduce.sh: error: --lengths needs' --lengths 100
refuse '^reproduce.sh: error: unknown argument' --fast
refuse '^reproduce.sh: error: --select .counting-\(. is not an extended regular expression: .*[^:]$' --select 'counting-('
refuse '^reproduce.sh: error: nothing to run: --select .cope-s4. matches none' --quick --select 'cope-s4'
refuse '^reproduce.sh: error: --epochs cuts' --paper --only selcopy --epochs 3
MINICOPE_BIN=/nonexistent refuse '^reproduce.sh: error: MINICOPE_BIN=/nonexistent is not an executable' --quick

# ---- reproduce.sh: the arguments the plans add to a config train too ---------------------
# (--seq 512 --batch 2 on a text config, --data-tokens 16 on Selective Copy's): one step of
# each distinct recipe of the --paper plan, without its seed; Counting's data files are
# written only when it runs, so its rows are left to the configs above
rm -rf "$work/p"; scripts/reproduce.sh --paper --only selcopy,flipflop,text --dry-run --out "$work/p" > /dev/null 2>&1
while read -r recipe; do
  # a text recipe reads its corpus's first 16 KB (its held-out part still holds a sequence of 513)
  text="$(grep -o -- '--data [^ ]*' <<< "$recipe" | cut -d' ' -f2)"
  [[ -n "$text" ]] || text="$(sed -n 's/^ *"data": "\(.*\)",*$/\1/p' "$(grep -o -- '--config [^ ]*' <<< "$recipe" | cut -d' ' -f2)")"
  data=() recipe="$(sed 's/ --data [^ ]*//' <<< "$recipe")"
  if [[ -n "$text" ]]; then
    [[ -f "$text" ]] || continue  # skipped above
    head -c 16384 "$text" > "$work/text.txt" && data=(--data "$work/text.txt")
  fi
  # shellcheck disable=SC2086  # a recipe is a list of arguments
  if "$bin" train $recipe "${data[@]}" --steps 1 --eval-size 1 --threads 1 --out "$work/run" > /dev/null 2> "$work/err"; then
    echo "ok:   train $recipe"
  else
    bad "train $recipe: $(tail -n 1 "$work/err")"
  fi
  rm -rf "$work/run"
done < <(cut -d' ' -f2- "$work/p/plan.txt" | sed 's/ --seed [0-9]*//' | sort -u)

# ---- reproduce.sh: a kept run is kept only if the same recipe made it --------------------
# A stand-in for the program, so that nothing trains: it makes the run's folder and its result.
cat > "$work/fake" <<'SH'
#!/usr/bin/env bash
if [[ "$1" == train ]]; then
  while [[ $# -gt 0 ]]; do [[ "$1" == --out ]] && { mkdir -p "$2"; echo '{}' > "$2/config.json"; }; shift; done
  echo '{"split": "test", "error_rate": 0}'
fi
exit 0
SH
chmod +x "$work/fake"
kept() {  # WANT-EXIT PATTERN: what a second reproduce.sh --paper --only flipflop into $work/k says
  local want="$1" pattern="$2" err code
  err=$(MINICOPE_BIN="$work/fake" scripts/reproduce.sh --paper --only flipflop --jobs 1 --out "$work/k" 2>&1 > /dev/null); code=$?
  if [[ ( $want == 0 && $code != 0 ) || ( $want != 0 && $code == 0 ) ]] || ! grep -qE "$pattern" <<< "$err$(cat "$work/k/times.tsv" 2>/dev/null)"; then
    bad "reproduce.sh into a folder of kept runs ($pattern) -> exit $code: $(tail -n 2 <<< "$err")"
  else
    echo "ok:   reproduce.sh with kept runs: $pattern"
  fi
}
rm -rf "$work/k"
kept 0 'paper-flipflop-512-abs-s3.*done'                  # the first time, every run trains
args="$work/k/paper-flipflop-512-cope-s2.args"
grep -q '^config sha256 [0-9a-f]\{64\} $' "$args" || bad "NAME.args does not record its config's sha256: $(cat "$args")"
kept 0 '^all'                                             # the second time, all are kept
sed -i "s/^config sha256 [0-9a-f]*/config sha256 $(printf '0%.0s' {1..64})/" "$args"
kept 1 'cope-s2 in .* another version of its config file' # an edited config is a changed recipe
sed -i '1s/$/ --lr 1/' "$args"
kept 1 'cope-s2 in .* trained with other settings'        # and so are changed arguments

# a part that could not run shows the whole test as skipped (77), unless a part failed
[[ $fail == 1 ]] && exit 1
[[ $skipped == 1 ]] && exit 77
exit 0
