#!/usr/bin/env bash
# check_install.sh BUILD — installs minicope from BUILD into a temporary prefix, then
# configures, builds and tests examples/custom_op against that prefix alone: a copy of
# the example outside the source tree, and a check that no compile or link flag names
# the source tree. Run by .ci/run (docs/install.md).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:?usage: scripts/check_install.sh BUILD}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" > /dev/null
cp -r "$repo/examples/custom_op" "$tmp/src"
cmake -S "$tmp/src" -B "$tmp/build" -DCMAKE_PREFIX_PATH="$tmp/prefix" > "$tmp/configure.log"
cmake --build "$tmp/build" -j"$(nproc)" > "$tmp/build.log"
if grep -rl -- "$repo" "$tmp/build/CMakeFiles" --include=flags.make --include=link.txt; then
  echo "check_install.sh: the example's build reaches into the source tree ($repo)" >&2
  exit 1
fi
ctest --test-dir "$tmp/build" --output-on-failure
# the installed program runs from the prefix too
"$tmp/prefix/bin/minicope" gradcheck --op sigmoid > /dev/null
echo "check_install.sh: installed into a temporary prefix; examples/custom_op built and passed against it"
