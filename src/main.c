/*
 * identityd: loads the configuration, keys, pepper and database, then serves until SIGINT or
 * SIGTERM. `-t` checks all of that without changing anything and exits, so an operator can
 * test a configuration before a restart. Any problem at start is one line on stderr and
 * exit status 1.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <jansson.h>
#include <malloc.h>

#include "identityd/api/api.h"
#include "identityd/app/app.h"
#include "identityd/auth/auth.h"
#include "identityd/core/bruteforce.h"
#include "identityd/core/common.h"
#include "identityd/core/ct.h"
#include "identityd/core/httpclient.h"
#include "identityd/config/config.h"
#include "identityd/token/keyring.h"
#include "identityd/core/log.h"
#include "identityd/cred/password.h"
#include "identityd/http/server.h"
#include "identityd/store/store.h"
#include "identityd/core/workers.h"

#define DEFAULT_CONFIG "config/identityd.yaml"
/* Work a pool holds at most; beyond it requests get 503 at once rather than waiting behind
 * minutes of queued work. Password checks are ~20-60 ms each; authority calls may take up
 * to the configured timeout, so fewer of them may wait. */
#define KDF_QUEUE_MAX 4096
#define OUTBOUND_QUEUE_MAX 256

static void usage(FILE *out)
{
    fprintf(out, "usage: identityd [-c FILE] [-t]\n"
                 "  -c FILE  configuration (default " DEFAULT_CONFIG ")\n"
                 "  -t       check the configuration, keys and database, then exit\n");
}

/* ---- core dumps ---- */

/* The soft core size limit identityd was started with, given back when core_dumps is true. */
static struct rlimit core_limit_at_start;

/* A core dump would hold the pepper, the private keys and whatever passwords are in flight,
 * and a dumpable process can be read through /proc and ptrace by any process of its user.
 * Both are turned off before anything secret is read, the configuration included (it may
 * hold a machine_key); core_dumps_settle gives them back only when the configuration asks.
 * Returns 0 or -1 (errno set). */
static int core_dumps_off(void)
{
    struct rlimit off;
    if (getrlimit(RLIMIT_CORE, &core_limit_at_start) != 0)
        return -1;
    /* The hard limit stays for now, so that core_dumps: true can restore the soft one. */
    off = (struct rlimit){.rlim_cur = 0, .rlim_max = core_limit_at_start.rlim_max};
    if (setrlimit(RLIMIT_CORE, &off) != 0)
        return -1;
    return prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

/* Once the configuration is read: with core_dumps: true the start's limit and dumpability
 * come back; otherwise the hard limit drops to 0 too, so that nothing later in the process
 * can raise the soft one again. Returns 0 or -1 (errno set). */
static int core_dumps_settle(const idd_config_t *cfg)
{
    if (!cfg->core_dumps) {
        const struct rlimit none = {.rlim_cur = 0, .rlim_max = 0};
        return setrlimit(RLIMIT_CORE, &none);
    }
    if (setrlimit(RLIMIT_CORE, &core_limit_at_start) != 0 ||
        prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) != 0)
        return -1;
    idd_log_warn("%s: core_dumps is true: a core dump of identityd holds the pepper and "
                 "private keys",
                 cfg->path);
    return 0;
}

/* jansson holds request bodies, passwords included: whatever it frees is wiped first. */
static void *json_alloc(size_t size)
{
    return idd_xmalloc(size);
}

static void json_release(void *p)
{
    if (p != NULL) {
        idd_wipe(p, malloc_usable_size(p));
        free(p);
    }
}

/* Opens the database, applies migrations and records the configured tenants, keeping each
 * tenant's row (its password salt) in app->tenants. */
static int prepare_store(idd_app_t *app, char *err, size_t errlen)
{
    const idd_config_t *cfg = app->cfg;
    idd_store_t *store = NULL;
    int from = 0, to = 0;
    int rc = idd_store_open(cfg->database, &store);
    if (rc != 0) {
        snprintf(err, errlen, "%s: cannot open database %s", cfg->path, cfg->database);
        goto done;
    }
    rc = idd_store_migrate(store, &from, &to);
    if (rc != 0) {
        snprintf(err, errlen, "%s: database %s: %s", cfg->path, cfg->database, idd_strerror(rc));
        goto done;
    }
    if (from != to)
        idd_log_info("database schema migrated from version %d to %d", from, to);
    app->tenants = idd_xcalloc(cfg->n_tenants, sizeof(idd_tenant_t));
    for (size_t i = 0; i < cfg->n_tenants; i++) {
        rc = idd_store_tenant_ensure(store, cfg->tenants[i].id, cfg->tenants[i].name);
        if (rc == 0)
            rc = idd_store_tenant_get(store, cfg->tenants[i].id, &app->tenants[i]);
        if (rc != 0) {
            snprintf(err, errlen, "%s:%d: tenant %lld: %s", cfg->path, cfg->tenants[i].line,
                     (long long)cfg->tenants[i].id, idd_strerror(rc));
            goto done;
        }
    }
done:
    idd_store_free(store);
    return rc;
}

