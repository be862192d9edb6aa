/*
 * The event loops. Every thread has its own h2o context, evloop and SO_REUSEPORT listening
 * sockets; what else a thread owns is the application's (hooks.thread_init). All sockets
 * are bound by the main thread before any loop starts: a bad address fails the start, and
 * with port 0 every thread binds the port the kernel gave the first one.
 *
 * Signals are blocked in every thread and taken by sigwait() in the main thread, which then
 * posts a stop message to each loop: the loop closes its listeners, stops keep-alive, waits
 * for offloaded work to come back and flush, and returns.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "identityd/http/server.h"

#include "identityd/core/common.h"
#include "identityd/core/log.h"
#include "identityd/http/respond.h"

#define STOP_FLUSH_MS 500 /* then, time to write the last responses and close */

/* One listening socket of one loop. */
typedef struct listener {
    h2o_socket_t *sock;
    struct loop *loop;
    h2o_timeout_entry_t resume; /* accept paused while descriptors are short */
} listener_t;

/* One thread's loop and what the server keeps for it. */
typedef struct loop {
    idd_http_thread_t t; /* first: req->conn->ctx points at t.ctx */
    h2o_accept_ctx_t accept_ctx;
    listener_t *listeners; /* this thread's SO_REUSEPORT sockets */
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

static atomic_bool stopping;
static loop_t *all_loops;
static int n_all_loops;

bool idd_http_stopping(void)
{
    return atomic_load(&stopping);
}

void idd_http_stats(idd_http_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    for (int i = 0; i < n_all_loops; i++) {
        out->connections += atomic_load(&all_loops[i].connections);
        out->refused += atomic_load(&all_loops[i].refused);
        out->accept_pauses += atomic_load(&all_loops[i].accept_pauses);
        out->http2_reset_drops += atomic_load(&all_loops[i].http2_reset_drops);
    }
}

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
    idd_workers_t *pool;
    h2o_req_t *req; /* NULL once the request is gone */
    offload_link_t *link;
    conn_t *conn;
    int http1_fd;     /* the HTTP/1 connection's socket, to peek at; -1 for HTTP/2 */
    bool client_left; /* the worker found the HTTP/1 client gone and did not run the job */
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

/* Loop side, once the job is out of the pool for good (back, withdrawn or cancelled):
 * uncounts it and frees it. The request has been answered, or is gone. */
static void offload_finish(offload_t *o)
{
    if (h2o_timeout_is_linked(&o->wait))
        h2o_timeout_unlink(&o->wait);
    if (o->link != NULL)
        o->link->offload = NULL;
    if (o->conn != NULL) {
        o->conn->queued--;
        conn_unref(o->conn);
    }
    client_put(o->client);
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
static void on_offloads_back(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    (void)receiver;
    while (!h2o_linklist_is_empty(messages)) {
        h2o_multithread_message_t *msg =
            H2O_STRUCT_FROM_MEMBER(h2o_multithread_message_t, link, messages->next);
        h2o_linklist_unlink(&msg->link);
        offload_t *o = H2O_STRUCT_FROM_MEMBER(offload_t, msg, msg);
        if (o->client_left)
            idd_workers_note(o->pool, IDD_JOBS_DROPPED);
        if (o->req != NULL) {
            o->link->offload = NULL;
            o->link = NULL;
            if (o->job.cancelled)
                idd_respond_error(o->req, 503, "Service is shutting down");
            else if (o->client_left) /* nobody reads it: h2o then closes the connection */
                idd_respond_error(o->req, 503, "Client closed the connection");
            else
                o->resume(o->owner, o->arg);
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

/* ---- listeners ---- */

static int bind_one(const idd_http_listen_t *l, unsigned port, struct sockaddr_storage *bound)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, l->host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        sslen = sizeof(*in4);
    } else if (inet_pton(AF_INET6, l->host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        sslen = sizeof(*in6);
    } else {
        errno = EINVAL;
        return -1;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int on = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) != 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) != 0 ||
        (ss.ss_family == AF_INET6 &&
         setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) != 0) ||
        bind(fd, (struct sockaddr *)&ss, sslen) != 0 || listen(fd, SOMAXCONN) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    socklen_t blen = sizeof(*bound);
    getsockname(fd, (struct sockaddr *)bound, &blen);
    return fd;
}

static unsigned port_of(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)ss)->sin_port);
    return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
}

