-- The scale rows' filler (scripts/bench): users @first..@last of tenant 1, each with one API
-- key, written straight into a database identityd has migrated. Run by the sqlite3 shell:
--   sqlite3 DB ".parameter set @first 1" ".parameter set @last 10000" ".read filler.sql"
-- Users are userN@bench.example with ids and key ids made from N; they share the password
-- record of the database's first user (any well-formed record will do: nobody signs in as
-- them). Their keys' digests are random, so no key value reaches them; they only make the
-- table as large as a real one. Tests: tests/scripts/check_bench.sh reads the rows back
-- through identityctl.
BEGIN;
WITH RECURSIVE seq(i) AS (SELECT @first UNION ALL SELECT i + 1 FROM seq WHERE i < @last)
INSERT INTO users (id, tenant_id, email, first_name, last_name, password, created, updated)
SELECT printf('%08x-0000-4000-8000-%012x', i, i), 1, printf('user%d@bench.example', i),
       'User', printf('%d', i), (SELECT password FROM users ORDER BY rowid LIMIT 1),
       CAST(strftime('%s', 'now') AS INTEGER), CAST(strftime('%s', 'now') AS INTEGER)
FROM seq;
WITH RECURSIVE seq(i) AS (SELECT @first UNION ALL SELECT i + 1 FROM seq WHERE i < @last)
INSERT INTO api_keys (id, tenant_id, create_by, name, key_digest, key_postfix, create_on)
SELECT printf('%08x-0000-4000-9000-%012x', i, i), 1, printf('%08x-0000-4000-8000-%012x', i, i),
       'filler', randomblob(32), printf('%04x', i % 65536), CAST(strftime('%s', 'now') AS INTEGER)
FROM seq;
COMMIT;
