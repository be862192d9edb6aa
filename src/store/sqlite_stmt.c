/*
 * The statements of the SQLite engine and the helpers that run them (sqlite_stmt.h).
 *
 * Every statement the engine keeps is in stmt_table below, with the name its failures are
 * logged under. Each is prepared the first time a handle needs it and kept for the life of
 * the handle, so a lookup costs one bind and one step, with no parsing, formatting or
 * allocation. After every use it is reset, because a statement left mid-step holds a read
 * transaction open and would pin an old snapshot and block checkpoints.
 *
 * Records cross this boundary as fixed-size structs. A value that would not fit its field is
 * refused on the way in (IDD_ETOOBIG), and the schema repeats the limits, so a read never has
 * to truncate; if one still meets an oversized value it reports IDD_ESTORE rather than return
 * a shortened email or password record.
 */
#include "store/sqlite_stmt.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <openssl/rand.h>

#include "identityd/core/common.h"
#include "identityd/core/ct.h"
#include "identityd/core/log.h"

static const struct {
    const char *sql;
    const char *what;
} stmt_table[ST_COUNT] = {
    [ST_USER_VERSION] = {"PRAGMA user_version", "read user_version"},
    [ST_FOREIGN_KEYS] = {"PRAGMA foreign_keys", "read foreign_keys"},

    /* ---- tenants and users (sqlite_user.c) ---- */
    /* The salt is only used when the row is new; an existing tenant keeps its salt, since
     * every client hash of its users was derived from it. The name is only written when it
     * changed, so an unchanged configuration does not rewrite the row at every start. */
    [ST_TENANT_ENSURE] = {"INSERT INTO tenants (id, name, password_salt, created) "
                          "VALUES (?1, ?2, ?3, ?4) "
                          "ON CONFLICT (id) DO UPDATE SET name = excluded.name "
                          "WHERE tenants.name IS NOT excluded.name",
                          "tenant_ensure"},
    [ST_TENANT_GET] = {"SELECT id, name, password_salt, created FROM tenants WHERE id = ?1",
                       "tenant_get"},
    /* email carries COLLATE NOCASE in the schema, so this comparison and the unique index
     * (tenant_id, email) it uses are both case-insensitive. */
    [ST_USER_BY_EMAIL] = {"SELECT " USER_COLUMNS " FROM users WHERE tenant_id = ?1 AND email = ?2",
                          "user_by_email"},
    [ST_USER_BY_ID] = {"SELECT " USER_COLUMNS " FROM users WHERE id = ?1", "user_by_id"},
    [ST_USER_INSERT] = {"INSERT INTO users (" USER_COLUMNS ") "
                        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 1, ?9, ?9, 0)",
                        "user_insert"},
    [ST_USER_SET_STATUS] = {"UPDATE users SET status = ?2, auth_version = auth_version + 1, "
                            "updated = ?3 WHERE id = ?1",
                            "user_set_status"},
    /* A new password is the change that logoutallchangepassword asked for. */
    [ST_USER_SET_PASSWORD] = {"UPDATE users SET password = ?2, auth_version = auth_version + 1, "
                              "password_change_required = 0, updated = ?3 WHERE id = ?1",
                              "user_set_password"},
    [ST_USER_SET_PASSWORD_CHANGE] = {"UPDATE users SET password_change_required = ?2, "
                                     "updated = ?3 WHERE id = ?1",
                                     "user_set_password_change"},
    /* The same password kept a newer way: nothing a session or a cached credential depends on
     * changes. Only the record that was checked is replaced, so a password changed meanwhile
     * is never overwritten, and of two sign-ins racing to upgrade only one writes. */
    [ST_USER_UPGRADE_PASSWORD] = {"UPDATE users SET password = ?3 WHERE id = ?1 AND password = ?2",
                                  "user_upgrade_password"},
    [ST_USER_LIST_ALL] = {"SELECT " USER_COLUMNS " FROM users ORDER BY tenant_id, email",
                          "user_list"},
    [ST_USER_LIST_TENANT] = {"SELECT " USER_COLUMNS " FROM users WHERE tenant_id = ?1 "
                             "ORDER BY tenant_id, email",
                             "user_list"},

    /* ---- sessions (sqlite_session.c) ---- */
    /* The row is built from the user's own row, so a session can only be created for a user
     * that exists in the tenant it names, and tenant_id can never disagree with the user. */
    [ST_SESSION_CREATE] = {"INSERT INTO login_events (tenant_id, user_id, token_digest, created, "
                           "expires, last_seen, ip, user_agent, active, browser_session, "
                           "auth_version) "
                           "SELECT tenant_id, id, ?3, ?4, ?5, ?6, ?7, ?8, 1, ?9, ?10 FROM users "
                           "WHERE id = ?2 AND tenant_id = ?1",
                           "session_create"},
    [ST_SESSION_BY_DIGEST] = {"SELECT " SESSION_COLUMNS " FROM login_events "
                              "WHERE token_digest = ?1",
                              "session_by_digest"},
    [ST_SESSION_BY_ID] = {"SELECT " SESSION_COLUMNS " FROM login_events WHERE id = ?1",
                          "session_by_id"},
    /* Coalesced touches from several threads may land out of order; last_seen only moves
     * forward, so a late write of an older time cannot make a session look idle. */
    [ST_SESSION_TOUCH] = {"UPDATE login_events SET last_seen = max(last_seen, ?2) WHERE id = ?1",
                          "session_touch"},
    [ST_SESSION_END] = {"UPDATE login_events SET active = 0 WHERE id = ?1", "session_end"},
    /* Ids start at 1, so except_id 0 excludes nothing. Only rows still active are written, so
     * the change count is the number of sessions this call ended. */
    [ST_SESSION_END_USER] = {"UPDATE login_events SET active = 0 "
                             "WHERE user_id = ?1 AND active = 1 AND id <> ?2",
                             "session_end_user"},
    [ST_SESSION_LIST_USER] = {"SELECT " SESSION_COLUMNS " FROM login_events "
                              "WHERE user_id = ?1 AND active = 1 AND expires > ?2 "
                              "ORDER BY created DESC, id DESC",
                              "session_list_user"},
    /* Ends the user's live sessions beyond the newest ?3: ids grow with every insert
     * (AUTOINCREMENT), so the highest ids are the newest sessions whatever the clock did. */
    [ST_SESSION_CAP] = {"UPDATE login_events SET active = 0 WHERE id IN ("
                        "SELECT id FROM login_events "
                        "WHERE user_id = ?1 AND active = 1 AND expires > ?2 "
                        "ORDER BY id DESC LIMIT -1 OFFSET ?3)",
                        "session_cap"},
    /* Both terms are ranges of the (active, expires) index, so a run reads only what it
     * deletes, however many live sessions there are. */
    [ST_SESSION_PRUNE] = {"DELETE FROM login_events WHERE id IN ("
                          "SELECT id FROM login_events "
                          "WHERE active = 0 OR (active = 1 AND expires <= ?1) LIMIT ?2)",
                          "session_prune"},
    [ST_SESSION_COUNT_LIVE] = {"SELECT count(*) FROM login_events "
                               "WHERE active = 1 AND expires > ?1",
                               "session_count"},

    /* ---- API keys (sqlite_apikey.c) ---- */
    /* The row is built from the creator's own row, so a key can only be made for a user of the
     * tenant it names, checked by the statement that inserts it, and tenant_id can never
     * disagree with the user. A new key is active and has not been used yet. */
    [ST_APIKEY_CREATE] = {"INSERT INTO api_keys (" APIKEY_COLUMNS ") "
                          "SELECT ?1, tenant_id, id, ?4, ?5, ?6, ?7, ?8, ?9, NULL, 1, 0, NULL "
                          "FROM users WHERE id = ?3 AND tenant_id = ?2 "
                          "AND (SELECT count(*) FROM api_keys WHERE create_by = ?3) < ?10",
                          "apikey_create"},
    [ST_APIKEY_BY_DIGEST] = {"SELECT " APIKEY_COLUMNS " FROM api_keys WHERE key_digest = ?1",
                             "apikey_by_digest"},
    [ST_APIKEY_BY_ID] = {"SELECT " APIKEY_COLUMNS " FROM api_keys WHERE id = ?1", "apikey_by_id"},
    /* The id breaks ties between keys created in the same second, so that a listing is the
     * same every time. */
    [ST_APIKEY_LIST_TENANT] = {"SELECT " APIKEY_COLUMNS " FROM api_keys WHERE tenant_id = ?1 "
                               "ORDER BY create_on DESC, id",
                               "apikey_list"},
    [ST_APIKEY_LIST_CREATOR] = {"SELECT " APIKEY_COLUMNS " FROM api_keys "
                                "WHERE tenant_id = ?1 AND create_by = ?2 "
                                "ORDER BY create_on DESC, id",
                                "apikey_list"},
    /* A NULL parameter leaves its column as it is, so one statement serves every combination
     * of changes. */
    [ST_APIKEY_UPDATE] = {"UPDATE api_keys SET name = coalesce(?2, name), "
                          "permissions = coalesce(?3, permissions) WHERE id = ?1",
                          "apikey_update"},
    /* Every SET expression reads the row as it was, so the one who deactivated it is replaced
     * exactly when the level rises: a lower level never overwrites a higher one. */
    [ST_APIKEY_DEACTIVATE] = {"UPDATE api_keys SET is_active = 0, "
                              "deactivated_by = CASE WHEN ?2 > deactivated THEN ?3 "
                              "ELSE deactivated_by END, "
                              "deactivated = max(deactivated, ?2) WHERE id = ?1",
                              "apikey_deactivate"},
    /* The rule and the write in one statement, so a revocation between a caller's check and
     * its write cannot be undone by it. */
    [ST_APIKEY_ACTIVATE] = {"UPDATE api_keys SET is_active = 1, deactivated = 0, "
                            "deactivated_by = NULL WHERE id = ?1 AND deactivated <= ?2",
                            "apikey_activate"},
    [ST_APIKEY_COUNT_CREATOR] = {"SELECT count(*) FROM api_keys WHERE create_by = ?1",
                                 "apikey_count"},
    /* Reads the partial index on expires_at. */
    [ST_APIKEY_PRUNE] = {"DELETE FROM api_keys WHERE id IN ("
                         "SELECT id FROM api_keys "
                         "WHERE expires_at IS NOT NULL AND expires_at <= ?1 LIMIT ?2)",
                         "apikey_prune"},
    [ST_APIKEY_COUNT] = {"SELECT count(*) FROM api_keys", "apikey_count"},
    /* Bumped by the triggers of migrations/0008 with every write that ends or narrows a
     * credential. */
    [ST_STORE_CHANGES] = {"SELECT version FROM store_changes WHERE id = 1", "changes"},
    [ST_APIKEY_DELETE] = {"DELETE FROM api_keys WHERE id = ?1", "apikey_delete"},
    /* Batches from several threads, or from a server and a restart, may land out of order;
     * last_used only moves forward, so a late write of an older time cannot make a key look
     * unused for longer than it has been. */
    [ST_APIKEY_TOUCH] = {"UPDATE api_keys SET last_used = max(coalesce(last_used, 0), ?2) "
                         "WHERE id = ?1",
                         "apikey_touch"},

    /* ---- signing keys identityd rotates (sqlite_signing.c) ---- */
    [ST_SKEY_LIST] = {"SELECT kid, alg, state, created, activate_at, activated, retire_at "
                      "FROM signing_keys ORDER BY created, kid",
                      "signing_key_list"},
    [ST_SKEY_INSERT] = {"INSERT INTO signing_keys (kid, alg, state, created, activate_at, "
                        "activated) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                        "signing_key_insert"},
    /* Activation runs these two in one transaction: the signing key steps aside first, since
     * the index allows one active row at a time. */
    [ST_SKEY_DEMOTE] = {"UPDATE signing_keys SET state = 'draining', retire_at = ?1 "
                        "WHERE state = 'active'",
                        "signing_key_activate"},
    [ST_SKEY_PROMOTE] = {"UPDATE signing_keys SET state = 'active', activated = ?2 "
                         "WHERE kid = ?1 AND state = 'pending' AND activate_at <= ?2",
                         "signing_key_activate"},
    [ST_SKEY_RETIRE] = {"UPDATE signing_keys SET state = 'retired' "
                        "WHERE state = 'draining' AND retire_at <= ?1",
                        "signing_key_retire"},

    /* ---- two-factor bindings (sqlite_tfa.c) ---- */
    [ST_TFA_GET] = {"SELECT user_id, secret, salt, codes, last_step, created, updated "
                    "FROM user_tfa WHERE user_id = ?1",
                    "tfa_get"},
    [ST_TFA_CREATE] = {"INSERT INTO user_tfa (user_id, secret, salt, created, updated) "
                       "VALUES (?1, ?2, ?3, ?4, ?4)",
                       "tfa_create"},
    /* The conditions are the guards: a second activation, or a step already used, changes no
     * row, however many requests race. */
    [ST_TFA_ACTIVATE] = {"UPDATE user_tfa SET codes = ?2, last_step = ?3, updated = ?4 "
                         "WHERE user_id = ?1 AND codes IS NULL AND last_step < ?3",
                         "tfa_activate"},
    [ST_TFA_ACCEPT_STEP] = {"UPDATE user_tfa SET last_step = ?2, updated = ?3 "
                            "WHERE user_id = ?1 AND last_step < ?2",
                            "tfa_accept_step"},
    [ST_TFA_SET_CODES] = {"UPDATE user_tfa SET codes = ?3, updated = ?4 "
                          "WHERE user_id = ?1 AND codes = ?2",
                          "tfa_set_codes"},
    [ST_TFA_DELETE] = {"DELETE FROM user_tfa WHERE user_id = ?1", "tfa_delete"},
    [ST_TENANT_TFA_GET] = {"SELECT enabled, trusted_ips, mandatory_users, updated "
                           "FROM tenant_tfa WHERE tenant_id = ?1",
                           "tenant_tfa_get"},
    [ST_TENANT_TFA_SET] = {"INSERT INTO tenant_tfa (tenant_id, enabled, trusted_ips, "
                           "mandatory_users, updated) VALUES (?1, ?2, ?3, ?4, ?5) "
                           "ON CONFLICT (tenant_id) DO UPDATE SET enabled = excluded.enabled, "
                           "trusted_ips = excluded.trusted_ips, "
                           "mandatory_users = excluded.mandatory_users, updated = excluded.updated",
                           "tenant_tfa_set"},
    [ST_TENANT_TFA_ENABLED] =
        {"SELECT count(*) FROM tenant_tfa WHERE tenant_id = ?1 AND enabled = 1", "tenant_tfa_set"},
    [ST_SESSION_END_TENANT] = {"UPDATE login_events SET active = 0 "
                               "WHERE tenant_id = ?1 AND active = 1",
                               "tenant_tfa_set"},

    /* ---- brute-force counters every process shares (sqlite_bruteforce.c) ---- */
    [ST_BF_KEY_INSERT] = {"INSERT INTO bruteforce_key (id, key) VALUES (1, ?1) "
                          "ON CONFLICT (id) DO NOTHING",
                          "bruteforce_key"},
    [ST_BF_KEY_GET] = {"SELECT key FROM bruteforce_key WHERE id = 1", "bruteforce_key"},
    /* ?1 tag, ?2 now, ?3 window, ?4 block, ?5 most. Every right-hand side reads the row as
     * it was, so the deadline's cases see the failures before this one. */
    [ST_BF_COUNT] = {"INSERT INTO bruteforce_counters (tag, failures, deadline_ms, updated_ms) "
                     "VALUES (?1, 1, ?2 + CASE WHEN ?5 = 1 AND ?4 > 0 THEN ?4 ELSE ?3 END, ?2) "
                     "ON CONFLICT (tag) DO UPDATE SET "
                     "failures = CASE WHEN bruteforce_counters.deadline_ms <= ?2 THEN 1 "
                     "WHEN bruteforce_counters.failures >= ?5 THEN bruteforce_counters.failures "
                     "ELSE bruteforce_counters.failures + 1 END, "
                     "deadline_ms = CASE WHEN bruteforce_counters.deadline_ms <= ?2 "
                     "THEN excluded.deadline_ms "
                     "WHEN ?4 > 0 AND bruteforce_counters.failures + 1 = ?5 THEN ?2 + ?4 "
                     "ELSE bruteforce_counters.deadline_ms END, "
                     "updated_ms = ?2",
                     "bruteforce_count"},
    [ST_BF_SINCE] = {"SELECT tag, failures, deadline_ms, updated_ms FROM bruteforce_counters "
                     "WHERE updated_ms >= ?1 AND deadline_ms > ?2 ORDER BY updated_ms LIMIT ?3",
                     "bruteforce_since"},
    [ST_BF_PRUNE] = {"DELETE FROM bruteforce_counters WHERE tag IN ("
                     "SELECT tag FROM bruteforce_counters WHERE deadline_ms <= ?1 LIMIT ?2)",
                     "bruteforce_prune"},
};

