/*
 * Store reads for a request, without making an event loop wait on the network.
 *
 * With SQLite the store is a local file: a point lookup takes microseconds and runs inline
 * on the loop with the loop's own handle. With a networked engine (PostgreSQL) a lookup is
 * a round trip, and a slow or lost server would stall every request of the loop; there the
 * read runs on the store pool (threads `identityd-db`, each with a connection of its own,
 * opened on first use and again after a failure) and the request resumes on its loop when
 * the row is back. Every store call a request makes goes this way: a cache miss's reads,
 * and a handler's own reads and writes (a load may write; its resume answers); a warm
 * request reads nothing.
 */
#ifndef IDENTITYD_STOREREAD_H
#define IDENTITYD_STOREREAD_H

#include <stdbool.h>

#include "identityd/app/app.h"
#include "identityd/store/store.h"

/* load(store, arg) reads (and may write) into arg and returns 0 or an IDD_E* code; it may
 * run on another thread, after the request is gone: it reads only what arg copied, never
 * the request's memory, and whatever it formats with that a generation owns (a tenant's time
 * zone, the keyring) is held by arg (idd_gen_hold, released by release). resume(r, arg, rc) then
 * runs on r's loop with load's result (IDD_EBUSY when no connection could be had), and
 * release(arg) last, always (also when the request went away or the pool refused the job,
 * in which case r has been answered 503). arg is heap memory owned by release. */
typedef int (*idd_store_load_fn)(idd_store_t *store, void *arg);
typedef void (*idd_store_resume_fn)(idd_request_t *r, void *arg, int rc);
void idd_store_read(idd_request_t *r, idd_store_load_fn load, idd_store_resume_fn resume, void *arg,
                    void (*release)(void *arg));

/* Store work nobody waits for (a session's coalesced last use, the credential cache's change
 * check, the pruner): run inline with loop_store (the calling loop's handle) for SQLite,
 * else queued on the store pool, where it is dropped when the queue is full (it comes again:
 * the next use, check or pruning). A failure of work is logged, unless it returns
 * IDD_ENOTFOUND; release(arg) runs last, always. */
void idd_store_later(idd_app_t *app, idd_store_t *loop_store, idd_store_load_fn work, void *arg,
                     void (*release)(void *arg), const char *what);

/* Whether reads go to the store pool: the configured database is not a local file. */
bool idd_store_read_offloaded(const idd_app_t *app);

#endif
