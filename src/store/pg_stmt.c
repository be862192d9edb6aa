/*
 * The statements of the PostgreSQL engine (pg_stmt.h): the same statements as sqlite_stmt.c's
 * table in PostgreSQL's dialect, with the comments there explaining why each is written as it
 * is. Each is prepared on a connection the first time it is needed, under its name here.
 * Differences: emails compare through lower() (the unique index is on (tenant_id,
 * lower(email))); greatest() for SQLite's two-argument max(); OFFSET without LIMIT; the rows
 * a transaction decides on are locked with FOR UPDATE (PS_USER_LOCK, PS_TENANT_TFA_LOCK),
 * and a session or key is made from its user's row read FOR SHARE, so it is ordered with a
 * change of that user that ends sessions, where SQLite's single writer serializes by
 * itself.
 */
#include "store/pg_stmt.h"

#define S(id, sql_, types_, what_)                                                                 \
    [id] = {.name = "idd_" #id, .sql = (sql_), .types = (types_), .what = (what_)}

/* Listing order of emails: ASCII case folded, then bytes, whatever the database's collation. */
#define EMAIL_ORDER "lower(email) COLLATE \"C\", email COLLATE \"C\""

const pg_stmt_t idd_pg_stmts[PS_COUNT] = {
    /* ---- tenants and users (pg_user.c) ---- */
    S(PS_TENANT_ENSURE,
      "INSERT INTO tenants (id, name, password_salt, created) VALUES ($1, $2, $3, $4) "
      "ON CONFLICT (id) DO UPDATE SET name = excluded.name "
      "WHERE tenants.name IS DISTINCT FROM excluded.name",
      "itti", "tenant_ensure"),
    S(PS_TENANT_GET, "SELECT id, name, password_salt, created FROM tenants WHERE id = $1", "i",
      "tenant_get"),
    S(PS_USER_BY_EMAIL,
      "SELECT " PG_USER_COLUMNS " FROM users WHERE tenant_id = $1 AND lower(email) = lower($2)",
      "it", "user_by_email"),
    S(PS_USER_BY_ID, "SELECT " PG_USER_COLUMNS " FROM users WHERE id = $1", "t", "user_by_id"),
    S(PS_USER_INSERT,
      "INSERT INTO users (" PG_USER_COLUMNS ") "
      "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9, $9, 0)",
      "titttttti", "user_insert"),
    /* Serializes what is decided about one user (the session cap, the API key cap) with the
     * user updates that end sessions. */
    S(PS_USER_LOCK, "SELECT tenant_id FROM users WHERE id = $1 AND tenant_id = $2 FOR UPDATE", "ti",
      "user_lock"),
    S(PS_USER_SET_STATUS,
      "UPDATE users SET status = $2, auth_version = auth_version + 1, updated = $3 WHERE id = $1",
      "tti", "user_set_status"),
    S(PS_USER_SET_PASSWORD,
      "UPDATE users SET password = $2, auth_version = auth_version + 1, "
      "password_change_required = 0, updated = $3 WHERE id = $1",
      "tti", "user_set_password"),
    S(PS_USER_SET_PASSWORD_CHANGE,
      "UPDATE users SET password_change_required = $2, updated = $3 WHERE id = $1", "tii",
      "user_set_password_change"),
    S(PS_USER_UPGRADE_PASSWORD, "UPDATE users SET password = $3 WHERE id = $1 AND password = $2",
      "ttt", "user_upgrade_password"),
    S(PS_USER_LIST_ALL, "SELECT " PG_USER_COLUMNS " FROM users ORDER BY tenant_id, " EMAIL_ORDER,
      "", "user_list"),
    S(PS_USER_LIST_TENANT,
      "SELECT " PG_USER_COLUMNS " FROM users WHERE tenant_id = $1 ORDER BY " EMAIL_ORDER, "i",
      "user_list"),

    /* ---- sessions (pg_session.c) ---- */
    S(PS_SESSION_CREATE,
      "INSERT INTO login_events (tenant_id, user_id, token_digest, created, expires, last_seen, "
      "ip, user_agent, active, browser_session, auth_version) "
      "SELECT tenant_id, id, $3, $4, $5, $6, $7, $8, 1, $9, $10 FROM users "
      "WHERE id = $2 AND tenant_id = $1 FOR SHARE RETURNING id",
      "itbiiittii", "session_create"),
    S(PS_SESSION_BY_DIGEST,
      "SELECT " PG_SESSION_COLUMNS " FROM login_events WHERE token_digest = $1", "b",
      "session_by_digest"),
    S(PS_SESSION_BY_ID, "SELECT " PG_SESSION_COLUMNS " FROM login_events WHERE id = $1", "i",
      "session_by_id"),
    S(PS_SESSION_TOUCH, "UPDATE login_events SET last_seen = greatest(last_seen, $2) WHERE id = $1",
      "ii", "session_touch"),
    S(PS_SESSION_END, "UPDATE login_events SET active = 0 WHERE id = $1", "i", "session_end"),
    S(PS_SESSION_END_USER,
      "UPDATE login_events SET active = 0 WHERE user_id = $1 AND active = 1 AND id <> $2", "ti",
      "session_end_user"),
    S(PS_SESSION_LIST_USER,
      "SELECT " PG_SESSION_COLUMNS " FROM login_events "
      "WHERE user_id = $1 AND active = 1 AND expires > $2 ORDER BY created DESC, id DESC",
      "ti", "session_list_user"),
    S(PS_SESSION_CAP,
      "UPDATE login_events SET active = 0 WHERE id IN ("
      "SELECT id FROM login_events WHERE user_id = $1 AND active = 1 AND expires > $2 "
      "ORDER BY id DESC OFFSET $3)",
      "tii", "session_cap"),
    S(PS_SESSION_PRUNE,
      "DELETE FROM login_events WHERE id IN (SELECT id FROM login_events "
      "WHERE active = 0 OR (active = 1 AND expires <= $1) LIMIT $2)",
      "ii", "session_prune"),
    S(PS_SESSION_COUNT_LIVE, "SELECT count(*) FROM login_events WHERE active = 1 AND expires > $1",
      "i", "session_count"),

    /* ---- API keys (pg_apikey.c) ---- */
    S(PS_APIKEY_CREATE,
      "INSERT INTO api_keys (id, tenant_id, create_by, name, key_digest, key_postfix, "
      "permissions, create_on, expires_at, last_used, is_active, deactivated, deactivated_by) "
      "SELECT $1, tenant_id, id, $4, $5, $6, $7, $8, $9, NULL, 1, 0, NULL "
      "FROM users WHERE id = $3 AND tenant_id = $2 "
      "AND (SELECT count(*) FROM api_keys WHERE create_by = $3) < $10 FOR SHARE",
      "tittbttiii", "apikey_create"),
    S(PS_APIKEY_BY_DIGEST, "SELECT " PG_APIKEY_COLUMNS " FROM api_keys WHERE key_digest = $1", "b",
      "apikey_by_digest"),
    S(PS_APIKEY_BY_ID, "SELECT " PG_APIKEY_COLUMNS " FROM api_keys WHERE id = $1", "t",
      "apikey_by_id"),
    S(PS_APIKEY_LIST_TENANT,
      "SELECT " PG_APIKEY_COLUMNS " FROM api_keys WHERE tenant_id = $1 "
      "ORDER BY create_on DESC, id COLLATE \"C\"",
      "i", "apikey_list"),
    S(PS_APIKEY_LIST_CREATOR,
      "SELECT " PG_APIKEY_COLUMNS " FROM api_keys WHERE tenant_id = $1 AND create_by = $2 "
      "ORDER BY create_on DESC, id COLLATE \"C\"",
      "it", "apikey_list"),
    S(PS_APIKEY_UPDATE,
      "UPDATE api_keys SET name = coalesce($2, name), permissions = coalesce($3, permissions) "
      "WHERE id = $1",
      "ttt", "apikey_update"),
    S(PS_APIKEY_DELETE, "DELETE FROM api_keys WHERE id = $1", "t", "apikey_delete"),
    S(PS_APIKEY_TOUCH,
      "UPDATE api_keys SET last_used = greatest(coalesce(last_used, 0), $2) WHERE id = $1", "ti",
      "apikey_touch"),
    S(PS_APIKEY_COUNT_CREATOR, "SELECT count(*) FROM api_keys WHERE create_by = $1", "t",
      "apikey_count"),
    S(PS_APIKEY_DEACTIVATE,
      "UPDATE api_keys SET is_active = 0, "
      "deactivated_by = CASE WHEN $2 > deactivated THEN $3 ELSE deactivated_by END, "
      "deactivated = greatest(deactivated, $2) WHERE id = $1",
      "tit", "apikey_deactivate"),
    S(PS_APIKEY_ACTIVATE,
      "UPDATE api_keys SET is_active = 1, deactivated = 0, deactivated_by = NULL "
      "WHERE id = $1 AND deactivated <= $2",
      "ti", "apikey_activate"),
    S(PS_APIKEY_PRUNE,
      "DELETE FROM api_keys WHERE id IN (SELECT id FROM api_keys "
      "WHERE expires_at IS NOT NULL AND expires_at <= $1 LIMIT $2)",
      "ii", "apikey_prune"),
    S(PS_APIKEY_COUNT, "SELECT count(*) FROM api_keys", "", "apikey_count"),

    /* ---- signing keys (pg_signing.c) ---- */
    S(PS_SKEY_LIST,
      "SELECT kid, alg, state, created, activate_at, activated, retire_at FROM signing_keys "
      "ORDER BY created, kid COLLATE \"C\"",
      "", "signing_key_list"),
    S(PS_SKEY_INSERT,
      "INSERT INTO signing_keys (kid, alg, state, created, activate_at, activated) "
      "VALUES ($1, $2, $3, $4, $5, $6)",
      "tttiii", "signing_key_insert"),
    S(PS_SKEY_DEMOTE,
      "UPDATE signing_keys SET state = 'draining', retire_at = $1 WHERE state = 'active'", "i",
      "signing_key_activate"),
    S(PS_SKEY_PROMOTE,
      "UPDATE signing_keys SET state = 'active', activated = $2 "
      "WHERE kid = $1 AND state = 'pending' AND activate_at <= $2",
      "ti", "signing_key_activate"),
    S(PS_SKEY_RETIRE,
      "UPDATE signing_keys SET state = 'retired' WHERE state = 'draining' AND retire_at <= $1", "i",
      "signing_key_retire"),

    /* ---- two-factor bindings (pg_tfa.c) ---- */
    S(PS_TFA_GET,
      "SELECT user_id, secret, salt, codes, last_step, created, updated FROM user_tfa "
      "WHERE user_id = $1",
      "t", "tfa_get"),
    S(PS_TFA_CREATE,
      "INSERT INTO user_tfa (user_id, secret, salt, created, updated) VALUES ($1, $2, $3, $4, $4)",
      "ttii", "tfa_create"),
    S(PS_TFA_ACTIVATE,
      "UPDATE user_tfa SET codes = $2, last_step = $3, updated = $4 "
      "WHERE user_id = $1 AND codes IS NULL AND last_step < $3",
      "ttii", "tfa_activate"),
    S(PS_TFA_ACCEPT_STEP,
      "UPDATE user_tfa SET last_step = $2, updated = $3 WHERE user_id = $1 AND last_step < $2",
      "tii", "tfa_accept_step"),
    S(PS_TFA_SET_CODES,
      "UPDATE user_tfa SET codes = $3, updated = $4 WHERE user_id = $1 AND codes = $2", "ttti",
      "tfa_set_codes"),
    S(PS_TFA_DELETE, "DELETE FROM user_tfa WHERE user_id = $1", "t", "tfa_delete"),
    S(PS_TENANT_TFA_GET,
      "SELECT enabled, trusted_ips, mandatory_users, updated FROM tenant_tfa WHERE tenant_id = $1",
      "i", "tenant_tfa_get"),
    /* Locks the tenant's row and answers whether its settings are on: two administrators
     * turning them on at once end the sessions once. No row: no such tenant. */
    S(PS_TENANT_TFA_LOCK,
      "SELECT coalesce((SELECT enabled FROM tenant_tfa WHERE tenant_id = t.id), 0) "
      "FROM tenants t WHERE t.id = $1 FOR UPDATE",
      "i", "tenant_tfa_set"),
    S(PS_TENANT_TFA_SET,
      "INSERT INTO tenant_tfa (tenant_id, enabled, trusted_ips, mandatory_users, updated) "
      "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id) DO UPDATE SET "
      "enabled = excluded.enabled, trusted_ips = excluded.trusted_ips, "
      "mandatory_users = excluded.mandatory_users, updated = excluded.updated",
      "iitti", "tenant_tfa_set"),
    S(PS_SESSION_END_TENANT,
      "UPDATE login_events SET active = 0 WHERE tenant_id = $1 AND active = 1", "i",
      "tenant_tfa_set"),
    /* Bumped by the triggers of migrations/pg/0008. */
    S(PS_STORE_CHANGES, "SELECT version FROM store_changes WHERE id = 1", "", "changes"),
    /* Brute-force counters (pg_bruteforce.c); $1 tag, $2 now, $3 window, $4 block, $5 most. */
    S(PS_BF_KEY_INSERT,
      "INSERT INTO bruteforce_key (id, key) VALUES (1, $1) ON CONFLICT (id) DO NOTHING", "b",
      "bruteforce_key"),
    S(PS_BF_KEY_GET, "SELECT key FROM bruteforce_key WHERE id = 1", "", "bruteforce_key"),
    S(PS_BF_COUNT,
      "INSERT INTO bruteforce_counters (tag, failures, deadline_ms, updated_ms) "
      "VALUES ($1, 1, $2 + CASE WHEN $5 = 1 AND $4 > 0 THEN $4 ELSE $3 END, $2) "
      "ON CONFLICT (tag) DO UPDATE SET "
      "failures = CASE WHEN bruteforce_counters.deadline_ms <= $2 THEN 1 "
      "WHEN bruteforce_counters.failures >= $5 THEN bruteforce_counters.failures "
      "ELSE bruteforce_counters.failures + 1 END, "
      "deadline_ms = CASE WHEN bruteforce_counters.deadline_ms <= $2 "
      "THEN excluded.deadline_ms "
      "WHEN $4 > 0 AND bruteforce_counters.failures + 1 = $5 THEN $2 + $4 "
      "ELSE bruteforce_counters.deadline_ms END, "
      "updated_ms = $2",
      "biiii", "bruteforce_count"),
    S(PS_BF_SINCE,
      "SELECT tag, failures, deadline_ms, updated_ms FROM bruteforce_counters "
      "WHERE updated_ms >= $1 AND deadline_ms > $2 ORDER BY updated_ms LIMIT $3",
      "iii", "bruteforce_since"),
    S(PS_BF_PRUNE,
      "DELETE FROM bruteforce_counters WHERE tag IN ("
      "SELECT tag FROM bruteforce_counters WHERE deadline_ms <= $1 LIMIT $2)",
      "ii", "bruteforce_prune"),
};
