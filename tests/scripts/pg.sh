#!/usr/bin/env bash
# A throwaway PostgreSQL 15 server for the test suites (Debian's postgresql-15 package).
#   pg.sh [--any-dir] start DIR   initialises and starts a server in DIR, waits until it
#                                 accepts connections, prints its conninfo on stdout:
#                                   postgresql:///postgres?host=DIR&user=postgres
#   pg.sh [--any-dir] stop DIR    stops it (fast mode) and removes DIR
#   pg.sh [--any-dir] down DIR [fast|immediate]
#                                 stops the server of a DIR start made (fast mode unless
#                                 told), keeping DIR and its data: an outage, for a test
#   pg.sh [--any-dir] up DIR      starts that server again on its data, waits until it
#                                 accepts connections, prints its conninfo
#   pg.sh [--any-dir] freeze DIR  stops (SIGSTOP) the server's processes: a server that
#                                 still takes packets but answers nothing, for a test
#   pg.sh [--any-dir] thaw DIR    continues them (SIGCONT); stop and down thaw first too
# The server listens on a unix socket in DIR only (no TCP), trusts that socket (mode 0700:
# only the server's own user, and root, can reach it), and runs with fsync off and small
# buffers: it holds nothing worth keeping. Run as root, the server runs as the unprivileged
# system user idd-pg (created when missing) and DIR is given to it.
# Both commands are idempotent: start on a running server prints its conninfo again (a DIR
# left by a killed run is started afresh), stop on a missing DIR does nothing. DIR must be
# under /tmp unless --any-dir is given (ctest's fixture uses its build tree); pg.sh only
# ever removes a DIR it made itself (it leaves a marker file in it).
#   IDD_PG_WAIT   seconds to wait for the server to accept connections (default 60)
set -euo pipefail

bin=/usr/lib/postgresql/15/bin
marker=.idd-test-pg
pg_user=idd-pg
any_dir=0

usage() {
    echo "usage: pg.sh [--any-dir] start|stop|up|freeze|thaw DIR," \
        "or pg.sh [--any-dir] down DIR [fast|immediate]" >&2
    exit 2
}
die() {
    echo "pg.sh: $*" >&2
    exit 1
}

[ "${1:-}" = --any-dir ] && { any_dir=1; shift; }
[ $# -ge 2 ] || usage
cmd=$1
mode=fast
case "$cmd" in
start | stop | up | freeze | thaw) [ $# -eq 2 ] || usage ;;
down)
    [ $# -le 3 ] || usage
    mode=${3:-fast}
    case "$mode" in fast | immediate) ;; *) usage ;; esac
    ;;
*) usage ;;
esac
[ -n "$2" ] || usage

# The folder as an absolute path with no "..", so that the /tmp check means what it says.
dir=$(realpath -m -- "$2")
case "$dir" in
/ | /tmp | /tmp/) die "refusing $dir itself: give a folder of its own" ;;
esac
if [ "$any_dir" -eq 0 ]; then
    case "$dir" in
    /tmp/?*) ;;
    *) die "refusing $dir: not under /tmp (pass --any-dir to allow it)" ;;
    esac
fi
# A unix socket's path is at most 107 bytes: DIR/.s.PGSQL.5432 must fit.
[ ${#dir} -le 90 ] || die "$dir is too long for a unix socket path (at most 90 characters)"
case "$dir" in
*[!A-Za-z0-9_./+-]*) die "$dir: only letters, digits and _ . / + - are allowed in the path" ;;
esac

data=$dir/data
log=$dir/server.log
conninfo="postgresql:///postgres?host=$dir&user=postgres"

# Runs a command as the server's user: idd-pg when we are root, ourselves otherwise.
as_server() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u "$pg_user" -- "$@"
    else
        "$@"
    fi
}

# Whether the server of DIR runs: its postmaster's pid is alive, and not a zombie (in a
# container whose first process reaps nothing, a killed postmaster stays one).
running() {
    local pid state
    [ -f "$data/postmaster.pid" ] || return 1
    pid=$(head -n 1 "$data/postmaster.pid" 2>/dev/null) || return 1
    case "$pid" in '' | *[!0-9]*) return 1 ;; esac
    state=$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null) || return 1
    [ -n "$state" ] && [ "$state" != Z ]
}

# Removes DIR, which must be ours.
remove_dir() {
    [ -e "$dir" ] || return 0
    [ -f "$dir/$marker" ] || die "refusing to remove $dir: pg.sh did not make it (no $marker)"
    rm -rf -- "$dir"
}

# Sends a signal to the postmaster of DIR, then to each of its children (the postmaster
# first when stopping, so that it forks no new one meanwhile).
signal_server() {
    local pid children
    running || return 0
    pid=$(head -n 1 "$data/postmaster.pid")
    kill "-$1" "$pid" 2>/dev/null || true
    children=$(ps -o pid= --ppid "$pid" || true)
    [ -z "$children" ] || kill "-$1" $children 2>/dev/null || true
}

