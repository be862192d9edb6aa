-- Schema version 4: what pruning needs, and who deactivated an API key.
--
-- Applied by src/store/sqlite.c inside one BEGIN IMMEDIATE transaction, which also sets
-- PRAGMA user_version to 4, so this file must not open or close transactions itself. The
-- conventions of 0001_init.sql hold here too.

-- Serves the background pruning of sessions that ended (active = 0) or expired, and the
-- count of live sessions that /metrics shows: both read (active, expires) ranges only.
CREATE INDEX login_events_active_expires ON login_events (active, expires);

-- Why an API key is inactive, and so who may turn it back on:
--   0  active (is_active = 1)
--   1  deactivated by its owner: its owner or an admin may re-activate it
--   2  deactivated by an admin of its tenant: only an admin may re-activate it
--   3  revoked (identityctl apikey revoke): final, nobody re-activates it through the API
-- The levels are ordered: a key is only ever moved to a higher one while inactive (an owner
-- deactivating a key an admin already deactivated leaves it at 2), so nobody can lower a
-- refusal to one they may lift.
ALTER TABLE api_keys ADD COLUMN deactivated INTEGER NOT NULL DEFAULT 0
    CHECK (deactivated BETWEEN 0 AND 3);
-- The user who deactivated it (NULL when active, and for revocation by identityctl, which
-- acts for no user).
ALTER TABLE api_keys ADD COLUMN deactivated_by TEXT
    CHECK (deactivated_by IS NULL OR length(deactivated_by) = 36);

-- Keys made inactive before this migration keep the meaning they had: deactivated by their
-- owner, who may turn them back on. A key `identityctl apikey revoke` deactivated before
-- cannot be told apart from those, so it stays re-activatable by its owner as it was;
-- revocations from now on are final.
UPDATE api_keys SET deactivated = 1, deactivated_by = create_by WHERE is_active = 0;

-- Serves the background pruning of expired keys.
CREATE INDEX api_keys_expires ON api_keys (expires_at) WHERE expires_at IS NOT NULL;
