/*
 * Brute-force protection end to end: failed sign-ins (POST /api/2.0/authentication and
 * Basic on the token endpoint) counted per (lowercased login, client IP), against a real
 * identityd on a loopback port with a real SQLite file and users made by identityctl. The
 * server runs with bruteforce.unsafe_test_clock, and every request here carries the
 * suite's clock offset: a window or a block ends when a test moves that clock, never by
 * waiting on real time, so no machine is too slow for these windows.
 */
#include <check.h>
#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "identityd/store/store.h"

#define AUTH_PATH "/api/2.0/authentication"
#define TOKEN_PATH "/api/2.0/security/oauth2/token"
#define AUTH_FAILED "User authentication failed"
#define TOO_MANY "Too many login attempts. Please try again later"

#define ATTEMPTS 3
/* Counting windows and blocks, in seconds. Tests that need failures to add up and a block to
 * hold get long ones, which no busy machine's slowness can outlast; only the tests that wait
 * for a window or a block to end get a short one (and a long one for the other). */
#define LONG_S 60
#define CLIENT_WINDOW_S 600 /* bruteforce.client_window's default */

static th_env_t env;
static th_server_t srv;
static int retry_max; /* the longest Retry-After the running server may give */
static long clock_s;  /* what X-Identityd-Test-Clock says: seconds added to the server's clock */
static char clock_header[64];

static void advance_clock(long seconds)
{
    clock_s += seconds;
    snprintf(clock_header, sizeof(clock_header), "X-Identityd-Test-Clock: %ld", clock_s);
}

/* ---- plumbing --------------------------------------------------------------------------- */

static void start(const char *more_bruteforce, const char *more_yaml)
{
    char yaml[512];
    snprintf(yaml, sizeof(yaml),
             "bruteforce: { attempts: %d, window: %d, block: %d, unsafe_test_clock: true%s }\n%s",
             ATTEMPTS, LONG_S, LONG_S, more_bruteforce, more_yaml);
    retry_max = CLIENT_WINDOW_S;
    clock_s = 0;
    advance_clock(0);
    th_env_init(&env, yaml, NULL);
    ck_assert_int_eq(th_add_user(&env, "user@example.com", "user pass", "Bob", "User", "user"), 0);
    ck_assert_int_eq(th_add_user(&env, "other@example.com", "other pass", "Olly", "Other", "user"),
                     0);
    ck_assert_int_eq(th_add_user(&env, "off@example.com", "off pass", "Olga", "Off", "user"), 0);
    th_server_start(&srv, &env);
}

static void setup(void)
{
    start("", "");
}

static void setup_proxy(void)
{
    start("", "trusted_proxies: [127.0.0.1]\n");
}

/* A login over budget after 4 failures; each further attempt waits 400 ms. */
#define HOT_AFTER 4
#define DELAY_MS 400
static void setup_hot_login(void)
{
    start(", login_attempts: 4, login_delay_ms: 400", "trusted_proxies: [127.0.0.1]\n");
}

/* The same with a delay no machine's slowness outlasts, and at most one waiting sign-in per
 * thread. */
static void setup_hot_login_queue(void)
{
    start(", login_attempts: 4, login_delay_ms: 10000, login_delay_waiting: 1",
          "trusted_proxies: [127.0.0.1]\n");
}

/* A slower password KDF (still about 10 ms) widens the moment between the counter check
 * and the recorded failure, so that a race there shows every run, not now and then. */
static void setup_slow_kdf(void)
{
    th_password_iterations = 20000;
    /* The parallel guesses come from one address (above the default queue.per_client), and
     * on a slow machine some wait in the queue longer than the default queue.max_wait_ms. */
    start("", "queue: { per_client: 1000, max_wait_ms: 600000 }\n");
    th_password_iterations = 1000;
}

static void teardown(void)
{
    ck_assert_int_eq(th_server_stop(&srv), 0);
    th_env_dispose(&env);
}

/* The error envelope with status and exactly this message. */
static void assert_error(const th_response_t *r, long status, const char *message)
{
    th_assert_error_envelope(r, status);
    th_assert_error_message(r, message);
}

/* POST /api/2.0/authentication with a JSON body and an optional extra header. */
static void post_body(th_response_t *r, const char *body, const char *extra)
{
    const char *h[] = {"Content-Type: application/json", clock_header, extra, NULL};
    char *u = th_url(&srv, AUTH_PATH);
    th_http(r, "POST", u, h, body, strlen(body), 0);
    free(u);
}

