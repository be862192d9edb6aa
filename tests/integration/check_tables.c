/*
 * Unbounded tables, end to end: the cap on a user's live sessions (the 101st sign-in ends
 * the oldest), and the background pruning of ended and expired sessions and expired API
 * keys, watched through /metrics. A real identityd on a loopback port with a real SQLite
 * file; rows the API cannot make (an expired key, an expired session) are written through
 * the store library, as the other suites do.
 *
 * Nothing here waits a fixed time: the pruning test runs the pruner every second
 * (prune.interval: 1) and polls /metrics until the counters move, with a generous deadline
 * that only a broken pruner reaches.
 */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "identityd/core/common.h"
#include "identityd/cred/apikey.h"
#include "identityd/cred/password.h"
#include "identityd/store/store.h"

#define AUTH_PATH "/api/2.0/authentication"
#define LOGOUT_PATH "/api/2.0/authentication/logout"
#define TOKEN_PATH "/api/2.0/security/oauth2/token"
#define DEADLINE_S 60.0 /* only a pruner that never runs gets here */

static th_env_t env;
static th_server_t srv;

static void start(const char *extra_yaml)
{
    th_env_init(&env, extra_yaml, NULL);
    ck_assert_int_eq(th_add_user(&env, "guest@example.com", "guest pass", "Gus", "Guest", "guest"),
                     0);
    ck_assert_int_eq(th_add_user(&env, "user@example.com", "user pass", "Bob", "User", "user"), 0);
    th_server_start(&srv, &env);
}

static void stop(void)
{
    ck_assert_int_eq(th_server_stop(&srv), 0);
    th_env_dispose(&env);
}

/* Signs in with a password; returns the session token (malloc'd). */
static char *sign_in(const char *email, const char *password)
{
    char *body = th_strf("{\"userName\":\"%s\",\"password\":\"%s\"}", email, password);
    const char *h[] = {"Content-Type: application/json", NULL};
    char *u = th_url(&srv, AUTH_PATH);
    th_response_t r;
    th_http(&r, "POST", u, h, body, strlen(body), 0);
    ck_assert_msg(r.status == 200, "sign-in: %ld %s", r.status, r.body);
    json_t *j = th_json_parse(r.body);
    const char *token = json_string_value(json_object_get(json_object_get(j, "response"), "token"));
    ck_assert_ptr_nonnull(token);
    char *out = strdup(token);
    json_decref(j);
    th_response_dispose(&r);
    free(u);
    free(body);
    return out;
}

/* The status the token endpoint answers to a session token. */
static long token_status(const char *token)
{
    char *auth = th_bearer(token);
    th_response_t r;
    th_get(&r, &srv, TOKEN_PATH, auth);
    long status = r.status;
    if (status != 200)
        th_assert_error_envelope(&r, status);
    th_response_dispose(&r);
    free(auth);
    return status;
}

/* The value of one sample of /metrics ("name" or "name{label=...}"), -1 when absent. */
static long long metric(const char *sample)
{
    th_response_t r;
    th_get(&r, &srv, "/metrics", NULL);
    ck_assert_int_eq(r.status, 200);
    long long value = -1;
    size_t n = strlen(sample);
    for (const char *line = r.body; line != NULL && *line != '\0';) {
        if (strncmp(line, sample, n) == 0 && line[n] == ' ') {
            value = atoll(line + n + 1);
            break;
        }
        line = strchr(line, '\n');
        if (line != NULL)
            line++;
    }
    th_response_dispose(&r);
    return value;
}

/* Polls /metrics until sample reaches at least want; fails the test at the deadline. */
static long long wait_metric_at_least(const char *sample, long long want)
{
    double start = th_now();
    for (;;) {
        long long v = metric(sample);
        if (v >= want)
            return v;
        ck_assert_msg(th_now() - start < DEADLINE_S, "%s stayed at %lld, waiting for %lld", sample,
                      v, want);
        usleep(50 * 1000);
    }
}

/* ---- the cap on live sessions ------------------------------------------------------------ */

/* sessions.max_per_user defaults to 100: the 101st sign-in ends the oldest session, whose
 * token then stops working, while the second oldest and the newest keep working. Another
 * user's session is not touched. */
