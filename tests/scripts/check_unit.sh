#!/usr/bin/env bash
# Proves that scripts/check-unit holds the systemd unit: it passes on the unit as it is, and
# fails, saying why, on a misspelled setting, on a missing ExecStart program and on a unit
# whose hardening is gone. Skipped (exit 77) where systemd-analyze is not installed.
set -euo pipefail
src=${IDD_SOURCE_DIR:?IDD_SOURCE_DIR is the source tree}
if ! command -v systemd-analyze >/dev/null 2>&1; then
    echo "skipped: systemd-analyze is not installed (scripts/install-deps test installs systemd)"
    exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
unit=$src/scripts/identityd.service

out=$("$src/scripts/check-unit" "$unit" 2>&1) || fail "the unit as it is: refused: $out"
echo "ok: the unit as it is ($out)"

refused() { # name, file, text expected in the report
    local rc=0 out
    out=$("$src/scripts/check-unit" "$2" 2>&1) || rc=$?
    [ "$rc" -ne 0 ] || fail "$1: accepted: $out"
    grep -qF "$3" <<<"$out" || fail "$1: report lacks '$3': $out"
    echo "ok: $1 refused"
}

sed 's/^NoNewPrivileges=yes/NoNewPrivilegs=yes/' "$unit" >"$work/typo.service"
refused "a misspelled setting" "$work/typo.service" "Unknown key 'NoNewPrivilegs'"

sed 's|^ExecStart=.*|ExecStart=/nonexistent/identityd|' "$unit" >"$work/exec.service"
refused "a missing program" "$work/exec.service" "/nonexistent/identityd"

grep -vE '^(Protect|Private|Restrict|CapabilityBoundingSet|SystemCall|NoNewPrivileges|MemoryDeny|LockPersonality|ProcSubset|AmbientCapabilities|User=|Group=)' \
    "$unit" >"$work/open.service"
refused "a unit without hardening" "$work/open.service" "exposure level"
