/*
 * What the three parts of the OAuth2/OpenID support share: the authority object (set-up,
 * discovery and JWKS caches: oidc_authority.c), introspection and its verdict cache
 * (oidc_introspect.c), and the check of one Bearer token (oidc.c). Everything here is
 * guarded by idd_oidc.lock unless it says otherwise.
 */
#ifndef IDENTITYD_AUTH_OIDC_INTERNAL_H
#define IDENTITYD_AUTH_OIDC_INTERNAL_H

#include <jansson.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "identityd/auth/auth.h"
#include "identityd/core/httpclient.h"
#include "identityd/jose/jwks.h"

#define CACHE_SLOTS 4096 /* introspection results kept */

/* Who the authority says the token belongs to, and what it may do. */
typedef struct identity {
    char sub[129];
    char email[IDD_EMAIL_MAX + 1];
    bool email_verified;
    char scopes[256]; /* mapped onto identityd's scopes */
    int64_t exp;      /* the token's expiry (JWTs; 0 when not known) */
} identity_t;

typedef struct jwks_snapshot {
    int refs; /* under idd_oidc.lock */
    idd_jwks_t set;
} jwks_snapshot_t;

typedef enum { SLOT_EMPTY = 0, SLOT_PENDING, SLOT_DONE } slot_state_t;

typedef struct cache_slot {
    unsigned char key[SHA256_DIGEST_LENGTH];
    slot_state_t state;
    bool active;
    int64_t expires_ms;
    identity_t who;
} cache_slot_t;

struct idd_oidc {
    const idd_oidc_config_t *cfg;
    const idd_keyring_t *keyring;
    char *client_secret; /* secret: wiped at free */
    idd_http_options_t http;
    pthread_mutex_t lock;
    pthread_cond_t changed; /* a pending fetch or introspection finished */
    /* discovery */
    char *issuer, *jwks_uri, *introspection_endpoint;
    int64_t discovery_expires_ms;
    int64_t discovery_attempt_ms;
    bool discovery_fetching;
    /* keys */
    jwks_snapshot_t *jwks;
    int64_t jwks_expires_ms;
    int64_t jwks_attempt_ms; /* last fetch attempt, for jwks.min_refresh */
    bool jwks_fetching;
    /* introspection results */
    cache_slot_t *cache;
    /* for /metrics: lookups of the key set and of introspection verdicts (lock-free) */
    atomic_ulong jwks_hits, jwks_misses, verdict_hits, verdict_misses;
};

/* ---- the authority (oidc_authority.c) ---- */

/* True while a cache entry that expires at expires_ms (monotonic) is still good. */
bool idd_oidc_fresh(int64_t expires_ms);

/* What a discovery document names, once it passed its checks (strings malloc'd). */
typedef struct idd_oidc_discovery {
    char *issuer;                 /* the issuer's exact text, as tokens must carry it */
    char *jwks_uri;               /* always present */
    char *introspection_endpoint; /* NULL when the authority publishes none */
} idd_oidc_discovery_t;

/* Reads a discovery document, the body [body, body + len) that the authority answered for
 * {authority}/.well-known/openid-configuration: JSON naming the authority as its issuer
 * (one trailing slash aside) and a jwks_uri; it and any introspection_endpoint must be
 * https:// (or http:// with allow_http, as for the authority). Returns 0 with *out filled (give it
 * back with idd_oidc_discovery_dispose), or IDD_ECONFIG with *out empty and why in err. Pure: no
 * I/O, no lock, no log; any thread. */
int idd_oidc_discovery_parse(const char *authority, bool allow_http, const char *body, size_t len,
                             idd_oidc_discovery_t *out, char *err, size_t errlen);
void idd_oidc_discovery_dispose(idd_oidc_discovery_t *d);

/* Makes sure the discovery document is known. Returns 0, or IDD_EIO (unreachable, nothing
 * cached) / IDD_ECONFIG (the document contradicts the configuration). Called unlocked, on
 * a worker: it may fetch. */
