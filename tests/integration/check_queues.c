/*
 * What one hostile client can hold: work queued for requests whose client has gone, jobs per
 * connection and per client address, time in the queue, HTTP/2 streams opened and reset at
 * once (rapid reset), h2c switched off, and running out of descriptors. Every test waits for
 * the state it expects, read from /metrics or the socket, never for a wall-clock window: the
 * KDF is made slow (millions of PBKDF2 rounds, one worker) so that a job stays in the queue
 * for as long as the test needs it there.
 */
#include <arpa/inet.h>
#include <check.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

#define TOKEN_PATH "/api/2.0/security/oauth2/token"
#define USER "slow@example.com"
#define PASS "pw"
#define SLOW_KDF 3000000 /* rounds: a second or more per password check */

static th_env_t env;
static th_server_t srv;

static void start(unsigned iterations, const char *extra_yaml)
{
    th_threads = 1;
    th_password_iterations = iterations;
    char *yaml = th_strf("workers: 1\nbasic_cache: { ttl: 0 }\nbruteforce: { attempts: 1000 }\n%s",
                         extra_yaml);
    /* th_env_init writes `workers: 2` first; a later key of the same name is refused, so the
     * suite's own workers line replaces it. */
    th_env_init(&env, NULL, NULL);
    char *cfg = th_read_file(env.config);
    char *w = strstr(cfg, "workers: 2\n");
    ck_assert_ptr_nonnull(w);
    memmove(w, w + strlen("workers: 2\n"), strlen(w + strlen("workers: 2\n")) + 1);
    char *full = th_strf("%s%s", cfg, yaml);
    th_write_file(env.config, full, 0644);
    free(full);
    free(cfg);
    free(yaml);
    ck_assert_int_eq(th_add_user(&env, USER, PASS, "Slow", "Hash", "user"), 0);
    th_server_start(&srv, &env);
}

static void teardown(void)
{
    int rc = srv.pid > 0 ? th_server_stop(&srv) : 0;
    th_env_dispose(&env);
    th_nofile_soft = th_nofile_hard = 0;
    ck_assert_int_eq(rc, 0);
}

/* ---- /metrics ---------------------------------------------------------------------------- */

/* The value of the /metrics line that starts with series (name and labels). */
static unsigned long metric(const char *series)
{
    th_response_t r;
    th_get(&r, &srv, "/metrics", NULL);
    ck_assert_int_eq(r.status, 200);
    char *needle = th_strf("\n%s ", series);
    const char *line = strstr(r.body, needle);
    ck_assert_msg(line != NULL, "no %s in /metrics: %s", series, r.body);
    unsigned long v = strtoul(line + strlen(needle), NULL, 10);
    free(needle);
    th_response_dispose(&r);
    return v;
}

/* The jobs of a sign-in's password check by outcome. With a networked store its user lookup
 * is a job of the store pool ("db") first, where a cap or a client leaving may catch it
 * instead: those count too, and "run" only counts checks that reached the KDF. */
static unsigned long kdf(const char *outcome)
{
    char *s = th_strf("identityd_worker_jobs_total{pool=\"kdf\",outcome=\"%s\"}", outcome);
    unsigned long v = metric(s);
    free(s);
    if (th_store_pg() && strcmp(outcome, "run") != 0) {
        s = th_strf("identityd_worker_jobs_total{pool=\"db\",outcome=\"%s\"}", outcome);
        v += metric(s);
        free(s);
    }
    return v;
}

/* Waits (up to 120 s) until the KDF pool holds no job. */
static void wait_kdf_idle(void)
{
    for (int i = 0; i < 12000 && metric("identityd_worker_jobs{pool=\"kdf\"}") != 0; i++)
        usleep(10000);
    ck_assert_int_eq(metric("identityd_worker_jobs{pool=\"kdf\"}"), 0);
    for (int i = 0; th_store_pg() && i < 12000 && metric("identityd_worker_jobs{pool=\"db\"}") != 0;
         i++)
        usleep(10000);
}

/* ---- raw sockets ------------------------------------------------------------------------- */

static int dial(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)srv.port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_msg(connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0, "connect: %s",
                  strerror(errno));
    return fd;
}

