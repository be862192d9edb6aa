-- Schema version 1 for PostgreSQL: tenants and their users. The same schema as
-- migrations/0001_init.sql in PostgreSQL's dialect; read that file for what each column
-- means.
--
-- Applied by src/store/pg.c inside one transaction that holds the migration lock and also
-- records the version in idd_schema, so this file must not open or close transactions.
-- Times are Unix seconds (BIGINT). Byte lengths repeat the fixed-size fields of
-- include/identityd/store/store.h through octet_length().

CREATE TABLE tenants (
    id            BIGINT PRIMARY KEY CHECK (id > 0),
    name          TEXT   NOT NULL CHECK (octet_length(name) <= 128),
    password_salt TEXT   NOT NULL CHECK (octet_length(password_salt) BETWEEN 1 AND 64),
    created       BIGINT NOT NULL
);

-- Emails are kept as entered and matched case-insensitively through lower(): the unique
-- index below makes an address unique within its tenant regardless of case, as SQLite's
-- NOCASE column does (lower() also folds non-ASCII letters, which NOCASE leaves alone).
CREATE TABLE users (
    id           TEXT   PRIMARY KEY NOT NULL CHECK (length(id) = 36),
    tenant_id    BIGINT NOT NULL REFERENCES tenants (id),
    email        TEXT   NOT NULL CHECK (octet_length(email) BETWEEN 1 AND 254),
    first_name   TEXT   NOT NULL DEFAULT '' CHECK (octet_length(first_name) <= 128),
    last_name    TEXT   NOT NULL DEFAULT '' CHECK (octet_length(last_name) <= 128),
    role         TEXT   NOT NULL DEFAULT 'user' CHECK (role IN ('admin', 'user', 'guest')),
    status       TEXT   NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    password     TEXT   NOT NULL CHECK (octet_length(password) BETWEEN 1 AND 160),
    auth_version BIGINT NOT NULL DEFAULT 1 CHECK (auth_version >= 1),
    created      BIGINT NOT NULL,
    updated      BIGINT NOT NULL
);

CREATE UNIQUE INDEX users_tenant_email ON users (tenant_id, lower(email));