/* -t looks at the database without changing it: a file that exists must open and carry a
 * schema this program knows (older is fine: it would be migrated at start); a missing one
 * would be created at start, so only its folder has to exist. */
static int check_store(const idd_config_t *cfg, char *err, size_t errlen)
{
    idd_store_t *store = NULL;
    int version = 0, rc = 0;
    if (access(cfg->database, F_OK) != 0) {
        char *dir = idd_xstrdup(cfg->database);
        char *slash = strrchr(dir, '/');
        if (slash != NULL)
            *slash = '\0';
        if (slash != NULL && access(dir, W_OK) != 0) {
            snprintf(err, errlen, "%s: database folder %s is missing or not writable", cfg->path,
                     dir);
            rc = IDD_EIO;
        }
        free(dir);
        return rc;
    }
    rc = idd_store_open(cfg->database, &store);
    if (rc == 0)
        rc = idd_store_schema_version(store, &version);
    if (rc != 0)
        snprintf(err, errlen, "%s: cannot read database %s", cfg->path, cfg->database);
    else if (version > idd_store_latest_version()) {
        snprintf(err, errlen,
                 "%s: database %s has schema version %d; this identityd knows up to %d", cfg->path,
                 cfg->database, version, idd_store_latest_version());
        rc = IDD_ESCHEMA;
    }
    idd_store_free(store);
    return rc;
}

/* ---- what the HTTP layer calls back ---- */

static void setup_routes(void *p, h2o_hostconf_t *hostconf)
{
    idd_router_register(hostconf, p, idd_routes, idd_routes_count, false);
}

/* metrics_listen's own host: GET /metrics alone. */
static void setup_metrics(void *p, h2o_hostconf_t *hostconf)
{
    idd_router_register(hostconf, p, idd_routes, idd_routes_count, true);
}

static int thread_init(void *p, idd_http_thread_t *http)
{
    idd_thread_t *t = NULL;
    int rc = idd_app_thread_new(p, http, &t);
    if (rc != 0)
        return rc;
    rc = idd_auth_thread_init(t);
    if (rc != 0) {
        idd_app_thread_free(t);
        return rc;
    }
    http->data = t;
    return 0;
}

static void thread_dispose(void *p, idd_http_thread_t *http)
{
    (void)p;
    idd_thread_t *t = http->data;
    idd_auth_thread_dispose(t);
    idd_app_thread_free(t);
    http->data = NULL;
}

/* Queued password checks and authority calls are handed back unrun: their loops answer 503. */
static void stopping(void *p)
{
    idd_app_t *app = p;
    idd_workers_cancel(app->workers);
    idd_workers_cancel(app->outbound);
}

static bool thread_busy(void *p, idd_http_thread_t *http)
{
    (void)p;
    return http->data != NULL && idd_auth_thread_busy(http->data);
}

/* Serves until a stop signal. Returns 0 or an IDD_E* code. */
static int serve(idd_app_t *app)
{
    const idd_config_t *cfg = app->cfg;
    idd_http_listen_t *listen = idd_xcalloc(cfg->n_listen, sizeof(*listen));
    char(*origins)[512] = idd_xcalloc(cfg->n_listen, sizeof(*origins));
    for (size_t i = 0; i < cfg->n_listen; i++) {
        snprintf(origins[i], sizeof(origins[i]), "%s:%d", cfg->path, cfg->listen[i].line);
        listen[i] = (idd_http_listen_t){cfg->listen[i].host, cfg->listen[i].port, origins[i]};
    }
    idd_http_server_t server = {
        .listen = listen,
        .n_listen = cfg->n_listen,
        .threads = cfg->threads,
        .max_body_bytes = cfg->max_body_bytes,
        .limits = {.http2 = cfg->http2,
                   .max_connections = cfg->max_connections,
                   .http2_max_resets = cfg->http2_max_resets,
                   .per_connection = cfg->queue_per_connection,
                   .per_client = cfg->queue_per_client,
                   .max_wait_ms = cfg->queue_max_wait_ms},
        .hooks = {.app = app,
                  .setup = setup_routes,
                  .setup_metrics = setup_metrics,
                  .thread_init = thread_init,
                  .thread_dispose = thread_dispose,
                  .stopping = stopping,
                  .thread_busy = thread_busy},
    };
    char metrics_origin[512];
    idd_http_listen_t metrics_listen;
    if (cfg->metrics_listen_set) {
        snprintf(metrics_origin, sizeof(metrics_origin), "%s:%d", cfg->path,
                 cfg->metrics_listen.line);
        metrics_listen =
            (idd_http_listen_t){cfg->metrics_listen.host, cfg->metrics_listen.port, metrics_origin};
        server.metrics_listen = &metrics_listen;
    }
    int rc = idd_http_run(&server);
    free(origins);
    free(listen);
    return rc;
}

