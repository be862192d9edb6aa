#!/usr/bin/env python3
"""The soak's load (scripts/soak): several client processes against one identityd for a
while, every answer checked against what its kind of request must get, identityd's RSS and
open descriptors sampled as it runs; prints the report and exits 1 on any unexpected result.

    load.py SPEC.json

SPEC (written by scripts/soak): {"url", "pid", "seconds", "warmup", "interval", "dir",
"user": [email, password, user id], "owner_key", "ext_token" (or null), "rss_pct",
"rss_mib", "fd_slack"}; DIR holds cold-apikeys.txt and cold-sessions.txt (creds.py: users
cold1..coldN, all with the user's password). Cold users are split: the first half serve good
credentials, the next quarter sign in and out, the last quarter only ever get wrong passwords.
Loopback only; standard library only.
"""
import base64
import collections
import http.client
import json
import multiprocessing
import os
import random
import secrets
import socket
import sys
import threading
import time
import urllib.parse

TOKEN = "/api/2.0/security/oauth2/token"
SIGNIN = "/api/2.0/authentication"
LOGOUT = "/api/2.0/authentication/logout"
SAMPLES = 20  # unexpected answers kept per worker, to show in the report

# What each kind of request may get. Anything else is an unexpected result.
EXPECT = {
    "basic good": {200},
    "basic bad password": {401, 403},  # 403 once the pair (address, login) is locked out
    # identityd's own token is no credential: a JWT bearer is checked against the oidc
    # authority only (docspace-behavior.md, "Credentials"), so it must be refused.
    "identityd jwt as bearer": {401},
    "identityd jwt tampered": {401},
    "apikey good": {200},
    "apikey unknown": {401},
    "session header good": {200},
    "session header unknown": {401},
    "cookie good": {200},
    "cookie unknown": {401},
    "external good": {200},
    "external tampered": {401},
    "sign-in": {200},
    "sign-in bad password": {401, 403},
    "signed-in session used": {200},
    "sign-out": {200},
    "signed-out session used": {401},
    "end-all (second session)": {200},
    "end-all session used": {401},
    "apikey create": {200},
    "new apikey used": {200},
    "apikey delete": {200},
    "deleted apikey used": {401},
    # Hostile framing: a 4xx, or the connection closed (by identityd: "closed"), never 5xx.
    "malformed request line": {"4xx", "closed"},
    "oversize header": {"4xx", "closed"},
    "conflicting content-length": {"4xx", "closed"},
    "half-sent then close": {"done"},
    "connect and leave": {"done"},
    "slow reader": {"done"},
}


class Client:
    """One kept-alive connection; a request that fails on a reused connection (identityd
    closed it while idle) is sent once more on a fresh one. A failure on a fresh connection
    is an error the caller counts."""

    def __init__(self, host, port):
        self.host, self.port, self.conn, self.used = host, port, None, False

    def ask(self, method, path, headers, body=None):
        for _ in (1, 2):
            fresh = self.conn is None
            if fresh:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
                self.used = False
            try:
                h = dict(headers)
                data = None
                if body is not None:
                    data = json.dumps(body).encode()
                    h["Content-Type"] = "application/json"
                self.conn.request(method, path, body=data, headers=h)
                resp = self.conn.getresponse()
                out = resp.read()
                if resp.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                return resp.status, out
            except (OSError, http.client.HTTPException) as e:
                self.conn.close()
                self.conn = None
                if fresh:
                    return f"error {type(e).__name__}", b""
        return "error retried", b""


