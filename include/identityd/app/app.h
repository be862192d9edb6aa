/*
 * The running service: what every thread shares (idd_app_t), what each event loop owns
 * besides its h2o context (idd_thread_t), and the context of one request in flight
 * (idd_request_t), which the router fills before authentication and the handler run.
 */
#ifndef IDENTITYD_APP_APP_H
#define IDENTITYD_APP_APP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/socket.h>

#include <h2o.h>

#include "identityd/app/metrics.h"
#include "identityd/config/config.h"
#include "identityd/core/workers.h"
#include "identityd/cred/password.h"
#include "identityd/http/server.h"
#include "identityd/store/store.h"
#include "identityd/token/keyring.h"
#include "identityd/token/signer.h"

struct idd_bruteforce;
struct idd_apikey_usage;
struct idd_credcache;
struct idd_oidc;
typedef struct idd_web idd_web_t;
struct idd_auth_thread;
struct idd_principal;

/* One generation of what a reload replaces as a whole: the configuration, the keyring made
 * from it, the tenants' rows and the external authority. Immutable once published; freed
 * when the last holder lets go. The app holds the current one; each loop holds the one it
 * serves with (idd_thread_t.gen); each request holds the one it started under, to its end,
 * so that a reload never changes the keys or settings under a request in flight. */
typedef struct idd_gen {
    atomic_long refs;
    unsigned long id; /* 1 at start, then one more per reload */
    idd_config_t *cfg;
    idd_keyring_t *keyring;
    idd_tenant_t *tenants;                /* the store's row for each cfg->tenants[i] (salts) */
    struct idd_oidc *oidc;                /* the external authority; NULL without an oidc section */
    void (*oidc_free)(struct idd_oidc *); /* how to free it (auth/ owns the type) */
} idd_gen_t;

/* Shared by every thread. Read-only once the loops run, except the current generation (under
 * gen_lock), the counters and the tables that lock themselves (brute-force, API key uses,
 * the authority's caches, worker queues). */
typedef struct idd_app {
    /* The current generation. Loops compare it without the lock; whoever takes a hold on
     * it, or replaces it, does so under gen_lock, so that it cannot be freed in between. */
    _Atomic(idd_gen_t *) gen;
    pthread_mutex_t gen_lock;
    idd_pepper_t pepper;         /* secret; wiped at exit */
    idd_web_t *web;              /* the sign-in page's files (api/web.c); NULL when not installed */
    idd_workers_t *workers;      /* password KDF */
    struct idd_pacer *kdf_pacer; /* the KDF's CPU budget while the loops are busy */
    idd_workers_t *outbound;     /* calls to the OAuth2/OpenID authority */
    /* Store reads off the loops (auth/storeread.h): only for a networked database, NULL for
     * SQLite; the pool's threads open their own connections to database. */
    idd_workers_t *storepool;
    const char *database;                  /* the configured location, as idd_store_open takes it */
    const char *database_password_file;    /* NULL: none */
    struct idd_bruteforce *bruteforce;     /* failed sign-ins */
    struct idd_attempts *tfa_attempts;     /* two-factor codes tried, per user (auth/tfa.c) */
    struct idd_apikey_usage *apikey_usage; /* API key uses not yet written */
    struct idd_credcache *credcache;       /* credentials every loop shares (auth/credcache.h) */
    atomic_ulong reloads;                  /* SIGHUP reloads published */
    atomic_ulong reload_failures; /* SIGHUP reloads refused: the old configuration serves on */
    atomic_ulong tokens_minted;   /* counters served by GET /metrics */
    atomic_ulong auth_failures;   /* 401s for a missing or invalid credential */
    atomic_ulong signins_blocked; /* 403s from brute-force blocks */
    /* Brute-force counters shared through the store (auth/bfshare.c): where the next sync
     * reads from (Unix epoch ms), whether one is under way, and what the syncs merged. */
    atomic_llong bf_since_ms;
    atomic_bool bf_syncing;
    atomic_ulong bf_merged;
    atomic_ullong kdf_iterations; /* PBKDF2 rounds run for password checks (decoys included) */
    /* Password checks that took the KDF of a concurrent check of the same credential
     * (auth/signin.c's single flight), and how many wait for one now. */
    atomic_ulong kdf_shared;
    atomic_long kdf_waiting;
    /* Written by the pruner (idd_app_prune, thread 0), read by GET /metrics. The two gauges
     * are as of its last run (0 until the first, a second after start). */
    atomic_llong sessions_live;   /* active, unexpired sessions */
    atomic_llong apikeys_stored;  /* API keys of any state */
    atomic_ulong sessions_pruned; /* ended or expired sessions deleted */
    atomic_ulong apikeys_pruned;  /* expired API keys deleted */
    atomic_ulong sessions_capped; /* sessions ended by sessions.max_per_user */
    /* Per-loop counters (app/metrics.h), summed by GET /metrics; the keys tokens were
     * signed with. */
    idd_thread_metrics_t *thread_metrics; /* n_thread_metrics blocks, one per loop */
    int n_thread_metrics;
    idd_metrics_keys_t minted_keys;
} idd_app_t;

/* What one event loop owns: its own database connection and signing contexts, so the token
 * path takes no lock for either. */
typedef struct idd_thread {
    idd_http_thread_t *http;
    idd_app_t *app;
    int index;
    idd_store_t *store;
    idd_gen_t *gen;                /* the generation this loop serves new requests with (held) */
    idd_signer_t *signer;          /* for gen's active key */
    struct idd_auth_thread *auth;  /* authentication's own per-thread state (auth.h) */
    idd_thread_metrics_t *metrics; /* this loop's block of app->thread_metrics */
    uint64_t request_id_base;      /* random: fresh request ids are base + a count */
    uint64_t request_id_count;
} idd_thread_t;

