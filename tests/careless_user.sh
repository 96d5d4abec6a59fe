#!/usr/bin/env bash
# careless_user.sh — what a new (and careless) user broke (issue 14), as that user meets
# it: the built program, real files, FIFOs, a second process. Each numbered section is
# one defect of the issue; every check failed on the program before the fixes.
# Usage: careless_user.sh PATH/TO/minicope
set -uo pipefail
bin="$1"
work="$(mktemp -d)"
trap 'chmod -R u+w "$work" 2> /dev/null; rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
# each section starts with section; its ok line prints only if it failed nothing
section() { section_failures=$failures; }
ok() { ((failures == section_failures)) && echo "ok:   $*"; }
section_failures=0
tiny=(--layers 1 --dim 16 --heads 2 --batch 4 --eval-size 8 --threads 1)

# one_error CODE WANT -- ARGS...: exit CODE, one stderr line "minicope: error: ...WANT...",
# within 20 s (a hang is a failure, not a stuck test)
one_error() {
  local code="$1" want="$2"; shift 3
  local err got lines
  err="$(timeout 20 "$bin" "$@" 2>&1 > /dev/null)"; got=$?
  lines="$(printf '%s\n' "$err" | grep -c .)"
  if [[ $got == 124 ]]; then fail "minicope $* hangs"; return 1; fi
  if [[ $got != "$code" || $lines != 1 || "$err" != "minicope: error: "* || "$err" != *"$want"* ]]; then
    fail "minicope $* -> exit $got (want $code), stderr: $err"; return 1
  fi
  return 0
}
# sum of a folder's files (names, sizes, contents): unchanged means nothing was touched
state() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 -r md5sum; find . | sort) 2> /dev/null | md5sum; }

# ---- 1. byte and char runs on any bytes: train, checkpoint, resume exactly, eval, sample ----
section
python3 - "$work" << 'EOF'
import random, sys
random.seed(7)
d = sys.argv[1]
open(d + "/all-bytes.bin", "wb").write(bytes(range(256)) * 30 + bytes(random.randrange(256) for _ in range(6000)))
# text with invalid UTF-8: a lone continuation byte, an overlong form, a surrogate, past U+10FFFF
open(d + "/bad-utf8.txt", "wb").write(("naïve text, 東京 " * 200).encode() + b"\x80 \xc0\xaf \xed\xa0\x80 \xf4\x90\x80\x80 " * 40)
EOF
for kind in byte char; do
  data="$work/all-bytes.bin"; [[ $kind == char ]] && data="$work/bad-utf8.txt"
  run=(train --task text --data "$data" --tokenizer "$kind" --seq 16 "${tiny[@]}" --steps 6 --eval-every 2)
  if ! "$bin" "${run[@]}" --out "$work/$kind-whole" > /dev/null 2> "$work/err"; then
    fail "$kind run: $(tail -n 1 "$work/err")"; continue
  fi
  "$bin" "${run[@]}" --out "$work/$kind-split" --stop-after 3 > /dev/null 2>&1 &&
    "$bin" "${run[@]}" --out "$work/$kind-split" --resume > /dev/null 2>&1 || fail "$kind run: stop and resume failed"
  cmp -s "$work/$kind-whole/last.safetensors" "$work/$kind-split/last.safetensors" || fail "$kind run: the resumed run differs"
  "$bin" eval --ckpt "$work/$kind-whole" > /dev/null 2>&1 || fail "$kind run: eval failed"
  n=$("$bin" sample --ckpt "$work/$kind-whole" --tokens 50 --seed 2 2> /dev/null | wc -c)
  [[ $n -ge 50 ]] || fail "$kind run: sample printed $n bytes"
done
ok "1. byte and char runs on all 256 byte values and on invalid UTF-8: trained, resumed bit-exactly, evaluated, sampled"