static void send_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        ck_assert_msg(n > 0, "send: %s", strerror(errno));
        p += n;
        len -= (size_t)n;
    }
}

/* Reads what arrives within timeout_ms into buf (at most cap-1 bytes, NUL-terminated) and
 * returns the count; *eof is set when the peer closed or reset the connection. */
static size_t recv_some(int fd, char *buf, size_t cap, int timeout_ms, bool *eof)
{
    size_t got = 0;
    *eof = false;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    while (got + 1 < cap && poll(&p, 1, timeout_ms) == 1) {
        ssize_t n = recv(fd, buf + got, cap - 1 - got, 0);
        if (n <= 0) {
            *eof = true;
            break;
        }
        got += (size_t)n;
        timeout_ms = 200; /* the rest of what was sent together */
    }
    buf[got] = '\0';
    return got;
}

/* Waits (up to 60 s) until the peer closes fd, discarding what it sends; returns whether it
 * did. */
static bool wait_closed(int fd)
{
    char buf[4096];
    struct pollfd p = {.fd = fd, .events = POLLIN};
    for (double until = th_now() + 60; th_now() < until;) {
        if (poll(&p, 1, 1000) != 1)
            continue;
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n <= 0)
            return true;
    }
    return false;
}

/* ---- HTTP/2 frames by hand ------------------------------------------------------------- */

typedef struct frames {
    unsigned char b[65536];
    size_t n;
} frames_t;

static void frame(frames_t *f, uint8_t type, uint8_t flags, uint32_t stream, const void *payload,
                  size_t len)
{
    ck_assert(f->n + 9 + len <= sizeof(f->b));
    unsigned char *h = f->b + f->n;
    h[0] = (unsigned char)(len >> 16);
    h[1] = (unsigned char)(len >> 8);
    h[2] = (unsigned char)len;
    h[3] = type;
    h[4] = flags;
    h[5] = (unsigned char)(stream >> 24);
    h[6] = (unsigned char)(stream >> 16);
    h[7] = (unsigned char)(stream >> 8);
    h[8] = (unsigned char)stream;
    if (len > 0)
        memcpy(h + 9, payload, len);
    f->n += 9 + len;
}

static void preface(frames_t *f)
{
    static const char p[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    memcpy(f->b, p, sizeof(p) - 1);
    f->n = sizeof(p) - 1;
    frame(f, 0x4, 0, 0, NULL, 0); /* SETTINGS, none changed */
}

/* HPACK literal without indexing, new name, no Huffman (every string here is short). */
static size_t hpack_literal(unsigned char *out, const char *name, const char *value)
{
    size_t n = 0, nl = strlen(name), vl = strlen(value);
    ck_assert(nl < 127 && vl < 127);
    out[n++] = 0x00;
    out[n++] = (unsigned char)nl;
    memcpy(out + n, name, nl);
    n += nl;
    out[n++] = (unsigned char)vl;
    memcpy(out + n, value, vl);
    return n + vl;
}

/* A password of its own for request i (only the first is right): concurrent checks of one
 * credential share one KDF (auth/signin.c), and these tests need one pool job per request. */
static char *basic_for(int i)
{
    if (i == 0)
        return th_basic(USER, PASS);
    char *password = th_strf("%s %d", PASS, i);
    char *basic = th_basic(USER, password);
    free(password);
    return basic;
}

/* HEADERS (END_STREAM | END_HEADERS) for a Basic-authenticated token request, stream's own
 * password. */
static void token_headers(frames_t *f, uint32_t stream)
{
    unsigned char block[512];
    size_t n = 0;
    char *basic = basic_for((int)stream); /* "Authorization: Basic ..." */
    n += hpack_literal(block + n, ":method", "GET");
    n += hpack_literal(block + n, ":scheme", "http");
    n += hpack_literal(block + n, ":path", TOKEN_PATH);
    n += hpack_literal(block + n, ":authority", "127.0.0.1");
    n += hpack_literal(block + n, "authorization", basic + strlen("Authorization: "));
    free(basic);
    frame(f, 0x1, 0x5, stream, block, n);
}

static void rst_stream(frames_t *f, uint32_t stream)
{
    static const unsigned char cancel[4] = {0, 0, 0, 0x8};
    frame(f, 0x3, 0, stream, cancel, sizeof(cancel));
}

/* Sends a PING and reads frames until its ACK (true) or the connection ends (false). */
static bool ping_answered(int fd)
{
    frames_t *f = calloc(1, sizeof(*f));
    static const unsigned char data[8] = "idd-ping";
    frame(f, 0x6, 0, 0, data, sizeof(data));
    send_all(fd, f->b, f->n);
    free(f);
    unsigned char buf[16384];
    size_t have = 0;
    for (double until = th_now() + 60; th_now() < until;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 1000) != 1)
            continue;
        ssize_t n = recv(fd, buf + have, sizeof(buf) - have, 0);
        if (n <= 0)
            return false;
        have += (size_t)n;
        size_t at = 0;
        while (have - at >= 9) {
            size_t len = (size_t)buf[at] << 16 | (size_t)buf[at + 1] << 8 | buf[at + 2];
            if (have - at < 9 + len)
                break;
            if (buf[at + 3] == 0x6 && (buf[at + 4] & 1) && len == 8 &&
                memcmp(buf + at + 9, data, 8) == 0)
                return true;
            at += 9 + len;
        }
        memmove(buf, buf + at, have - at);
        have -= at;
        ck_assert_msg(have < sizeof(buf), "a frame larger than the test's buffer");
    }
    return false;
}

