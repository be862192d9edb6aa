/*
 * HTTPS served by identityd itself: a real identityd with a cleartext listener and a TLS
 * listener whose CA and certificate (for 127.0.0.1 and localhost) tests/scripts/
 * make_test_cert.sh makes in the test's folder. libcurl trusts that CA only. Covered: a
 * token over HTTP/1.1 and over HTTP/2 by ALPN (and not with http2: false), the minimum TLS
 * version, https in the token's tenant_url and Secure on the session cookie, what a client
 * that does not speak TLS gets, a stalled handshake beside working clients, and the
 * refusals of `identityd -t` for bad TLS files, and certificates replaced by a reload (SIGHUP)
 * without dropping a connection.
 */
#include <arpa/inet.h>
#include <check.h>
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "harness.h"

#define TOKEN_PATH "/api/2.0/security/oauth2/token"
#define AUTH_PATH "/api/2.0/authentication"

static th_env_t env;
static th_server_t srv;
static int tls_port;

/* ---- plumbing --------------------------------------------------------------------------- */

static char *in_env(const char *name)
{
    return th_strf("%s/%s", env.dir, name);
}

static void make_cert(const char *name)
{
    char *cmd = th_strf("sh '%s/tests/scripts/make_test_cert.sh' '%s' '%s'",
                        th_getenv("IDD_SOURCE_DIR"), env.dir, name);
    ck_assert_int_eq(system(cmd), 0);
    free(cmd);
}

/* Replaces the harness's one-address listen: line with a cleartext and a TLS listener
 * (line 3 of the file, where the TLS errors point). */
static void write_listen(const char *tls_extra)
{
    char *yaml = th_read_file(env.config);
    ck_assert_ptr_nonnull(yaml);
    const char *first = "listen: [\"127.0.0.1:0\"]\n";
    ck_assert(strncmp(yaml, first, strlen(first)) == 0);
    char *out = th_strf("listen:\n"
                        "  - \"127.0.0.1:0\"\n"
                        "  - { address: \"127.0.0.1:0\", tls: { cert_file: server.pem,"
                        " key_file: server.key%s } }\n"
                        "%s",
                        tls_extra ? tls_extra : "", yaml + strlen(first));
    th_write_file(env.config, out, 0644);
    free(out);
    free(yaml);
}

static void env_with(const char *extra_yaml, const char *tls_extra)
{
    th_env_init(&env, extra_yaml, NULL);
    make_cert("server");
    write_listen(tls_extra);
}

/* identityd logs "listening on https://127.0.0.1:PORT" for the TLS listener, after the
 * cleartext one th_server_start waited for: wait for that line too. */
static int find_tls_port(void)
{
    const char *mark = "listening on https://127.0.0.1:";
    for (int i = 0; i < 3000; i++) {
        char *log = th_read_file(srv.log);
        const char *p = log ? strstr(log, mark) : NULL;
        int port = p != NULL ? atoi(p + strlen(mark)) : 0;
        free(log);
        if (port > 0)
            return port;
        usleep(10000);
    }
    char *log = th_read_file(srv.log);
    ck_abort_msg("no https listener in the log: %s", log ? log : "");
}

static void start_with(const char *extra_yaml, const char *tls_extra)
{
    env_with(extra_yaml, tls_extra);
    ck_assert_int_eq(th_add_user(&env, "user@example.com", "user pass", "Bob", "User", "user"), 0);
    th_server_start(&srv, &env);
    tls_port = find_tls_port();
}

static void setup(void)
{
    start_with(NULL, NULL);
}

static void setup_http1_only(void)
{
    start_with("http2: false\n", NULL);
}

static void setup_tls13(void)
{
    start_with(NULL, ", min_version: TLSv1.3");
}

/* One loop: a client stalled on it must not hold up the others. */
static void setup_one_thread(void)
{
    th_threads = 1;
    start_with(NULL, NULL);
    th_threads = 2;
}

static void teardown(void)
{
    ck_assert_int_eq(th_server_stop(&srv), 0);
    th_env_dispose(&env);
}

