/*
 * The event loops. Every thread has its own h2o context, evloop, database connection,
 * signer and SO_REUSEPORT listening sockets, so threads share nothing on the request path.
 * All sockets are bound by the main thread before any loop starts: a bad address fails the
 * start, and with port 0 every thread binds the port the kernel gave the first one.
 *
 * Signals are blocked in every thread and taken by sigwait() in the main thread, which then
 * posts a stop message to each loop: the loop closes its listeners, stops keep-alive, waits
 * for offloaded work to come back and flush, and returns.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "identityd/core/common.h"
#include "identityd/api/api.h"
#include "identityd/auth/auth.h"
#include "identityd/core/log.h"
#include "identityd/http/respond.h"
#include "identityd/http/server.h"

#define STOP_FLUSH_MS 500   /* then, time to write the last responses and close */
#define USAGE_FLUSH_MS 60000 /* how often API key uses are written out */

/* ---- offloading work to the pool and resuming on the loop ---- */

typedef struct offload offload_t;

/* Lives in the request's pool only as a pointer back to the offload, so that the offload
 * learns when h2o disposes of the request (client gone) before the work is done. */
typedef struct offload_link {
    offload_t *offload;
} offload_link_t;

struct offload {
    idd_job_t job;                  /* runs on a worker */
    h2o_multithread_message_t msg;  /* brings it back to the loop */
    idd_thread_t *thread;
    idd_request_t *r;               /* NULL once the request is gone */
    offload_link_t *link;
    void *arg;
    void (*work)(void *arg);
    void (*resume)(idd_request_t *r, void *arg);
    void (*release)(void *arg);
};

static void offload_run(idd_job_t *job)
{
    offload_t *o = (offload_t *)job;
    o->work(o->arg);
}

static void offload_done(idd_job_t *job)
{
    offload_t *o = (offload_t *)job;
    h2o_multithread_send_message(&o->thread->offload_receiver, &o->msg);
}

static void offload_link_dispose(void *p)
{
    offload_link_t *link = p;
    if (link->offload != NULL)
        link->offload->r = NULL;
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
        o->thread->offloads_in_flight--;
        if (o->r != NULL) {
            o->link->offload = NULL;
            if (o->job.cancelled)
                idd_respond_error(o->r->req, 503, "Service is shutting down");
            else
                o->resume(o->r, o->arg);
        }
        o->release(o->arg);
        free(o);
    }
}

void idd_http_offload(idd_request_t *r, idd_pool_t pool, void *arg, void (*work)(void *arg),
                      void (*resume)(idd_request_t *r, void *arg), void (*release)(void *arg))
{
    offload_t *o = idd_xcalloc(1, sizeof(*o));
    o->job.run = offload_run;
    o->job.done = offload_done;
    o->thread = r->thread;
    o->r = r;
    o->arg = arg;
    o->work = work;
    o->resume = resume;
    o->release = release;
    o->link = h2o_mem_alloc_shared(&r->req->pool, sizeof(*o->link), offload_link_dispose);
    o->link->offload = o;
    idd_workers_t *workers = pool == IDD_POOL_OUTBOUND ? r->app->outbound : r->app->workers;
    if (idd_workers_submit(workers, &o->job) != 0) {
        o->link->offload = NULL;
        release(arg);
        free(o);
        idd_respond_error(r->req, 503, atomic_load(&r->app->stopping) ? "Service is shutting down"
                                                                      : "Service busy, try again");
        return;
    }
    r->thread->offloads_in_flight++;
}

/* ---- listeners ---- */

static int bind_one(const idd_listen_t *l, uint16_t port, struct sockaddr_storage *bound)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, l->host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons(port);
        sslen = sizeof(*in4);
    } else if (inet_pton(AF_INET6, l->host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(port);
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
        (ss.ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) != 0) ||
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

static uint16_t port_of(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)ss)->sin_port);
    return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    if (err != NULL)
        return;
    idd_thread_t *t = listener->data;
    /* h2o_evloop_socket_accept takes one connection per call: drain the backlog. */
    for (int i = 0; i < 64; i++) {
        h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
        if (sock == NULL)
            break;
        h2o_accept(&t->accept_ctx, sock);
    }
}

/* ---- threads ---- */

static void on_stop(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    idd_thread_t *t = H2O_STRUCT_FROM_MEMBER(idd_thread_t, stop_receiver, receiver);
    while (!h2o_linklist_is_empty(messages)) {
        h2o_multithread_message_t *msg =
            H2O_STRUCT_FROM_MEMBER(h2o_multithread_message_t, link, messages->next);
        h2o_linklist_unlink(&msg->link);
        free(msg);
    }
    t->stop = true;
}

