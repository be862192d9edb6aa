/*
 * identityd's log on the real server: the log: section (format json or text, access lines,
 * level), the access line's fields in both formats, X-Request-Id (kept when sane, made
 * fresh otherwise, echoed either way), bytes a client chose that cannot break or forge a
 * line, and no password, token, key, cookie or pepper in any line, at level debug, whatever
 * credentials a request carries. An access line is written once the response has been
 * sent, a moment after the client may have it: the suite waits for the line, not for a set
 * time.
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

#define TOKEN_PATH "/api/2.0/security/oauth2/token"
#define AUTH_PATH "/api/2.0/authentication"
#define KEYS_PATH "/api/2.0/keys"
#define PASSWORD "correct-horse-7Q2x"
#define WRONG_PASSWORD "wrong-horse-9Z4k"
#define PEPPER "0123456789abcdef0123456789abcdef-test-pepper"
#define WAIT_LIMIT_S 60.0

static th_env_t env;
static th_server_t srv;

static void start(const char *extra_yaml)
{
    th_threads = 2;
    th_env_init(&env, extra_yaml, NULL);
    ck_assert_int_eq(th_add_user(&env, "admin@example.com", PASSWORD, "Ada", "Admin", "admin"), 0);
    th_server_start(&srv, &env);
}

static void setup_json(void)
{
    start("log: { format: json, access: true }\n");
}

static void setup_text(void)
{
    start("log: { access: true }\n");
}

static void setup_json_debug(void)
{
    start("log: { format: json, access: true, level: debug }\n");
}

static void setup_text_debug(void)
{
    start("log_level: debug\nlog: { access: true }\n");
}

static void teardown(void)
{
    int rc = srv.pid > 0 ? th_server_stop(&srv) : 0;
    th_env_dispose(&env);
    ck_assert_int_eq(rc, 0);
}

/* Stops the server in the test itself, so its last lines can be read; returns the log. */
static char *stop_and_read(void)
{
    ck_assert_int_eq(th_server_stop(&srv), 0);
    srv.pid = 0;
    char *log = th_read_file(srv.log);
    ck_assert_ptr_nonnull(log);
    return log;
}

/* The log once it holds needle (a request id: its access line has been written). */
static char *wait_log(const char *needle)
{
    double until = th_now() + WAIT_LIMIT_S;
    for (;;) {
        char *log = th_read_file(srv.log);
        if (log != NULL && strstr(log, needle) != NULL)
            return log;
        ck_assert_msg(th_now() < until, "no \"%s\" in the log:\n%s", needle, log ? log : "");
        free(log);
        usleep(10000);
    }
}

/* The line of log holding needle (malloc'd), or NULL. */
static char *line_with(const char *log, const char *needle)
{
    const char *at = strstr(log, needle);
    if (at == NULL)
        return NULL;
    const char *start = at;
    while (start > log && start[-1] != '\n')
        start--;
    const char *end = strchr(at, '\n');
    size_t len = end != NULL ? (size_t)(end - start) : strlen(start);
    return strndup(start, len);
}

static long request(th_response_t *r, const char *method, const char *path,
                    const char *const headers[], const char *body)
{
    char *u = th_url(&srv, path);
    th_http(r, method, u, headers, body, body != NULL ? strlen(body) : 0, 0);
    free(u);
    return r->status;
}

static long request_status(const char *method, const char *path, const char *const headers[],
                           const char *body)
{
    th_response_t r;
    long status = request(&r, method, path, headers, body);
    th_response_dispose(&r);
    return status;
}

/* Sends raw bytes as one HTTP/1.1 request on a new connection and returns the status. */
static int raw_request(const char *raw, size_t len)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)srv.port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(write(fd, raw, len), (ssize_t)len);
    char buf[4096];
    size_t got = 0;
    ssize_t n;
    while (got < sizeof(buf) - 1 && (n = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0)
        got += (size_t)n;
    buf[got] = '\0';
    close(fd);
    ck_assert_msg(strncmp(buf, "HTTP/1.1 ", 9) == 0, "answer: %s", buf);
    return atoi(buf + 9);
}

/* A path with a quote, a backslash and a byte that is not UTF-8. */
static const char odd_request[] = "GET /odd\"\xff\\x?q=1 HTTP/1.1\r\nHost: localhost\r\n"
                                  "X-Request-Id: trace-odd\r\nConnection: close\r\n\r\n";

/* Every line is a JSON object with time, level and msg; the access lines carry the
 * request's fields, the path without its query, the user and tenant once authenticated. */
