/*
 * The API key operations of the PostgreSQL engine: the contract of store.h and the behaviour
 * of sqlite_apikey.c, whose comments say why. Permissions are converted by permissions.c;
 * zero for expires and last_used ("never") is NULL in the columns and read back as 0
 * (PG_APIKEY_COLUMNS coalesces them).
 */
#include <stdlib.h>
#include <string.h>

#include "identityd/core/common.h"
#include "identityd/core/ct.h"
#include "identityd/core/log.h"
#include "identityd/store/store.h"
#include "store/permissions.h"
#include "store/pg_ops.h"
#include "store/pg_stmt.h"
#include "store/checks.h"

static int read_apikey(PGresult *res, int row, void *record)
{
    idd_apikey_t *out = record;
    const struct {
        int col;
        char *dst;
        size_t size;
    } texts[] = {
        {0, out->id, sizeof out->id},
        {2, out->created_by, sizeof out->created_by},
        {3, out->name, sizeof out->name},
        {5, out->postfix, sizeof out->postfix},
        {12, out->deactivated_by, sizeof out->deactivated_by},
    };
    int rc;

    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < IDD_ARRAY_LEN(texts); i++) {
        rc = idd_pg_copy(res, row, texts[i].col, texts[i].dst, texts[i].size);
        if (rc != 0)
            return rc;
    }
    rc = idd_pg_bytea(res, row, 4, out->digest, IDD_SESSION_DIGEST_LEN);
    if (rc == 0)
        rc = idd_store_permissions_from_json(PQgetvalue(res, row, 6),
                                             (size_t)PQgetlength(res, row, 6), out->id,
                                             out->permissions, sizeof out->permissions);
    if (rc != 0)
        return rc;
    out->tenant_id = idd_pg_int(res, row, 1);
    out->created = idd_pg_int(res, row, 7);
    out->expires = idd_pg_int(res, row, 8);
    out->last_used = idd_pg_int(res, row, 9);
    out->active = idd_pg_int(res, row, 10) != 0;
    out->deactivated = (int)idd_pg_int(res, row, 11);
    return 0;
}

typedef struct apikey_create {
    const idd_apikey_t *key;
    const char *id;
    const char *permissions;
    int64_t created;
    int max;
} apikey_create_t;

/* With a cap, the creator's row is locked first: keys made at once on several instances
 * take turns, and each count (a statement of its own, so it sees the last commit) is exact. */
static int apikey_create_body(pg_store_t *ps, void *arg)
{
    const apikey_create_t *c = arg;
    const idd_apikey_t *key = c->key;
    int changes = 0;
    int rc = 0;

    if (c->max > 0) {
        const pg_param_t user[] = {PG_TEXT(key->created_by), PG_INT64(key->tenant_id)};
        PGresult *res = NULL;
        rc = idd_pg_run(ps, PS_USER_LOCK, user, IDD_ARRAY_LEN(user), &res);
        if (rc == 0 && PQntuples(res) != 1)
            rc = IDD_ENOTFOUND;
        PQclear(res);
        if (rc != 0)
            return rc;
    }
    const pg_param_t params[] = {
        PG_TEXT(c->id),
        PG_INT64(key->tenant_id),
        PG_TEXT(key->created_by),
        PG_TEXT(key->name),
        PG_BYTEA(key->digest, IDD_SESSION_DIGEST_LEN),
        PG_TEXT(key->postfix),
        PG_TEXT(c->permissions),
        PG_INT64(c->created),
        key->expires != 0 ? PG_INT64(key->expires) : PG_NULL,
        PG_INT64(c->max > 0 ? c->max : INT64_MAX),
    };
    rc = idd_pg_write(ps, PS_APIKEY_CREATE, params, IDD_ARRAY_LEN(params), &changes);
    if (rc != 0 || changes == 1)
        return rc;
    /* No user with this id in this tenant, or one already at the cap. */
    if (c->max > 0) {
        int64_t count = 0;
        const pg_param_t creator[] = {PG_TEXT(key->created_by)};
        if (idd_pg_query_int(ps, PS_APIKEY_COUNT_CREATOR, creator, 1, &count) == 0 &&
            count >= c->max)
            return IDD_EDENIED;
    }
    return IDD_ENOTFOUND;
}

