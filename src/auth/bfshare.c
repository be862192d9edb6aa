/* Brute-force counters shared through the store (include/identityd/auth/bfshare.h). */
#include "identityd/auth/bfshare.h"

#include <stdlib.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "identityd/auth/storeread.h"
#include "identityd/core/common.h"
#include "identityd/core/log.h"

/* A sync reads the counters that moved since the previous one began, less this much: a
 * write that committed late, or an instance whose clock is a little behind, is still seen.
 * Reading a counter twice changes nothing (idd_bruteforce_merge keeps the larger). */
#define SYNC_OVERLAP_MS 5000
/* Counters one sync reads at most; a longer backlog is read by the syncs after it. */
#define SYNC_BATCH 1024

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int idd_bfshare_start(idd_app_t *app, idd_store_t *store)
{
    unsigned char candidate[IDD_BF_TAG_LEN], key[IDD_BF_TAG_LEN];
    int rc = RAND_bytes(candidate, sizeof(candidate)) == 1 ? 0 : IDD_ECRYPTO;
    if (rc == 0)
        rc = idd_store_bruteforce_key(store, candidate, key);
    if (rc == 0)
        idd_bruteforce_set_key(app->bruteforce, key);
    OPENSSL_cleanse(candidate, sizeof(candidate));
    OPENSSL_cleanse(key, sizeof(key));
    atomic_store(&app->bf_since_ms, wall_ms() - SYNC_OVERLAP_MS);
    return rc;
}

typedef struct fail_job {
    idd_bf_count_t counts[3];
    int64_t wall_ms;
} fail_job_t;

static int fail_work(idd_store_t *store, void *arg)
{
    fail_job_t *j = arg;
    return idd_store_bruteforce_count(store, j->counts, 3, j->wall_ms);
}

void idd_bfshare_fail(idd_app_t *app, idd_store_t *loop_store, const idd_bruteforce_key_t *key,
                      int64_t now_ms)
{
    idd_bruteforce_rule_t rules[3];
    fail_job_t *j = idd_xmalloc(sizeof(*j));
    idd_bruteforce_rules(app->bruteforce, key, rules);
    for (int i = 0; i < 3; i++) {
        idd_bruteforce_tag_bytes(rules[i].tag, j->counts[i].tag);
        j->counts[i].window_ms = rules[i].window_ms;
        j->counts[i].block_ms = rules[i].block_ms;
        j->counts[i].most = rules[i].most;
    }
    /* The table's clock is monotonic (moved on by a test clock, when on); the store's is the
     * epoch. The same offset carries over, so that a deadline means the same in both. */
    j->wall_ms = wall_ms() + (now_ms - idd_monotonic_ms());
    idd_store_later(app, loop_store, fail_work, j, free, "brute-force counters");
}

typedef struct sync_job {
    idd_app_t *app;
    int64_t began_ms;   /* wall clock */
    int64_t offset_ms;  /* the table's clock less the wall clock */
    int64_t last_moved; /* the newest updated_ms read */
    int n;
} sync_job_t;

static int merge_one(const idd_bf_counter_t *c, void *arg)
{
    sync_job_t *j = arg;
    uint64_t tag[2];
    idd_bruteforce_tag_read(c->tag, tag);
    uint32_t failures = c->failures > UINT32_MAX ? UINT32_MAX : (uint32_t)(c->failures);
    idd_bruteforce_merge(j->app->bruteforce, tag, failures, c->deadline_ms + j->offset_ms,
                         j->began_ms + j->offset_ms);
    j->last_moved = c->updated_ms;
    j->n++;
    return 0;
}

static int sync_work(idd_store_t *store, void *arg)
{
    sync_job_t *j = arg;
    idd_app_t *app = j->app;
    int64_t since = atomic_load(&app->bf_since_ms);
    j->began_ms = wall_ms();
    j->offset_ms = idd_monotonic_ms() - j->began_ms;
    int rc = idd_store_bruteforce_since(store, since, j->began_ms, SYNC_BATCH, merge_one, j);
    if (rc == 0) {
        /* A full batch leaves the rest for the next sync, from where this one stopped. */
        int64_t next = j->n == SYNC_BATCH ? j->last_moved : j->began_ms - SYNC_OVERLAP_MS;
        if (next > since)
            atomic_store(&app->bf_since_ms, next);
        atomic_fetch_add(&app->bf_merged, (unsigned long)j->n);
    }
    return rc;
}

static void sync_release(void *arg)
{
    sync_job_t *j = arg;
    atomic_store(&j->app->bf_syncing, false);
    free(j);
}

void idd_bfshare_sync(idd_app_t *app, idd_store_t *loop_store)
{
    /* One at a time: when the store is slow, syncs do not queue up behind each other. */
    if (atomic_exchange(&app->bf_syncing, true))
        return;
    sync_job_t *j = idd_xcalloc(1, sizeof(*j));
    j->app = app;
    idd_store_later(app, loop_store, sync_work, j, sync_release, "brute-force sync");
}