# ---- 2. too large for the machine: one line, at once, and no run folder ------------------
section
python3 - "$work/huge" << 'EOF'
import json, os, sys
os.makedirs(sys.argv[1])
line = {"context": "a = 0 ; " + "a ++; pass; " * 100000, "question": "print a", "answer": "5"}
small = {"context": "a = 0 ; a ++;", "question": "print a", "answer": "1"}
open(sys.argv[1] + "/train.jsonl", "w").write(json.dumps(line) + "\n")
for s in ("valid", "test"): open(sys.argv[1] + "/" + s + ".jsonl", "w").write(json.dumps(small) + "\n")
EOF
big=0
while IFS='|' read -r want args; do
  # shellcheck disable=SC2086
  one_error 2 "$want" -- train --out "$work/big" --steps 5 --threads 1 $args && big=$((big + 1))
  [[ ! -e "$work/big" ]] || { fail "'$args' left $work/big behind"; rm -rf "$work/big"; }
done << EOF
--npos|--npos 300000000
--dim 16384|--dim 16384
(--length)|--length 16000
--batch 1048576|--batch 1048576
--eval-size|--eval-size 4194304
--layers 1024|--layers 1024 --dim 512
--seq|--seq 1000000000
--npos|--npos 1000000000
--max-steps|--task counting --max-steps 65536
--memory-check|--task counting --max-steps 4000 --batch 256
EOF
one_error 1 "train.jsonl:1: a program of" -- train --task counting --data "$work/huge" --out "$work/big" --threads 1 &&
  big=$((big + 1))
[[ ! -e "$work/big" ]] || fail "the huge counting line left $work/big behind"
[[ $big == 11 ]] && ok "2. 11 runs too large for the machine refused with one line, no folder left"

# ---- 3. plot --out replaces only pictures -----------------------------------------------
section
run="$work/byte-whole"
mkfifo "$work/fifo"
ln -s "$run/config.json" "$work/link.svg"
cp "$run/metrics.jsonl" "$work/metrics-copy.jsonl"
before="$(state "$run")"
p3=0
for target in "$work/fifo" "$work/link.svg" "$run/best.safetensors" "$run/metrics.jsonl" "$run/config.json"; do
  one_error 2 "--out $target" -- plot curves "$run" --out "$target" && p3=$((p3 + 1))
done
[[ -p "$work/fifo" && -L "$work/link.svg" ]] || fail "plot replaced the FIFO or the link"
[[ "$(state "$run")" == "$before" ]] || fail "plot changed the run folder it read"
if [[ $(id -u) == 0 ]]; then  # a device node of our own (as /dev/null), never a real one
  mknod "$work/null-device" c 1 3
  one_error 2 "not a regular file" -- plot curves "$run" --out "$work/null-device" && p3=$((p3 + 1))
  [[ -c "$work/null-device" ]] || fail "plot replaced a device node"
else
  p3=$((p3 + 1))
fi
"$bin" plot curves "$run" --out "$work/a.svg" > /dev/null 2>&1 && "$bin" plot curves "$run" --out "$work/a.svg" > /dev/null 2>&1 ||
  fail "plot does not replace its own picture"
[[ $p3 == 6 ]] && ok "3. plot --out refuses a FIFO, a link, a device and a run's files, and replaces its own SVG"

# ---- 4. two trainings into one folder: the second is refused and changes nothing -------
section
long=(train --out "$work/busy" --length 16 "${tiny[@]}" --steps 1000000 --eval-every 5)
"$bin" "${long[@]}" > /dev/null 2>&1 &
first=$!
for _ in $(seq 100); do [[ -f "$work/busy/last.safetensors" ]] && break; sleep 0.1; done
kill -STOP "$first"  # hold it still while the second one tries
before="$(state "$work/busy")"
one_error 1 "another minicope train is running" -- "${long[@]}" --resume &&
  one_error 1 "another minicope train is running" -- "${long[@]}" --seed 9
[[ "$(state "$work/busy")" == "$before" ]] || fail "a refused second run changed the folder"
kill -CONT "$first"
kill -TERM "$first"
wait "$first"
# and two started at once into a new folder: exactly one trains
two=(train --out "$work/race" --length 16 "${tiny[@]}" --steps 30 --eval-every 10)
"$bin" "${two[@]}" > "$work/race1" 2>&1 & a=$!
"$bin" "${two[@]}" --seed 2 > "$work/race2" 2>&1 & b=$!
wait $a; ra=$?; wait $b; rb=$?
if (( (ra == 0) == (rb == 0) )); then
  fail "two runs into one new folder: exits $ra and $rb (one must succeed, one refuse)"
