#!/usr/bin/env bash
# Proves that scripts/check-layers holds the layer order: on a copy of the tree it passes as
# the tree is, and fails on an upward include, on an include of an unknown folder and on a
# cycle written into the table itself.
set -euo pipefail
src=${IDD_SOURCE_DIR:?IDD_SOURCE_DIR is the source tree}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

fresh() {
    rm -rf "$work/tree"
    mkdir -p "$work/tree"
    cp -r "$src/src" "$src/include" "$src/scripts" "$work/tree/"
}
expect() { # expect ok|fail, what, [text the report must hold]
    local want=$1 what=$2 needle=${3:-}
    local out rc=0
    out=$("$work/tree/scripts/check-layers" 2>&1) || rc=$?
    if [ "$want" = ok ] && [ "$rc" -ne 0 ]; then fail "$what: refused: $out"; fi
    if [ "$want" = fail ] && [ "$rc" -eq 0 ]; then fail "$what: accepted: $out"; fi
    if [ -n "$needle" ] && ! grep -qF -- "$needle" <<<"$out"; then fail "$what: report lacks '$needle': $out"; fi
    echo "ok: $what"
}

fresh
expect ok "the tree as it is" "layers OK"

# http may use core only: reaching up into auth is refused, at the line that does it.
fresh
sed -i '0,/#include "identityd\/core\//s||#include "identityd/auth/auth.h"\n&|' "$work/tree/src/http/respond.c"
line=$(grep -n '"identityd/auth/auth.h"' "$work/tree/src/http/respond.c" | cut -d: -f1)
expect fail "http including auth" "src/http/respond.c:$line: http may not include auth"

# A header may not reach up either.
fresh
sed -i 's|#include <stddef.h>|#include <stddef.h>\n#include "identityd/store/store.h"|' "$work/tree/include/identityd/core/buf.h"
expect fail "a core header including store" "core may not include store"

# Siblings do not use each other: cred and store are both below auth, and store uses cred,
# but cred may not use store.
fresh
sed -i '0,/#include "identityd\/core\//s||#include "identityd/store/store.h"\n&|' "$work/tree/src/cred/apikey.c"
expect fail "cred including store" "cred may not include store"

# A folder the table does not know.
fresh
mkdir -p "$work/tree/src/extra"
printf '#include "identityd/core/common.h"\n' >"$work/tree/src/extra/x.c"
expect fail "an unknown folder" "folder 'extra' is not in the layer table"

# A cycle in the table itself.
fresh
sed -i 's/^core:$/core: config/' "$work/tree/src/ARCHITECTURE.md"
expect fail "a cycle in the table" "cycle"

# A file at the top of src/ besides main.c keeps its own entry of the table: reload.c (with
# its header) may not reach up into api.
fresh
sed -i '0,/#include "identityd\/core\//s||#include "identityd/api/api.h"\n&|' "$work/tree/src/reload.c"
expect fail "reload.c including api" "reload.c may not include api"
fresh
sed -i 's|#include <stddef.h>|#include <stddef.h>\n#include "identityd/api/api.h"|' "$work/tree/src/reload.h"
expect fail "reload.h including api" "src/reload.h:13: reload.c may not include api"

# A new file at the top of src/ needs an entry of its own.
fresh
printf '#include "identityd/core/common.h"\n' >"$work/tree/src/extra.c"
expect fail "an unknown top-level file" "folder 'extra.c' is not in the layer table"
