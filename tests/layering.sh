#!/usr/bin/env bash
# tests/layering.sh ROOT — scripts/check_layering.sh passes on the tree, and fails on
# each kind of mistake it exists to catch, planted in a copy: an include that points up,
# cxxopts below cli/, a fuzz target reaching the trainer, a folder of code with no place.
set -uo pipefail
root="$1"
check="$root/scripts/check_layering.sh"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fail=0

bash "$check" "$root" >/dev/null || { echo "FAIL: the tree itself does not pass"; fail=1; }

copy() {  # a fresh copy of the code folders
  rm -rf "$tmp/tree" && mkdir -p "$tmp/tree"
  (cd "$root" && tar -cf - --exclude='build*' tensor autograd nn optim io tasks dist config train plot cli fuzz scripts) | tar -xf - -C "$tmp/tree"
}
expect_refused() {  # expect_refused WHAT FILE LINE
  copy
  printf '%s\n' "$3" >>"$tmp/tree/$2"
  if out="$(bash "$check" "$tmp/tree" 2>&1)"; then
    echo "FAIL: not refused: $1"; fail=1
  elif ! grep -q "$2" <<<"$out"; then
    echo "FAIL: $1: the message does not name $2: $out"; fail=1
  fi
}
expect_refused "tensor including autograd" tensor/tensor.h '#include "autograd/var.h"'
expect_refused "tasks including train" tasks/task.cpp '#include "train/trainer.h"'
expect_refused "nn including config" nn/module.cpp '#include "config/run_config.h"'
expect_refused "train including cli" train/trainer.cpp '#include "cli/cli.h"'
expect_refused "cxxopts in config" config/run_config.cpp '#include <cxxopts.hpp>'
expect_refused "a fuzz target including train" fuzz/fuzz_config.cpp '#include "train/trainer.h"'
expect_refused "nn including io in angle brackets" nn/attention_rows.h '#include <io/strings.h>'
expect_refused "a path through .." autograd/var.h '#include "autograd/../train/trainer.h"'
copy
mkdir -p "$tmp/tree/tasks/more" && echo '#include "cli/cli.h"' >"$tmp/tree/tasks/more/deep.h"
bash "$check" "$tmp/tree" >/dev/null 2>&1 && { echo "FAIL: an upward include in a subfolder passed"; fail=1; }
copy
mkdir -p "$tmp/tree/extra" && echo 'int x;' >"$tmp/tree/extra/x.cpp"
bash "$check" "$tmp/tree" >/dev/null 2>&1 && { echo "FAIL: a folder with no place in the layering passed"; fail=1; }

[ $fail = 0 ] && echo "layering: the tree passes; 10 planted mistakes are refused"
exit $fail