void idd_sqlite_log(sqlite3 *db, const char *what)
{
    idd_log_error("store: %s: %s (%d)", what, sqlite3_errmsg(db), sqlite3_extended_errcode(db));
}

/* Whether a failure is the file system refusing the database's files rather than anything
 * about the statement: a full disk (SQLITE_FULL, or a write past the process's file size
 * limit, which SQLite reports as SQLITE_IOERR_WRITE), a database made read-only under an open
 * connection (SQLITE_READONLY and its extended codes; EROFS or EPERM on a write, again an
 * SQLITE_IOERR), a file that cannot be opened. SQLite rolls the statement's transaction back
 * and the connection stays usable, so the next write works once the cause is gone. */
static bool unavailable(int src)
{
    switch (src & 0xff) {
    case SQLITE_FULL:
    case SQLITE_READONLY:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
        return true;
    default:
        return false;
    }
}

/* Duplicates and a missing parent row (tenant, user) are ordinary outcomes the caller
 * reports, so they are not logged as errors. A file system that refuses writes fails every
 * write the same way until it is fixed, so that is logged as a warning at most once a second
 * (IDD_EUNAVAIL: answered 503 with Retry-After) instead of an error per request. */
int idd_sqlite_step_error(sqlite_store_t *ss, int src, const char *what)
{
    if (unavailable(src)) {
        idd_log_warn_limited("store: %s: %s (%d): the database cannot be written now", what,
                             sqlite3_errmsg(ss->db), src);
        return IDD_EUNAVAIL;
    }
    switch (src) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
        idd_log_debug("store: %s: %s", what, sqlite3_errmsg(ss->db));
        return IDD_EEXIST;
    case SQLITE_CONSTRAINT_FOREIGNKEY:
        idd_log_debug("store: %s: %s", what, sqlite3_errmsg(ss->db));
        return IDD_ENOTFOUND;
    case SQLITE_CONSTRAINT_CHECK:
    case SQLITE_CONSTRAINT_NOTNULL:
        idd_sqlite_log(ss->db, what);
        return IDD_EINVAL;
    default:
        idd_sqlite_log(ss->db, what);
        return IDD_ESTORE;
    }
}