freeze() {
    [ -f "$dir/$marker" ] || die "refusing $dir: pg.sh did not make it (no $marker)"
    running || die "no server runs in $dir"
    signal_server STOP
}

thaw() {
    [ -f "$dir/$marker" ] || die "refusing $dir: pg.sh did not make it (no $marker)"
    signal_server CONT
}

stop() {
    [ -e "$dir" ] || return 0
    [ -f "$dir/$marker" ] || die "refusing $dir: pg.sh did not make it (no $marker)"
    signal_server CONT
    if running; then
        as_server "$bin/pg_ctl" stop -D "$data" -m fast -w -t 60 >/dev/null ||
            die "the server in $dir did not stop"
    fi
    remove_dir
}

wait_ready() {
    local limit=${IDD_PG_WAIT:-60} t=0
    case "$limit" in '' | *[!0-9]*) die "IDD_PG_WAIT must be a number of seconds" ;; esac
    until "$bin/pg_isready" -q -h "$dir" -U postgres -d postgres -t 5; do
        t=$((t + 1))
        # A server that died (a bad setting, no shared memory) fails at once, once it had
        # the time to write its pid file.
        if [ "$t" -ge "$limit" ] || { [ "$t" -ge 3 ] && ! running; }; then
            echo "pg.sh: the server in $dir did not accept connections within $t s;" \
                "the end of $log:" >&2
            tail -n 30 "$log" >&2 || true
            as_server "$bin/pg_ctl" stop -D "$data" -m immediate >/dev/null 2>&1 || true
            exit 1
        fi
        sleep 1
    done
}

start() {
    [ -x "$bin/initdb" ] && [ -x "$bin/pg_ctl" ] ||
        die "PostgreSQL 15 is not installed ($bin): scripts/install-deps test installs it"
    if [ -e "$dir" ] && [ ! -f "$dir/$marker" ]; then
        [ -d "$dir" ] && [ -z "$(ls -A -- "$dir")" ] ||
            die "refusing $dir: it exists and pg.sh did not make it"
    fi
    if [ -f "$dir/$marker" ] && running; then
        wait_ready
        echo "$conninfo"
        return
    fi
    # Left by a run that was killed, or new: start from nothing.
    [ -f "$dir/$marker" ] && remove_dir
    mkdir -p -- "$dir"
    chmod 0700 "$dir"
    : >"$dir/$marker"
    if [ "$(id -u)" -eq 0 ]; then
        if ! id "$pg_user" >/dev/null 2>&1; then
            # Another pg.sh may have created it meanwhile: only its absence afterwards fails.
            useradd -r -M -s /usr/sbin/nologin "$pg_user" 2>/dev/null || true
            id "$pg_user" >/dev/null 2>&1 || die "could not create the user $pg_user"
        fi
        chown -R "$pg_user:" "$dir"
        # The server must reach its own folder: every parent needs search permission.
        runuser -u "$pg_user" -- test -x "$dir" ||
            die "$pg_user cannot reach $dir: a parent folder is not searchable by others"
    fi
    as_server "$bin/initdb" -D "$data" -U postgres -E UTF8 --no-locale --no-sync \
        --auth-local=trust --auth-host=reject >"$dir/initdb.log" 2>&1 || {
        tail -n 30 "$dir/initdb.log" >&2
        die "initdb failed in $data"
    }
    cat >>"$data/postgresql.conf" <<EOF

# pg.sh: a test server, reached only through its unix socket, holding nothing worth keeping.
listen_addresses = ''
unix_socket_directories = '$dir'
unix_socket_permissions = 0700
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = 16MB
max_connections = 200
EOF
    as_server "$bin/pg_ctl" start -D "$data" -l "$log" -W >/dev/null ||
        die "pg_ctl could not start the server in $data"
    wait_ready
    echo "$conninfo"
}

# An outage: the server of a DIR start made stops, its data stays for up.
down() {
    [ -f "$dir/$marker" ] || die "refusing $dir: pg.sh did not make it (no $marker)"
    signal_server CONT
    if running; then
        as_server "$bin/pg_ctl" stop -D "$data" -m "$mode" -w -t 60 >/dev/null ||
            die "the server in $dir did not stop"
    fi
}

# The end of an outage: the same server, on the same data (after an immediate stop it
# recovers first).
up() {
    [ -f "$dir/$marker" ] && [ -d "$data" ] || die "$dir holds no server pg.sh made: use start"
    if ! running; then
        as_server "$bin/pg_ctl" start -D "$data" -l "$log" -W >/dev/null ||
            die "pg_ctl could not start the server in $data"
    fi
    wait_ready
    echo "$conninfo"
}

"$cmd"
