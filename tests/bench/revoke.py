#!/usr/bin/env python3
"""The revocation rows' client (scripts/bench): how long a credential revoked through one
identityd still works on another that shares its database.

    revoke.py A_ORIGIN B_ORIGIN session EMAIL:PASSWORD TRIALS
    revoke.py A_ORIGIN B_ORIGIN apikey API_KEY TRIALS

Each trial makes a credential through A (a sign-in, POST /api/2.0/authentication; or a new
API key, POST /api/2.0/keys with API_KEY), uses it on B until B answers 200 (B then holds it
in its credential cache), revokes it through A (POST /api/2.0/authentication/logout; or
DELETE /api/2.0/keys/{id}), and from the moment the revocation is sent asks B for a token
with it, one request after another on a kept-alive connection, until B refuses it (401).
That time is the trial's latency. A random pause of up to 300 ms comes before each
revocation, so that the trials fall anywhere between B's periodic checks of the store. A
trial whose credential B still accepts after 10 s stops there and counts as failed (its
latency as 10 s). Prints one line:

    trials=N p50=MS p99=MS max=MS failed=N

(p99 by nearest rank: with fewer than 100 trials, the largest). Loopback only; bounded in
trials and time.
"""
import http.client
import json
import math
import random
import sys
import time
import urllib.parse

TOKEN_PATH = "/api/2.0/security/oauth2/token"
GIVE_UP = 10.0


class Origin:
    def __init__(self, origin):
        parts = urllib.parse.urlsplit(origin)
        if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
            sys.exit("revoke.py: loopback targets only")
        self.host, self.port = parts.hostname, parts.port
        self.conn = None

    def ask(self, method, path, headers, body=None):
        """(status, body) of one request, on a kept-alive connection made again if lost."""
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
            try:
                data = None if body is None else json.dumps(body).encode("utf-8")
                h = dict(headers)
                if data is not None:
                    h["Content-Type"] = "application/json"
                self.conn.request(method, path, body=data, headers=h)
                resp = self.conn.getresponse()
                return resp.status, resp.read()
            except (OSError, http.client.HTTPException):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


def response(status, body, what):
    if status != 200:
        sys.exit(f"revoke.py: {what} answered {status}: {body[:200]!r}")
    return json.loads(body)["response"]


def make_session(a, email, password):
    status, body = a.ask("POST", "/api/2.0/authentication", {},
                         {"userName": email, "password": password})
    token = response(status, body, "the sign-in")["token"]
    header = {"Authorization": token}
    return header, lambda: a.ask("POST", "/api/2.0/authentication/logout", header)


def make_apikey(a, key, n):
    owner = {"Authorization": f"Bearer {key}"}
    status, body = a.ask("POST", "/api/2.0/keys", owner, {"name": f"revoke {n}"})
    made = response(status, body, "the key's creation")
    header = {"Authorization": f"Bearer {made['key']}"}
    path = "/api/2.0/keys/" + urllib.parse.quote(made["id"], safe="")
    return header, lambda: a.ask("DELETE", path, owner)


def percentile(sorted_ms, p):
    return sorted_ms[max(0, math.ceil(p / 100 * len(sorted_ms)) - 1)]


def main():
    if len(sys.argv) != 6 or sys.argv[3] not in ("session", "apikey"):
        sys.exit(__doc__)
    a, b, kind, secret = Origin(sys.argv[1]), Origin(sys.argv[2]), sys.argv[3], sys.argv[4]
    trials = int(sys.argv[5])
    if not 1 <= trials <= 1000:
        sys.exit("revoke.py: TRIALS must be 1 to 1000")
    latencies, failed = [], 0
    for n in range(trials):
        if kind == "session":
            email, _, password = secret.partition(":")
            header, revoke = make_session(a, email, password)
        else:
            header, revoke = make_apikey(a, secret, n)
        # B accepts it (its first use reads the store and fills B's cache), and again from
        # its cache.
        deadline = time.monotonic() + GIVE_UP
        ok = 0
        while ok < 2:
            status, _ = b.ask("GET", TOKEN_PATH, header)
            if status == 200:
                ok += 1
            elif time.monotonic() > deadline:
                sys.exit(f"revoke.py: B never accepted the new {kind} (last answer {status})")
        time.sleep(random.uniform(0, 0.3))
        start = time.monotonic()
        status, body = revoke()
        if status != 200:
            sys.exit(f"revoke.py: the revocation answered {status}: {body[:200]!r}")
        while True:
            status, _ = b.ask("GET", TOKEN_PATH, header)
            now = time.monotonic()
            if status == 401:
                latencies.append((now - start) * 1000)
                break
            if status != 200:
                sys.exit(f"revoke.py: B answered {status} to a revoked {kind}")
            if now - start > GIVE_UP:
                latencies.append(GIVE_UP * 1000)
                failed += 1
                break
    latencies.sort()
    print(f"trials={trials} p50={percentile(latencies, 50):.1f} "
          f"p99={percentile(latencies, 99):.1f} max={latencies[-1]:.1f} failed={failed}")


if __name__ == "__main__":
    main()
