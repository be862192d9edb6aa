#!/usr/bin/env bash
# What scripts/bench relies on besides timing, checked without measuring anything: the floor
# serves tokens that identityctl verifies with the configuration's keys (ES256 and HS256),
# the filler SQL of the scale rows writes users and API keys that identityd's store reads
# back, the digest the peer is given is the one identityd stored for the key, the cold rows'
# credentials (tests/bench/creds.py) are accepted by identityd on SQLite and on PostgreSQL
# and cycled through by wrk's script (tests/bench/cycle.lua, when wrk is installed), and the
# revocation client (tests/bench/revoke.py) runs a few trials across two identityd on one
# database, which refuse every revoked credential.
# Needs IDD_SOURCE_DIR, IDD_CTL, IDD_FLOOR and IDD_IDENTITYD (ctest sets them), curl, sqlite3
# and python3. With IDD_TEST_PG_FILE (ctest's pg fixture: the conninfo of a PostgreSQL server)
# and psql, the cold credentials and the revocation client run on PostgreSQL too, in a
# database of their own, dropped at exit.
set -euo pipefail
src=${IDD_SOURCE_DIR:?IDD_SOURCE_DIR is the source tree}
ctl=${IDD_CTL:?IDD_CTL is identityctl}
floor=${IDD_FLOOR:?IDD_FLOOR is identityd-floor}
identityd=${IDD_IDENTITYD:?IDD_IDENTITYD is identityd}
for tool in curl sqlite3 openssl python3; do
    command -v "$tool" >/dev/null || { echo "skipped: $tool is not installed"; exit 77; }
done
work=$(mktemp -d)
floor_pid=""
servers=()
pg_admin=""
pg_db=""
cleanup() {
    [ -z "$floor_pid" ] || kill "$floor_pid" 2>/dev/null || true
    for p in "${servers[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [ -n "$pg_db" ]; then
        psql -X -q "$pg_admin" -c "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" >/dev/null 2>&1 || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
umask 077

openssl rand -hex 32 | tr -d '\n' >"$work/pepper"
openssl rand -hex 32 | tr -d '\n' >"$work/machinekey"
"$ctl" key generate --alg ES256 --out "$work/key.pem" >/dev/null
config() { # $1: state of the ES256 key, $2: of the HS256 key; $3: file; $4: database
    cat >"$work/$3" <<YAML
listen: ["127.0.0.1:0"]
database: ${4:-identity.db}
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

# ---- the PostgreSQL rows' plumbing -----------------------------------------------------

# identityd on CONFIG; sets origin once it answers (its "listening on" line, at the default
# log level, says the port the kernel gave it). Not in a command substitution: the server
# would hold its output open.
origin=""
serve() { # $1: config file; $2: name of its log
    "$identityd" -c "$1" >/dev/null 2>"$work/$2.log" &
    servers+=($!)
    local pid=$! port=""
    for _ in $(seq 600); do
        port=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$work/$2.log" | head -1)
        [ -n "$port" ] && break
        kill -0 "$pid" 2>/dev/null || fail "identityd ($2) exited: $(cat "$work/$2.log")"
        sleep 0.05
    done
    [ -n "$port" ] || fail "identityd ($2): no port line"
    curl -s -o /dev/null --retry 20 --retry-connrefused --retry-delay 0 "http://127.0.0.1:$port/healthz"
    origin="http://127.0.0.1:$port"
}
token_path=/api/2.0/security/oauth2/token
status() { # $1: origin, $2: Authorization value
    curl -s -o /dev/null -w '%{http_code}' -H "Authorization: $2" "$1$token_path"
}

python3 "$src/tests/bench/creds.py" "$work/pepper" 20 "$work"
[ "$(wc -l <"$work/cold-apikeys.txt")" = 20 ] && [ "$(wc -l <"$work/cold-sessions.txt")" = 20 ] ||
    fail "creds.py: not 20 keys and 20 sessions"

# Runs the checks on the database of CONFIG, which holds the bench user and its key: the
# cold credentials (loaded by the caller) are accepted, wrk's script cycles through them,
# and the revocation client's trials end with every credential refused.
plumbing() { # $1: config file; $2: the bench user's API key; $3: engine name
    local a b out
    serve "$1" "$3-a"
    a=$origin
    serve "$1" "$3-b"
    b=$origin
    for f in apikeys sessions; do
        for end in head tail; do
            [ "$(status "$a" "$("$end" -1 "$work/cold-$f.txt")")" = 200 ] ||
                fail "$3: the $end line of cold-$f.txt is refused"
        done
    done
    echo "ok: $3: the cold rows' API keys and sessions are accepted"
    if command -v wrk >/dev/null; then
        out=$(IDD_BENCH_CREDS="$work/cold-sessions.txt" wrk -t1 -c2 -d1s \
            -s "$src/tests/bench/cycle.lua" "$a$token_path" 2>&1) || fail "$3: wrk: $out"
        ! grep -q 'Non-2xx' <<<"$out" || fail "$3: cycle.lua's requests were refused: $out"
        grep -q 'requests in' <<<"$out" || fail "$3: wrk said: $out"
        misses=$(curl -s "$a/metrics" |
            awk '/^identityd_credcache_lookups_total\{kind="session",result="miss"\}/ {print $NF}')
        [ "${misses:-0}" -ge 20 ] || fail "$3: cycle.lua: $misses session lookups missed, not 20 or more"
        echo "ok: $3: wrk's cycle.lua goes round the cold sessions"
    fi
    for kind in session apikey; do
        [ "$kind" = session ] && secret=bench@example.com:bench-password-1 || secret=$2
        out=$(python3 "$src/tests/bench/revoke.py" "$a" "$b" "$kind" "$secret" 3) ||
            fail "$3: revoke.py $kind: $out"
        grep -Eq '^trials=3 p50=[0-9.]+ p99=[0-9.]+ max=[0-9.]+ failed=0$' <<<"$out" ||
            fail "$3: revoke.py $kind: $out"
        echo "ok: $3: revoke.py's $kind trials: $out"
    done
    for p in "${servers[@]}"; do kill "$p" 2>/dev/null || true; done
    wait "${servers[@]}" 2>/dev/null || true
    servers=()
}

sqlite3 "$work/identity.db" <"$work/cold-sqlite.sql"
plumbing "$work/es256.yaml" "$key" SQLite

if [ -n "${IDD_TEST_PG_FILE:-}" ] && [ -s "$IDD_TEST_PG_FILE" ] && command -v psql >/dev/null; then
    pg_admin=$(cat "$IDD_TEST_PG_FILE")
    pg_db=bench_check_$$
    psql -X -q -v ON_ERROR_STOP=1 "$pg_admin" -c "CREATE DATABASE $pg_db" >/dev/null
    conninfo=$(sed "s|///postgres?|///$pg_db?|" <<<"$pg_admin")
    config active published pg.yaml "\"$conninfo\""
    printf 'bench-password-1\n' | "$ctl" -c "$work/pg.yaml" user add bench@example.com \
        --first Bench --last User --role user >/dev/null
    pg_key=$("$ctl" -c "$work/pg.yaml" apikey create bench@example.com --name bench 2>/dev/null)
    psql -X -q -v ON_ERROR_STOP=1 "$conninfo" -f "$work/cold-pg.sql" >/dev/null
    plumbing "$work/pg.yaml" "$pg_key" PostgreSQL
else
    echo "note: no PostgreSQL (IDD_TEST_PG_FILE, psql): the cold rows' SQL for it is not checked"
fi
