/* Store reads on the loop or on the store pool (include/identityd/auth/storeread.h). */
#include "identityd/auth/storeread.h"

#include <pthread.h>
#include <stdlib.h>

#include "identityd/core/backoff.h"
#include "identityd/core/common.h"
#include "identityd/core/log.h"
#include "identityd/core/workers.h"
#include "identityd/http/server.h"

/* This pool thread's connection: opened on first use, and again after a failure once the
 * backoff allows (core/backoff.h: 100 ms doubling to 5 s); meanwhile its reads fail at once
 * (503) instead of each waiting for a connection attempt. A connection that breaks later
 * keeps its handle: the engine resets it, with the same backoff (store/pg.c). */
typedef struct pool_conn {
    idd_store_t *store;
    idd_backoff_t retry;
} pool_conn_t;

static pthread_key_t conn_key;
static pthread_once_t conn_once = PTHREAD_ONCE_INIT;

static void conn_free(void *p)
{
    pool_conn_t *c = p;
    idd_store_free(c->store);
    free(c);
}

static void conn_init(void)
{
    (void)pthread_key_create(&conn_key, conn_free);
}

/* This pool thread's connection, opened when it has none and the backoff allows. */
static idd_store_t *pool_store(const idd_app_t *app)
{
    pthread_once(&conn_once, conn_init);
    pool_conn_t *c = pthread_getspecific(conn_key);
    if (c == NULL) {
        c = idd_xcalloc(1, sizeof(*c));
        if (pthread_setspecific(conn_key, c) != 0) {
            free(c);
            return NULL;
        }
    }
    if (c->store != NULL)
        return c->store;
    int64_t now = idd_monotonic_ms();
    if (!idd_backoff_ready(&c->retry, now))
        return NULL;
    if (idd_store_open_secret(app->database, app->database_password_file, &c->store) != 0) {
        c->store = NULL;
        (void)idd_backoff_failed(&c->retry, idd_monotonic_ms(),
                                 (uint32_t)(uintptr_t)c ^ (uint32_t)now);
        return NULL;
    }
    idd_backoff_reset(&c->retry);
    return c->store;
}

typedef struct read_job {
    const idd_app_t *app;
    idd_store_load_fn load;
    idd_store_resume_fn resume;
    void (*release)(void *arg);
    void *arg;
    int rc;
} read_job_t;

static void read_work(void *arg)
{
    read_job_t *j = arg;
    idd_store_t *s = pool_store(j->app);
    j->rc = s != NULL ? j->load(s, j->arg) : IDD_EBUSY;
}

static void read_resume(void *owner, void *arg)
{
    read_job_t *j = arg;
    j->resume(owner, j->arg, j->rc);
}

static void read_release(void *arg)
{
    read_job_t *j = arg;
    if (j->release != NULL)
        j->release(j->arg);
    free(j);
}

typedef struct write_job {
    idd_job_t job; /* first: the pool hands this back */
    idd_app_t *app;
    idd_store_load_fn write;
    void (*release)(void *arg);
    void *arg;
    const char *what;
} write_job_t;

static void write_run(idd_job_t *job)
{
    write_job_t *w = (write_job_t *)job;
    idd_store_t *s = pool_store(w->app);
    int rc = s != NULL ? w->write(s, w->arg) : IDD_EBUSY;
    if (rc != 0 && rc != IDD_ENOTFOUND)
        idd_log_warn_limited("store: %s: %s", w->what, idd_strerror(rc));
}

static void write_done(idd_job_t *job)
{
    write_job_t *w = (write_job_t *)job;
    if (w->release != NULL)
        w->release(w->arg);
    free(w);
}

void idd_store_later(idd_app_t *app, idd_store_t *loop_store, idd_store_load_fn work, void *arg,
                     void (*release)(void *arg), const char *what)
{
    if (!idd_store_read_offloaded(app)) {
        /* Inline, on the loop: commits that need not wait for the disk (store.h). */
        (void)idd_store_set_lazy(loop_store, 1);
        int rc = work(loop_store, arg);
        (void)idd_store_set_lazy(loop_store, 0);
        if (rc != 0 && rc != IDD_ENOTFOUND)
            idd_log_warn_limited("store: %s: %s", what, idd_strerror(rc));
        if (release != NULL)
            release(arg);
        return;
    }
    write_job_t *w = idd_xcalloc(1, sizeof(*w));
    w->job.run = write_run;
    w->job.done = write_done;
    w->app = app;
    w->write = work;
    w->release = release;
    w->arg = arg;
    w->what = what;
    if (idd_workers_submit(app->storepool, &w->job) != 0) {
        idd_log_warn_limited("store: %s: the store pool is full or stopping; skipped", what);
        write_done(&w->job);
    }
}

bool idd_store_read_offloaded(const idd_app_t *app)
{
    return app->storepool != NULL;
}

void idd_store_read(idd_request_t *r, idd_store_load_fn load, idd_store_resume_fn resume, void *arg,
                    void (*release)(void *arg))
{
    if (!idd_store_read_offloaded(r->app)) {
        resume(r, arg, load(r->thread->store, arg));
        if (release != NULL)
            release(arg);
        return;
    }
    read_job_t *j = idd_xcalloc(1, sizeof(*j));
    *j = (read_job_t){r->app, load, resume, release, arg, 0};
    idd_http_offload(r->req, r->client_ip, r->app->storepool, r, j, read_work, read_resume,
                     read_release);
}
