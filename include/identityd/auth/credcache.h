/*
 * The credential cache: what authenticating a session, an API key or a Basic credential
 * reads from the store, kept for every event loop so that a warm request makes no store
 * lookup. It sits above the store interface and knows no engine: a lookup it saves is a
 * SQLite read transaction today and may be a network round trip tomorrow.
 *
 * Fixed memory: `cache.entries` entries made at start, in 64 shards of 4-way sets, each
 * shard under its own small mutex (no global lock on a request's path). A full set gives up
 * its stalest entry, then its oldest. Entries are found by the 32-byte keyed digest identityd
 * already computes for the credential (cred/digest.h), compared in constant time; they hold
 * no secret: the digest, the session or key fields authentication checks, and the user row
 * without its password record. A tenant's two-factor settings sit in a small table of their
 * own, by tenant id.
 *
 * Invalidation is by epoch (store.h, idd_store_epoch): an entry carries the epoch loaded
 * before the store read that filled it, and is ignored once the epoch has moved on. Every
 * write of this process that can end or narrow a credential moves it at once (store.h's
 * wrappers); writes by other processes are seen by idd_credcache_check, which each loop runs
 * every `cache.check_interval_ms` and which moves the epoch when the store's change version
 * moved.
 */
#ifndef IDENTITYD_AUTH_CREDCACHE_H
#define IDENTITYD_AUTH_CREDCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "identityd/store/store.h"

#define IDD_CREDCACHE_KEY_LEN 32
#define IDD_CREDCACHE_SCOPES_MAX 256 /* idd_principal_t.scopes */

typedef enum {
    IDD_CC_SESSION = 0, /* by the session token's digest */
    IDD_CC_APIKEY,      /* by the API key's digest */
    IDD_CC_BASIC,       /* by a verified Basic credential's key (auth/signin.c): its user */
    IDD_CC_TENANT_TFA,  /* by tenant id: its two-factor settings */
    IDD_CC_JWT,         /* by an external JWT verified for a tenant (auth/oidc.c): its user */
    IDD_CC_KINDS
} idd_cc_kind_t;

/* A user row without its password record. */
typedef struct idd_cc_user {
    char id[IDD_GUID_LEN + 1];
    int64_t tenant_id;
    char email[IDD_EMAIL_MAX + 1];
    char first_name[IDD_NAME_MAX + 1];
    char last_name[IDD_NAME_MAX + 1];
    idd_role_t role;
    idd_user_status_t status;
    int64_t auth_version;
    int password_change_required;
    int64_t created;
    int64_t updated;
} idd_cc_user_t;

/* What one credential's authentication needs. */
typedef struct idd_cc_cred {
    int64_t tenant_id;
    int64_t expires;      /* Unix seconds; 0: never (API keys) */
    int active;           /* sessions and keys: 0 once ended */
    int64_t session_id;   /* sessions */
    int64_t last_seen;    /* sessions: for the coalesced touch */
    int64_t auth_version; /* sessions: the user's when signed in */
    char apikey_id[IDD_GUID_LEN + 1];
    char scopes[IDD_CREDCACHE_SCOPES_MAX]; /* API keys, JWTs: the scopes the credential gives */
    idd_cc_user_t user;
} idd_cc_cred_t;

typedef struct idd_credcache idd_credcache_t;

/* A cache of at least `entries` entries (rounded up to fill the shards). */
idd_credcache_t *idd_credcache_new(size_t entries);
void idd_credcache_free(idd_credcache_t *c);
/* Entries it holds, and bytes it took at start. */
size_t idd_credcache_entries(const idd_credcache_t *c);
size_t idd_credcache_bytes(const idd_credcache_t *c);

/* Copies the entry of (kind, key) into out and returns true when it is there and was
 * filled in the current epoch. */
bool idd_credcache_get(idd_credcache_t *c, idd_cc_kind_t kind,
                       const unsigned char key[IDD_CREDCACHE_KEY_LEN], idd_cc_cred_t *out);
/* Stores in under (kind, key), tagged with epoch: idd_store_epoch() as the caller loaded it
 * before the store read that gave in. An epoch already past is not stored. */
void idd_credcache_put(idd_credcache_t *c, idd_cc_kind_t kind,
                       const unsigned char key[IDD_CREDCACHE_KEY_LEN], const idd_cc_cred_t *in,
                       unsigned long epoch);
/* Records a session's last_seen in its entry, if still there. */
void idd_credcache_seen(idd_credcache_t *c, const unsigned char key[IDD_CREDCACHE_KEY_LEN],
                        int64_t last_seen);

bool idd_credcache_tenant_tfa_get(idd_credcache_t *c, int64_t tenant_id, idd_tenant_tfa_t *out);
void idd_credcache_tenant_tfa_put(idd_credcache_t *c, const idd_tenant_tfa_t *in,
                                  unsigned long epoch);

void idd_cc_user_from(idd_cc_user_t *out, const idd_user_t *in);
/* The row back, with an empty password record. */
void idd_cc_user_to(idd_user_t *out, const idd_cc_user_t *in);

/* One change check: reads the store's change version and, when it moved since any loop's
 * last check, moves the epoch. When the read fails, the epoch moves and nothing is cached
 * (puts are ignored) until a check succeeds again. Loop timers call it every
 * cache.check_interval_ms. */
int idd_credcache_check(idd_credcache_t *c, idd_store_t *store);

/* For /metrics: the change checks run, and the last change version seen (-1 before). */
unsigned long idd_credcache_checks(const idd_credcache_t *c);
int64_t idd_credcache_version(const idd_credcache_t *c);

#endif
