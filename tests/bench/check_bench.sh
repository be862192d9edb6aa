#!/usr/bin/env bash
# What scripts/bench relies on besides timing, checked without measuring anything: the floor
# serves tokens that identityctl verifies with the configuration's keys (ES256 and HS256),
# the filler SQL of the scale rows writes users and API keys that identityd's store reads
# back, and the digest the peer is given is the one identityd stored for the key.
# Needs IDD_SOURCE_DIR, IDD_CTL and IDD_FLOOR (ctest sets them), curl and sqlite3.
set -euo pipefail
src=${IDD_SOURCE_DIR:?IDD_SOURCE_DIR is the source tree}
ctl=${IDD_CTL:?IDD_CTL is identityctl}
floor=${IDD_FLOOR:?IDD_FLOOR is identityd-floor}
for tool in curl sqlite3 openssl; do
    command -v "$tool" >/dev/null || { echo "skipped: $tool is not installed"; exit 77; }
done
work=$(mktemp -d)
floor_pid=""
cleanup() {
    [ -z "$floor_pid" ] || kill "$floor_pid" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
umask 077

openssl rand -hex 32 | tr -d '\n' >"$work/pepper"
openssl rand -hex 32 | tr -d '\n' >"$work/machinekey"
"$ctl" key generate --alg ES256 --out "$work/key.pem" >/dev/null
config() { # $1: state of the ES256 key, $2: of the HS256 key; $3: file
    cat >"$work/$3" <<YAML
listen: ["127.0.0.1:0"]
database: identity.db
password: { iterations: 1000, pepper_file: pepper }
tenants:
  - { id: 1, name: bench, domains: [127.0.0.1] }
keys:
  - { kid: bench-es256, alg: ES256, file: key.pem, state: $1 }
  - { kid: docspace, alg: HS256, machine_key_file: machinekey, state: $2 }
YAML
}
config active published es256.yaml
config published active hs256.yaml

# The floor's tokens verify with the keys it was given.
for alg in ES256 HS256; do
    cfg=$work/$(tr 'A-Z' 'a-z' <<<"$alg").yaml
    # A file of its own per run: the shell truncates it in the child, after the fork, and a
    # shared one could still show the previous run's port line.
    "$floor" -c "$cfg" -p 0 -t 2 >"$work/floor-$alg.out" 2>&1 &
    floor_pid=$!
    port=""
    for _ in $(seq 600); do
        port=$(sed -n 's/.*on 127\.0\.0\.1:\([0-9]*\),.*/\1/p' "$work/floor-$alg.out" 2>/dev/null)
        [ -n "$port" ] && break
        kill -0 "$floor_pid" 2>/dev/null || fail "floor $alg exited: $(cat "$work/floor-$alg.out")"
        sleep 0.05
    done
    [ -n "$port" ] || fail "floor $alg: no port line"
    grep -q ", $alg\$" "$work/floor-$alg.out" || fail "floor $alg signs with: $(cat "$work/floor-$alg.out")"
    body=$(curl -s --retry 20 --retry-connrefused --retry-delay 0 \
        "http://127.0.0.1:$port/api/2.0/security/oauth2/token")
    jwt=$(sed -n 's/^{"response":"\([^"]*\)","count":1,"links":\[.*"statusCode":200}$/\1/p' <<<"$body")
    [ -n "$jwt" ] || fail "floor $alg: not a token envelope: $body"
    out=$("$ctl" -c "$cfg" token verify <<<"$jwt" 2>&1) || fail "floor $alg: token refused: $out"
    grep -q '"user_email": *"bench@example.com"' <<<"$out" || fail "floor $alg: claims: $out"
    kill "$floor_pid"
    wait "$floor_pid" 2>/dev/null || true
    floor_pid=""
    echo "ok: the floor's $alg tokens verify"
done

# The filler writes rows identityd reads back, beside the user the bench measures.
printf 'bench-password-1\n' | "$ctl" -c "$work/es256.yaml" user add bench@example.com \
    --first Bench --last User --role user >/dev/null
key=$("$ctl" -c "$work/es256.yaml" apikey create bench@example.com --name bench 2>/dev/null)
sqlite3 "$work/identity.db" ".parameter set @first 1" ".parameter set @last 40" \
    ".read $src/tests/bench/filler.sql"
sqlite3 "$work/identity.db" ".parameter set @first 41" ".parameter set @last 100" \
    ".read $src/tests/bench/filler.sql"
users=$("$ctl" -c "$work/es256.yaml" user list | grep -c '@bench\.example' || true)
[ "$users" = 100 ] || fail "filler: identityctl lists $users users, not 100"
keys=$("$ctl" -c "$work/es256.yaml" apikey list user77@bench.example)
grep -q filler <<<"$keys" || fail "filler: user77's key is not listed: $keys"
echo "ok: the filler's users and keys read back"

# The peer's digest is identityd's.
want=$(sqlite3 "$work/identity.db" "SELECT lower(hex(key_digest)) FROM api_keys WHERE name = 'bench'")
got=$("$src/tests/bench/digest.sh" "$work/pepper" "$key")
[ -n "$want" ] && [ "$got" = "$want" ] || fail "digest: $got, identityd stored $want"
echo "ok: the peer's digest is the one identityd stored"
