-- Schema version 3 for PostgreSQL: API keys. The same schema as migrations/0003_api_keys.sql;
-- read that file for what each column means. Applied as 0001_init.sql says.
CREATE TABLE api_keys (
    id          TEXT    PRIMARY KEY NOT NULL CHECK (length(id) = 36),
    tenant_id   BIGINT  NOT NULL REFERENCES tenants (id),
    create_by   TEXT    NOT NULL REFERENCES users (id),
    name        TEXT    NOT NULL CHECK (octet_length(name) BETWEEN 1 AND 120),
    key_digest  BYTEA   NOT NULL UNIQUE CHECK (octet_length(key_digest) = 32),
    key_postfix TEXT    NOT NULL CHECK (octet_length(key_postfix) = 4),
    -- A JSON array of permission names, [] for full access; the shape only, as in SQLite
    -- (the store parses it when it reads a row).
    permissions TEXT    NOT NULL DEFAULT '[]'
                        CHECK ((permissions = '[]' OR permissions LIKE '["%"]')
                               AND octet_length(permissions) <= 4096),
    create_on   BIGINT  NOT NULL,
    expires_at  BIGINT  CHECK (expires_at IS NULL OR expires_at > 0),
    last_used   BIGINT  CHECK (last_used IS NULL OR last_used > 0),
    is_active   INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1))
);

CREATE INDEX api_keys_tenant_created ON api_keys (tenant_id, create_on);
CREATE INDEX api_keys_creator ON api_keys (create_by);
