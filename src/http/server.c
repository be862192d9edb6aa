/*
 * The event loops. Every thread has its own h2o context, evloop and SO_REUSEPORT listening
 * sockets; what else a thread owns is the application's (hooks.thread_init). All sockets
 * are bound by the main thread before any loop starts: a bad address fails the start, and
 * with port 0 every thread binds the port the kernel gave the first one. A TLS listener's
 * sockets hand their connections to h2o with the listener's TLS context (tls.c).
 *
 * Signals are blocked in every thread and taken by sigwait() in the main thread, which then
 * posts a stop message to each loop: the loop closes its listeners, stops keep-alive, waits
 * for offloaded work to come back and flush, and returns. Handing work to the worker pools,
 * and the per-connection and per-client bounds on it, are in offload.c.
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
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "identityd/http/server.h"

#include "identityd/core/common.h"
#include "identityd/core/log.h"
#include "identityd/http/respond.h"
#include "http/loop.h"

#define STOP_FLUSH_MS 500      /* then, time to write the last responses and close */
#define TLS_HANDSHAKE_MS 10000 /* h2o's default, stated: a TLS client's time to say hello */
/* A loop checks its deadline every 20 ms; one that has not reported this long after it is
 * stuck in a call, and is counted as abandoning what it holds. Generous: on a loaded machine
 * a loop that is merely not scheduled must not be mistaken for a stuck one. */
#define STUCK_GRACE_MS 5000

static atomic_bool stopping;
static loop_t *all_loops;
static int n_all_loops;
/* Loops whose context still held a connection at exit: kept, not freed, until the process
 * ends (loop_dispose). */
static loop_t *kept_loops;
/* Loops whose threads run (their tids valid): set once all are started, 0 before they end. */
static atomic_int n_running_loops;
static atomic_uint bound_ports[64]; /* of the first listeners, for idd_http_bound_port */

unsigned idd_http_bound_port(size_t i)
{
    return i < IDD_ARRAY_LEN(bound_ports) ? atomic_load(&bound_ports[i]) : 0;
}

/* The drain after a stop signal: when it must end (idd_monotonic_ms), and how the loops tell
 * the main thread that they have ended or given up. */
static _Atomic int64_t drain_deadline;
static pthread_mutex_t drain_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t drain_cond;
static int loops_settled; /* under drain_lock: loops that returned or gave up */

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

