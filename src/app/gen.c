/*
 * Generations: what a reload swaps as a whole (app.h). A loop checks on each request whether
 * the app's generation is still its own (one atomic load); only after a reload does it take
 * the lock, hold the new one, remake its signer and let go of the old. Each request holds
 * its generation until h2o frees the request's memory, so a generation outlives every
 * request that began under it, and is freed by whichever holder lets go last.
 */
#include "identityd/app/app.h"

#include <stdlib.h>

#include "identityd/core/log.h"

idd_gen_t *idd_gen_hold(idd_gen_t *g)
{
    atomic_fetch_add_explicit(&g->refs, 1, memory_order_relaxed);
    return g;
}

void idd_gen_release(idd_gen_t *g)
{
    if (g == NULL || atomic_fetch_sub_explicit(&g->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (g->oidc != NULL && g->oidc_free != NULL)
        g->oidc_free(g->oidc);
    free(g->tenants);
    idd_keyring_free(g->keyring);
    idd_config_free(g->cfg);
    free(g);
}

void idd_app_publish(idd_app_t *app, idd_gen_t *g)
{
    pthread_mutex_lock(&app->gen_lock);
    idd_gen_t *old = atomic_load(&app->gen);
    atomic_store(&app->gen, g);
    pthread_mutex_unlock(&app->gen_lock);
    idd_gen_release(old);
}

idd_gen_t *idd_thread_gen(idd_thread_t *t)
{
    idd_app_t *app = t->app;
    /* t holds t->gen, so its address cannot be reused: equal pointers mean the same one. */
    if (atomic_load_explicit(&app->gen, memory_order_acquire) == t->gen)
        return t->gen;
    pthread_mutex_lock(&app->gen_lock);
    idd_gen_t *g = idd_gen_hold(atomic_load(&app->gen));
    pthread_mutex_unlock(&app->gen_lock);
    idd_signer_t *signer = idd_signer_new(g->keyring);
    if (signer == NULL) {
        /* Keeps serving with what works; the next request tries again. */
        idd_log_error("thread %d: cannot set up the signer of configuration %lu; staying on %lu",
                      t->index, g->id, t->gen->id);
        idd_gen_release(g);
        return t->gen;
    }
    idd_signer_free(t->signer);
    t->signer = signer;
    idd_gen_release(t->gen);
    t->gen = g;
    return g;
}

static void request_dispose(void *p)
{
    idd_request_t *r = p;
    idd_gen_release(r->gen);
}

idd_request_t *idd_request_new(h2o_req_t *req, idd_thread_t *t, idd_gen_t *gen)
{
    idd_request_t *r = h2o_mem_alloc_shared(&req->pool, sizeof(*r), request_dispose);
    memset(r, 0, sizeof(*r));
    r->req = req;
    r->thread = t;
    r->app = t->app;
    r->gen = idd_gen_hold(gen);
    return r;
}

idd_signer_t *idd_request_signer(idd_request_t *r, bool *owned)
{
    *owned = r->gen != r->thread->gen;
    if (!*owned)
        return r->thread->signer;
    return idd_signer_new(r->gen->keyring);
}
