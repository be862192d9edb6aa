#!/usr/bin/env bash
# scripts/soak kept from rotting: a 20-second soak on the identityd ctest built (its folder
# also holds identityctl), which must pass, and its verdict must say FAIL when identityd is
# not there at all (load.py against a dead pid and a closed port), so that a report that
# always passes cannot slip in. Needs IDD_SOURCE_DIR and IDD_IDENTITYD (ctest sets them),
# curl, sqlite3, openssl, python3 and ss; node is used when present (the external tokens).
set -euo pipefail
src=${IDD_SOURCE_DIR:?IDD_SOURCE_DIR is the source tree}
identityd=${IDD_IDENTITYD:?IDD_IDENTITYD is identityd}
for tool in curl sqlite3 openssl python3 ss; do
    command -v "$tool" >/dev/null || { echo "skipped: $tool is not installed"; exit 77; }
done
build=$(dirname "$identityd")
[ -x "$build/identityctl" ] || { echo "FAIL: no identityctl beside $identityd" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

out=$("$src/scripts/soak" --seconds 20 --build "$build" 2>&1) || fail "the soak failed:
$out"
echo "$out"
for want in '^| basic good | [1-9]' '^| apikey create | [1-9]' '^| sign-out | [1-9]' \
    '^| malformed request line | [1-9]' '^| after warm-up | ' '^| end | ' '^verdict: PASS$'; do
    grep -q -- "$want" <<<"$out" || fail "the report has no line like '$want'"
done
echo "ok: a 20-second soak passes and reports every part"

# A verdict that can fail: no identityd behind the pid and the port.
python3 "$src/tests/bench/creds.py" <(echo pepper) 8 "$work"
sleep 0.1 &
dead=$!
wait "$dead"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$work/spec.json" <<JSON
{"url": "http://127.0.0.1:$port", "pid": $dead, "seconds": 10, "warmup": 1, "interval": 1,
 "dir": "$work", "user": ["soak@example.com", "x", "x"], "owner_key": "sk-x", "ext_token": null,
 "rss_pct": 10, "rss_mib": 8, "fd_slack": 8}
JSON
status=0
out=$(python3 "$src/tests/soak/load.py" "$work/spec.json" 2>&1) || status=$?
[ "$status" = 1 ] || fail "load.py against no identityd exited $status: $out"
grep -q '^verdict: FAIL: identityd died' <<<"$out" || fail "load.py against no identityd said: $out"
echo "ok: without identityd the verdict is FAIL"
