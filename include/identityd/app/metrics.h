/*
 * What GET /metrics counts beyond the app's own atomics. Counters a request moves (requests
 * by route and status, latency, authentication outcomes, the Basic credential cache, tokens
 * by key) live in a block per event loop that only its loop writes, with relaxed loads and
 * stores, so the token path takes no lock and shares no cache line; a scrape sums the
 * blocks. Every label set is fixed and small: routes come from the route table, statuses
 * from a fixed table (others by class), keys from a bounded table of (kid, alg).
 */
#ifndef IDENTITYD_APP_METRICS_H
#define IDENTITYD_APP_METRICS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "identityd/core/jwa.h"

/* Route slots: 0 is "other" (no route matched), route i of the table is slot i + 1. */
#define IDD_METRICS_ROUTES 64 /* the route table, with room: the router refuses more */
#define IDD_METRICS_ROUTE_OTHER 0

/* Status slots: the statuses identityd answers, then one per class for any other, and 0 for
 * a request that got no answer (its client left). */
#define IDD_METRICS_STATUSES 30
/* The label of status slot i ("200", "4xx", "0"). */
extern const char *const idd_metrics_status_names[IDD_METRICS_STATUSES];
int idd_metrics_status_slot(int status);

/* Latency buckets, in seconds: 0.0005 … 10, then +Inf. */
#define IDD_METRICS_BUCKETS 15
extern const double idd_metrics_bucket_le[IDD_METRICS_BUCKETS - 1];
int idd_metrics_bucket(int64_t ns);

/* How a caller authenticated, and what came of it. */
typedef enum {
    IDD_MSCHEME_BASIC = 0,
    IDD_MSCHEME_SESSION,
    IDD_MSCHEME_APIKEY,
    IDD_MSCHEME_BEARER_JWT,
    IDD_MSCHEME_OIDC,     /* an opaque bearer token, introspected */
    IDD_MSCHEME_PASSWORD, /* POST /api/2.0/authentication */
    IDD_MSCHEMES
} idd_metrics_scheme_t;
extern const char *const idd_metrics_scheme_names[IDD_MSCHEMES];

typedef enum {
    IDD_MOUTCOME_OK = 0,
    IDD_MOUTCOME_INVALID,   /* not a valid credential (401) */
    IDD_MOUTCOME_EXPIRED,   /* was valid, has expired (401) */
    IDD_MOUTCOME_BLOCKED,   /* brute-force block (403) */
    IDD_MOUTCOME_FORBIDDEN, /* valid, but its scopes do not grant the route (403) */
    IDD_MOUTCOME_ERROR,     /* the check could not be made (503) */
    IDD_MOUTCOMES
} idd_metrics_outcome_t;
extern const char *const idd_metrics_outcome_names[IDD_MOUTCOMES];

/* Kinds of the credential cache: session, apikey, basic (user), tenant_tfa. */
#define IDD_METRICS_CREDCACHE_KINDS 5

/* Keys tokens were signed with: (kid, alg) pairs in the order first seen, at most this many
 * (any beyond count as kid "other"). Survives a keyring's replacement. */
#define IDD_METRICS_KEYS 16

typedef struct idd_metrics_key {
    char kid[65];
    idd_alg_t alg;
} idd_metrics_key_t;

typedef struct idd_metrics_keys {
    pthread_mutex_t lock; /* taken only to add a pair */
    atomic_int n;         /* published pairs; entries below n never change */
    idd_metrics_key_t keys[IDD_METRICS_KEYS];
} idd_metrics_keys_t;

/* One loop's counters: written by that loop only, read by any scrape. */
typedef struct idd_thread_metrics {
    atomic_ulong requests[IDD_METRICS_ROUTES][IDD_METRICS_STATUSES];
    atomic_ulong latency[IDD_METRICS_ROUTES][IDD_METRICS_BUCKETS]; /* per bucket, not cumulated */
    atomic_ullong latency_ns[IDD_METRICS_ROUTES];
    atomic_ulong auth[IDD_MSCHEMES][IDD_MOUTCOMES];
    atomic_ulong credential_cache[2]; /* hit, miss */
    /* The shared credential cache (auth/credcache.h), per kind: hit, miss (a store read). */
    atomic_ulong credcache[IDD_METRICS_CREDCACHE_KINDS][2];
    atomic_ulong tokens[IDD_METRICS_KEYS + 1];
} __attribute__((aligned(64))) idd_thread_metrics_t;

/* Adds n to a counter only its own loop writes: no locked instruction. */
static inline void idd_metrics_add(atomic_ulong *c, unsigned long n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

/* One per loop (threads of them), zeroed; free with free(). */
idd_thread_metrics_t *idd_metrics_threads_new(int threads);

/* The slot of (kid, alg): found without a lock once known; added under the lock the first
 * time; IDD_METRICS_KEYS ("other") when the table is full. */
int idd_metrics_key_slot(idd_metrics_keys_t *k, const char *kid, idd_alg_t alg);

#endif