/* ---- many requests at once, with their answers' Retry-After --------------------------- */

typedef struct answer {
    long status;
    bool retry_after;
} answer_t;

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
    answer_t *a = arg;
    if (size * n >= 12 && strncasecmp(data, "retry-after:", 12) == 0)
        a->retry_after = true;
    return size * n;
}

/* n Basic token requests, each on its own HTTP/1.1 connection: all at once or, with
 * first_hashing, the others once a worker is hashing the first's password. */
static void many(answer_t *out, int n, bool first_hashing)
{
    CURLM *multi = curl_multi_init();
    struct curl_slist **headers = calloc((size_t)n, sizeof(*headers));
    char *u = th_url(&srv, TOKEN_PATH);
    CURL **easy = calloc((size_t)n, sizeof(*easy));
    for (int i = 0; i < n; i++) {
        if (i == 1 && first_hashing)
            th_pump_until_hashing(multi, &srv);
        memset(&out[i], 0, sizeof(out[i]));
        char *basic = basic_for(i);
        headers[i] = curl_slist_append(NULL, basic);
        free(basic);
        easy[i] = th_multi_add(multi, u, headers[i], NULL, 120);
        curl_easy_setopt(easy[i], CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(easy[i], CURLOPT_HEADERDATA, &out[i]);
        curl_easy_setopt(easy[i], CURLOPT_FORBID_REUSE, 1L);
    }
    th_multi_run(multi);
    for (int i = 0; i < n; i++) {
        out[i].status = th_multi_finish(multi, easy[i]);
        curl_slist_free_all(headers[i]);
    }
    curl_multi_cleanup(multi);
    free(headers);
    free(easy);
    free(u);
}

static void count(const answer_t *a, int n, int *ok, int *busy)
{
    *ok = *busy = 0;
    for (int i = 0; i < n; i++) {
        if (a[i].status == (i == 0 ? 200 : 401)) /* checked, right or wrong */
            (*ok)++;
        else {
            ck_assert_msg(a[i].status == 503, "request %d: status %ld", i, a[i].status);
            ck_assert_msg(a[i].retry_after, "request %d: 503 without Retry-After", i);
            (*busy)++;
        }
    }
}

/* ---- abandoned requests ---------------------------------------------------------------- */

/* Clients that send a Basic request and close at once leave no password check behind: the
 * worker drops each one whose client is gone, and a real sign-in right after is not queued
 * behind them. */
START_TEST(abandoned_http1_requests_are_dropped)
{
    enum { N = 200 };
    /* per_client high: as if each came from its own address. */
    start(200000, "queue: { per_client: 1000, max_wait_ms: 600000 }\n");
    char *basic = th_basic(USER, PASS);
    for (int i = 0; i < N; i++) {
        char *own = basic_for(i + 1);
        char *req = th_strf("GET " TOKEN_PATH " HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n\r\n", own);
        int fd = dial();
        send_all(fd, req, strlen(req));
        close(fd);
        free(req);
        free(own);
    }
    th_response_t r;
    th_get(&r, &srv, TOKEN_PATH, basic);
    ck_assert_int_eq(r.status, 200);
    th_response_dispose(&r);
    /* By the time the real sign-in was answered, few of the abandoned checks had run. */
    unsigned long ran = kdf("run");
    ck_assert_msg(ran <= N / 4, "%lu password checks ran for %d abandoned requests", ran, N);
    wait_kdf_idle();
    /* A dropped check is counted once its loop has the job back, a moment after the pool
     * let go of it. */
    unsigned long dropped = 0;
    for (int i = 0; i < 6000; i++) {
        ran = kdf("run");
        dropped = kdf("dropped");
        if (ran + dropped >= N + 1)
            break;
        usleep(10000);
    }
    ck_assert_msg(ran + dropped == N + 1, "run %lu + dropped %lu != %d", ran, dropped, N + 1);
    ck_assert_msg(dropped >= N * 3 / 4, "only %lu of %d abandoned checks dropped", dropped, N);
    free(basic);
}
END_TEST

/* HEADERS + RST_STREAM pairs: each stream's queued check is dropped, and past
 * http2_max_resets the connection is closed. */
START_TEST(http2_rapid_reset_closes_the_connection)
{
    enum { MAX = 5 };
    start(SLOW_KDF, "http2_max_resets: 5\nqueue: { per_client: 1000, max_wait_ms: 600000 }\n");
    int fd = dial();
    frames_t *f = calloc(1, sizeof(*f));
    preface(f);
    for (uint32_t i = 0; i < MAX; i++) {
        token_headers(f, 1 + 2 * i);
        rst_stream(f, 1 + 2 * i);
    }
    send_all(fd, f->b, f->n);
    /* At the bound, the connection still serves. */
    ck_assert_msg(ping_answered(fd), "connection closed after only %d resets", MAX);
    ck_assert_int_eq(metric("identityd_http2_reset_closes_total"), 0);
    /* One more is too many. */
    f->n = 0;
    token_headers(f, 1 + 2 * MAX);
    rst_stream(f, 1 + 2 * MAX);
    send_all(fd, f->b, f->n);
    ck_assert_msg(wait_closed(fd), "connection still open after %d resets", MAX + 1);
    close(fd);
    free(f);
    ck_assert_int_eq(metric("identityd_http2_reset_closes_total"), 1);
    /* The first stream's check was taken by the worker; the others never ran. */
    wait_kdf_idle();
    ck_assert_uint_le(kdf("run"), 1);
    if (th_store_pg()) {
        /* Each stream's user lookup went to the store pool first, whose several workers may
         * have taken a few before the resets came: those ended unused, the rest were dropped,
         * and none went on to the KDF but perhaps the first. */
        ck_assert_uint_ge(
            metric("identityd_worker_jobs_total{pool=\"db\",outcome=\"run\"}") +
                metric("identityd_worker_jobs_total{pool=\"db\",outcome=\"dropped\"}"),
            MAX + 1);
    } else {
        ck_assert_uint_ge(kdf("dropped"), MAX);
    }
}
END_TEST

/* ---- caps and the time bound ------------------------------------------------------------ */

/* Reads frames until `want` streams have ended; records each ended stream's id and whether
 * its HEADERS block began with :status 503 and carried retry-after. h2o 2.2.5 writes a status
 * outside HPACK's static table as a literal (0x08, length 3, "503", no Huffman) and a one-digit
 * header value raw; the first retry-after on a connection is a literal with its name from the
 * static table (index 53: 0x75), later ones refer to the dynamic table (any of 0xbe..0xff).
 * (libcurl's HTTP/2 with many streams at once was not reliable enough for this test.) */
typedef struct h2_answer {
    uint32_t stream;
    bool is_503;
    bool retry_after;
} h2_answer_t;

static void read_h2_answers(int fd, h2_answer_t *out, int want)
{
    unsigned char *buf = malloc(1 << 16);
    size_t have = 0;
    int ended = 0;
    h2_answer_t seen[16];
    int n_seen = 0;
    for (double until = th_now() + 60; ended < want && th_now() < until;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 1000) != 1)
            continue;
        ssize_t n = recv(fd, buf + have, (1 << 16) - have, 0);
        ck_assert_msg(n > 0, "connection closed");
        have += (size_t)n;
        size_t at = 0;
        while (have - at >= 9 && ended < want) {
            size_t len = (size_t)buf[at] << 16 | (size_t)buf[at + 1] << 8 | buf[at + 2];
            if (have - at < 9 + len)
                break;
            uint8_t type = buf[at + 3], flags = buf[at + 4];
            uint32_t stream = ((uint32_t)buf[at + 5] << 24 | (uint32_t)buf[at + 6] << 16 |
                               (uint32_t)buf[at + 7] << 8 | buf[at + 8]) &
                              0x7fffffff;
            const unsigned char *pl = buf + at + 9;
            if (type == 0x1 && n_seen < 16) {
                h2_answer_t *a = &seen[n_seen++];
                a->stream = stream;
                a->is_503 = len >= 5 && memcmp(pl,
                                               "\x08\x03"
                                               "503",
                                               5) == 0;
                a->retry_after = false;
                for (size_t i = 5; i + 2 < len; i++)
                    if (pl[i] == 0x75 && pl[i + 1] == 0x01 && pl[i + 2] == '1')
                        a->retry_after = true;
                if (a->is_503 && !a->retry_after && n_seen > 1)
                    for (size_t i = 5; i < len; i++)
                        if (pl[i] >= 0xbe)
                            a->retry_after = true; /* dynamic-table references */
            }
            if ((type == 0x0 || type == 0x1) && (flags & 0x1) && stream != 0) {
                for (int i = 0; i < n_seen; i++)
                    if (seen[i].stream == stream)
                        out[ended++] = seen[i];
            }
            at += 9 + len;
        }
        memmove(buf, buf + at, have - at);
        have -= at;
    }
    ck_assert_int_eq(ended, want);
    free(buf);
}

