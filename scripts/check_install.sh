#!/usr/bin/env bash
# check_install.sh BUILD | --installed — builds examples/custom_op against an installed
# minicope alone, and runs its tests and the installed program:
#   BUILD        first installs from BUILD into a temporary prefix, and uses that prefix
#   --installed  uses the minicope already on the system (/usr: scripts/check_deb.sh
#                installs the .deb, then calls this with no prefix given)
# The example is a copy outside the source tree, and no compile or link flag of its build
# may name the source tree. Run by .ci/run (docs/install.md). MINICOPE_EXAMPLE_CMAKE_ARGS:
# extra arguments for configuring the example (-DCMAKE_CXX_FLAGS=-I$PWD shows the check fail).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
[[ $# == 1 ]] || { echo "usage: scripts/check_install.sh BUILD | --installed" >&2; exit 2; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
prefix_args=() program=/usr/bin/minicope where="the installed minicope"
if [[ "$1" != --installed ]]; then
  cmake --install "$1" --prefix "$tmp/prefix" > /dev/null
  prefix_args=(-DCMAKE_PREFIX_PATH="$tmp/prefix") program="$tmp/prefix/bin/minicope" where="a temporary prefix"
fi
cp -r "$repo/examples/custom_op" "$tmp/src"
cmake -S "$tmp/src" -B "$tmp/build" "${prefix_args[@]}" ${MINICOPE_EXAMPLE_CMAKE_ARGS:-} > "$tmp/configure.log"
cmake --build "$tmp/build" -j"$(nproc)" > "$tmp/build.log"
# no include path or library of the example's build may point into this source tree
status=0
grep -rlq --include=flags.make --include=link.txt -e "$repo" "$tmp/build/CMakeFiles" || status=$?
if [[ $status != 1 ]]; then  # 0: found; 2: grep could not read the build
  echo "check_install.sh: the example's build reaches into the source tree ($repo), or could not be read" >&2
  exit 1
fi
ctest --test-dir "$tmp/build" --output-on-failure
"$program" gradcheck --op sigmoid > /dev/null  # the installed program runs

# Every layer and every dependency (SentencePiece through tasks): a program that links
# the top libraries and trains a BPE tokenizer, built through the CMake package and
# through pkg-config.
mkdir "$tmp/layers"
cat > "$tmp/layers/main.cpp" << 'CPP'
#include <cstdio>
#include <string>
#include "tasks/tokenizer.h"
#include "train/trainer.h"
int main() {
  std::string text;
  for (int i = 0; i < 40; ++i) text += "the cat sat on the mat,\tthe dog sat on the log " + std::to_string(i % 9) + "\n";
  const mc::Tokenizer t = mc::Tokenizer::train("bpe", text, 48);
  const bool ok = t.size() == 48 && t.decode(t.encode(text)) == text && t.encode(text).size() < text.size() / 2;
  std::puts(ok ? "layers: a bpe tokenizer round-trips" : "layers: the bpe tokenizer is wrong");
  return ok ? 0 : 1;
}
CPP
cat > "$tmp/layers/CMakeLists.txt" << 'CMAKE'
cmake_minimum_required(VERSION 3.20)
project(layers CXX)
find_package(minicope CONFIG REQUIRED)
add_executable(layers main.cpp)
target_compile_features(layers PRIVATE cxx_std_20)
target_link_libraries(layers PRIVATE minicope::train minicope::plot)
CMAKE
cmake -S "$tmp/layers" -B "$tmp/layers/build" "${prefix_args[@]}" > "$tmp/layers.log"
cmake --build "$tmp/layers/build" >> "$tmp/layers.log"
"$tmp/layers/build/layers"
pc_path="${PKG_CONFIG_PATH:-}"
[[ "$1" != --installed ]] && pc_path="$tmp/prefix/lib/pkgconfig${pc_path:+:$pc_path}"
# shellcheck disable=SC2046  # pkg-config's flags are words
g++ -O1 "$tmp/layers/main.cpp" -o "$tmp/layers/by-pkg-config" $(PKG_CONFIG_PATH="$pc_path" pkg-config --cflags --libs minicope)
"$tmp/layers/by-pkg-config" > /dev/null
echo "check_install.sh: examples/custom_op built and passed against $where; every layer links (CMake and pkg-config)"