static void post_login(th_response_t *r, const char *email, const char *password, const char *extra)
{
    char body[512];
    snprintf(body, sizeof(body), "{\"userName\":\"%s\",\"password\":\"%s\"}", email, password);
    post_body(r, body, extra);
}

/* The status of a sign-in; 401 answers are checked to be the plain failure. */
static long attempt(const char *email, const char *password, const char *extra)
{
    th_response_t r;
    post_login(&r, email, password, extra);
    long status = r.status;
    if (status == 401)
        assert_error(&r, 401, AUTH_FAILED);
    th_response_dispose(&r);
    return status;
}

static void fail_n(int n, const char *email, const char *extra)
{
    for (int i = 0; i < n; i++) {
        long status = attempt(email, "not the password", extra);
        ck_assert_msg(status == 401, "failure %d of %s: %ld, want 401", i + 1, email, status);
    }
}

static void basic(th_response_t *r, const char *email, const char *password)
{
    char *auth = th_basic(email, password);
    const char *h[] = {auth, clock_header, NULL};
    char *u = th_url(&srv, TOKEN_PATH);
    th_http(r, "GET", u, h, NULL, 0, 0);
    free(u);
    free(auth);
}

/* A refusal for too many attempts: 403, the envelope, a Retry-After of whole seconds no
 * longer than the longest refusal (the client's window), and no cookie. */
static void assert_blocked(const th_response_t *r)
{
    assert_error(r, 403, TOO_MANY);
    char *ra = th_header(r, "retry-after");
    ck_assert_msg(ra != NULL, "no Retry-After in:\n%s", r->headers);
    ck_assert_msg(strlen(ra) > 0 && strspn(ra, "0123456789") == strlen(ra), "Retry-After: %s", ra);
    long secs = atol(ra);
    ck_assert_msg(secs >= 1 && secs <= retry_max, "Retry-After: %ld, want 1..%d", secs, retry_max);
    free(ra);
    ck_assert_ptr_null(th_header(r, "set-cookie"));
}

static void assert_login_blocked(const char *email, const char *password, const char *extra)
{
    th_response_t r;
    post_login(&r, email, password, extra);
    assert_blocked(&r);
    th_response_dispose(&r);
}

static int count_one(const idd_session_t *session, void *arg)
{
    (void)session;
    (*(size_t *)arg)++;
    return 0;
}

/* How many live sessions the user has, read from the store. */
static size_t count_sessions(const char *email)
{
    idd_store_t *s = NULL;
    idd_user_t u;
    ck_assert_int_eq(idd_store_open(env.db, &s), 0);
    ck_assert_int_eq(idd_store_user_by_email(s, 1, email, &u), 0);
    size_t n = 0;
    ck_assert_int_eq(idd_store_session_list_user(s, u.id, (int64_t)time(NULL), count_one, &n), 0);
    idd_store_free(s);
    return n;
}

/* ---- the block -------------------------------------------------------------------------- */

/* Online password guessing: an attacker tries password after password for one account.
 * After `attempts` failures the pair is refused for `block` seconds whatever is sent, and a
 * refusal looks the same for a right and a wrong password, so the block is not an oracle
 * that still confirms a guess. Other accounts from the same address are not affected. */
START_TEST(blocks_after_attempts)
{
    fail_n(ATTEMPTS, "user@example.com", NULL);

    th_response_t right, wrong;
    post_login(&right, "user@example.com", "user pass", NULL);
    assert_blocked(&right);
    post_login(&wrong, "user@example.com", "still not it", NULL);
    assert_blocked(&wrong);
    ck_assert_str_eq(right.body, wrong.body);
    th_response_dispose(&right);
    th_response_dispose(&wrong);

    /* The client hash is the same credential: blocked too. */
    idd_store_t *s = NULL;
    idd_tenant_t t;
    ck_assert_int_eq(idd_store_open(env.db, &s), 0);
    ck_assert_int_eq(idd_store_tenant_get(s, 1, &t), 0);
    idd_store_free(s);
    unsigned char dk[32];
    ck_assert(PKCS5_PBKDF2_HMAC("user pass", 9, (const unsigned char *)t.password_salt,
                                (int)strlen(t.password_salt), 1000, EVP_sha256(), 32, dk) == 1);
    char body[256];
    int n = snprintf(body, sizeof(body), "{\"userName\":\"user@example.com\",\"passwordHash\":\"");
    for (int i = 0; i < 32; i++)
        n += snprintf(body + n, sizeof(body) - (size_t)n, "%02x", dk[i]);
    snprintf(body + n, sizeof(body) - (size_t)n, "\"}");
    th_response_t r;
    post_body(&r, body, NULL);
    assert_blocked(&r);
    th_response_dispose(&r);

    /* Basic on the token endpoint, right password: blocked as well. */
    basic(&r, "user@example.com", "user pass");
    assert_blocked(&r);
    th_response_dispose(&r);

    /* Another account from the same address signs in. */
    ck_assert_int_eq(attempt("other@example.com", "other pass", NULL), 200);
    ck_assert_int_eq(count_sessions("user@example.com"), 0);
    ck_assert_int_eq(count_sessions("other@example.com"), 1);
}
END_TEST

