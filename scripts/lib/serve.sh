# shellcheck shell=bash disable=SC2154  # build, dir, pids and me are the caller's
# Starting and stopping identityd (and the bench's other servers) from a script: sourced by
# scripts/bench and scripts/soak. The caller sets:
#   build   the build folder holding identityd
#   dir     its private temporary folder; servers' stderr goes to $dir/log
#   pids    an array; every server started is added, for the caller's cleanup to stop
#   me      the name messages start with (bench, soak)
# and gets server (the last identityd's pid) and url (its http://127.0.0.1:PORT).
server=""
url=""
starts=0

wait_up() { # $1: url that answers once the server serves
  for _ in $(seq 200); do curl -s -o /dev/null "$1" && return 0; sleep 0.05; done
  echo "$me: nothing answers on $1" >&2; cat "$dir/log" >&2 2>/dev/null || true; exit 1
}

started() { # $1: pid; $2: file whose line "... 127.0.0.1:PORT ..." says the port; prints it
  local p=""
  for _ in $(seq 200); do
    p=$(sed -n 's/.*127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$2" 2>/dev/null | head -1)
    [ -n "$p" ] && break
    kill -0 "$1" 2>/dev/null || break
    sleep 0.05
  done
  [ -n "$p" ] || { echo "$me: no port from pid $1" >&2; cat "$dir/log" >&2; exit 1; }
  echo "$p"
}

# Every server listens on 127.0.0.1 on a port the kernel picks: a fixed port could be shared,
# through SO_REUSEPORT, with another identityd bound to it at the same time, which would then
# answer part of the requests.
start_identityd() { # $1: config file name in $dir; sets server and url
  "$build/identityd" -c "$dir/$1" 2>>"$dir/log" &
  server=$!
  pids+=("$server")
  # identityd says its port at log level info, which the scripts do not use: ask the kernel.
  starts=$((starts + 1))
  for _ in $(seq 200); do
    { ss -Hltnp 2>/dev/null || true; } | awk -v pid="pid=$server," 'index($0, pid) {print $4}' \
      > "$dir/ports.$starts"
    [ -s "$dir/ports.$starts" ] && break
    sleep 0.05
  done
  url=http://127.0.0.1:$(started "$server" "$dir/ports.$starts")
  wait_up "$url/healthz"
}

stop() { # $1: pid
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
