/*
 * Brute-force counters shared by every identityd on one database.
 *
 * Each process judges sign-ins by its own table (core/bruteforce.h), which answers without a
 * round trip. To make a guess through one instance count at all of them, each failure's
 * three counters are also added in the store (idd_bfshare_fail, written off the request like
 * the other writes nobody waits for), and thread 0 reads a few times a second the counters
 * that moved and merges them into the local table (idd_bfshare_sync). The table's hash key
 * comes from the store, so every instance names a counter alike. A guess made through one
 * instance is therefore counted by the others within one sync interval
 * (cache.check_interval_ms) plus a write; in that interval each instance still holds a pair
 * to its own `attempts`.
 */
#ifndef IDENTITYD_BFSHARE_H
#define IDENTITYD_BFSHARE_H

#include <stdint.h>

#include "identityd/app/app.h"
#include "identityd/core/bruteforce.h"
#include "identityd/store/store.h"

/* At start: draws a key, stores it unless another process stored one first, and gives the
 * table the key every process uses. Returns 0 or an IDD_E* code. */
int idd_bfshare_start(idd_app_t *app, idd_store_t *store);

/* Adds a failure counted locally under key at now_ms (the table's clock) to the store. */
void idd_bfshare_fail(idd_app_t *app, idd_store_t *loop_store, const idd_bruteforce_key_t *key,
                      int64_t now_ms);

/* Merges the counters other processes moved since the last sync (thread 0's timer). */
void idd_bfshare_sync(idd_app_t *app, idd_store_t *loop_store);

#endif
