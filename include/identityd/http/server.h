/*
 * The HTTP front end: process-wide state (idd_app_t), one event loop per thread
 * (idd_thread_t) and the per-request context every handler and auth scheme receives
 * (idd_request_t). h2o types appear here and in http/, api/ and auth/, never in store/ or
 * token/.
 */
#ifndef IDENTITYD_SERVER_H
#define IDENTITYD_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/socket.h>

#include <h2o.h>

#include "identityd/config/config.h"
#include "identityd/token/keyring.h"
#include "identityd/cred/password.h"
#include "identityd/token/signer.h"
#include "identityd/store/store.h"
#include "identityd/core/workers.h"

struct idd_basic_cache;
struct idd_principal;
struct idd_bruteforce;
struct idd_apikey_usage;
struct idd_oidc;

/* Everything shared by the threads. Read-only once the threads run, except the counters. */
typedef struct idd_app {
    idd_config_t *cfg;
    idd_keyring_t *keyring;
    idd_pepper_t pepper;             /* secret; wiped at exit */
    idd_tenant_t *tenants;           /* the store's row for each cfg->tenants[i] (salts) */
    idd_workers_t *workers;          /* password KDF */
    idd_workers_t *outbound;         /* calls to the OAuth2/OpenID authority */
    struct idd_bruteforce *bruteforce; /* failed sign-ins, shared by all threads */
    struct idd_apikey_usage *apikey_usage; /* API key uses not yet written */
    struct idd_oidc *oidc;           /* the external authority; NULL without an oidc section */
    h2o_globalconf_t h2o;
    atomic_bool stopping;
    atomic_ulong tokens_minted;      /* counters served by GET /metrics */
    atomic_ulong auth_failures;      /* 401s for a missing or invalid credential */
    atomic_ulong signins_blocked;    /* 403s from brute-force blocks */
    atomic_ullong kdf_iterations;    /* PBKDF2 rounds run for password checks (decoys included) */
} idd_app_t;

/* One event loop. h2o_context_t comes first so a handler finds its thread from req->conn->ctx. */
typedef struct idd_thread {
    h2o_context_t ctx;
    idd_app_t *app;
    int index;
    h2o_accept_ctx_t accept_ctx;
    h2o_socket_t **listeners;        /* this thread's SO_REUSEPORT sockets */
    size_t n_listeners;
    idd_store_t *store;              /* this thread's own database connection */
    idd_signer_t *signer;            /* this thread's own signing contexts */
    struct idd_basic_cache *basic_cache; /* verified Basic credentials, this thread only */
    h2o_multithread_receiver_t offload_receiver; /* results of worker jobs */
    h2o_multithread_receiver_t stop_receiver;
    h2o_timeout_t flush_timeout;     /* thread 0: writes coalesced usage once a minute */
    h2o_timeout_entry_t flush_entry;
    int offloads_in_flight;
    bool stop;
    pthread_t tid;
} idd_thread_t;

/* What a route captured from the path: "{name}" segments, in order. */
#define IDD_ROUTE_MAX_PARAMS 2

/* A request in flight, allocated from req->pool. */
typedef struct idd_request {
    h2o_req_t *req;
    idd_thread_t *thread;
    idd_app_t *app;
    const idd_tenant_config_t *tenant; /* resolved from the host, NULL before resolution */
    const idd_tenant_t *tenant_row;
    h2o_iovec_t scheme;              /* "http" or "https" as the client saw it */
    h2o_iovec_t host;                /* authority as the client saw it ("host[:port]"), lowercase */
    h2o_iovec_t tenant_url;          /* scheme://host, or the accepted ?origin= */
    struct sockaddr_storage peer;    /* socket peer */
    char client_ip[46];              /* the client: the peer, or from X-Forwarded-For (trusted) */
    bool https;                      /* the client's connection was TLS (directly or at a proxy) */
    h2o_iovec_t params[IDD_ROUTE_MAX_PARAMS];
    size_t n_params;
    /* Authentication in progress (auth.c): what the handler needs and where to go next. */
    const char *auth_need_scope;     /* NULL: authentication is optional */
    void (*auth_next)(struct idd_request *r, struct idd_principal *principal);
    int auth_kind;                   /* idd_cred_kind_t of the credential being checked */
    bool auth_from_cookie;           /* the credential was the asc_auth_key cookie */
    h2o_iovec_t auth_token;          /* a session-or-opaque token being checked */
    int retry_after;                 /* seconds, when a brute-force block refused the request */
    void *handler_data;              /* the handler's own state across asynchronous steps */
} idd_request_t;

/* The thread a request runs on. */
static inline idd_thread_t *idd_thread_of(h2o_req_t *req)
{
    return (idd_thread_t *)req->conn->ctx;
}

/* The pools a request may hand work to. They are separate so that a flood of made-up
 * bearer tokens, each needing a call to the authority, can never starve password checks. */
typedef enum { IDD_POOL_KDF = 0, IDD_POOL_OUTBOUND } idd_pool_t;

/* Runs work(arg) on the given worker pool and then resume(r, arg) back on r's own event loop.
 * release(arg) is always called last, on the loop, whether resume ran or the client had
 * gone away meanwhile (then resume is skipped). arg must be heap memory owned by the
 * caller's release, not pool memory. When the pool refuses the job (shutdown, or its queue
 * is full), the request gets 503 and release runs at once. */
void idd_http_offload(idd_request_t *r, idd_pool_t pool, void *arg, void (*work)(void *arg),
                      void (*resume)(idd_request_t *r, void *arg), void (*release)(void *arg));

/* Blocks SIGINT and SIGTERM in the calling thread, and so in every thread it starts later,
 * and ignores SIGPIPE. Call before starting any thread (the worker pool included): a thread
 * started earlier could take a second SIGTERM and end the process mid-shutdown. */
void idd_server_block_signals(void);

/* Builds the h2o configuration, binds every listener for every thread (so a bad address
 * fails at start), starts the threads and serves until SIGINT or SIGTERM (blocked first
 * with idd_server_block_signals); then stops
 * accepting, lets in-flight requests finish and joins the threads. Returns 0 or an IDD_E*
 * code (bind failures are logged). */
int idd_server_run(idd_app_t *app);

#endif
