/*
 * Brute-force counters every process shares (store.h, migrations/0009), in SQLite. One
 * upsert per counter does the counting rule, so processes writing at once (each in its own
 * IMMEDIATE transaction, SQLite's single writer ordering them) never lose a failure.
 */
#include <string.h>

#include "identityd/core/common.h"
#include "store/sqlite_ops.h"
#include "store/sqlite_stmt.h"

static int read_key(sqlite_store_t *ss, sqlite3_stmt *stmt, void *record)
{
    (void)ss;
    if (sqlite3_column_bytes(stmt, 0) != IDD_BF_TAG_LEN)
        return IDD_ESTORE;
    memcpy(record, sqlite3_column_blob(stmt, 0), IDD_BF_TAG_LEN);
    return 0;
}

int idd_sqlite_bruteforce_key(idd_store_t *s, const unsigned char candidate[IDD_BF_TAG_LEN],
                              unsigned char out[IDD_BF_TAG_LEN])
{
    sqlite_store_t *ss = to_sqlite(s);
    const sqlite_param_t params[] = {SQL_BLOB(candidate, IDD_BF_TAG_LEN)};
    /* Read first: a start after the first writes nothing. */
    int rc = idd_sqlite_lookup(ss, ST_BF_KEY_GET, NULL, 0, read_key, out, IDD_BF_TAG_LEN);
    if (rc == IDD_ENOTFOUND) {
        rc = idd_sqlite_write(ss, ST_BF_KEY_INSERT, params, IDD_ARRAY_LEN(params), NULL);
        if (rc == 0)
            rc = idd_sqlite_lookup(ss, ST_BF_KEY_GET, NULL, 0, read_key, out, IDD_BF_TAG_LEN);
    }
    return rc;
}

int idd_sqlite_bruteforce_count(idd_store_t *s, const idd_bf_count_t *counts, size_t n,
                                int64_t now_ms)
{
    sqlite_store_t *ss = to_sqlite(s);
    if (n == 0)
        return 0;
    if (counts == NULL)
        return IDD_EINVAL;
    int rc = idd_sqlite_exec(ss, "BEGIN IMMEDIATE", "bruteforce_count");
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const idd_bf_count_t *c = &counts[i];
        if (c->most < 1 || c->window_ms < 1 || c->block_ms < 0) {
            rc = IDD_EINVAL;
            break;
        }
        const sqlite_param_t params[] = {SQL_BLOB(c->tag, IDD_BF_TAG_LEN), SQL_INT64(now_ms),
                                         SQL_INT64(c->window_ms), SQL_INT64(c->block_ms),
                                         SQL_INT64(c->most)};
        rc = idd_sqlite_write(ss, ST_BF_COUNT, params, IDD_ARRAY_LEN(params), NULL);
    }
    if (rc == 0)
        rc = idd_sqlite_exec(ss, "COMMIT", "bruteforce_count");
    if (rc != 0)
        idd_sqlite_rollback(ss);
    return rc;
}

static int read_counter(sqlite_store_t *ss, sqlite3_stmt *stmt, void *record)
{
    idd_bf_counter_t *c = record;
    int rc = read_key(ss, stmt, c->tag);
    c->failures = sqlite3_column_int64(stmt, 1);
    c->deadline_ms = sqlite3_column_int64(stmt, 2);
    c->updated_ms = sqlite3_column_int64(stmt, 3);
    return rc;
}

int idd_sqlite_bruteforce_since(idd_store_t *s, int64_t since_ms, int64_t now_ms, int limit,
                                idd_bf_counter_visit_fn visit, void *arg)
{
    sqlite_store_t *ss = to_sqlite(s);
    sqlite3_stmt *stmt = NULL;
    idd_bf_counter_t counter;
    if (limit <= 0)
        return IDD_EINVAL;
    const sqlite_param_t params[] = {SQL_INT64(since_ms), SQL_INT64(now_ms), SQL_INT64(limit)};
    int rc = idd_sqlite_stmt_get(ss, ST_BF_SINCE, &stmt);
    if (rc == 0)
        rc = idd_sqlite_bind(ss, stmt, params, IDD_ARRAY_LEN(params));
    while (rc == 0) {
        rc = idd_sqlite_next(ss, stmt, "bruteforce_since", read_counter, &counter);
        if (rc != 1)
            break; /* 0: no more rows, or an error */
        rc = visit(&counter, arg) != 0 ? 1 : 0;
    }
    idd_sqlite_stmt_put(stmt);
    return rc == 1 ? 0 : rc;
}

int idd_sqlite_bruteforce_prune(idd_store_t *s, int64_t now_ms, int limit, int *deleted)
{
    *deleted = 0;
    if (limit <= 0)
        return IDD_EINVAL;
    const sqlite_param_t params[] = {SQL_INT64(now_ms), SQL_INT64(limit)};
    return idd_sqlite_write(to_sqlite(s), ST_BF_PRUNE, params, IDD_ARRAY_LEN(params), deleted);
}
