/*
 * Two identityd instances on one database, as behind a load balancer: what one creates the
 * other accepts, and what one ends the other refuses once its next change check has run
 * (cache.check_interval_ms: 100 here, at most 1000, so within a second) — waited for through
 * /metrics rather than by sleeping. Runs on both engines: two processes on one SQLite file,
 * and (as pg/integration/check_instances) two on one PostgreSQL database.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define TOKEN_PATH "/api/2.0/security/oauth2/token"
#define AUTH_PATH "/api/2.0/authentication"
#define KEYS_PATH "/api/2.0/keys"
#define CONN_PATH "/api/2.0/security/activeconnections"

static th_env_t env;
static th_server_t a, b;

static void setup(void)
{
    th_env_init(&env, "cache:\n  check_interval_ms: 100\n", NULL);
    ck_assert_int_eq(
        th_add_user(&env, "admin@example.com", "correct horse", "Ada", "Admin", "admin"), 0);
    ck_assert_int_eq(th_add_user(&env, "user@example.com", "user pass", "Bob", "User", "user"), 0);
    th_server_start_as(&a, &env, "a");
    th_server_start_as(&b, &env, "b");
    th_wait_changes_seen(&a, &env);
    th_wait_changes_seen(&b, &env);
}

static void teardown(void)
{
    ck_assert_int_eq(th_server_stop(&a), 0);
    ck_assert_int_eq(th_server_stop(&b), 0);
    th_env_dispose(&env);
}

/* One request to s; auth is a whole header line (may be NULL); a body goes as JSON. Returns
 * the status; *out (may be NULL) receives the parsed body. */
static long call(const th_server_t *s, const char *method, const char *path, const char *auth,
                 const char *body, json_t **out)
{
    th_response_t r;
    th_send(&r, s, method, path, auth, body);
    long status = r.status;
    if (status >= 400)
        th_assert_error_envelope(&r, status);
    if (out != NULL)
        *out = th_json_parse(r.body);
    th_response_dispose(&r);
    return status;
}

/* Signs in on s; returns "Authorization: Bearer <session token>". */
static char *sign_in(const th_server_t *s, const char *email, const char *password)
{
    char *body = th_strf("{\"userName\":\"%s\",\"password\":\"%s\"}", email, password);
    json_t *j = NULL;
    ck_assert_int_eq(call(s, "POST", AUTH_PATH, NULL, body, &j), 200);
    free(body);
    char *h =
        th_bearer(json_string_value(json_object_get(json_object_get(j, "response"), "token")));
    json_decref(j);
    return h;
}

START_TEST(session_made_on_a_works_on_b)
{
    char *s = sign_in(&a, "user@example.com", "user pass");
    ck_assert_int_eq(call(&b, "GET", TOKEN_PATH, s, NULL, NULL), 200);
    ck_assert_int_eq(call(&a, "GET", TOKEN_PATH, s, NULL, NULL), 200);
    free(s);
}
END_TEST

START_TEST(logout_on_b_refused_on_a)
{
    char *s = sign_in(&a, "user@example.com", "user pass");
    /* Warm in A's credential cache first, so that only the change check can refuse it. */
    ck_assert_int_eq(call(&a, "GET", TOKEN_PATH, s, NULL, NULL), 200);
    ck_assert_int_eq(call(&a, "GET", TOKEN_PATH, s, NULL, NULL), 200);
    ck_assert_int_eq(call(&b, "POST", AUTH_PATH "/logout", s, NULL, NULL), 200);
    ck_assert_int_eq(call(&b, "GET", TOKEN_PATH, s, NULL, NULL), 401);
    th_wait_changes_seen(&a, &env);
    ck_assert_int_eq(call(&a, "GET", TOKEN_PATH, s, NULL, NULL), 401);
    free(s);
}
END_TEST

