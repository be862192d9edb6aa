/*
 * Unit tests of src/core/httpclient.c against an in-test server: a thread listening on
 * 127.0.0.1 (an ephemeral port) that accepts connections one at a time, records the first
 * request it reads and answers with a canned response, stays silent, or speaks TLS with a
 * freshly made self-signed certificate. Expected values (base64 of credentials, encodings)
 * are computed here independently of the code under test.
 */
#include <check.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "identityd/core/common.h"
#include "identityd/core/httpclient.h"

#define REQUEST_MAX (64 * 1024)

typedef enum { SERVE_RESPONSE, SERVE_SILENT, SERVE_TLS } serve_mode_t;

typedef struct test_server {
    int fd;
    uint16_t port;
    pthread_t thread;
    atomic_int stop;
    atomic_int connections;
    serve_mode_t mode;
    char *response; /* owned */
    size_t response_len;
    SSL_CTX *tls;
    int tls_handshakes;            /* completed TLS handshakes */
    char request[REQUEST_MAX + 1]; /* the first request, NUL-terminated (body included) */
    size_t request_len;
    int recorded;
} test_server_t;

static const idd_http_options_t loopback = {
    .connect_timeout = 2, .total_timeout = 5, .allow_http = true};

static int send_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n <= 0)
            return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* The value of header name in a recorded request (case-insensitive name), or NULL. */
static const char *header_value(const char *request, const char *name, char *out, size_t outlen)
{
    const char *end = strstr(request, "\r\n\r\n");
    size_t nlen = strlen(name);
    for (const char *p = strstr(request, "\r\n"); p != NULL && p < end; p = strstr(p + 2, "\r\n")) {
        const char *line = p + 2;
        if (strncasecmp(line, name, nlen) == 0 && line[nlen] == ':') {
            const char *v = line + nlen + 1;
            while (*v == ' ')
                v++;
            size_t vlen = strcspn(v, "\r");
            if (vlen >= outlen)
                vlen = outlen - 1;
            memcpy(out, v, vlen);
            out[vlen] = '\0';
            return out;
        }
    }
    return NULL;
}

/* Reads one request (headers, then a Content-Length body) into s->request if first. */
static void read_request(test_server_t *s, int c)
{
    char buf[REQUEST_MAX + 1];
    size_t len = 0;
    const char *end = NULL;
    while (len < REQUEST_MAX && end == NULL) {
        ssize_t n = recv(c, buf + len, REQUEST_MAX - len, 0);
        if (n <= 0)
            return;
        len += (size_t)n;
        buf[len] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    if (end == NULL)
        return;
    char cl[32];
    size_t want = (size_t)(end + 4 - buf);
    if (header_value(buf, "Content-Length", cl, sizeof(cl)) != NULL)
        want += (size_t)strtoul(cl, NULL, 10);
    while (len < want && len < REQUEST_MAX) {
        ssize_t n = recv(c, buf + len, REQUEST_MAX - len, 0);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    if (!s->recorded) {
        memcpy(s->request, buf, len + 1);
        s->request_len = len;
        s->recorded = 1;
    }
}

/* Holds the connection open without a word until the client leaves or the test ends. */
static void stay_silent(test_server_t *s, int c)
{
    char scratch[1024];
    while (!atomic_load(&s->stop)) {
        struct pollfd p = {.fd = c, .events = POLLIN};
        if (poll(&p, 1, 20) > 0 && recv(c, scratch, sizeof(scratch), 0) <= 0)
            return;
    }
}

static void serve_tls(test_server_t *s, int c)
{
    SSL *ssl = SSL_new(s->tls);
    SSL_set_fd(ssl, c);
    if (SSL_accept(ssl) == 1) {
        /* Only reached when the client failed to verify the certificate. */
        s->tls_handshakes++;
        char buf[4096];
        int n = SSL_read(ssl, buf, sizeof(buf) - 1);
        if (n > 0)
            SSL_write(ssl, s->response, (int)s->response_len);
        SSL_shutdown(ssl);
    }
    SSL_free(ssl);
}

static void *serve(void *arg)
{
    test_server_t *s = arg;
    while (!atomic_load(&s->stop)) {
        struct pollfd p = {.fd = s->fd, .events = POLLIN};
        if (poll(&p, 1, 20) <= 0)
            continue;
        int c = accept(s->fd, NULL, NULL);
        if (c < 0)
            continue;
        atomic_fetch_add(&s->connections, 1);
        struct timeval tv = {.tv_sec = 5};
        setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        if (s->mode == SERVE_TLS) {
            serve_tls(s, c);
        } else {
            read_request(s, c);
            if (s->mode == SERVE_SILENT)
                stay_silent(s, c);
            else
                send_all(c, s->response, s->response_len);
        }
        close(c);
    }
    return NULL;
}

/* A listening socket on 127.0.0.1 and an ephemeral port. */
static int listen_loopback(uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    ck_assert_int_eq(listen(fd, 16), 0);
    socklen_t slen = sizeof(sin);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &slen), 0);
    *port = ntohs(sin.sin_port);
    return fd;
}