/* Account enumeration: if blocking answered differently for an address that has an account
 * than for one that does not, an attacker would learn which accounts exist by failing three
 * times for each. Both are counted and both are refused identically. */
START_TEST(unknown_login_blocked_identically)
{
    th_response_t a, b;
    post_login(&a, "user@example.com", "nope", NULL);
    post_login(&b, "nobody@example.com", "nope", NULL);
    assert_error(&a, 401, AUTH_FAILED);
    assert_error(&b, 401, AUTH_FAILED);
    ck_assert_str_eq(a.body, b.body);
    th_response_dispose(&a);
    th_response_dispose(&b);
    fail_n(ATTEMPTS - 1, "user@example.com", NULL);
    fail_n(ATTEMPTS - 1, "nobody@example.com", NULL);

    post_login(&a, "user@example.com", "user pass", NULL);
    post_login(&b, "nobody@example.com", "user pass", NULL);
    assert_blocked(&a);
    assert_blocked(&b);
    ck_assert_int_eq(a.status, b.status);
    ck_assert_str_eq(a.body, b.body);
    char *ra = th_header(&a, "retry-after"), *rb = th_header(&b, "retry-after");
    ck_assert_str_eq(ra, rb);
    free(ra);
    free(rb);
    th_response_dispose(&a);
    th_response_dispose(&b);
}
END_TEST

/* The block ends: after it the right password works, and the count starts afresh. The
 * block runs from the failure that started it; the clock moves just short of its end,
 * then past it. */
START_TEST(block_expires)
{
    fail_n(ATTEMPTS, "user@example.com", NULL);
    assert_login_blocked("user@example.com", "user pass", NULL);
    advance_clock(LONG_S - 2);
    assert_login_blocked("user@example.com", "user pass", NULL);
    advance_clock(3);
    ck_assert_int_eq(attempt("user@example.com", "nope", NULL), 401);
    ck_assert_int_eq(attempt("user@example.com", "user pass", NULL), 200);
}
END_TEST

/* A success does not clear the failures already counted (DocSpace: a success removes only
 * its own attempt). Otherwise an attacker who knows one password that works for this
 * (login, client), or who can make one sign-in succeed, resets the count at will. */
START_TEST(success_does_not_clear)
{
    fail_n(ATTEMPTS - 1, "user@example.com", NULL);
    ck_assert_int_eq(attempt("user@example.com", "user pass", NULL), 200);
    fail_n(1, "user@example.com", NULL);
    assert_login_blocked("user@example.com", "user pass", NULL);
}
END_TEST

/* The same email at another tenant is another account, perhaps the attacker's own: signing
 * in there must not reset the count against the victim here, and failures there do not
 * count here. */
START_TEST(other_tenant_success_does_not_reset)
{
    const char *argv[] = {th_ctl(),           "-c",      env.config, "user",   "add",
                          "user@example.com", "--first", "Mallory",  "--last", "Owner",
                          "--role",           "user",    "--tenant", "2",      NULL};
    ck_assert_int_eq(th_run(argv, "mine\n", NULL, NULL), 0);
    for (int round = 0; round < 3; round++) {
        if (round < 2)
            fail_n(1, "user@example.com", NULL);
        ck_assert_int_eq(attempt("user@example.com", "mine", "Host: second.test"), 200);
    }
    fail_n(ATTEMPTS - 2, "user@example.com", NULL);
    assert_login_blocked("user@example.com", "user pass", NULL);
    /* Tenant 2's pair is its own: nothing failed there. */
    ck_assert_int_eq(attempt("user@example.com", "mine", "Host: second.test"), 200);
}
END_TEST

/* Failures older than the window do not count. */
START_TEST(window_slides)
{
    fail_n(ATTEMPTS - 1, "user@example.com", NULL);
    advance_clock(LONG_S + 1);
    fail_n(ATTEMPTS - 1, "user@example.com", NULL);
    ck_assert_int_eq(attempt("user@example.com", "user pass", NULL), 200);
}
END_TEST

/* Logins match case-insensitively, so the counter must too: otherwise an attacker gets
 * `attempts` guesses for every capitalisation of the address. */