#define ACCEPT_PAUSE_MS 100 /* ctx->hundred_ms_timeout */

static void on_accept(h2o_socket_t *listener, const char *err);

static void on_accept_resume(h2o_timeout_entry_t *entry)
{
    listener_t *li = H2O_STRUCT_FROM_MEMBER(listener_t, resume, entry);
    h2o_socket_read_start(li->sock, on_accept);
}

/* accept failed for want of a descriptor (or kernel memory): the connection stays in the
 * backlog and the listener stays readable, so polling again at once would spin. Pause this
 * listener for ACCEPT_PAUSE_MS; connections closing meanwhile make room. */
static void pause_accept(listener_t *li)
{
    loop_t *l = li->loop;
    if (atomic_fetch_add(&l->accept_pauses, 1) % 100 == 0) /* about once per 10 s */
        idd_log_error("accept: %s; pausing new connections for %d ms", strerror(errno),
                      ACCEPT_PAUSE_MS);
    h2o_socket_read_stop(li->sock);
    h2o_timeout_link(l->t.ctx.loop, &l->t.ctx.hundred_ms_timeout, &li->resume);
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    if (err != NULL)
        return;
    listener_t *li = listener->data;
    loop_t *l = li->loop;
    int max = l->limits->max_connections;
    /* h2o_evloop_socket_accept takes one connection per call: drain the backlog. */
    for (int i = 0; i < 64; i++) {
        errno = 0;
        h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
        if (sock == NULL) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                pause_accept(li);
            break;
        }
        if (max > 0 && atomic_load(&l->connections) >= (unsigned long)max) {
            atomic_fetch_add(&l->refused, 1);
            h2o_socket_close(sock);
            continue;
        }
        conn_t *c = idd_xcalloc(1, sizeof(*c));
        c->loop = l;
        c->refs = 1;
        c->fd = h2o_socket_get_fd(sock);
        c->open = true;
        sock->on_close.cb = on_conn_close;
        sock->on_close.data = c;
        atomic_fetch_add(&l->connections, 1);
        h2o_accept(&l->accept_ctx, sock);
    }
}

/* ---- threads ---- */

static void on_stop(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    loop_t *l = H2O_STRUCT_FROM_MEMBER(loop_t, stop_receiver, receiver);
    while (!h2o_linklist_is_empty(messages)) {
        h2o_multithread_message_t *msg =
            H2O_STRUCT_FROM_MEMBER(h2o_multithread_message_t, link, messages->next);
        h2o_linklist_unlink(&msg->link);
        free(msg);
    }
    l->stop = true;
}

/* True when no connection, request or timer is left on the context: h2o asserts this
 * when a context is disposed. HTTP/2's shutdown request arms a one-second timer even with
 * no connection; it is unlinked here once nothing else is pending. */
static int context_is_idle(h2o_context_t *ctx)
{
    h2o_timeout_t *timeouts[] = {&ctx->zero_timeout,       &ctx->hundred_ms_timeout,
                                 &ctx->handshake_timeout,  &ctx->http1.req_timeout,
                                 &ctx->http2.idle_timeout, &ctx->http2.graceful_shutdown_timeout,
                                 &ctx->proxy.io_timeout};
    for (size_t i = 0; i < IDD_ARRAY_LEN(timeouts); i++)
        if (!h2o_linklist_is_empty(&timeouts[i]->_entries))
            return 0;
    if (h2o_timeout_is_linked(&ctx->http2._graceful_shutdown_timeout))
        h2o_timeout_unlink(&ctx->http2._graceful_shutdown_timeout);
    return h2o_linklist_is_empty(&ctx->one_sec_timeout._entries);
}

