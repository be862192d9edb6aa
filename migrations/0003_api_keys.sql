-- Schema version 3: API keys.
--
-- Applied by src/store/sqlite.c inside one BEGIN IMMEDIATE transaction, which also sets
-- PRAGMA user_version to 3, so this file must not open or close transactions itself. The
-- conventions of 0001_init.sql hold here too: STRICT tables, Unix seconds, and byte-length
-- checks (through a BLOB cast) that repeat the fixed-size fields of include/identityd/store.h.
-- Column names follow DocSpace's own table (create_by, create_on, key_postfix, ...), so that
-- anyone who knows one schema can read the other.

-- One row per API key. The key itself ("sk-" and 64 hex characters) is shown to its owner
-- once and never stored: what is kept is a keyed digest of it (include/identityd/apikey.h),
-- so that a copy of this file hands out no working keys. Requests are looked up by that
-- digest, hence the unique index it carries. key_postfix, the key's last four characters,
-- lets people tell their keys apart in listings ("sk-***abcd") without revealing them.
--
-- A revoked key keeps its row with is_active = 0 until it is deleted, so a revoked key that
-- is presented again is recognised as revoked rather than merely unknown.
--
-- tenant_id repeats the creator's tenant so that per-tenant listings need no join; the store
-- copies it from the users row when it inserts, so the two cannot disagree. The store
-- offers no way to delete a user, so no key can lose its creator and the foreign keys need
-- no ON DELETE rule; a later migration that adds user deletion must decide what happens to
-- the user's keys (DocSpace deletes them).
CREATE TABLE api_keys (
    id          TEXT    PRIMARY KEY NOT NULL CHECK (length(id) = 36),
    tenant_id   INTEGER NOT NULL REFERENCES tenants (id),
    -- The user the key acts as.
    create_by   TEXT    NOT NULL REFERENCES users (id),
    -- 30 characters at most, which the callers count; 120 bytes holds 30 of any size.
    name        TEXT    NOT NULL CHECK (length(CAST(name AS BLOB)) BETWEEN 1 AND 120),
    -- A 32-byte keyed digest of the key (IDD_SESSION_DIGEST_LEN): secret-derived.
    key_digest  BLOB    NOT NULL UNIQUE CHECK (length(key_digest) = 32),
    key_postfix TEXT    NOT NULL CHECK (length(CAST(key_postfix AS BLOB)) = 4),
    -- A JSON array of permission names, as DocSpace keeps it: ["files:read","rooms:write"],
    -- or [] for full access. The check can only test the shape: the store's connections run
    -- with trusted_schema off (src/store/sqlite.c), where a CHECK may only call functions
    -- marked innocuous, and SQLite 3.40 (Debian 12's) does not mark json_valid() and
    -- json_type() so: with them here every insert would fail. Nor can a CHECK look inside
    -- the array (that takes json_each, a subquery).
    -- So the store writes only arrays that jansson serialised, and when it reads a row it
    -- parses the array and refuses anything but non-empty strings without spaces. The byte
    -- limit bounds the document; the space-separated form of store.h
    -- (IDD_APIKEY_PERMISSIONS_MAX) is checked by the store on the way in and out.
    permissions TEXT    NOT NULL DEFAULT '[]'
                        CHECK ((permissions = '[]' OR permissions GLOB '[[]"*"]')
                               AND length(CAST(permissions AS BLOB)) <= 4096),
    create_on   INTEGER NOT NULL,
    -- NULL: the key never expires.
    expires_at  INTEGER CHECK (expires_at IS NULL OR expires_at > 0),
    -- NULL: never used. Written in batches (callers coalesce uses), so it is approximate, and
    -- it only moves forward.
    last_used   INTEGER CHECK (last_used IS NULL OR last_used > 0),
    is_active   INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1))
) STRICT;

-- Serves the listing of a tenant's keys, newest first.
CREATE INDEX api_keys_tenant_created ON api_keys (tenant_id, create_on);
-- Serves the listing of one user's keys and the foreign key on create_by.
CREATE INDEX api_keys_creator ON api_keys (create_by);