const char *idd_sqlite_stmt_what(enum stmt_id id)
{
    return stmt_table[id].what;
}

/* A statement that is still mid-step means this handle was re-entered (a listing's visitor
 * listing again): refuse rather than reset the outer loop under its feet. */
int idd_sqlite_stmt_get(sqlite_store_t *ss, enum stmt_id id, sqlite3_stmt **out)
{
    *out = NULL;
    if (ss->stmts[id] == NULL) {
        if (sqlite3_prepare_v3(ss->db, stmt_table[id].sql, -1, SQLITE_PREPARE_PERSISTENT,
                               &ss->stmts[id], NULL) != SQLITE_OK) {
            idd_sqlite_log(ss->db, "prepare");
            ss->stmts[id] = NULL;
            return IDD_ESTORE;
        }
    } else if (sqlite3_stmt_busy(ss->stmts[id])) {
        idd_log_error("store: statement %d is in use: handle re-entered", (int)id);
        return IDD_EBUSY;
    }
    *out = ss->stmts[id];
    return 0;
}

int idd_sqlite_bind(sqlite_store_t *ss, sqlite3_stmt *stmt, const sqlite_param_t *params, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const sqlite_param_t *p = &params[i];
        int col = (int)i + 1;
        int src;

        switch (p->type) {
        case PARAM_INT64:
            src = sqlite3_bind_int64(stmt, col, p->num);
            break;
        case PARAM_TEXT:
            src = sqlite3_bind_text(stmt, col, p->ptr, p->len, SQLITE_STATIC);
            break;
        case PARAM_BLOB:
            src = sqlite3_bind_blob(stmt, col, p->ptr, p->len, SQLITE_STATIC);
            break;
        default:
            src = sqlite3_bind_null(stmt, col);
            break;
        }
        if (src != SQLITE_OK) {
            idd_sqlite_log(ss->db, "bind");
            return IDD_ESTORE;
        }
    }
    return 0;
}