/* Starts a server answering every connection with response (copied; may hold NULs). */
static test_server_t *server_start(serve_mode_t mode, const char *response, size_t len)
{
    test_server_t *s = calloc(1, sizeof(*s));
    ck_assert_ptr_nonnull(s);
    s->mode = mode;
    s->response = malloc(len + 1);
    memcpy(s->response, response, len);
    s->response_len = len;
    s->fd = listen_loopback(&s->port);
    ck_assert_int_eq(pthread_create(&s->thread, NULL, serve, s), 0);
    return s;
}

/* Stops the thread, then counts connections still waiting in the backlog as seen too. */
static void server_stop(test_server_t *s)
{
    atomic_store(&s->stop, 1);
    pthread_join(s->thread, NULL);
    struct pollfd p = {.fd = s->fd, .events = POLLIN};
    while (poll(&p, 1, 0) > 0) {
        int c = accept(s->fd, NULL, NULL);
        if (c < 0)
            break;
        atomic_fetch_add(&s->connections, 1);
        close(c);
    }
}

static void server_free(test_server_t *s)
{
    close(s->fd);
    if (s->tls != NULL)
        SSL_CTX_free(s->tls);
    free(s->response);
    free(s);
}

static void url_of(const test_server_t *s, const char *scheme, const char *path, char *out,
                   size_t len)
{
    snprintf(out, len, "%s://127.0.0.1:%u%s", scheme, (unsigned)s->port, path);
}

/* A response with the given status line, extra header lines and body (with Content-Length). */
static char *make_response(const char *status, const char *headers, const char *body)
{
    size_t len = strlen(status) + strlen(headers) + strlen(body) + 128;
    char *r = malloc(len);
    snprintf(r, len, "HTTP/1.1 %s\r\n%sContent-Length: %zu\r\nConnection: close\r\n\r\n%s", status,
             headers, strlen(body), body);
    return r;
}

static test_server_t *server_answering(const char *status, const char *headers, const char *body)
{
    char *r = make_response(status, headers, body);
    test_server_t *s = server_start(SERVE_RESPONSE, r, strlen(r));
    free(r);
    return s;
}

static void assert_no_response(const idd_http_response_t *resp)
{
    ck_assert_int_eq(resp->status, 0);
    ck_assert_uint_eq(resp->body.len, 0);
    ck_assert_int_eq(resp->max_age, -1);
    ck_assert_str_eq(resp->content_type, "");
}

START_TEST(get_returns_status_body_and_content_type)
{
    test_server_t *s =
        server_answering("200 OK", "Content-Type: application/json\r\n", "{\"keys\":[]}");
    char url[128], err[256] = "";
    url_of(s, "http", "/jwks?x=1", url, sizeof(url));
    idd_http_response_t resp;
    ck_assert_int_eq(idd_http_get(url, &loopback, &resp, err, sizeof(err)), 0);
    ck_assert_int_eq(resp.status, 200);
    ck_assert_uint_eq(resp.body.len, 11);
    ck_assert_str_eq(resp.body.data, "{\"keys\":[]}");
    ck_assert_str_eq(resp.content_type, "application/json");
    ck_assert_int_eq(resp.max_age, -1);
    idd_http_response_dispose(&resp);
    ck_assert_ptr_null(resp.body.data);
    server_stop(s);
    ck_assert_int_eq(atomic_load(&s->connections), 1);
    ck_assert_msg(strncmp(s->request, "GET /jwks?x=1 HTTP/1.1\r\n", 24) == 0, "%s", s->request);
    server_free(s);
}
END_TEST