int idd_pg_apikey_create(idd_store_t *s, idd_apikey_t *key, int max_per_user)
{
    char id[IDD_GUID_LEN + 1];
    char *permissions = NULL;
    int rc = IDD_EINVAL;

    if (key == NULL || max_per_user < 0)
        return rc;
    rc = idd_store_apikey_validate(key);
    if (rc == 0)
        rc = idd_store_permissions_to_json(key->permissions, &permissions);
    if (rc != 0)
        goto done;
    if (key->id[0] != '\0') {
        memcpy(id, key->id, sizeof id);
    } else {
        rc = idd_store_guid_new(id);
        if (rc != 0)
            goto done;
    }
    apikey_create_t c = {.key = key,
                         .id = id,
                         .permissions = permissions,
                         .created = key->created != 0 ? key->created : idd_now(),
                         .max = max_per_user};
    if (max_per_user > 0)
        rc = idd_pg_transaction(to_pg(s), "apikey_create", apikey_create_body, &c);
    else
        rc = apikey_create_body(to_pg(s), &c);
    if (rc != 0)
        goto done;
    memcpy(key->id, id, sizeof id);
    key->created = c.created;
    key->last_used = 0;
    key->active = 1;
    key->deactivated = IDD_APIKEY_LIVE;
    key->deactivated_by[0] = '\0';

done:
    free(permissions);
    return rc;
}

int idd_pg_apikey_by_digest(idd_store_t *s, const unsigned char digest[IDD_SESSION_DIGEST_LEN],
                            idd_apikey_t *out)
{
    if (digest == NULL) {
        memset(out, 0, sizeof *out);
        return IDD_EINVAL;
    }
    const pg_param_t params[] = {PG_BYTEA(digest, IDD_SESSION_DIGEST_LEN)};
    return idd_pg_lookup(to_pg(s), PS_APIKEY_BY_DIGEST, params, IDD_ARRAY_LEN(params), read_apikey,
                         out, sizeof *out);
}

int idd_pg_apikey_by_id(idd_store_t *s, const char *id, idd_apikey_t *out)
{
    if (!idd_store_id_plausible(id)) {
        memset(out, 0, sizeof *out);
        return IDD_ENOTFOUND;
    }
    const pg_param_t params[] = {PG_TEXT(id)};
    return idd_pg_lookup(to_pg(s), PS_APIKEY_BY_ID, params, IDD_ARRAY_LEN(params), read_apikey, out,
                         sizeof *out);
}

/* The whole result is read before the first visit, so the visitor may use the handle (but
 * not list keys again: pg_stmt.h). */
int idd_pg_apikey_list(idd_store_t *s, int64_t tenant_id, const char *created_by,
                       idd_apikey_visit_fn visit, void *arg)
{
    PGresult *res = NULL;
    idd_apikey_t key;
    int rc;

    if (visit == NULL)
        return IDD_EINVAL;
    if (to_pg(s)->listing & PG_LISTING_APIKEYS)
        return IDD_EBUSY;
    if (created_by != NULL && !idd_store_id_plausible(created_by))
        return 0;
    memset(&key, 0, sizeof key);
    const pg_param_t params[] = {PG_INT64(tenant_id), PG_TEXT(created_by)};
    rc = idd_pg_run(to_pg(s), created_by != NULL ? PS_APIKEY_LIST_CREATOR : PS_APIKEY_LIST_TENANT,
                    params, created_by != NULL ? 2 : 1, &res);
    to_pg(s)->listing |= PG_LISTING_APIKEYS;
    for (int row = 0; rc == 0 && row < PQntuples(res); row++) {
        rc = read_apikey(res, row, &key);
        if (rc == 0 && visit(&key, arg) != 0)
            break;
    }
    to_pg(s)->listing &= ~(unsigned)PG_LISTING_APIKEYS;
    PQclear(res);
    idd_wipe(&key, sizeof key);
    return rc;
}