/* Reset as well as unbound: a statement left mid-step holds a read transaction open. */
void idd_sqlite_stmt_put(sqlite3_stmt *stmt)
{
    if (stmt == NULL)
        return;
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
}

void idd_sqlite_stmts_finalize(sqlite_store_t *ss)
{
    for (size_t i = 0; i < ST_COUNT; i++) {
        sqlite3_finalize(ss->stmts[i]);
        ss->stmts[i] = NULL;
    }
}

/* A value that does not fit means another writer bypassed the schema's limits: refuse it
 * rather than truncate. */
int idd_sqlite_column_copy(sqlite_store_t *ss, sqlite3_stmt *stmt, int col, char *dst, size_t size)
{
    const unsigned char *text = sqlite3_column_text(stmt, col);
    int n = sqlite3_column_bytes(stmt, col);

    if (text == NULL) {
        if (sqlite3_errcode(ss->db) == SQLITE_NOMEM)
            idd_sqlite_log(ss->db, "read column");
        else
            idd_log_error("store: column %s is NULL", sqlite3_column_name(stmt, col));
        return IDD_ESTORE;
    }
    if (n < 0 || (size_t)n >= size) {
        idd_log_error("store: column %s holds %d bytes, more than its field",
                      sqlite3_column_name(stmt, col), n);
        return IDD_ESTORE;
    }
    memcpy(dst, text, (size_t)n);
    dst[n] = '\0';
    return 0;
}

