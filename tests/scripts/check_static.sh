#!/usr/bin/env bash
# Proves that scripts/static fails on a finding: on a copy of src/ and include/, its cppcheck
# half passes as the tree is, and fails, naming the file, once an out-of-bounds read is added.
# (clang-tidy's half takes minutes and runs in scripts/test; it reports through the same
# counting.) Skipped (77) without cppcheck, or when the build tree has no compile commands.
set -euo pipefail
src=${IDD_SOURCE_DIR:?IDD_SOURCE_DIR is the source tree}
bin=${IDD_BINARY_DIR:?IDD_BINARY_DIR is the build tree}
command -v cppcheck >/dev/null 2>&1 || { echo "SKIP: cppcheck is not installed"; exit 77; }
[ -f "$bin/compile_commands.json" ] || { echo "SKIP: $bin has no compile_commands.json"; exit 77; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

tree=$work/tree
mkdir -p "$tree/tests" "$tree/build"
cp -r "$src/src" "$src/include" "$src/scripts" "$tree/"
cp -r "$src/tests/static" "$tree/tests/"
sed "s#$src/#$tree/#g" "$bin/compile_commands.json" >"$tree/build/compile_commands.json"
out=$("$tree/scripts/static" -b "$tree/build" cppcheck 2>&1) || fail "the tree as it is: $out"
echo "ok: the tree as it is"

printf 'int idd_static_probe(void);\nint idd_static_probe(void)\n{\n    int a[2] = {0, 1};\n    return a[2];\n}\n' \
    >>"$tree/src/core/b64.c"
rc=0
out=$("$tree/scripts/static" -b "$tree/build" cppcheck 2>&1) || rc=$?
[ "$rc" -ne 0 ] || fail "an out-of-bounds read: accepted: $out"
grep -q "^src/core/b64.c:.*arrayIndexOutOfBounds" <<<"$out" || fail "report lacks the file: $out"
echo "ok: an out-of-bounds read"