START_TEST(apikey_made_on_a_works_on_b_until_revoked_on_b)
{
    char *owner = sign_in(&a, "user@example.com", "user pass");
    json_t *j = NULL;
    ck_assert_int_eq(call(&a, "POST", KEYS_PATH, owner, "{\"name\":\"shared\"}", &j), 200);
    json_t *o = json_object_get(j, "response");
    char *key = th_bearer(json_string_value(json_object_get(o, "key")));
    char *path = th_strf(KEYS_PATH "/%s", json_string_value(json_object_get(o, "id")));
    json_decref(j);
    ck_assert_int_eq(call(&b, "GET", TOKEN_PATH, key, NULL, NULL), 200);
    ck_assert_int_eq(call(&a, "GET", TOKEN_PATH, key, NULL, NULL), 200);
    ck_assert_int_eq(call(&b, "DELETE", path, owner, NULL, NULL), 200);
    ck_assert_int_eq(call(&b, "GET", TOKEN_PATH, key, NULL, NULL), 401);
    th_wait_changes_seen(&a, &env);
    ck_assert_int_eq(call(&a, "GET", TOKEN_PATH, key, NULL, NULL), 401);
    free(path);
    free(key);
    free(owner);
}
END_TEST

START_TEST(user_disabled_through_a_refused_on_b)
{
    char *user = sign_in(&b, "user@example.com", "user pass");
    ck_assert_int_eq(call(&b, "GET", TOKEN_PATH, user, NULL, NULL), 200);
    /* The admin ends all of the user's sessions through A. */
    char *admin = sign_in(&a, "admin@example.com", "correct horse");
    idd_user_t row;
    th_user_row(&env, 1, "user@example.com", &row);
    char *path = th_strf(CONN_PATH "/logoutall/%s", row.id);
    ck_assert_int_eq(call(&a, "PUT", path, admin, NULL, NULL), 200);
    th_wait_changes_seen(&b, &env);
    ck_assert_int_eq(call(&b, "GET", TOKEN_PATH, user, NULL, NULL), 401);
    free(path);
    free(admin);
    free(user);
}
END_TEST

/* The status of one sign-in on s. */
static long try_sign_in(const th_server_t *s, const char *email, const char *password)
{
    char *body = th_strf("{\"userName\":\"%s\",\"password\":\"%s\"}", email, password);
    long status = call(s, "POST", AUTH_PATH, NULL, body, NULL);
    free(body);
    return status;
}

/* Waits (at most 20 s, however loaded the machine) until the right password is refused on s
 * as a blocked pair: the counters another instance wrote have reached s. */
static void wait_blocked(const th_server_t *s, const char *email, const char *password)
{
    long status = 0;
    for (int i = 0; i < 200 && (status = try_sign_in(s, email, password)) != 403; i++) {
        ck_assert_int_eq(status, 200);
        usleep(100 * 1000);
    }
    ck_assert_int_eq(status, 403);
}

/* Brute-force counters are shared: three wrong guesses through A and two through B are the
 * five that block the pair (bruteforce.attempts, 5 by default) at both, though neither
 * instance saw five; a login only one instance guessed at stays open. */
START_TEST(guesses_count_across_instances)
{
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(try_sign_in(&a, "user@example.com", "guess"), 401);
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(try_sign_in(&b, "user@example.com", "guess"), 401);
    wait_blocked(&a, "user@example.com", "user pass");
    wait_blocked(&b, "user@example.com", "user pass");
    ck_assert_double_ge(th_metric(&a, "identityd_bruteforce_counters_merged_total"), 1);
    ck_assert_double_ge(th_metric(&b, "identityd_bruteforce_counters_merged_total"), 1);
    /* Four guesses at the admin through A alone: not blocked, on either. */
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(try_sign_in(&a, "admin@example.com", "guess"), 401);
    th_wait_changes_seen(&b, &env);
    ck_assert_int_eq(try_sign_in(&b, "admin@example.com", "correct horse"), 200);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("instances");
    TCase *tc = tcase_create("two");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, session_made_on_a_works_on_b);
    tcase_add_test(tc, logout_on_b_refused_on_a);
    tcase_add_test(tc, apikey_made_on_a_works_on_b_until_revoked_on_b);
    tcase_add_test(tc, user_disabled_through_a_refused_on_b);
    tcase_add_test(tc, guesses_count_across_instances);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return th_run_suite(make_suite());
}
