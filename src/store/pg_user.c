/*
 * The tenant and user operations of the PostgreSQL engine: the contract of store.h and the
 * behaviour of sqlite_user.c, whose comments say why. A change of status or password bumps
 * auth_version and ends the user's sessions in one transaction.
 */
#include <string.h>

#include <openssl/rand.h>

#include "identityd/core/common.h"
#include "identityd/core/ct.h"
#include "identityd/core/log.h"
#include "identityd/store/store.h"
#include "store/pg_ops.h"
#include "store/pg_stmt.h"
#include "store/checks.h"

#define SALT_BYTES 32

static int read_tenant(PGresult *res, int row, void *record)
{
    idd_tenant_t *out = record;
    int rc;

    memset(out, 0, sizeof *out);
    out->id = idd_pg_int(res, row, 0);
    out->created = idd_pg_int(res, row, 3);
    rc = idd_pg_copy(res, row, 1, out->name, sizeof out->name);
    if (rc == 0)
        rc = idd_pg_copy(res, row, 2, out->password_salt, sizeof out->password_salt);
    return rc;
}

static int read_user(PGresult *res, int row, void *record)
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
        int rc = idd_pg_copy(res, row, texts[i].col, texts[i].dst, texts[i].size);
        if (rc != 0)
            return rc;
    }
    if (idd_role_parse(role, &out->role) != 0 || idd_user_status_parse(status, &out->status) != 0) {
        idd_log_error("store: user %s has an unknown role or status", out->id);
        return IDD_ESTORE;
    }
    out->tenant_id = idd_pg_int(res, row, 1);
    out->auth_version = idd_pg_int(res, row, 8);
    out->created = idd_pg_int(res, row, 9);
    out->updated = idd_pg_int(res, row, 10);
    out->password_change_required = idd_pg_int(res, row, 11) != 0;
    return 0;
}

int idd_pg_tenant_ensure(idd_store_t *s, int64_t id, const char *name)
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
    const pg_param_t params[] = {PG_INT64(id), PG_TEXT(name), PG_TEXT(salt), PG_INT64(idd_now())};
    return idd_pg_write(to_pg(s), PS_TENANT_ENSURE, params, IDD_ARRAY_LEN(params), NULL);
}

int idd_pg_tenant_get(idd_store_t *s, int64_t id, idd_tenant_t *out)
{
    const pg_param_t params[] = {PG_INT64(id)};
    return idd_pg_lookup(to_pg(s), PS_TENANT_GET, params, IDD_ARRAY_LEN(params), read_tenant, out,
                         sizeof *out);
}

int idd_pg_user_by_email(idd_store_t *s, int64_t tenant_id, const char *email, idd_user_t *out)
{
    if (email == NULL || strlen(email) > IDD_EMAIL_MAX) {
        memset(out, 0, sizeof *out);
        return IDD_ENOTFOUND;
    }
    const pg_param_t params[] = {PG_INT64(tenant_id), PG_TEXT(email)};
    return idd_pg_lookup(to_pg(s), PS_USER_BY_EMAIL, params, IDD_ARRAY_LEN(params), read_user, out,
                         sizeof *out);
}

int idd_pg_user_by_id(idd_store_t *s, const char *id, idd_user_t *out)
{
    if (id == NULL || strlen(id) != IDD_GUID_LEN) {
        memset(out, 0, sizeof *out);
        return IDD_ENOTFOUND;
    }
    const pg_param_t params[] = {PG_TEXT(id)};
    return idd_pg_lookup(to_pg(s), PS_USER_BY_ID, params, IDD_ARRAY_LEN(params), read_user, out,
                         sizeof *out);
}

int idd_pg_user_insert(idd_store_t *s, idd_user_t *user)
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
    const pg_param_t params[] = {
        PG_TEXT(id),
        PG_INT64(user->tenant_id),
        PG_TEXT(user->email),
        PG_TEXT(user->first_name),
        PG_TEXT(user->last_name),
        PG_TEXT(idd_role_name(user->role)),
        PG_TEXT(idd_user_status_name(user->status)),
        PG_TEXT(user->password),
        PG_INT64(now),
    };
    rc = idd_pg_write(to_pg(s), PS_USER_INSERT, params, IDD_ARRAY_LEN(params), NULL);
    if (rc != 0)
        return rc;
    memcpy(user->id, id, sizeof id);
    user->auth_version = 1;
    user->created = now;
    user->updated = now;
    return 0;
}

