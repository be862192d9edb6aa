/*
 * The pruner: keeps the sessions and API keys tables from growing without end. Sessions
 * that ended (logout, revocation, a newer sign-in over sessions.max_per_user) or expired can
 * never work again, and no listing shows them; nor can an expired API key. Keys that are
 * only inactive stay, since GET /api/2.0/keys and `identityctl apikey list` show them (and a
 * deactivated one may come back).
 *
 * It runs on thread 0's loop (the timer is in auth/auth.c), never on a request: each table
 * gets one DELETE of at most prune.batch rows, its own short write transaction, so the
 * write lock other threads wait for is held briefly whatever the backlog. The counts for
 * /metrics are taken here too, so a scrape costs no query.
 */
#include "identityd/app/app.h"

#include "identityd/core/common.h"
#include "identityd/core/log.h"

bool idd_app_prune(idd_app_t *app, idd_store_t *store, int batch)
{
    int64_t now = idd_now();
    int sessions = 0, keys = 0;
    int64_t live = 0, stored = 0;

    int rc = idd_store_session_prune(store, now, batch, &sessions);
    if (rc != 0)
        idd_log_error("prune: sessions: %s", idd_strerror(rc));
    rc = idd_store_apikey_prune(store, now, batch, &keys);
    if (rc != 0)
        idd_log_error("prune: API keys: %s", idd_strerror(rc));
    int counters = 0;
    rc = idd_store_bruteforce_prune(store, now * 1000, batch, &counters);
    if (rc != 0)
        idd_log_error("prune: brute-force counters: %s", idd_strerror(rc));
    atomic_fetch_add(&app->sessions_pruned, (unsigned long)sessions);
    atomic_fetch_add(&app->apikeys_pruned, (unsigned long)keys);
    if (sessions > 0 || keys > 0)
        idd_log_debug("prune: deleted %d sessions and %d API keys", sessions, keys);
    rc = idd_store_counts(store, now, &live, &stored);
    if (rc == 0) {
        atomic_store(&app->sessions_live, (long long)live);
        atomic_store(&app->apikeys_stored, (long long)stored);
    } else {
        idd_log_error("prune: counting rows: %s", idd_strerror(rc));
    }
    return sessions >= batch || keys >= batch || counters >= batch;
}