/* Six streams on one HTTP/2 connection, sent in one write so that h2o reads them together:
 * queue.per_connection (4) are queued, streams 9 and 11 are answered 503 with Retry-After at
 * once, long before the first password check (seconds) is done. */
START_TEST(per_connection_cap_answers_503)
{
    start(SLOW_KDF, "queue: { per_client: 1000, max_wait_ms: 600000 }\n");
    int fd = dial();
    frames_t *f = calloc(1, sizeof(*f));
    preface(f);
    for (uint32_t i = 0; i < 6; i++)
        token_headers(f, 1 + 2 * i);
    send_all(fd, f->b, f->n);
    free(f);
    h2_answer_t a[2];
    read_h2_answers(fd, a, 2);
    for (int i = 0; i < 2; i++) {
        ck_assert_msg(a[i].stream == 9 || a[i].stream == 11, "stream %u answered first",
                      a[i].stream);
        ck_assert_msg(a[i].is_503, "stream %u: not 503", a[i].stream);
        ck_assert_msg(a[i].retry_after, "stream %u: no retry-after", a[i].stream);
    }
    ck_assert_uint_eq(kdf("capped"), 2);
    ck_assert_uint_le(kdf("run"), 1); /* the first at most; the next three wait behind it */
    close(fd);
}
END_TEST