/* Each case: the header lines of the response and the max_age they must give. */
static const struct cache_case {
    const char *headers;
    long max_age;
} cache_cases[] = {
    {"Cache-Control: max-age=120\r\n", 120},
    {"Cache-Control: no-store\r\n", 0},
    {"Cache-Control: public, max-age=30\r\n", 30},
    {"", -1},
    {"cache-control: Public,MAX-AGE=7\r\n", 7},
    {"Cache-Control: max-age=600, no-cache\r\n", 0},
    {"Cache-Control: no-cache=\"Set-Cookie\"\r\n", 0},
    {"Cache-Control: s-maxage=50\r\n", -1},
    {"Cache-Control: public\r\nX-Other: max-age=9\r\nCache-Control: max-age=45\r\n", 45},
    {"Cache-Control: max-age=\"90\"\r\n", 90},
    {"Cache-Control: max-age=abc\r\n", 0},
    {"Cache-Control: max-age=300, max-age=20\r\n", 20},
    {"Cache-Control:   max-age=15  \r\n", 15},
    {"Cache-Control: max-age=99999999999999999999\r\n", 2147483647L},
};

START_TEST(cache_control_is_parsed)
{
    const struct cache_case *c = &cache_cases[_i];
    test_server_t *s = server_answering("200 OK", c->headers, "{}");
    char url[128], err[256] = "";
    url_of(s, "http", "/", url, sizeof(url));
    idd_http_response_t resp;
    ck_assert_msg(idd_http_get(url, &loopback, &resp, err, sizeof(err)) == 0, "%s", err);
    ck_assert_msg(resp.max_age == c->max_age, "'%s': max_age %ld, want %ld", c->headers,
                  resp.max_age, c->max_age);
    idd_http_response_dispose(&resp);
    server_stop(s);
    server_free(s);
}
END_TEST

START_TEST(long_content_type_is_truncated)
{
    char headers[512], type[301];
    memset(type, 'a', 300);
    type[300] = '\0';
    memcpy(type, "text/", 5);
    snprintf(headers, sizeof(headers), "Content-Type: %s\r\n", type);
    test_server_t *s = server_answering("200 OK", headers, "x");
    char url[128], err[256] = "";
    url_of(s, "http", "/", url, sizeof(url));
    idd_http_response_t resp;
    ck_assert_int_eq(idd_http_get(url, &loopback, &resp, err, sizeof(err)), 0);
    ck_assert_uint_eq(strlen(resp.content_type), sizeof(resp.content_type) - 1);
    ck_assert_int_eq(strncmp(resp.content_type, type, sizeof(resp.content_type) - 1), 0);
    idd_http_response_dispose(&resp);
    server_stop(s);
    server_free(s);
}
END_TEST

START_TEST(error_status_is_a_response)
{
    test_server_t *s = server_answering("404 Not Found", "Content-Type: text/plain\r\n", "gone");
    char url[128], err[256] = "";
    url_of(s, "http", "/missing", url, sizeof(url));
    idd_http_response_t resp;
    ck_assert_int_eq(idd_http_get(url, &loopback, &resp, err, sizeof(err)), 0);
    ck_assert_int_eq(resp.status, 404);
    ck_assert_str_eq(resp.body.data, "gone");
    idd_http_response_dispose(&resp);
    server_stop(s);
    server_free(s);
}
END_TEST

/* A body of size bytes, announced by Content-Length or only ended by closing the connection. */
static test_server_t *server_with_body(size_t size, bool declared)
{
    char head[128];
    int hlen = declared
                   ? snprintf(head, sizeof(head),
                              "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n"
                              "Connection: close\r\n\r\n",
                              size)
                   : snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
    char *r = malloc((size_t)hlen + size);
    memcpy(r, head, (size_t)hlen);
    memset(r + hlen, 'b', size);
    test_server_t *s = server_start(SERVE_RESPONSE, r, (size_t)hlen + size);
    free(r);
    return s;
}

