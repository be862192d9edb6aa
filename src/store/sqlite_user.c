/*
 * The tenant and user operations of the SQLite engine. A tenant is ensured at start from the
 * configuration and keeps the salt its users' client hashes were made with; users are
 * inserted, looked up by email (case-insensitively, within a tenant) or id, listed, and
 * changed. A change of status or password bumps auth_version and ends the user's sessions
 * (sqlite_session.c) in the same transaction.
 */
#include <string.h>

#include <openssl/rand.h>

#include "identityd/core/common.h"
#include "identityd/core/ct.h"
#include "identityd/core/log.h"
#include "identityd/store/store.h"
#include "store/sqlite_ops.h"
#include "store/checks.h"
#include "store/sqlite_stmt.h"

#define SALT_BYTES 32 /* hex-encoded into the 64 characters of IDD_SALT_MAX */

/* Reads the current row of ST_TENANT_GET into out. */
static int read_tenant(sqlite_store_t *ss, sqlite3_stmt *stmt, void *record)
{
    idd_tenant_t *out = record;
    int rc;

    memset(out, 0, sizeof *out);
    out->id = sqlite3_column_int64(stmt, 0);
    out->created = sqlite3_column_int64(stmt, 3);
    rc = idd_sqlite_column_copy(ss, stmt, 1, out->name, sizeof out->name);
    if (rc == 0)
        rc = idd_sqlite_column_copy(ss, stmt, 2, out->password_salt, sizeof out->password_salt);
    return rc;
}

/* Reads the current row of a USER_COLUMNS statement into out. */
static int read_user(sqlite_store_t *ss, sqlite3_stmt *stmt, void *record)
{
    idd_user_t *out = record;
    char role[16];
    char status[16];
    const struct {
        int col;
        char *dst;
        size_t size;
    } texts[] = {
        {0, out->id, sizeof out->id},
        {2, out->email, sizeof out->email},
        {3, out->first_name, sizeof out->first_name},
        {4, out->last_name, sizeof out->last_name},
        {5, role, sizeof role},
        {6, status, sizeof status},
        {7, out->password, sizeof out->password},
    };

    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < IDD_ARRAY_LEN(texts); i++) {
        int rc = idd_sqlite_column_copy(ss, stmt, texts[i].col, texts[i].dst, texts[i].size);
        if (rc != 0)
            return rc;
    }
    if (idd_role_parse(role, &out->role) != 0 || idd_user_status_parse(status, &out->status) != 0) {
        idd_log_error("store: user %s has an unknown role or status", out->id);
        return IDD_ESTORE;
    }
    out->tenant_id = sqlite3_column_int64(stmt, 1);
    out->auth_version = sqlite3_column_int64(stmt, 8);
    out->created = sqlite3_column_int64(stmt, 9);
    out->updated = sqlite3_column_int64(stmt, 10);
    out->password_change_required = sqlite3_column_int(stmt, 11) != 0;
    return 0;
}

int idd_sqlite_tenant_ensure(idd_store_t *s, int64_t id, const char *name)
{
    char salt[2 * SALT_BYTES + 1];
    int rc;

    if (id <= 0 || name == NULL)
        return IDD_EINVAL;
    if (strlen(name) > IDD_NAME_MAX)
        return IDD_ETOOBIG;
    rc = idd_store_random_hex(salt, SALT_BYTES);
    if (rc != 0)
        return rc;
    const sqlite_param_t params[] = {SQL_INT64(id), SQL_TEXT(name, -1), SQL_TEXT(salt, -1),
                                     SQL_INT64(idd_now())};
    return idd_sqlite_write(to_sqlite(s), ST_TENANT_ENSURE, params, IDD_ARRAY_LEN(params), NULL);
}

int idd_sqlite_tenant_get(idd_store_t *s, int64_t id, idd_tenant_t *out)
{
    const sqlite_param_t params[] = {SQL_INT64(id)};
    return idd_sqlite_lookup(to_sqlite(s), ST_TENANT_GET, params, IDD_ARRAY_LEN(params),
                             read_tenant, out, sizeof *out);
}

