/*
 * Each event loop's own state: a database connection and a signer, made on the main thread
 * before the loop starts and freed after it stops.
 */
#include "identityd/app/app.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "identityd/core/common.h"
#include "identityd/core/log.h"

int idd_app_thread_new(idd_app_t *app, idd_http_thread_t *http, idd_thread_t **out)
{
    idd_thread_t *t = idd_xcalloc(1, sizeof(*t));
    *out = NULL;
    t->http = http;
    t->app = app;
    t->index = http->index;
    pthread_mutex_lock(&app->gen_lock);
    t->gen = idd_gen_hold(atomic_load(&app->gen));
    pthread_mutex_unlock(&app->gen_lock);
    const idd_config_t *cfg = t->gen->cfg;
    if (t->index < app->n_thread_metrics)
        t->metrics = &app->thread_metrics[t->index];
    if (RAND_bytes((unsigned char *)&t->request_id_base, sizeof(t->request_id_base)) != 1)
        t->request_id_base =
            (uint64_t)idd_monotonic_ms() * 0x9e3779b97f4a7c15u + (uint64_t)t->index;
    int rc = idd_store_open_secret(cfg->database, cfg->database_password_file, &t->store);
    if (rc != 0) {
        idd_log_error("thread %d: cannot open database %s: %s", t->index, cfg->database,
                      idd_strerror(rc));
        idd_app_thread_free(t);
        return IDD_ESTORE;
    }
    t->signer = idd_signer_new(t->gen->keyring);
    if (t->signer == NULL) {
        idd_log_error("thread %d: cannot set up the signer", t->index);
        idd_app_thread_free(t);
        return IDD_ECRYPTO;
    }
    *out = t;
    return 0;
}

void idd_app_thread_free(idd_thread_t *t)
{
    if (t == NULL)
        return;
    idd_signer_free(t->signer);
    idd_store_free(t->store);
    idd_gen_release(t->gen);
    free(t);
}

void idd_request_note_auth(idd_request_t *r, int scheme, idd_metrics_outcome_t outcome,
                           const char *user_id)
{
    r->metrics_scheme = scheme;
    if (r->thread->metrics != NULL && scheme >= 0 && scheme < IDD_MSCHEMES)
        idd_metrics_add(&r->thread->metrics->auth[scheme][outcome], 1);
    if (user_id != NULL) { /* on every authenticated request: a bounded copy, no printf */
        size_t n = strnlen(user_id, sizeof(r->user_id) - 1);
        memcpy(r->user_id, user_id, n);
        r->user_id[n] = '\0';
    }
}
