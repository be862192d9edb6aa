/*
 * The families of GET /metrics that come from the per-loop counters (app/metrics.h) and the
 * modules' own: requests and their latency by route, authentication outcomes, tokens by
 * key, worker waits, caches, database errors, reloads, the active key and the build. Every
 * label set is bounded by a table: the routes, the status slots, the schemes and outcomes,
 * the (kid, alg) table. Label values are written escaped, though each comes from the route
 * table, the configuration or a build constant.
 */
#include <openssl/opensslv.h>
#include <stdatomic.h>
#include <string.h>

#include <h2o/version.h>

#include "identityd/api/api.h"
#include "identityd/auth/credcache.h"
#include "identityd/core/buf.h"
#include "identityd/core/jwa.h"

#ifndef IDD_VERSION
#define IDD_VERSION "unknown"
#endif

/* A label value, escaped as the text format asks (\\, \" and \n). */
static void label(idd_buf_t *b, const char *s)
{
    for (; *s != '\0'; s++) {
        if (*s == '\\' || *s == '"')
            idd_buf_putc(b, '\\');
        if (*s == '\n') {
            idd_buf_puts(b, "\\n");
            continue;
        }
        idd_buf_putc(b, *s);
    }
}

static void help(idd_buf_t *b, const char *name, const char *type, const char *text)
{
    idd_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, text, name, type);
}

/* {method="GET",route="/api/…" or {route="other" — the caller closes or continues it. */
static void route_labels(idd_buf_t *b, int slot)
{
    if (slot == IDD_METRICS_ROUTE_OTHER) {
        idd_buf_puts(b, "{route=\"other\"");
        return;
    }
    const idd_route_t *route = &idd_routes[slot - 1];
    idd_buf_puts(b, "{method=\"");
    label(b, route->method);
    idd_buf_puts(b, "\",route=\"");
    label(b, route->path);
    idd_buf_putc(b, '"');
}

static unsigned long sum_requests(const idd_app_t *app, int route, int status)
{
    unsigned long n = 0;
    for (int t = 0; t < app->n_thread_metrics; t++)
        n += atomic_load_explicit(&app->thread_metrics[t].requests[route][status],
                                  memory_order_relaxed);
    return n;
}

static void requests(idd_buf_t *b, const idd_app_t *app)
{
    int slots = (int)idd_routes_count + 1;
    help(b, "identityd_requests_total", "counter",
         "Requests answered, by route (\"other\": none matched) and status (0: no answer, the "
         "client left).");
    for (int route = 0; route < slots; route++)
        for (int st = 0; st < IDD_METRICS_STATUSES; st++) {
            unsigned long n = sum_requests(app, route, st);
            if (n == 0)
                continue;
            idd_buf_puts(b, "identityd_requests_total");
            route_labels(b, route);
            idd_buf_printf(b, ",status=\"%s\"} %lu\n", idd_metrics_status_names[st], n);
        }

    help(b, "identityd_request_duration_seconds", "histogram",
         "Time from the router seeing a request to its response sent, by route.");
    for (int route = 0; route < slots; route++) {
        unsigned long buckets[IDD_METRICS_BUCKETS] = {0};
        unsigned long long ns = 0;
        for (int t = 0; t < app->n_thread_metrics; t++) {
            const idd_thread_metrics_t *m = &app->thread_metrics[t];
            for (int i = 0; i < IDD_METRICS_BUCKETS; i++)
                buckets[i] += atomic_load_explicit(&m->latency[route][i], memory_order_relaxed);
            ns += atomic_load_explicit(&m->latency_ns[route], memory_order_relaxed);
        }
        unsigned long count = 0;
        for (int i = 0; i < IDD_METRICS_BUCKETS; i++)
            count += buckets[i];
        if (count == 0)
            continue;
        unsigned long cumulated = 0;
        for (int i = 0; i < IDD_METRICS_BUCKETS; i++) {
            cumulated += buckets[i];
            idd_buf_puts(b, "identityd_request_duration_seconds_bucket");
            route_labels(b, route);
            if (i < IDD_METRICS_BUCKETS - 1)
                idd_buf_printf(b, ",le=\"%g\"} %lu\n", idd_metrics_bucket_le[i], cumulated);
            else
                idd_buf_printf(b, ",le=\"+Inf\"} %lu\n", cumulated);
        }
        idd_buf_puts(b, "identityd_request_duration_seconds_sum");
        route_labels(b, route);
        idd_buf_printf(b, "} %.9f\n", (double)ns / 1e9);
        idd_buf_puts(b, "identityd_request_duration_seconds_count");
        route_labels(b, route);
        idd_buf_printf(b, "} %lu\n", count);
    }
}