START_TEST(login_case_folded)
{
    fail_n(1, "User@Example.com", NULL);
    fail_n(1, "user@example.com", NULL);
    fail_n(1, "USER@EXAMPLE.COM", NULL);
    assert_login_blocked("user@example.com", "user pass", NULL);
    assert_login_blocked("uSeR@eXaMpLe.CoM", "user pass", NULL);
}
END_TEST

/* Basic on the token endpoint checks the same password: if its failures were not counted,
 * an attacker would simply guess there instead (DocSpace has no limit on Basic at all). */
START_TEST(basic_counts_and_is_blocked)
{
    th_response_t r;
    for (int i = 0; i < ATTEMPTS - 1; i++) {
        basic(&r, "user@example.com", "wrong");
        ck_assert_int_eq(r.status, 401);
        th_response_dispose(&r);
    }
    fail_n(1, "user@example.com", NULL);
    assert_login_blocked("user@example.com", "user pass", NULL);
    basic(&r, "user@example.com", "user pass");
    assert_blocked(&r);
    th_response_dispose(&r);

    /* Basic failures alone block Basic and sign-in. */
    for (int i = 0; i < ATTEMPTS; i++) {
        basic(&r, "other@example.com", "wrong");
        ck_assert_int_eq(r.status, 401);
        th_response_dispose(&r);
    }
    basic(&r, "other@example.com", "other pass");
    assert_blocked(&r);
    th_response_dispose(&r);
    assert_login_blocked("other@example.com", "other pass", NULL);
}
END_TEST

/* An account that may not sign in (disabled, or told to change its password by
 * logoutallchangepassword) answers 401 to its right password like to a wrong one. If the
 * right password still counted as a success and cleared the counter, the counter would be a
 * password oracle: fail twice, guess, fail once more, and an answer of 401 instead of 403
 * says the guess was right. A refused sign-in is a failure, whatever the password. */
START_TEST(refused_account_is_no_oracle)
{
    const char *argv[] = {th_ctl(), "-c", env.config, "user", "disable", "off@example.com", NULL};
    ck_assert_int_eq(th_run(argv, NULL, NULL, NULL), 0);
    fail_n(ATTEMPTS - 1, "off@example.com", NULL);
    ck_assert_int_eq(attempt("off@example.com", "off pass", NULL), 401);
    assert_login_blocked("off@example.com", "nope", NULL);

    idd_store_t *s = NULL;
    idd_user_t u;
    ck_assert_int_eq(idd_store_open(env.db, &s), 0);
    ck_assert_int_eq(idd_store_user_by_email(s, 1, "other@example.com", &u), 0);
    ck_assert_int_eq(idd_store_user_set_password_change(s, u.id, 1), 0);
    idd_store_free(s);
    fail_n(ATTEMPTS - 1, "other@example.com", NULL);
    ck_assert_int_eq(attempt("other@example.com", "other pass", NULL), 401);
    assert_login_blocked("other@example.com", "nope", NULL);
}
END_TEST

/* Without trusted proxies X-Forwarded-For is just a header the client chose: an attacker
 * who could make each guess a new pair by changing it would never be blocked. */
START_TEST(forwarded_for_ignored_untrusted)
{
    fail_n(1, "user@example.com", "X-Forwarded-For: 198.51.100.1");
    fail_n(1, "user@example.com", "X-Forwarded-For: 198.51.100.2");
    fail_n(1, "user@example.com", NULL);
    assert_login_blocked("user@example.com", "user pass", "X-Forwarded-For: 203.0.113.9");
    assert_login_blocked("user@example.com", "user pass", NULL);
}
END_TEST

/* Parallel guessing: an attacker sends many guesses at once, so that all of them are checked
 * against the counter before the first failure is recorded. The limit must hold for
 * concurrent attempts too: at most `attempts` guesses are evaluated (answered 401), the rest
 * are refused. */
START_TEST(parallel_guesses_bounded)
{
    enum { N = 24 };
    CURLM *multi = curl_multi_init();
    CURL *easy[N];
    char bodies[N][128];
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    char *u = th_url(&srv, AUTH_PATH);
    for (int i = 0; i < N; i++) {
        snprintf(bodies[i], sizeof(bodies[i]),
                 "{\"userName\":\"user@example.com\",\"password\":\"guess %d\"}", i);
        easy[i] = th_multi_add(multi, u, headers, bodies[i], 30);
    }
    th_multi_run(multi);
    int evaluated = 0, refused = 0;
    for (int i = 0; i < N; i++) {
        long status = th_multi_finish(multi, easy[i]);
        if (status == 401)
            evaluated++;
        else if (status == 403)
            refused++;
    }
    curl_multi_cleanup(multi);
    curl_slist_free_all(headers);
    free(u);
    ck_assert_int_eq(evaluated + refused, N);
    ck_assert_msg(evaluated <= ATTEMPTS, "%d of %d parallel guesses were evaluated (limit %d)",
                  evaluated, N, ATTEMPTS);
    assert_login_blocked("user@example.com", "user pass", NULL);
}
END_TEST

