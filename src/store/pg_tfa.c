/*
 * Users' two-factor bindings and tenants' settings in the PostgreSQL engine: the behaviour
 * of sqlite_tfa.c, whose comments say why. Every change that guards a one-time use is one
 * conditional UPDATE, which PostgreSQL re-checks on the row a concurrent writer committed,
 * so of two requests racing with one code exactly one changes the row.
 */
#include <string.h>

#include "identityd/core/common.h"
#include "store/pg_ops.h"
#include "store/pg_stmt.h"
#include "store/checks.h"

static int read_tfa(PGresult *res, int row, void *record)
{
    idd_tfa_t *t = record;
    int rc = idd_pg_copy(res, row, 0, t->user_id, sizeof(t->user_id));
    if (rc == 0 && !PQgetisnull(res, row, 1))
        rc = idd_pg_copy(res, row, 1, t->secret, sizeof(t->secret));
    else
        t->secret[0] = '\0';
    t->derived = !PQgetisnull(res, row, 2);
    t->salt = t->derived ? idd_pg_int(res, row, 2) : 0;
    if (rc == 0 && !PQgetisnull(res, row, 3))
        rc = idd_pg_copy(res, row, 3, t->codes, sizeof(t->codes));
    else
        t->codes[0] = '\0';
    t->last_step = idd_pg_int(res, row, 4);
    t->created = idd_pg_int(res, row, 5);
    t->updated = idd_pg_int(res, row, 6);
    return rc;
}

int idd_pg_tfa_get(idd_store_t *s, const char *user_id, idd_tfa_t *out)
{
    memset(out, 0, sizeof(*out));
    int rc = idd_store_tfa_user_check(user_id);
    if (rc != 0)
        return rc;
    const pg_param_t params[] = {PG_TEXT(user_id)};
    return idd_pg_lookup(to_pg(s), PS_TFA_GET, params, IDD_ARRAY_LEN(params), read_tfa, out,
                         sizeof(*out));
}

int idd_pg_tfa_create(idd_store_t *s, const idd_tfa_t *tfa, int64_t now)
{
    int rc = idd_store_tfa_user_check(tfa->user_id);
    if (rc == 0 && !tfa->derived)
        rc = idd_store_tfa_record_check(tfa->secret, sizeof(tfa->secret));
    if (rc != 0)
        return rc;
    const pg_param_t params[] = {
        PG_TEXT(tfa->user_id),
        tfa->derived ? PG_NULL : PG_TEXT(tfa->secret),
        tfa->derived ? PG_INT64(tfa->salt) : PG_NULL,
        PG_INT64(now),
    };
    return idd_pg_write(to_pg(s), PS_TFA_CREATE, params, IDD_ARRAY_LEN(params), NULL);
}

static int guarded(idd_store_t *s, enum pg_stmt_id id, const pg_param_t *params, size_t n)
{
    int changed = 0;
    int rc = idd_pg_write(to_pg(s), id, params, n, &changed);
    if (rc == 0 && changed != 1)
        rc = IDD_EDENIED;
    return rc;
}

int idd_pg_tfa_activate(idd_store_t *s, const char *user_id, const char *codes, int64_t step,
                        int64_t now)
{
    int rc = idd_store_tfa_user_check(user_id);
    if (rc == 0)
        rc = idd_store_tfa_record_check(codes, IDD_TFA_STORED_MAX + 1);
    if (rc == 0 && step < 0)
        rc = IDD_EINVAL;
    if (rc != 0)
        return rc;
    const pg_param_t params[] = {PG_TEXT(user_id), PG_TEXT(codes), PG_INT64(step), PG_INT64(now)};
    return guarded(s, PS_TFA_ACTIVATE, params, IDD_ARRAY_LEN(params));
}

int idd_pg_tfa_accept_step(idd_store_t *s, const char *user_id, int64_t step, int64_t now)
{
    int rc = idd_store_tfa_user_check(user_id);
    if (rc == 0 && step < 0)
        rc = IDD_EINVAL;
    if (rc != 0)
        return rc;
    const pg_param_t params[] = {PG_TEXT(user_id), PG_INT64(step), PG_INT64(now)};
    return guarded(s, PS_TFA_ACCEPT_STEP, params, IDD_ARRAY_LEN(params));
}

