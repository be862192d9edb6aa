/*
 * Handing slow work (a password's KDF, a call to the authority) to a worker pool and
 * resuming the request on its own loop, with the bounds that keep one client from filling
 * the pools: jobs per connection and per client address, the longest wait in a queue, work
 * dropped when its request is gone, and HTTP/2 connections closed when they abandon too
 * many streams with work pending.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "identityd/core/common.h"
#include "identityd/core/log.h"
#include "identityd/http/respond.h"
#include "http/loop.h"

/* ---- connections ---- */

/* What identityd keeps for one accepted connection, as its socket's on_close data: freed
 * when the socket has closed and no offload points at it any more. */
typedef struct conn {
    loop_t *loop;
    int refs;   /* the socket, plus one per offload */
    int queued; /* offloads queued or running for this connection */
    int resets; /* HTTP/2 streams that went away with work pending */
    int fd;     /* valid while open */
    bool open;
    bool dropped;
} conn_t;

static void conn_unref(conn_t *c)
{
    if (--c->refs == 0)
        free(c);
}

static void on_conn_close(void *data)
{
    conn_t *c = data;
    c->open = false;
    atomic_fetch_sub(&c->loop->connections, 1);
    conn_unref(c);
}

/* h2o 2.2's connections, HTTP/1 (private to lib/core/http1.c) and HTTP/2 (h2o_http2_conn_t,
 * whose header is installed without the khash.h it includes), both begin with these two
 * members. Only the socket is read, and only when its on_close is identityd's own. */
#if H2O_VERSION_MAJOR != 2 || H2O_VERSION_MINOR != 2
#error "check the start of h2o's HTTP/1 and HTTP/2 connection structs, then this prefix"
#endif
typedef struct conn_prefix {
    h2o_conn_t super;
    h2o_socket_t *sock;
} conn_prefix_t;

/* identityd's state of the connection req came on (NULL if unknown). */
static conn_t *conn_of(h2o_req_t *req)
{
    h2o_socket_t *sock = ((conn_prefix_t *)req->conn)->sock;
    if (sock == NULL || sock->on_close.cb != on_conn_close)
        return NULL;
    return sock->on_close.data;
}

/* Whether the peer of an HTTP/1 connection has closed it (or reset it). h2o does not read an
 * HTTP/1 connection while its request is being handled, so it learns that the client left
 * only when it writes the answer; a worker asks the socket itself before starting the job.
 * A peek consumes nothing: a pipelined request stays where h2o will read it. */
