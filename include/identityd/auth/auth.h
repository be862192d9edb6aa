/*
 * Authentication: classify the credential a request carries (DocSpace's dispatch plus the
 * ApiKeyBearer header), hand it to one scheme module, and turn the outcome into a principal
 * or a 401/403. Only auth.c answers 401 and 403 for failed authentication.
 *
 * Schemes answer IDD_AUTH_OK (a principal), IDD_AUTH_DENY (a credential was presented and
 * is not valid), IDD_AUTH_DECLINE (nothing for this scheme: try the next or anonymous) or
 * IDD_AUTH_ERROR (the check itself failed).
 * A scheme may finish later (after worker-pool work); it reports through the completion it
 * was given, on the request's own loop, at most once: when the worker pool refuses the work
 * (queue full, shutdown) or cancels it at shutdown, the request has been answered 503 and the
 * completion never runs; nor does it when the client has gone meanwhile.
 */
#ifndef IDENTITYD_AUTH_H
#define IDENTITYD_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "identityd/app/app.h"
#include "identityd/store/store.h"

typedef enum {
    IDD_AUTH_OK = 0,  /* principal established */
    IDD_AUTH_DENY,    /* a credential was presented and is not valid: 401 */
    IDD_AUTH_DECLINE, /* no credential for this scheme */
    IDD_AUTH_ERROR,   /* the check could not be made (database down): 503 */
    IDD_AUTH_BLOCKED, /* brute-force block on (login, client IP): 403, r->retry_after set */
} idd_auth_result_t;

/* Credential kinds, in the order of the classification table in README.md. */
typedef enum {
    IDD_CRED_NONE = 0, /* nothing: anonymous */
    IDD_CRED_BASIC,    /* Authorization: Basic … */
    IDD_CRED_APIKEY,   /* Authorization: Bearer sk-… or ApiKeyBearer: sk-… */
    IDD_CRED_JWT,      /* Authorization: Bearer <three base64url segments> */
    IDD_CRED_SESSION,  /* Bearer <other>, a raw Authorization value, or cookie asc_auth_key */
    IDD_CRED_CONFIRM,  /* a confirm key of a half-done two-factor sign-in (auth/tfa.h) */
} idd_cred_kind_t;

/* The classified credential: kind and the bytes to check (not NUL-terminated; borrowed from
 * the request's headers). */
typedef struct idd_credential {
    idd_cred_kind_t kind;
    h2o_iovec_t value; /* Basic: the base64 part; others: the token */
    bool from_cookie;  /* session taken from the asc_auth_key cookie */
} idd_credential_t;

/* Classifies raw header values (each may be NULL/0 when absent). Pure function, unit-tested
 * against the dispatch table. cookie_value is asc_auth_key's value when present. */
idd_credential_t idd_auth_classify(const char *authorization, size_t authorization_len,
                                   const char *apikey_header, size_t apikey_len,
                                   const char *cookie_value, size_t cookie_len);

/* Scope names used across the API. */
#define IDD_SCOPE_ALL_WRITE "*:write"
#define IDD_SCOPE_ALL_READ "*:read"
#define IDD_SCOPE_ANY "" /* authentication needed, no particular scope */

/* Who a request runs as. */
typedef struct idd_principal {
    idd_user_t user; /* the password record is wiped before handlers see it */
    idd_cred_kind_t via;
    int64_t session_id;               /* the login event when via is IDD_CRED_SESSION, else 0 */
    char apikey_id[IDD_GUID_LEN + 1]; /* the key when via is IDD_CRED_APIKEY, else "" */
    char scopes[256];                 /* space-separated scopes, e.g. "*:write" */
    const char *confirm;              /* IDD_CRED_CONFIRM: the confirm type; NULL otherwise */
} idd_principal_t;

/* Returns true when the principal's scopes grant scope ("X:write" implies "X:read",
 * "*:…" covers every resource, "X:…" covers "X.sub:…", e.g. accounts.self). */
bool idd_scopes_allow(const char *scopes, const char *scope);

/* What a route asks of authentication (the route table in api/routes.c). */
typedef enum {
    IDD_AUTH_NONE = 0, /* not consulted: the handler gets no principal */
    IDD_AUTH_OPTIONAL, /* the principal when the request carries a valid credential, else NULL */
    IDD_AUTH_REQUIRED, /* a principal whose scopes grant the route's scope, else 401/403 */
    IDD_AUTH_CONFIRM,  /* a two-factor confirm key of a type the route's scope names (tfa.h) */
} idd_auth_policy_t;

/* A route's handler, or what runs after authentication: called on the request's loop with
 * the principal (pool memory), or NULL as the policy allows. */
typedef void (*idd_auth_next_fn)(idd_request_t *r, idd_principal_t *principal);

