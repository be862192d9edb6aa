-- Schema version 4 for PostgreSQL: what pruning needs, and who deactivated an API key. The
-- same schema as migrations/0004_limits.sql; read that file for the levels. Applied as
-- 0001_init.sql says.
CREATE INDEX login_events_active_expires ON login_events (active, expires);

ALTER TABLE api_keys ADD COLUMN deactivated INTEGER NOT NULL DEFAULT 0
    CHECK (deactivated BETWEEN 0 AND 3);
ALTER TABLE api_keys ADD COLUMN deactivated_by TEXT
    CHECK (deactivated_by IS NULL OR length(deactivated_by) = 36);

UPDATE api_keys SET deactivated = 1, deactivated_by = create_by WHERE is_active = 0;

CREATE INDEX api_keys_expires ON api_keys (expires_at) WHERE expires_at IS NOT NULL;