int idd_oidc_ensure_discovery(idd_oidc_t *o);

/* Fetches the JWKS when it is missing or stale, or when force is set (an unknown kid) and
 * jwks.min_refresh has passed since the last attempt. A failed fetch keeps the last good
 * set. Returns 0, or IDD_EIO when no key set is available at all. Worker only. */
int idd_oidc_ensure_jwks(idd_oidc_t *o, bool force);

/* A reference to the current key set (NULL when none, or when need_fresh and it is stale);
 * give it back with idd_oidc_snapshot_release (or _locked, holding the lock). */
jwks_snapshot_t *idd_oidc_snapshot_get(idd_oidc_t *o, bool need_fresh);
void idd_oidc_snapshot_release(idd_oidc_t *o, jwks_snapshot_t *s);
void idd_oidc_snapshot_release_locked(jwks_snapshot_t *s);

/* ---- introspection (oidc_introspect.c) ---- */

/* The cache key of a verdict: a SHA-256 over the audiences and the token. Returns false
 * when hashing failed (logged): then nothing is cached. */
bool idd_oidc_verdict_key(const char *token, size_t len, const char *const *audiences, size_t n_aud,
                          unsigned char key[SHA256_DIGEST_LENGTH]);

/* A cached verdict for key: returns 1 with *active and *who set, or 0. Holding the lock. */
int idd_oidc_verdict_lookup_locked(idd_oidc_t *o, const unsigned char key[SHA256_DIGEST_LENGTH],
                                   bool *active, identity_t *who);

/* What an introspection answer decides. */
typedef enum {
    IDD_INTROSPECTION_ACTIVE,      /* the token is accepted */
    IDD_INTROSPECTION_INACTIVE,    /* not active, or one of its claims does not hold */
    IDD_INTROSPECTION_JWT_REFUSED, /* 400 unsupported_token_type for a JWT: the configuration
                                      asks for what the authority will not do */
    IDD_INTROSPECTION_UNREADABLE,  /* no 200 with a JSON object: the authority could not say */
} idd_introspection_verdict_t;

/* Where an introspection answer is judged: the issuer (from discovery) and the audiences
 * the token must name, the time, and the configuration's clock_skew, cache_ttl and
 * negative_ttl. */
typedef struct idd_introspection_rules {
    const idd_oidc_config_t *cfg;
    const char *issuer;
    const char *const *audiences;
    size_t n_aud;
    int64_t now; /* seconds since the epoch */
    bool is_jwt; /* the token asked about is a JWT */
} idd_introspection_rules_t;

/* Reads the authority's answer (HTTP status and body [body, body + len)) to an RFC 7662
 * introspection request: ACTIVE only for a 200 JSON object whose "active" is true and whose
 * exp, nbf, iss and aud, where present, hold (then *who names the token's owner). Sets
 * *cache_for_ms to how long the verdict may be kept (0 or less: not at all). *who is
 * cleared unless ACTIVE. Pure: no I/O, no lock, no log; any thread. */
idd_introspection_verdict_t idd_oidc_introspection_read(const idd_introspection_rules_t *rules,
                                                        long status, const char *body, size_t len,
                                                        identity_t *who, int64_t *cache_for_ms);

/* Asks the authority whether token is active (or answers from the cache; concurrent callers
 * for one token wait for one call). OK with *who filled, DENY, or ERROR when the authority
 * could not say. Worker only. */
idd_auth_result_t idd_oidc_introspect(idd_oidc_t *o, const char *token, size_t len, bool is_jwt,
                                      const char *const *audiences, size_t n_aud, identity_t *who);

/* ---- the check (oidc.c) ---- */

/* Who the claims (of a JWT, or of an introspection answer) name, and their scopes mapped
 * onto identityd's. */
void idd_oidc_identity_from(json_t *claims, identity_t *who);

#endif