int64_t idd_http_loops_cpu_ns(void)
{
    int64_t total = 0;
    int n = atomic_load(&n_running_loops);
    for (int i = 0; i < n; i++) {
        clockid_t id;
        struct timespec ts;
        if (pthread_getcpuclockid(all_loops[i].tid, &id) == 0 && clock_gettime(id, &ts) == 0)
            total += (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    }
    return total;
}

/* ---- listeners ---- */

static int bind_one(const idd_http_listen_t *l, unsigned port, struct sockaddr_storage *bound)
{
    memset(bound, 0, sizeof(*bound)); /* getsockname fills it; never read unset */
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
    if (getsockname(fd, (struct sockaddr *)bound, &blen) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
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
        idd_http_conn_track(l, sock);
        h2o_accept(&li->accept_ctx, sock);
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

/* Tells the main thread that this loop has ended its drain, one way or the other. */
static void settle(void)
{
    pthread_mutex_lock(&drain_lock);
    loops_settled++;
    pthread_cond_signal(&drain_cond);
    pthread_mutex_unlock(&drain_lock);
}

/* Waits until every one of n started loops has settled or, should one be stuck, a while after
 * the deadline. Returns whether they all settled. */
static bool wait_settled(int n, int64_t deadline)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    int64_t wait_ms = deadline - idd_monotonic_ms() + STUCK_GRACE_MS;
    if (wait_ms < 0)
        wait_ms = 0;
    until.tv_sec += (time_t)(wait_ms / 1000);
    until.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&drain_lock);
    while (loops_settled < n && pthread_cond_timedwait(&drain_cond, &drain_lock, &until) == 0)
        ;
    bool all = loops_settled >= n;
    pthread_mutex_unlock(&drain_lock);
    return all;
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
    const int64_t deadline = atomic_load(&drain_deadline);
    bool busy;
    for (;;) {
        busy = hooks->thread_busy != NULL && hooks->thread_busy(hooks->app, &l->t);
        if ((l->offloads_in_flight == 0 && !busy) || idd_monotonic_ms() >= deadline)
            break;
        h2o_evloop_run(evloop, 20);
    }
    if (l->offloads_in_flight > 0 || busy) {
        /* shutdown_timeout has passed with work still out: this loop cannot end, since that
         * work would call back into it. Report what is left and keep running until the main
         * thread ends the process. */
        atomic_store(&l->abandoned, (unsigned long)l->offloads_in_flight + (busy ? 1 : 0));
        settle();
        for (;;)
            h2o_evloop_run(evloop, INT32_MAX);
    }
    /* The last answers get their moment to be written even when the deadline is near. */
    int64_t flush_until = idd_monotonic_ms() + STOP_FLUSH_MS;
    while (!context_is_idle(&l->t.ctx) && idd_monotonic_ms() < flush_until)
        h2o_evloop_run(evloop, 20);
    settle();
    return NULL;
}

static int loop_init(const idd_http_server_t *server, h2o_globalconf_t *conf, loop_t *l, int index)
{
    l->t.index = index;
    l->limits = &server->limits;
    h2o_context_init(&l->t.ctx, h2o_evloop_create(), conf);
    h2o_timeout_init(l->t.ctx.loop, &l->queue_timeout, (uint64_t)server->limits.max_wait_ms);
    h2o_multithread_register_receiver(l->t.ctx.queue, &l->offload_receiver, idd_http_offloads_back);
    h2o_multithread_register_receiver(l->t.ctx.queue, &l->stop_receiver, on_stop);
    l->listeners = idd_xcalloc(server->n_listen + 1, sizeof(listener_t));
    l->server = server;
    int rc = server->hooks.thread_init(server->hooks.app, &l->t);
    l->data_made = rc == 0;
    return rc;
}

/* Frees the loop, or returns false when a connection still holds its context. */
static bool loop_dispose(const idd_http_server_t *server, loop_t *l)
{
    for (size_t i = 0; i < l->n_listeners; i++) {
        if (h2o_timeout_is_linked(&l->listeners[i].resume))
            h2o_timeout_unlink(&l->listeners[i].resume);
        h2o_socket_close(l->listeners[i].sock);
    }
    free(l->listeners);
    if (l->t.ctx.loop == NULL)
        return true;
    h2o_timeout_dispose(l->t.ctx.loop, &l->queue_timeout);
    if (l->data_made)
        server->hooks.thread_dispose(server->hooks.app, &l->t);
    h2o_multithread_unregister_receiver(l->t.ctx.queue, &l->offload_receiver);
    h2o_multithread_unregister_receiver(l->t.ctx.queue, &l->stop_receiver);
    /* A client idling on a keep-alive connection past the grace period still holds one
     * at exit: then the process's exit is the cleanup, not h2o_context_dispose. */
    if (!context_is_idle(&l->t.ctx))
        return false;
    h2o_evloop_t *evloop = l->t.ctx.loop;
    h2o_multithread_queue_t *queue = l->t.ctx.queue;
    h2o_context_dispose(&l->t.ctx);
    h2o_evloop_destroy(evloop);
    /* h2o 2.2.5's evloop flavour closes the queue's pipe but never frees the queue. */
    free(queue);
    return true;
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
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    (void)signal(SIGPIPE, SIG_IGN); /* cannot fail for SIGPIPE */
}

/* Binds every listener once per thread; with port 0, every thread takes the port the
 * kernel gave the first. Returns 0 or -1 (logged). */
/* Each listener's accept context names the one host list its clients reach (hosts, or
 * metrics_hosts for metrics_listen) and its TLS context, if any. */
static int bind_all(const idd_http_server_t *server, h2o_hostconf_t **hosts,
                    h2o_hostconf_t **metrics_hosts, loop_t *loops)
{
    size_t n = server->n_listen + (server->metrics_listen != NULL ? 1 : 0);
    for (size_t i = 0; i < n; i++) {
        bool metrics = i == server->n_listen;
        const idd_http_listen_t *l = metrics ? server->metrics_listen : &server->listen[i];
        SSL_CTX *ssl_ctx = metrics ? NULL : idd_http_tls_base(i);
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
            li->accept_ctx.ctx = &loops[t].t.ctx;
            li->accept_ctx.hosts = metrics ? metrics_hosts : hosts;
            li->accept_ctx.ssl_ctx = ssl_ctx;
            sock->data = li;
            if (t == 0) {
                char addr[INET6_ADDRSTRLEN + 16];
                format_address(&bound, addr, sizeof(addr));
                if (!metrics && i < IDD_ARRAY_LEN(bound_ports))
                    atomic_store(&bound_ports[i], port);
                if (metrics)
                    idd_log_info("serving /metrics alone on http://%s", addr);
                else
                    idd_log_info("listening on %s://%s (%d threads)", ssl_ctx ? "https" : "http",
                                 addr, server->threads);
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
    atomic_store(&drain_deadline, INT64_MAX);
    loops_settled = 0;
    pthread_condattr_t cattr;
    pthread_condattr_init(&cattr);
    pthread_condattr_setclock(&cattr, CLOCK_MONOTONIC);
    pthread_cond_init(&drain_cond, &cattr);
    pthread_condattr_destroy(&cattr);
    raise_nofile();
    idd_http_clients_seed();

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
    /* A TLS client has this long from connecting to finishing its handshake; then it is
     * closed. The loop never waits on it: OpenSSL is fed only what has arrived. */
    conf.handshake_timeout = TLS_HANDSHAKE_MS;
    h2o_hostconf_t *hostconf =
        h2o_config_register_host(&conf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    server->hooks.setup(server->hooks.app, hostconf);
    char tls_err[1024];
    if (idd_http_tls_start(server, tls_err, sizeof(tls_err)) != 0) {
        idd_log_error("%s", tls_err);
        rc = IDD_ECONFIG;
        h2o_config_dispose(&conf);
        free(loops);
        return rc;
    }
    /* Each kind of listener reaches its own host configuration and no other, whatever Host
     * a client sends: a host list of one. */
    h2o_hostconf_t *hosts[2] = {hostconf, NULL}, *metrics_hosts[2] = {hostconf, NULL};
    if (server->metrics_listen != NULL) {
        metrics_hosts[0] =
            h2o_config_register_host(&conf, h2o_iovec_init(H2O_STRLIT("metrics")), 65535);
        server->hooks.setup_metrics(server->hooks.app, metrics_hosts[0]);
    }

    /* SIGINT, SIGTERM and SIGHUP must already be blocked in every thread
     * (idd_http_block_signals before any thread starts); the main thread takes them with
     * sigwait below. A SIGHUP that came during the start waits there, pending. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGHUP);

    for (int i = 0; i < nthreads; i++) {
        int trc = loop_init(server, &conf, &loops[i], i);
        if (trc != 0) {
            idd_log_error("thread %d: cannot start: %s", i, idd_strerror(trc));
            rc = trc;
            goto done;
        }
    }
    if (bind_all(server, hosts, metrics_hosts, loops) != 0)
        goto done;
    if (server->hooks.bound != NULL) {
        int brc = server->hooks.bound(server->hooks.app);
        if (brc != 0) {
            rc = brc;
            goto done;
        }
    }
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
    atomic_store(&n_running_loops, started);

    int sig = 0;
    int idle_ms = server->hooks.idle != NULL ? server->hooks.idle(server->hooks.app) : -1;
    for (;;) {
        if (idle_ms < 0) {
            if (sigwait(&sigs, &sig) != 0)
                break;
        } else {
            struct timespec ts = {idle_ms / 1000, (long)(idle_ms % 1000) * 1000000L};
            sig = sigtimedwait(&sigs, NULL, &ts);
            if (sig < 0) {
                if (errno == EAGAIN)
                    idle_ms = server->hooks.idle(server->hooks.app);
                continue;
            }
        }
        if (sig != SIGHUP)
            break;
        if (server->hooks.reload != NULL)
            server->hooks.reload(server->hooks.app);
        /* The new configuration may have turned the idle work on or off, or retimed it. */
        idle_ms = server->hooks.idle != NULL ? server->hooks.idle(server->hooks.app) : -1;
    }
    idd_log_info("signal %d: stopping", sig);
    rc = 0;

done:
    atomic_store(&stopping, true);
    /* Queued work is answered 503 by its loop; running work finishes, within the time the
     * application allows for it. */
    int drain_ms = server->hooks.stopping(server->hooks.app);
    int64_t deadline = idd_monotonic_ms() + (drain_ms > 0 ? drain_ms : 0);
    atomic_store(&drain_deadline, deadline);
    for (int i = 0; i < started; i++) {
        h2o_multithread_message_t *msg = idd_xcalloc(1, sizeof(*msg));
        h2o_multithread_send_message(&loops[i].stop_receiver, msg);
    }
    bool settled = wait_settled(started, deadline);
    unsigned long abandoned = 0;
    for (int i = 0; i < started; i++)
        abandoned += atomic_load(&loops[i].abandoned);
    if (!settled || abandoned > 0) {
        /* Some requests outlived shutdown_timeout. Their loops and the work they wait on stay
         * as they are: the caller ends the process without freeing anything they use. */
        idd_log_warn("shutdown_timeout (%d ms) passed: abandoning %lu request%s still in flight",
                     drain_ms, abandoned, abandoned == 1 ? "" : "s");
        for (int i = 0; i < started; i++)
            (void)pthread_detach(loops[i].tid); /* none is left joinable at exit */
        return IDD_HTTP_ABANDONED;
    }
    atomic_store(&n_running_loops, 0);
    for (int i = 0; i < started; i++)
        pthread_join(loops[i].tid, NULL);
    n_all_loops = 0;
    all_loops = NULL;
    for (size_t i = 0; i < IDD_ARRAY_LEN(bound_ports); i++)
        atomic_store(&bound_ports[i], 0);
    bool all_freed = true;
    for (int i = 0; i < nthreads; i++)
        all_freed &= loop_dispose(server, &loops[i]);
    if (all_freed)
        free(loops);
    else
        kept_loops = loops;
    idd_http_tls_stop();
    h2o_config_dispose(&conf);
    return rc;
}
