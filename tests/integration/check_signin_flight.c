/*
 * Concurrent checks of one Basic credential share one password KDF (auth/signin.c's single
 * flight), against a real identityd: many first requests for one user on a cold cache run
 * the KDF once per flight, not once per request, and still each get their own verdict,
 * judged and counted by the brute-force protection one by one. The KDF is made slow (about
 * a third of a second) so that the requests, sent at once, arrive while it runs; the work
 * is counted through /metrics, never timed.
 */
#include <check.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define TOKEN_PATH "/api/2.0/security/oauth2/token"
#define N 64
#define ITERATIONS 600000u
#define ATTEMPTS 3

static th_env_t env;
static th_server_t srv;

static void setup(void)
{
    th_password_iterations = ITERATIONS;
    /* All N come from one address, above the default queue.per_client; on a slow machine
     * some may wait in the queue longer than the default queue.max_wait_ms. */
    th_env_init(&env,
                "queue: { per_client: 1000, per_connection: 1000, max_wait_ms: 600000 }\n"
                "bruteforce: { attempts: 3, window: 600, block: 600 }\n",
                NULL);
    th_password_iterations = 1000;
    for (int i = 0; i < 4; i++) {
        char email[64];
        snprintf(email, sizeof(email), "user%d@example.com", i);
        ck_assert_int_eq(th_add_user(&env, email, "user pass", "Bob", "User", "user"), 0);
    }
    th_server_start(&srv, &env);
}

static void teardown(void)
{
    ck_assert_int_eq(th_server_stop(&srv), 0);
    th_env_dispose(&env);
}

