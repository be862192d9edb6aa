/*
 * GET /health: liveness and readiness in one. It answers 200 when a database connection can
 * read the schema version, else 503, so an orchestrator restarts or drains an instance whose
 * storage is gone.
 *
 * GET /metrics: the process's counters in the Prometheus text format. Counts only, nothing
 * about any user or credential; still, expose the port to the monitoring network only.
 *
 * The database probe of /health and /readyz goes through idd_store_read, like a credential
 * cache miss: inline on the loop's handle with SQLite; on the store pool with PostgreSQL, so
 * that a probe never makes the loop wait on the network, a pool thread whose connection is
 * lost answers at once (its backoff, store/pg.c and auth/storeread.c), and a full pool
 * answers 503 too.
 */
#include "identityd/api/api.h"
#include "identityd/auth/auth.h"
#include "identityd/auth/storeread.h"
#include "identityd/core/buf.h"
#include "identityd/core/pacer.h"
#include "identityd/http/respond.h"
#include "identityd/http/server.h"

#include <stdio.h>
#include <stdlib.h>

static int probe_load(idd_store_t *store, void *arg)
{
    return idd_store_schema_version(store, arg);
}

static void health_probed(idd_request_t *r, void *arg, int rc)
{
    (void)arg;
    if (rc != 0) {
        idd_respond_error(r->req, 503, "Database unavailable");
        return;
    }
    static const char ok[] = "{\"status\":\"ok\"}";
    idd_respond_json(r->req, 200, ok, sizeof(ok) - 1);
}

void idd_api_health(idd_request_t *r, idd_principal_t *p)
{
    (void)p;
    idd_store_read(r, probe_load, health_probed, idd_xcalloc(1, sizeof(int)), free);
}

/* GET /healthz: liveness. The process answers, so it is alive; nothing else is looked at,
 * so that an orchestrator never restarts an instance for a fault a restart cannot mend. */
void idd_api_healthz(idd_request_t *r, idd_principal_t *p)
{
    (void)p;
    static const char ok[] = "{\"status\":\"ok\"}";
    idd_respond_json(r->req, 200, ok, sizeof(ok) - 1);
}

static void readyz_probed(idd_request_t *r, void *arg, int rc)
{
    (void)arg;
    const bool database = rc == 0;
    const bool key = idd_keyring_active(r->gen->keyring) != NULL;
    const bool serving = !idd_http_stopping();
    const bool ready = database && key && serving;
    char body[256];
    int n = snprintf(body, sizeof(body),
                     "{\"status\":\"%s\",\"checks\":{\"database\":\"%s\",\"signing_key\":\"%s\","
                     "\"draining\":\"%s\"}}",
                     ready ? "ok" : "fail", database ? "ok" : "fail", key ? "ok" : "fail",
                     serving ? "ok" : "fail");
    idd_respond_json(r->req, ready ? 200 : 503, body, (size_t)n);
}

/* GET /readyz: readiness, whether to send this instance traffic. Three checks, each named in
 * the body: a database connection answers a trivial query (with PostgreSQL: a store pool
 * thread's, so 503 while the server cannot be reached, and 200 again once a pool thread has
 * reconnected), an active signing key is loaded, and the server is not draining after a stop
 * signal. 200 when all pass, else 503 naming the failed ones; 503 with the error envelope
 * when the store pool refused the probe (full or stopping). */
void idd_api_readyz(idd_request_t *r, idd_principal_t *p)
{
    (void)p;
    idd_store_read(r, probe_load, readyz_probed, idd_xcalloc(1, sizeof(int)), free);
}

static void metric(idd_buf_t *b, const char *name, const char *type, const char *help,
                   unsigned long value)
{
    idd_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s %lu\n", name, help, name, type, name, value);
}

