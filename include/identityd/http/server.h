/*
 * The HTTP front end: one h2o event loop per thread, each with its own SO_REUSEPORT
 * listening sockets, and the way a request hands slow work to a worker pool and resumes
 * on its own loop. This layer knows h2o and core only: what a thread keeps besides its loop
 * (database connection, signer, caches) is the application's, made and freed through the
 * hooks below, and the application installs its own h2o handler.
 */
#ifndef IDENTITYD_HTTP_SERVER_H
#define IDENTITYD_HTTP_SERVER_H

#include <stdbool.h>

#include <h2o.h>

#include "identityd/core/workers.h"

/* What a TLS listener serves: read from the files at start and at each
 * idd_http_tls_reload. */
typedef struct idd_http_tls {
    const char *cert_file;   /* PEM: the certificate, then any intermediates */
    const char *key_file;    /* PEM private key, a secret file (core/secretfile.h rules) */
    int min_version;         /* IDD_HTTP_TLS_1_2 or IDD_HTTP_TLS_1_3 */
    const char *cert_origin; /* "FILE:LINE" of the cert_file key, for error messages */
    const char *key_origin;  /* "FILE:LINE" of the key_file key */
} idd_http_tls_t;

enum { IDD_HTTP_TLS_1_2 = 0, IDD_HTTP_TLS_1_3 = 1 };

/* An address to listen on. */
typedef struct idd_http_listen {
    const char *host;          /* numeric IPv4 or IPv6 address */
    unsigned port;             /* 0: the kernel picks one, the same for every thread */
    const char *origin;        /* where it was configured ("FILE:LINE"), for error messages */
    const idd_http_tls_t *tls; /* NULL: cleartext HTTP */
} idd_http_listen_t;

/* One event loop. h2o_context_t comes first, so a handler finds its thread from
 * req->conn->ctx (idd_http_thread_of). */
typedef struct idd_http_thread {
    h2o_context_t ctx;
    int index;  /* 0 .. threads-1 */
    void *data; /* the application's state for this thread (set by hooks.thread_init) */
} idd_http_thread_t;

static inline idd_http_thread_t *idd_http_thread_of(h2o_req_t *req)
{
    return (idd_http_thread_t *)req->conn->ctx;
}

typedef struct idd_http_hooks {
    void *app; /* passed back to every hook */
    /* Installs the application's handlers on the one host configuration. */
    void (*setup)(void *app, h2o_hostconf_t *hostconf);
    /* With a metrics listener: installs the handlers of its own host configuration, the only
     * one its connections reach. */
    void (*setup_metrics)(void *app, h2o_hostconf_t *hostconf);
    /* Makes t->data, on the main thread before the loop runs (timers go on t->ctx.loop).
     * Returns 0, or an IDD_E* code that stops the start. */
    int (*thread_init)(void *app, idd_http_thread_t *t);
    /* Frees t->data after the loop has stopped, while t->ctx.loop still exists. */
    void (*thread_dispose)(void *app, idd_http_thread_t *t);
    /* Called once on the main thread when a stop signal arrives, before the loops are told
     * to stop: the place to refuse new work (cancel worker pools). Returns how long, in ms,
     * requests in flight may still take (the drain); 0: none. */
    int (*stopping)(void *app);
    /* While stopping, whether requests on t still wait on the application's own timers:
     * the loop keeps running until they are answered. */
    bool (*thread_busy)(void *app, idd_http_thread_t *t);
    /* Called on the main thread for each SIGHUP while the loops serve; NULL ignores it. */
    void (*reload)(void *app);
    /* Called on the main thread once the loops serve, then again each time no signal came
     * for the milliseconds it last returned; -1 waits for signals only. NULL: never. */
    int (*idle)(void *app);
    /* Called once on the main thread when every listener is bound and every thread's state
     * is made, before any loop serves: the place to drop privileges. May be NULL. Returns 0,
     * or an IDD_E* code that stops the start (the hook has logged why). */
    int (*bound)(void *app);
} idd_http_hooks_t;

/* What a hostile client may hold (see README, "Queues, connections and what the HTTP library
 * does not defend"). */
typedef struct idd_http_limits {
    bool http2;           /* h2c, by prior knowledge or Upgrade; false: HTTP/1.1 only */
    int max_connections;  /* per thread; a connection beyond it is closed at once; 0: none */
    int http2_max_resets; /* streams one HTTP/2 connection may abandon with work pending */
    int per_connection;   /* jobs queued or running for one connection */
    int per_client;       /* jobs queued or running for one client address (IPv6: its /64) */
    int max_wait_ms;      /* a job not taken by a worker by then is answered 503 */
} idd_http_limits_t;

typedef struct idd_http_server {
    const idd_http_listen_t *listen;
    size_t n_listen;
    const idd_http_listen_t *metrics_listen; /* NULL, or the address /metrics has alone */
    int threads;
    size_t max_body_bytes; /* h2o buffers at most about this much of a body */
    idd_http_limits_t limits;
    idd_http_hooks_t hooks;
} idd_http_server_t;

/* Connection counters for /metrics, summed over the loops. */
typedef struct idd_http_stats {
    unsigned long connections;       /* open now */
    unsigned long refused;           /* closed at accept: max_connections reached */
    unsigned long accept_pauses;     /* accept failed for want of descriptors or memory */
    unsigned long http2_reset_drops; /* HTTP/2 connections closed for abandoning streams */
} idd_http_stats_t;

