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
cleanup() { $sudo dpkg -r minicope > /dev/null 2>&1 || true; }
trap cleanup EXIT
$sudo dpkg -i "$deb" > /dev/null
"$repo/scripts/check_install.sh" --installed
echo "check_deb.sh: the .deb installs, and examples/custom_op builds and passes against it"