int idd_pg_apikey_update(idd_store_t *s, const char *id, const char *name, const char *permissions)
{
    char *json = NULL;
    int changes = 0;
    int rc = IDD_ENOTFOUND;

    if (!idd_store_id_plausible(id))
        goto done;
    if (name != NULL) {
        size_t len = strnlen(name, IDD_APIKEY_NAME_MAX + 1);
        rc = len > IDD_APIKEY_NAME_MAX ? IDD_ETOOBIG : len == 0 ? IDD_EINVAL : 0;
        if (rc != 0)
            goto done;
    }
    if (permissions != NULL) {
        rc = idd_store_permissions_to_json(permissions, &json);
        if (rc != 0)
            goto done;
    }
    const pg_param_t params[] = {
        PG_TEXT(id),
        name != NULL ? PG_TEXT(name) : PG_NULL,
        json != NULL ? PG_TEXT(json) : PG_NULL,
    };
    rc = idd_pg_write(to_pg(s), PS_APIKEY_UPDATE, params, IDD_ARRAY_LEN(params), &changes);
    if (rc == 0 && changes != 1)
        rc = IDD_ENOTFOUND;

done:
    free(json);
    return rc;
}

int idd_pg_apikey_set_active(idd_store_t *s, const char *id, int active, int level, const char *by)
{
    pg_store_t *ps = to_pg(s);
    idd_apikey_t key;
    int changed = 0;
    int rc;

    if (!idd_store_id_plausible(id))
        return IDD_ENOTFOUND;
    if (active ? (level < IDD_APIKEY_BY_OWNER || level > IDD_APIKEY_BY_ADMIN)
               : (level < IDD_APIKEY_BY_OWNER || level > IDD_APIKEY_REVOKED))
        return IDD_EINVAL;
    if (by != NULL && !idd_store_id_plausible(by))
        return IDD_EINVAL;
    if (active) {
        const pg_param_t params[] = {PG_TEXT(id), PG_INT64(level)};
        rc = idd_pg_write(ps, PS_APIKEY_ACTIVATE, params, IDD_ARRAY_LEN(params), &changed);
    } else {
        const pg_param_t params[] = {PG_TEXT(id), PG_INT64(level),
                                     by != NULL ? PG_TEXT(by) : PG_NULL};
        rc = idd_pg_write(ps, PS_APIKEY_DEACTIVATE, params, IDD_ARRAY_LEN(params), &changed);
    }
    if (rc != 0 || changed == 1)
        return rc;
    rc = idd_pg_apikey_by_id(s, id, &key);
    idd_wipe(&key, sizeof key);
    return rc == 0 ? (active ? IDD_EDENIED : 0) : rc;
}

int idd_pg_apikey_prune(idd_store_t *s, int64_t now, int limit, int *deleted)
{
    *deleted = 0;
    if (limit <= 0)
        return IDD_EINVAL;
    const pg_param_t params[] = {PG_INT64(now), PG_INT64(limit)};
    return idd_pg_write(to_pg(s), PS_APIKEY_PRUNE, params, IDD_ARRAY_LEN(params), deleted);
}

int idd_pg_apikey_delete(idd_store_t *s, const char *id)
{
    int changes = 0;

    if (!idd_store_id_plausible(id))
        return IDD_ENOTFOUND;
    const pg_param_t params[] = {PG_TEXT(id)};
    int rc = idd_pg_write(to_pg(s), PS_APIKEY_DELETE, params, IDD_ARRAY_LEN(params), &changes);
    return rc == 0 && changes != 1 ? IDD_ENOTFOUND : rc;
}

typedef struct apikey_touch {
    const char (*ids)[IDD_GUID_LEN + 1];
    const int64_t *when;
    size_t n;
} apikey_touch_t;

static int apikey_touch_body(pg_store_t *ps, void *arg)
{
    const apikey_touch_t *t = arg;
    for (size_t i = 0; i < t->n; i++) {
        if (!idd_store_id_plausible(t->ids[i]) || t->when[i] <= 0)
            continue;
        const pg_param_t params[] = {PG_TEXT(t->ids[i]), PG_INT64(t->when[i])};
        int rc = idd_pg_write(ps, PS_APIKEY_TOUCH, params, IDD_ARRAY_LEN(params), NULL);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* One transaction for the whole batch, as in SQLite: one commit, recorded whole or not. */
int idd_pg_apikey_touch(idd_store_t *s, const char (*ids)[IDD_GUID_LEN + 1], const int64_t *when,
                        size_t n)
{
    apikey_touch_t t = {.ids = ids, .when = when, .n = n};

    if (n == 0)
        return 0;
    if (ids == NULL || when == NULL)
        return IDD_EINVAL;
    return idd_pg_transaction(to_pg(s), "apikey_touch", apikey_touch_body, &t);
}
