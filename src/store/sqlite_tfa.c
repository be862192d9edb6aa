/*
 * Users' two-factor bindings (store.h, migrations/0006). The store keeps only sealed records
 * (cred/totp.h) and never opens them. Every change that guards a one-time use (the first
 * activation, an accepted TOTP step, a spent backup code) is one conditional write, so that
 * of two requests racing with the same code exactly one changes the row; the other is told
 * IDD_EDENIED.
 */
#include <string.h>

#include "identityd/core/common.h"
#include "identityd/cred/totp.h"
#include "store/sqlite_ops.h"
#include "store/checks.h"
#include "store/sqlite_stmt.h"

_Static_assert(IDD_TFA_STORED_MAX + 1 == IDD_TFA_RECORD_MAX,
               "the store's fields hold exactly the records cred/totp.h makes");

static int read_tfa(sqlite_store_t *ss, sqlite3_stmt *stmt, void *record)
{
    idd_tfa_t *t = record;
    int rc = idd_sqlite_column_copy(ss, stmt, 0, t->user_id, sizeof(t->user_id));
    if (rc == 0 && sqlite3_column_type(stmt, 1) != SQLITE_NULL)
        rc = idd_sqlite_column_copy(ss, stmt, 1, t->secret, sizeof(t->secret));
    else
        t->secret[0] = '\0';
    t->derived = sqlite3_column_type(stmt, 2) != SQLITE_NULL;
    t->salt = t->derived ? sqlite3_column_int64(stmt, 2) : 0;
    if (rc == 0 && sqlite3_column_type(stmt, 3) != SQLITE_NULL)
        rc = idd_sqlite_column_copy(ss, stmt, 3, t->codes, sizeof(t->codes));
    else
        t->codes[0] = '\0';
    t->last_step = sqlite3_column_int64(stmt, 4);
    t->created = sqlite3_column_int64(stmt, 5);
    t->updated = sqlite3_column_int64(stmt, 6);
    return rc;
}

int idd_sqlite_tfa_get(idd_store_t *s, const char *user_id, idd_tfa_t *out)
{
    memset(out, 0, sizeof(*out));
    int rc = idd_store_tfa_user_check(user_id);
    if (rc != 0)
        return rc;
    const sqlite_param_t params[] = {SQL_TEXT(user_id, -1)};
    return idd_sqlite_lookup(to_sqlite(s), ST_TFA_GET, params, IDD_ARRAY_LEN(params), read_tfa, out,
                             sizeof(*out));
}

int idd_sqlite_tfa_create(idd_store_t *s, const idd_tfa_t *tfa, int64_t now)
{
    int rc = idd_store_tfa_user_check(tfa->user_id);
    if (rc == 0 && !tfa->derived)
        rc = idd_store_tfa_record_check(tfa->secret, sizeof(tfa->secret));
    if (rc != 0)
        return rc;
    const sqlite_param_t params[] = {
        SQL_TEXT(tfa->user_id, -1),
        tfa->derived ? SQL_NULL : SQL_TEXT(tfa->secret, -1),
        tfa->derived ? SQL_INT64(tfa->salt) : SQL_NULL,
        SQL_INT64(now),
    };
    return idd_sqlite_write(to_sqlite(s), ST_TFA_CREATE, params, IDD_ARRAY_LEN(params), NULL);
}

/* Runs a guarded update: IDD_EDENIED when its condition held for no row. */
static int guarded(idd_store_t *s, enum stmt_id id, const sqlite_param_t *params, size_t n)
{
    int changed = 0;
    int rc = idd_sqlite_write(to_sqlite(s), id, params, n, &changed);
    if (rc == 0 && changed != 1)
        rc = IDD_EDENIED;
    return rc;
}

int idd_sqlite_tfa_activate(idd_store_t *s, const char *user_id, const char *codes, int64_t step,
                            int64_t now)
{
    int rc = idd_store_tfa_user_check(user_id);
    if (rc == 0)
        rc = idd_store_tfa_record_check(codes, IDD_TFA_STORED_MAX + 1);
    if (rc == 0 && step < 0)
        rc = IDD_EINVAL;
    if (rc != 0)
        return rc;
    const sqlite_param_t params[] = {SQL_TEXT(user_id, -1), SQL_TEXT(codes, -1), SQL_INT64(step),
                                     SQL_INT64(now)};
    return guarded(s, ST_TFA_ACTIVATE, params, IDD_ARRAY_LEN(params));
}

int idd_sqlite_tfa_accept_step(idd_store_t *s, const char *user_id, int64_t step, int64_t now)
{
    int rc = idd_store_tfa_user_check(user_id);
    if (rc == 0 && step < 0)
        rc = IDD_EINVAL;
    if (rc != 0)
        return rc;
    const sqlite_param_t params[] = {SQL_TEXT(user_id, -1), SQL_INT64(step), SQL_INT64(now)};
    return guarded(s, ST_TFA_ACCEPT_STEP, params, IDD_ARRAY_LEN(params));
}

