#!/usr/bin/env python3
"""The cold-cache rows' credentials (scripts/bench): N users of tenant 1, each with one API
key and one session whose values are known, so that a client cycling through all of them
misses a credential cache smaller than N on (nearly) every request.

    creds.py PEPPER_FILE N OUTDIR

writes into OUTDIR:
  cold-sqlite.sql, cold-pg.sql   the rows, for the sqlite3 shell and for psql (one
                                 transaction each), into a database identityd has migrated
                                 and whose first user exists (its password record is
                                 shared: nobody signs in as these users)
  cold-apikeys.txt               one Authorization value a line: "Bearer sk-..."
  cold-sessions.txt              one Authorization value a line: the session token
Users are coldN@bench.example, with ids made from N that the scale rows' filler
(filler.sql) does not use. The store keeps only the keyed digests identityd finds the
credentials by: HMAC-SHA256 under the pepper (the file's bytes less trailing whitespace)
over "apikey:" or "session:" and the value (include/identityd/cred/digest.h); the files of
values stay in the bench's private folder (umask 077) and go with it.
"""
import base64
import hashlib
import hmac
import os
import secrets
import sys
import time

BATCH = 500


def digest(pepper, label, value):
    return hmac.new(pepper, (label + value).encode("ascii"), hashlib.sha256).hexdigest()


def blob(engine, hexdigest):
    return f"X'{hexdigest}'" if engine == "sqlite" else f"'\\x{hexdigest}'::bytea"


def rows_sql(engine, rows, now):
    """The statements for rows [(n, key digest, session digest)], in batches."""
    out = ["BEGIN;"]
    alias = "" if engine == "sqlite" else " AS v(column1, column2, column3)"
    password = "(SELECT password FROM users ORDER BY created, id LIMIT 1)"
    for at in range(0, len(rows), BATCH):
        part = rows[at : at + BATCH]
        users = ",\n".join(
            f"('{n:08x}-0000-4000-a000-{n:012x}', 'cold{n}@bench.example', '{n}')"
            for n, _, _ in part
        )
        out.append(
            "INSERT INTO users (id, tenant_id, email, first_name, last_name, password, "
            f"created, updated)\nSELECT column1, 1, column2, 'Cold', column3, {password}, "
            f"{now}, {now} FROM (VALUES\n{users}){alias};"
        )
        keys = ",\n".join(
            f"('{n:08x}-0000-4000-b000-{n:012x}', 1, '{n:08x}-0000-4000-a000-{n:012x}', "
            f"'cold', {blob(engine, k)}, '{n % 65536:04x}', {now})"
            for n, k, _ in part
        )
        out.append(
            "INSERT INTO api_keys (id, tenant_id, create_by, name, key_digest, key_postfix, "
            f"create_on) VALUES\n{keys};"
        )
        sessions = ",\n".join(
            f"(1, '{n:08x}-0000-4000-a000-{n:012x}', {blob(engine, s)}, {now}, "
            f"{now + 30 * 86400}, {now}, '127.0.0.1', 'bench', 1)"
            for n, _, s in part
        )
        out.append(
            "INSERT INTO login_events (tenant_id, user_id, token_digest, created, expires, "
            f"last_seen, ip, user_agent, auth_version) VALUES\n{sessions};"
        )
    out.append("COMMIT;")
    return "\n".join(out) + "\n"


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: creds.py PEPPER_FILE N OUTDIR")
    with open(sys.argv[1], "rb") as f:
        pepper = f.read().rstrip()
    n = int(sys.argv[2])
    if not pepper or not 1 <= n <= 1000000:
        sys.exit("creds.py: an empty pepper, or N not in 1..1000000")
    outdir = sys.argv[3]
    os.umask(0o077)
    rows, keys, sessions = [], [], []
    for i in range(1, n + 1):
        key = "sk-" + secrets.token_hex(32)
        # 32 random bytes as 43 base64url characters, as auth/session.c makes them.
        token = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode("ascii").rstrip("=")
        rows.append((i, digest(pepper, "apikey:", key), digest(pepper, "session:", token)))
        keys.append(f"Bearer {key}\n")
        sessions.append(token + "\n")
    now = int(time.time())
    for engine in ("sqlite", "pg"):
        with open(os.path.join(outdir, f"cold-{engine}.sql"), "w", encoding="ascii") as f:
            f.write(rows_sql(engine, rows, now))
    with open(os.path.join(outdir, "cold-apikeys.txt"), "w", encoding="ascii") as f:
        f.writelines(keys)
    with open(os.path.join(outdir, "cold-sessions.txt"), "w", encoding="ascii") as f:
        f.writelines(sessions)


if __name__ == "__main__":
    main()