START_TEST(json_lines)
{
    th_response_t r;
    const char *h1[] = {"X-Request-Id: trace-json-1", NULL};
    ck_assert_int_eq(request(&r, "GET", "/health?secret=query-value", h1, NULL), 200);
    char *echoed = th_header(&r, "x-request-id");
    ck_assert_str_eq(echoed, "trace-json-1");
    free(echoed);
    th_response_dispose(&r);
    char *basic = th_basic("admin@example.com", PASSWORD);
    const char *h2[] = {basic, "X-Request-Id: trace-json-2", NULL};
    ck_assert_int_eq(request_status("GET", TOKEN_PATH, h2, NULL), 200);
    free(basic);
    ck_assert_int_eq(raw_request(odd_request, sizeof(odd_request) - 1), 404);
    char *guid = th_user_guid(&env, "admin@example.com");

    free(wait_log("trace-json-1"));
    free(wait_log("trace-json-2"));
    free(wait_log("trace-odd"));
    char *log = stop_and_read();
    int access = 0;
    bool started = false, stopped = false;
    for (char *line = strtok(log, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        json_error_t e;
        json_t *j = json_loads(line, 0, &e);
        ck_assert_msg(json_is_object(j), "not a JSON object: %s (%s)", line, e.text);
        ck_assert(json_is_string(json_object_get(j, "time")));
        ck_assert(json_is_string(json_object_get(j, "level")));
        const char *msg = json_string_value(json_object_get(j, "msg"));
        ck_assert_ptr_nonnull(msg);
        started |= strncmp(msg, "identityd starting", 18) == 0;
        stopped |= strcmp(msg, "identityd stopped") == 0;
        const char *id = json_string_value(json_object_get(j, "request_id"));
        if (strcmp(msg, "access") != 0 || id == NULL) {
            json_decref(j);
            continue;
        }
        ck_assert_str_eq(json_string_value(json_object_get(j, "level")), "info");
        ck_assert_str_eq(json_string_value(json_object_get(j, "client")), "127.0.0.1");
        ck_assert_str_eq(json_string_value(json_object_get(j, "method")), "GET");
        ck_assert(json_is_real(json_object_get(j, "duration_s")));
        ck_assert(json_real_value(json_object_get(j, "duration_s")) >= 0);
        const char *path = json_string_value(json_object_get(j, "path"));
        json_int_t status = json_integer_value(json_object_get(j, "status"));
        if (strcmp(id, "trace-json-1") == 0) {
            access++;
            ck_assert_str_eq(path, "/health");
            ck_assert_int_eq(status, 200);
            ck_assert(json_is_null(json_object_get(j, "scheme")));
            ck_assert(json_is_null(json_object_get(j, "user")));
            ck_assert(json_is_null(json_object_get(j, "tenant")));
        } else if (strcmp(id, "trace-json-2") == 0) {
            access++;
            ck_assert_str_eq(path, TOKEN_PATH);
            ck_assert_int_eq(status, 200);
            ck_assert_str_eq(json_string_value(json_object_get(j, "scheme")), "basic");
            ck_assert_str_eq(json_string_value(json_object_get(j, "user")), guid);
            ck_assert_int_eq(json_integer_value(json_object_get(j, "tenant")), 1);
        } else if (strcmp(id, "trace-odd") == 0) {
            access++;
            /* \xff is written as \u00ff: the line stays valid JSON. */
            ck_assert_str_eq(path, "/odd\"\xc3\xbf\\x");
            ck_assert_int_eq(status, 404);
        }
        json_decref(j);
    }
    ck_assert_int_eq(access, 3);
    ck_assert(started);
    ck_assert(stopped);
    free(guid);
    free(log);
}
END_TEST

/* Text lines: name=value fields, "-" when unknown; a byte a client chose that could end a
 * line, close a quote or fool a terminal is written as \xNN. */
START_TEST(text_lines)
{
    const char *h1[] = {"X-Request-Id: trace-text-1", NULL};
    ck_assert_int_eq(request_status("GET", "/health?secret=query-value", h1, NULL), 200);
    ck_assert_int_eq(raw_request(odd_request, sizeof(odd_request) - 1), 404);
    free(wait_log("trace-text-1"));
    free(wait_log("trace-odd"));
    char *log = stop_and_read();
    char *line = line_with(log, "request_id=trace-text-1");
    ck_assert_ptr_nonnull(line);
    ck_assert_msg(strstr(line,
                         " info access request_id=trace-text-1 client=127.0.0.1 method=GET "
                         "path=/health status=200 scheme=- user=- tenant=- duration_s=") != NULL,
                  "%s", line);
    free(line);
    line = line_with(log, "request_id=trace-odd");
    ck_assert_ptr_nonnull(line);
    ck_assert_msg(strstr(line, " path=/odd\\x22\\xff\\x5cx status=404 ") != NULL, "%s", line);
    free(line);
    ck_assert(strstr(log, "query-value") == NULL);
    ck_assert(strstr(log, " info identityd starting: ") != NULL);
    ck_assert(strstr(log, " info identityd stopped\n") != NULL);
    free(log);
}
END_TEST

/* The response's X-Request-Id: the client's when it is a sane token, else 16 fresh hex
 * digits, never the same twice. */
START_TEST(request_ids)
{
    static const char *const kept[] = {"abc", "0f8fad5b-d9cb-469f-a165-70867728950e",
                                       "trace:span/1+2=3@x.y_z"};
    for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++) {
        th_response_t r;
        char *h = th_strf("X-Request-Id: %s", kept[i]);
        const char *headers[] = {h, NULL};
        request(&r, "GET", "/health", headers, NULL);
        char *id = th_header(&r, "x-request-id");
        ck_assert_str_eq(id, kept[i]);
        free(id);
        free(h);
        th_response_dispose(&r);
    }
    /* 128 characters are kept, 129 are not. */
    char long_id[130];
    memset(long_id, 'a', 128);
    long_id[128] = '\0';
    th_response_t longest;
    char *h128 = th_strf("X-Request-Id: %s", long_id);
    const char *h128s[] = {h128, NULL};
    request(&longest, "GET", "/health", h128s, NULL);
    char *id128 = th_header(&longest, "x-request-id");
    ck_assert_str_eq(id128, long_id);
    free(id128);
    free(h128);
    th_response_dispose(&longest);
    long_id[128] = 'a';
    long_id[129] = '\0';
    char *too_long = th_strf("X-Request-Id: %s", long_id);
    const char *const replaced[][3] = {
        {NULL, NULL, NULL},
        {too_long, NULL, NULL},
        {"X-Request-Id: a\"b", NULL, NULL},
        {"X-Request-Id: a b", NULL, NULL},
        {"X-Request-Id: a\tb", NULL, NULL},
        {"X-Request-Id: a\\b", NULL, NULL},
        {"X-Request-Id: caf\xc3\xa9", NULL, NULL},
        {"X-Request-Id: one", "X-Request-Id: two", NULL},
    };
    char previous[17] = "";
    for (size_t i = 0; i < sizeof(replaced) / sizeof(replaced[0]); i++) {
        th_response_t r;
        request(&r, "GET", "/health", replaced[i][0] != NULL ? replaced[i] : NULL, NULL);
        ck_assert_int_eq(r.status, 200);
        char *id = th_header(&r, "x-request-id");
        ck_assert_ptr_nonnull(id);
        ck_assert_msg(strlen(id) == 16 && strspn(id, "0123456789abcdef") == 16,
                      "request %zu: id %s", i, id);
        ck_assert_str_ne(id, previous);
        snprintf(previous, sizeof(previous), "%s", id);
        free(id);
        th_response_dispose(&r);
    }
    /* An error answer carries it too. */
    th_response_t r;
    const char *h[] = {"X-Request-Id: on-a-404", NULL};
    request(&r, "GET", "/nowhere", h, NULL);
    th_assert_error_envelope(&r, 404);
    char *id = th_header(&r, "x-request-id");
    ck_assert_str_eq(id, "on-a-404");
    free(id);
    th_response_dispose(&r);
    free(too_long);
}
END_TEST

