/*
 * API keys as credentials. Checking a key is one HMAC and one lookup in the credential
 * cache (the key is 256 random bits: no KDF is needed or wanted); on a miss, the key's row
 * and its creator's from the store, kept in the cache (auth/credcache.h). Nothing is written
 * on the request path: the use is noted in a small shared table, and thread 0 writes the
 * table out once a minute (and main() once more at shutdown), one row update per key. Each
 * loop first looks in a small table of its own for the keys it noted this minute, so the
 * shared table's mutex is taken once per key, loop and minute rather than per request: the
 * stored last use is the first of its minute on some loop, which is what the once-a-minute
 * write could promise anyway.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "identityd/cred/apikey.h"
#include "identityd/auth/auth.h"
#include "identityd/auth/credcache.h"
#include "identityd/auth/storeread.h"
#include "identityd/core/common.h"
#include "identityd/core/ct.h"
#include "identityd/core/log.h"

#define USAGE_MAX 4096 /* keys with an unwritten use; more are dropped until the next flush */

typedef struct usage_entry {
    char id[IDD_GUID_LEN + 1];
    int64_t when;
} usage_entry_t;

struct idd_apikey_usage {
    pthread_mutex_t lock;
    usage_entry_t *entries;
    size_t n;
    bool warned_full;
    atomic_ulong notes; /* uses noted in the shared table (for /metrics) */
};

/* The keys this thread noted in the shared table, by minute: direct-mapped by the id. */
#define NOTED_SLOTS 256
typedef struct noted {
    char id[IDD_GUID_LEN + 1];
    int64_t minute;
} noted_t;
static __thread noted_t noted[NOTED_SLOTS];

/* True when this thread already noted id in the minute of now; else remembers it. */
static bool noted_this_minute(const char *id, int64_t now)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < IDD_GUID_LEN && id[i] != '\0'; i++)
        h = (h ^ (unsigned char)id[i]) * 16777619u;
    noted_t *n = &noted[h % NOTED_SLOTS];
    int64_t minute = now / 60;
    if (n->minute == minute && strcmp(n->id, id) == 0)
        return true;
    memcpy(n->id, id, IDD_GUID_LEN + 1);
    n->minute = minute;
    return false;
}

unsigned long idd_apikey_usage_notes(idd_apikey_usage_t *u)
{
    return u != NULL ? atomic_load(&u->notes) : 0;
}

idd_apikey_usage_t *idd_apikey_usage_new(void)
{
    idd_apikey_usage_t *u = idd_xcalloc(1, sizeof(*u));
    pthread_mutex_init(&u->lock, NULL);
    u->entries = idd_xcalloc(USAGE_MAX, sizeof(usage_entry_t));
    return u;
}

void idd_apikey_usage_free(idd_apikey_usage_t *u)
{
    if (u == NULL)
        return;
    pthread_mutex_destroy(&u->lock);
    free(u->entries);
    free(u);
}

static void usage_note(idd_apikey_usage_t *u, const char *id, int64_t when)
{
    atomic_fetch_add(&u->notes, 1);
    pthread_mutex_lock(&u->lock);
    /* A linear scan: the table holds the keys used within one minute, and a use of a key
     * already pending only moves its time. */
    size_t i;
    for (i = 0; i < u->n; i++)
        if (strcmp(u->entries[i].id, id) == 0)
            break;
    if (i < u->n) {
        if (when > u->entries[i].when)
            u->entries[i].when = when;
    } else if (u->n < USAGE_MAX) {
        memcpy(u->entries[u->n].id, id, IDD_GUID_LEN + 1);
        u->entries[u->n].when = when;
        u->n++;
    } else if (!u->warned_full) {
        u->warned_full = true;
        idd_log_warn(
            "apikey: more than %d keys used within a minute; some last_used times are skipped",
            USAGE_MAX);
    }
    pthread_mutex_unlock(&u->lock);
}

int idd_apikey_usage_flush(idd_apikey_usage_t *u, idd_store_t *store)
{
    pthread_mutex_lock(&u->lock);
    size_t n = u->n;
    if (n == 0) {
        pthread_mutex_unlock(&u->lock);
        return 0;
    }
    usage_entry_t *batch = idd_xmalloc(n * sizeof(*batch));
    memcpy(batch, u->entries, n * sizeof(*batch));
    u->n = 0;
    u->warned_full = false;
    pthread_mutex_unlock(&u->lock);

    char(*ids)[IDD_GUID_LEN + 1] = idd_xmalloc(n * sizeof(*ids));
    int64_t *when = idd_xmalloc(n * sizeof(*when));
    for (size_t i = 0; i < n; i++) {
        memcpy(ids[i], batch[i].id, IDD_GUID_LEN + 1);
        when[i] = batch[i].when;
    }
    int rc = idd_store_apikey_touch(store, (const char(*)[IDD_GUID_LEN + 1]) ids, when, n);
    if (rc != 0) {
        idd_log_warn("apikey: could not record last use of %zu keys: %s", n, idd_strerror(rc));
        for (size_t i = 0; i < n; i++)
            usage_note(u, batch[i].id, batch[i].when);
    }
    free(ids);
    free(when);
    free(batch);
    return rc;
}

