-- Schema version 5 for PostgreSQL: signing keys that identityd rotates itself. The same
-- schema as migrations/0005_signing_keys.sql; read that file for the states. Applied as
-- 0001_init.sql says.
CREATE TABLE signing_keys (
    kid         TEXT   PRIMARY KEY NOT NULL CHECK (octet_length(kid) BETWEEN 1 AND 64),
    alg         TEXT   NOT NULL CHECK (alg IN ('ES256', 'RS256', 'EdDSA')),
    state       TEXT   NOT NULL CHECK (state IN ('pending', 'active', 'draining', 'retired')),
    created     BIGINT NOT NULL,
    activate_at BIGINT NOT NULL,
    activated   BIGINT NOT NULL DEFAULT 0,
    retire_at   BIGINT NOT NULL DEFAULT 0
);

CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (state) WHERE state = 'active';
CREATE UNIQUE INDEX signing_keys_one_pending ON signing_keys (state) WHERE state = 'pending';
