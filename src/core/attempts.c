/*
 * The attempt table (see attempts.h): open addressing over a power-of-two array, a key's
 * slots being the PROBE that follow its keyed hash, one mutex over all of it. An entry is live
 * while it has attempts on record and its expiry is ahead; any other slot is free for reuse.
 */
#include "identityd/core/attempts.h"

#include <openssl/rand.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "identityd/core/common.h"
#include "identityd/core/ct.h"

#define PROBE 16
#define SLOTS_MIN 64
#define SLOTS_MAX ((size_t)1 << 20)

typedef struct entry {
    int64_t expires_ms;
    int count;
    unsigned char len;
    unsigned char key[IDD_ATTEMPTS_KEY_MAX];
} entry_t;

struct idd_attempts {
    pthread_mutex_t lock;
    entry_t *slots;
    size_t mask;
    int limit;
    int64_t window_ms;
    uint64_t seed;
};

idd_attempts_t *idd_attempts_new(size_t slots, int limit, int64_t window_ms)
{
    if (slots > SLOTS_MAX || limit < 1 || limit > 1000 || window_ms < 1 || window_ms > 86400000)
        return NULL;
    size_t n = SLOTS_MIN;
    while (n < slots)
        n <<= 1;
    idd_attempts_t *a = idd_xcalloc(1, sizeof(*a));
    if (RAND_bytes((unsigned char *)&a->seed, sizeof(a->seed)) != 1) {
        free(a);
        return NULL;
    }
    pthread_mutex_init(&a->lock, NULL);
    a->slots = idd_xcalloc(n, sizeof(entry_t));
    a->mask = n - 1;
    a->limit = limit;
    a->window_ms = window_ms;
    return a;
}

void idd_attempts_free(idd_attempts_t *a)
{
    if (a == NULL)
        return;
    pthread_mutex_destroy(&a->lock);
    idd_wipe(a->slots, (a->mask + 1) * sizeof(entry_t));
    free(a->slots);
    idd_wipe(&a->seed, sizeof(a->seed));
    free(a);
}

/* FNV-1a from a secret start, then a 64-bit finaliser: an outsider cannot aim keys at one
 * run of slots without knowing the seed. */
static size_t home(const idd_attempts_t *a, const unsigned char *key, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ULL ^ a->seed;
    for (size_t i = 0; i < len; i++) {
        h ^= key[i];
        h *= 0x100000001b3ULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return (size_t)h & a->mask;
}

static int live(const entry_t *e, int64_t now_ms)
{
    return e->count > 0 && e->expires_ms > now_ms;
}

static int same(const entry_t *e, const unsigned char *key, size_t len)
{
    return e->len == len && memcmp(e->key, key, len) == 0;
}

/* The key's live entry, or NULL; *free_slot (may be NULL) the first reusable slot seen. */
static entry_t *find(idd_attempts_t *a, const unsigned char *key, size_t len, int64_t now_ms,
                     entry_t **free_slot)
{
    size_t at = home(a, key, len);
    if (free_slot != NULL)
        *free_slot = NULL;
    for (size_t i = 0; i < PROBE; i++) {
        entry_t *e = &a->slots[(at + i) & a->mask];
        if (!live(e, now_ms)) {
            if (free_slot != NULL && *free_slot == NULL)
                *free_slot = e;
        } else if (same(e, key, len)) {
            return e;
        }
    }
    return NULL;
}

static int seconds_until(int64_t expires_ms, int64_t now_ms)
{
    int64_t ms = expires_ms - now_ms;
    int64_t s = (ms + 999) / 1000;
    return s < 1 ? 1 : s > 86400 ? 86400 : (int)s;
}

int idd_attempts_take(idd_attempts_t *a, const void *key, size_t len, int64_t now_ms,
                      int *retry_after)
{
    if (retry_after != NULL)
        *retry_after = 0;
    if (a == NULL || key == NULL || len == 0 || len > IDD_ATTEMPTS_KEY_MAX)
        return IDD_EINVAL;
    int rc = 0;
    entry_t *free_slot = NULL;
    pthread_mutex_lock(&a->lock);
    entry_t *e = find(a, key, len, now_ms, &free_slot);
    if (e != NULL && e->count >= a->limit) {
        rc = IDD_EDENIED; /* refused unchecked; the expiry is not re-armed */
        if (retry_after != NULL)
            *retry_after = seconds_until(e->expires_ms, now_ms);
    } else if (e != NULL) {
        e->count++;
        e->expires_ms = now_ms + a->window_ms;
    } else if (free_slot != NULL) {
        memset(free_slot, 0, sizeof(*free_slot));
        memcpy(free_slot->key, key, len);
        free_slot->len = (unsigned char)len;
        free_slot->count = 1;
        free_slot->expires_ms = now_ms + a->window_ms;
    } else {
        rc = IDD_EBUSY; /* every slot of its run holds another live key */
        if (retry_after != NULL) {
            int64_t soonest = INT64_MAX;
            size_t at = home(a, key, len);
            for (size_t i = 0; i < PROBE; i++) {
                int64_t x = a->slots[(at + i) & a->mask].expires_ms;
                soonest = x < soonest ? x : soonest;
            }
            *retry_after = seconds_until(soonest, now_ms);
        }
    }
    pthread_mutex_unlock(&a->lock);
    return rc;
}

void idd_attempts_refund(idd_attempts_t *a, const void *key, size_t len, int64_t now_ms)
{
    if (a == NULL || key == NULL || len == 0 || len > IDD_ATTEMPTS_KEY_MAX)
        return;
    pthread_mutex_lock(&a->lock);
    entry_t *e = find(a, key, len, now_ms, NULL);
    if (e != NULL && e->count > 0)
        e->count--;
    pthread_mutex_unlock(&a->lock);
}

size_t idd_attempts_used(idd_attempts_t *a, int64_t now_ms)
{
    size_t n = 0;
    pthread_mutex_lock(&a->lock);
    for (size_t i = 0; i <= a->mask; i++)
        n += live(&a->slots[i], now_ms) ? 1 : 0;
    pthread_mutex_unlock(&a->lock);
    return n;
}