static void auth(idd_buf_t *b, const idd_app_t *app)
{
    help(b, "identityd_auth_total", "counter",
         "Credentials checked, by scheme and outcome (forbidden: valid, but its scopes do not "
         "grant the route).");
    for (int s = 0; s < IDD_MSCHEMES; s++)
        for (int o = 0; o < IDD_MOUTCOMES; o++) {
            unsigned long n = 0;
            for (int t = 0; t < app->n_thread_metrics; t++)
                n += atomic_load_explicit(&app->thread_metrics[t].auth[s][o], memory_order_relaxed);
            idd_buf_printf(b, "identityd_auth_total{scheme=\"%s\",outcome=\"%s\"} %lu\n",
                           idd_metrics_scheme_names[s], idd_metrics_outcome_names[o], n);
        }
}

static void tokens(idd_buf_t *b, idd_app_t *app)
{
    help(b, "identityd_tokens_minted_total", "counter",
         "Login-to-identity tokens issued, by the kid and alg of the key that signed them.");
    int n = atomic_load_explicit(&app->minted_keys.n, memory_order_acquire);
    for (int k = 0; k <= IDD_METRICS_KEYS; k++) {
        if (k < IDD_METRICS_KEYS && k >= n)
            continue;
        unsigned long count = 0;
        for (int t = 0; t < app->n_thread_metrics; t++)
            count += atomic_load_explicit(&app->thread_metrics[t].tokens[k], memory_order_relaxed);
        if (k == IDD_METRICS_KEYS) {
            if (count > 0)
                idd_buf_printf(b,
                               "identityd_tokens_minted_total{kid=\"other\",alg=\"\"} "
                               "%lu\n",
                               count);
            continue;
        }
        idd_buf_puts(b, "identityd_tokens_minted_total{kid=\"");
        label(b, app->minted_keys.keys[k].kid);
        idd_buf_printf(b, "\",alg=\"%s\"} %lu\n", idd_alg_name(app->minted_keys.keys[k].alg),
                       count);
    }
}

static void workers(idd_buf_t *b, idd_app_t *app)
{
    help(b, "identityd_worker_wait_seconds", "summary",
         "Seconds jobs waited in a worker pool's queue before a worker took them.");
    struct {
        const char *name;
        idd_workers_t *w;
    } pools[] = {{"kdf", app->workers}, {"outbound", app->outbound}};
    for (size_t i = 0; i < 2; i++) {
        unsigned long jobs = 0;
        double seconds = 0;
        if (pools[i].w != NULL)
            idd_workers_waited(pools[i].w, &jobs, &seconds);
        idd_buf_printf(b, "identityd_worker_wait_seconds_sum{pool=\"%s\"} %.9f\n", pools[i].name,
                       seconds);
        idd_buf_printf(b, "identityd_worker_wait_seconds_count{pool=\"%s\"} %lu\n", pools[i].name,
                       jobs);
    }
}

static void caches(idd_buf_t *b, idd_app_t *app, const idd_gen_t *gen)
{
    unsigned long cred[2] = {0, 0};
    for (int t = 0; t < app->n_thread_metrics; t++)
        for (int i = 0; i < 2; i++)
            cred[i] += atomic_load_explicit(&app->thread_metrics[t].credential_cache[i],
                                            memory_order_relaxed);
    idd_oidc_cache_stats_t o;
    /* The authority's counts are its generation's: a reload that makes a new one starts them
     * again at zero. */
    idd_oidc_cache_stats(gen->oidc, &o);
    help(b, "identityd_cache_total", "counter",
         "Cache lookups: the verified Basic credentials, the authority's key set and its "
         "introspection verdicts.");
    idd_buf_printf(b,
                   "identityd_cache_total{cache=\"credential\",result=\"hit\"} %lu\n"
                   "identityd_cache_total{cache=\"credential\",result=\"miss\"} %lu\n"
                   "identityd_cache_total{cache=\"jwks\",result=\"hit\"} %lu\n"
                   "identityd_cache_total{cache=\"jwks\",result=\"miss\"} %lu\n"
                   "identityd_cache_total{cache=\"introspection\",result=\"hit\"} %lu\n"
                   "identityd_cache_total{cache=\"introspection\",result=\"miss\"} %lu\n",
                   cred[0], cred[1], o.jwks_hits, o.jwks_misses, o.introspection_hits,
                   o.introspection_misses);
}

