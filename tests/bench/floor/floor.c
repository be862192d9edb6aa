/*
 * The benchmark's floor: the least an HTTP server built like identityd can do to answer the
 * token endpoint. Same h2o event loops (one per core, SO_REUSEPORT, HTTP/1.1), same keyring
 * and signer, same envelope writer, but no routing, no authentication and no store: every
 * request, whatever its path, gets a freshly signed token for one fixed user. scripts/bench
 * compares identityd's rows with this one. Not installed, not run by ctest.
 *
 *   identityd-floor -c CONFIG -p PORT [-t THREADS]
 *
 * CONFIG is an identityd configuration: only its keys: and token.ttl are used (the active
 * key signs). PORT 0 takes one from the kernel. Once every loop's socket is bound it prints
 * "identityd-floor: N loops on 127.0.0.1:PORT, ALG" on stdout.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <h2o.h>

#include "identityd/config/config.h"
#include "identityd/core/buf.h"
#include "identityd/core/jwa.h"
#include "identityd/http/respond.h"
#include "identityd/token/keyring.h"
#include "identityd/token/signer.h"

static h2o_globalconf_t globalconf;
static const idd_keyring_t *keyring;
static int token_ttl = 300;
static unsigned short port;
static __thread idd_signer_t *signer;

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self;
    int64_t now = (int64_t)time(NULL);
    h2o_iovec_t origin =
        h2o_concat(&req->pool, h2o_iovec_init(H2O_STRLIT("http://")), req->authority);
    idd_claims_t claims = {
        .user_id = "6f1c1d0e-9a43-4f5b-8d2a-3c7e5b1a9f20",
        .first_name = "Bench",
        .last_name = "User",
        .email = "bench@example.com",
        .tenant_id = 1,
        .tenant_url = origin.base,
        .is_public = true,
        .iat = now,
        .exp = now + token_ttl,
    };
    idd_buf_t b;
    idd_buf_init(&b);
    idd_buf_putc(&b, '"');
    if (idd_signer_mint(signer, &claims, &b) != 0) {
        idd_buf_dispose(&b);
        idd_respond_error(req, 500, "Token signing failed");
        return 0;
    }
    idd_buf_putc(&b, '"');
    idd_respond_envelope(req, origin, 200, b.data, b.len, 1);
    idd_buf_dispose(&b);
    return 0;
}

/* A listening socket on 127.0.0.1:port; with port 0 the first one takes a port from the
 * kernel and the others bind that one. */
static int listen_socket(void)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
    int on = 1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) != 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) != 0 ||
        bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 || listen(fd, SOMAXCONN) != 0) {
        perror("identityd-floor: listen");
        exit(1);
    }
    socklen_t len = sizeof(sin);
    if (port == 0 && getsockname(fd, (struct sockaddr *)&sin, &len) == 0)
        port = ntohs(sin.sin_port);
    return fd;
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    if (err != NULL)
        return;
    h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
    if (sock != NULL)
        h2o_accept(listener->data, sock);
}

static void *loop_main(void *arg)
{
    int fd = *(int *)arg;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    h2o_evloop_t *loop = h2o_evloop_create();

    signer = idd_signer_new(keyring);
    if (signer == NULL) {
        fprintf(stderr, "identityd-floor: no signer\n");
        exit(1);
    }
    h2o_context_init(&ctx, loop, &globalconf);
    memset(&accept_ctx, 0, sizeof(accept_ctx));
    accept_ctx.ctx = &ctx;
    accept_ctx.hosts = globalconf.hosts;
    h2o_socket_t *sock = h2o_evloop_socket_create(loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    sock->data = &accept_ctx;
    h2o_socket_read_start(sock, on_accept);
    while (h2o_evloop_run(loop, INT32_MAX) == 0)
        ;
    return NULL;
}

int main(int argc, char **argv)
{
    const char *config_path = NULL;
    const char *port_arg = NULL;
    long threads = sysconf(_SC_NPROCESSORS_ONLN);
    int opt;

    while ((opt = getopt(argc, argv, "c:p:t:")) != -1) {
        if (opt == 'c')
            config_path = optarg;
        else if (opt == 'p')
            port_arg = optarg;
        else if (opt == 't')
            threads = atol(optarg);
        else
            config_path = NULL;
    }
    char *end = NULL;
    long port_value = port_arg != NULL ? strtol(port_arg, &end, 10) : -1;
    if (config_path == NULL || port_arg == NULL || *end != '\0' || port_value < 0 ||
        port_value > 65535 || threads < 1 || threads > 256) {
        fprintf(stderr, "usage: identityd-floor -c CONFIG -p PORT [-t THREADS]\n");
        return 2;
    }
    char err[512];
    idd_config_t *cfg = NULL;
    idd_keyring_t *kr = NULL;
    if (idd_config_load(config_path, &cfg, err, sizeof(err)) != 0 ||
        idd_keyring_load(cfg, &kr, err, sizeof(err)) != 0) {
        fprintf(stderr, "identityd-floor: %s\n", err);
        return 1;
    }
    keyring = kr;
    token_ttl = cfg->token_ttl;
    port = (unsigned short)port_value;

    h2o_config_init(&globalconf);
    h2o_hostconf_t *host =
        h2o_config_register_host(&globalconf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    h2o_handler_t *handler = h2o_create_handler(path, sizeof(*handler));
    handler->on_req = on_req;

    pthread_t *tids = calloc((size_t)threads, sizeof(*tids));
    int *fds = calloc((size_t)threads, sizeof(*fds));
    for (long i = 0; i < threads; i++)
        fds[i] = listen_socket();
    for (long i = 0; i < threads; i++)
        if (pthread_create(&tids[i], NULL, loop_main, &fds[i]) != 0) {
            perror("identityd-floor: thread");
            return 1;
        }
    printf("identityd-floor: %ld loops on 127.0.0.1:%u, %s\n", threads, port,
           idd_alg_name(idd_keyring_active(kr)->alg));
    fflush(stdout);
    for (long i = 0; i < threads; i++)
        pthread_join(tids[i], NULL);
    return 0;
}