else
  python3 -c "import json,sys; [json.loads(l) for l in open(sys.argv[1])]" "$work/race/metrics.jsonl" ||
    fail "metrics.jsonl of the race is not one run's lines"
  ok "4. a second train into a busy folder is refused (one line, nothing changed); of two racing, one trains"
fi

# ---- 5. a folder with only metrics.jsonl or config.json holds a run --------------------
section
for f in metrics.jsonl config.json; do
  mkdir -p "$work/half-$f"
  seq 109 | sed 's/.*/{"step": &, "loss": 1}/' > "$work/half-$f/$f"
  before="$(state "$work/half-$f")"
  one_error 2 "holds a run that saved no checkpoint ($f)" -- train --out "$work/half-$f" --length 16 "${tiny[@]}" --steps 2
  [[ "$(state "$work/half-$f")" == "$before" ]] || fail "a refused run changed $work/half-$f"
  ok "5. a folder holding only $f is not reused"
done

# ---- 6. a resume that cannot complete changes nothing ----------------------------------
section
res="$work/resume-me"
"$bin" train --out "$res" --length 16 "${tiny[@]}" --steps 4 --eval-every 2 > /dev/null 2>&1 || fail "a short run failed"
mkdir "$res/last.safetensors.tmp"
before="$(state "$res")"
one_error 1 "last.safetensors.tmp: is in the way" -- train --out "$res" --resume --steps 8
[[ "$(state "$res")" == "$before" ]] || fail "a refused resume changed $res"
ok "6. a resume with last.safetensors.tmp in the way changes nothing"
rmdir "$res/last.safetensors.tmp"
# a read-only folder (as root, whose writes permissions do not stop, through setpriv)
as_user=()
if [[ $(id -u) == 0 ]]; then
  if command -v setpriv > /dev/null; then as_user=(setpriv --reuid=65534 --regid=65534 --clear-groups); fi