typedef struct tls_opts {
    long http_version;  /* CURLOPT_HTTP_VERSION; 0: libcurl's default */
    long ssl_version;   /* CURLOPT_SSLVERSION; 0: libcurl's default */
    const char *scheme; /* "https" unless set */
} tls_opts_t;

static size_t collect(char *data, size_t size, size_t n, void *arg)
{
    char **s = arg;
    size_t had = *s ? strlen(*s) : 0;
    *s = realloc(*s, had + size * n + 1);
    memcpy(*s + had, data, size * n);
    (*s)[had + size * n] = '\0';
    return size * n;
}

/* One request to the TLS listener (trusting only the test CA); returns libcurl's result, and
 * the answer in r when it is CURLE_OK. */
static CURLcode tls_request(th_response_t *r, const char *method, const char *path,
                            const char *const headers[], const char *body, tls_opts_t o)
{
    memset(r, 0, sizeof(*r));
    char *url = th_strf("%s://127.0.0.1:%d%s", o.scheme ? o.scheme : "https", tls_port, path);
    char *ca = in_env("ca.pem");
    CURL *curl = curl_easy_init();
    struct curl_slist *list = NULL;
    for (size_t i = 0; headers != NULL && headers[i] != NULL; i++)
        list = curl_slist_append(list, headers[i]);
    char *b = NULL, *h = NULL;
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(curl, CURLOPT_CAINFO, ca);
    curl_easy_setopt(curl, CURLOPT_SSL_SESSIONID_CACHE, 0L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &h);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    if (body != NULL)
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    if (o.http_version != 0)
        curl_easy_setopt(curl, CURLOPT_HTTP_VERSION, o.http_version);
    if (o.ssl_version != 0) {
        curl_easy_setopt(curl, CURLOPT_SSLVERSION, o.ssl_version);
        /* OpenSSL's client refuses TLS 1.0 and 1.1 itself at its default security level:
         * lowered, so that a refusal can only come from identityd. */
        curl_easy_setopt(curl, CURLOPT_SSL_CIPHER_LIST, "DEFAULT:@SECLEVEL=0");
    }
    CURLcode rc = curl_easy_perform(curl);
    if (rc == CURLE_OK) {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r->status);
        curl_easy_getinfo(curl, CURLINFO_HTTP_VERSION, &r->http_version);
        r->body = b ? b : strdup("");
        r->body_len = strlen(r->body);
        r->headers = h ? h : strdup("");
    } else {
        free(b);
        free(h);
    }
    curl_slist_free_all(list);
    curl_easy_cleanup(curl);
    free(ca);
    free(url);
    return rc;
}

/* GET /health over TLS must answer 200: the server is fine. */
static void assert_serving(void)
{
    th_response_t r;
    ck_assert_int_eq(tls_request(&r, "GET", "/health", NULL, NULL, (tls_opts_t){0}), CURLE_OK);
    ck_assert_int_eq(r.status, 200);
    th_response_dispose(&r);
}

/* A token for user@example.com over TLS with the given HTTP version; returns its claims. */
static json_t *token_claims(long http_version, long *used)
{
    char *basic = th_basic("user@example.com", "user pass");
    const char *h[] = {basic, NULL};
    th_response_t r;
    ck_assert_int_eq(
        tls_request(&r, "GET", TOKEN_PATH, h, NULL, (tls_opts_t){.http_version = http_version}),
        CURLE_OK);
    ck_assert_msg(r.status == 200, "status %ld: %s", r.status, r.body);
    json_t *j = th_json_parse(r.body);
    const char *token = json_string_value(json_object_get(j, "response"));
    ck_assert_ptr_nonnull(token);
    json_t *claims = th_jwt_part(token, 1);
    *used = r.http_version;
    json_decref(j);
    th_response_dispose(&r);
    free(basic);
    return claims;
}

static int tcp_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct timeval tv = {30, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

/* Reads until the server closes fd (or resets it); fails when 30 s pass first. Returns the
 * bytes received. */
static size_t read_until_closed(int fd)
{
    char buf[4096];
    size_t total = 0;
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n > 0) {
            total += (size_t)n;
            continue;
        }
        if (n == 0 || errno == ECONNRESET)
            return total;
        ck_abort_msg("the server did not close the connection: %s", strerror(errno));
    }
}

