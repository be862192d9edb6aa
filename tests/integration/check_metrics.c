/*
 * GET /metrics on the real server: requests by route and status and their latency
 * histogram, authentication outcomes, tokens by key, the credential cache, worker waits,
 * database errors, the active key and build, and metrics_listen (a listener of /metrics's
 * own, which then leaves the API's). Counters are compared before and after known requests;
 * a request is counted once its response has been sent, which may be a moment after the
 * client has it, so the suite waits for the count it expects rather than for a set time.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define TOKEN_PATH "/api/2.0/security/oauth2/token"
#define HEALTH_200 "identityd_requests_total{method=\"GET\",route=\"/health\",status=\"200\"}"
#define OTHER_404 "identityd_requests_total{route=\"other\",status=\"404\"}"
#define OTHER_405 "identityd_requests_total{route=\"other\",status=\"405\"}"
#define KEY_PUT_401                                                                                \
    "identityd_requests_total{method=\"PUT\",route=\"/api/2.0/keys/{keyId}\",status=\"401\"}"
#define HEALTH_HIST "identityd_request_duration_seconds_%s{method=\"GET\",route=\"/health\"%s}"
#define BASIC_OK "identityd_auth_total{scheme=\"basic\",outcome=\"ok\"}"
#define BASIC_INVALID "identityd_auth_total{scheme=\"basic\",outcome=\"invalid\"}"
#define SESSION_ERROR "identityd_auth_total{scheme=\"session\",outcome=\"error\"}"
#define MINTED "identityd_tokens_minted_total{kid=\"test-es256\",alg=\"ES256\"}"
#define CRED_HIT "identityd_cache_total{cache=\"credential\",result=\"hit\"}"
#define CRED_MISS "identityd_cache_total{cache=\"credential\",result=\"miss\"}"
#define DB_ERRORS "identityd_database_errors_total"
#define WAIT_LIMIT_S 60.0 /* how long a count may take to appear on a loaded machine */

static th_env_t env;
static th_server_t srv;

static void start(const char *extra_yaml)
{
    th_threads = 2;
    th_env_init(&env, extra_yaml, NULL);
    ck_assert_int_eq(
        th_add_user(&env, "admin@example.com", "correct horse", "Ada", "Admin", "admin"), 0);
    th_server_start(&srv, &env);
}

static void setup(void)
{
    start(NULL);
}

static void teardown(void)
{
    int rc = srv.pid > 0 ? th_server_stop(&srv) : 0;
    th_env_dispose(&env);
    ck_assert_int_eq(rc, 0);
}

/* The body of GET /metrics on base (malloc'd). */
static char *scrape_at(const char *base)
{
    th_response_t r;
    char *u = th_strf("%s/metrics", base);
    th_http(&r, "GET", u, NULL, NULL, 0, 0);
    free(u);
    ck_assert_int_eq(r.status, 200);
    char *body = r.body;
    r.body = NULL;
    th_response_dispose(&r);
    return body;
}

static char *scrape(void)
{
    return scrape_at(srv.base);
}

/* The value of the series written exactly as name (labels included); 0 when absent, as a
 * counter that has not moved yet is left out. */