START_TEST(session_cap_ends_oldest)
{
    start(NULL);
    char *bob = sign_in("user@example.com", "user pass");
    char *tokens[101];
    for (int i = 0; i < 101; i++)
        tokens[i] = sign_in("guest@example.com", "guest pass");
    ck_assert_int_eq(token_status(tokens[0]), 401);
    ck_assert_int_eq(token_status(tokens[1]), 200);
    ck_assert_int_eq(token_status(tokens[100]), 200);
    ck_assert_int_eq(token_status(bob), 200);
    /* One more ends the next oldest, and only it. */
    char *more = sign_in("guest@example.com", "guest pass");
    ck_assert_int_eq(token_status(tokens[1]), 401);
    ck_assert_int_eq(token_status(tokens[2]), 200);
    ck_assert_int_eq(token_status(more), 200);
    ck_assert_int_ge(wait_metric_at_least("identityd_sessions_capped_total", 2), 2);
    /* The guest holds exactly the cap in the store. */
    idd_user_t guest;
    th_user_row(&env, 1, "guest@example.com", &guest);
    idd_store_t *s = NULL;
    ck_assert_int_eq(idd_store_open(env.db, &s), 0);
    int ended = -1;
    ck_assert_int_eq(idd_store_session_end_user(s, guest.id, 0, &ended), 0);
    ck_assert_int_eq(ended, 100);
    idd_store_free(s);
    for (int i = 0; i < 101; i++)
        free(tokens[i]);
    free(more);
    free(bob);
    stop();
}
END_TEST

/* A smaller cap from the configuration is the one applied. */
START_TEST(session_cap_configured)
{
    start("sessions:\n  max_per_user: 2\n");
    char *a = sign_in("user@example.com", "user pass");
    char *b = sign_in("user@example.com", "user pass");
    char *c = sign_in("user@example.com", "user pass");
    ck_assert_int_eq(token_status(a), 401);
    ck_assert_int_eq(token_status(b), 200);
    ck_assert_int_eq(token_status(c), 200);
    free(a), free(b), free(c);
    stop();
}
END_TEST

/* ---- pruning ----------------------------------------------------------------------------- */

/* Writes a session or key straight into the store; the ids are returned. */
static int64_t store_session(const idd_user_t *u, unsigned seed, int64_t created, int64_t ttl)
{
    idd_store_t *s = NULL;
    ck_assert_int_eq(idd_store_open(env.db, &s), 0);
    idd_session_t x;
    memset(&x, 0, sizeof(x));
    x.tenant_id = u->tenant_id;
    memcpy(x.user_id, u->id, sizeof(x.user_id));
    for (size_t i = 0; i < IDD_SESSION_DIGEST_LEN; i++)
        x.digest[i] = (unsigned char)(seed * 29u + i);
    x.created = created;
    x.last_seen = created;
    x.expires = created + ttl;
    x.auth_version = u->auth_version;
    ck_assert_int_eq(idd_store_session_create(s, &x), 0);
    idd_store_free(s);
    return x.id;
}

static void store_key(const idd_user_t *u, unsigned seed, int64_t expires,
                      char id[IDD_GUID_LEN + 1])
{
    idd_store_t *s = NULL;
    ck_assert_int_eq(idd_store_open(env.db, &s), 0);
    idd_apikey_t k;
    memset(&k, 0, sizeof(k));
    k.tenant_id = u->tenant_id;
    memcpy(k.created_by, u->id, sizeof(k.created_by));
    snprintf(k.name, sizeof(k.name), "key %u", seed);
    for (size_t i = 0; i < IDD_SESSION_DIGEST_LEN; i++)
        k.digest[i] = (unsigned char)(seed * 37u + i);
    snprintf(k.postfix, sizeof(k.postfix), "%04x", seed);
    k.expires = expires;
    ck_assert_int_eq(idd_store_apikey_create(s, &k), 0);
    memcpy(id, k.id, IDD_GUID_LEN + 1);
    idd_store_free(s);
}

/* Ended sessions (logout), expired sessions and expired keys are deleted in the background;
 * live sessions, keys that have not expired and revoked keys stay. The counters show it. */