/* Authenticates r as policy asks and then calls next. REQUIRED: next runs only when the
 * principal's scopes grant need_scope (IDD_SCOPE_ANY: any authenticated principal);
 * otherwise this answers itself: 401 (no or bad credential, with WWW-Authenticate, deleting
 * the session cookie when that was the credential), 403 (scope too narrow, or a brute-force
 * block with Retry-After) or 503. OPTIONAL: next gets NULL when the request carries no valid
 * credential (an invalid session cookie is deleted in the response); only a failed check
 * (503) is answered here. NONE: next(r, NULL) at once. May complete after this returns
 * (worker-pool work). The router is its only caller. */
void idd_auth_run(idd_request_t *r, idd_auth_policy_t policy, const char *need_scope,
                  idd_auth_next_fn next);

/* Counts a scheme's result for /metrics and notes it (and the user, on success) for the
 * access line. auth.c does so for every credential it checks; a handler that checks one
 * itself (the sign-in) calls it. */
void idd_auth_note(idd_request_t *r, idd_metrics_scheme_t scheme, idd_auth_result_t result,
                   const idd_principal_t *principal);

/* Answers the failure of a sign-in attempt made with idd_auth_signin by an API handler:
 * 401 with message (DENY), 403 with Retry-After (BLOCKED) or 503 (ERROR). */
void idd_auth_respond_failure(idd_request_t *r, idd_auth_result_t result, const char *message);

/* ---- scheme modules (auth/<scheme>.c) ---- */

/* Completion a scheme calls exactly once. */
typedef void (*idd_auth_done_fn)(idd_request_t *r, idd_auth_result_t result,
                                 idd_principal_t *principal);

/* Basic: base64(email:password), decoded and handed to idd_auth_signin. */
void idd_auth_basic(idd_request_t *r, h2o_iovec_t credential, idd_auth_done_fn done);

/* A login and a secret to check against the store (auth/signin.c). */
typedef struct idd_signin {
    const char *login;    /* the email, NUL-terminated */
    const char *password; /* the plain password (len below), or NULL */
    size_t password_len;
    const char *client_hash; /* or DocSpace's client hash, 64 lowercase hex; NULL otherwise */
    bool remember;           /* Basic: consult and fill the thread's verified-credential cache */
    idd_cred_kind_t via;     /* how the principal authenticated */
} idd_signin_t;

/* Checks a sign-in: refuses a pair under brute-force block (BLOCKED) before anything else;
 * looks the user up; verifies the password (KDF on the worker pool) or the client hash (one
 * HMAC, inline); an unknown user costs the same work as a wrong secret. Failures count
 * towards the block, a success clears it. A user who is disabled or must change the
 * password is denied. The strings in `in` are copied before this returns. */
void idd_auth_signin(idd_request_t *r, const idd_signin_t *in, idd_auth_done_fn done);

/* API keys (auth/apikey.c): an active, unexpired key of this tenant whose creator is an
 * active user; the principal is the creator with the key's scopes. A use is noted for the
 * coalesced last_used write, never written on the request path. */
void idd_auth_apikey(idd_request_t *r, h2o_iovec_t key, idd_auth_done_fn done);

/* External OAuth2/OpenID access tokens (auth/oidc.c). The authority's discovery document,
 * JWKS and introspection results are cached process-wide; fetching happens on the worker
 * pool, and the request resumes on its loop. */
typedef struct idd_oidc idd_oidc_t;

/* Sets up the oidc: section of cfg (reads the introspection client secret). Returns 0 with
 * *out set (NULL when the section is absent), or IDD_ECONFIG/IDD_EIO with a message in err.
 * Nothing is fetched here: the authority may be down when identityd starts. */
int idd_oidc_new(const idd_config_t *cfg, const idd_keyring_t *keyring, idd_oidc_t **out, char *err,
                 size_t errlen);
void idd_oidc_free(idd_oidc_t *o);

/* Lookups of the authority's key set and of introspection verdicts, for /metrics: a hit
 * needed no fetch, a miss went to the authority (or would have). All 0 for NULL. */
typedef struct idd_oidc_cache_stats {
    unsigned long jwks_hits, jwks_misses;
    unsigned long introspection_hits, introspection_misses;
} idd_oidc_cache_stats_t;
void idd_oidc_cache_stats(idd_oidc_t *o, idd_oidc_cache_stats_t *out);

/* A Bearer JWT: verified against the authority's JWKS (RFC 8725 rules), then introspected
 * when oidc.introspection.jwt is on. DENY without an oidc section. */
void idd_auth_jwt(idd_request_t *r, h2o_iovec_t token, idd_auth_done_fn done);

/* An opaque bearer token: accepted only through introspection. DENY without an oidc
 * section or with introspection off. */
void idd_auth_introspect(idd_request_t *r, h2o_iovec_t token, idd_auth_done_fn done);