/* ---- behind a trusted proxy ----------------------------------------------------------- */

/* Behind a proxy every client arrives from the proxy's address: the pair must use the
 * forwarded client address, or one attacker would lock everyone out of an account (and a
 * block would hit every user behind the proxy). The blocked client stays blocked. */
START_TEST(forwarded_for_trusted_pairs)
{
    fail_n(ATTEMPTS, "user@example.com", "X-Forwarded-For: 198.51.100.1");
    assert_login_blocked("user@example.com", "user pass", "X-Forwarded-For: 198.51.100.1");
    ck_assert_int_eq(attempt("user@example.com", "user pass", "X-Forwarded-For: 203.0.113.9"), 200);
    ck_assert_int_eq(attempt("user@example.com", "user pass", NULL), 200);
    assert_login_blocked("user@example.com", "user pass", "X-Forwarded-For: 198.51.100.1");
}
END_TEST

/* A proxy appends the address it saw to whatever X-Forwarded-For the client sent. The client
 * controls the entries to the left, so the client address is the rightmost one not added by
 * a trusted proxy: an attacker who varies a made-up left entry must still be one pair. */
START_TEST(forwarded_for_left_entries_spoofed)
{
    fail_n(1, "user@example.com", "X-Forwarded-For: 10.0.0.1, 198.51.100.1");
    fail_n(1, "user@example.com", "X-Forwarded-For: 10.0.0.2, 198.51.100.1");
    fail_n(1, "user@example.com", "X-Forwarded-For: 10.0.0.3, 198.51.100.1");
    assert_login_blocked("user@example.com", "user pass",
                         "X-Forwarded-For: 10.0.0.4, 198.51.100.1");
    assert_login_blocked("user@example.com", "user pass", "X-Forwarded-For: 198.51.100.1");
}
END_TEST

/* A proxy may add its own X-Forwarded-For line instead of extending the client's (HAProxy's
 * `option forwardfor` does). Several lines of one header are one comma-separated list in
 * order (RFC 9110 section 5.3), so the client's forged line is still the left part: reading
 * only the first line would make the forged address the client. */
START_TEST(forwarded_for_split_lines)
{
    static const char *const forged[] = {"X-Forwarded-For: 10.0.0.1", "X-Forwarded-For: 10.0.0.2",
                                         "X-Forwarded-For: 10.0.0.3", "X-Forwarded-For: 10.0.0.4"};
    char *u = th_url(&srv, AUTH_PATH);
    for (int i = 0; i < ATTEMPTS + 1; i++) {
        const char *h[] = {"Content-Type: application/json", forged[i],
                           "X-Forwarded-For: 198.51.100.1", NULL};
        const char *body = i < ATTEMPTS
                               ? "{\"userName\":\"user@example.com\",\"password\":\"nope\"}"
                               : "{\"userName\":\"user@example.com\",\"password\":\"user pass\"}";
        th_response_t r;
        th_http(&r, "POST", u, h, body, strlen(body), 0);
        if (i < ATTEMPTS)
            ck_assert_int_eq(r.status, 401);
        else
            assert_blocked(&r);
        th_response_dispose(&r);
    }
    free(u);
    assert_login_blocked("user@example.com", "user pass", "X-Forwarded-For: 198.51.100.1");
}
END_TEST

/* The same with many forged lines: a client that sends twenty X-Forwarded-For fields of its
 * own, before the one the proxy appends, must not push the proxy's entry out of sight, or
 * it could pick a fresh address for every guess and never be blocked. */
START_TEST(forwarded_for_many_lines)
{
    enum { FORGED = 20 };
    char lines[FORGED][48];
    const char *h[FORGED + 3];
    char *u = th_url(&srv, AUTH_PATH);
    for (int i = 0; i < ATTEMPTS + 1; i++) {
        size_t n = 0;
        h[n++] = "Content-Type: application/json";
        for (int j = 0; j < FORGED; j++) {
            snprintf(lines[j], sizeof(lines[j]), "X-Forwarded-For: 10.%d.%d.1", i, j);
            h[n++] = lines[j];
        }
        h[n++] = "X-Forwarded-For: 198.51.100.7";
        h[n] = NULL;
        const char *body = "{\"userName\":\"user@example.com\",\"password\":\"nope\"}";
        th_response_t r;
        th_http(&r, "POST", u, h, body, strlen(body), 0);
        if (i < ATTEMPTS)
            ck_assert_int_eq(r.status, 401);
        else
            assert_blocked(&r);
        th_response_dispose(&r);
    }
    free(u);
}
END_TEST

