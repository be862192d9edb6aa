#!/usr/bin/env bash
# Keeps the tree as its structure asks: one job per file, so no C file of src/ grows past
# 800 lines.
set -euo pipefail
src=${IDD_SOURCE_DIR:?IDD_SOURCE_DIR is the source tree}
cd "$src"
fail=0
max=800
while IFS= read -r -d '' file; do
    n=$(wc -l <"$file")
    if [ "$n" -gt "$max" ]; then
        echo "FAIL: $file has $n lines, more than $max: split it by job" >&2
        fail=1
    fi
done < <(find src -type f \( -name '*.c' -o -name '*.h' \) -print0)
[ "$fail" -eq 0 ] && echo "ok: no file of src/ over $max lines"
exit "$fail"
