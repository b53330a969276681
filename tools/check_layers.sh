#!/usr/bin/env bash
# Checks the include graph against the layer order of src/ (bottom first):
#   core < cpu < data < adapters < models < formats < train < cli
# A file in src/<layer>/ may include headers of its own layer and the layers
# below it, always named with their folder ("core/arena.h"). cuda/ is a backend
# like cpu/: it sees core/ and itself. src/train.cpp (the ./train program), tools/
# and tests/ sit on top and may include any layer. Prints each violation as
# "file:line: ..." and exits 1 if there is one; run by `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
layers=(core cpu data adapters models formats train cli)
rank() {
    local i
    for i in "${!layers[@]}"; do [ "${layers[$i]}" = "$1" ] && { echo "$i"; return; }; done
    echo -1
}
bad=0
check() {  # file, its rank
    local file=$1 own=$2 line inc dir r
    while IFS=: read -r line inc; do
        inc=${inc#*\"}; inc=${inc%\"*}
        dir=${inc%%/*}
        case "$file" in cuda/*) [ -f "cuda/$inc" ] && continue ;; tests/*) [ -f "tests/$inc" ] && continue ;; esac
        r=$(rank "$dir")
        if [ "$inc" = "$dir" ] || [ "$r" -lt 0 ] || [ ! -f "src/$inc" ]; then
            echo "$file:$line: #include \"$inc\" names no header of a layer (expected \"<layer>/<file>\")"
            bad=1
        elif [ "$r" -gt "$own" ]; then
            echo "$file:$line: #include \"$inc\": layer $dir is above $3"
            bad=1
        fi
    done < <(grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$file" || true)
}
top=${#layers[@]}
for file in $(find src -name '*.h' -o -name '*.cpp' | sort); do
    dir=$(dirname "$file"); dir=${dir#src}; dir=${dir#/}
    if [ -z "$dir" ]; then check "$file" "$top" "the program"; continue; fi
    r=$(rank "${dir%%/*}")
    if [ "$r" -lt 0 ]; then echo "$file: src/${dir%%/*}/ is not a layer (${layers[*]})"; bad=1; continue; fi
    check "$file" "$r" "layer ${dir%%/*}"
done
for file in $(find cuda -name '*.cu' -o -name '*.cuh' -o -name '*.h' | sort); do check "$file" "$(rank core)" "the cuda backend (it sees core/)"; done
for file in $(find tools tests -maxdepth 1 -name '*.cpp' -o -maxdepth 1 -name '*.h' | sort); do check "$file" "$top" "the program"; done
[ "$bad" = 0 ] && echo "layers: every include follows ${layers[*]}"
exit "$bad"
