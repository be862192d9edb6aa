#!/usr/bin/env python3
"""The benchmark's wrong-password client (scripts/bench, the isolation row).

Sends GET requests with a fixed header set at a fixed rate for a fixed time, on a schedule
of its own (request i is due at start + i/rate, whatever the answers' latency), from up to
32 keep-alive connections, so the offered rate holds while identityd's KDF pool is busy
(past 32 requests outstanding, the next ones wait for a connection). Prints one line:
"N sent at R/s, last answer after S s: {status: count, ...}". Loopback only; bounded in
count and time.

    flood.py URL RATE SECONDS HEADER...     (HEADER as "Name: value")
"""
import http.client
import queue
import sys
import threading
import time
import urllib.parse

CONNECTIONS = 32


def main():
    url, rate, seconds = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
    headers = dict(h.split(": ", 1) for h in sys.argv[4:])
    parts = urllib.parse.urlsplit(url)
    if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        sys.exit("flood.py: loopback targets only")
    total = int(rate * seconds)
    due = queue.Queue()
    counts = {}
    lock = threading.Lock()

    def worker():
        conn = None
        while True:
            item = due.get()
            if item is None:
                return
            if conn is None:
                conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
            try:
                conn.request("GET", parts.path, headers=headers)
                resp = conn.getresponse()
                resp.read()
                status = resp.status
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = None
                status = "error"
            with lock:
                counts[status] = counts.get(status, 0) + 1

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(CONNECTIONS)]
    for t in threads:
        t.start()
    start = time.monotonic()
    for i in range(total):
        wait = start + i / rate - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        due.put(i)
    for _ in threads:
        due.put(None)
    for t in threads:
        t.join(timeout=15)
    took = time.monotonic() - start
    print(f"{total} sent at {rate:g}/s, last answer after {took:.1f} s: {counts}")


if __name__ == "__main__":
    main()