/* Password spraying: one client, one guess each at many logins, never reaching any pair's
 * limit. Its budget across logins (20 in 10 minutes) runs out, then every sign-in from it
 * is refused, the right password included, until the window ends; other clients are not
 * affected. */
START_TEST(client_budget_across_logins)
{
    const char *xff = "X-Forwarded-For: 198.51.100.50";
    char login[64];
    for (int i = 0; i < 20; i++) {
        snprintf(login, sizeof(login), "victim%d@example.com", i);
        fail_n(1, login, xff);
    }
    assert_login_blocked("user@example.com", "user pass", xff);
    assert_login_blocked("nobody@example.com", "x", xff);
    ck_assert_int_eq(attempt("user@example.com", "user pass", "X-Forwarded-For: 198.51.100.51"),
                     200);
    advance_clock(CLIENT_WINDOW_S + 1);
    ck_assert_int_eq(attempt("user@example.com", "user pass", xff), 200);
}
END_TEST

/* An IPv6 client holds a /64: every address of it is the same client, so hopping through
 * it buys no guesses. */
START_TEST(ipv6_slash64_is_one_client)
{
    fail_n(1, "user@example.com", "X-Forwarded-For: 2001:db8:1:2::1");
    fail_n(1, "user@example.com", "X-Forwarded-For: 2001:db8:1:2::2");
    fail_n(1, "user@example.com", "X-Forwarded-For: [2001:db8:1:2:ffff::3]");
    assert_login_blocked("user@example.com", "user pass", "X-Forwarded-For: 2001:db8:1:2::99");
    ck_assert_int_eq(attempt("user@example.com", "user pass", "X-Forwarded-For: 2001:db8:1:3::1"),
                     200);
}
END_TEST

/* ::ffff:a.b.c.d is a.b.c.d: writing the forwarded address the other way is no new client. */
START_TEST(ipv4_mapped_is_ipv4)
{
    fail_n(1, "user@example.com", "X-Forwarded-For: ::ffff:198.51.100.60");
    fail_n(1, "user@example.com", "X-Forwarded-For: [::ffff:198.51.100.60]");
    fail_n(1, "user@example.com", "X-Forwarded-For: 198.51.100.60");
    assert_login_blocked("user@example.com", "user pass", "X-Forwarded-For: 198.51.100.60");
    assert_login_blocked("user@example.com", "user pass", "X-Forwarded-For: ::FFFF:c633:643c");
}
END_TEST

/* The time a sign-in takes, in ms. */
static double timed_attempt(const char *email, const char *password, const char *extra,
                            long *status)
{
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    *status = attempt(email, password, extra);
    clock_gettime(CLOCK_MONOTONIC, &b);
    return (double)(b.tv_sec - a.tv_sec) * 1000.0 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
}

/* Item of the timing contract: a failed sign-in of a known login and of an unknown one write
 * the same log line (a keyed reference, never the user) and are answered no sooner than the
 * first 5 ms step after their check began, on every path. Only a lower bound on time is
 * asserted: a loaded machine makes answers later, never earlier. */
