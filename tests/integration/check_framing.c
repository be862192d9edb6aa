/*
 * Request framing on the wire: requests whose Host or body length can be read two ways,
 * written byte for byte on a raw socket to the real identityd (libcurl would never send
 * them). Each must get 400 in the error envelope with "Connection: close", the socket must
 * then reach EOF, and nothing after the first response may arrive: in particular no answer
 * to a request smuggled after a chunked body. HTTP/2 is spoken by hand (prior-knowledge h2c:
 * the preface, SETTINGS, and a HEADERS frame of HPACK literals without indexing).
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

#define SETTINGS_PATH "/api/2.0/settings"
#define SIGNIN_PATH "/api/2.0/authentication"
/* Long enough for a loaded machine; the server closes at once when it behaves. */
#define WAIT_MS 30000

static th_env_t env;
static th_server_t srv;

static void setup(void)
{
    th_env_init(&env, NULL, NULL);
    th_server_start(&srv, &env);
}

static void teardown(void)
{
    ck_assert_int_eq(th_server_stop(&srv), 0);
    th_env_dispose(&env);
}

/* ---- raw sockets ---------------------------------------------------------------------------- */

static int connect_raw(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)srv.port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    return fd;
}

static void write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        ck_assert_msg(n > 0, "write: %s", strerror(errno));
        p += n;
        len -= (size_t)n;
    }
}

/* Reads into *buf (grown, NUL-terminated) until want bytes are there (0: until EOF).
 * Returns 1 at EOF, 0 when want was reached first; fails when the server stays silent. */
static int read_some(int fd, char **buf, size_t *len, size_t *cap, size_t want)
{
    while (want == 0 || *len < want) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int pr = poll(&p, 1, WAIT_MS);
        if (pr < 0 && errno == EINTR)
            continue;
        ck_assert_msg(pr == 1, "no data and no EOF within %d ms (got %zu bytes: %.*s)", WAIT_MS,
                      *len, (int)*len, *buf ? *buf : "");
        if (*cap - *len < 4097) {
            *cap = *cap * 2 + 8192;
            *buf = realloc(*buf, *cap);
        }
        ssize_t n = read(fd, *buf + *len, *cap - *len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) /* EOF, or a reset after the server closed: the connection is over */
            return 1;
        *len += (size_t)n;
        (*buf)[*len] = '\0';
    }
    return 0;
}

/* Sends request on a new connection, reads everything until the server closes it (failing
 * when it does not), and parses the first response into r. Asserts that nothing follows
 * that response: no second response, e.g. to bytes after a chunked body. */
static void exchange(th_response_t *r, const char *request, size_t len)
{
    int fd = connect_raw();
    write_all(fd, request, len);
    char *buf = NULL;
    size_t got = 0, cap = 0;
    read_some(fd, &buf, &got, &cap, 0);
    close(fd);
    ck_assert_msg(got > 0 && buf != NULL, "connection closed without a response");

    memset(r, 0, sizeof(*r));
    ck_assert_msg(sscanf(buf, "HTTP/1.1 %ld ", &r->status) == 1, "no status line: %s", buf);
    const char *head_end = strstr(buf, "\r\n\r\n");
    ck_assert_msg(head_end != NULL, "no end of head: %s", buf);
    const char *first_eol = strstr(buf, "\r\n");
    r->headers = strndup(first_eol + 2, (size_t)(head_end + 2 - (first_eol + 2)));
    char *cl = th_header(r, "content-length");
    ck_assert_msg(cl != NULL, "no Content-Length: %s", buf);
    size_t body_len = strtoul(cl, NULL, 10);
    free(cl);
    const char *body = head_end + 4;
    size_t after_head = got - (size_t)(body - buf);
    ck_assert_msg(after_head >= body_len, "short body: %s", buf);
    r->body = strndup(body, body_len);
    r->body_len = body_len;
    ck_assert_msg(after_head == body_len, "bytes after the first response: %s", body + body_len);
    free(buf);
}