/* The last API key uses, noted since thread 0's last flush, are written before exit. */
static void flush_usage(idd_app_t *app)
{
    idd_store_t *store = NULL;
    if (idd_store_open(app->cfg->database, &store) == 0)
        idd_apikey_usage_flush(app->apikey_usage, store);
    idd_store_free(store);
}

int main(int argc, char **argv)
{
    const char *config_path =
        getenv("IDENTITYD_CONFIG") ? getenv("IDENTITYD_CONFIG") : DEFAULT_CONFIG;
    int test_only = 0, opt;
    while ((opt = getopt(argc, argv, "c:th")) != -1) {
        switch (opt) {
        case 'c':
            config_path = optarg;
            break;
        case 't':
            test_only = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }

    int status = 1;
    char err[1024] = "";
    idd_app_t app;
    memset(&app, 0, sizeof(app));

    if (core_dumps_off() != 0) {
        fprintf(stderr, "cannot turn core dumps off: %s\n", strerror(errno));
        return 1;
    }
    if (idd_config_load(config_path, &app.cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        goto done;
    }
    idd_log_set_level(app.cfg->log_level);
    idd_log_set_format(app.cfg->log_format);
    if (core_dumps_settle(app.cfg) != 0) {
        fprintf(stderr, "%s: core_dumps: cannot apply: %s\n", app.cfg->path, strerror(errno));
        goto done;
    }
    if (idd_keyring_load(app.cfg, &app.keyring, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        goto done;
    }
    if (idd_oidc_new(app.cfg, app.keyring, &app.oidc, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        goto done;
    }
    if (idd_pepper_load(app.cfg->pepper_file, &app.pepper, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s:%d: password.pepper_file: %s\n", app.cfg->path,
                app.cfg->pepper_file_line, err);
        goto done;
    }
    if (test_only) {
        if (check_store(app.cfg, err, sizeof(err)) != 0) {
            fprintf(stderr, "%s\n", err);
            goto done;
        }
        printf("configuration OK\n");
        status = 0;
        goto done;
    }
    if (prepare_store(&app, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        goto done;
    }

    const idd_key_t *active = idd_keyring_active(app.keyring);
    idd_log_info("identityd starting: %d threads, %d workers, signing with %s key %s",
                 app.cfg->threads, app.cfg->workers, idd_alg_name(active->alg), active->kid);
    idd_http_block_signals();
    json_set_alloc_funcs(json_alloc, json_release);
    idd_http_global_init();
    const idd_bruteforce_limits_t limits = {
        .attempts = app.cfg->bruteforce_attempts,
        .window = app.cfg->bruteforce_window,
        .block = app.cfg->bruteforce_block,
        .client_attempts = app.cfg->bruteforce_client_attempts,
        .client_window = app.cfg->bruteforce_client_window,
        .login_attempts = app.cfg->bruteforce_login_attempts,
        .login_window = app.cfg->bruteforce_login_window,
        .ipv6_prefix = app.cfg->bruteforce_ipv6_prefix,
    };
    app.bruteforce = idd_bruteforce_new_limits((size_t)app.cfg->bruteforce_slots, &limits);
    if (app.cfg->bruteforce_unsafe_test_clock)
        idd_log_warn("bruteforce.unsafe_test_clock is on: any client can move the lockout "
                     "clock; never use this outside tests");
    if (app.bruteforce == NULL) {
        fprintf(stderr, "%s: bruteforce: cannot set up the attempt table\n", app.cfg->path);
        goto done;
    }
    app.apikey_usage = idd_apikey_usage_new();
    app.thread_metrics = idd_metrics_threads_new(app.cfg->threads);
    app.n_thread_metrics = app.cfg->threads;
    pthread_mutex_init(&app.minted_keys.lock, NULL);
    app.workers = idd_workers_new(app.cfg->workers, KDF_QUEUE_MAX);
    app.outbound = idd_workers_new(app.cfg->workers, OUTBOUND_QUEUE_MAX);
    if (serve(&app) == 0)
        status = 0;
    idd_workers_free(app.workers);
    idd_workers_free(app.outbound);
    app.workers = app.outbound = NULL;
    flush_usage(&app);
    idd_log_info("identityd stopped");

done:
    idd_workers_free(app.workers);
    idd_workers_free(app.outbound);
    idd_apikey_usage_free(app.apikey_usage);
    free(app.thread_metrics);
    idd_oidc_free(app.oidc);
    idd_bruteforce_free(app.bruteforce);
    free(app.tenants);
    idd_pepper_wipe(&app.pepper);
    idd_keyring_free(app.keyring);
    idd_config_free(app.cfg);
    return status;
}