int idd_sqlite_tfa_set_codes(idd_store_t *s, const char *user_id, const char *expect,
                             const char *codes, int64_t now)
{
    int rc = idd_store_tfa_user_check(user_id);
    if (rc == 0)
        rc = idd_store_tfa_record_check(expect, IDD_TFA_STORED_MAX + 1);
    if (rc == 0)
        rc = idd_store_tfa_record_check(codes, IDD_TFA_STORED_MAX + 1);
    if (rc != 0)
        return rc;
    const sqlite_param_t params[] = {SQL_TEXT(user_id, -1), SQL_TEXT(expect, -1),
                                     SQL_TEXT(codes, -1), SQL_INT64(now)};
    return guarded(s, ST_TFA_SET_CODES, params, IDD_ARRAY_LEN(params));
}

int idd_sqlite_tfa_delete(idd_store_t *s, const char *user_id)
{
    int changed = 0;
    int rc = idd_store_tfa_user_check(user_id);
    if (rc != 0)
        return rc;
    const sqlite_param_t params[] = {SQL_TEXT(user_id, -1)};
    rc = idd_sqlite_write(to_sqlite(s), ST_TFA_DELETE, params, IDD_ARRAY_LEN(params), &changed);
    if (rc == 0 && changed == 0)
        rc = IDD_ENOTFOUND;
    return rc;
}

/* ---- a tenant's settings ---- */

static int read_tenant_tfa(sqlite_store_t *ss, sqlite3_stmt *stmt, void *record)
{
    idd_tenant_tfa_t *t = record;
    t->enabled = sqlite3_column_int(stmt, 0) != 0;
    int rc = idd_sqlite_column_copy(ss, stmt, 1, t->trusted_ips, sizeof(t->trusted_ips));
    if (rc == 0)
        rc = idd_sqlite_column_copy(ss, stmt, 2, t->mandatory_users, sizeof(t->mandatory_users));
    t->updated = sqlite3_column_int64(stmt, 3);
    return rc;
}

int idd_sqlite_tenant_tfa_get(idd_store_t *s, int64_t tenant_id, idd_tenant_tfa_t *out)
{
    memset(out, 0, sizeof(*out));
    out->tenant_id = tenant_id;
    const sqlite_param_t params[] = {SQL_INT64(tenant_id)};
    int rc = idd_sqlite_lookup(to_sqlite(s), ST_TENANT_TFA_GET, params, IDD_ARRAY_LEN(params),
                               read_tenant_tfa, out, sizeof(*out));
    out->tenant_id = tenant_id; /* the lookup clears the record before reading a row */
    return rc == IDD_ENOTFOUND ? 0 : rc;
}

/* One write transaction: whether the settings were on is read under the write lock, so two
 * administrators turning them on at once end the sessions once, and none is missed. */
int idd_sqlite_tenant_tfa_set(idd_store_t *s, const idd_tenant_tfa_t *tfa, int64_t now, int *ended)
{
    sqlite_store_t *ss = to_sqlite(s);
    const char *what = idd_sqlite_stmt_what(ST_TENANT_TFA_SET);
    int changes = 0;
    int64_t was_on = 0;

    if (ended != NULL)
        *ended = 0;
    if (tfa->tenant_id <= 0)
        return IDD_EINVAL;
    const store_field_t texts[] = {
        STORE_FIELD(tfa->trusted_ips, NULL),
        STORE_FIELD(tfa->mandatory_users, NULL),
    };
    int rc = idd_store_fields_length(texts, IDD_ARRAY_LEN(texts));
    if (rc != 0)
        return rc;
    rc = idd_sqlite_exec(ss, "BEGIN IMMEDIATE", what);
    if (rc != 0)
        return rc;
    const sqlite_param_t tenant[] = {SQL_INT64(tfa->tenant_id)};
    rc = idd_sqlite_query_int(ss, ST_TENANT_TFA_ENABLED, tenant, IDD_ARRAY_LEN(tenant), &was_on);
    if (rc == 0) {
        const sqlite_param_t params[] = {
            SQL_INT64(tfa->tenant_id),
            SQL_INT64(tfa->enabled != 0),
            SQL_TEXT(tfa->trusted_ips, -1),
            SQL_TEXT(tfa->mandatory_users, -1),
            SQL_INT64(now),
        };
        rc = idd_sqlite_write(ss, ST_TENANT_TFA_SET, params, IDD_ARRAY_LEN(params), NULL);
    }
    if (rc == 0 && tfa->enabled && !was_on) {
        rc = idd_sqlite_write(ss, ST_SESSION_END_TENANT, tenant, IDD_ARRAY_LEN(tenant), &changes);
        if (rc == 0 && ended != NULL)
            *ended = changes;
    }
    if (rc == 0)
        rc = idd_sqlite_exec(ss, "COMMIT", what);
    if (rc != 0) {
        idd_sqlite_rollback(ss);
        if (ended != NULL)
            *ended = 0;
    }
    return rc;
}
