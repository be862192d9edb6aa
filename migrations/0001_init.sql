-- Schema version 1: tenants and their users.
--
-- Applied by src/store/sqlite.c inside one BEGIN IMMEDIATE transaction, which also sets
-- PRAGMA user_version to 1, so this file must not open or close transactions itself.
--
-- Tables are STRICT so that a value of the wrong type is refused instead of being stored
-- under SQLite's type affinity. Times are Unix seconds. Byte lengths are capped to the
-- fixed-size fields of include/identityd/store.h (length() of a TEXT counts characters, so
-- the checks measure the UTF-8 bytes through a BLOB cast); the C code refuses oversized
-- values first with IDD_ETOOBIG, and these checks keep other writers (the sqlite3 shell, a
-- later migration) from storing a row that a read would have to truncate.

CREATE TABLE tenants (
    id            INTEGER PRIMARY KEY CHECK (id > 0),
    name          TEXT    NOT NULL CHECK (length(CAST(name AS BLOB)) <= 128),
    -- Published to clients, which derive the client hash from it (64 lowercase hex).
    password_salt TEXT    NOT NULL CHECK (length(CAST(password_salt AS BLOB)) BETWEEN 1 AND 64),
    created       INTEGER NOT NULL
) STRICT;

-- Emails are matched case-insensitively through the column's NOCASE collation, which every
-- comparison and the unique index below inherit. NOCASE folds ASCII letters only: two
-- addresses differing just in the case of a non-ASCII letter count as different. That is
-- accepted: domains travel as ASCII (punycode) and internationalised local parts are rare.
-- The address is kept as entered, so nothing has to remember an original spelling.
CREATE TABLE users (
    id           TEXT    PRIMARY KEY NOT NULL CHECK (length(id) = 36),
    tenant_id    INTEGER NOT NULL REFERENCES tenants (id),
    email        TEXT    NOT NULL COLLATE NOCASE
                         CHECK (length(CAST(email AS BLOB)) BETWEEN 1 AND 254),
    first_name   TEXT    NOT NULL DEFAULT '' CHECK (length(CAST(first_name AS BLOB)) <= 128),
    last_name    TEXT    NOT NULL DEFAULT '' CHECK (length(CAST(last_name AS BLOB)) <= 128),
    role         TEXT    NOT NULL DEFAULT 'user' CHECK (role IN ('admin', 'user', 'guest')),
    status       TEXT    NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    -- The $idd1$... record of include/identityd/password.h: a secret.
    password     TEXT    NOT NULL CHECK (length(CAST(password AS BLOB)) BETWEEN 1 AND 160),
    -- Bumped whenever the password or status changes, so sessions and cached credentials
    -- issued under an older value can be recognised as stale.
    auth_version INTEGER NOT NULL DEFAULT 1 CHECK (auth_version >= 1),
    created      INTEGER NOT NULL,
    updated      INTEGER NOT NULL
) STRICT;

-- Serves sign-in lookups and listing in (tenant, email) order, and makes an address unique
-- within its tenant regardless of ASCII case.
CREATE UNIQUE INDEX users_tenant_email ON users (tenant_id, email);