/* Five HTTP/1.1 connections from one address with queue.per_client 2. */
START_TEST(per_client_cap_answers_503)
{
    start(SLOW_KDF, "queue: { per_client: 2, max_wait_ms: 600000 }\n");
    answer_t a[5];
    many(a, 5, false);
    int ok, busy;
    count(a, 5, &ok, &busy);
    ck_assert_int_eq(ok, 2);
    ck_assert_int_eq(busy, 3);
    ck_assert_uint_eq(kdf("capped"), 3);
}
END_TEST

/* With the one worker hashing for a second or more, jobs that wait past queue.max_wait_ms
 * are answered 503 with Retry-After, and never run. The first is sent alone and the others
 * only once it is being hashed: a worker that a loaded machine wakes late must not make the
 * first expire too. */
START_TEST(queue_wait_is_bounded)
{
    start(SLOW_KDF, "queue: { per_client: 1000, max_wait_ms: 300 }\n");
    answer_t a[3];
    many(a, 3, true);
    int ok, busy;
    count(a, 3, &ok, &busy);
    ck_assert_int_eq(ok, 1);
    ck_assert_int_eq(busy, 2);
    ck_assert_int_eq(a[0].status, 200);
    ck_assert_uint_eq(kdf("expired"), 2);
    ck_assert_uint_eq(kdf("run"), 1);
}
END_TEST

