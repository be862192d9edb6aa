#!/usr/bin/env bash
# Proves that scripts/check-format holds the formatting: on a copy of src/ and include/ it
# passes as they are, and fails, naming the file, once a badly formatted line is added.
set -euo pipefail
src=${IDD_SOURCE_DIR:?IDD_SOURCE_DIR is the source tree}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

mkdir -p "$work/tree/tests"
cp -r "$src/src" "$src/include" "$src/scripts" "$src/.clang-format" "$work/tree/"
out=$("$work/tree/scripts/check-format" 2>&1) || fail "the tree as it is: refused: $out"
echo "ok: the tree as it is"

printf 'int   badly_formatted(void){return 0;}\n' >>"$work/tree/src/core/b64.c"
rc=0
out=$("$work/tree/scripts/check-format" 2>&1) || rc=$?
[ "$rc" -ne 0 ] || fail "a badly formatted line: accepted: $out"
grep -qF "src/core/b64.c: not clang-formatted" <<<"$out" || fail "report lacks the file: $out"
echo "ok: a badly formatted line"