int idd_pg_tfa_set_codes(idd_store_t *s, const char *user_id, const char *expect, const char *codes,
                         int64_t now)
{
    int rc = idd_store_tfa_user_check(user_id);
    if (rc == 0)
        rc = idd_store_tfa_record_check(expect, IDD_TFA_STORED_MAX + 1);
    if (rc == 0)
        rc = idd_store_tfa_record_check(codes, IDD_TFA_STORED_MAX + 1);
    if (rc != 0)
        return rc;
    const pg_param_t params[] = {PG_TEXT(user_id), PG_TEXT(expect), PG_TEXT(codes), PG_INT64(now)};
    return guarded(s, PS_TFA_SET_CODES, params, IDD_ARRAY_LEN(params));
}

int idd_pg_tfa_delete(idd_store_t *s, const char *user_id)
{
    int changed = 0;
    int rc = idd_store_tfa_user_check(user_id);
    if (rc != 0)
        return rc;
    const pg_param_t params[] = {PG_TEXT(user_id)};
    rc = idd_pg_write(to_pg(s), PS_TFA_DELETE, params, IDD_ARRAY_LEN(params), &changed);
    if (rc == 0 && changed == 0)
        rc = IDD_ENOTFOUND;
    return rc;
}

/* ---- a tenant's settings ---- */

static int read_tenant_tfa(PGresult *res, int row, void *record)
{
    idd_tenant_tfa_t *t = record;
    t->enabled = idd_pg_int(res, row, 0) != 0;
    int rc = idd_pg_copy(res, row, 1, t->trusted_ips, sizeof(t->trusted_ips));
    if (rc == 0)
        rc = idd_pg_copy(res, row, 2, t->mandatory_users, sizeof(t->mandatory_users));
    t->updated = idd_pg_int(res, row, 3);
    return rc;
}

int idd_pg_tenant_tfa_get(idd_store_t *s, int64_t tenant_id, idd_tenant_tfa_t *out)
{
    memset(out, 0, sizeof(*out));
    out->tenant_id = tenant_id;
    const pg_param_t params[] = {PG_INT64(tenant_id)};
    int rc = idd_pg_lookup(to_pg(s), PS_TENANT_TFA_GET, params, IDD_ARRAY_LEN(params),
                           read_tenant_tfa, out, sizeof(*out));
    out->tenant_id = tenant_id;
    return rc == IDD_ENOTFOUND ? 0 : rc;
}

typedef struct tenant_tfa_set {
    const idd_tenant_tfa_t *tfa;
    int64_t now;
    int ended;
} tenant_tfa_set_t;

/* The tenant's row is locked before whether the settings were on is read, so two
 * administrators turning them on at once end the sessions once, and none is missed. */
static int tenant_tfa_set_body(pg_store_t *ps, void *arg)
{
    tenant_tfa_set_t *t = arg;
    const pg_param_t tenant[] = {PG_INT64(t->tfa->tenant_id)};
    PGresult *res = NULL;
    int64_t was_on = 0;
    int rc = idd_pg_run(ps, PS_TENANT_TFA_LOCK, tenant, IDD_ARRAY_LEN(tenant), &res);

    if (rc == 0 && PQntuples(res) != 1)
        rc = IDD_ENOTFOUND;
    if (rc == 0)
        was_on = idd_pg_int(res, 0, 0);
    PQclear(res);
    t->ended = 0;
    if (rc == 0) {
        const pg_param_t params[] = {
            PG_INT64(t->tfa->tenant_id),
            PG_INT64(t->tfa->enabled != 0),
            PG_TEXT(t->tfa->trusted_ips),
            PG_TEXT(t->tfa->mandatory_users),
            PG_INT64(t->now),
        };
        rc = idd_pg_write(ps, PS_TENANT_TFA_SET, params, IDD_ARRAY_LEN(params), NULL);
    }
    if (rc == 0 && t->tfa->enabled && !was_on)
        rc = idd_pg_write(ps, PS_SESSION_END_TENANT, tenant, IDD_ARRAY_LEN(tenant), &t->ended);
    return rc;
}

int idd_pg_tenant_tfa_set(idd_store_t *s, const idd_tenant_tfa_t *tfa, int64_t now, int *ended)
{
    tenant_tfa_set_t t = {.tfa = tfa, .now = now};

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
    rc = idd_pg_transaction(to_pg(s), "tenant_tfa_set", tenant_tfa_set_body, &t);
    if (rc == 0 && ended != NULL)
        *ended = t.ended;
    return rc;
}
