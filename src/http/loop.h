/*
 * What the two halves of the HTTP layer share, private to src/http/: the loops and their
 * listeners (server.c) and the work they hand to worker pools (offload.c).
 */
#ifndef IDENTITYD_HTTP_LOOP_H
#define IDENTITYD_HTTP_LOOP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include <h2o.h>

#include "identityd/http/server.h"

/* One listening socket of one loop. */
typedef struct listener {
    h2o_socket_t *sock;
    struct loop *loop;
    h2o_timeout_entry_t resume;   /* accept paused while descriptors are short */
    h2o_accept_ctx_t *accept_ctx; /* the loop's, or its metrics one */
} listener_t;

/* One thread's loop and what the server keeps for it. */
typedef struct loop {
    idd_http_thread_t t; /* first: req->conn->ctx points at t.ctx */
    h2o_accept_ctx_t accept_ctx;
    h2o_accept_ctx_t metrics_accept_ctx; /* the metrics listener's: its own host only */
    listener_t *listeners;               /* this thread's SO_REUSEPORT sockets */
    size_t n_listeners;
    const idd_http_limits_t *limits;
    h2o_multithread_receiver_t offload_receiver; /* finished worker jobs */
    h2o_multithread_receiver_t stop_receiver;
    h2o_timeout_t queue_timeout; /* limits->max_wait_ms */
    int offloads_in_flight;
    atomic_ulong connections; /* open now (atomic: /metrics reads it from any thread) */
    atomic_ulong refused;
    atomic_ulong accept_pauses;
    atomic_ulong http2_reset_drops;
    bool stop;
    bool data_made; /* hooks.thread_init succeeded */
    const idd_http_server_t *server;
    pthread_t tid;
} loop_t;

/* Starts tracking an accepted connection (counts, per-connection bounds, resets). */
void idd_http_conn_track(loop_t *l, h2o_socket_t *sock);

/* The loop's receiver of finished worker jobs. */
void idd_http_offloads_back(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages);

/* Draws the key of the per-client table, once per run, on the main thread. */
void idd_http_clients_seed(void);

#endif
