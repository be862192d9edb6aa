/*
 * How identityd behaves as a process: the password KDF never stalls its event loop, and
 * SIGTERM lets a request in flight finish before the process exits 0. The KDF is made slow
 * on purpose (many PBKDF2 iterations) so that "in flight" lasts long enough to observe.
 */
#include <check.h>
#include <curl/curl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define TOKEN_PATH "/api/2.0/security/oauth2/token"

static th_env_t env;
static th_server_t srv;

static void setup(void)
{
    th_threads = 1;                     /* one loop: a blocking KDF would block everything */
    th_password_iterations = 1500000;   /* about a second of PBKDF2 per check */
    /* Many parallel checks of one login: keep the brute-force limit out of the way. */
    th_env_init(&env, "basic_cache: { ttl: 0 }\nbruteforce: { attempts: 100 }\n", NULL);
    ck_assert_int_eq(th_add_user(&env, "slow@example.com", "pw", "Slow", "Hash", "user"), 0);
    th_server_start(&srv, &env);
}

static void teardown(void)
{
    if (srv.pid > 0)
        th_server_stop(&srv);
    th_env_dispose(&env);
}

static size_t discard(char *data, size_t size, size_t n, void *arg)
{
    (void)data;
    (void)arg;
    return size * n;
}

/* Starts a Basic token request on multi and returns its handle. */
static CURL *start_basic(CURLM *multi, struct curl_slist **headers)
{
    char *basic = th_basic("slow@example.com", "pw");
    *headers = curl_slist_append(NULL, basic);
    free(basic);
    char url[128];
    snprintf(url, sizeof(url), "%s%s", srv.base, TOKEN_PATH);
    CURL *easy = curl_easy_init();
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, *headers);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT, 60L);
    curl_multi_add_handle(multi, easy);
    return easy;
}

/* Drives multi until the request has been sent (the server is then hashing). */
static void pump_until_sent(CURLM *multi, CURL *easy)
{
    for (int i = 0; i < 200; i++) {
        int running = 0;
        curl_multi_perform(multi, &running);
        curl_off_t sent = 0;
        curl_easy_getinfo(easy, CURLINFO_REQUEST_SIZE, &sent);
        if (sent > 0)
            break;
        curl_multi_poll(multi, NULL, 0, 10, NULL);
    }
    usleep(100000); /* let the server read it and hand the KDF to a worker */
}

static long finish(CURLM *multi, CURL *easy)
{
    int running = 1;
    while (running) {
        curl_multi_perform(multi, &running);
        if (running)
            curl_multi_poll(multi, NULL, 0, 1000, NULL);
    }
    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    return status;
}

/* While one Basic check hashes, the only event loop still answers other requests. */
START_TEST(kdf_does_not_block_loop)
{
    CURLM *multi = curl_multi_init();
    struct curl_slist *headers = NULL;
    CURL *slow = start_basic(multi, &headers);
    pump_until_sent(multi, slow);

    th_response_t r;
    char url[128];
    snprintf(url, sizeof(url), "%s/.well-known/jwks.json", srv.base);
    th_http(&r, "GET", url, NULL, NULL, 0, 0);
    ck_assert_int_eq(r.status, 200);
    th_response_dispose(&r);

    /* The Basic request is still being worked on after the JWKS answer came back. */
    int running = 0;
    curl_multi_perform(multi, &running);
    ck_assert_int_eq(running, 1);

    ck_assert_int_eq(finish(multi, slow), 200);
    curl_multi_remove_handle(multi, slow);
    curl_easy_cleanup(slow);
    curl_slist_free_all(headers);
    curl_multi_cleanup(multi);
}
END_TEST

/* SIGTERM during a request: the answer still arrives, then the process exits cleanly. */
START_TEST(sigterm_finishes_in_flight)
{
    CURLM *multi = curl_multi_init();
    struct curl_slist *headers = NULL;
    CURL *slow = start_basic(multi, &headers);
    pump_until_sent(multi, slow);
    ck_assert_int_eq(kill(srv.pid, SIGTERM), 0);
    ck_assert_int_eq(finish(multi, slow), 200);
    ck_assert_int_eq(th_server_stop(&srv), 0);
    char *log = th_read_file(srv.log);
    ck_assert_ptr_nonnull(strstr(log, "identityd stopped"));
    free(log);

    curl_multi_remove_handle(multi, slow);
    curl_easy_cleanup(slow);
    curl_slist_free_all(headers);
    curl_multi_cleanup(multi);
}
END_TEST

/* SIGTERM with more checks queued than workers: every client still gets an answer (200 for
 * the checks already running, 503 for those that had not started) and the process exits 0
 * promptly instead of waiting for, or crashing on, work that outlives its event loop. */
START_TEST(sigterm_with_queued_checks)
{
    enum { N = 8 };
    CURLM *multi = curl_multi_init();
    struct curl_slist *headers[N];
    CURL *easy[N];
    for (int i = 0; i < N; i++)
        easy[i] = start_basic(multi, &headers[i]);
    pump_until_sent(multi, easy[N - 1]);
    ck_assert_int_eq(kill(srv.pid, SIGTERM), 0);
    int running = 1;
    while (running) {
        curl_multi_perform(multi, &running);
        if (running)
            curl_multi_poll(multi, NULL, 0, 1000, NULL);
    }
    int ok = 0, unavailable = 0;
    for (int i = 0; i < N; i++) {
        long status = 0;
        curl_easy_getinfo(easy[i], CURLINFO_RESPONSE_CODE, &status);
        ok += status == 200;
        unavailable += status == 503;
        curl_multi_remove_handle(multi, easy[i]);
        curl_easy_cleanup(easy[i]);
        curl_slist_free_all(headers[i]);
    }
    ck_assert_int_eq(ok + unavailable, N);
    ck_assert_int_ge(ok, 1);
    ck_assert_int_ge(unavailable, 1);
    ck_assert_int_eq(th_server_stop(&srv), 0);
    curl_multi_cleanup(multi);
}
END_TEST

static Suite *lifecycle_suite(void)
{
    Suite *s = suite_create("lifecycle");
    TCase *tc = tcase_create("process");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, kdf_does_not_block_loop);
    tcase_add_test(tc, sigterm_finishes_in_flight);
    tcase_add_test(tc, sigterm_with_queued_checks);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    SRunner *sr = srunner_create(lifecycle_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    curl_global_cleanup();
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
