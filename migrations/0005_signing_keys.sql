-- Schema version 5: signing keys that identityd rotates itself (`rotation:` in the
-- configuration).
--
-- Applied by src/store/sqlite.c inside one BEGIN IMMEDIATE transaction, which also sets
-- PRAGMA user_version to 5, so this file must not open or close transactions itself. The
-- conventions of 0001_init.sql hold here too.
--
-- The private keys themselves stay in files (rotation.dir/KID.pem, mode 0600), which every
-- instance sharing this database reads; a row records where a key is in its life, so that a
-- restart, or another instance on the same database, agrees on which key signs:
--   pending   in the JWKS, not signing yet: consumers are given jwks.max_age to fetch it
--   active    signs new tokens (at most one row)
--   draining  signed before, in the JWKS until its last token has expired (token.ttl)
--   retired   neither; the row stays as a record
CREATE TABLE signing_keys (
    kid         TEXT    PRIMARY KEY NOT NULL
                        CHECK (length(CAST(kid AS BLOB)) BETWEEN 1 AND 64),
    alg         TEXT    NOT NULL CHECK (alg IN ('ES256', 'RS256', 'EdDSA')),
    state       TEXT    NOT NULL CHECK (state IN ('pending', 'active', 'draining', 'retired')),
    created     INTEGER NOT NULL,
    -- pending: when it may start signing
    activate_at INTEGER NOT NULL,
    -- when it started signing (0: never)
    activated   INTEGER NOT NULL DEFAULT 0,
    -- draining: when it leaves the JWKS (0: not draining)
    retire_at   INTEGER NOT NULL DEFAULT 0
) STRICT;

-- At most one key signs and at most one waits to: two instances that decide at once to make
-- the next key cannot both insert it, and the loser removes its file.
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (state) WHERE state = 'active';
CREATE UNIQUE INDEX signing_keys_one_pending ON signing_keys (state) WHERE state = 'pending';