/* Pending last_used times of API keys, shared by the threads and written in batches. */
typedef struct idd_apikey_usage idd_apikey_usage_t;
idd_apikey_usage_t *idd_apikey_usage_new(void);
void idd_apikey_usage_free(idd_apikey_usage_t *u);
/* Writes what is pending (at most one row update per key) through store. Returns 0 or the
 * store's error (then the uses are kept for the next flush). */
int idd_apikey_usage_flush(idd_apikey_usage_t *u, idd_store_t *store);
/* Uses noted in the shared table so far: at most one per key, loop and minute. */
unsigned long idd_apikey_usage_notes(idd_apikey_usage_t *u);

/* Session tokens (auth/session.c): 32 random bytes as 43 base64url characters. */
#define IDD_SESSION_TOKEN_LEN 43

/* Checks a session token against the store: an active, unexpired login event of this
 * tenant whose user is active and whose auth_version is unchanged. A token that is not a
 * session of ours at all is DECLINEd (it may be an authority's opaque token); one of ours
 * that no longer works is DENYed. */
void idd_auth_session(idd_request_t *r, h2o_iovec_t token, idd_auth_done_fn done);

/* What idd_session_start tells its caller, on the request's loop: rc is 0 or an IDD_E*
 * code; on success token (NUL-terminated, wiped once done returns) and expires (the
 * expiry). browser and user_id repeat what the caller gave; ctx is the caller's. */
typedef struct idd_session_started {
    int rc;
    const char *token;
    int64_t expires;
    bool browser;
    const char *user_id;
    void *ctx;
} idd_session_started_t;
typedef void (*idd_session_started_fn)(idd_request_t *r, const idd_session_started_t *s);

/* Starts a session for user: a fresh token whose digest goes into a new login event with the
 * client's address and user agent. browser: the session:true sign-in (session.browser_ttl
 * instead of session.ttl). The row is written through idd_store_read (auth/storeread.h): on
 * the loop for SQLite, on the store pool for PostgreSQL; done then runs on r's loop, unless
 * the request went away meanwhile or the pool refused the work (then r has been answered
 * 503). ctx is memory that lives as long as the request (e.g. its pool), read only by done. */
void idd_session_start(idd_request_t *r, const idd_user_t *user, bool browser,
                       idd_session_started_fn done, void *ctx);

/* Authentication's own state in each event loop: the cache of verified Basic credentials
 * (keyed digest -> user id and auth_version), the timer on which sign-ins to a login over
 * its brute-force budget wait (and how many wait), and, on thread 0, the timer that writes
 * the coalesced API key uses once a minute and the pruner's timer (app/prune.c): every
 * prune.interval seconds, or a second after a run that found a full batch (and after start). */
typedef struct idd_auth_thread {
    struct idd_basic_cache *basic_cache;
    idd_thread_t *thread;
    h2o_timeout_t flush_timeout; /* thread 0 only */
    h2o_timeout_entry_t flush_entry;
    h2o_timeout_t delay_timeout; /* bruteforce.login_delay_ms, when > 0 */
    int delay_ms;
    size_t delay_waiting;     /* sign-ins linked on delay_timeout */
    size_t delay_max_waiting; /* bruteforce.login_delay_waiting */
    int fail_fd;              /* timerfd on which failed sign-ins are answered (signin.c) */
    h2o_socket_t *fail_sock;
    h2o_linklist_t fail_pending; /* failed sign-ins waiting for their answer, by deadline */
    h2o_timeout_t prune_timeout; /* thread 0 only: prune.interval */
    h2o_timeout_t prune_soon;    /* thread 0 only: one second */
    h2o_timeout_entry_t prune_entry;
    h2o_timeout_t changes_timeout; /* cache.check_interval_ms: the credential cache's check */
    h2o_timeout_entry_t changes_entry;
    h2o_timeout_t bfshare_timeout; /* thread 0 only: cache.check_interval_ms, the counters' sync */
    h2o_timeout_entry_t bfshare_entry;
} idd_auth_thread_t;

/* Made on the main thread before t's loop runs, freed after it stopped (while the loop
 * still exists). Returns 0 or an IDD_E* code. */
int idd_auth_thread_init(idd_thread_t *t);
void idd_auth_thread_dispose(idd_thread_t *t);

/* True while requests of t wait on authentication's own timers (a hot login's delay, a
 * failed sign-in's tick): at shutdown the loop runs until they are answered. */
bool idd_auth_thread_busy(idd_thread_t *t);

/* The part of it that sign-in checking keeps (signin.c): the timer on which failures are
 * answered. */
int idd_signin_thread_init(idd_auth_thread_t *a, h2o_loop_t *loop);
void idd_signin_thread_dispose(idd_auth_thread_t *a);

struct idd_basic_cache *idd_basic_cache_new(size_t slots);
void idd_basic_cache_free(struct idd_basic_cache *cache);

#endif