/* The key's row and its creator's, from the store: what the cache keeps of a key. Returns
 * IDD_ENOTFOUND when either row is missing, or a store error. */
static int apikey_load(idd_store_t *store, const unsigned char digest[IDD_SESSION_DIGEST_LEN],
                       idd_cc_cred_t *out)
{
    idd_apikey_t k;
    idd_user_t u;
    int rc = idd_store_apikey_by_digest(store, digest, &k);
    if (rc == 0 && !idd_ct_equal(k.digest, digest, IDD_SESSION_DIGEST_LEN))
        rc = IDD_ENOTFOUND;
    if (rc == 0)
        rc = idd_store_user_by_id(store, k.created_by, &u);
    if (rc != 0)
        return rc;
    idd_wipe(u.password, sizeof(u.password));
    memset(out, 0, sizeof(*out));
    out->tenant_id = k.tenant_id;
    out->expires = k.expires;
    out->active = k.active;
    memcpy(out->apikey_id, k.id, sizeof(out->apikey_id));
    idd_apikey_scopes(k.permissions, out->scopes, sizeof(out->scopes));
    idd_cc_user_from(&out->user, &u);
    return 0;
}

/* The key's entry, from the cache or the store, judged for this request. */
static void apikey_judge(idd_request_t *r, const idd_cc_cred_t *kp, idd_auth_done_fn done)
{
    idd_cc_cred_t k = *kp;
    idd_principal_t *p = NULL;
    idd_auth_result_t result = IDD_AUTH_DENY;
    int64_t now = idd_now();
    if (!k.active || (k.expires != 0 && k.expires <= now) || k.tenant_id != r->tenant->id) {
        /* Counted as expired only when that is all that is wrong with it. */
        r->auth_expired =
            k.active && k.expires != 0 && k.expires <= now && k.tenant_id == r->tenant->id;
        goto done;
    }
    if (k.user.status != IDD_USER_ACTIVE || k.user.tenant_id != k.tenant_id)
        goto done;

    p = h2o_mem_alloc_pool(&r->req->pool, sizeof(*p));
    memset(p, 0, sizeof(*p));
    idd_cc_user_to(&p->user, &k.user);
    p->via = IDD_CRED_APIKEY;
    memcpy(p->apikey_id, k.apikey_id, sizeof(p->apikey_id));
    memcpy(p->scopes, k.scopes, sizeof(p->scopes));
    if (!noted_this_minute(k.apikey_id, now))
        usage_note(r->app->apikey_usage, k.apikey_id, now);
    result = IDD_AUTH_OK;

done:
    done(r, result, result == IDD_AUTH_OK ? p : NULL);
}

/* A key the cache did not have, read from the store (on the loop or off it). */
typedef struct apikey_miss {
    unsigned char digest[IDD_SESSION_DIGEST_LEN];
    unsigned long epoch; /* before the read: a change committed after it makes the entry stale */
    idd_cc_cred_t k;
    idd_auth_done_fn done;
} apikey_miss_t;

static int apikey_miss_load(idd_store_t *store, void *arg)
{
    apikey_miss_t *m = arg;
    return apikey_load(store, m->digest, &m->k);
}

static void apikey_miss_resume(idd_request_t *r, void *arg, int rc)
{
    apikey_miss_t *m = arg;
    if (rc != 0) {
        m->done(r, rc == IDD_ENOTFOUND ? IDD_AUTH_DENY : IDD_AUTH_ERROR, NULL);
        return;
    }
    if (r->app->credcache != NULL)
        idd_credcache_put(r->app->credcache, IDD_CC_APIKEY, m->digest, &m->k, m->epoch);
    apikey_judge(r, &m->k, m->done);
}

static void apikey_miss_release(void *arg)
{
    idd_wipe(arg, sizeof(apikey_miss_t));
    free(arg);
}

void idd_auth_apikey(idd_request_t *r, h2o_iovec_t key, idd_auth_done_fn done)
{
    unsigned char digest[IDD_SESSION_DIGEST_LEN];
    idd_cc_cred_t k;
    idd_credcache_t *cache = r->app->credcache;

    if (!idd_apikey_well_formed(key.base, key.len) ||
        idd_apikey_digest(&r->app->pepper, key.base, key.len, digest) != 0) {
        done(r, IDD_AUTH_DENY, NULL);
        return;
    }
    bool hit = cache != NULL && idd_credcache_get(cache, IDD_CC_APIKEY, digest, &k);
    if (r->thread->metrics != NULL)
        idd_metrics_add(&r->thread->metrics->credcache[IDD_CC_APIKEY][hit ? 0 : 1], 1);
    if (hit) {
        idd_wipe(digest, sizeof(digest));
        apikey_judge(r, &k, done);
        return;
    }
    apikey_miss_t *m = idd_xcalloc(1, sizeof(*m));
    memcpy(m->digest, digest, sizeof(digest));
    idd_wipe(digest, sizeof(digest));
    m->epoch = idd_store_epoch();
    m->done = done;
    idd_store_read(r, apikey_miss_load, apikey_miss_resume, m, apikey_miss_release);
}