/* ---- tests ------------------------------------------------------------------------------ */

START_TEST(token_over_https_http1)
{
    long used = 0;
    json_t *claims = token_claims(CURL_HTTP_VERSION_1_1, &used);
    ck_assert_int_eq(used, CURL_HTTP_VERSION_1_1);
    char *want = th_strf("https://127.0.0.1:%d", tls_port);
    ck_assert_str_eq(json_string_value(json_object_get(claims, "tenant_url")), want);
    ck_assert_str_eq(json_string_value(json_object_get(claims, "iss")), want);
    free(want);
    json_decref(claims);

    /* The cleartext listener of the same server still says http. */
    char *basic = th_basic("user@example.com", "user pass");
    th_response_t r;
    th_get(&r, &srv, TOKEN_PATH, basic);
    ck_assert_int_eq(r.status, 200);
    json_t *j = th_json_parse(r.body);
    json_t *plain = th_jwt_part(json_string_value(json_object_get(j, "response")), 1);
    want = th_strf("http://127.0.0.1:%d", srv.port);
    ck_assert_str_eq(json_string_value(json_object_get(plain, "tenant_url")), want);
    free(want);
    json_decref(plain);
    json_decref(j);
    th_response_dispose(&r);
    free(basic);
}
END_TEST

START_TEST(token_over_https_http2_by_alpn)
{
    long used = 0;
    json_t *claims = token_claims(CURL_HTTP_VERSION_2TLS, &used);
    ck_assert_int_eq(used, CURL_HTTP_VERSION_2_0);
    char *want = th_strf("https://127.0.0.1:%d", tls_port);
    ck_assert_str_eq(json_string_value(json_object_get(claims, "tenant_url")), want);
    free(want);
    json_decref(claims);
}
END_TEST

/* http2: false keeps ALPN to http/1.1: a client asking for h2 gets HTTP/1.1. */
START_TEST(http2_off_means_http1_over_tls)
{
    long used = 0;
    json_t *claims = token_claims(CURL_HTTP_VERSION_2TLS, &used);
    ck_assert_int_eq(used, CURL_HTTP_VERSION_1_1);
    json_decref(claims);
}
END_TEST

START_TEST(old_tls_refused)
{
    th_response_t r;
    /* TLS 1.0 to 1.1 only, against the default minimum TLSv1.2 */
    tls_opts_t o = {.ssl_version = CURL_SSLVERSION_TLSv1_0 | CURL_SSLVERSION_MAX_TLSv1_1};
    CURLcode rc = tls_request(&r, "GET", "/health", NULL, NULL, o);
    ck_assert_msg(rc == CURLE_SSL_CONNECT_ERROR, "TLS 1.1: %s", curl_easy_strerror(rc));
    /* TLS 1.2 exactly is served */
    o.ssl_version = CURL_SSLVERSION_TLSv1_2 | CURL_SSLVERSION_MAX_TLSv1_2;
    ck_assert_int_eq(tls_request(&r, "GET", "/health", NULL, NULL, o), CURLE_OK);
    ck_assert_int_eq(r.status, 200);
    th_response_dispose(&r);
}
END_TEST

START_TEST(tls12_refused_with_min_tls13)
{
    th_response_t r;
    tls_opts_t o = {.ssl_version = CURL_SSLVERSION_TLSv1_2 | CURL_SSLVERSION_MAX_TLSv1_2};
    CURLcode rc = tls_request(&r, "GET", "/health", NULL, NULL, o);
    ck_assert_msg(rc == CURLE_SSL_CONNECT_ERROR, "TLS 1.2: %s", curl_easy_strerror(rc));
    o.ssl_version = CURL_SSLVERSION_TLSv1_3;
    ck_assert_int_eq(tls_request(&r, "GET", "/health", NULL, NULL, o), CURLE_OK);
    ck_assert_int_eq(r.status, 200);
    th_response_dispose(&r);
}
END_TEST

