#!/usr/bin/env bash
# check_install.sh BUILD — installs minicope from BUILD into a temporary prefix, then
# configures, builds and tests examples/custom_op against that prefix alone: a copy of
# the example outside the source tree, and a check that no compile or link flag names
# the source tree. Run by .ci/run (docs/install.md). MINICOPE_EXAMPLE_CMAKE_ARGS: extra
# arguments for configuring the example (e.g. -DCMAKE_CXX_FLAGS=-I$PWD shows the check fail).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:?usage: scripts/check_install.sh BUILD}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" > /dev/null
cp -r "$repo/examples/custom_op" "$tmp/src"
cmake -S "$tmp/src" -B "$tmp/build" -DCMAKE_PREFIX_PATH="$tmp/prefix" ${MINICOPE_EXAMPLE_CMAKE_ARGS:-} > "$tmp/configure.log"
cmake --build "$tmp/build" -j"$(nproc)" > "$tmp/build.log"
# no include path or library of the example's build may point into this source tree
status=0
grep -rlq --include=flags.make --include=link.txt -e "$repo" "$tmp/build/CMakeFiles" || status=$?
if [[ $status != 1 ]]; then  # 0: found; 2: grep could not read the build
  echo "$(basename "$0"): the example's build reaches into the source tree ($repo), or could not be read" >&2
  exit 1
fi
ctest --test-dir "$tmp/build" --output-on-failure
# the installed program runs from the prefix too
"$tmp/prefix/bin/minicope" gradcheck --op sigmoid > /dev/null
echo "check_install.sh: installed into a temporary prefix; examples/custom_op built and passed against it"