void idd_api_metrics(idd_request_t *r, idd_principal_t *p)
{
    (void)p;
    idd_app_t *app = r->app;
    idd_buf_t b;
    idd_buf_init(&b);
    metric(&b, "identityd_auth_failures_total", "counter",
           "Requests refused with 401 for a missing or invalid credential.",
           atomic_load(&app->auth_failures));
    metric(&b, "identityd_signins_blocked_total", "counter",
           "Sign-ins refused with 403 by the brute-force protection.",
           atomic_load(&app->signins_blocked));
    metric(&b, "identityd_bruteforce_counters_merged_total", "counter",
           "Brute-force counters read from the database and merged into this instance's table "
           "(failures other instances, and this one, counted).",
           atomic_load(&app->bf_merged));
    idd_buf_printf(&b,
                   "# HELP identityd_password_kdf_iterations_total PBKDF2 rounds run to check "
                   "passwords, decoys for unknown users included.\n"
                   "# TYPE identityd_password_kdf_iterations_total counter\n"
                   "identityd_password_kdf_iterations_total %llu\n",
                   (unsigned long long)atomic_load(&app->kdf_iterations));
    idd_buf_printf(&b,
                   "# HELP identityd_password_kdf_paced_seconds_total Seconds password checks "
                   "waited for their CPU budget while the event loops were busy.\n"
                   "# TYPE identityd_password_kdf_paced_seconds_total counter\n"
                   "identityd_password_kdf_paced_seconds_total %.3f\n",
                   idd_pacer_slept(app->kdf_pacer));
    metric(&b, "identityd_apikey_uses_noted_total", "counter",
           "API key uses noted for the once-a-minute last-use write (one per key, event loop "
           "and minute).",
           idd_apikey_usage_notes(app->apikey_usage));
    metric(&b, "identityd_password_kdf_shared_total", "counter",
           "Password checks answered by the KDF of a concurrent check of the same credential.",
           atomic_load(&app->kdf_shared));
    metric(&b, "identityd_password_kdf_waiting", "gauge",
           "Password checks waiting for the KDF of a concurrent check of the same credential.",
           (unsigned long)atomic_load(&app->kdf_waiting));
    idd_buf_printf(&b,
                   "# HELP identityd_sessions_live Active, unexpired sign-in sessions, as of the "
                   "last pruning run.\n"
                   "# TYPE identityd_sessions_live gauge\n"
                   "identityd_sessions_live %lld\n"
                   "# HELP identityd_apikeys API keys stored, of any state, as of the last "
                   "pruning run.\n"
                   "# TYPE identityd_apikeys gauge\n"
                   "identityd_apikeys %lld\n",
                   (long long)atomic_load(&app->sessions_live),
                   (long long)atomic_load(&app->apikeys_stored));
    idd_buf_puts(&b, "# HELP identityd_rows_pruned_total Rows the pruner deleted: sessions that "
                     "ended or expired, API keys that expired.\n"
                     "# TYPE identityd_rows_pruned_total counter\n");
    idd_buf_printf(&b, "identityd_rows_pruned_total{table=\"sessions\"} %lu\n",
                   atomic_load(&app->sessions_pruned));
    idd_buf_printf(&b, "identityd_rows_pruned_total{table=\"apikeys\"} %lu\n",
                   atomic_load(&app->apikeys_pruned));
    metric(&b, "identityd_sessions_capped_total", "counter",
           "Sessions ended because their user signed in beyond sessions.max_per_user.",
           atomic_load(&app->sessions_capped));
    idd_buf_puts(&b, "# HELP identityd_worker_jobs Jobs queued or running in a worker pool.\n"
                     "# TYPE identityd_worker_jobs gauge\n");
    idd_buf_printf(&b, "identityd_worker_jobs{pool=\"kdf\"} %d\n",
                   idd_workers_pending(app->workers));
    idd_buf_printf(&b, "identityd_worker_jobs{pool=\"outbound\"} %d\n",
                   idd_workers_pending(app->outbound));
    if (app->storepool != NULL)
        idd_buf_printf(&b, "identityd_worker_jobs{pool=\"db\"} %d\n",
                       idd_workers_pending(app->storepool));
    idd_buf_puts(&b, "# HELP identityd_worker_running Jobs a worker thread is running now.\n"
                     "# TYPE identityd_worker_running gauge\n");
    idd_buf_printf(&b, "identityd_worker_running{pool=\"kdf\"} %d\n",
                   idd_workers_running(app->workers));
    idd_buf_printf(&b, "identityd_worker_running{pool=\"outbound\"} %d\n",
                   idd_workers_running(app->outbound));
    if (app->storepool != NULL)
        idd_buf_printf(&b, "identityd_worker_running{pool=\"db\"} %d\n",
                       idd_workers_running(app->storepool));
    static const char *const outcomes[IDD_JOBS_NCOUNTS] = {"run", "dropped", "expired", "full",
                                                           "capped"};
    idd_buf_puts(&b,
                 "# HELP identityd_worker_jobs_total Jobs offered to a worker pool, by outcome: "
                 "run; dropped unrun (client gone); expired (503 after queue.max_wait_ms); "
                 "full (503, queue full); capped (503, queue.per_connection or per_client).\n"
                 "# TYPE identityd_worker_jobs_total counter\n");
    for (int i = 0; i < IDD_JOBS_NCOUNTS; i++) {
        idd_buf_printf(&b, "identityd_worker_jobs_total{pool=\"kdf\",outcome=\"%s\"} %lu\n",
                       outcomes[i], idd_workers_count(app->workers, (idd_jobs_count_t)i));
        idd_buf_printf(&b, "identityd_worker_jobs_total{pool=\"outbound\",outcome=\"%s\"} %lu\n",
                       outcomes[i], idd_workers_count(app->outbound, (idd_jobs_count_t)i));
        if (app->storepool != NULL)
            idd_buf_printf(&b, "identityd_worker_jobs_total{pool=\"db\",outcome=\"%s\"} %lu\n",
                           outcomes[i], idd_workers_count(app->storepool, (idd_jobs_count_t)i));
    }
    idd_http_stats_t hs;
    idd_http_stats(&hs);
    metric(&b, "identityd_connections", "gauge", "Client connections open.", hs.connections);
    metric(&b, "identityd_connections_refused_total", "counter",
           "Connections closed at once: max_connections reached.", hs.refused);
    metric(&b, "identityd_accept_pauses_total", "counter",
           "Pauses of a listener because accept found no descriptor (or memory).",
           hs.accept_pauses);
    metric(&b, "identityd_http2_reset_closes_total", "counter",
           "HTTP/2 connections closed for abandoning more than http2_max_resets requests.",
           hs.http2_reset_drops);
    idd_api_metrics_write(app, r->gen, &b);
    h2o_req_t *req = r->req;
    req->res.status = 200;
    req->res.reason = "OK";
    req->res.content_length = b.len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("text/plain; version=0.0.4; charset=utf-8"));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                   H2O_STRLIT("no-store"));
    h2o_send_inline(req, b.data, b.len);
    idd_buf_dispose(&b);
}