START_TEST(prune_removes_dead_rows)
{
    start("prune:\n  interval: 1\n  batch: 10\n");
    idd_user_t bob;
    th_user_row(&env, 1, "user@example.com", &bob);
    int64_t now = (int64_t)time(NULL);

    /* 12 logged-out sessions and 13 expired ones: more than one batch of each kind. */
    for (int i = 0; i < 12; i++) {
        char *t = sign_in("user@example.com", "user pass");
        char *auth = th_bearer(t);
        const char *h[] = {auth, NULL};
        char *u = th_url(&srv, LOGOUT_PATH);
        th_response_t r;
        th_http(&r, "POST", u, h, NULL, 0, 0);
        ck_assert_msg(r.status == 200, "logout: %ld %s", r.status, r.body);
        th_response_dispose(&r);
        ck_assert_int_eq(token_status(t), 401);
        free(u), free(auth), free(t);
    }
    int64_t expired_session = 0;
    for (unsigned i = 0; i < 13; i++)
        expired_session = store_session(&bob, i + 1, now - 7200, 3600);
    char *live = sign_in("user@example.com", "user pass");
    /* 11 expired keys, one that expires in an hour, one that never does, revoked. */
    char expired_key[IDD_GUID_LEN + 1], future_key[IDD_GUID_LEN + 1], revoked_key[IDD_GUID_LEN + 1];
    for (unsigned i = 0; i < 11; i++)
        store_key(&bob, i + 1, now - 60, expired_key);
    store_key(&bob, 100, now + 3600, future_key);
    store_key(&bob, 101, 0, revoked_key);
    const char *argv[] = {th_ctl(), "-c", env.config, "apikey", "revoke", revoked_key, NULL};
    ck_assert_int_eq(th_run(argv, NULL, NULL, NULL), 0);

    wait_metric_at_least("identityd_rows_pruned_total{table=\"sessions\"}", 25);
    wait_metric_at_least("identityd_rows_pruned_total{table=\"apikeys\"}", 11);
    /* The gauges come from the same run that pruned the last rows, or a later one. */
    double start_t = th_now();
    while (metric("identityd_apikeys") != 2 || metric("identityd_sessions_live") != 1) {
        ck_assert_msg(th_now() - start_t < DEADLINE_S, "gauges: %lld keys, %lld sessions",
                      metric("identityd_apikeys"), metric("identityd_sessions_live"));
        usleep(50 * 1000);
    }
    ck_assert_int_eq(metric("identityd_rows_pruned_total{table=\"sessions\"}"), 25);
    ck_assert_int_eq(metric("identityd_rows_pruned_total{table=\"apikeys\"}"), 11);

    idd_store_t *s = NULL;
    ck_assert_int_eq(idd_store_open(env.db, &s), 0);
    idd_session_t session;
    idd_apikey_t key;
    ck_assert_int_eq(idd_store_session_by_id(s, expired_session, &session), IDD_ENOTFOUND);
    ck_assert_int_eq(idd_store_apikey_by_id(s, expired_key, &key), IDD_ENOTFOUND);
    ck_assert_int_eq(idd_store_apikey_by_id(s, future_key, &key), 0);
    ck_assert_int_eq(idd_store_apikey_by_id(s, revoked_key, &key), 0);
    ck_assert_int_eq(key.deactivated, IDD_APIKEY_REVOKED);
    idd_store_free(s);
    ck_assert_int_eq(token_status(live), 200);
    free(live);
    stop();
}
END_TEST

/* The keys are checked like every other: out of range is refused at start. */
START_TEST(limits_configuration_checked)
{
    static const char *const bad[] = {
        "sessions:\n  max_per_user: 0\n",
        "apikeys:\n  max_per_user: 0\n",
        "prune:\n  interval: 0\n",
        "prune:\n  batch: 1\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        th_env_t e;
        th_env_init(&e, bad[i], NULL);
        const char *argv[] = {th_ctl(), "-c", e.config, "user", "list", NULL};
        char *err = NULL;
        ck_assert_int_ne(th_run(argv, NULL, NULL, &err), 0);
        ck_assert_msg(err != NULL && strstr(err, "identityd.yaml:") != NULL, "%s: %s", bad[i],
                      err ? err : "");
        free(err);
        th_env_dispose(&e);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tables");
    TCase *tc = tcase_create("tables");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, session_cap_ends_oldest);
    tcase_add_test(tc, session_cap_configured);
    tcase_add_test(tc, prune_removes_dead_rows);
    tcase_add_test(tc, limits_configuration_checked);
    suite_add_tcase(s, tc);
    return th_run_suite(s);
}