int idd_sqlite_user_by_email(idd_store_t *s, int64_t tenant_id, const char *email, idd_user_t *out)
{
    /* No stored address can be longer than the field, so a longer one matches nobody. */
    if (email == NULL || strlen(email) > IDD_EMAIL_MAX) {
        memset(out, 0, sizeof *out);
        return IDD_ENOTFOUND;
    }
    const sqlite_param_t params[] = {SQL_INT64(tenant_id), SQL_TEXT(email, -1)};
    return idd_sqlite_lookup(to_sqlite(s), ST_USER_BY_EMAIL, params, IDD_ARRAY_LEN(params),
                             read_user, out, sizeof *out);
}

int idd_sqlite_user_by_id(idd_store_t *s, const char *id, idd_user_t *out)
{
    if (id == NULL || strlen(id) != IDD_GUID_LEN) {
        memset(out, 0, sizeof *out);
        return IDD_ENOTFOUND;
    }
    const sqlite_param_t params[] = {SQL_TEXT(id, IDD_GUID_LEN)};
    return idd_sqlite_lookup(to_sqlite(s), ST_USER_BY_ID, params, IDD_ARRAY_LEN(params), read_user,
                             out, sizeof *out);
}

int idd_sqlite_user_insert(idd_store_t *s, idd_user_t *user)
{
    char id[IDD_GUID_LEN + 1];
    int64_t now = idd_now();
    int rc = idd_store_user_validate(user);

    if (rc != 0)
        return rc;
    if (user->id[0] != '\0') {
        memcpy(id, user->id, sizeof id);
    } else {
        rc = idd_store_guid_new(id);
        if (rc != 0)
            return rc;
    }
    const sqlite_param_t params[] = {
        SQL_TEXT(id, -1),
        SQL_INT64(user->tenant_id),
        SQL_TEXT(user->email, -1),
        SQL_TEXT(user->first_name, -1),
        SQL_TEXT(user->last_name, -1),
        SQL_TEXT(idd_role_name(user->role), -1),
        SQL_TEXT(idd_user_status_name(user->status), -1),
        SQL_TEXT(user->password, -1),
        SQL_INT64(now),
    };
    rc = idd_sqlite_write(to_sqlite(s), ST_USER_INSERT, params, IDD_ARRAY_LEN(params), NULL);
    if (rc != 0)
        return rc;
    memcpy(user->id, id, sizeof id);
    user->auth_version = 1;
    user->created = now;
    user->updated = now;
    return 0;
}

/* Runs one UPDATE of a user keyed by id (?1): ?2 is the new value and ?3 the time.
 * IDD_ENOTFOUND unless it matched the user. */
static int user_update(sqlite_store_t *ss, enum stmt_id which, const char *id, sqlite_param_t value)
{
    int changes = 0;
    int rc;

    if (id == NULL || strlen(id) != IDD_GUID_LEN)
        return IDD_ENOTFOUND;
    const sqlite_param_t params[] = {SQL_TEXT(id, IDD_GUID_LEN), value, SQL_INT64(idd_now())};
    rc = idd_sqlite_write(ss, which, params, IDD_ARRAY_LEN(params), &changes);
    if (rc == 0 && changes != 1)
        rc = IDD_ENOTFOUND;
    return rc;
}

/* Runs a user update that bumps auth_version and ends every session of the user, in one
 * write transaction: no reader ever sees the new password or the disabled status next to a
 * session still marked active, and a crash cannot keep one change without the other. */
static int user_update_ending_sessions(sqlite_store_t *ss, enum stmt_id which, const char *id,
                                       const char *value)
{
    const char *what = idd_sqlite_stmt_what(which);
    int rc;

    if (id == NULL || strlen(id) != IDD_GUID_LEN)
        return IDD_ENOTFOUND;
    /* IMMEDIATE takes the write lock up front, where busy_timeout still applies; a deferred
     * transaction could fail half-way instead when another writer holds it. */
    rc = idd_sqlite_exec(ss, "BEGIN IMMEDIATE", what);
    if (rc != 0)
        return rc;
    rc = user_update(ss, which, id, SQL_TEXT(value, -1));
    if (rc == 0)
        rc = idd_sqlite_session_end_user(&ss->base, id, 0, NULL);
    if (rc == 0)
        rc = idd_sqlite_exec(ss, "COMMIT", what);
    /* Only the transaction begun here is rolled back. */
    if (rc != 0)
        idd_sqlite_rollback(ss);
    return rc;
}

