/*
 * Signing keys identityd rotates itself (rotation:): a whole cycle, make, publish, sign,
 * drain and retire, while a consumer verifies every token against the JWKS it fetched just
 * before; and two instances on one database, and a restart, agreeing on the signing key. The
 * schedule is shortened (rotation.every 10 s, jwks.max_age 3 s, token.ttl 30 s, checks every
 * second); nothing is asserted about when a step happens, only about its order and outcome.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

#define ROTATION                                                                                   \
    "jwks: { max_age: 3 }\n"                                                                       \
    "rotation: { every: 10s, alg: EdDSA, dir: keys, check_interval: 1s }\n"

/* A configured key may stay published beside the rotated ones. */
#define KEYS "keys:\n  - { kid: test-es256, alg: ES256, file: es256.pem, state: published }\n"

static th_env_t env;
static th_server_t a, b;

static void setup(void)
{
    th_threads = 2;
    th_token_ttl = 30;
    th_env_init(&env, ROTATION, KEYS);
    char *dir = th_strf("%s/keys", env.dir);
    ck_assert_int_eq(mkdir(dir, 0700), 0);
    free(dir);
    ck_assert_int_eq(th_add_user(&env, "ada@example.com", "pw", "Ada", "Lovelace", "admin"), 0);
}

static void teardown(void)
{
    int rc = a.pid > 0 ? th_server_stop(&a) : 0;
    int rc2 = b.pid > 0 ? th_server_stop(&b) : 0;
    th_token_ttl = 300;
    th_env_dispose(&env);
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(rc2, 0);
}

static int log_count(const th_server_t *s, const char *needle)
{
    char *log = th_read_file(s->log);
    int n = 0;
    for (const char *p = log; p != NULL && (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    free(log);
    return n;
}

/* Waits (up to seconds) until s's log holds needle at least n times. */
static void wait_log(const th_server_t *s, const char *needle, int n, int seconds)
{
    for (double end = th_now() + seconds; log_count(s, needle) < n && th_now() < end;)
        usleep(50000);
    ck_assert_msg(log_count(s, needle) >= n, "no %d × \"%s\" in %s within %d s", n, needle, s->log,
                  seconds);
}

/* The kid of a token s issues now (malloc'd). */
static char *token_kid(const th_server_t *s)
{
    char *basic = th_basic("ada@example.com", "pw");
    th_response_t r;
    th_get(&r, s, "/api/2.0/security/oauth2/token", basic);
    free(basic);
    ck_assert_int_eq(r.status, 200);
    json_t *doc = th_json_parse(r.body);
    json_t *h = th_jwt_part(json_string_value(json_object_get(doc, "response")), 0);
    char *kid = strdup(json_string_value(json_object_get(h, "kid")));
    json_decref(h);
    json_decref(doc);
    th_response_dispose(&r);
    return kid;
}

START_TEST(whole_cycle_without_a_failed_request)
{
    th_server_start(&a, &env);
    /* The first start makes the first key, which signs at once. */
    ck_assert_int_eq(log_count(&a, "it signs from now"), 1);
    th_verifier_t v;
    th_verifier_start(&v, &a, "ada@example.com", "pw");

    /* The next key is made and published first, then signs; the first one drains. */
    wait_log(&a, "published; it signs in", 1, 60);
    wait_log(&a, "signs from now; the key before it stays in the JWKS for 30 s", 1, 60);
    /* Its last token expired: the first key is retired. */
    wait_log(&a, "retired: its last token has expired", 1, 90);
    th_verifier_wait(&v, 3);
    th_verifier_stop(&v); /* fails the test if any round failed */
    char last[80];
    ck_assert_int_ge(th_verifier_kids(&v, last), 3);
    ck_assert_ptr_nonnull(strstr(last, "eddsa-"));

    /* The configured key stays published throughout; a retired key leaves the JWKS once the
     * reload that follows its retirement is served (the log line comes first). */
    th_response_t r;
    bool gone = false;
    for (double end = th_now() + 30; !gone && th_now() < end; usleep(50000)) {
        th_get(&r, &a, "/.well-known/jwks.json", NULL);
        ck_assert_ptr_nonnull(strstr(r.body, "\"kid\":\"test-es256\""));
        ck_assert_ptr_nonnull(strstr(r.body, last));
        gone = strstr(r.body, v.kids[0]) == NULL;
        th_response_dispose(&r);
    }
    ck_assert_msg(gone, "retired key %s still in the JWKS", v.kids[0]);
}
END_TEST

/* Two instances on one database and key folder sign with the same key, before and after a
 * rotation, and a restart picks up the key the others sign with instead of making one. */
START_TEST(instances_and_restarts_agree)
{
    th_server_start_as(&a, &env, "a");
    th_server_start_as(&b, &env, "b");
    ck_assert_int_eq(log_count(&a, "made key"), 1);
    ck_assert_int_eq(log_count(&b, "made key"), 0); /* found a's */
    char *ka = token_kid(&a), *kb = token_kid(&b);
    ck_assert_str_eq(ka, kb);

    /* After the next activation, by whichever instance got there first, both move on. */
    for (double end = th_now() + 60; th_now() < end; usleep(100000)) {
        if (log_count(&a, "signs from now;") + log_count(&b, "signs from now;") > 0)
            break;
    }
    char *na = NULL, *nb = NULL;
    for (double end = th_now() + 10; th_now() < end; usleep(100000)) {
        free(na);
        free(nb);
        na = token_kid(&a);
        nb = token_kid(&b);
        if (strcmp(na, ka) != 0 && strcmp(na, nb) == 0)
            break;
    }
    ck_assert_str_ne(na, ka);
    ck_assert_str_eq(na, nb);
    /* Only one of them made the next key. */
    ck_assert_int_eq(log_count(&a, "made key") + log_count(&b, "made key"), 2);

    /* a restarts: it signs with what b signs with. */
    ck_assert_int_eq(th_server_stop(&a), 0);
    th_server_start_as(&a, &env, "a");
    char *ra = token_kid(&a);
    char *rb = token_kid(&b);
    ck_assert_str_eq(ra, rb);
    ck_assert_int_eq(log_count(&a, "it signs from now"), 0);
    free(ka);
    free(kb);
    free(na);
    free(nb);
    free(ra);
    free(rb);
}
END_TEST

static Suite *rotation_suite(void)
{
    Suite *s = suite_create("key_rotation");
    TCase *tc = tcase_create("rotation");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, whole_cycle_without_a_failed_request);
    tcase_add_test(tc, instances_and_restarts_agree);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return th_run_suite(rotation_suite());
}
