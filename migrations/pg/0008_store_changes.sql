-- Schema version 8 for PostgreSQL: a change counter for caches of credentials. The same
-- schema as migrations/0008_store_changes.sql; read that file for which writes move it and
-- why. Applied as 0001_init.sql says.
--
-- The triggers run in the transaction of the write that fires them, so the counter moves
-- exactly when that write commits, whichever process made it.
CREATE TABLE store_changes (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT  NOT NULL
);
INSERT INTO store_changes (id, version) VALUES (1, 0);

CREATE FUNCTION store_changes_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE store_changes SET version = version + 1 WHERE id = 1;
    RETURN NULL;
END;
$$;

CREATE TRIGGER store_changes_users_update AFTER UPDATE ON users FOR EACH ROW
WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.auth_version IS DISTINCT FROM NEW.auth_version
  OR OLD.password_change_required IS DISTINCT FROM NEW.password_change_required
  OR OLD.role IS DISTINCT FROM NEW.role OR OLD.tenant_id IS DISTINCT FROM NEW.tenant_id
  OR OLD.email IS DISTINCT FROM NEW.email OR OLD.first_name IS DISTINCT FROM NEW.first_name
  OR OLD.last_name IS DISTINCT FROM NEW.last_name)
EXECUTE FUNCTION store_changes_bump();

CREATE TRIGGER store_changes_users_delete AFTER DELETE ON users FOR EACH ROW
EXECUTE FUNCTION store_changes_bump();

CREATE TRIGGER store_changes_sessions_update AFTER UPDATE ON login_events FOR EACH ROW
WHEN (OLD.active IS DISTINCT FROM NEW.active OR OLD.expires IS DISTINCT FROM NEW.expires
  OR OLD.auth_version IS DISTINCT FROM NEW.auth_version OR OLD.user_id IS DISTINCT FROM NEW.user_id
  OR OLD.tenant_id IS DISTINCT FROM NEW.tenant_id)
EXECUTE FUNCTION store_changes_bump();

CREATE TRIGGER store_changes_sessions_delete AFTER DELETE ON login_events FOR EACH ROW
WHEN (OLD.active = 1)
EXECUTE FUNCTION store_changes_bump();

CREATE TRIGGER store_changes_api_keys_update AFTER UPDATE ON api_keys FOR EACH ROW
WHEN (OLD.is_active IS DISTINCT FROM NEW.is_active OR OLD.deactivated IS DISTINCT FROM NEW.deactivated
  OR OLD.permissions IS DISTINCT FROM NEW.permissions OR OLD.name IS DISTINCT FROM NEW.name
  OR OLD.expires_at IS DISTINCT FROM NEW.expires_at OR OLD.create_by IS DISTINCT FROM NEW.create_by
  OR OLD.tenant_id IS DISTINCT FROM NEW.tenant_id)
EXECUTE FUNCTION store_changes_bump();

CREATE TRIGGER store_changes_api_keys_delete AFTER DELETE ON api_keys FOR EACH ROW
EXECUTE FUNCTION store_changes_bump();

CREATE TRIGGER store_changes_tenant_tfa_write AFTER INSERT OR UPDATE OR DELETE ON tenant_tfa
FOR EACH ROW EXECUTE FUNCTION store_changes_bump();

CREATE TRIGGER store_changes_user_tfa_delete AFTER DELETE ON user_tfa FOR EACH ROW
EXECUTE FUNCTION store_changes_bump();