static double value(const char *body, const char *name)
{
    size_t n = strlen(name);
    for (const char *line = body; line != NULL && *line != '\0';
         line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
        if (strncmp(line, name, n) == 0 && line[n] == ' ')
            return atof(line + n + 1);
    return 0;
}

static bool present(const char *body, const char *name)
{
    char *with_space = th_strf("\n%s ", name);
    bool found = strstr(body, with_space) != NULL;
    free(with_space);
    return found;
}

/* Scrapes until the series reaches at least want (the request that should move it has been
 * answered; its count follows once h2o is done sending). Returns the last body. */
static char *wait_at(const char *base, const char *name, double want)
{
    double until = th_now() + WAIT_LIMIT_S;
    for (;;) {
        char *body = scrape_at(base);
        double v = value(body, name);
        if (v >= want)
            return body;
        ck_assert_msg(th_now() < until, "%s stayed at %g, expected %g:\n%s", name, v, want, body);
        free(body);
        usleep(20000);
    }
}

static char *wait_for(const char *name, double want)
{
    return wait_at(srv.base, name, want);
}

static long request(const char *method, const char *path, const char *header)
{
    th_response_t r;
    const char *headers[] = {header, NULL};
    char *u = th_url(&srv, path);
    th_http(&r, method, u, header != NULL ? headers : NULL, NULL, 0, 0);
    free(u);
    long status = r.status;
    th_response_dispose(&r);
    return status;
}

static long basic_token(const char *password)
{
    char *auth = th_basic("admin@example.com", password);
    long status = request("GET", TOKEN_PATH, auth);
    free(auth);
    return status;
}

/* Requests are counted under their route's pattern and status; what no route matched under
 * "other"; the histogram's count, +Inf bucket and sum move with them. */
START_TEST(requests_by_route_and_status)
{
    char *before = scrape();
    char *count_name = th_strf(HEALTH_HIST, "count", "");
    char *inf_name = th_strf(HEALTH_HIST, "bucket", ",le=\"+Inf\"");
    char *sum_name = th_strf(HEALTH_HIST, "sum", "");
    double health = value(before, HEALTH_200), other404 = value(before, OTHER_404);
    double other405 = value(before, OTHER_405), put401 = value(before, KEY_PUT_401);
    double count = value(before, count_name), sum = value(before, sum_name);

    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(request("GET", "/health", NULL), 200);
    ck_assert_int_eq(request("GET", "/nowhere", NULL), 404);
    ck_assert_int_eq(request("GET", "/api/2.0/unknown/thing", NULL), 404);
    ck_assert_int_eq(request("DELETE", "/health", NULL), 405);
    ck_assert_int_eq(request("PUT", "/api/2.0/keys/abc", NULL), 401);

    free(wait_for(OTHER_404, other404 + 2));
    free(wait_for(OTHER_405, other405 + 1));
    free(wait_for(KEY_PUT_401, put401 + 1));
    char *after = wait_for(count_name, count + 3);
    ck_assert_double_eq(value(after, HEALTH_200), health + 3);
    ck_assert_double_eq(value(after, OTHER_404), other404 + 2);
    ck_assert_double_eq(value(after, count_name), count + 3);
    ck_assert_double_eq(value(after, inf_name), value(after, count_name));
    ck_assert(value(after, sum_name) > sum);
    /* Buckets are cumulative: each at least the one before, the last the count. */
    static const char *const les[] = {"0.0005", "0.001", "0.0025", "0.005", "0.01",
                                      "0.025",  "0.05",  "0.1",    "0.25",  "0.5",
                                      "1",      "2.5",   "5",      "10",    "+Inf"};
    double last = 0;
    for (size_t i = 0; i < sizeof(les) / sizeof(les[0]); i++) {
        char *le = th_strf(",le=\"%s\"", les[i]);
        char *bucket = th_strf(HEALTH_HIST, "bucket", le);
        ck_assert_msg(present(after, bucket), "no %s in:\n%s", bucket, after);
        ck_assert(value(after, bucket) >= last);
        last = value(after, bucket);
        free(bucket);
        free(le);
    }
    ck_assert(strstr(after, "# TYPE identityd_request_duration_seconds histogram") != NULL);
    ck_assert(strstr(after, "# TYPE identityd_requests_total counter") != NULL);
    free(before);
    free(after);
    free(count_name);
    free(inf_name);
    free(sum_name);
}
END_TEST

/* A good and a bad Basic: one ok and one invalid outcome, one token under the key that
 * signed it; the second good one is found in the credential cache. */
START_TEST(auth_outcomes_tokens_and_cache)
{
    char *before = scrape();
    double ok = value(before, BASIC_OK), invalid = value(before, BASIC_INVALID);
    double minted = value(before, MINTED), hit = value(before, CRED_HIT);
    double miss = value(before, CRED_MISS);

    ck_assert_int_eq(basic_token("correct horse"), 200);
    ck_assert_int_eq(basic_token("wrong horse"), 401);
    char *after = scrape();
    ck_assert_double_eq(value(after, BASIC_OK), ok + 1);
    ck_assert_double_eq(value(after, BASIC_INVALID), invalid + 1);
    ck_assert_double_eq(value(after, MINTED), minted + 1);
    ck_assert_double_eq(value(after, CRED_MISS), miss + 2);
    ck_assert_double_eq(value(after, CRED_HIT), hit);
    /* The password checks went through the KDF pool and waited there. */
    ck_assert(value(after, "identityd_worker_wait_seconds_count{pool=\"kdf\"}") >= 2);
    ck_assert(present(after, "identityd_worker_wait_seconds_sum{pool=\"kdf\"}"));

    /* Each loop has its own cache: by the third request on two loops, one is a hit. */
    int asked = 0;
    do {
        ck_assert_int_eq(basic_token("correct horse"), 200);
        asked++;
        free(after);
        after = scrape();
    } while (value(after, CRED_HIT) == hit && asked < 2);
    ck_assert_double_eq(value(after, CRED_HIT), hit + 1);
    ck_assert_double_eq(value(after, CRED_MISS), miss + 2 + (asked - 1));
    ck_assert_double_eq(value(after, BASIC_OK), ok + 1 + asked);
    ck_assert_double_eq(value(after, MINTED), minted + 1 + asked);
    /* Every scheme and outcome is listed, moved or not: a fixed, small set. */
    ck_assert(present(after, "identityd_auth_total{scheme=\"bearer_jwt\",outcome=\"expired\"}"));
    ck_assert(present(after, "identityd_auth_total{scheme=\"apikey\",outcome=\"blocked\"}"));
    ck_assert(present(after, "identityd_cache_total{cache=\"jwks\",result=\"miss\"}"));
    ck_assert(present(after, "identityd_cache_total{cache=\"introspection\",result=\"hit\"}"));
    free(before);
    free(after);
}
END_TEST

/* The process's own series: the active key, the build, reloads and database errors. */
START_TEST(process_series)
{
    char *body = scrape();
    ck_assert_double_eq(value(body, "identityd_active_key_info{kid=\"test-es256\",alg=\"ES256\"}"),
                        1);
    ck_assert_msg(strstr(body, "identityd_build_info{version=\"") != NULL, "%s", body);
    ck_assert(strstr(body, ",h2o=\"2.2.5\",openssl=\"") != NULL);
    ck_assert(present(body, "identityd_reloads_total{result=\"ok\"}"));
    ck_assert(present(body, "identityd_reloads_total{result=\"failed\"}"));
    ck_assert(present(body, DB_ERRORS));
    ck_assert_double_eq(value(body, DB_ERRORS), 0);
    free(body);
}
END_TEST

/* A store operation that fails is counted, and the check it served counts as an error. */
START_TEST(database_errors_counted)
{
    char *before = scrape();
    double errors = value(before, DB_ERRORS), session_errors = value(before, SESSION_ERROR);
    th_sql(&env, "DROP TABLE login_events");
    /* Not a JWT, not an API key: looked up as one of our sessions. */
    char *bearer = th_bearer("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    ck_assert_int_eq(request("GET", "/api/2.0/authentication", bearer), 503);
    /* And the answer says when to try again. */
    th_response_t r;
    th_get(&r, &srv, "/api/2.0/authentication", bearer);
    ck_assert_int_eq(r.status, 503);
    char *retry = th_header(&r, "retry-after");
    ck_assert_ptr_nonnull(retry);
    ck_assert_str_eq(retry, "1");
    free(retry);
    th_response_dispose(&r);
    free(bearer);
    char *after = scrape();
    ck_assert(value(after, DB_ERRORS) >= errors + 1);
    ck_assert_double_eq(value(after, SESSION_ERROR), session_errors + 2);
    free(before);
    free(after);
}
END_TEST

/* With metrics_listen, /metrics is served there alone and no longer on the API's listener;
 * nothing else is served there, whatever Host a client names. */
START_TEST(metrics_listen_alone)
{
    int port = 0;
    for (double until = th_now() + WAIT_LIMIT_S; port == 0 && th_now() < until;) {
        char *log = th_read_file(srv.log);
        const char *p =
            log != NULL ? strstr(log, "serving /metrics alone on http://127.0.0.1:") : NULL;
        if (p != NULL)
            port = atoi(strchr(p + strlen("serving /metrics alone on http://"), ':') + 1);
        free(log);
        if (port == 0)
            usleep(10000);
    }
    ck_assert_int_gt(port, 0);
    ck_assert_int_ne(port, srv.port);
    char base[64];
    snprintf(base, sizeof(base), "http://127.0.0.1:%d", port);

    th_response_t r;
    th_get(&r, &srv, "/metrics", NULL);
    th_assert_error_envelope(&r, 404);
    th_response_dispose(&r);
    ck_assert_int_eq(request("GET", "/health", NULL), 200);

    char *body = scrape_at(base);
    ck_assert(strstr(body, "# TYPE identityd_requests_total counter") != NULL);
    free(body);
    const char *paths[] = {"/health", "/api/2.0/settings", "/.well-known/jwks.json", TOKEN_PATH};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        char *u = th_strf("%s%s", base, paths[i]);
        const char *headers[] = {"Host: localhost", NULL};
        th_http(&r, "GET", u, headers, NULL, 0, 0);
        th_assert_error_envelope(&r, 404);
        th_response_dispose(&r);
        free(u);
    }
    /* The API listener's refusal was counted, as "other". */
    free(wait_at(base, OTHER_404, 1));
}
END_TEST

/* A session that was good and has expired counts as expired, not merely invalid. */
START_TEST(expired_session_counted_as_expired)
{
    th_response_t r;
    const char *json[] = {"Content-Type: application/json", NULL};
    char *u = th_url(&srv, "/api/2.0/authentication");
    th_http(&r, "POST", u, json,
            "{\"userName\":\"admin@example.com\",\"password\":\"correct horse\"}", 59, 0);
    free(u);
    ck_assert_int_eq(r.status, 200);
    json_t *j = th_json_parse(r.body);
    char *bearer =
        th_bearer(json_string_value(json_object_get(json_object_get(j, "response"), "token")));
    json_decref(j);
    th_response_dispose(&r);
    /* The pruner's first run (a second after start) must not take the session away between
     * its expiry and its use: wait for that run to have counted it; the next is a day off. */
    free(wait_for("identityd_sessions_live", 1));
    char *before = scrape();
    const char *expired = "identityd_auth_total{scheme=\"session\",outcome=\"expired\"}";
    const char *ok = "identityd_auth_total{scheme=\"session\",outcome=\"ok\"}";
    ck_assert_int_eq(request("GET", TOKEN_PATH, bearer), 200);
    th_sql(&env, "UPDATE login_events SET expires = 1");
    th_wait_changes_seen(&srv, &env); /* another writer: seen at the next change check */
    ck_assert_int_eq(request("GET", TOKEN_PATH, bearer), 401);
    char *after = scrape();
    ck_assert_double_eq(value(after, ok), value(before, ok) + 1);
    ck_assert_double_eq(value(after, expired), value(before, expired) + 1);
    ck_assert_double_eq(value(after, "identityd_auth_total{scheme=\"password\",outcome=\"ok\"}"),
                        1);
    free(before);
    free(after);
    free(bearer);
}
END_TEST

static void setup_slow_pruner(void)
{
    start("prune: { interval: 86400 }\n");
}

static void setup_metrics_listen(void)
{
    start("metrics_listen: \"127.0.0.1:0\"\n");
}

static Suite *metrics_suite(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("counters");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, requests_by_route_and_status);
    tcase_add_test(tc, auth_outcomes_tokens_and_cache);
    tcase_add_test(tc, process_series);
    tcase_add_test(tc, database_errors_counted);
    suite_add_tcase(s, tc);

    TCase *expiry = tcase_create("expiry");
    tcase_add_checked_fixture(expiry, setup_slow_pruner, teardown);
    tcase_set_timeout(expiry, 180);
    tcase_add_test(expiry, expired_session_counted_as_expired);
    suite_add_tcase(s, expiry);

    TCase *own = tcase_create("metrics_listen");
    tcase_add_checked_fixture(own, setup_metrics_listen, teardown);
    tcase_set_timeout(own, 180);
    tcase_add_test(own, metrics_listen_alone);
    suite_add_tcase(s, own);
    return s;
}

int main(void)
{
    return th_run_suite(metrics_suite());
}
