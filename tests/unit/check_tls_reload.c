/*
 * TLS certificate reload (idd_http_tls_reload) against the HTTP layer as identityd runs it:
 * idd_http_run in a thread of its own with two event loops and one TLS listener, a trivial
 * handler, and OpenSSL clients. A reload must change what new handshakes see, leave
 * connections already made working, and change nothing when a file is bad.
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "identityd/core/common.h"
#include "identityd/http/server.h"

static char dir[64];
static char path_buf[8][256];

static const char *in_dir(int slot, const char *name)
{
    snprintf(path_buf[slot], sizeof(path_buf[slot]), "%s/%s", dir, name);
    return path_buf[slot];
}

static void make_cert(const char *name)
{
    const char *src = getenv("IDD_SOURCE_DIR");
    ck_assert_ptr_nonnull(src);
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "sh '%s/tests/scripts/make_test_cert.sh' '%s' '%s'", src, dir, name);
    ck_assert_int_eq(system(cmd), 0);
}

/* ---- the server ---- */

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self;
    const char *body = idd_http_is_tls(req) ? "tls" : "plain";
    req->res.status = 200;
    req->res.reason = "OK";
    req->res.content_length = strlen(body);
    h2o_send_inline(req, body, strlen(body));
    return 0;
}

static void setup_routes(void *app, h2o_hostconf_t *hostconf)
{
    (void)app;
    h2o_pathconf_t *pc = h2o_config_register_path(hostconf, "/", 0);
    h2o_handler_t *h = h2o_create_handler(pc, sizeof(*h));
    h->on_req = on_req;
}

static int thread_init(void *app, idd_http_thread_t *t)
{
    (void)app;
    (void)t;
    return 0;
}

static void thread_dispose(void *app, idd_http_thread_t *t)
{
    (void)app;
    (void)t;
}

/* Nothing to cancel; in-flight requests get 10 s to finish. */
static int stopping(void *app)
{
    (void)app;
    return 10000;
}

static bool thread_busy(void *app, idd_http_thread_t *t)
{
    (void)app;
    (void)t;
    return false;
}

static idd_http_tls_t tls_a = {
    .min_version = IDD_HTTP_TLS_1_2, .cert_origin = "test.yaml:2", .key_origin = "test.yaml:3"};
static idd_http_listen_t listen_a[1] = {{"127.0.0.1", 0, "test.yaml:1", &tls_a}};
static idd_http_server_t server;
static pthread_t server_thread;
static int server_rc;

static void *run_server(void *arg)
{
    (void)arg;
    server_rc = idd_http_run(&server);
    return NULL;
}

static unsigned port;

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/identityd-tls-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    make_cert("a");
    make_cert("b");
    tls_a.cert_file = in_dir(0, "a.pem");
    tls_a.key_file = in_dir(1, "a.key");
    server = (idd_http_server_t){
        .listen = listen_a,
        .n_listen = 1,
        .threads = 2,
        .max_body_bytes = 65536,
        .limits = {.http2 = true,
                   .max_connections = 100,
                   .http2_max_resets = 100,
                   .per_connection = 4,
                   .per_client = 16,
                   .max_wait_ms = 2000},
        .hooks = {.setup = setup_routes,
                  .thread_init = thread_init,
                  .thread_dispose = thread_dispose,
                  .stopping = stopping,
                  .thread_busy = thread_busy},
    };
    ck_assert_int_eq(pthread_create(&server_thread, NULL, run_server, NULL), 0);
    /* Bound before the loops start; connecting early just waits in the backlog. */
    for (int i = 0; i < 3000 && (port = idd_http_bound_port(0)) == 0; i++)
        usleep(10000);
    ck_assert_uint_ne(port, 0);
}