/* Signing in over TLS sets asc_auth_key with Secure; over the cleartext listener, without. */
START_TEST(session_cookie_secure_over_tls)
{
    const char *h[] = {"Content-Type: application/json", NULL};
    const char *body = "{\"userName\":\"user@example.com\",\"password\":\"user pass\"}";
    th_response_t r;
    ck_assert_int_eq(tls_request(&r, "POST", AUTH_PATH, h, body, (tls_opts_t){0}), CURLE_OK);
    ck_assert_msg(r.status == 200, "status %ld: %s", r.status, r.body);
    char *cookie = th_header(&r, "set-cookie");
    ck_assert_ptr_nonnull(cookie);
    ck_assert_msg(strncmp(cookie, "asc_auth_key=", 13) == 0, "%s", cookie);
    ck_assert_msg(strstr(cookie, "; Secure") != NULL, "no Secure over TLS: %s", cookie);
    free(cookie);
    th_response_dispose(&r);

    char *u = th_url(&srv, AUTH_PATH);
    th_http(&r, "POST", u, h, body, strlen(body), 0);
    ck_assert_int_eq(r.status, 200);
    cookie = th_header(&r, "set-cookie");
    ck_assert_ptr_nonnull(cookie);
    ck_assert_msg(strstr(cookie, "Secure") == NULL, "Secure over cleartext: %s", cookie);
    free(cookie);
    th_response_dispose(&r);
    free(u);
}
END_TEST

/* Cleartext HTTP to the TLS port: the connection is closed without an answer, and the
 * server goes on serving. */
START_TEST(plain_http_to_tls_port)
{
    th_response_t r;
    CURLcode rc = tls_request(&r, "GET", "/health", NULL, NULL, (tls_opts_t){.scheme = "http"});
    ck_assert_msg(rc == CURLE_GOT_NOTHING || rc == CURLE_RECV_ERROR, "plain http: %s",
                  curl_easy_strerror(rc));
    assert_serving();
}
END_TEST

START_TEST(garbage_to_tls_port)
{
    /* bytes that are no TLS record at all */
    int fd = tcp_connect(tls_port);
    unsigned char junk[4096];
    for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = (unsigned char)(i * 131 + 7);
    ck_assert_int_eq(send(fd, junk, sizeof(junk), MSG_NOSIGNAL), (ssize_t)sizeof(junk));
    read_until_closed(fd);
    close(fd);

    /* a handshake record header that claims far more than a record may hold */
    fd = tcp_connect(tls_port);
    const unsigned char huge[] = {0x16, 0x03, 0x01, 0xff, 0xff, 0x01, 0x00, 0xff, 0xfb};
    ck_assert_int_eq(send(fd, huge, sizeof(huge), MSG_NOSIGNAL), (ssize_t)sizeof(huge));
    ck_assert_int_eq(send(fd, junk, sizeof(junk), MSG_NOSIGNAL), (ssize_t)sizeof(junk));
    read_until_closed(fd);
    close(fd);

    assert_serving();
}
END_TEST

/* With one event loop, clients stalled in their handshake (silent, or a partial hello) do
 * not hold up the others; the handshake time limit then closes them. */
START_TEST(stalled_handshake_does_not_block)
{
    int silent = tcp_connect(tls_port);
    int partial = tcp_connect(tls_port);
    const unsigned char start[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01};
    ck_assert_int_eq(send(partial, start, sizeof(start), MSG_NOSIGNAL), (ssize_t)sizeof(start));

    for (int i = 0; i < 3; i++)
        assert_serving();
    long used = 0;
    json_t *claims = token_claims(CURL_HTTP_VERSION_2TLS, &used);
    json_decref(claims);

    /* Both are closed by the handshake limit (10 s), well within read_until_closed's 30 s. */
    ck_assert_uint_eq(read_until_closed(silent), 0);
    read_until_closed(partial);
    close(silent);
    close(partial);
    assert_serving();
}
END_TEST

/* ---- identityd -t ----------------------------------------------------------------------- */