/*
 * An authority (or whoever sits on its path) that streams an endless JWKS must not make a
 * worker buffer without bound: the body limit holds whether or not the length is declared,
 * and a body of exactly the limit is still accepted.
 */
START_TEST(body_over_the_limit_is_refused)
{
    for (int declared = 0; declared <= 1; declared++) {
        char url[128], err[256] = "";
        idd_http_response_t resp;

        test_server_t *s = server_with_body(IDD_HTTP_BODY_MAX, declared);
        url_of(s, "http", "/", url, sizeof(url));
        ck_assert_msg(idd_http_get(url, &loopback, &resp, err, sizeof(err)) == 0, "%s", err);
        ck_assert_uint_eq(resp.body.len, IDD_HTTP_BODY_MAX);
        idd_http_response_dispose(&resp);
        server_stop(s);
        server_free(s);

        s = server_with_body(IDD_HTTP_BODY_MAX + 1, declared);
        url_of(s, "http", "/", url, sizeof(url));
        ck_assert_int_eq(idd_http_get(url, &loopback, &resp, err, sizeof(err)), IDD_ETOOBIG);
        ck_assert_uint_eq(resp.body.len, 0);
        ck_assert_ptr_null(resp.body.data);
        ck_assert_int_eq(resp.status, 200);
        idd_http_response_dispose(&resp);
        server_stop(s);
        server_free(s);
    }
}
END_TEST

/*
 * A redirect from the introspection endpoint could carry the client credentials to a host
 * the attacker picks; a redirect of the JWKS URL could swap in the attacker's keys. The 302
 * must come back as it is, and the place it points to must never be contacted.
 */
START_TEST(redirect_is_not_followed)
{
    test_server_t *elsewhere = server_answering("200 OK", "", "attacker keys");
    char location[160], headers[200], url[128], err[256] = "";
    url_of(elsewhere, "http", "/keys", location, sizeof(location));
    snprintf(headers, sizeof(headers), "Location: %s\r\n", location);
    test_server_t *s = server_answering("302 Found", headers, "");
    url_of(s, "http", "/jwks", url, sizeof(url));
    idd_http_response_t resp;
    ck_assert_int_eq(idd_http_get(url, &loopback, &resp, err, sizeof(err)), 0);
    ck_assert_int_eq(resp.status, 302);
    ck_assert_uint_eq(resp.body.len, 0);
    idd_http_response_dispose(&resp);
    server_stop(s);
    server_stop(elsewhere);
    ck_assert_int_eq(atomic_load(&s->connections), 1);
    ck_assert_int_eq(atomic_load(&elsewhere->connections), 0);
    server_free(s);
    server_free(elsewhere);
}
END_TEST

/*
 * Plain http:// would let anyone on the path serve their own JWKS or introspection answer.
 * Without allow_http it is refused before any connection: the server sees nothing.
 */
START_TEST(plain_http_is_refused_without_allow_http)
{
    test_server_t *s = server_answering("200 OK", "", "{}");
    const idd_http_options_t strict = {.connect_timeout = 2, .total_timeout = 5};
    char url[128], err[256] = "";
    url_of(s, "http", "/", url, sizeof(url));
    idd_http_response_t resp;
    ck_assert_int_eq(idd_http_get(url, &strict, &resp, err, sizeof(err)), IDD_EINVAL);
    assert_no_response(&resp);
    ck_assert_str_ne(err, "");
    url_of(s, "HTTP", "/", url, sizeof(url));
    ck_assert_int_eq(idd_http_get(url, &strict, &resp, err, sizeof(err)), IDD_EINVAL);
    ck_assert_int_eq(
        idd_http_post_form(url, &strict, "id", "secret", "a=b", 3, &resp, err, sizeof(err)),
        IDD_EINVAL);
    assert_no_response(&resp);
    server_stop(s);
    ck_assert_int_eq(atomic_load(&s->connections), 0);
    server_free(s);
}
END_TEST

