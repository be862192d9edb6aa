#!/usr/bin/env bash
# Keeps the tree as its structure asks: one job per file, so no C file of src/ grows past
# 800 lines; and one home per rule, so the SQLite engine's files bind, step and count the
# changes of the statement table's statements only through sqlite_stmt.c's helpers
# (sqlite.c's own pragma at open is not one of them). src/ARCHITECTURE.md's folder table is
# one table with a row for every folder of src/ and every file at its top, and each file a
# row or the document names by path is in the tree.
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

arch=src/ARCHITECTURE.md
# The folder table: the contiguous rows after its "| folder | what it holds |" header.
rows=$(awk '/^\| folder \| what it holds \|/{on=1; next} on && !/^\|/{exit} on' "$arch")
missing=0
for entry in $(find src -mindepth 1 -maxdepth 1 \( -type d ! -name web -printf '%f/\n' \) -o \
    \( -type f -name '*.c' -printf '%f\n' \) | sort); do
    if ! grep -qF "| \`$entry\` |" <<<"$rows"; then
        echo "FAIL: $arch: the folder table has no row for $entry" >&2
        missing=1
    fi
done
# A file a row names bare is in that row's folder (src/ or include/identityd/).
while IFS= read -r row; do
    entry=$(sed -n 's/^| `\([^`]*\)` |.*/\1/p' <<<"$row")
    case "$entry" in */) dir=${entry%/} ;; *) dir= ;; esac
    for name in $(grep -o '`[a-z_]*\.[ch]`' <<<"$row" | tr -d '`'); do
        if [ -n "$dir" ]; then
            [ -e "src/$dir/$name" ] || [ -e "include/identityd/$dir/$name" ] && continue
        else
            [ -e "src/$name" ] && continue
        fi
        echo "FAIL: $arch: the row of $entry names $name, which is not in the tree" >&2
        missing=1
    done
done <<<"$rows"
# A path the document names (folder/file.c, .h) is under src/, include/identityd/ or the top.
for path in $(grep -o '`[a-z_]*/[a-z_/]*\.[ch]`' "$arch" | tr -d '`' | sort -u); do
    [ -e "src/$path" ] || [ -e "include/identityd/$path" ] || [ -e "$path" ] && continue
    echo "FAIL: $arch names $path, which is not in the tree" >&2
    missing=1
done
if [ "$missing" -eq 0 ]; then
    echo "ok: $arch's folder table and paths match the tree"
else
    fail=1
fi
exit "$fail"