class Worker:
    def __init__(self, spec, name):
        self.spec = spec
        self.name = name
        u = urllib.parse.urlsplit(spec["url"])
        self.host, self.port = u.hostname, u.port
        self.http = Client(self.host, self.port)
        self.counts = collections.Counter()  # (kind, result)
        self.unexpected = []
        self.failing = 0  # connection errors in a row
        self.lock = threading.Lock()  # the hostile worker's threads share the counts
        self.deadline = time.monotonic() + spec["seconds"]
        with open(os.path.join(spec["dir"], "cold-apikeys.txt")) as f:
            self.keys = [line.strip() for line in f]
        with open(os.path.join(spec["dir"], "cold-sessions.txt")) as f:
            self.sessions = [line.strip() for line in f]
        n = len(self.keys)
        self.good_users = range(1, n // 2 + 1)
        self.signin_users = range(n // 2 + 1, n * 3 // 4 + 1)
        self.bad_users = range(n * 3 // 4 + 1, n + 1)
        self.password = spec["user"][1]

    def note(self, kind, result, body=b""):
        key = result if isinstance(result, str) else str(result)
        allowed = EXPECT[kind]
        ok = result in allowed or (isinstance(result, int) and 400 <= result < 500 and "4xx" in allowed)
        with self.lock:
            # A server that is gone answers nothing more: stop rather than spin on refusals.
            self.failing = self.failing + 1 if key.startswith("error") else 0
            if self.failing >= 100:
                self.deadline = 0
            self.counts[(kind, key)] += 1
            if not ok and len(self.unexpected) < SAMPLES:
                self.unexpected.append(f"{kind}: {key} {body[:160]!r}")
        return ok

    def get(self, kind, headers):
        status, body = self.http.ask("GET", TOKEN, headers)
        self.note(kind, status, body)
        return status, body

    def done(self):
        with open(os.path.join(self.spec["dir"], f"result-{self.name}.json"), "w") as f:
            json.dump({"counts": [[k, r, n] for (k, r), n in self.counts.items()],
                       "unexpected": self.unexpected}, f)


def basic(email, password):
    return {"Authorization": "Basic " + base64.b64encode(f"{email}:{password}".encode()).decode()}


def tamper(token):
    """The token with one character of its last part changed: a signature that fails."""
    i = len(token) - 5
    return token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1:]


def credentials(w):
    """Every credential kind on the token route, good and bad, in random order."""
    email = w.spec["user"][0]
    jwt = None
    while time.monotonic() < w.deadline:
        n = random.choice(w.good_users)
        kind = random.randrange(7 if w.spec["ext_token"] else 6)
        if kind == 0:
            # The soak user (remembered by the Basic cache) or a cold user (a password check).
            who = email if random.random() < 0.5 else f"cold{n}@bench.example"
            w.get("basic good", basic(who, w.password))
            bad = random.choice(w.bad_users)
            w.get("basic bad password", basic(f"cold{bad}@bench.example", "wrong-" + secrets.token_hex(4)))
        elif kind == 1:
            if jwt is None or random.random() < 0.05:
                status, body = w.get("apikey good", {"Authorization": w.keys[n - 1]})
                jwt = json.loads(body)["response"] if status == 200 else None
            if jwt:
                w.get("identityd jwt as bearer", {"Authorization": f"Bearer {jwt}"})
                w.get("identityd jwt tampered", {"Authorization": f"Bearer {tamper(jwt)}"})
        elif kind == 2:
            w.get("apikey good", {"Authorization": w.keys[n - 1]})
            w.get("apikey unknown", {"Authorization": "Bearer sk-" + secrets.token_hex(32)})
        elif kind == 3:
            w.get("session header good", {"Authorization": w.sessions[n - 1]})
            w.get("session header unknown",
                  {"Authorization": base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")})
        elif kind == 4:
            w.get("cookie good", {"Cookie": f"asc_auth_key={w.sessions[n - 1]}"})
            w.get("cookie unknown",
                  {"Cookie": "asc_auth_key=" + base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")})
        elif kind == 5:
            # Random extra load on the cache: a cold user's key far from the last one.
            w.get("apikey good", {"Authorization": random.choice(w.keys)})
        else:
            tok = w.spec["ext_token"]
            w.get("external good", {"Authorization": f"Bearer {tok}"})
            w.get("external tampered", {"Authorization": f"Bearer {tamper(tok)}"})


def sign_in(w, kind, email, password):
    status, body = w.http.ask("POST", SIGNIN, {}, {"userName": email, "password": password})
    w.note(kind, status, body)
    if status == 200:
        return json.loads(body)["response"]["token"]
    return None


def sessions(w):
    """Sign-ins, sign-outs and ending all of a user's sessions."""
    while time.monotonic() < w.deadline:
        email = f"cold{random.choice(w.signin_users)}@bench.example"
        token = sign_in(w, "sign-in", email, w.password)
        if token is None:
            continue
        w.get("signed-in session used", {"Authorization": token})
        if random.random() < 0.5:
            status, body = w.http.ask("POST", LOGOUT, {"Authorization": token})
            w.note("sign-out", status, body)
            w.get("signed-out session used", {"Authorization": token})
        else:
            other = sign_in(w, "sign-in", email, w.password)
            if other is None:
                continue
            w.get("signed-in session used", {"Authorization": other})
            status, body = w.http.ask(
                "PUT", "/api/2.0/security/activeconnections/logoutallexceptthis", {"Authorization": token})
            w.note("end-all (second session)", status, body)
            w.get("end-all session used", {"Authorization": other})
            status, body = w.http.ask("POST", LOGOUT, {"Authorization": token})
            w.note("sign-out", status, body)
        bad = random.choice(w.bad_users)
        sign_in(w, "sign-in bad password", f"cold{bad}@bench.example", "wrong-" + secrets.token_hex(4))


def keys(w):
    """API key churn: create one with the soak user's key, use it, delete it, use it again."""
    owner = {"Authorization": f"Bearer {w.spec['owner_key']}"}
    n = 0
    while time.monotonic() < w.deadline:
        n += 1
        status, body = w.http.ask("POST", "/api/2.0/keys", owner, {"name": f"soak {n}"})
        if not w.note("apikey create", status, body):
            continue
        made = json.loads(body)["response"]
        header = {"Authorization": f"Bearer {made['key']}"}
        w.get("new apikey used", header)
        path = "/api/2.0/keys/" + urllib.parse.quote(made["id"], safe="")
        status, body = w.http.ask("DELETE", path, owner)
        w.note("apikey delete", status, body)
        w.get("deleted apikey used", header)


def raw(w, kind, data, expect_answer=True):
    """Sends DATA on a fresh connection; records a 4xx/5xx status, closed (EOF or reset) or
    timeout. Without expect_answer, closes at once after sending."""
    s = socket.create_connection((w.host, w.port), timeout=60)
    try:
        if data:
            s.sendall(data)
        if not expect_answer:
            w.note(kind, "done")
            return
        got = b""
        while b"\r\n" not in got:
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
        if not got:
            w.note(kind, "closed")
            return
        parts = got.split(b" ", 2)
        status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else f"garbage {got[:40]!r}"
        w.note(kind, status, got)
    except (ConnectionResetError, BrokenPipeError):
        w.note(kind, "closed")
    except socket.timeout:
        w.note(kind, "timeout")
    finally:
        s.close()


def hostile(w):
    """Framing attacks on raw sockets from four threads: a request identityd only closes at
    its idle timeout (a body shorter than the first Content-Length) holds one of them."""
    threads = [threading.Thread(target=hostile_loop, args=(w,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def hostile_loop(w):
    """Framing attacks on raw sockets, one connection each."""
    host = f"Host: {w.host}:{w.port}\r\n".encode()
    key = w.keys[0].encode()
    while time.monotonic() < w.deadline:
        pick = random.randrange(6)
        if pick == 0:
            line = random.choice([b"GARBAGE\r\n\r\n", b"GET\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n",
                                  b"\x00\x01\x02 / HTTP/1.1\r\n\r\n", b"GET /\x7f HTTP/1.1 extra\r\n\r\n",
                                  b"GET " + b"/a" * 40000 + b" HTTP/1.1\r\n\r\n"])
            raw(w, "malformed request line", line)
        elif pick == 1:
            raw(w, "oversize header",
                b"GET " + TOKEN.encode() + b" HTTP/1.1\r\n" + host + b"X-Big: " + b"a" * 200000 + b"\r\n\r\n")
        elif pick == 2:
            # Two lengths either way round (h2o reads the body by the first one, identityd
            # then refuses the pair), a length and chunked, a length that is no number.
            framing = random.choice([b"Content-Length: 5\r\nContent-Length: 40\r\n\r\n{\"a\":",
                                     b"Content-Length: 40\r\nContent-Length: 5\r\n\r\n{\"a\":",
                                     b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                                     b"Content-Length: 5x\r\n\r\n{\"a\":"])
            raw(w, "conflicting content-length",
                b"POST " + SIGNIN.encode() + b" HTTP/1.1\r\n" + host +
                b"Content-Type: application/json\r\n" + framing)
        elif pick == 3:
            cut = random.choice([b"GET " + TOKEN.encode() + b" HTTP/1.1\r\n" + host,
                                 b"POST " + SIGNIN.encode() + b" HTTP/1.1\r\n" + host +
                                 b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"userName\":"])
            raw(w, "half-sent then close", cut, expect_answer=False)
        elif pick == 4:
            raw(w, "connect and leave", b"", expect_answer=False)
        else:
            # A slow reader: a small receive buffer, 64 pipelined token requests, a pause,
            # then a few reads and away.
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.settimeout(60)
            try:
                s.connect((w.host, w.port))
                req = b"GET " + TOKEN.encode() + b" HTTP/1.1\r\n" + host + b"Authorization: " + key + b"\r\n\r\n"
                s.sendall(req * 64)
                time.sleep(0.5)
                for _ in range(4):
                    if not s.recv(512):
                        break
                    time.sleep(0.1)
            except OSError:
                pass
            finally:
                s.close()
            w.note("slow reader", "done")
        time.sleep(0.01)


def run(spec, name, body):
    w = Worker(spec, name)
    random.seed(secrets.randbits(64))
    try:
        body(w)
    except Exception as e:  # a worker that died is an unexpected result, not a silent gap
        w.unexpected.append(f"worker {name} died: {type(e).__name__}: {e}")
        w.counts[("worker crash", name)] += 1
    w.done()


def proc_sample(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
        return rss, len(os.listdir(f"/proc/{pid}/fd"))
    except (OSError, StopIteration):
        return None


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    pid, secs = spec["pid"], spec["seconds"]
    plan = [("creds-1", credentials), ("creds-2", credentials), ("sessions", sessions),
            ("keys", keys), ("hostile", hostile)]
    procs = [multiprocessing.Process(target=run, args=(spec, n, b)) for n, b in plan]
    t0 = time.monotonic()
    for p in procs:
        p.start()
    samples, died = [], False
    while any(p.is_alive() for p in procs):
        t = time.monotonic() - t0
        if t <= secs:
            s = proc_sample(pid)
            if s is None:
                died = True
                break
            samples.append((t, *s))
        time.sleep(min(spec["interval"], max(0.2, secs - t + 0.1)) if t < secs else 0.5)
    for p in procs:
        p.join(timeout=120)
        if p.is_alive():
            p.kill()
    if proc_sample(pid) is None:
        died = True
    report(spec, plan, samples, died)


def report(spec, plan, samples, died):
    counts, unexpected = collections.Counter(), []
    for name, _ in plan:
        path = os.path.join(spec["dir"], f"result-{name}.json")
        if not os.path.exists(path):
            unexpected.append(f"worker {name} left no result")
            continue
        with open(path) as f:
            r = json.load(f)
        for k, res, n in r["counts"]:
            counts[(k, res)] += n
        unexpected += r["unexpected"]
    kinds = collections.OrderedDict()
    for (k, res), n in sorted(counts.items()):
        kinds.setdefault(k, {})[res] = n
    bad_total = 0
    print("\n| kind | requests | answers | unexpected |")
    print("|---|--:|---|--:|")
    for k, by in kinds.items():
        allowed = EXPECT.get(k, set())
        bad = sum(n for res, n in by.items()
                  if not (res in {str(a) for a in allowed} or
                          ("4xx" in allowed and res.isdigit() and 400 <= int(res) < 500)))
        bad_total += bad
        print(f"| {k} | {sum(by.values())} | {', '.join(f'{r} x{n}' for r, n in sorted(by.items()))} | {bad} |")
    total = sum(counts.values())
    print(f"| all | {total} | | {bad_total} |")

    # Start: the first sample after the warm-up; middle: the one nearest half-way from there
    # to the end; end: the last one taken while the load ran.
    verdict = []
    if died:
        verdict.append("identityd died")
    after = [s for s in samples if s[0] >= spec["warmup"]]
    if len(after) >= 2:
        start, end = after[0], after[-1]
        mid = min(after, key=lambda s: abs(s[0] - (start[0] + end[0]) / 2))
        print("\n| sample | at s | RSS MiB | fds |")
        print("|---|--:|--:|--:|")
        for label, s in (("after warm-up", start), ("middle", mid), ("end", end)):
            print(f"| {label} | {s[0]:.0f} | {s[1] / 1024:.1f} | {s[2]} |")
        peak = max(s[1] for s in samples)
        print(f"| peak RSS over {len(samples)} samples | | {peak / 1024:.1f} | {max(s[2] for s in samples)} |")
        rss_bound = start[1] * (1 + spec["rss_pct"] / 100) + spec["rss_mib"] * 1024
        if end[1] > rss_bound:
            verdict.append(f"RSS grew from {start[1] / 1024:.1f} to {end[1] / 1024:.1f} MiB "
                           f"(bound {spec['rss_pct']}% + {spec['rss_mib']} MiB)")
        if end[2] > start[2] + spec["fd_slack"]:
            verdict.append(f"open descriptors grew from {start[2]} to {end[2]} (bound +{spec['fd_slack']})")
        print(f"bounds: RSS at end <= RSS after warm-up + {spec['rss_pct']}% + {spec['rss_mib']} MiB; "
              f"fds at end <= fds after warm-up + {spec['fd_slack']}")
    elif not died:
        verdict.append("too few samples of identityd after the warm-up")
    if bad_total or unexpected:
        verdict.append(f"{bad_total} unexpected results")
        print("\nunexpected (first of each worker):")
        for u in unexpected:
            print("  " + u)
    if total == 0:
        verdict.append("no requests were made")
    print("\nverdict: " + ("PASS" if not verdict else "FAIL: " + "; ".join(verdict)))
    sys.exit(1 if verdict else 0)


if __name__ == "__main__":
    main()