static void *thread_main(void *arg)
{
    loop_t *l = arg;
    h2o_evloop_t *evloop = l->t.ctx.loop;
    while (!l->stop)
        h2o_evloop_run(evloop, INT32_MAX);

    /* Stop accepting and ask h2o to end keep-alive; keep serving what is in flight
     * (offloaded checks included, whose responses now close their connections); then idle
     * keep-alive clients get only a short flush before the loop ends. */
    for (size_t i = 0; i < l->n_listeners; i++) {
        if (h2o_timeout_is_linked(&l->listeners[i].resume))
            h2o_timeout_unlink(&l->listeners[i].resume);
        h2o_socket_read_stop(l->listeners[i].sock);
        h2o_socket_close(l->listeners[i].sock);
    }
    l->n_listeners = 0;
    h2o_context_request_shutdown(&l->t.ctx);
    /* Queued work was cancelled before this message came (hooks.stopping) and what runs is
     * one job per worker at most: wait for all of it, since a job still out when the loop
     * goes away would call back into freed memory; and for requests on the application's
     * own timers, each of them bounded. */
    const idd_http_hooks_t *hooks = &l->server->hooks;
    while (l->offloads_in_flight > 0 ||
           (hooks->thread_busy != NULL && hooks->thread_busy(hooks->app, &l->t)))
        h2o_evloop_run(evloop, 20);
    int64_t flush_until = idd_monotonic_ms() + STOP_FLUSH_MS;
    while (!context_is_idle(&l->t.ctx) && idd_monotonic_ms() < flush_until)
        h2o_evloop_run(evloop, 20);
    return NULL;
}

static int loop_init(const idd_http_server_t *server, h2o_globalconf_t *conf, loop_t *l, int index)
{
    l->t.index = index;
    l->limits = &server->limits;
    h2o_context_init(&l->t.ctx, h2o_evloop_create(), conf);
    h2o_timeout_init(l->t.ctx.loop, &l->queue_timeout, (uint64_t)server->limits.max_wait_ms);
    l->accept_ctx.ctx = &l->t.ctx;
    l->accept_ctx.hosts = conf->hosts;
    h2o_multithread_register_receiver(l->t.ctx.queue, &l->offload_receiver, on_offloads_back);
    h2o_multithread_register_receiver(l->t.ctx.queue, &l->stop_receiver, on_stop);
    l->listeners = idd_xcalloc(server->n_listen, sizeof(listener_t));
    l->server = server;
    int rc = server->hooks.thread_init(server->hooks.app, &l->t);
    l->data_made = rc == 0;
    return rc;
}

static void loop_dispose(const idd_http_server_t *server, loop_t *l)
{
    for (size_t i = 0; i < l->n_listeners; i++) {
        if (h2o_timeout_is_linked(&l->listeners[i].resume))
            h2o_timeout_unlink(&l->listeners[i].resume);
        h2o_socket_close(l->listeners[i].sock);
    }
    free(l->listeners);
    if (l->t.ctx.loop == NULL)
        return;
    h2o_timeout_dispose(l->t.ctx.loop, &l->queue_timeout);
    if (l->data_made)
        server->hooks.thread_dispose(server->hooks.app, &l->t);
    h2o_multithread_unregister_receiver(l->t.ctx.queue, &l->offload_receiver);
    h2o_multithread_unregister_receiver(l->t.ctx.queue, &l->stop_receiver);
    /* A client idling on a keep-alive connection past the grace period still holds one
     * at exit: then the process's exit is the cleanup, not h2o_context_dispose. */
    if (context_is_idle(&l->t.ctx)) {
        h2o_evloop_t *evloop = l->t.ctx.loop;
        h2o_multithread_queue_t *queue = l->t.ctx.queue;
        h2o_context_dispose(&l->t.ctx);
        h2o_evloop_destroy(evloop);
        /* h2o 2.2.5's evloop flavour closes the queue's pipe but never frees the queue. */
        free(queue);
    }
}

static void format_address(const struct sockaddr_storage *ss, char *out, size_t len)
{
    char host[INET6_ADDRSTRLEN];
    if (ss->ss_family == AF_INET6) {
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, host, sizeof(host));
        snprintf(out, len, "[%s]:%u", host, port_of(ss));
    } else {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, host, sizeof(host));
        snprintf(out, len, "%s:%u", host, port_of(ss));
    }
}