/* Other schemes (a file:// URL in a discovery document, say) are never fetched, whatever
 * allow_http says; the server listening on the port sees no connection. */
START_TEST(other_schemes_are_refused)
{
    test_server_t *s = server_answering("200 OK", "", "{}");
    char url[128], err[256] = "";
    idd_http_response_t resp;
    static const char *const schemes[] = {"ftp", "file", "gopher", "dict", "httpx", "ws"};
    for (size_t i = 0; i < IDD_ARRAY_LEN(schemes); i++) {
        url_of(s, schemes[i], "/x", url, sizeof(url));
        ck_assert_msg(idd_http_get(url, &loopback, &resp, err, sizeof(err)) == IDD_EINVAL, "%s",
                      url);
        assert_no_response(&resp);
    }
    ck_assert_int_eq(idd_http_get("file:///etc/passwd", &loopback, &resp, err, sizeof(err)),
                     IDD_EINVAL);
    ck_assert_int_eq(idd_http_get("127.0.0.1/x", &loopback, &resp, err, sizeof(err)), IDD_EINVAL);
    ck_assert_int_eq(idd_http_get("", &loopback, &resp, err, sizeof(err)), IDD_EINVAL);
    const idd_http_options_t no_timeout = {
        .connect_timeout = 0, .total_timeout = 5, .allow_http = true};
    url_of(s, "http", "/", url, sizeof(url));
    ck_assert_int_eq(idd_http_get(url, &no_timeout, &resp, err, sizeof(err)), IDD_EINVAL);
    server_stop(s);
    ck_assert_int_eq(atomic_load(&s->connections), 0);
    server_free(s);
}
END_TEST

START_TEST(closed_port_is_an_io_error)
{
    uint16_t port;
    int fd = listen_loopback(&port);
    close(fd); /* nothing listens there any more */
    char url[128], err[256] = "";
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/", (unsigned)port);
    idd_http_response_t resp;
    ck_assert_int_eq(idd_http_get(url, &loopback, &resp, err, sizeof(err)), IDD_EIO);
    assert_no_response(&resp);
    ck_assert_str_ne(err, "");
    /* The reason is for logs: it must not carry the credentials. */
    ck_assert_int_eq(
        idd_http_post_form(url, &loopback, "id", "p@ss-w0rd", "a=b", 3, &resp, err, sizeof(err)),
        IDD_EIO);
    ck_assert_ptr_null(strstr(err, "p@ss"));
    ck_assert_ptr_null(strstr(err, "p%40ss"));
    assert_no_response(&resp);
}
END_TEST

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A server that accepts and never answers must cost a worker no more than the total timeout. */
START_TEST(silent_server_times_out)
{
    test_server_t *s = server_start(SERVE_SILENT, "", 0);
    const idd_http_options_t quick = {.connect_timeout = 1, .total_timeout = 1, .allow_http = true};
    char url[128], err[256] = "";
    url_of(s, "http", "/", url, sizeof(url));
    idd_http_response_t resp;
    double start = now_seconds();
    ck_assert_int_eq(idd_http_get(url, &quick, &resp, err, sizeof(err)), IDD_EIO);
    double elapsed = now_seconds() - start;
    ck_assert_msg(elapsed >= 0.9 && elapsed < 3.0, "took %.2f s", elapsed);
    assert_no_response(&resp);
    server_stop(s);
    ck_assert_int_eq(atomic_load(&s->connections), 1);
    server_free(s);
}
END_TEST

/* A self-signed EC certificate for 127.0.0.1, valid for an hour, in a server context. */
static SSL_CTX *self_signed_context(void)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    ck_assert_ptr_nonnull(key);
    X509 *cert = X509_new();
    ck_assert_ptr_nonnull(cert);
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), -60);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
    X509_set_pubkey(cert, key);
    X509_NAME *name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"127.0.0.1", -1, -1,
                               0);
    X509_set_issuer_name(cert, name);
    ck_assert_int_gt(X509_sign(cert, key, EVP_sha256()), 0);
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    ck_assert_ptr_nonnull(ctx);
    ck_assert_int_eq(SSL_CTX_use_certificate(ctx, cert), 1);
    ck_assert_int_eq(SSL_CTX_use_PrivateKey(ctx, key), 1);
    X509_free(cert);
    EVP_PKEY_free(key);
    return ctx;
}