static long metric(const char *name)
{
    th_response_t r;
    th_get(&r, &srv, "/metrics", NULL);
    ck_assert_int_eq(r.status, 200);
    long v = -1;
    size_t n = strlen(name);
    for (const char *line = r.body; line != NULL && *line != '\0';
         line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
        if (strncmp(line, name, n) == 0 && line[n] == ' ') {
            v = atol(line + n + 1);
            break;
        }
    th_response_dispose(&r);
    ck_assert_msg(v >= 0, "no %s in /metrics", name);
    return v;
}

static long kdf_runs(void)
{
    return metric("identityd_password_kdf_iterations_total") / (long)ITERATIONS;
}

/* Sends N Basic requests for (user, password) at once; counts the answers by status. */
static void send_all(const char *user, const char *password, int *ok, int *unauthorized,
                     int *forbidden)
{
    char *basic = th_basic(user, password);
    struct curl_slist *headers = curl_slist_append(NULL, basic);
    char *u = th_url(&srv, TOKEN_PATH);
    CURLM *multi = curl_multi_init();
    CURL *easy[N];
    for (int i = 0; i < N; i++)
        easy[i] = th_multi_add(multi, u, headers, NULL, 120);
    th_multi_run(multi);
    *ok = *unauthorized = *forbidden = 0;
    for (int i = 0; i < N; i++) {
        long status = th_multi_finish(multi, easy[i]);
        *ok += status == 200;
        *unauthorized += status == 401;
        *forbidden += status == 403;
    }
    curl_multi_cleanup(multi);
    curl_slist_free_all(headers);
    free(u);
    free(basic);
}

/* The warm-up: N first requests with the right password, none in any thread's Basic cache
 * yet, run the KDF at most once per loop (the harness runs th_threads), not N times. */
START_TEST(concurrent_first_requests_share_the_kdf)
{
    long before = kdf_runs();
    int ok, unauthorized, forbidden;
    send_all("user0@example.com", "user pass", &ok, &unauthorized, &forbidden);
    long runs = kdf_runs() - before;
    ck_assert_int_eq(ok, N);
    ck_assert_msg(runs >= 1 && runs <= th_threads, "%ld KDF runs for %d concurrent requests", runs,
                  N);
    ck_assert_int_ge(metric("identityd_password_kdf_shared_total"), N - th_threads);
    ck_assert_int_eq(metric("identityd_password_kdf_waiting"), 0);
    /* Every loop's Basic cache now holds the credential: no more KDF. */
    send_all("user0@example.com", "user pass", &ok, &unauthorized, &forbidden);
    ck_assert_int_eq(ok, N);
    ck_assert_int_eq(kdf_runs() - before, runs);
}
END_TEST

/* N parallel copies of one wrong password: no more KDF runs than before (here one per
 * flight), and still one brute-force verdict per request, as if each had run its own: at
 * most `attempts` are evaluated (401), the rest refused (403), and the pair is blocked
 * afterwards, even for the right password. */
START_TEST(concurrent_wrong_passwords_counted_each)
{
    long before = kdf_runs();
    int ok, unauthorized, forbidden;
    send_all("user1@example.com", "wrong pass", &ok, &unauthorized, &forbidden);
    long runs = kdf_runs() - before;
    ck_assert_int_eq(ok, 0);
    ck_assert_int_eq(unauthorized + forbidden, N);
    ck_assert_msg(unauthorized >= 1 && unauthorized <= ATTEMPTS,
                  "%d of %d parallel guesses were evaluated (limit %d)", unauthorized, N, ATTEMPTS);
    ck_assert_msg(runs >= 1 && runs <= th_threads, "%ld KDF runs for %d concurrent guesses", runs,
                  N);
    th_response_t r;
    char *basic = th_basic("user1@example.com", "user pass");
    th_get(&r, &srv, TOKEN_PATH, basic);
    free(basic);
    th_assert_error_envelope(&r, 403);
    th_response_dispose(&r);
    ck_assert_int_eq(kdf_runs() - before, runs);
}
END_TEST

/* Waiters whose clients leave while the KDF runs are dropped; the others still get their
 * answer, and the server keeps serving. Tried with fresh users until the clients left while
 * their requests waited (a machine slow enough to finish the KDF first tells nothing). */
START_TEST(waiters_whose_clients_leave_are_dropped)
{
    bool seen_waiting = false;
    for (int attempt = 2; attempt < 4 && !seen_waiting; attempt++) {
        char email[64];
        snprintf(email, sizeof(email), "user%d@example.com", attempt);
        char *basic = th_basic(email, "user pass");
        struct curl_slist *headers = curl_slist_append(NULL, basic);
        char *u = th_url(&srv, TOKEN_PATH);
        CURLM *multi = curl_multi_init();
        CURL *easy[N];
        for (int i = 0; i < N; i++)
            easy[i] = th_multi_add(multi, u, headers, NULL, 120);
        /* Drive the requests until some wait on a flight (or every one is answered). */
        int running = 1;
        while (running && !seen_waiting) {
            curl_multi_perform(multi, &running);
            seen_waiting = metric("identityd_password_kdf_waiting") >= N / 4;
            if (!seen_waiting && running)
                curl_multi_poll(multi, NULL, 0, 5, NULL);
        }
        /* The first half leave: their connections close. */
        for (int i = 0; i < N / 2; i++)
            th_multi_finish(multi, easy[i]);
        th_multi_run(multi);
        for (int i = N / 2; i < N; i++)
            ck_assert_int_eq(th_multi_finish(multi, easy[i]), 200);
        curl_multi_cleanup(multi);
        curl_slist_free_all(headers);
        free(u);
        free(basic);
    }
    ck_assert_msg(seen_waiting, "no request was seen waiting on a shared KDF");
    /* Every parked request is released, answered or not. */
    double give_up = th_now() + 60;
    while (metric("identityd_password_kdf_waiting") != 0 && th_now() < give_up)
        ;
    ck_assert_int_eq(metric("identityd_password_kdf_waiting"), 0);
    th_response_t r;
    char *basic = th_basic("user0@example.com", "user pass");
    th_get(&r, &srv, TOKEN_PATH, basic);
    free(basic);
    ck_assert_int_eq(r.status, 200);
    th_response_dispose(&r);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("signin_flight");
    TCase *tc = tcase_create("flight");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, concurrent_first_requests_share_the_kdf);
    tcase_add_test(tc, concurrent_wrong_passwords_counted_each);
    tcase_add_test(tc, waiters_whose_clients_leave_are_dropped);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return th_run_suite(suite());
}