/* Asserts 400, the error envelope with reason, and that the server said it closes. */
static void assert_refused(const char *request, const char *reason)
{
    th_response_t r;
    exchange(&r, request, strlen(request));
    th_assert_error_envelope(&r, 400);
    th_assert_error_message(&r, reason);
    char *connection = th_header(&r, "connection");
    ck_assert_msg(connection != NULL && strcasecmp(connection, "close") == 0, "Connection: %s",
                  connection ? connection : "(none)");
    free(connection);
    th_response_dispose(&r);
}

/* ---- HTTP/1 ------------------------------------------------------------------------------------
 */

START_TEST(two_host_headers_differing)
{
    /* h2o took the last one: this was answered for second.test's tenant. */
    assert_refused("GET " SETTINGS_PATH " HTTP/1.1\r\nHost: localhost\r\nHost: second.test\r\n\r\n",
                   "More than one Host header");
}
END_TEST

START_TEST(two_host_headers_equal)
{
    /* RFC 9112 §3.2: more than one Host line is 400 whatever the values. */
    assert_refused("GET " SETTINGS_PATH " HTTP/1.1\r\nHost: localhost\r\nHost: localhost\r\n\r\n",
                   "More than one Host header");
}
END_TEST

/* The chunked body ends at "0\r\n\r\n"; a front end going by Content-Length: 45 would take
 * the GET below as part of this body, h2o took it as the next request. */
#define SMUGGLED "GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n"

START_TEST(transfer_encoding_with_content_length)
{
    assert_refused("POST " SIGNIN_PATH " HTTP/1.1\r\nHost: localhost\r\n"
                   "Content-Type: application/json\r\nContent-Length: 45\r\n"
                   "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" SMUGGLED,
                   "Transfer-Encoding and Content-Length together");
    /* The order of the two fields does not matter. */
    assert_refused("POST " SIGNIN_PATH " HTTP/1.1\r\nHost: localhost\r\n"
                   "Transfer-Encoding: chunked\r\nContent-Length: 45\r\n"
                   "Content-Type: application/json\r\n\r\n0\r\n\r\n" SMUGGLED,
                   "Transfer-Encoding and Content-Length together");
}
END_TEST

START_TEST(transfer_encoding_not_chunked_alone)
{
    /* h2o reads only the last Transfer-Encoding field, and decoded this as chunked. */
    assert_refused("POST " SIGNIN_PATH " HTTP/1.1\r\nHost: localhost\r\n"
                   "Transfer-Encoding: xchunked\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "0\r\n\r\n" SMUGGLED,
                   "Unsupported Transfer-Encoding");
    /* HTTP/1.0 has no Transfer-Encoding (RFC 9112 §6.1). */
    assert_refused("POST " SIGNIN_PATH " HTTP/1.0\r\nHost: localhost\r\n"
                   "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" SMUGGLED,
                   "Transfer-Encoding in an HTTP/1.0 request");
}
END_TEST

START_TEST(two_content_lengths_differing)
{
    /* h2o used the first (2): the rest was read as the next request. */
    assert_refused("POST " SIGNIN_PATH " HTTP/1.1\r\nHost: localhost\r\n"
                   "Content-Type: application/json\r\nContent-Length: 2\r\n"
                   "Content-Length: 43\r\n\r\n{}" SMUGGLED,
                   "More than one Content-Length header");
    /* A sign in the second one, which h2o never looked at. */
    assert_refused("POST " SIGNIN_PATH " HTTP/1.1\r\nHost: localhost\r\n"
                   "Content-Length: 2\r\nContent-Length: +2\r\n\r\n{}",
                   "Invalid Content-Length");
}
END_TEST

START_TEST(two_content_lengths_equal)
{
    /* RFC 9110 §8.6 lets a recipient merge equal values or refuse: identityd refuses, so
     * no reading of "2" and "02" as equal or not is ever needed. */
    assert_refused("POST " SIGNIN_PATH " HTTP/1.1\r\nHost: localhost\r\n"
                   "Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}",
                   "More than one Content-Length header");
    assert_refused("POST " SIGNIN_PATH " HTTP/1.1\r\nHost: localhost\r\n"
                   "Content-Length: 2\r\nContent-Length: 02\r\n\r\n{}",
                   "More than one Content-Length header");
}
END_TEST

