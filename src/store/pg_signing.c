/*
 * The rows of the signing keys identityd rotates itself, in the PostgreSQL engine: the
 * behaviour of sqlite_signing.c. Activation demotes and promotes in one transaction; of two
 * instances racing, the second's UPDATEs wait for the first's row locks and then match
 * nothing (PostgreSQL checks their conditions again on the committed rows), so it gets
 * IDD_ENOTFOUND instead of a second active key.
 */
#include <string.h>

#include "identityd/core/common.h"
#include "store/pg_ops.h"
#include "store/pg_stmt.h"

static const char *const state_names[] = {
    [IDD_SKEY_PENDING] = "pending",
    [IDD_SKEY_ACTIVE] = "active",
    [IDD_SKEY_DRAINING] = "draining",
    [IDD_SKEY_RETIRED] = "retired",
};

static int read_key(PGresult *res, int row, void *record)
{
    idd_signing_key_t *k = record;
    char state[16];
    int rc = idd_pg_copy(res, row, 0, k->kid, sizeof(k->kid));
    if (rc == 0)
        rc = idd_pg_copy(res, row, 1, k->alg, sizeof(k->alg));
    if (rc == 0)
        rc = idd_pg_copy(res, row, 2, state, sizeof(state));
    if (rc != 0)
        return rc;
    rc = IDD_ESTORE;
    for (size_t i = 0; i < IDD_ARRAY_LEN(state_names); i++)
        if (strcmp(state, state_names[i]) == 0) {
            k->state = (idd_skey_state_t)i;
            rc = 0;
        }
    k->created = idd_pg_int(res, row, 3);
    k->activate_at = idd_pg_int(res, row, 4);
    k->activated = idd_pg_int(res, row, 5);
    k->retire_at = idd_pg_int(res, row, 6);
    return rc;
}

int idd_pg_signing_key_list(idd_store_t *s, idd_signing_key_visit_fn visit, void *arg)
{
    PGresult *res = NULL;
    idd_signing_key_t key;
    memset(&key, 0, sizeof(key));
    int rc = idd_pg_run(to_pg(s), PS_SKEY_LIST, NULL, 0, &res);
    for (int row = 0; rc == 0 && row < PQntuples(res); row++) {
        rc = read_key(res, row, &key);
        if (rc == 0 && visit(&key, arg) != 0)
            break;
    }
    PQclear(res);
    return rc;
}

int idd_pg_signing_key_insert(idd_store_t *s, const idd_signing_key_t *key)
{
    if (key->state != IDD_SKEY_PENDING && key->state != IDD_SKEY_ACTIVE)
        return IDD_EINVAL;
    if (strnlen(key->kid, sizeof key->kid) == sizeof key->kid ||
        strnlen(key->alg, sizeof key->alg) == sizeof key->alg)
        return IDD_ETOOBIG;
    const pg_param_t params[] = {
        PG_TEXT(key->kid),      PG_TEXT(key->alg),          PG_TEXT(state_names[key->state]),
        PG_INT64(key->created), PG_INT64(key->activate_at), PG_INT64(key->activated),
    };
    return idd_pg_write(to_pg(s), PS_SKEY_INSERT, params, IDD_ARRAY_LEN(params), NULL);
}

typedef struct activate {
    const char *kid;
    int64_t now, retire_at;
} activate_t;

static int activate_body(pg_store_t *ps, void *arg)
{
    const activate_t *a = arg;
    int changed = 0;
    const pg_param_t demote[] = {PG_INT64(a->retire_at)};
    int rc = idd_pg_write(ps, PS_SKEY_DEMOTE, demote, IDD_ARRAY_LEN(demote), NULL);
    if (rc == 0) {
        const pg_param_t promote[] = {PG_TEXT(a->kid), PG_INT64(a->now)};
        rc = idd_pg_write(ps, PS_SKEY_PROMOTE, promote, IDD_ARRAY_LEN(promote), &changed);
    }
    if (rc == 0 && changed != 1)
        rc = IDD_ENOTFOUND; /* not pending, or not due: nothing may change */
    return rc;
}

int idd_pg_signing_key_activate(idd_store_t *s, const char *kid, int64_t now, int64_t retire_at)
{
    activate_t a = {.kid = kid, .now = now, .retire_at = retire_at};
    if (kid == NULL)
        return IDD_EINVAL;
    return idd_pg_transaction(to_pg(s), "signing_key_activate", activate_body, &a);
}

int idd_pg_signing_key_retire(idd_store_t *s, int64_t now, int *n)
{
    const pg_param_t params[] = {PG_INT64(now)};
    return idd_pg_write(to_pg(s), PS_SKEY_RETIRE, params, IDD_ARRAY_LEN(params), n);
}
