#!/usr/bin/env bash
# Runs the built minicope binary as a user would and checks exit codes and messages.
set -u
bin="$1"
fail=0
expect() {  # expect <exit code> <stderr regex> -- args...
  local code="$1" pattern="$2"; shift 3
  local err; err=$("$bin" "$@" 2>&1 >/dev/null); local got=$?
  local lines; lines=$(printf '%s\n' "$err" | grep -c . || true)
  if [ "$got" -ne "$code" ] || ! printf '%s' "$err" | grep -qE "$pattern" || [ "$lines" -gt 1 ]; then
    echo "FAIL: minicope $* -> exit $got, stderr: $err"; fail=1
  else
    echo "ok:   minicope $*"
  fi
}
expect 2 '^minicope: error: unknown command .frobnicate. \(see .minicope --help.\)$' -- frobnicate
expect 2 '^minicope: error: .*threads.*' -- gradcheck --threads abc
expect 2 '^minicope: error: --threads must be between 1 and 4096, got 0' -- gradcheck --threads 0
expect 2 '^minicope: error: .*no-such-flag.*--help' -- gradcheck --no-such-flag
expect 2 '^minicope: error: no op or case named .nope.' -- gradcheck --op nope
out=$("$bin" gradcheck --op relu 2>/tmp/minicope_cli_err.$$); code=$?
if [ $code -ne 0 ] || [ -s /tmp/minicope_cli_err.$$ ] || ! printf '%s' "$out" | grep -q '^1 passed, 0 failed$'; then
  echo "FAIL: minicope gradcheck --op relu -> exit $code, stdout: $out"; fail=1
fi
rm -f /tmp/minicope_cli_err.$$
"$bin" --help | grep -q gradcheck || { echo "FAIL: --help does not list gradcheck"; fail=1; }
"$bin" gradcheck --help | grep -q -- '--op' || { echo "FAIL: gradcheck --help does not list --op"; fail=1; }
exit $fail
