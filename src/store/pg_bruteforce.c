/*
 * Brute-force counters every instance shares (store.h, migrations/pg/0009), in PostgreSQL:
 * the behaviour of sqlite_bruteforce.c. Each counter is one INSERT ... ON CONFLICT DO
 * UPDATE, which PostgreSQL runs against the committed row under its lock, so instances
 * counting the same counter at once add up rather than overwrite each other.
 */
#include <string.h>

#include "identityd/core/common.h"
#include "store/pg_ops.h"
#include "store/pg_stmt.h"

static int read_key(PGresult *res, int row, void *record)
{
    return idd_pg_bytea(res, row, 0, record, IDD_BF_TAG_LEN);
}

int idd_pg_bruteforce_key(idd_store_t *s, const unsigned char candidate[IDD_BF_TAG_LEN],
                          unsigned char out[IDD_BF_TAG_LEN])
{
    pg_store_t *ps = to_pg(s);
    const pg_param_t params[] = {PG_BYTEA(candidate, IDD_BF_TAG_LEN)};
    /* Read first: a start after the first writes nothing. */
    int rc = idd_pg_lookup(ps, PS_BF_KEY_GET, NULL, 0, read_key, out, IDD_BF_TAG_LEN);
    if (rc == IDD_ENOTFOUND) {
        rc = idd_pg_write(ps, PS_BF_KEY_INSERT, params, IDD_ARRAY_LEN(params), NULL);
        if (rc == 0)
            rc = idd_pg_lookup(ps, PS_BF_KEY_GET, NULL, 0, read_key, out, IDD_BF_TAG_LEN);
    }
    return rc;
}

typedef struct bf_count {
    const idd_bf_count_t *counts;
    size_t n;
    int64_t now_ms;
} bf_count_t;

static int count_body(pg_store_t *ps, void *arg)
{
    const bf_count_t *b = arg;
    for (size_t i = 0; i < b->n; i++) {
        const idd_bf_count_t *c = &b->counts[i];
        const pg_param_t params[] = {PG_BYTEA(c->tag, IDD_BF_TAG_LEN), PG_INT64(b->now_ms),
                                     PG_INT64(c->window_ms), PG_INT64(c->block_ms),
                                     PG_INT64(c->most)};
        int rc = idd_pg_write(ps, PS_BF_COUNT, params, IDD_ARRAY_LEN(params), NULL);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int idd_pg_bruteforce_count(idd_store_t *s, const idd_bf_count_t *counts, size_t n, int64_t now_ms)
{
    if (n == 0)
        return 0;
    if (counts == NULL)
        return IDD_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (counts[i].most < 1 || counts[i].window_ms < 1 || counts[i].block_ms < 0)
            return IDD_EINVAL;
    bf_count_t b = {counts, n, now_ms};
    return idd_pg_transaction(to_pg(s), "bruteforce_count", count_body, &b);
}

int idd_pg_bruteforce_since(idd_store_t *s, int64_t since_ms, int64_t now_ms, int limit,
                            idd_bf_counter_visit_fn visit, void *arg)
{
    PGresult *res = NULL;
    idd_bf_counter_t counter;
    if (limit <= 0)
        return IDD_EINVAL;
    const pg_param_t params[] = {PG_INT64(since_ms), PG_INT64(now_ms), PG_INT64(limit)};
    int rc = idd_pg_run(to_pg(s), PS_BF_SINCE, params, IDD_ARRAY_LEN(params), &res);
    for (int row = 0; rc == 0 && row < PQntuples(res); row++) {
        rc = read_key(res, row, counter.tag);
        counter.failures = idd_pg_int(res, row, 1);
        counter.deadline_ms = idd_pg_int(res, row, 2);
        counter.updated_ms = idd_pg_int(res, row, 3);
        if (rc == 0 && visit(&counter, arg) != 0)
            break;
    }
    PQclear(res);
    return rc;
}

int idd_pg_bruteforce_prune(idd_store_t *s, int64_t now_ms, int limit, int *deleted)
{
    *deleted = 0;
    if (limit <= 0)
        return IDD_EINVAL;
    const pg_param_t params[] = {PG_INT64(now_ms), PG_INT64(limit)};
    return idd_pg_write(to_pg(s), PS_BF_PRUNE, params, IDD_ARRAY_LEN(params), deleted);
}