/*
 * Someone who can intercept the connection to the authority presents a certificate no CA
 * signed. If verification were off, the client would complete the handshake and believe the
 * keys or the introspection answer that came back; it must abort the handshake instead.
 */
START_TEST(untrusted_certificate_is_refused)
{
    char *r = make_response("200 OK", "", "{\"active\":true}");
    test_server_t *s = calloc(1, sizeof(*s));
    s->mode = SERVE_TLS;
    s->response = r;
    s->response_len = strlen(r);
    s->tls = self_signed_context();
    s->fd = listen_loopback(&s->port);
    ck_assert_int_eq(pthread_create(&s->thread, NULL, serve, s), 0);

    const idd_http_options_t strict = {.connect_timeout = 2, .total_timeout = 5};
    char url[128], err[256] = "";
    url_of(s, "https", "/", url, sizeof(url));
    idd_http_response_t resp;
    ck_assert_int_eq(idd_http_get(url, &strict, &resp, err, sizeof(err)), IDD_EIO);
    assert_no_response(&resp);
    server_stop(s);
    ck_assert_int_eq(atomic_load(&s->connections), 1);
    ck_assert_msg(s->tls_handshakes == 0, "the handshake completed: %s", err);
    server_free(s);
}
END_TEST

/* base64 of text by OpenSSL's encoder, not identityd's. */
static void openssl_base64(const char *text, char *out, size_t outlen)
{
    size_t len = strlen(text);
    ck_assert_uint_gt(outlen, 4 * ((len + 2) / 3));
    EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)text, (int)len);
}

START_TEST(post_form_sends_rfc6749_basic_credentials)
{
    test_server_t *s =
        server_answering("200 OK", "Content-Type: application/json\r\n", "{\"active\":false}");
    static const char form[] = "token=abc.def&token_type_hint=access_token";
    char url[128], err[256] = "", value[512], want[512];
    url_of(s, "http", "/introspect", url, sizeof(url));
    idd_http_response_t resp;
    ck_assert_int_eq(idd_http_post_form(url, &loopback, "id:x", "p@ss word+&", form, strlen(form),
                                        &resp, err, sizeof(err)),
                     0);
    ck_assert_int_eq(resp.status, 200);
    ck_assert_str_eq(resp.body.data, "{\"active\":false}");
    idd_http_response_dispose(&resp);
    server_stop(s);

    const char *req = s->request;
    ck_assert_msg(strncmp(req, "POST /introspect HTTP/1.1\r\n", 27) == 0, "%s", req);
    ck_assert_ptr_nonnull(header_value(req, "Content-Type", value, sizeof(value)));
    ck_assert_str_eq(value, "application/x-www-form-urlencoded");
    ck_assert_ptr_nonnull(header_value(req, "Accept", value, sizeof(value)));
    ck_assert_str_eq(value, "application/json");
    ck_assert_ptr_null(header_value(req, "Expect", value, sizeof(value)));
    /* RFC 6749 §2.3.1: each part form-urlencoded, then joined with ':', then base64. Written
     * out by hand: ':' is %3A, '@' is %40, ' ' is '+', '+' is %2B, '&' is %26. */
    char b64[256];
    openssl_base64("id%3Ax:p%40ss+word%2B%26", b64, sizeof(b64));
    snprintf(want, sizeof(want), "Basic %s", b64);
    ck_assert_ptr_nonnull(header_value(req, "Authorization", value, sizeof(value)));
    ck_assert_str_eq(value, want);
    const char *body = strstr(req, "\r\n\r\n");
    ck_assert_ptr_nonnull(body);
    ck_assert_str_eq(body + 4, form);
    server_free(s);
}
END_TEST