typedef struct user_update {
    enum pg_stmt_id which;
    const char *id;
    pg_param_t value;
    int end_sessions;
} user_update_t;

static int user_update_body(pg_store_t *ps, void *arg)
{
    const user_update_t *u = arg;
    const pg_param_t params[] = {PG_TEXT(u->id), u->value, PG_INT64(idd_now())};
    int changes = 0;
    int rc = idd_pg_write(ps, u->which, params, IDD_ARRAY_LEN(params), &changes);

    if (rc == 0 && changes != 1)
        rc = IDD_ENOTFOUND;
    if (rc == 0 && u->end_sessions) {
        /* The UPDATE above holds the user's row: a capped sign-in of the user, which locks
         * it first, waits for this to commit and then sees its sessions ended. */
        const pg_param_t end[] = {PG_TEXT(u->id), PG_INT64(0)};
        rc = idd_pg_write(ps, PS_SESSION_END_USER, end, IDD_ARRAY_LEN(end), NULL);
    }
    return rc;
}

static int user_update(pg_store_t *ps, enum pg_stmt_id which, const char *id, pg_param_t value,
                       int end_sessions)
{
    user_update_t u = {.which = which, .id = id, .value = value, .end_sessions = end_sessions};

    if (id == NULL || strlen(id) != IDD_GUID_LEN)
        return IDD_ENOTFOUND;
    if (!end_sessions)
        return user_update_body(ps, &u);
    return idd_pg_transaction(ps, idd_pg_stmts[which].what, user_update_body, &u);
}

int idd_pg_user_set_status(idd_store_t *s, const char *id, idd_user_status_t status)
{
    const char *name = idd_user_status_name(status);
    if (name == NULL)
        return IDD_EINVAL;
    return user_update(to_pg(s), PS_USER_SET_STATUS, id, PG_TEXT(name), 1);
}

int idd_pg_user_set_password(idd_store_t *s, const char *id, const char *record)
{
    if (record == NULL || record[0] == '\0')
        return IDD_EINVAL;
    if (strnlen(record, IDD_PASSWORD_RECORD_MAX + 1) > IDD_PASSWORD_RECORD_MAX)
        return IDD_ETOOBIG;
    return user_update(to_pg(s), PS_USER_SET_PASSWORD, id, PG_TEXT(record), 1);
}

int idd_pg_user_set_password_change(idd_store_t *s, const char *id, int required)
{
    return user_update(to_pg(s), PS_USER_SET_PASSWORD_CHANGE, id, PG_INT64(required != 0), 0);
}

int idd_pg_user_upgrade_password(idd_store_t *s, const char *id, const char *old,
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
    const pg_param_t params[] = {PG_TEXT(id), PG_TEXT(old), PG_TEXT(record)};
    rc = idd_pg_write(to_pg(s), PS_USER_UPGRADE_PASSWORD, params, IDD_ARRAY_LEN(params), &changes);
    if (rc == 0 && changes != 1)
        rc = IDD_ENOTFOUND;
    return rc;
}

/* The whole result is read before the first visit, so the visitor may use the handle (but
 * not list users again: pg_stmt.h). */
int idd_pg_user_list(idd_store_t *s, int64_t tenant_id, idd_user_visit_fn visit, void *arg)
{
    PGresult *res = NULL;
    idd_user_t user;
    int rc;

    memset(&user, 0, sizeof user);
    if (visit == NULL)
        return IDD_EINVAL;
    if (to_pg(s)->listing & PG_LISTING_USERS)
        return IDD_EBUSY;
    if (tenant_id != 0) {
        const pg_param_t params[] = {PG_INT64(tenant_id)};
        rc = idd_pg_run(to_pg(s), PS_USER_LIST_TENANT, params, IDD_ARRAY_LEN(params), &res);
    } else {
        rc = idd_pg_run(to_pg(s), PS_USER_LIST_ALL, NULL, 0, &res);
    }
    to_pg(s)->listing |= PG_LISTING_USERS;
    for (int row = 0; rc == 0 && row < PQntuples(res); row++) {
        rc = read_user(res, row, &user);
        if (rc == 0 && visit(&user, arg) != 0)
            break;
    }
    to_pg(s)->listing &= ~(unsigned)PG_LISTING_USERS;
    PQclear(res);
    idd_wipe(&user, sizeof user);
    return rc;
}