/* True when no connection, request or timer is left on the context: h2o asserts this
 * when a context is disposed. HTTP/2's shutdown request arms a one-second timer even with
 * no connection; it is unlinked here once nothing else is pending. */
static int context_is_idle(h2o_context_t *ctx)
{
    h2o_timeout_t *timeouts[] = {&ctx->zero_timeout, &ctx->hundred_ms_timeout, &ctx->handshake_timeout,
                                 &ctx->http1.req_timeout, &ctx->http2.idle_timeout,
                                 &ctx->http2.graceful_shutdown_timeout, &ctx->proxy.io_timeout};
    for (size_t i = 0; i < IDD_ARRAY_LEN(timeouts); i++)
        if (!h2o_linklist_is_empty(&timeouts[i]->_entries))
            return 0;
    if (h2o_timeout_is_linked(&ctx->http2._graceful_shutdown_timeout))
        h2o_timeout_unlink(&ctx->http2._graceful_shutdown_timeout);
    return h2o_linklist_is_empty(&ctx->one_sec_timeout._entries);
}

static void *thread_main(void *arg)
{
    idd_thread_t *t = arg;
    while (!t->stop)
        h2o_evloop_run(t->ctx.loop, INT32_MAX);

    /* Stop accepting and ask h2o to end keep-alive; keep serving what is in flight
     * (offloaded checks included, whose responses now close their connections); then idle
     * keep-alive clients get only a short flush before the loop ends. */
    for (size_t i = 0; i < t->n_listeners; i++) {
        h2o_socket_read_stop(t->listeners[i]);
        h2o_socket_close(t->listeners[i]);
    }
    t->n_listeners = 0;
    h2o_context_request_shutdown(&t->ctx);
    /* Queued work was cancelled before this message came (idd_workers_cancel) and what runs
     * is one KDF per worker at most: wait for all of it, since a job still out when the loop
     * goes away would call back into freed memory. */
    while (t->offloads_in_flight > 0)
        h2o_evloop_run(t->ctx.loop, 20);
    int64_t flush_until = idd_monotonic_ms() + STOP_FLUSH_MS;
    while (!context_is_idle(&t->ctx) && idd_monotonic_ms() < flush_until)
        h2o_evloop_run(t->ctx.loop, 20);
    return NULL;
}

/* Thread 0, once a minute: the coalesced API key uses go to the database. */
static void on_flush(h2o_timeout_entry_t *entry)
{
    idd_thread_t *t = H2O_STRUCT_FROM_MEMBER(idd_thread_t, flush_entry, entry);
    idd_apikey_usage_flush(t->app->apikey_usage, t->store);
    h2o_timeout_link(t->ctx.loop, &t->flush_timeout, &t->flush_entry);
}

static int thread_init(idd_app_t *app, idd_thread_t *t, int index)
{
    t->app = app;
    t->index = index;
    h2o_context_init(&t->ctx, h2o_evloop_create(), &app->h2o);
    t->accept_ctx.ctx = &t->ctx;
    t->accept_ctx.hosts = app->h2o.hosts;
    h2o_multithread_register_receiver(t->ctx.queue, &t->offload_receiver, on_offloads_back);
    h2o_multithread_register_receiver(t->ctx.queue, &t->stop_receiver, on_stop);
    if (idd_store_open(app->cfg->database, &t->store) != 0)
        return IDD_ESTORE;
    t->signer = idd_signer_new(app->keyring);
    if (t->signer == NULL)
        return IDD_ECRYPTO;
    t->basic_cache = idd_basic_cache_new(1024);
    if (index == 0) {
        h2o_timeout_init(t->ctx.loop, &t->flush_timeout, USAGE_FLUSH_MS);
        t->flush_entry.cb = on_flush;
        h2o_timeout_link(t->ctx.loop, &t->flush_timeout, &t->flush_entry);
    }
    return 0;
}