static bool peer_closed(int fd)
{
    char b;
    ssize_t n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/* Ends an HTTP/2 connection that has abandoned too many streams: shutting the socket down
 * makes h2o read end-of-stream and close the connection by its own path. */
static void conn_note_reset(conn_t *c)
{
    int max = c->loop->limits->http2_max_resets;
    if (++c->resets <= max || c->dropped || !c->open)
        return;
    c->dropped = true;
    atomic_fetch_add(&c->loop->http2_reset_drops, 1);
    idd_log_info("closing an HTTP/2 connection that abandoned more than %d requests", max);
    shutdown(c->fd, SHUT_RDWR);
}

/* ---- jobs per client address, shared by every loop ---- */

#define CLIENT_BUCKETS 4096 /* entries exist only while the client has jobs: few */

typedef struct client {
    unsigned char addr[16]; /* IPv6, or IPv4-mapped; IPv6 cut to its /64 */
    int queued;
    struct client *next;
} client_t;

static pthread_mutex_t clients_lock = PTHREAD_MUTEX_INITIALIZER;
static client_t *clients[CLIENT_BUCKETS];
static uint64_t clients_seed; /* keyed hash: a client cannot aim at another's bucket */

static void client_key(const char *text, unsigned char out[16])
{
    memset(out, 0, 16);
    struct in_addr a4;
    if (text != NULL && inet_pton(AF_INET, text, &a4) == 1) {
        out[10] = out[11] = 0xff;
        memcpy(out + 12, &a4, 4);
    } else if (text != NULL && inet_pton(AF_INET6, text, out) == 1) {
        memset(out + 8, 0, 8); /* one site's /64 is one client */
    }
}

static size_t client_bucket(const unsigned char addr[16])
{
    uint64_t a, b;
    memcpy(&a, addr, 8);
    memcpy(&b, addr + 8, 8);
    uint64_t h = (a ^ clients_seed) * 0x9e3779b97f4a7c15ULL;
    h = (h ^ (h >> 29) ^ b) * 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 32;
    return (size_t)(h % CLIENT_BUCKETS);
}

/* Counts one more job for addr; false (nothing counted) when it already has max. */
static bool client_take(const unsigned char addr[16], int max)
{
    size_t b = client_bucket(addr);
    bool ok = true;
    pthread_mutex_lock(&clients_lock);
    client_t *c = clients[b];
    while (c != NULL && memcmp(c->addr, addr, 16) != 0)
        c = c->next;
    if (c == NULL) {
        c = idd_xcalloc(1, sizeof(*c));
        memcpy(c->addr, addr, 16);
        c->next = clients[b];
        clients[b] = c;
    }
    if (c->queued >= max)
        ok = false;
    else
        c->queued++;
    if (c->queued == 0) { /* max 0 refuses all; do not keep the entry */
        clients[b] = c->next;
        free(c);
    }
    pthread_mutex_unlock(&clients_lock);
    return ok;
}

static void client_put(const unsigned char addr[16])
{
    size_t b = client_bucket(addr);
    pthread_mutex_lock(&clients_lock);
    for (client_t **p = &clients[b]; *p != NULL; p = &(*p)->next) {
        client_t *c = *p;
        if (memcmp(c->addr, addr, 16) == 0) {
            if (--c->queued == 0) {
                *p = c->next;
                free(c);
            }
            break;
        }
    }
    pthread_mutex_unlock(&clients_lock);
}

/* ---- offloading work to the pool and resuming on the loop ---- */

typedef struct offload offload_t;

/* Lives in the request's pool only as a pointer back to the offload, so that the offload
 * learns when h2o disposes of the request (client gone) before the work is done. */
typedef struct offload_link {
    offload_t *offload;
} offload_link_t;

struct offload {
    idd_job_t job;                 /* runs on a worker */
    h2o_multithread_message_t msg; /* brings it back to the loop */
    h2o_timeout_entry_t wait;      /* max_wait_ms in the queue */
    loop_t *loop;
    idd_workers_t *pool; /* NULL for a parked request (idd_http_park) */
    h2o_req_t *req;      /* NULL once the request is gone */
    offload_link_t *link;
    conn_t *conn;
    int http1_fd;     /* the HTTP/1 connection's socket, to peek at; -1 for HTTP/2 */
    bool client_left; /* the worker found the HTTP/1 client gone and did not run the job */
    bool uncounted;   /* no longer counted against its connection's and client's caps */
    unsigned char client[16];
    void *owner;
    void *arg;
    void (*work)(void *arg);
    void (*resume)(void *owner, void *arg);
    void (*release)(void *arg);
};

static void offload_run(idd_job_t *job)
{
    offload_t *o = (offload_t *)job;
    /* The connection cannot close before the loop has this job back: h2o closes an HTTP/1
     * connection only after its request was answered. */
    if (o->http1_fd >= 0 && peer_closed(o->http1_fd)) {
        o->client_left = true;
        return;
    }
    idd_workers_note(o->pool, IDD_JOBS_RAN);
    o->work(o->arg);
}

static void offload_done(idd_job_t *job)
{
    offload_t *o = (offload_t *)job;
    h2o_multithread_send_message(&o->loop->offload_receiver, &o->msg);
}

/* Takes the job off its connection's and client's counts: done before its resume, so that a
 * resume that hands the request on to a next job (a store read, then the password check)
 * finds the caps as they will be, not holding the job that is ending. */
static void offload_uncount(offload_t *o)
{
    if (o->uncounted)
        return;
    o->uncounted = true;
    if (o->conn != NULL)
        o->conn->queued--;
    if (o->pool != NULL)
        client_put(o->client);
}

/* Loop side, once the job is out of the pool for good (back, withdrawn or cancelled):
 * uncounts it and frees it. The request has been answered, or is gone. */
static void offload_finish(offload_t *o)
{
    if (h2o_timeout_is_linked(&o->wait))
        h2o_timeout_unlink(&o->wait);
    if (o->link != NULL)
        o->link->offload = NULL;
    offload_uncount(o);
    if (o->conn != NULL)
        conn_unref(o->conn);
    o->loop->offloads_in_flight--;
    o->release(o->arg);
    free(o);
}

static void respond_busy(h2o_req_t *req)
{
    if (idd_http_stopping()) {
        idd_respond_error(req, 503, "Service is shutting down");
        return;
    }
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL, H2O_STRLIT("1"));
    idd_respond_error(req, 503, "Service busy, try again");
}

/* h2o disposes of the request: the client went away, or reset the stream. A job still in
 * the queue is dropped; one a worker runs comes back and is only released. */
static void offload_link_dispose(void *p)
{
    offload_link_t *link = p;
    offload_t *o = link->offload;
    if (o == NULL)
        return;
    o->req = NULL;
    o->link = NULL;
    if (o->pool == NULL)
        return; /* parked: freed when it is woken */
    if (o->conn != NULL && o->http1_fd < 0)
        conn_note_reset(o->conn);
    if (idd_workers_withdraw(o->pool, &o->job) == 0) {
        idd_workers_note(o->pool, IDD_JOBS_DROPPED);
        offload_finish(o);
    }
}

