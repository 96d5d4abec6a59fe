#!/usr/bin/env bash
# scripts/check_layering.sh [ROOT] — every include points down the layering.
#
# Each folder is one library and may include only the folders below it (docs/layout.md):
#
#   tensor <- autograd <- nn          the model
#   tensor <- autograd <- optim       AdamW, schedules, clipping
#   tensor <- io <- tasks             files, safetensors, errors; the data
#   autograd, io <- dist              MPI ranks, gradient sums
#   nn, optim, tasks <- config        every setting of a run
#   config, dist <- train             the loop, evaluation, run folder
#   io <- plot                        SVG; the report tables
#   everything <- cli                 the command line; cxxopts only here
#
# fuzz/ reaches only the readers it fuzzes (io, tasks, config). The build runs this
# (target `layering`) and fails on the first include that points up. Exit 1 then,
# naming each such include.
set -uo pipefail
root="${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
cd "$root" || exit 2

# folder: the folders it may include (itself first)
declare -A allowed
while read -r folder may; do allowed[$folder]="$may"; done <<'TABLE'
tensor   tensor
autograd autograd tensor
nn       nn autograd tensor
optim    optim autograd tensor
io       io tensor
tasks    tasks io tensor
dist     dist io autograd tensor
config   config tasks optim nn io autograd tensor
train    train config dist tasks optim nn io autograd tensor
plot     plot io
cli      cli train plot config dist tasks optim nn io autograd tensor
fuzz     config tasks io tensor
TABLE
bad=0
known=" ${!allowed[*]} "
for folder in "${!allowed[@]}"; do
  [ -d "$folder" ] || { echo "check_layering: no folder $folder/ (update scripts/check_layering.sh)"; bad=1; continue; }
  # Every source file under the folder (subfolders too), every include of one of the
  # project's folders, written "dir/x.h" or <dir/x.h>; a path with ".." is refused.
  while IFS= read -r hit; do
    file="${hit%%:*}" rest="${hit#*:}" line="${rest%%:*}"
    path="$(sed -E 's/^[^#]*#[[:space:]]*include[[:space:]]*["<]([^">]*)[">].*/\1/' <<<"$rest")"
    target="${path%%/*}"
    [ "$target" = "$path" ] && continue  # no folder: a system header or one beside the file
    [[ "$known" == *" $target "* ]] || continue  # <nlohmann/json.hpp>, <tbb/...>
    if [[ "$path" == *..* ]]; then
      echo "$file:$line: $folder/ includes $path (a path through ..)"
      bad=1
    elif [[ " ${allowed[$folder]} " != *" $target "* ]]; then
      echo "$file:$line: $folder/ includes $target/ (it may include: ${allowed[$folder]})"
      bad=1
    fi
  done < <(find "$folder" -type f \( -name '*.h' -o -name '*.hpp' -o -name '*.inl' -o -name '*.cpp' \) -print0 |
           xargs -0 -r grep -Hn '^[[:space:]]*#[[:space:]]*include[[:space:]]*["<]')
  if [ "$folder" != cli ] && find "$folder" -type f \( -name '*.h' -o -name '*.hpp' -o -name '*.inl' -o -name '*.cpp' \) -print0 |
       xargs -0 -r grep -Hn '#[[:space:]]*include[[:space:]]*<cxxopts'; then
    echo "  ^ cxxopts belongs to cli/ alone"
    bad=1
  fi
done
# A folder of code that the table does not know is a folder nobody placed.
for d in */; do
  d="${d%/}"
  case "$d" in tests|fuzz|bench|docs|scripts|configs|build*|runs) continue ;; esac
  if compgen -G "$d/*.cpp" >/dev/null || compgen -G "$d/*.h" >/dev/null; then
    [ -n "${allowed[$d]:-}" ] || { echo "check_layering: $d/ holds code but has no place in the layering"; bad=1; }
  fi
done
[ $bad = 0 ] || echo "check_layering: an include points up the layering (docs/layout.md)" >&2
exit $bad