static void thread_dispose(idd_thread_t *t)
{
    for (size_t i = 0; i < t->n_listeners; i++)
        h2o_socket_close(t->listeners[i]);
    free(t->listeners);
    if (t->ctx.loop != NULL) {
        h2o_multithread_unregister_receiver(t->ctx.queue, &t->offload_receiver);
        h2o_multithread_unregister_receiver(t->ctx.queue, &t->stop_receiver);
        /* A client idling on a keep-alive connection past the grace period still holds one
         * at exit: then the process's exit is the cleanup, not h2o_context_dispose. */
        if (context_is_idle(&t->ctx)) {
            h2o_evloop_t *loop = t->ctx.loop;
            if (t->index == 0) {
                if (h2o_timeout_is_linked(&t->flush_entry))
                    h2o_timeout_unlink(&t->flush_entry);
                h2o_timeout_dispose(loop, &t->flush_timeout);
            }
            h2o_multithread_queue_t *queue = t->ctx.queue;
            h2o_context_dispose(&t->ctx);
            h2o_evloop_destroy(loop);
            /* h2o 2.2.5's evloop flavour closes the queue's pipe but never frees the queue. */
            free(queue);
        }
    }
    idd_basic_cache_free(t->basic_cache);
    idd_signer_free(t->signer);
    idd_store_free(t->store);
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

void idd_server_block_signals(void)
{
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int idd_server_run(idd_app_t *app)
{
    const idd_config_t *cfg = app->cfg;
    int rc = IDD_EIO;
    int nthreads = cfg->threads;
    idd_thread_t *threads = idd_xcalloc((size_t)nthreads, sizeof(*threads));
    int started = 0;

    /* Each loop's context and sockets are made here, on the main thread, so their input
     * buffers take this thread's (thread-local) socket buffer prototype, whose free list h2o
     * does not lock: with recycling on, the loops would push and pop that one list at once.
     * With no room to recycle, those buffers are plain malloc and free. */
    h2o_socket_buffer_prototype.allocator.max = 0;

    h2o_config_init(&app->h2o);
    app->h2o.server_name = h2o_iovec_init(H2O_STRLIT(""));
    /* h2o's own limit only bounds buffering; the router answers 413 in the envelope. */
    app->h2o.max_request_entity_size = cfg->max_body_bytes < 1048576 ? 1048576 : cfg->max_body_bytes * 2;
    h2o_hostconf_t *hostconf =
        h2o_config_register_host(&app->h2o, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    idd_router_register(hostconf);

    /* SIGINT and SIGTERM must already be blocked in every thread (idd_server_block_signals
     * before any thread starts); the main thread takes them with sigwait below. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);

    for (int i = 0; i < nthreads; i++) {
        int trc = thread_init(app, &threads[i], i);
        if (trc != 0) {
            idd_log_error("thread %d: cannot start: %s", i, idd_strerror(trc));
            rc = trc;
            goto done;
        }
        threads[i].listeners = idd_xcalloc(cfg->n_listen, sizeof(h2o_socket_t *));
    }
    for (size_t l = 0; l < cfg->n_listen; l++) {
        uint16_t port = cfg->listen[l].port;
        for (int i = 0; i < nthreads; i++) {
            struct sockaddr_storage bound;
            int fd = bind_one(&cfg->listen[l], port, &bound);
            if (fd < 0) {
                idd_log_error("%s:%d: cannot listen on %s port %u: %s", cfg->path,
                              cfg->listen[l].line, cfg->listen[l].host, port, strerror(errno));
                goto done;
            }
            port = port_of(&bound);
            h2o_socket_t *sock = h2o_evloop_socket_create(threads[i].ctx.loop, fd, H2O_SOCKET_FLAG_DONT_READ);
            sock->data = &threads[i];
            threads[i].listeners[threads[i].n_listeners++] = sock;
            if (i == 0) {
                char addr[INET6_ADDRSTRLEN + 16];
                format_address(&bound, addr, sizeof(addr));
                idd_log_info("listening on http://%s (%d threads)", addr, nthreads);
            }
        }
    }
    for (int i = 0; i < nthreads; i++) {
        for (size_t l = 0; l < threads[i].n_listeners; l++)
            h2o_socket_read_start(threads[i].listeners[l], on_accept);
        if (pthread_create(&threads[i].tid, NULL, thread_main, &threads[i]) != 0) {
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
    atomic_store(&app->stopping, true);
    /* Queued checks are answered 503 by their loops; running ones finish. */
    idd_workers_cancel(app->workers);
    idd_workers_cancel(app->outbound);
    for (int i = 0; i < started; i++) {
        h2o_multithread_message_t *msg = idd_xcalloc(1, sizeof(*msg));
        h2o_multithread_send_message(&threads[i].stop_receiver, msg);
    }
    for (int i = 0; i < started; i++)
        pthread_join(threads[i].tid, NULL);
    for (int i = 0; i < nthreads; i++)
        thread_dispose(&threads[i]);
    free(threads);
    h2o_config_dispose(&app->h2o);
    return rc;
}
