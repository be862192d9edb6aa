/*
 * The rows of the signing keys identityd rotates itself (store.h, migrations/0005). Every
 * change is one conditional write, or two in one transaction, so that instances sharing the
 * database and racing to make the same step find that one of them did it and the others get
 * IDD_EEXIST or IDD_ENOTFOUND instead of a second active key.
 */
#include <string.h>

#include "identityd/core/common.h"
#include "store/sqlite_ops.h"
#include "store/sqlite_stmt.h"

static const char *const state_names[] = {
    [IDD_SKEY_PENDING] = "pending",
    [IDD_SKEY_ACTIVE] = "active",
    [IDD_SKEY_DRAINING] = "draining",
    [IDD_SKEY_RETIRED] = "retired",
};

static int read_key(sqlite_store_t *ss, sqlite3_stmt *stmt, void *record)
{
    idd_signing_key_t *k = record;
    char state[16];
    int rc = idd_sqlite_column_copy(ss, stmt, 0, k->kid, sizeof(k->kid));
    if (rc == 0)
        rc = idd_sqlite_column_copy(ss, stmt, 1, k->alg, sizeof(k->alg));
    if (rc == 0)
        rc = idd_sqlite_column_copy(ss, stmt, 2, state, sizeof(state));
    if (rc != 0)
        return rc;
    rc = IDD_ESTORE;
    for (size_t i = 0; i < IDD_ARRAY_LEN(state_names); i++)
        if (strcmp(state, state_names[i]) == 0) {
            k->state = (idd_skey_state_t)i;
            rc = 0;
        }
    k->created = sqlite3_column_int64(stmt, 3);
    k->activate_at = sqlite3_column_int64(stmt, 4);
    k->activated = sqlite3_column_int64(stmt, 5);
    k->retire_at = sqlite3_column_int64(stmt, 6);
    return rc;
}

int idd_sqlite_signing_key_list(idd_store_t *s, idd_signing_key_visit_fn visit, void *arg)
{
    sqlite_store_t *ss = to_sqlite(s);
    sqlite3_stmt *stmt = NULL;
    idd_signing_key_t key;
    memset(&key, 0, sizeof(key));
    int rc = idd_sqlite_stmt_get(ss, ST_SKEY_LIST, &stmt);
    while (rc == 0) {
        rc = idd_sqlite_next(ss, stmt, "signing_key_list", read_key, &key);
        if (rc != 1)
            break; /* 0: no more rows, or an error */
        rc = visit(&key, arg) != 0 ? 1 : 0;
    }
    idd_sqlite_stmt_put(stmt);
    return rc == 1 ? 0 : rc;
}

int idd_sqlite_signing_key_insert(idd_store_t *s, const idd_signing_key_t *key)
{
    if (key->state != IDD_SKEY_PENDING && key->state != IDD_SKEY_ACTIVE)
        return IDD_EINVAL;
    const sqlite_param_t params[] = {
        SQL_TEXT(key->kid, -1),  SQL_TEXT(key->alg, -1),      SQL_TEXT(state_names[key->state], -1),
        SQL_INT64(key->created), SQL_INT64(key->activate_at), SQL_INT64(key->activated),
    };
    return idd_sqlite_write(to_sqlite(s), ST_SKEY_INSERT, params, IDD_ARRAY_LEN(params), NULL);
}

int idd_sqlite_signing_key_activate(idd_store_t *s, const char *kid, int64_t now, int64_t retire_at)
{
    sqlite_store_t *ss = to_sqlite(s);
    int changed = 0;
    int rc = idd_sqlite_exec(ss, "BEGIN IMMEDIATE", "signing_key_activate");
    if (rc != 0)
        return rc;
    const sqlite_param_t demote[] = {SQL_INT64(retire_at)};
    rc = idd_sqlite_write(ss, ST_SKEY_DEMOTE, demote, IDD_ARRAY_LEN(demote), NULL);
    if (rc == 0) {
        const sqlite_param_t promote[] = {SQL_TEXT(kid, -1), SQL_INT64(now)};
        rc = idd_sqlite_write(ss, ST_SKEY_PROMOTE, promote, IDD_ARRAY_LEN(promote), &changed);
    }
    if (rc == 0 && changed != 1)
        rc = IDD_ENOTFOUND; /* not pending, or not due: nothing may change */
    if (rc == 0)
        rc = idd_sqlite_exec(ss, "COMMIT", "signing_key_activate");
    if (rc != 0)
        idd_sqlite_rollback(ss);
    return rc;
}

int idd_sqlite_signing_key_retire(idd_store_t *s, int64_t now, int *n)
{
    const sqlite_param_t params[] = {SQL_INT64(now)};
    return idd_sqlite_write(to_sqlite(s), ST_SKEY_RETIRE, params, IDD_ARRAY_LEN(params), n);
}