/* ---- http2: false ------------------------------------------------------------------------ */

static const char upgrade_req[] = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                  "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
                                  "HTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n";

/* First bytes of the answer to what is sent on a new connection. */
static void first_answer(const char *sent, char *buf, size_t cap)
{
    int fd = dial();
    send_all(fd, sent, strlen(sent));
    bool eof;
    recv_some(fd, buf, cap, 30000, &eof);
    close(fd);
}

START_TEST(http2_on_by_default)
{
    start(1000, "");
    char buf[4096];
    first_answer(upgrade_req, buf, sizeof(buf));
    ck_assert_msg(strncmp(buf, "HTTP/1.1 101", 12) == 0, "no h2c upgrade: %.60s", buf);
    th_response_t r;
    char *u = th_url(&srv, "/health");
    th_http(&r, "GET", u, NULL, NULL, 0, TH_HTTP2);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq(r.http_version, CURL_HTTP_VERSION_2_0);
    th_response_dispose(&r);
    free(u);
}
END_TEST

START_TEST(http2_false_refuses_h2c)
{
    start(1000, "http2: false\n");
    char buf[4096];
    first_answer(upgrade_req, buf, sizeof(buf));
    ck_assert_msg(strncmp(buf, "HTTP/1.1 200", 12) == 0, "Upgrade: h2c not ignored: %.60s", buf);
    first_answer("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", buf, sizeof(buf));
    ck_assert_msg(strncmp(buf, "HTTP/1.1 400", 12) == 0, "h2c preface not refused: %.60s", buf);
}
END_TEST

/* ---- descriptors and connections -------------------------------------------------------- */

static double cpu_seconds(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    char *stat = th_read_file(path);
    ck_assert_ptr_nonnull(stat);
    const char *p = strrchr(stat, ')');
    ck_assert_ptr_nonnull(p);
    unsigned long utime = 0, stime = 0;
    /* after ")": state, then fields 4..13; utime and stime are fields 14 and 15 */
    int n = sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime);
    ck_assert_int_eq(n, 2);
    free(stat);
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

/* Out of descriptors, identityd neither spins nor stays stuck: it pauses accepting, uses
 * almost no CPU, and answers again once connections close. It also raised its soft limit. */
