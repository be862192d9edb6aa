-- Schema version 8: a change counter for caches of credentials.
--
-- Applied by src/store/sqlite.c inside one BEGIN IMMEDIATE transaction, which also sets
-- PRAGMA user_version to 8, so this file must not open or close transactions itself. The
-- conventions of 0001_init.sql hold here too.
--
-- identityd keeps the rows a request's authentication reads (sessions, API keys, users, a
-- tenant's two-factor settings) in a cache shared by its loops (src/auth/credcache.c). A
-- write that can end or narrow a credential must reach that cache, from whichever process
-- made it (identityd, identityctl, another instance): the triggers below bump the one row
-- of store_changes in the same transaction as such a write, and each identityd reads that
-- row a few times a second (store.h: changes) and drops its cache when it moved. Writes
-- that end or narrow nothing (last_seen and last_used touches, two-factor steps accepted,
-- pruning of sessions that already ended, a password record rewritten the newer way for the
-- same password) leave it alone, so they do not empty the cache.
CREATE TABLE store_changes (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
) STRICT;
INSERT INTO store_changes (id, version) VALUES (1, 0);

CREATE TRIGGER store_changes_users_update AFTER UPDATE ON users
WHEN OLD.status IS NOT NEW.status OR OLD.auth_version IS NOT NEW.auth_version
  OR OLD.password_change_required IS NOT NEW.password_change_required
  OR OLD.role IS NOT NEW.role OR OLD.tenant_id IS NOT NEW.tenant_id
  OR OLD.email IS NOT NEW.email OR OLD.first_name IS NOT NEW.first_name
  OR OLD.last_name IS NOT NEW.last_name
BEGIN
    UPDATE store_changes SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER store_changes_users_delete AFTER DELETE ON users
BEGIN
    UPDATE store_changes SET version = version + 1 WHERE id = 1;
END;

-- A session ended (logout, revocation, the per-user cap, two-factor sign-in turned on).
CREATE TRIGGER store_changes_sessions_update AFTER UPDATE ON login_events
WHEN OLD.active IS NOT NEW.active OR OLD.expires IS NOT NEW.expires
  OR OLD.auth_version IS NOT NEW.auth_version OR OLD.user_id IS NOT NEW.user_id
  OR OLD.tenant_id IS NOT NEW.tenant_id
BEGIN
    UPDATE store_changes SET version = version + 1 WHERE id = 1;
END;

-- Pruning mostly deletes rows that already ended. (No time function here: the connections
-- run with trusted_schema off, so an expired row deleted still bumps the counter, at most
-- once per pruning run.)
CREATE TRIGGER store_changes_sessions_delete AFTER DELETE ON login_events
WHEN OLD.active = 1
BEGIN
    UPDATE store_changes SET version = version + 1 WHERE id = 1;
END;

-- Anything but last_used: activity, permissions, name, expiry, owner.
CREATE TRIGGER store_changes_api_keys_update AFTER UPDATE ON api_keys
WHEN OLD.is_active IS NOT NEW.is_active OR OLD.deactivated IS NOT NEW.deactivated
  OR OLD.permissions IS NOT NEW.permissions OR OLD.name IS NOT NEW.name
  OR OLD.expires_at IS NOT NEW.expires_at OR OLD.create_by IS NOT NEW.create_by
  OR OLD.tenant_id IS NOT NEW.tenant_id
BEGIN
    UPDATE store_changes SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER store_changes_api_keys_delete AFTER DELETE ON api_keys
BEGIN
    UPDATE store_changes SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER store_changes_tenant_tfa_insert AFTER INSERT ON tenant_tfa
BEGIN
    UPDATE store_changes SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER store_changes_tenant_tfa_update AFTER UPDATE ON tenant_tfa
BEGIN
    UPDATE store_changes SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER store_changes_tenant_tfa_delete AFTER DELETE ON tenant_tfa
BEGIN
    UPDATE store_changes SET version = version + 1 WHERE id = 1;
END;

-- An app unlinked.
CREATE TRIGGER store_changes_user_tfa_delete AFTER DELETE ON user_tfa
BEGIN
    UPDATE store_changes SET version = version + 1 WHERE id = 1;
END;