int idd_sqlite_next(sqlite_store_t *ss, sqlite3_stmt *stmt, const char *what,
                    idd_sqlite_read_fn read, void *record)
{
    int src = sqlite3_step(stmt);
    if (src == SQLITE_DONE)
        return 0;
    if (src != SQLITE_ROW)
        return idd_sqlite_step_error(ss, src, what);
    int rc = read(ss, stmt, record);
    return rc == 0 ? 1 : rc;
}

/* The row is read straight into out; a failure part-way (a value that does not fit) wipes
 * what was read, since records hold password records and digests. */
int idd_sqlite_lookup(sqlite_store_t *ss, enum stmt_id id, const sqlite_param_t *params, size_t n,
                      idd_sqlite_read_fn read, void *out, size_t size)
{
    sqlite3_stmt *stmt = NULL;
    int rc = idd_sqlite_stmt_get(ss, id, &stmt);

    if (rc == 0)
        rc = idd_sqlite_bind(ss, stmt, params, n);
    if (rc == 0) {
        rc = idd_sqlite_next(ss, stmt, stmt_table[id].what, read, out);
        rc = rc == 1 ? 0 : rc == 0 ? IDD_ENOTFOUND : rc;
    }
    idd_sqlite_stmt_put(stmt);
    if (rc != 0)
        idd_wipe(out, size);
    return rc;
}