START_TEST(out_of_descriptors_backs_off)
{
    enum { N = 120 };
    th_nofile_soft = 32;
    th_nofile_hard = 64;
    start(1000, "");
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/limits", (int)srv.pid);
    char *limits = th_read_file(path);
    const char *line = limits != NULL ? strstr(limits, "Max open files") : NULL;
    ck_assert_ptr_nonnull(line);
    unsigned long soft = 0, hard = 0;
    ck_assert_int_eq(sscanf(line + strlen("Max open files"), "%lu %lu", &soft, &hard), 2);
    ck_assert_msg(soft == 64 && hard == 64, "open files limit %lu/%lu, not raised to 64", soft,
                  hard);
    free(limits);

    int fds[N];
    for (int i = 0; i < N; i++)
        fds[i] = dial(); /* the kernel completes these in the backlog */
    /* Wait until identityd has hit the limit (it logs the first pause). */
    bool paused = false;
    for (int i = 0; i < 3000 && !paused; i++) {
        char *log = th_read_file(srv.log);
        paused = log != NULL && strstr(log, "accept: Too many open files") != NULL;
        free(log);
        if (!paused)
            usleep(10000);
    }
    ck_assert_msg(paused, "identityd never ran out of descriptors");
    double c0 = cpu_seconds(srv.pid), t0 = th_now();
    sleep(3);
    double used = cpu_seconds(srv.pid) - c0, spent = th_now() - t0;
    /* A loop spinning on accept would use a whole core; identityd under a sanitizer, on a
     * loaded machine, still does its timers' work in these seconds. */
    ck_assert_msg(used < 1.0, "%.2f CPU-seconds in %.1f s while out of descriptors", used, spent);

    for (int i = 0; i < N; i++)
        close(fds[i]);
    /* With PostgreSQL the probe runs on a store pool thread, whose connection attempts failed
     * too while descriptors were out: it answers 503 at once until its backoff (at most 5 s)
     * lets it connect again. */
    th_response_t r;
    for (double t1 = th_now();;) {
        th_get(&r, &srv, "/health", NULL);
        if (r.status == 200 || !th_store_pg() || th_now() - t1 > 30)
            break;
        ck_assert_int_eq(r.status, 503);
        th_response_dispose(&r);
        usleep(50000);
    }
    ck_assert_int_eq(r.status, 200);
    th_response_dispose(&r);
    ck_assert_uint_ge(metric("identityd_accept_pauses_total"), 1);
}
END_TEST

/* GET path on a kept-alive raw HTTP/1.1 connection; returns the answer's text. */
static char *raw_get(int fd, const char *path)
{
    char *req = th_strf("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", path);
    send_all(fd, req, strlen(req));
    free(req);
    char *buf = calloc(1, 65536);
    bool eof;
    recv_some(fd, buf, 65536, 30000, &eof);
    return buf;
}

static unsigned long series_in(const char *text, const char *series)
{
    char *needle = th_strf("\n%s ", series);
    const char *line = strstr(text, needle);
    ck_assert_msg(line != NULL, "no %s in: %s", series, text);
    unsigned long v = strtoul(line + strlen(needle), NULL, 10);
    free(needle);
    return v;
}

/* With max_connections 3 (one thread), a fourth connection is closed at once; after one
 * closes, a new one is served. */
START_TEST(max_connections_refuses_beyond_the_limit)
{
    start(1000, "max_connections: 3\n");
    int a = dial(), b = dial(), c = dial();
    /* Wait until all three are accepted, asking over the first. */
    unsigned long open = 0;
    for (int i = 0; i < 1000 && open != 3; i++) {
        char *m = raw_get(a, "/metrics");
        open = series_in(m, "identityd_connections");
        free(m);
        if (open != 3)
            usleep(10000);
    }
    ck_assert_int_eq(open, 3);
    int d = dial();
    ck_assert_msg(wait_closed(d), "a fourth connection was kept");
    close(d);
    char *m = raw_get(a, "/metrics");
    ck_assert_int_eq(series_in(m, "identityd_connections_refused_total"), 1);
    free(m);
    close(b);
    close(c);
    for (int i = 0; i < 1000 && open != 1; i++) {
        m = raw_get(a, "/metrics");
        open = series_in(m, "identityd_connections");
        free(m);
        if (open != 1)
            usleep(10000);
    }
    ck_assert_int_eq(open, 1);
    th_response_t r;
    th_get(&r, &srv, "/health", NULL);
    ck_assert_int_eq(r.status, 200);
    th_response_dispose(&r);
    close(a);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("queues");
    TCase *tc = tcase_create("queues");
    tcase_set_timeout(tc, 240);
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, abandoned_http1_requests_are_dropped);
    tcase_add_test(tc, http2_rapid_reset_closes_the_connection);
    tcase_add_test(tc, per_connection_cap_answers_503);
    tcase_add_test(tc, per_client_cap_answers_503);
    tcase_add_test(tc, queue_wait_is_bounded);
    tcase_add_test(tc, http2_on_by_default);
    tcase_add_test(tc, http2_false_refuses_h2c);
    tcase_add_test(tc, out_of_descriptors_backs_off);
    tcase_add_test(tc, max_connections_refuses_beyond_the_limit);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    return th_run_suite(suite());
}