int idd_sqlite_user_set_status(idd_store_t *s, const char *id, idd_user_status_t status)
{
    const char *name = idd_user_status_name(status);
    if (name == NULL)
        return IDD_EINVAL;
    return user_update_ending_sessions(to_sqlite(s), ST_USER_SET_STATUS, id, name);
}

int idd_sqlite_user_set_password(idd_store_t *s, const char *id, const char *record)
{
    if (record == NULL || record[0] == '\0')
        return IDD_EINVAL;
    if (strnlen(record, IDD_PASSWORD_RECORD_MAX + 1) > IDD_PASSWORD_RECORD_MAX)
        return IDD_ETOOBIG;
    return user_update_ending_sessions(to_sqlite(s), ST_USER_SET_PASSWORD, id, record);
}

/* Leaves auth_version alone: requiring a new password does not by itself make the current
 * sessions stale (logoutallchangepassword ends them separately). */
int idd_sqlite_user_set_password_change(idd_store_t *s, const char *id, int required)
{
    return user_update(to_sqlite(s), ST_USER_SET_PASSWORD_CHANGE, id, SQL_INT64(required != 0));
}

int idd_sqlite_user_upgrade_password(idd_store_t *s, const char *id, const char *old,
                                     const char *record)
{
    int changes = 0;
    int rc;

    if (id == NULL || strlen(id) != IDD_GUID_LEN || old == NULL)
        return IDD_ENOTFOUND;
    if (record == NULL || record[0] == '\0')
        return IDD_EINVAL;
    if (strnlen(record, IDD_PASSWORD_RECORD_MAX + 1) > IDD_PASSWORD_RECORD_MAX)
        return IDD_ETOOBIG;
    const sqlite_param_t params[] = {SQL_TEXT(id, IDD_GUID_LEN), SQL_TEXT(old, -1),
                                     SQL_TEXT(record, -1)};
    rc = idd_sqlite_write(to_sqlite(s), ST_USER_UPGRADE_PASSWORD, params, IDD_ARRAY_LEN(params),
                          &changes);
    if (rc == 0 && changes != 1)
        rc = IDD_ENOTFOUND;
    return rc;
}

/* The visitor runs while the list statement is mid-step. It may look users up or update
 * them through the same handle (other statements), but not list again: that is refused with
 * IDD_EBUSY. */
int idd_sqlite_user_list(idd_store_t *s, int64_t tenant_id, idd_user_visit_fn visit, void *arg)
{
    sqlite_store_t *ss = to_sqlite(s);
    sqlite3_stmt *stmt = NULL;
    idd_user_t user;
    int rc;

    memset(&user, 0, sizeof user);
    if (visit == NULL) {
        rc = IDD_EINVAL;
        goto done;
    }
    rc = idd_sqlite_stmt_get(ss, tenant_id != 0 ? ST_USER_LIST_TENANT : ST_USER_LIST_ALL, &stmt);
    if (rc != 0)
        goto done;
    if (tenant_id != 0) {
        const sqlite_param_t params[] = {SQL_INT64(tenant_id)};
        rc = idd_sqlite_bind(ss, stmt, params, IDD_ARRAY_LEN(params));
        if (rc != 0)
            goto done;
    }
    for (;;) {
        rc = idd_sqlite_next(ss, stmt, "user_list", read_user, &user);
        if (rc != 1 || visit(&user, arg) != 0)
            break;
    }
    if (rc == 1)
        rc = 0;

done:
    idd_sqlite_stmt_put(stmt);
    idd_wipe(&user, sizeof user);
    return rc;
}