void idd_http_stats(idd_http_stats_t *out);

/* CPU time (ns) the event loop threads have used so far, read from their thread CPU clocks;
 * 0 while no server runs. For the KDF's pacer, from any thread. */
int64_t idd_http_loops_cpu_ns(void);

/* Blocks SIGINT and SIGTERM in the calling thread, and so in every thread it starts later,
 * and ignores SIGPIPE. Call before starting any thread (the worker pools included): a thread
 * started earlier could take a second SIGTERM and end the process mid-shutdown. */
void idd_http_block_signals(void);

/* Builds the h2o configuration, binds every listener for every thread (so a bad address
 * fails at start), starts the threads and serves until SIGINT or SIGTERM (blocked first
 * with idd_http_block_signals); then stops accepting at once, lets in-flight requests finish
 * within the drain hooks.stopping gives, and joins the threads. Returns 0, an IDD_E* code
 * (bind failures are logged), or IDD_HTTP_ABANDONED when the drain ended with requests still
 * in flight (logged with their number): the loops and worker jobs are then still running,
 * and the caller must end the process (_exit) without freeing anything they use. */
#define IDD_HTTP_ABANDONED 1
int idd_http_run(const idd_http_server_t *server);

/* True once a stop signal has arrived. */
bool idd_http_stopping(void);

/* Whether req came on a TLS connection to identityd itself (not a TLS-terminating proxy). */
static inline bool idd_http_is_tls(h2o_req_t *req)
{
    h2o_socket_t *sock = req->conn->callbacks->get_socket != NULL
                             ? req->conn->callbacks->get_socket(req->conn)
                             : NULL;
    return sock != NULL && sock->ssl != NULL;
}

/* ---- TLS ----
 * Each TLS listener has one SSL_CTX that h2o makes every connection from, for the whole run,
 * and a current one holding the certificate, key and minimum version: each handshake
 * switches to the current one when the client's hello arrives. A reload swaps the current
 * ones; connections already made keep theirs (OpenSSL counts references) and the old
 * context goes with its last connection. Session tickets are off (no ticket keys to
 * manage); sessions resume from a bounded cache per listener, emptied by a reload. */

/* Builds (and drops) the contexts every TLS listener of listen would serve, so that `-t` and
 * the start refuse bad files: unreadable or missing files, a key file others may read, a
 * key that does not match the certificate. Returns 0, or IDD_ECONFIG with err
 * "FILE:LINE: ..." naming the key at fault. http2 says whether ALPN offers h2. */
int idd_http_tls_check(const idd_http_listen_t *listen, size_t n, bool http2, char *err,
                       size_t errlen);

/* While idd_http_run serves (from any thread, typically the main thread on a reload
 * signal): reads the files of every TLS listener of listen anew and makes them the ones new
 * handshakes use; connections already made are untouched. listen must name the same
 * addresses, in the same order and with TLS on the same ones, as the running server's (a
 * change of listeners needs a restart). On any error nothing changes and IDD_ECONFIG (or
 * IDD_EINVAL when no server runs) is returned with err "FILE:LINE: ...". */
int idd_http_tls_reload(const idd_http_listen_t *listen, size_t n, char *err, size_t errlen);

/* The port listener i (in the order of idd_http_server_t.listen) is bound to, once
 * idd_http_run has bound it; 0 before, after, or when i is out of range. */
unsigned idd_http_bound_port(size_t i);

/* Runs work(arg) on pool, then resume(owner, arg) back on req's own event loop.
 * release(arg) is always called last, on the loop (possibly before idd_http_offload
 * returns). client is the caller's address as the application resolved it (numeric IPv4
 * or IPv6), for the per-client cap.
 *
 * resume is skipped, and only release runs, when:
 * - the request goes away (client left, stream reset) before the work is done: a job no
 *   worker has taken yet is dropped unrun;
 * - the connection or client already has its cap of jobs, or the pool refuses the job (its
 *   queue is full, or shutdown), or no worker takes it within max_wait_ms, or shutdown
 *   cancels it: then req has been answered 503 (with Retry-After unless stopping).
 * arg must be heap memory owned by release, not pool memory. */
void idd_http_offload(h2o_req_t *req, const char *client, idd_workers_t *pool, void *owner,
                      void *arg, void (*work)(void *arg), void (*resume)(void *owner, void *arg),
                      void (*release)(void *arg));

/* A request parked on its own loop until another thread wakes it: how a request waits for
 * work that an earlier request already handed to a pool (a shared password check), without
 * taking a worker or a place in a queue. */
typedef struct idd_http_parked idd_http_parked_t;

/* Parks req: once idd_http_wake is called, resume(owner, arg) runs on req's loop, then
 * release(arg). resume is skipped, and only release runs, when the request went away
 * meanwhile (client left, stream reset). The parked request counts as work in flight, so a
 * stopping loop waits for its wake. Never fails; arg must be heap memory owned by release. */
idd_http_parked_t *idd_http_park(h2o_req_t *req, void *owner, void *arg,
                                 void (*resume)(void *owner, void *arg),
                                 void (*release)(void *arg));

/* From any thread, exactly once for each park: sends the parked request back to its loop.
 * The handle is not to be used after. */
void idd_http_wake(idd_http_parked_t *parked);

#endif