START_TEST(folded_host_line)
{
    /* h2o read " second.test" as a field without a name; a proxy may append it to Host. */
    assert_refused("GET " SETTINGS_PATH " HTTP/1.1\r\nHost: localhost\r\n second.test\r\n\r\n",
                   "Folded header lines are not accepted");
}
END_TEST

/* Sound requests on one keep-alive connection still get their answers, a chunked body
 * included: the check reads the right head each time. (A control: it passed before too.) */
START_TEST(sound_requests_keep_the_connection)
{
    const char *two = "POST " SIGNIN_PATH " HTTP/1.1\r\nHost: localhost\r\n"
                      "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "2\r\n{}\r\n0\r\n\r\n"
                      "GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    int fd = connect_raw();
    write_all(fd, two, strlen(two));
    char *buf = NULL;
    size_t got = 0, cap = 0;
    read_some(fd, &buf, &got, &cap, 0);
    close(fd);
    ck_assert_ptr_nonnull(buf);
    ck_assert_msg(strncmp(buf, "HTTP/1.1 400 ", 13) == 0, "%s", buf);
    ck_assert_msg(strstr(buf, "userName is required") != NULL, "%s", buf);
    const char *second = strstr(buf + 1, "HTTP/1.1 200 ");
    ck_assert_msg(second != NULL && strstr(second, "\"ok\"") != NULL, "%s", buf);
    free(buf);
}
END_TEST

/* ---- HTTP/2 (prior-knowledge h2c) --------------------------------------------------------------
 */

typedef struct {
    unsigned char *p;
    size_t len, cap;
} bytes_t;

static void put(bytes_t *b, const void *data, size_t len)
{
    if (b->len + len > b->cap) {
        b->cap = (b->len + len) * 2;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, data, len);
    b->len += len;
}

/* HPACK literal header field without indexing, new name (RFC 7541 §6.2.2), short strings. */
static void literal(bytes_t *b, const char *name, const char *value)
{
    size_t nl = strlen(name), vl = strlen(value);
    ck_assert(nl < 127 && vl < 127);
    unsigned char op = 0x00, n = (unsigned char)nl, v = (unsigned char)vl;
    put(b, &op, 1);
    put(b, &n, 1);
    put(b, name, nl);
    put(b, &v, 1);
    put(b, value, vl);
}

static void frame(bytes_t *b, uint8_t type, uint8_t flags, uint32_t stream, const bytes_t *payload)
{
    size_t len = payload ? payload->len : 0;
    unsigned char h[9] = {(unsigned char)(len >> 16),
                          (unsigned char)(len >> 8),
                          (unsigned char)len,
                          type,
                          flags,
                          (unsigned char)(stream >> 24),
                          (unsigned char)(stream >> 16),
                          (unsigned char)(stream >> 8),
                          (unsigned char)stream};
    put(b, h, sizeof(h));
    if (len > 0)
        put(b, payload->p, len);
}

/* One GET on stream 1 with :authority and, when not NULL, host fields; returns the status
 * (from h2o's indexed :status) and the DATA of stream 1 as r->body. */