static void teardown(void)
{
    kill(getpid(), SIGTERM); /* blocked everywhere: idd_http_run's sigwait takes it */
    pthread_join(server_thread, NULL);
    ck_assert_int_eq(server_rc, 0);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* ---- a client ---- */

typedef struct client {
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;
} client_t;

/* Connects and handshakes with at most max_version; returns 0, or -1 when the handshake is
 * refused. */
static int client_open(client_t *c, int max_version)
{
    memset(c, 0, sizeof(*c));
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(c->fd, 0);
    struct timeval tv = {30, 0};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    ck_assert_int_eq(connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    c->ctx = SSL_CTX_new(TLS_client_method());
    ck_assert_int_eq(SSL_CTX_load_verify_locations(c->ctx, in_dir(7, "ca.pem"), NULL), 1);
    SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_session_cache_mode(c->ctx, SSL_SESS_CACHE_OFF);
    if (max_version != 0)
        SSL_CTX_set_max_proto_version(c->ctx, max_version);
    c->ssl = SSL_new(c->ctx);
    SSL_set_fd(c->ssl, c->fd);
    SSL_set1_host(c->ssl, "127.0.0.1");
    int rc = SSL_connect(c->ssl) == 1 ? 0 : -1;
    ERR_clear_error();
    return rc;
}

static void client_close(client_t *c)
{
    SSL_free(c->ssl);
    SSL_CTX_free(c->ctx);
    close(c->fd);
}

/* The common name of the certificate the server showed. */
static void peer_cn(const client_t *c, char *out, size_t len)
{
    X509 *cert = SSL_get1_peer_certificate(c->ssl);
    ck_assert_ptr_nonnull(cert);
    out[0] = '\0';
    X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, out, (int)len);
    X509_free(cert);
}

/* One GET on the connection; asserts a 200 whose body says the request came over TLS. */
static void client_get(client_t *c)
{
    const char req[] = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    ck_assert_int_eq(SSL_write(c->ssl, req, (int)strlen(req)), (int)strlen(req));
    char buf[2048];
    size_t n = 0;
    while (n < sizeof(buf) - 1) {
        int r = SSL_read(c->ssl, buf + n, (int)(sizeof(buf) - 1 - n));
        ck_assert_msg(r > 0, "the connection ended before the answer");
        n += (size_t)r;
        buf[n] = '\0';
        if (strstr(buf, "\r\n\r\ntls") != NULL)
            break;
    }
    ck_assert_msg(strncmp(buf, "HTTP/1.1 200", 12) == 0, "answer: %s", buf);
}

/* A fresh handshake's certificate common name. */
static void new_handshake_cn(char *out, size_t len)
{
    client_t c;
    ck_assert_int_eq(client_open(&c, 0), 0);
    peer_cn(&c, out, len);
    client_get(&c);
    client_close(&c);
}

/* ---- tests ---- */

START_TEST(reload_swaps_certificates_for_new_handshakes)
{
    char cn[64];
    client_t first;
    ck_assert_int_eq(client_open(&first, 0), 0);
    peer_cn(&first, cn, sizeof(cn));
    ck_assert_str_eq(cn, "a");
    client_get(&first);

    idd_http_tls_t tls_b = tls_a;
    tls_b.cert_file = in_dir(2, "b.pem");
    tls_b.key_file = in_dir(3, "b.key");
    idd_http_listen_t listen_b[1] = {{"127.0.0.1", 0, "test.yaml:1", &tls_b}};
    char err[512];
    ck_assert_int_eq(idd_http_tls_reload(listen_b, 1, err, sizeof(err)), 0);

    new_handshake_cn(cn, sizeof(cn));
    ck_assert_str_eq(cn, "b");
    /* The connection made before the reload still serves, with its certificate. */
    client_get(&first);
    peer_cn(&first, cn, sizeof(cn));
    ck_assert_str_eq(cn, "a");
    client_close(&first);

    /* And back: each reload replaces the one before. */
    ck_assert_int_eq(idd_http_tls_reload(listen_a, 1, err, sizeof(err)), 0);
    new_handshake_cn(cn, sizeof(cn));
    ck_assert_str_eq(cn, "a");
}
END_TEST

START_TEST(reload_with_a_bad_file_changes_nothing)
{
    idd_http_tls_t bad = tls_a;
    idd_http_listen_t listen_bad[1] = {{"127.0.0.1", 0, "test.yaml:1", &bad}};
    char err[512], cn[64];

    /* b's certificate with a's key */
    bad.cert_file = in_dir(2, "b.pem");
    ck_assert_int_eq(idd_http_tls_reload(listen_bad, 1, err, sizeof(err)), IDD_ECONFIG);
    ck_assert_msg(strstr(err, "test.yaml:3: tls.key_file:") != NULL &&
                      strstr(err, "does not match") != NULL,
                  "%s", err);
    new_handshake_cn(cn, sizeof(cn));
    ck_assert_str_eq(cn, "a");

    /* a missing certificate */
    bad.cert_file = in_dir(2, "missing.pem");
    ck_assert_int_eq(idd_http_tls_reload(listen_bad, 1, err, sizeof(err)), IDD_ECONFIG);
    ck_assert_msg(strstr(err, "test.yaml:2: tls.cert_file:") != NULL, "%s", err);

    /* a key that group members may read */
    bad.cert_file = in_dir(2, "b.pem");
    bad.key_file = in_dir(3, "b.key");
    ck_assert_int_eq(chmod(bad.key_file, 0640), 0);
    ck_assert_int_eq(idd_http_tls_reload(listen_bad, 1, err, sizeof(err)), IDD_ECONFIG);
    ck_assert_msg(strstr(err, "test.yaml:3: tls.key_file:") != NULL, "%s", err);
    ck_assert_int_eq(chmod(bad.key_file, 0600), 0);

    /* listeners that differ from the running ones need a restart */
    idd_http_listen_t other[1] = {{"127.0.0.2", 0, "test.yaml:1", &bad}};
    ck_assert_int_eq(idd_http_tls_reload(other, 1, err, sizeof(err)), IDD_ECONFIG);
    idd_http_listen_t plain[1] = {{"127.0.0.1", 0, "test.yaml:1", NULL}};
    ck_assert_int_eq(idd_http_tls_reload(plain, 1, err, sizeof(err)), IDD_ECONFIG);
    ck_assert_int_eq(idd_http_tls_reload(listen_bad, 0, err, sizeof(err)), IDD_ECONFIG);

    new_handshake_cn(cn, sizeof(cn));
    ck_assert_str_eq(cn, "a");
}
END_TEST

START_TEST(reload_applies_min_version)
{
    client_t c;
    ck_assert_int_eq(client_open(&c, TLS1_2_VERSION), 0);
    client_get(&c);

    idd_http_tls_t v13 = tls_a;
    v13.min_version = IDD_HTTP_TLS_1_3;
    idd_http_listen_t listen_v13[1] = {{"127.0.0.1", 0, "test.yaml:1", &v13}};
    char err[512];
    ck_assert_int_eq(idd_http_tls_reload(listen_v13, 1, err, sizeof(err)), 0);

    client_t old;
    ck_assert_int_eq(client_open(&old, TLS1_2_VERSION), -1);
    client_close(&old);
    client_t now;
    ck_assert_int_eq(client_open(&now, TLS1_3_VERSION), 0);
    client_get(&now);
    client_close(&now);
    /* The TLS 1.2 connection made before still serves. */
    client_get(&c);
    client_close(&c);
}
END_TEST

START_TEST(reload_without_a_server)
{
    char err[512];
    ck_assert_int_eq(idd_http_tls_reload(listen_a, 1, err, sizeof(err)), IDD_EINVAL);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("tls_reload");
    TCase *tc = tcase_create("running");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, reload_swaps_certificates_for_new_handshakes);
    tcase_add_test(tc, reload_with_a_bad_file_changes_nothing);
    tcase_add_test(tc, reload_applies_min_version);
    suite_add_tcase(s, tc);
    TCase *idle = tcase_create("idle");
    tcase_add_test(idle, reload_without_a_server);
    suite_add_tcase(s, idle);
    return s;
}

int main(void)
{
    /* As identityd does before any thread: the server thread takes SIGTERM by sigwait. */
    idd_http_block_signals();
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