int idd_sqlite_write(sqlite_store_t *ss, enum stmt_id id, const sqlite_param_t *params, size_t n,
                     int *changes)
{
    sqlite3_stmt *stmt = NULL;
    int rc = idd_sqlite_stmt_get(ss, id, &stmt);

    if (changes != NULL)
        *changes = 0;
    if (rc == 0)
        rc = idd_sqlite_bind(ss, stmt, params, n);
    if (rc == 0) {
        int src = sqlite3_step(stmt);
        if (src != SQLITE_DONE)
            rc = idd_sqlite_step_error(ss, src, stmt_table[id].what);
        else if (changes != NULL)
            *changes = sqlite3_changes(ss->db);
    }
    idd_sqlite_stmt_put(stmt);
    return rc;
}

static int read_int(sqlite_store_t *ss, sqlite3_stmt *stmt, void *record)
{
    (void)ss;
    *(int64_t *)record = sqlite3_column_int64(stmt, 0);
    return 0;
}

int idd_sqlite_query_int(sqlite_store_t *ss, enum stmt_id id, const sqlite_param_t *params,
                         size_t n, int64_t *out)
{
    int rc = idd_sqlite_lookup(ss, id, params, n, read_int, out, sizeof *out);
    /* A pragma or an aggregate always answers a row; none means something is badly wrong. */
    if (rc == IDD_ENOTFOUND) {
        idd_sqlite_log(ss->db, stmt_table[id].what);
        rc = IDD_ESTORE;
    }
    return rc;
}

int idd_sqlite_pragma_int(sqlite_store_t *ss, enum stmt_id id, int64_t *out)
{
    return idd_sqlite_query_int(ss, id, NULL, 0, out);
}

/* Runs one statement that returns nothing, outside the statement cache. */
int idd_sqlite_exec(sqlite_store_t *ss, const char *sql, const char *what)
{
    if (sqlite3_exec(ss->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
        int src = sqlite3_extended_errcode(ss->db);
        if (unavailable(src))
            return idd_sqlite_step_error(ss, src, what);
        idd_sqlite_log(ss->db, what);
        return IDD_ESTORE;
    }
    return 0;
}

void idd_sqlite_rollback(sqlite_store_t *ss)
{
    if (!sqlite3_get_autocommit(ss->db))
        sqlite3_exec(ss->db, "ROLLBACK", NULL, NULL, NULL);
}