static void h2_get(th_response_t *r, const char *authority, const char *const hosts[])
{
    bytes_t block = {0}, out = {0};
    literal(&block, ":method", "GET");
    literal(&block, ":scheme", "http");
    literal(&block, ":path", SETTINGS_PATH);
    literal(&block, ":authority", authority);
    for (size_t i = 0; hosts != NULL && hosts[i] != NULL; i++)
        literal(&block, "host", hosts[i]);
    put(&out, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 24);
    frame(&out, 0x4 /* SETTINGS */, 0, 0, NULL);
    frame(&out, 0x1 /* HEADERS */, 0x4 | 0x1 /* END_HEADERS | END_STREAM */, 1, &block);
    int fd = connect_raw();
    write_all(fd, out.p, out.len);
    free(block.p);
    free(out.p);

    memset(r, 0, sizeof(*r));
    char *buf = NULL, *body = strdup("");
    size_t got = 0, cap = 0, off = 0, body_len = 0;
    for (;;) {
        ck_assert_msg(read_some(fd, &buf, &got, &cap, off + 9) == 0, "EOF before a response");
        const unsigned char *f = (const unsigned char *)buf + off;
        size_t flen = ((size_t)f[0] << 16) | ((size_t)f[1] << 8) | f[2];
        uint8_t type = f[3], flags = f[4];
        uint32_t stream =
            ((uint32_t)(f[5] & 0x7f) << 24) | ((uint32_t)f[6] << 16) | ((uint32_t)f[7] << 8) | f[8];
        ck_assert_msg(read_some(fd, &buf, &got, &cap, off + 9 + flen) == 0, "EOF in a frame");
        f = (const unsigned char *)buf + off;
        const unsigned char *payload = f + 9;
        ck_assert_msg(type != 0x7 /* GOAWAY */ && type != 0x3 /* RST_STREAM */,
                      "the server ended the stream (frame type %u)", type);
        if (type == 0x1 && stream == 1) {
            /* h2o writes :status first, indexed from the static table (RFC 7541 App. A). */
            static const long statuses[] = {200, 204, 206, 304, 400, 404, 500};
            ck_assert_msg(flen > 0 && (payload[0] & 0x80) && (payload[0] & 0x7f) >= 8 &&
                              (payload[0] & 0x7f) <= 14,
                          "unexpected :status encoding 0x%02x", flen ? payload[0] : 0);
            r->status = statuses[(payload[0] & 0x7f) - 8];
        } else if (type == 0x0 && stream == 1) {
            body = realloc(body, body_len + flen + 1);
            memcpy(body + body_len, payload, flen);
            body_len += flen;
            body[body_len] = '\0';
        }
        off += 9 + flen;
        if (stream == 1 && (flags & 0x1 /* END_STREAM */))
            break;
    }
    close(fd);
    free(buf);
    ck_assert_msg(r->status != 0, "no HEADERS on stream 1");
    r->body = body;
    r->body_len = body_len;
}

/* The status and the error envelope's body (the response's HPACK-coded headers are not
 * decoded here beyond :status). */
static void assert_h2_refused(th_response_t *r, const char *reason)
{
    ck_assert_msg(r->status == 400, "expected 400, got %ld: %s", r->status, r->body);
    json_t *j = th_json_parse(r->body);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "status")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "statusCode")), 400);
    json_decref(j);
    th_assert_error_message(r, reason);
    th_response_dispose(r);
}

START_TEST(h2c_host_disagreeing_with_authority)
{
    th_response_t r;
    /* h2o dropped the Host field and answered for :authority's tenant. */
    const char *other[] = {"second.test", NULL};
    h2_get(&r, "localhost", other);
    assert_h2_refused(&r, "Host disagrees with :authority");

    const char *two[] = {"localhost", "localhost", NULL};
    h2_get(&r, "localhost", two);
    assert_h2_refused(&r, "More than one Host header");
}
END_TEST

/* A Host equal to :authority (an intermediary may keep it) and none at all are served. */
START_TEST(h2c_host_agreeing_with_authority)
{
    th_response_t r;
    const char *same[] = {"LocalHost", NULL};
    h2_get(&r, "localhost", same);
    ck_assert_msg(r.status == 200, "%ld: %s", r.status, r.body);
    th_response_dispose(&r);
    h2_get(&r, "localhost", NULL);
    ck_assert_msg(r.status == 200, "%ld: %s", r.status, r.body);
    th_response_dispose(&r);
}
END_TEST

static Suite *framing_suite(void)
{
    Suite *s = suite_create("framing");
    TCase *tc = tcase_create("framing");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, two_host_headers_differing);
    tcase_add_test(tc, two_host_headers_equal);
    tcase_add_test(tc, transfer_encoding_with_content_length);
    tcase_add_test(tc, transfer_encoding_not_chunked_alone);
    tcase_add_test(tc, two_content_lengths_differing);
    tcase_add_test(tc, two_content_lengths_equal);
    tcase_add_test(tc, folded_host_line);
    tcase_add_test(tc, sound_requests_keep_the_connection);
    tcase_add_test(tc, h2c_host_disagreeing_with_authority);
    tcase_add_test(tc, h2c_host_agreeing_with_authority);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return th_run_suite(framing_suite());
}