/* The value of "response"."name" in a 200 envelope (malloc'd). */
static char *response_member(th_response_t *r, const char *name)
{
    ck_assert_msg(r->status == 200, "status %ld: %s", r->status, r->body);
    json_t *j = th_json_parse(r->body);
    const char *v = json_string_value(json_object_get(json_object_get(j, "response"), name));
    ck_assert_ptr_nonnull(v);
    char *copy = strdup(v);
    json_decref(j);
    return copy;
}

/* Whatever credentials a request carries, alone or together, good or bad, none of them,
 * nor the password, the Basic value or the pepper, reaches any line of the log. */
START_TEST(no_secrets_logged)
{
    th_response_t r;
    char *basic = th_basic("admin@example.com", PASSWORD);
    char *wrong = th_basic("admin@example.com", WRONG_PASSWORD);
    const char *json_type = "Content-Type: application/json";

    /* A session, an API key and one of our JWTs to carry around. */
    char *body = th_strf("{\"userName\":\"admin@example.com\",\"password\":\"%s\"}", PASSWORD);
    const char *hs[] = {json_type, NULL};
    request(&r, "POST", AUTH_PATH, hs, body);
    char *session = response_member(&r, "token");
    th_response_dispose(&r);
    free(body);
    const char *hk[] = {basic, json_type, NULL};
    request(&r, "POST", KEYS_PATH, hk, "{\"name\":\"logged-key\"}");
    char *apikey = response_member(&r, "key");
    th_response_dispose(&r);
    const char *ht[] = {basic, NULL};
    request(&r, "GET", TOKEN_PATH, ht, NULL);
    ck_assert_int_eq(r.status, 200);
    json_t *j = th_json_parse(r.body);
    char *jwt = strdup(json_string_value(json_object_get(j, "response")));
    json_decref(j);
    th_response_dispose(&r);

    char *bearer_session = th_bearer(session), *bearer_key = th_bearer(apikey);
    char *bearer_jwt = th_bearer(jwt);
    char *apikey_header = th_strf("ApiKeyBearer: %s", apikey);
    char *cookie = th_strf("Cookie: asc_auth_key=%s", session);
    char *raw_session = th_strf("Authorization: %s", session);
    char *bad_cookie = th_strf("Cookie: asc_auth_key=%sX", session);
    char *wrong_body =
        th_strf("{\"userName\":\"admin@example.com\",\"password\":\"%s\"}", WRONG_PASSWORD);
    const char *const sets[][5] = {
        {basic, apikey_header, cookie, NULL},
        {bearer_jwt, apikey_header, cookie, NULL},
        {bearer_key, cookie, NULL},
        {basic, NULL},
        {wrong, NULL},
        {bearer_session, NULL},
        {bearer_key, NULL},
        {apikey_header, NULL},
        {cookie, NULL},
        {bad_cookie, NULL},
        {raw_session, NULL},
        {bearer_jwt, NULL},
        {"Authorization: Bearer opaque-secret-token-5Rk2", NULL},
    };
    const char *paths[] = {TOKEN_PATH, AUTH_PATH, KEYS_PATH};
    for (size_t p = 0; p < sizeof(paths) / sizeof(paths[0]); p++)
        for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++)
            request_status("GET", paths[p], sets[i], NULL);
    request_status("POST", AUTH_PATH, hs, wrong_body);
    const char *last[] = {"X-Request-Id: last-one", NULL};
    request_status("GET", "/health", last, NULL);
    free(wait_log("last-one"));

    char *log = stop_and_read();
    /* The access lines name the user who signed in: the log is about these requests. */
    ck_assert(strstr(log, "access") != NULL);
    char *basic_value = strchr(basic, ' ') + strlen(" Basic ");
    char *wrong_value = strchr(wrong, ' ') + strlen(" Basic ");
    const char *secrets[] = {PASSWORD,    WRONG_PASSWORD, basic_value,
                             wrong_value, session,        apikey,
                             jwt,         PEPPER,         "opaque-secret-token-5Rk2"};
    for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
        ck_assert_msg(strstr(log, secrets[i]) == NULL, "secret %zu (%s) in the log:\n%s", i,
                      secrets[i], log);
    /* Nor any part of a token long enough to matter: its signature, the key's secret part. */
    ck_assert(strstr(log, strrchr(jwt, '.') + 1) == NULL);
    ck_assert(strstr(log, apikey + strlen(apikey) - 20) == NULL);
    free(log);
    free(basic);
    free(wrong);
    free(session);
    free(apikey);
    free(jwt);
    free(bearer_session);
    free(bearer_key);
    free(bearer_jwt);
    free(apikey_header);
    free(cookie);
    free(raw_session);
    free(bad_cookie);
    free(wrong_body);
}
END_TEST

static Suite *logs_suite(void)
{
    Suite *s = suite_create("logs");
    TCase *json = tcase_create("json");
    tcase_add_checked_fixture(json, setup_json, teardown);
    tcase_set_timeout(json, 180);
    tcase_add_test(json, json_lines);
    tcase_add_test(json, request_ids);
    suite_add_tcase(s, json);

    TCase *text = tcase_create("text");
    tcase_add_checked_fixture(text, setup_text, teardown);
    tcase_set_timeout(text, 180);
    tcase_add_test(text, text_lines);
    suite_add_tcase(s, text);

    TCase *secrets_json = tcase_create("secrets_json");
    tcase_add_checked_fixture(secrets_json, setup_json_debug, teardown);
    tcase_set_timeout(secrets_json, 180);
    tcase_add_test(secrets_json, no_secrets_logged);
    suite_add_tcase(s, secrets_json);

    TCase *secrets_text = tcase_create("secrets_text");
    tcase_add_checked_fixture(secrets_text, setup_text_debug, teardown);
    tcase_set_timeout(secrets_text, 180);
    tcase_add_test(secrets_text, no_secrets_logged);
    suite_add_tcase(s, secrets_text);
    return s;
}

int main(void)
{
    return th_run_suite(logs_suite());
}