/* Runs identityd -t on the environment's config; returns its exit status and stderr. */
/* ---- certificate reload on SIGHUP ---------------------------------------------------------- */

static int log_count(const char *needle)
{
    char *log = th_read_file(srv.log);
    int n = 0;
    for (const char *p = log; p != NULL && (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    free(log);
    return n;
}

/* SIGHUP, then the outcome from the log: true when the new configuration serves. */
static bool hup(void)
{
    int served = log_count(" serving: signing with "), refused = log_count("reload refused");
    ck_assert_int_eq(kill(srv.pid, SIGHUP), 0);
    for (double end = th_now() + 30; th_now() < end; usleep(10000)) {
        if (log_count(" serving: signing with ") > served)
            return true;
        if (log_count("reload refused") > refused)
            return false;
    }
    ck_abort_msg("no reload outcome in the log");
    return false;
}

/* GET /health over TLS on easy (which keeps its connection), trusting the CA in ca_file;
 * returns libcurl's result, *new_connections how many connections it opened for it. */
static CURLcode get_health(CURL *easy, const char *ca_file, long *new_connections)
{
    char *url = th_strf("https://127.0.0.1:%d/health", tls_port);
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_CAINFO, ca_file);
    curl_easy_setopt(easy, CURLOPT_SSL_SESSIONID_CACHE, 0L);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, th_curl_discard);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(easy);
    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(easy, CURLINFO_NUM_CONNECTS, new_connections);
    free(url);
    return rc == CURLE_OK && status != 200 ? CURLE_HTTP_RETURNED_ERROR : rc;
}

/* Moves DIR/name into the environment's folder, as a deployment replaces a certificate. */
static void install(const char *dir, const char *name)
{
    char *from = th_strf("%s/%s", dir, name), *to = in_env(name);
    ck_assert_int_eq(rename(from, to), 0);
    free(from);
    free(to);
}

START_TEST(certificate_reload_on_hup)
{
    char *ca1 = in_env("ca.pem");
    CURL *kept = curl_easy_init();
    long opened = 0;
    ck_assert_int_eq(get_health(kept, ca1, &opened), CURLE_OK);
    ck_assert_int_eq(opened, 1);

    /* A certificate from another CA replaces the first, files and all. */
    char *dir2 = in_env("ca2");
    ck_assert_int_eq(mkdir(dir2, 0700), 0);
    char *cmd = th_strf("sh '%s/tests/scripts/make_test_cert.sh' '%s' server",
                        th_getenv("IDD_SOURCE_DIR"), dir2);
    ck_assert_int_eq(system(cmd), 0);
    free(cmd);
    char *ca2 = th_strf("%s/ca.pem", dir2);
    install(dir2, "server.key");
    install(dir2, "server.pem");
    ck_assert(hup());

    /* New handshakes get the new certificate: trusted through the new CA only. */
    CURL *fresh = curl_easy_init();
    ck_assert_int_eq(get_health(fresh, ca2, &opened), CURLE_OK);
    curl_easy_cleanup(fresh);
    fresh = curl_easy_init();
    ck_assert_int_eq(get_health(fresh, ca1, &opened), CURLE_PEER_FAILED_VERIFICATION);
    curl_easy_cleanup(fresh);
    /* The connection made before the reload was not dropped: it serves on, not reopened. */
    ck_assert_int_eq(get_health(kept, ca1, &opened), CURLE_OK);
    ck_assert_int_eq(opened, 0);

    /* A key that does not match its certificate: refused, the last good pair serves on. */
    make_cert("other");
    char *other_key = in_env("other.key"), *server_key = in_env("server.key");
    ck_assert_int_eq(rename(other_key, server_key), 0);
    ck_assert(!hup());
    ck_assert_int_eq(log_count("does not match"), 1);
    fresh = curl_easy_init();
    ck_assert_int_eq(get_health(fresh, ca2, &opened), CURLE_OK);
    curl_easy_cleanup(fresh);

    curl_easy_cleanup(kept);
    free(other_key);
    free(server_key);
    free(ca1);
    free(ca2);
    free(dir2);
}
END_TEST