void idd_http_block_signals(void)
{
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* Binds every listener once per thread; with port 0, every thread takes the port the
 * kernel gave the first. Returns 0 or -1 (logged). */
static int bind_all(const idd_http_server_t *server, loop_t *loops)
{
    for (size_t i = 0; i < server->n_listen; i++) {
        const idd_http_listen_t *l = &server->listen[i];
        unsigned port = l->port;
        for (int t = 0; t < server->threads; t++) {
            struct sockaddr_storage bound;
            int fd = bind_one(l, port, &bound);
            if (fd < 0) {
                idd_log_error("%s: cannot listen on %s port %u: %s", l->origin, l->host, port,
                              strerror(errno));
                return -1;
            }
            port = port_of(&bound);
            h2o_socket_t *sock =
                h2o_evloop_socket_create(loops[t].t.ctx.loop, fd, H2O_SOCKET_FLAG_DONT_READ);
            listener_t *li = &loops[t].listeners[loops[t].n_listeners++];
            li->sock = sock;
            li->loop = &loops[t];
            li->resume.cb = on_accept_resume;
            sock->data = li;
            if (t == 0) {
                char addr[INET6_ADDRSTRLEN + 16];
                format_address(&bound, addr, sizeof(addr));
                idd_log_info("listening on http://%s (%d threads)", addr, server->threads);
            }
        }
    }
    return 0;
}

/* Every connection and every worker job's socket needs a descriptor: take all the kernel
 * allows this process (the soft limit up to the hard one). */
static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max)
        return;
    rlim_t was = rl.rlim_cur;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
        idd_log_info("open files limit raised from %llu to %llu", (unsigned long long)was,
                     (unsigned long long)rl.rlim_max);
}

int idd_http_run(const idd_http_server_t *server)
{
    int rc = IDD_EIO;
    int nthreads = server->threads;
    loop_t *loops = idd_xcalloc((size_t)nthreads, sizeof(*loops));
    int started = 0;
    h2o_globalconf_t conf;

    atomic_store(&stopping, false);
    raise_nofile();
    if (getrandom(&clients_seed, sizeof(clients_seed), 0) != (ssize_t)sizeof(clients_seed))
        clients_seed = (uint64_t)idd_monotonic_ms() ^ (uint64_t)getpid() << 32;

    /* Each loop's context and sockets are made here, on the main thread, so their input
     * buffers take this thread's (thread-local) socket buffer prototype, whose free list h2o
     * does not lock: with recycling on, the loops would push and pop that one list at once.
     * With no room to recycle, those buffers are plain malloc and free. */
    h2o_socket_buffer_prototype.allocator.max = 0;

    h2o_config_init(&conf);
    conf.server_name = h2o_iovec_init(H2O_STRLIT(""));
    /* Off: HTTP/1.1 only; a prior-knowledge preface then gets h2o's 400, an Upgrade: h2c
     * header is ignored. */
    conf.http1.upgrade_to_http2 = server->limits.http2 ? 1 : 0;
    /* h2o's own limit only bounds buffering; the application answers 413 in the envelope. */
    conf.max_request_entity_size =
        server->max_body_bytes < 1048576 ? 1048576 : server->max_body_bytes * 2;
    h2o_hostconf_t *hostconf =
        h2o_config_register_host(&conf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    server->hooks.setup(server->hooks.app, hostconf);

    /* SIGINT and SIGTERM must already be blocked in every thread (idd_http_block_signals
     * before any thread starts); the main thread takes them with sigwait below. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);

    for (int i = 0; i < nthreads; i++) {
        int trc = loop_init(server, &conf, &loops[i], i);
        if (trc != 0) {
            idd_log_error("thread %d: cannot start: %s", i, idd_strerror(trc));
            rc = trc;
            goto done;
        }
    }
    if (bind_all(server, loops) != 0)
        goto done;
    all_loops = loops;
    n_all_loops = nthreads;
    for (int i = 0; i < nthreads; i++) {
        for (size_t l = 0; l < loops[i].n_listeners; l++)
            h2o_socket_read_start(loops[i].listeners[l].sock, on_accept);
        if (pthread_create(&loops[i].tid, NULL, thread_main, &loops[i]) != 0) {
            idd_log_error("cannot start thread %d", i);
            goto done;
        }
        started++;
    }

    int sig = 0;
    sigwait(&sigs, &sig);
    idd_log_info("signal %d: stopping", sig);
    rc = 0;

done:
    atomic_store(&stopping, true);
    /* Queued work is answered 503 by its loop; running work finishes. */
    server->hooks.stopping(server->hooks.app);
    for (int i = 0; i < started; i++) {
        h2o_multithread_message_t *msg = idd_xcalloc(1, sizeof(*msg));
        h2o_multithread_send_message(&loops[i].stop_receiver, msg);
    }
    for (int i = 0; i < started; i++)
        pthread_join(loops[i].tid, NULL);
    n_all_loops = 0;
    all_loops = NULL;
    for (int i = 0; i < nthreads; i++)
        loop_dispose(server, &loops[i]);
    free(loops);
    h2o_config_dispose(&conf);
    return rc;
}
