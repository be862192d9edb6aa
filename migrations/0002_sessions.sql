-- Schema version 2: sign-in sessions (login events) and the flag that a user must change the
-- password.
--
-- Applied by src/store/sqlite.c inside one BEGIN IMMEDIATE transaction, which also sets
-- PRAGMA user_version to 2, so this file must not open or close transactions itself. The
-- conventions of 0001_init.sql hold here too: STRICT tables, Unix seconds, and byte-length
-- checks (through a BLOB cast) that repeat the fixed-size fields of include/identityd/store.h.

-- One row per sign-in. The session token itself is never stored, only a keyed digest of it
-- (made by src/auth/session.c), so that a copy of this file does not hand out live sessions;
-- requests are looked up by that digest, hence the unique index it carries. A session that is
-- logged out or revoked keeps its row with active = 0 rather than being deleted, so a token
-- presented after its logout is recognised as ended instead of merely unknown.
--
-- AUTOINCREMENT keeps ids from ever being reused: an id names a session in `identityctl
-- session revoke` and in what clients hold as the login event id, and a later cleanup that
-- deletes old rows must not let a new session answer to an id an administrator saw before.
--
-- tenant_id repeats the user's tenant so that per-tenant queries need no join; the store
-- copies it from the users row when it inserts, so the two cannot disagree.
CREATE TABLE login_events (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id       INTEGER NOT NULL REFERENCES tenants (id),
    user_id         TEXT    NOT NULL REFERENCES users (id),
    -- A 32-byte keyed digest of the token (IDD_SESSION_DIGEST_LEN): secret-derived.
    token_digest    BLOB    NOT NULL UNIQUE CHECK (length(token_digest) = 32),
    created         INTEGER NOT NULL,
    expires         INTEGER NOT NULL,
    -- Written at most about once a minute (callers coalesce), so it is approximate.
    last_seen       INTEGER NOT NULL,
    -- Empty when unknown. 45 bytes is the longest textual IPv6 address (INET6_ADDRSTRLEN - 1).
    ip              TEXT    NOT NULL DEFAULT '' CHECK (length(CAST(ip AS BLOB)) <= 45),
    -- Cut by the caller at a UTF-8 boundary to fit; shown to users in their session list.
    user_agent      TEXT    NOT NULL DEFAULT ''
                            CHECK (length(CAST(user_agent AS BLOB)) <= 255),
    active          INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    -- 1 when the client signed in with session: true, so its cookie carries no Expires.
    browser_session INTEGER NOT NULL DEFAULT 0 CHECK (browser_session IN (0, 1)),
    -- The user's auth_version at sign-in: a session older than the user's current value
    -- predates a password or status change and is stale even if still marked active.
    auth_version    INTEGER NOT NULL CHECK (auth_version >= 1)
) STRICT;

-- Serves the listing of a user's active sessions and ending them all at once (the two
-- queries that filter on user_id and active), and the foreign key on user_id.
CREATE INDEX login_events_user_active ON login_events (user_id, active);

-- Set by logoutallchangepassword and cleared when the password is changed. Existing users
-- start without the requirement.
ALTER TABLE users ADD COLUMN password_change_required INTEGER NOT NULL DEFAULT 0
    CHECK (password_change_required IN (0, 1));