#define FAIL_STEP_MS 5.0
START_TEST(failures_look_alike)
{
    static const char *const logins[] = {"user@example.com", "nobo@example.com"};
    static const char *const hash =
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    char xff[64], body[256];
    int n = 0;
    for (size_t i = 0; i < 2; i++) {
        struct timespec a, b;
        th_response_t r;
        /* Basic, POST with a password, POST with a client hash: each from its own client. */
        for (int path = 0; path < 3; path++) {
            snprintf(xff, sizeof(xff), "X-Forwarded-For: 198.51.100.%d", 10 + n++);
            clock_gettime(CLOCK_MONOTONIC, &a);
            if (path == 0) {
                char *auth = th_basic(logins[i], "not the password");
                const char *h[] = {auth, xff, clock_header, NULL};
                char *u = th_url(&srv, TOKEN_PATH);
                th_http(&r, "GET", u, h, NULL, 0, 0);
                free(u);
                free(auth);
            } else if (path == 1) {
                post_login(&r, logins[i], "not the password", xff);
            } else {
                snprintf(body, sizeof(body), "{\"userName\":\"%s\",\"passwordHash\":\"%s\"}",
                         logins[i], hash);
                post_body(&r, body, xff);
            }
            clock_gettime(CLOCK_MONOTONIC, &b);
            double ms =
                (double)(b.tv_sec - a.tv_sec) * 1000.0 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
            ck_assert_msg(r.status == 401, "%s path %d: %ld", logins[i], path, r.status);
            ck_assert_msg(ms >= FAIL_STEP_MS, "%s path %d answered after %.2f ms, want >= %.0f",
                          logins[i], path, ms, FAIL_STEP_MS);
            th_response_dispose(&r);
        }
    }
    /* Six failures, six lines of one shape; nothing else about sign-ins, so nothing that
     * names the known user or says the password was wrong. */
    char *log = th_read_file(srv.log);
    ck_assert_ptr_nonnull(log);
    int failed = 0, other = 0;
    for (const char *p = log; (p = strstr(p, "signin: ")) != NULL; p += 8) {
        if (strncmp(p, "signin: failed for tenant 1 login #", 35) == 0)
            failed++;
        else
            other++;
    }
    ck_assert_int_eq(failed, 6);
    ck_assert_int_eq(other, 0);
    free(log);
}
END_TEST

/* A login attacked from many clients, each under its own limit: after the login's budget
 * every attempt on it waits the delay first, and is then judged as usual: the owner, from
 * a client of their own, still signs in. Only a lower bound on time is asserted. */
START_TEST(hot_login_is_delayed_not_locked)
{
    char xff[64];
    for (int i = 0; i < HOT_AFTER; i++) {
        snprintf(xff, sizeof(xff), "X-Forwarded-For: 198.51.100.%d", 100 + i);
        fail_n(1, "user@example.com", xff);
    }
    long status = 0;
    double ms =
        timed_attempt("user@example.com", "user pass", "X-Forwarded-For: 203.0.113.5", &status);
    ck_assert_int_eq(status, 200);
    ck_assert_msg(ms >= DELAY_MS, "the owner's sign-in took %.0f ms, want >= %d", ms, DELAY_MS);
    ms = timed_attempt("user@example.com", "guess", "X-Forwarded-For: 203.0.113.6", &status);
    ck_assert_int_eq(status, 401);
    ck_assert_msg(ms >= DELAY_MS, "a guess took %.0f ms, want >= %d", ms, DELAY_MS);
    /* The budget ends with its window. */
    advance_clock(CLIENT_WINDOW_S + 1);
    ck_assert_int_eq(attempt("user@example.com", "user pass", "X-Forwarded-For: 203.0.113.5"), 200);
}
END_TEST

/* The places where attempts on a hot login wait are bounded (one per thread here, each wait
 * 10 s). When they are taken, a client with failures on record is refused at once, while a
 * client without any (the owner, most likely) is judged undelayed: a flood of guesses can
 * neither pile up waiting requests nor lock the owner out. */
START_TEST(hot_login_waiting_is_bounded)
{
    char xff[64];
    for (int i = 0; i < HOT_AFTER; i++) {
        snprintf(xff, sizeof(xff), "X-Forwarded-For: 198.51.100.%d", 100 + i);
        fail_n(1, "user@example.com", xff);
    }
    /* Four guesses from the clients that made the login hot (each has a failure on record),
     * four from fresh clients, all at once. */
    enum { N = 8, SEEN = 4 };
    CURLM *multi = curl_multi_init();
    CURL *easy[N];
    struct curl_slist *headers[N];
    char *u = th_url(&srv, AUTH_PATH);
    const char *body = "{\"userName\":\"user@example.com\",\"password\":\"guess\"}";
    for (int i = 0; i < N; i++) {
        if (i < SEEN)
            snprintf(xff, sizeof(xff), "X-Forwarded-For: 198.51.100.%d", 100 + i);
        else
            snprintf(xff, sizeof(xff), "X-Forwarded-For: 203.0.113.%d", 10 + i);
        headers[i] = curl_slist_append(NULL, "Content-Type: application/json");
        headers[i] = curl_slist_append(headers[i], clock_header);
        headers[i] = curl_slist_append(headers[i], xff);
        easy[i] = th_multi_add(multi, u, headers[i], body, 60);
    }
    th_multi_run(multi);
    int seen_refused = 0;
    for (int i = 0; i < N; i++) {
        long status = th_multi_finish(multi, easy[i]);
        if (i < SEEN) {
            ck_assert_msg(status == 401 || status == 403, "known client %d: %ld", i, status);
            seen_refused += status == 403;
        } else {
            /* a fresh client is never refused for want of a place to wait */
            ck_assert_msg(status == 401, "fresh client %d: %ld, want 401", i, status);
        }
    }
    curl_multi_cleanup(multi);
    for (int i = 0; i < N; i++)
        curl_slist_free_all(headers[i]);
    free(u);
    /* At most two wait (one per thread of the harness), and each waits 10 s, longer than
     * any machine takes to send the rest: at least two of the four are refused. */
    ck_assert_msg(seen_refused >= SEEN - 2, "%d of %d known clients refused", seen_refused, SEEN);
}
END_TEST