static int check_config(char **err)
{
    const char *argv[] = {th_bin(), "-c", env.config, "-t", NULL};
    char *out = NULL;
    int rc = th_run(argv, NULL, &out, err);
    free(out);
    return rc;
}

static void assert_refused(const char *message)
{
    char *err = NULL;
    int rc = check_config(&err);
    ck_assert_msg(rc == 1, "identityd -t exited %d: %s", rc, err ? err : "");
    char *where = th_strf("%s:3: ", env.config);
    ck_assert_msg(strstr(err, where) != NULL && strstr(err, message) != NULL,
                  "expected '%s...%s' in: %s", where, message, err);
    free(where);
    free(err);
}

START_TEST(check_accepts_good_files)
{
    env_with(NULL, NULL);
    char *err = NULL;
    ck_assert_msg(check_config(&err) == 0, "%s", err ? err : "");
    free(err);
    th_env_dispose(&env);
}
END_TEST

START_TEST(check_refuses_missing_cert)
{
    env_with(NULL, NULL);
    char *cert = in_env("server.pem");
    ck_assert_int_eq(unlink(cert), 0);
    assert_refused("tls.cert_file: cannot read");
    free(cert);
    th_env_dispose(&env);
}
END_TEST

START_TEST(check_refuses_key_mismatch)
{
    env_with(NULL, NULL);
    make_cert("other");
    char *from = in_env("other.key"), *to = in_env("server.key");
    ck_assert_int_eq(rename(from, to), 0);
    assert_refused("does not match the certificate");
    free(from);
    free(to);
    th_env_dispose(&env);
}
END_TEST

START_TEST(check_refuses_group_readable_key)
{
    env_with(NULL, NULL);
    char *key = in_env("server.key");
    ck_assert_int_eq(chmod(key, 0640), 0);
    assert_refused("tls.key_file:");
    free(key);
    th_env_dispose(&env);
}
END_TEST

START_TEST(check_refuses_bad_min_version)
{
    env_with(NULL, ", min_version: TLSv1.1");
    assert_refused("'TLSv1.1' is not one of TLSv1.2, TLSv1.3");
    th_env_dispose(&env);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("tls");
    TCase *tc = tcase_create("serving");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, token_over_https_http1);
    tcase_add_test(tc, token_over_https_http2_by_alpn);
    tcase_add_test(tc, old_tls_refused);
    tcase_add_test(tc, session_cookie_secure_over_tls);
    tcase_add_test(tc, plain_http_to_tls_port);
    tcase_add_test(tc, garbage_to_tls_port);
    tcase_add_test(tc, certificate_reload_on_hup);
    suite_add_tcase(s, tc);

    TCase *h1 = tcase_create("http2_off");
    tcase_add_checked_fixture(h1, setup_http1_only, teardown);
    tcase_set_timeout(h1, 120);
    tcase_add_test(h1, http2_off_means_http1_over_tls);
    suite_add_tcase(s, h1);

    TCase *v13 = tcase_create("min_tls13");
    tcase_add_checked_fixture(v13, setup_tls13, teardown);
    tcase_set_timeout(v13, 120);
    tcase_add_test(v13, tls12_refused_with_min_tls13);
    suite_add_tcase(s, v13);

    TCase *one = tcase_create("one_loop");
    tcase_add_checked_fixture(one, setup_one_thread, teardown);
    tcase_set_timeout(one, 120);
    tcase_add_test(one, stalled_handshake_does_not_block);
    suite_add_tcase(s, one);

    TCase *check = tcase_create("check");
    tcase_set_timeout(check, 120);
    tcase_add_test(check, check_accepts_good_files);
    tcase_add_test(check, check_refuses_missing_cert);
    tcase_add_test(check, check_refuses_key_mismatch);
    tcase_add_test(check, check_refuses_group_readable_key);
    tcase_add_test(check, check_refuses_bad_min_version);
    suite_add_tcase(s, check);
    return s;
}

int main(void)
{
    return th_run_suite(suite());
}