/* The thread a request runs on. */
static inline idd_thread_t *idd_thread_of(h2o_req_t *req)
{
    return (idd_thread_t *)idd_http_thread_of(req)->data;
}

/* Takes one more hold on g and returns it. */
idd_gen_t *idd_gen_hold(idd_gen_t *g);

/* Lets go of a hold on g; the last one frees it and all it owns. NULL is a no-op. */
void idd_gen_release(idd_gen_t *g);

/* Makes g the current generation (the app takes over the caller's hold) and lets go of the
 * one it replaces; loops move to it before their next request. Main thread only. */
void idd_app_publish(idd_app_t *app, idd_gen_t *g);

/* The generation t serves with, after moving t to the current one if a reload published a
 * new one (then t's signer is remade; if that fails, t stays where it was and says so). Loop
 * thread only; one atomic load when nothing changed. */
idd_gen_t *idd_thread_gen(idd_thread_t *t);

/* Makes a loop's state: opens its database connection and signer. Returns 0 with *out set,
 * or IDD_ESTORE / IDD_ECRYPTO (logged). */
int idd_app_thread_new(idd_app_t *app, idd_http_thread_t *http, idd_thread_t **out);
void idd_app_thread_free(idd_thread_t *t);

/* One run of the pruner: deletes at most batch ended or expired sessions and as
 * many expired API keys through store, each in its own short transaction, adds them to the
 * counters and refreshes the gauges. Returns true when either table gave a full batch, so
 * more may be waiting. Runs on thread 0's loop (auth/auth.c); logs a store failure. */
bool idd_app_prune(idd_app_t *app, idd_store_t *store, int batch);

/* What a route captured from the path: "{name}" segments, in order. */
#define IDD_ROUTE_MAX_PARAMS 2

/* A request in flight, allocated from req->pool. */
typedef struct idd_request {
    h2o_req_t *req;
    idd_thread_t *thread;
    idd_app_t *app;
    idd_gen_t *gen;                    /* held until the request's memory is freed */
    const idd_tenant_config_t *tenant; /* resolved from the host; NULL on routes without one */
    const idd_tenant_t *tenant_row;
    h2o_iovec_t scheme;           /* "http" or "https" as the client saw it */
    h2o_iovec_t host;             /* authority as the client saw it ("host[:port]"), lowercase */
    h2o_iovec_t origin;           /* scheme://host */
    h2o_iovec_t tenant_url;       /* origin, or the accepted ?origin= */
    struct sockaddr_storage peer; /* socket peer */
    char client_ip[46];           /* the client: the peer, or from X-Forwarded-For (trusted) */
    bool https;                   /* the client's connection was TLS (directly or at a proxy) */
    h2o_iovec_t params[IDD_ROUTE_MAX_PARAMS];
    size_t n_params;
    /* Authentication in progress (auth/auth.c). */
    const char *auth_need_scope; /* NULL: authentication is optional */
    void (*auth_next)(struct idd_request *r, struct idd_principal *p); /* the handler after it */
    int auth_kind;          /* idd_cred_kind_t of the credential being checked */
    bool auth_from_cookie;  /* the credential was the asc_auth_key cookie */
    h2o_iovec_t auth_token; /* a session-or-opaque token being checked */
    int retry_after;        /* seconds, when a brute-force block refused the request */
    void *handler_data;     /* the handler's own state across asynchronous steps */
    /* For /metrics and the access line (api/router.c), kept from the router's first look. */
    int64_t started_ns;             /* monotonic, when the router saw the request */
    int route_slot;                 /* IDD_METRICS_ROUTE_OTHER or 1 + the route's index */
    h2o_iovec_t request_id;         /* the client's X-Request-Id when sane, else a fresh one */
    int metrics_scheme;             /* idd_metrics_scheme_t of the credential checked, or -1 */
    char user_id[IDD_GUID_LEN + 1]; /* the authenticated user, or "" */
    bool auth_expired;              /* the credential was refused for having expired */
} idd_request_t;

/* Makes the context of a request in h2o's pool, holding gen until the pool is freed. */
idd_request_t *idd_request_new(h2o_req_t *req, idd_thread_t *t, idd_gen_t *gen);

/* A signer for r's generation: the loop's own (*owned false) or, for a request that began
 * before its loop moved to a newer generation, one made for it (*owned true: the caller
 * frees it). NULL when OpenSSL cannot set one up. */
idd_signer_t *idd_request_signer(idd_request_t *r, bool *owned);

/* Notes what authentication made of r's credential, for /metrics and the access line:
 * scheme (idd_metrics_scheme_t) and outcome; user_id (may be NULL) is copied. */
void idd_request_note_auth(idd_request_t *r, int scheme, idd_metrics_outcome_t outcome,
                           const char *user_id);

/* Resolves r's client address, scheme, host, origin and, when the host names one, tenant
 * and tenant_url (Host or :authority, X-Forwarded-* from trusted proxies, ?origin=).
 * Returns 0 (r->tenant NULL for an unknown host), or sends 400 and returns -1. */
int idd_request_resolve(idd_request_t *r);

/* Copies path parameter i into out, lowercased, when it has the length of a GUID; returns
 * false otherwise (the caller answers 404: no row has such an id). */
bool idd_request_guid_param(const idd_request_t *r, size_t i, char out[IDD_GUID_LEN + 1]);

#endif