fi
if [[ $(id -u) != 0 || ${#as_user[@]} -gt 0 ]]; then
  chmod 755 "$work"
  chmod -R a+r "$res"
  [[ $(id -u) == 0 ]] && chown -R 65534:65534 "$res"
  chmod a-w "$res"
  before="$(state "$res")"
  err="$("${as_user[@]}" "$bin" train --out "$res" --resume --steps 8 --threads 1 2>&1 > /dev/null)"
  if [[ "$err" == "minicope: error: --out $res: cannot write in the folder"* && "$(state "$res")" == "$before" ]]; then
    ok "6. a resume in a read-only folder changes nothing"
  else
    fail "a resume in a read-only folder: $err"
  fi
  chmod u+w "$res"
fi

# ---- 7. FIFOs are refused, never waited on ----------------------------------------------
section
f7=0
for flag in --data --val --config; do
  args=(train --out "$work/f7" --task text --data "$work/bad-utf8.txt" --seq 8 "${tiny[@]}" --steps 1)
  [[ $flag == --data ]] && args=(train --out "$work/f7" --task text --data "$work/fifo" --seq 8 "${tiny[@]}" --steps 1)
  [[ $flag != --data ]] && args+=("$flag" "$work/fifo")
  one_error 1 "is not a regular file (a FIFO)" -- "${args[@]}" && f7=$((f7 + 1))
done
one_error 1 "is not a regular file (a FIFO)" -- eval --ckpt "$work/fifo" && f7=$((f7 + 1))
mkdir "$work/fifo-run" && mkfifo "$work/fifo-run/last.safetensors"
one_error 1 "is not a regular file (a FIFO)" -- train --out "$work/fifo-run" --resume && f7=$((f7 + 1))
one_error 1 "is not a regular file" -- train --out "$work/f7" --task text --data /dev/zero --seq 8 "${tiny[@]}" && f7=$((f7 + 1))
[[ $f7 == 6 ]] && ok "7. a FIFO as --data, --val, --config, --ckpt or a resumed checkpoint, and /dev/zero, are refused at once"

# ---- 8. word samples have spaces between words ------------------------------------------
section
for i in $(seq 300); do echo "the quick dog runs and jumps over the lazy cat"; done > "$work/words.txt"
"$bin" train --task text --data "$work/words.txt" --tokenizer word --seq 16 "${tiny[@]}" --steps 30 \
  --out "$work/words" > /dev/null 2>&1 || fail "a word run failed"
sample="$("$bin" sample --ckpt "$work/words" --prompt "the quick" --tokens 40 --temperature 0.5 --seed 1 2> /dev/null)"
bad_words="$(printf '%s\n' "$sample" | tr -s ' \n' '\n\n' | grep -v -x -E 'the|quick|dog|runs|and|jumps|over|lazy|cat|<unk>|' | head -n 3)"
[[ -z "$bad_words" && $(printf '%s' "$sample" | wc -w) -ge 20 ]] && ok "8. word samples are words with spaces" ||
  fail "word sample has run-together words: $(printf '%s' "$bad_words" | tr '\n' ' ')"

# ---- 9. a failed write to standard output is an error -----------------------------------
section
w9=0
for cmd in "eval --ckpt $work/byte-whole" "eval --ckpt $work/byte-whole --json" "sample --ckpt $work/words --tokens 5" \
           "gradcheck --list" "help"; do
  # shellcheck disable=SC2086
  err="$(timeout 20 "$bin" $cmd 2>&1 > /dev/full)"; code=$?
  if [[ $code == 1 && "$err" == "minicope: error: writing the output failed"* && $(printf '%s\n' "$err" | grep -c .) == 1 ]]; then
    w9=$((w9 + 1))
  else
    fail "minicope $cmd > /dev/full -> exit $code: $err"
  fi
done
# a pipe whose reader has gone, with SIGPIPE ignored (as some launchers leave it): EPIPE
code="$(python3 -c '
import os, signal, subprocess, sys
r, w = os.pipe()
os.close(r)
p = subprocess.run([sys.argv[1], "gradcheck", "--list"], stdout=w, stderr=subprocess.DEVNULL,
                   preexec_fn=lambda: signal.signal(signal.SIGPIPE, signal.SIG_IGN))
print(p.returncode)' "$bin")"
[[ $code == 1 ]] && w9=$((w9 + 1)) || fail "gradcheck --list into a closed pipe (SIGPIPE ignored) exits $code"
[[ $w9 == 6 ]] && ok "9. output to a full disk (5 commands) or a closed pipe exits 1 with one line"

# ---- 10. messages that name the flag or file --------------------------------------------
section
m10=0
printf '{"steps": 9223372036854775808}' > "$work/big-int.json"
one_error 1 "got 9223372036854775808" -- train --out "$work/m" --config "$work/big-int.json" && m10=$((m10 + 1))
printf '{"st\\u0000eps": 5}' > "$work/nul-key.json"
one_error 1 "unknown setting 'st\\x00eps'" -- train --out "$work/m" --config "$work/nul-key.json" && m10=$((m10 + 1))
one_error 2 "--dim 256 is not divisible by heads (3)" -- bench --heads 3 --steps 1 && m10=$((m10 + 1))
one_error 2 "--val-gates cannot be combined with --sep-key" -- train --out "$work/m" --sep-key --val-gates && m10=$((m10 + 1))
ln -s "$work/loop" "$work/loop"
one_error 1 "--out $work/loop: cannot be used (Too many levels of symbolic links)" -- train --out "$work/loop" && m10=$((m10 + 1))
echo "a file" > "$work/a-file"
one_error 1 "--out $work/a-file/run: cannot be used (Not a directory)" -- train --out "$work/a-file/run" --length 16 "${tiny[@]}" --steps 1 &&
  m10=$((m10 + 1))
if [[ $(id -u) != 0 || ${#as_user[@]} -gt 0 ]]; then  # a folder this user may not write in
  mkdir -p "$work/locked" && chmod 555 "$work/locked"
  [[ $(id -u) == 0 ]] && chown 0:0 "$work/locked"
  err="$("${as_user[@]}" "$bin" train --out "$work/locked/run" --length 16 "${tiny[@]}" --steps 1 2>&1 > /dev/null)"
  [[ "$err" == "minicope: error: --out $work/locked/run: cannot create the folder (Permission denied)" ]] && m10=$((m10 + 1)) ||
    fail "an unwritable --out: $err"
else
  m10=$((m10 + 1))
fi
mkdir -p "$work/rep/r1"
printf '{"task": "flipflop", "pe": "cope"}\n' > "$work/rep/r1/config.json"
printf '{"split": "test", "loss": 0.1, "error_rate": "low"}\n' > "$work/rep/r1/result.jsonl"
one_error 1 "result.jsonl:1: \"error_rate\" is not a number" -- report "$work/rep" && m10=$((m10 + 1))
head -c 2000 "$work/words.txt" > "$work/short.txt"
"$bin" train --task text --data "$work/short.txt" --tokenizer char --seq 16 "${tiny[@]}" --steps 2 --out "$work/short" > /dev/null 2>&1 &&
  "$bin" eval --ckpt "$work/short" --seq 1000 > /dev/null 2> "$work/err" && m10=$((m10 + 1)) ||
  fail "eval --seq past a short text: $(cat "$work/err")"
[[ $m10 == 9 ]] && ok "10. errors name the value, the flag, the file (9 cases)"

# ---- 11. one rule everywhere -------------------------------------------------------------
section
r11=0
one_error 2 "--steps is given twice" -- train --out "$work/m" --steps 5 --steps 6 && r11=$((r11 + 1))
one_error 2 "--steps expects an integer, got ' 5'" -- train --out "$work/m" --steps " 5" && r11=$((r11 + 1))
one_error 2 "--tokenizer applies to --task text, not flipflop" -- train --out "$work/m" --tokenizer word && r11=$((r11 + 1))
one_error 2 "--vocab-size 1 would leave only <unk>" -- train --out "$work/m" --task text --data "$work/words.txt" --tokenizer word --vocab-size 1 && r11=$((r11 + 1))
one_error 2 "--vocab-size applies to --tokenizer word" -- train --out "$work/m" --task text --data "$work/words.txt" --vocab-size 10 && r11=$((r11 + 1))
mkdir -p "$work/dup" && for s in train valid test; do
  printf '{"context": "a = 0 ;", "context": "a = 0 ; a ++;", "question": "print a", "answer": "1"}\n' > "$work/dup/$s.jsonl"; done
one_error 1 "train.jsonl:1: the key 'context' is given twice" -- train --out "$work/m" --task counting --data "$work/dup" && r11=$((r11 + 1))
printf '{"task": 7}\n' > "$work/rep/r1/config.json"
one_error 1 "config.json: \"task\" is not one of" -- report "$work/rep" && r11=$((r11 + 1))
one_error 2 "--op must not be empty" -- gradcheck --op "" && r11=$((r11 + 1))
one_error 2 "no command given" -- && r11=$((r11 + 1))
"$bin" help train | grep -q -- "--tokenizer" && r11=$((r11 + 1)) || fail "'minicope help train' does not show train's flags"
for h in "help --help" "--help --help" "help -h" "help help"; do  # no endless help of help
  # shellcheck disable=SC2086
  timeout 10 "$bin" $h > /dev/null 2>&1 || fail "minicope $h exits $?"
done
one_error 2 "help: unknown command 'nope'" -- help nope && r11=$((r11 + 1))
"$bin" sample --help > /dev/null && one_error 2 "--seed is given twice" -- sample --ckpt "$work/words" --prompt --seed --seed 3 --seed 4 &&
  r11=$((r11 + 1))
"$bin" train --help | grep -q -- "--seq.*0: what the task needs" && r11=$((r11 + 1)) || fail "train --help does not say what --seq 0 means"
[[ "$(python3 -c "import json; print(json.load(open('$work/char-whole/config.json'))['vocab-size'])")" == 0 ]] && r11=$((r11 + 1)) ||
  fail "a char run's config.json has the model's vocabulary in vocab-size"
"$bin" train --task text --data "$work/words.txt" --tokenizer word --vocab-size 5 --seq 8 "${tiny[@]}" --steps 1 --out "$work/cap" > /dev/null 2>&1 &&
  [[ "$(python3 -c "import json; print(json.load(open('$work/cap/config.json'))['vocab-size'])")" == 5 ]] && r11=$((r11 + 1)) ||
  fail "a word run's config.json lost its vocabulary cap"
[[ $r11 == 15 ]] && ok "11. duplicates, spaces, other tasks' settings, empty values, help: one rule each (15 cases)"

if ((failures)); then echo "$failures failure(s)"; exit 1; fi
echo "all passed"
