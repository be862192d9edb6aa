/*
 * How identityd behaves as a process: the password KDF never stalls its event loop, and
 * SIGTERM lets a request in flight finish before the process exits 0. The KDF is made slow
 * on purpose (many PBKDF2 iterations) so that "in flight" lasts long enough to observe.
 */
#include <arpa/inet.h>
#include <check.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

#define TOKEN_PATH "/api/2.0/security/oauth2/token"

static th_env_t env;
static th_server_t srv;

static void setup(void)
{
    th_threads = 1;                   /* one loop: a blocking KDF would block everything */
    th_password_iterations = 1500000; /* about a second of PBKDF2 per check */
    /* Many parallel checks of one login: keep the brute-force limit out of the way. */
    /* A grace far longer than any check: what is asserted is that running checks are
     * answered and the process exits once they are, not how fast a loaded machine hashes. */
    th_env_init(&env,
                "basic_cache: { ttl: 0 }\nbruteforce: { attempts: 100 }\nshutdown_timeout: 240\n",
                NULL);
    ck_assert_int_eq(th_add_user(&env, "slow@example.com", "pw", "Slow", "Hash", "user"), 0);
    th_server_start(&srv, &env);
}

static void teardown(void)
{
    int rc = srv.pid > 0 ? th_server_stop(&srv) : 0;
    th_env_dispose(&env);
    ck_assert_int_eq(rc, 0);
}

/* Starts a Basic token request on multi with the given password and returns its handle. */
static CURL *start_basic_with(CURLM *multi, struct curl_slist **headers, const char *password)
{
    char *basic = th_basic("slow@example.com", password);
    *headers = curl_slist_append(NULL, basic);
    free(basic);
    char *url = th_url(&srv, TOKEN_PATH);
    CURL *easy = th_multi_add(multi, url, *headers, NULL, 60);
    free(url);
    return easy;
}

/* The same with the right password. */
static CURL *start_basic(CURLM *multi, struct curl_slist **headers)
{
    return start_basic_with(multi, headers, "pw");
}

/* Drives multi until easy's request has been sent, then until the server holds `jobs`
 * password checks and a worker is hashing at least one of them: SIGTERM hands queued checks
 * back unrun (503), so "in flight" must mean running, however slowly a busy machine hands
 * the job to a worker (a fixed pause, then a queued-or-running count, were both too weak
 * under load). Gives up waiting after 20 s: the test's own assertions then say what went
 * wrong. */
static void pump_until_sent(CURLM *multi, CURL *easy, int jobs)
{
    for (int i = 0; i < 2000; i++) {
        int running = 0;
        curl_multi_perform(multi, &running);
        curl_off_t sent = 0;
        curl_easy_getinfo(easy, CURLINFO_REQUEST_SIZE, &sent);
        if (sent > 0)
            break;
        curl_multi_poll(multi, NULL, 0, 10, NULL);
    }
    /* Also stops once the count falls: a check has finished, and waiting longer cannot help. */
    double give_up = th_now() + 20;
    int most = 0;
    for (;;) {
        int n = th_kdf_gauge(&srv, "identityd_worker_jobs");
        if ((n >= jobs && th_kdf_gauge(&srv, "identityd_worker_running") >= 1) || n < most ||
            th_now() >= give_up)
            break;
        most = n;
        int running = 0;
        curl_multi_perform(multi, &running);
        usleep(10000);
    }
}

/* Runs multi to the end and returns easy's status; easy stays open (the caller frees it). */
static long finish(CURLM *multi, CURL *easy)
{
    th_multi_run(multi);
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
    pump_until_sent(multi, slow, 1);
    ck_assert_int_eq(th_kdf_gauge(&srv, "identityd_worker_running"), 1); /* the check is hashing */

    th_response_t r;
    th_get(&r, &srv, "/.well-known/jwks.json", NULL);
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
    pump_until_sent(multi, slow, 1);
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
    /* Each its own password (only the first right): checks of one credential would share
     * one KDF, and this test needs N jobs in the pool. */
    for (int i = 0; i < N; i++) {
        char password[16];
        snprintf(password, sizeof(password), "pw %d", i);
        easy[i] = start_basic_with(multi, &headers[i], i == 0 ? "pw" : password);
    }
    /* Every check read and handed to the pool (two workers: two hash, the rest wait), so
     * that each client has a request in flight when the signal comes. */
    pump_until_sent(multi, easy[N - 1], N);
    ck_assert_int_eq(kill(srv.pid, SIGTERM), 0);
    th_multi_run(multi);
    int ok = 0, unavailable = 0;
    for (int i = 0; i < N; i++) {
        long status = th_multi_finish(multi, easy[i]);
        ok += status == (i == 0 ? 200 : 401); /* checked, right or wrong */
        unavailable += status == 503;
        curl_slist_free_all(headers[i]);
    }
    ck_assert_int_eq(ok + unavailable, N);
    ck_assert_int_ge(ok, 1);
    ck_assert_int_ge(unavailable, 1);
    ck_assert_int_eq(th_server_stop(&srv), 0);
    curl_multi_cleanup(multi);
}
END_TEST

/* Clients that connect and then say nothing, or half a request, still hold connections when
 * SIGTERM comes: the process exits 0 after the short flush, without waiting for them to leave
 * and (in the sanitizer builds) without a leak report for what they hold at exit. */
START_TEST(sigterm_with_silent_clients)
{
    enum { N = 3 };
    int fds[N];
    for (int i = 0; i < N; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        ck_assert_int_ge(fds[i], 0);
        struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)srv.port)};
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ck_assert_int_eq(connect(fds[i], (struct sockaddr *)&sin, sizeof(sin)), 0);
    }
    static const char half[] = "GET /healthz HTTP/1.1\r\nHost: localhost\r\n";
    ck_assert_int_eq(write(fds[1], half, sizeof(half) - 1), (ssize_t)(sizeof(half) - 1));
    /* A full request on the last one: its answer proves the server has accepted them all
     * (one loop, accepted in order) before the signal. */
    static const char full[] = "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n";
    ck_assert_int_eq(write(fds[N - 1], full, sizeof(full) - 1), (ssize_t)(sizeof(full) - 1));
    char buf[512];
    ssize_t n = read(fds[N - 1], buf, sizeof(buf) - 1);
    ck_assert_int_gt(n, 0);
    buf[n] = '\0';
    ck_assert_ptr_nonnull(strstr(buf, " 200 "));

    double began = th_now();
    ck_assert_int_eq(th_server_stop(&srv), 0);
    ck_assert_double_lt(th_now() - began, 20);
    for (int i = 0; i < N; i++)
        close(fds[i]);
}
END_TEST

static Suite *lifecycle_suite(void)
{
    Suite *s = suite_create("lifecycle");
    TCase *tc = tcase_create("process");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 280);
    tcase_add_test(tc, kdf_does_not_block_loop);
    tcase_add_test(tc, sigterm_finishes_in_flight);
    tcase_add_test(tc, sigterm_with_queued_checks);
    tcase_add_test(tc, sigterm_with_silent_clients);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return th_run_suite(lifecycle_suite());
}
