#!/usr/bin/env bash
# check_deb.sh [BUILD] — builds minicope for a baseline processor (x86-64-v2, not this
# machine's), packs it as a .deb (cpack), installs it with dpkg, builds and tests
# examples/custom_op against the installed package (/usr, no path into this tree), runs
# the installed program, and removes the package again. Needs root or sudo. Run by .ci/run
# (docs/install.md). BUILD defaults to build-portable.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$repo/build-portable}"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo -n"
cmake -S "$repo" -B "$build" -DMINICOPE_ARCH=x86-64-v2 -DMINICOPE_BUILD_TESTS=OFF > /dev/null
cmake --build "$build" -j"$(nproc)" > "$build/check_deb-build.log" 2>&1 || { tail -20 "$build/check_deb-build.log"; exit 1; }
(cd "$build" && rm -f minicope_*.deb && cpack -G DEB > cpack.log 2>&1) || { tail -20 "$build/cpack.log"; exit 1; }
deb="$(ls "$build"/minicope_*.deb)"
echo "check_deb.sh: built $(basename "$deb"):"
dpkg-deb --info "$deb" | grep -E "Version|Depends|Installed-Size"
if dpkg-query -W minicope > /dev/null 2>&1; then
  echo "check_deb.sh: a minicope package is already installed here; not replacing it" >&2
  exit 1
fi
tmp="$(mktemp -d)"
cleanup() { $sudo dpkg -r minicope > /dev/null 2>&1 || true; rm -rf "$tmp"; }
trap cleanup EXIT
$sudo dpkg -i "$deb" > /dev/null
cp -r "$repo/examples/custom_op" "$tmp/src"
cmake -S "$tmp/src" -B "$tmp/build" > /dev/null  # no prefix given: /usr, where the package put it
cmake --build "$tmp/build" -j"$(nproc)" > /dev/null
# no include path or library of the example's build may point into this source tree
status=0
grep -rlq --include=flags.make --include=link.txt -e "$repo" "$tmp/build/CMakeFiles" || status=$?
if [[ $status != 1 ]]; then  # 0: found; 2: grep could not read the build
  echo "$(basename "$0"): the example's build reaches into the source tree ($repo), or could not be read" >&2
  exit 1
fi
ctest --test-dir "$tmp/build" --output-on-failure
/usr/bin/minicope gradcheck --op sigmoid > /dev/null
pkg-config --exists minicope
echo "check_deb.sh: the .deb installs; examples/custom_op built and passed against it"