START_TEST(post_form_without_credentials)
{
    test_server_t *s = server_answering("200 OK", "", "{}");
    char url[128], err[256] = "", value[256];
    url_of(s, "http", "/token", url, sizeof(url));
    idd_http_response_t resp;
    ck_assert_int_eq(
        idd_http_post_form(url, &loopback, NULL, NULL, "a=1", 3, &resp, err, sizeof(err)), 0);
    ck_assert_int_eq(resp.status, 200);
    idd_http_response_dispose(&resp);
    /* One credential without the other is a caller's mistake, not "no credentials". */
    ck_assert_int_eq(
        idd_http_post_form(url, &loopback, "id", NULL, "a=1", 3, &resp, err, sizeof(err)),
        IDD_EINVAL);
    ck_assert_int_eq(
        idd_http_post_form(url, &loopback, NULL, "pw", "a=1", 3, &resp, err, sizeof(err)),
        IDD_EINVAL);
    server_stop(s);
    ck_assert_int_eq(atomic_load(&s->connections), 1);
    ck_assert_ptr_null(header_value(s->request, "Authorization", value, sizeof(value)));
    ck_assert_ptr_nonnull(strstr(s->request, "\r\n\r\na=1"));
    ck_assert_ptr_nonnull(header_value(s->request, "Content-Type", value, sizeof(value)));
    ck_assert_str_eq(value, "application/x-www-form-urlencoded");
    server_free(s);
}
END_TEST

START_TEST(form_encode_vectors)
{
    static const struct {
        const char *in;
        size_t len;
        const char *out;
    } cases[] = {
        {"", 0, ""},
        {"AZaz09-._~", 10, "AZaz09-._~"},
        {"a b", 3, "a+b"},
        {"id:x", 4, "id%3Ax"},
        {"p@ss word+&", 11, "p%40ss+word%2B%26"},
        {"/?#[]!$'()*,;=%", 15, "%2F%3F%23%5B%5D%21%24%27%28%29%2A%2C%3B%3D%25"},
        {"\"<>\\^`{|}", 9, "%22%3C%3E%5C%5E%60%7B%7C%7D"},
        {"\xc3\xa9\xff", 3, "%C3%A9%FF"},
        {"a\0b\n\r\t", 6, "a%00b%0A%0D%09"},
        {"\x7f\x1f", 2, "%7F%1F"},
    };
    for (size_t i = 0; i < IDD_ARRAY_LEN(cases); i++) {
        idd_buf_t b;
        idd_buf_init(&b);
        idd_buf_puts(&b, "k=");
        idd_http_form_encode(&b, cases[i].in, cases[i].len);
        ck_assert_str_eq(b.data + 2, cases[i].out);
        ck_assert_uint_eq(b.len, 2 + strlen(cases[i].out));
        idd_buf_dispose(&b);
    }
}
END_TEST

static Suite *httpclient_suite(void)
{
    Suite *s = suite_create("httpclient");
    TCase *tc = tcase_create("loopback");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, get_returns_status_body_and_content_type);
    tcase_add_loop_test(tc, cache_control_is_parsed, 0, (int)IDD_ARRAY_LEN(cache_cases));
    tcase_add_test(tc, long_content_type_is_truncated);
    tcase_add_test(tc, error_status_is_a_response);
    tcase_add_test(tc, body_over_the_limit_is_refused);
    tcase_add_test(tc, redirect_is_not_followed);
    tcase_add_test(tc, plain_http_is_refused_without_allow_http);
    tcase_add_test(tc, other_schemes_are_refused);
    tcase_add_test(tc, closed_port_is_an_io_error);
    tcase_add_test(tc, silent_server_times_out);
    tcase_add_test(tc, untrusted_certificate_is_refused);
    tcase_add_test(tc, post_form_sends_rfc6749_basic_credentials);
    tcase_add_test(tc, post_form_without_credentials);
    suite_add_tcase(s, tc);

    TCase *pure = tcase_create("pure");
    tcase_add_test(pure, form_encode_vectors);
    suite_add_tcase(s, pure);
    return s;
}

int main(void)
{
    /* A proxy from the environment would carry loopback requests elsewhere. */
    static const char *const proxies[] = {"http_proxy", "https_proxy", "all_proxy",
                                          "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"};
    for (size_t i = 0; i < IDD_ARRAY_LEN(proxies); i++)
        unsetenv(proxies[i]);
    idd_http_global_init();
    SRunner *sr = srunner_create(httpclient_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
