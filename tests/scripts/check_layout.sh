#!/usr/bin/env bash
# Keeps the tree as its structure asks: one job per file, so no C file of src/ grows past
# 800 lines; and one home per rule, so the SQLite engine's files bind, step and count the
# changes of the statement table's statements only through sqlite_stmt.c's helpers
# (sqlite.c's own pragma at open is not one of them).
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

if grep -n 'sqlite3_\(step\|bind_[a-z0-9]*\|changes\|reset\)\b' src/store/sqlite_*.c |
    grep -v '^src/store/sqlite_stmt\.c:'; then
    echo "FAIL: the lines above run statements past sqlite_stmt.c's helpers" \
        "(idd_sqlite_lookup, idd_sqlite_write, idd_sqlite_bind, idd_sqlite_next)" >&2
    fail=1
else
    echo "ok: the SQLite engine runs its statements through sqlite_stmt.c"
fi
exit "$fail"