/* The shared credential cache: lookups by kind (a miss is a store read), its change
 * checks and the change version and epoch they saw. */
static void credcache(idd_buf_t *b, idd_app_t *app)
{
    static const char *const kinds[IDD_METRICS_CREDCACHE_KINDS] = {"session", "apikey", "basic",
                                                                   "tenant_tfa", "jwt"};
    if (app->credcache == NULL)
        return;
    help(b, "identityd_credcache_lookups_total", "counter",
         "Credential cache lookups by kind; a miss reads the store.");
    for (int k = 0; k < IDD_METRICS_CREDCACHE_KINDS; k++) {
        unsigned long n[2] = {0, 0};
        for (int t = 0; t < app->n_thread_metrics; t++)
            for (int i = 0; i < 2; i++)
                n[i] += atomic_load_explicit(&app->thread_metrics[t].credcache[k][i],
                                             memory_order_relaxed);
        idd_buf_printf(b,
                       "identityd_credcache_lookups_total{kind=\"%s\",result=\"hit\"} %lu\n"
                       "identityd_credcache_lookups_total{kind=\"%s\",result=\"miss\"} %lu\n",
                       kinds[k], n[0], kinds[k], n[1]);
    }
    help(b, "identityd_credcache_entries", "gauge", "Entries the credential cache holds at most.");
    idd_buf_printf(b, "identityd_credcache_entries %zu\n", idd_credcache_entries(app->credcache));
    help(b, "identityd_credcache_change_checks_total", "counter",
         "Checks of the store's change version (writes by other processes), all loops.");
    idd_buf_printf(b, "identityd_credcache_change_checks_total %lu\n",
                   idd_credcache_checks(app->credcache));
    help(b, "identityd_credcache_change_version", "gauge",
         "The store's change version as last checked (-1 before the first check).");
    idd_buf_printf(b, "identityd_credcache_change_version %lld\n",
                   (long long)idd_credcache_version(app->credcache));
    help(b, "identityd_credcache_epoch", "counter",
         "Invalidations of the credential cache: local writes and changes seen, from 1.");
    idd_buf_printf(b, "identityd_credcache_epoch %lu\n", idd_store_epoch());
}

static void process(idd_buf_t *b, idd_app_t *app, const idd_gen_t *gen)
{
    help(b, "identityd_database_errors_total", "counter",
         "Database operations that failed (not a missing or duplicate row).");
    idd_buf_printf(b, "identityd_database_errors_total %lu\n", idd_store_errors());
    help(b, "identityd_reloads_total", "counter", "Configuration reloads, by result.");
    idd_buf_printf(b,
                   "identityd_reloads_total{result=\"ok\"} %lu\n"
                   "identityd_reloads_total{result=\"failed\"} %lu\n",
                   atomic_load(&app->reloads), atomic_load(&app->reload_failures));
    const idd_key_t *active = idd_keyring_active(gen->keyring);
    if (active != NULL) {
        help(b, "identityd_active_key_info", "gauge", "The key new tokens are signed with.");
        idd_buf_puts(b, "identityd_active_key_info{kid=\"");
        label(b, active->kid);
        idd_buf_printf(b, "\",alg=\"%s\"} 1\n", idd_alg_name(active->alg));
    }
    help(b, "identityd_build_info", "gauge", "The versions identityd was built with.");
    idd_buf_puts(b, "identityd_build_info{version=\"");
    label(b, IDD_VERSION);
    idd_buf_puts(b, "\",h2o=\"");
    label(b, H2O_VERSION);
    idd_buf_puts(b, "\",openssl=\"");
    label(b, OPENSSL_VERSION_STR);
    idd_buf_puts(b, "\"} 1\n");
}

void idd_api_metrics_write(idd_app_t *app, const idd_gen_t *gen, idd_buf_t *b)
{
    requests(b, app);
    auth(b, app);
    tokens(b, app);
    workers(b, app);
    caches(b, app, gen);
    credcache(b, app);
    process(b, app, gen);
}
