/*
 * The fixed label sets of /metrics and the table of signing keys tokens were counted under.
 */
#include "identityd/app/metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "identityd/core/common.h"

/* clang-format off */
static const int status_codes[] = {
    200, 201, 204, 301, 302, 304,
    400, 401, 403, 404, 405, 408, 409, 411, 413, 414, 415, 422, 429, 431,
    500, 502, 503, 504,
};
/* clang-format on */
#define N_CODES IDD_ARRAY_LEN(status_codes)
_Static_assert(N_CODES + 6 == IDD_METRICS_STATUSES, "status slots: codes, 5 classes, none");

const char *const idd_metrics_status_names[IDD_METRICS_STATUSES] = {
    "200", "201", "204", "301", "302", "304", "400", "401", "403", "404",
    "405", "408", "409", "411", "413", "414", "415", "422", "429", "431",
    "500", "502", "503", "504", "1xx", "2xx", "3xx", "4xx", "5xx", "0",
};

int idd_metrics_status_slot(int status)
{
    for (size_t i = 0; i < N_CODES; i++)
        if (status_codes[i] == status)
            return (int)i;
    if (status >= 100 && status <= 599)
        return (int)N_CODES + status / 100 - 1;
    return IDD_METRICS_STATUSES - 1;
}

const double idd_metrics_bucket_le[IDD_METRICS_BUCKETS - 1] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};

/* The same bounds in nanoseconds. */
static const int64_t bucket_ns[IDD_METRICS_BUCKETS - 1] = {
    500000,    1000000,   2500000,   5000000,    10000000,   25000000,   50000000,
    100000000, 250000000, 500000000, 1000000000, 2500000000, 5000000000, 10000000000,
};

int idd_metrics_bucket(int64_t ns)
{
    int i = 0;
    while (i < IDD_METRICS_BUCKETS - 1 && ns > bucket_ns[i])
        i++;
    return i;
}

const char *const idd_metrics_scheme_names[IDD_MSCHEMES] = {
    "basic", "session", "apikey", "bearer_jwt", "oidc", "password",
};

const char *const idd_metrics_outcome_names[IDD_MOUTCOMES] = {
    "ok", "invalid", "expired", "blocked", "forbidden", "error",
};

idd_thread_metrics_t *idd_metrics_threads_new(int threads)
{
    size_t n = threads < 1 ? 1 : (size_t)threads;
    idd_thread_metrics_t *m = aligned_alloc(64, n * sizeof(*m));
    if (m == NULL)
        abort();
    memset(m, 0, n * sizeof(*m));
    return m;
}

int idd_metrics_key_slot(idd_metrics_keys_t *k, const char *kid, idd_alg_t alg)
{
    int n = atomic_load_explicit(&k->n, memory_order_acquire);
    for (int i = 0; i < n; i++)
        if (k->keys[i].alg == alg && strcmp(k->keys[i].kid, kid) == 0)
            return i;
    if (strlen(kid) >= sizeof(k->keys[0].kid))
        return IDD_METRICS_KEYS;
    pthread_mutex_lock(&k->lock);
    int slot = IDD_METRICS_KEYS;
    n = atomic_load_explicit(&k->n, memory_order_relaxed);
    for (int i = 0; i < n && slot == IDD_METRICS_KEYS; i++)
        if (k->keys[i].alg == alg && strcmp(k->keys[i].kid, kid) == 0)
            slot = i;
    if (slot == IDD_METRICS_KEYS && n < IDD_METRICS_KEYS) {
        snprintf(k->keys[n].kid, sizeof(k->keys[n].kid), "%s", kid);
        k->keys[n].alg = alg;
        atomic_store_explicit(&k->n, n + 1, memory_order_release);
        slot = n;
    }
    pthread_mutex_unlock(&k->lock);
    return slot;
}