/* One thread, so that the Basic credential cache the owner warmed is the one consulted. */
static void setup_hot_login_one_thread(void)
{
    th_threads = 1;
    setup_hot_login_queue();
    th_threads = 2;
}

/* A Basic credential verified a moment ago is its owner's: a hot login does not keep it
 * waiting (the wait here is 10 s, the bound asserted 5 s). */
START_TEST(hot_login_spares_a_cached_credential)
{
    th_response_t r;
    basic(&r, "user@example.com", "user pass");
    ck_assert_int_eq(r.status, 200);
    th_response_dispose(&r);
    char xff[64];
    for (int i = 0; i < HOT_AFTER; i++) {
        snprintf(xff, sizeof(xff), "X-Forwarded-For: 198.51.100.%d", 100 + i);
        fail_n(1, "user@example.com", xff);
    }
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    basic(&r, "user@example.com", "user pass");
    clock_gettime(CLOCK_MONOTONIC, &b);
    ck_assert_int_eq(r.status, 200);
    th_response_dispose(&r);
    ck_assert_msg(b.tv_sec - a.tv_sec < 5, "the cached owner waited %ld s",
                  (long)(b.tv_sec - a.tv_sec));
}
END_TEST

static Suite *bruteforce_suite(void)
{
    Suite *s = suite_create("bruteforce");
    TCase *tc = tcase_create("bruteforce");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, blocks_after_attempts);
    tcase_add_test(tc, unknown_login_blocked_identically);
    tcase_add_test(tc, success_does_not_clear);
    tcase_add_test(tc, other_tenant_success_does_not_reset);
    tcase_add_test(tc, block_expires);
    tcase_add_test(tc, window_slides);
    tcase_add_test(tc, login_case_folded);
    tcase_add_test(tc, basic_counts_and_is_blocked);
    tcase_add_test(tc, refused_account_is_no_oracle);
    tcase_add_test(tc, forwarded_for_ignored_untrusted);
    suite_add_tcase(s, tc);

    TCase *parallel = tcase_create("parallel");
    tcase_add_checked_fixture(parallel, setup_slow_kdf, teardown);
    tcase_set_timeout(parallel, 60);
    tcase_add_test(parallel, parallel_guesses_bounded);
    suite_add_tcase(s, parallel);

    TCase *proxy = tcase_create("proxy");
    tcase_add_checked_fixture(proxy, setup_proxy, teardown);
    tcase_set_timeout(proxy, 60);
    tcase_add_test(proxy, forwarded_for_trusted_pairs);
    tcase_add_test(proxy, forwarded_for_left_entries_spoofed);
    tcase_add_test(proxy, forwarded_for_split_lines);
    tcase_add_test(proxy, forwarded_for_many_lines);
    tcase_add_test(proxy, client_budget_across_logins);
    tcase_add_test(proxy, ipv6_slash64_is_one_client);
    tcase_add_test(proxy, ipv4_mapped_is_ipv4);
    tcase_add_test(proxy, failures_look_alike);
    suite_add_tcase(s, proxy);

    TCase *hot = tcase_create("hot_login");
    tcase_add_checked_fixture(hot, setup_hot_login, teardown);
    tcase_set_timeout(hot, 60);
    tcase_add_test(hot, hot_login_is_delayed_not_locked);
    suite_add_tcase(s, hot);

    TCase *hot_queue = tcase_create("hot_login_queue");
    tcase_add_checked_fixture(hot_queue, setup_hot_login_queue, teardown);
    tcase_set_timeout(hot_queue, 60);
    tcase_add_test(hot_queue, hot_login_waiting_is_bounded);
    suite_add_tcase(s, hot_queue);
    TCase *hot_cached = tcase_create("hot_login_cached");
    tcase_add_checked_fixture(hot_cached, setup_hot_login_one_thread, teardown);
    tcase_set_timeout(hot_cached, 60);
    tcase_add_test(hot_cached, hot_login_spares_a_cached_credential);
    suite_add_tcase(s, hot_cached);
    return s;
}

int main(void)
{
    return th_run_suite(bruteforce_suite());
}