/* No worker took the job within max_wait_ms: answer 503 rather than let it wait on. */
static void on_queue_timeout(h2o_timeout_entry_t *entry)
{
    offload_t *o = H2O_STRUCT_FROM_MEMBER(offload_t, wait, entry);
    if (idd_workers_withdraw(o->pool, &o->job) != 0)
        return; /* a worker has it: it comes back as usual */
    idd_workers_note(o->pool, IDD_JOBS_EXPIRED);
    h2o_req_t *req = o->req;
    if (req != NULL) {
        /* Answered by identityd: its disposal is not the client's abandoning it. */
        o->link->offload = NULL;
        o->link = NULL;
        o->req = NULL;
    }
    offload_finish(o);
    if (req != NULL)
        respond_busy(req);
}

/* Loop side: every finished offload posted to this thread. */
void idd_http_offloads_back(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    (void)receiver;
    while (!h2o_linklist_is_empty(messages)) {
        h2o_multithread_message_t *msg =
            H2O_STRUCT_FROM_MEMBER(h2o_multithread_message_t, link, messages->next);
        h2o_linklist_unlink(&msg->link);
        offload_t *o = H2O_STRUCT_FROM_MEMBER(offload_t, msg, msg);
        if (o->client_left && o->pool != NULL)
            idd_workers_note(o->pool, IDD_JOBS_DROPPED);
        if (o->req != NULL) {
            o->link->offload = NULL;
            o->link = NULL;
            if (o->job.cancelled)
                idd_respond_error(o->req, 503, "Service is shutting down");
            else if (o->client_left) /* nobody reads it: h2o then closes the connection */
                idd_respond_error(o->req, 503, "Client closed the connection");
            else {
                offload_uncount(o);
                o->resume(o->owner, o->arg);
            }
        }
        offload_finish(o);
    }
}

void idd_http_offload(h2o_req_t *req, const char *client, idd_workers_t *pool, void *owner,
                      void *arg, void (*work)(void *arg), void (*resume)(void *owner, void *arg),
                      void (*release)(void *arg))
{
    loop_t *l = (loop_t *)idd_http_thread_of(req);
    conn_t *c = conn_of(req);
    unsigned char key[16];
    client_key(client, key);
    if (c != NULL && c->queued >= l->limits->per_connection) {
        idd_workers_note(pool, IDD_JOBS_CAPPED);
        release(arg);
        respond_busy(req);
        return;
    }
    if (!client_take(key, l->limits->per_client)) {
        idd_workers_note(pool, IDD_JOBS_CAPPED);
        release(arg);
        respond_busy(req);
        return;
    }
    offload_t *o = idd_xcalloc(1, sizeof(*o));
    o->job.run = offload_run;
    o->job.done = offload_done;
    o->loop = l;
    o->pool = pool;
    o->req = req;
    memcpy(o->client, key, 16);
    o->http1_fd = c != NULL && req->version < 0x200 ? c->fd : -1;
    o->owner = owner;
    o->arg = arg;
    o->work = work;
    o->resume = resume;
    o->release = release;
    if (idd_workers_submit(pool, &o->job) != 0) {
        client_put(key);
        free(o);
        release(arg);
        respond_busy(req);
        return;
    }
    /* From here the job may run at any moment; everything below is loop-side state the
     * worker never reads. */
    o->link = h2o_mem_alloc_shared(&req->pool, sizeof(*o->link), offload_link_dispose);
    o->link->offload = o;
    if (c != NULL) {
        o->conn = c;
        c->refs++;
        c->queued++;
    }
    l->offloads_in_flight++;
    o->wait.cb = on_queue_timeout;
    h2o_timeout_link(l->t.ctx.loop, &l->queue_timeout, &o->wait);
}

struct idd_http_parked {
    offload_t o;
};

idd_http_parked_t *idd_http_park(h2o_req_t *req, void *owner, void *arg,
                                 void (*resume)(void *owner, void *arg), void (*release)(void *arg))
{
    loop_t *l = (loop_t *)idd_http_thread_of(req);
    idd_http_parked_t *p = idd_xcalloc(1, sizeof(*p));
    offload_t *o = &p->o;
    o->loop = l;
    o->req = req;
    o->http1_fd = -1;
    o->owner = owner;
    o->arg = arg;
    o->resume = resume;
    o->release = release;
    o->link = h2o_mem_alloc_shared(&req->pool, sizeof(*o->link), offload_link_dispose);
    o->link->offload = o;
    l->offloads_in_flight++;
    return p;
}

void idd_http_wake(idd_http_parked_t *parked)
{
    h2o_multithread_send_message(&parked->o.loop->offload_receiver, &parked->o.msg);
}

void idd_http_conn_track(loop_t *l, h2o_socket_t *sock)
{
    conn_t *c = idd_xcalloc(1, sizeof(*c));
    c->loop = l;
    c->refs = 1;
    c->fd = h2o_socket_get_fd(sock);
    c->open = true;
    sock->on_close.cb = on_conn_close;
    sock->on_close.data = c;
    atomic_fetch_add(&l->connections, 1);
}

void idd_http_clients_seed(void)
{
    if (getrandom(&clients_seed, sizeof(clients_seed), 0) != (ssize_t)sizeof(clients_seed))
        clients_seed = (uint64_t)idd_monotonic_ms() ^ (uint64_t)getpid() << 32;
}
