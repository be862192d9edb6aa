/*
 * Stored password records end to end: identityctl writes salted records of the current
 * version, and a record of the first version (written here straight into the SQLite file, as
 * a database from before the salt holds it) signs in through Basic and through POST
 * /api/2.0/authentication, is then stored the current way once, and goes on working, without
 * ending the user's sessions or changing their auth_version. Records are made and checked
 * here from the pepper the harness writes, through the record functions of the library.
 */
#include <check.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "identityd/core/b64.h"
#include "identityd/cred/digest.h"
#include "identityd/cred/password.h"
#include "identityd/store/store.h"

#define AUTH_PATH "/api/2.0/authentication"
#define TOKEN_PATH "/api/2.0/security/oauth2/token"
/* The pepper file th_env_init writes, without its trailing newline (harness.c). */
#define TEST_PEPPER "0123456789abcdef0123456789abcdef-test-pepper"
#define ITERATIONS 1000u /* th_password_iterations */

static th_env_t env;
static th_server_t srv;

/* The Basic cache is off so that every Basic sign-in checks the stored record; the
 * brute-force limit is out of reach of the deliberate failures below. */
static void setup(void)
{
    th_env_init(&env,
                "basic_cache: { ttl: 0 }\n"
                "bruteforce: { attempts: 50, window: 60, block: 60 }\n",
                NULL);
    ck_assert_int_eq(th_add_user(&env, "old@example.com", "old pass", "Olga", "Old", "user"), 0);
    ck_assert_int_eq(th_add_user(&env, "twin@example.com", "old pass", "Tom", "Twin", "user"), 0);
}

static void teardown(void)
{
    th_env_dispose(&env);
}

static idd_pepper_t test_pepper(void)
{
    idd_pepper_t p;
    memset(&p, 0, sizeof p);
    p.len = strlen(TEST_PEPPER);
    memcpy(p.bytes, TEST_PEPPER, p.len);
    return p;
}

/* The client hash of password for tenant 1, with the salt the database holds. */
static void client_hash_with(const char *password, unsigned iterations,
                             char out[IDD_CLIENT_HASH_HEX_LEN + 1])
{
    idd_store_t *s = NULL;
    idd_tenant_t t;
    ck_assert_int_eq(idd_store_open(env.db, &s), 0);
    ck_assert_int_eq(idd_store_tenant_get(s, 1, &t), 0);
    idd_store_free(s);
    th_pbkdf2_hex(password, t.password_salt, iterations, out);
}

static void client_hash(const char *password, char out[IDD_CLIENT_HASH_HEX_LEN + 1])
{
    client_hash_with(password, ITERATIONS, out);
}

/* Replaces email's record, through SQLite directly, by the first-version record of password:
 * "$idd1$<iterations>$<base64url HMAC-SHA256(pepper, client hash)>", as identityd wrote them
 * before records had a salt. auth_version and sessions are left alone. Returns the record
 * (malloc'd). */
static char *write_v1_record_with(const char *email, const char *password, unsigned iterations)
{
    idd_pepper_t pepper = test_pepper();
    char ch[IDD_CLIENT_HASH_HEX_LEN + 1];
    unsigned char mac[IDD_SESSION_DIGEST_LEN];
    char mac_b64[IDD_B64URL_LEN(IDD_SESSION_DIGEST_LEN) + 1];

    client_hash_with(password, iterations, ch);
    ck_assert_int_eq(idd_keyed_digest(&pepper, NULL, ch, IDD_CLIENT_HASH_HEX_LEN, mac), 0);
    idd_b64url_encode(mac_b64, mac, sizeof mac);
    char *record = th_strf("$idd1$%u$%s", iterations, mac_b64);
    char *sql = th_strf("UPDATE users SET password = '%s' WHERE email = '%s'", record, email);
    th_sql(&env, sql);
    free(sql);
    /* The record is one identityd accepts as it is. */
    ck_assert_int_eq(idd_password_record_check(&pepper, record, ch), 0);
    ck_assert_int_eq(idd_password_record_outdated(record), 1);
    return record;
}

static char *write_v1_record(const char *email, const char *password)
{
    return write_v1_record_with(email, password, ITERATIONS);
}

/* Asserts that u's record is of the current version, with iterations, and matches
 * password. */
static void assert_current_record_with(const idd_user_t *u, const char *password,
                                       unsigned want_iterations)
{
    idd_pepper_t pepper = test_pepper();
    char ch[IDD_CLIENT_HASH_HEX_LEN + 1];
    unsigned iterations = 0;

    ck_assert_msg(strncmp(u->password, "$idd2$", 6) == 0, "record of %s is %.6s...", u->email,
                  u->password);
    ck_assert_int_eq(idd_password_record_outdated(u->password), 0);
    ck_assert_int_eq(idd_password_record_iterations(u->password, &iterations), 0);
    ck_assert_uint_eq(iterations, want_iterations);
    client_hash_with(password, want_iterations, ch);
    ck_assert_int_eq(idd_password_record_check(&pepper, u->password, ch), 0);
}

static void assert_current_record(const idd_user_t *u, const char *password)
{
    assert_current_record_with(u, password, ITERATIONS);
}

/* GET the token endpoint with Basic; returns the status. */
static long basic_sign_in(const char *email, const char *password)
{
    th_response_t r;
    char *h = th_basic(email, password);
    th_get(&r, &srv, TOKEN_PATH, h);
    long status = r.status;
    free(h);
    th_response_dispose(&r);
    return status;
}

/* POST /api/2.0/authentication with a JSON body; returns the status and, on 200, the session
 * token (malloc'd) in *token when token is not NULL. */
static long post_sign_in(const char *body, char **token)
{
    th_response_t r;
    const char *h[] = {"Content-Type: application/json", NULL};
    char *u = th_url(&srv, AUTH_PATH);
    th_http(&r, "POST", u, h, body, strlen(body), 0);
    free(u);
    long status = r.status;
    if (token != NULL) {
        *token = NULL;
        if (status == 200) {
            json_t *j = th_json_parse(r.body);
            const char *t =
                json_string_value(json_object_get(json_object_get(j, "response"), "token"));
            ck_assert_ptr_nonnull(t);
            *token = strdup(t);
            json_decref(j);
        }
    }
    th_response_dispose(&r);
    return status;
}

/* Whether GET /api/2.0/authentication with the session cookie says signed in. */
static bool session_works(const char *token)
{
    th_response_t r;
    char *c = th_strf("Cookie: asc_auth_key=%s", token);
    th_get(&r, &srv, AUTH_PATH, c);
    free(c);
    ck_assert_msg(r.status == 200, "status %ld: %s", r.status, r.body);
    json_t *j = th_json_parse(r.body);
    bool ok = json_is_true(json_object_get(j, "response"));
    json_decref(j);
    th_response_dispose(&r);
    return ok;
}

/* identityctl writes salted records: the same password gives two users different records,
 * and a new password a new salt. */
START_TEST(new_records_are_salted)
{
    idd_user_t a, b, again;
    th_user_row(&env, 1, "old@example.com", &a);
    th_user_row(&env, 1, "twin@example.com", &b);
    assert_current_record(&a, "old pass");
    assert_current_record(&b, "old pass");
    ck_assert_str_ne(a.password, b.password);

    const char *argv[] = {th_ctl(), "-c", env.config, "user", "passwd", "old@example.com", NULL};
    ck_assert_int_eq(th_run(argv, "old pass\n", NULL, NULL), 0);
    th_user_row(&env, 1, "old@example.com", &again);
    assert_current_record(&again, "old pass");
    ck_assert_str_ne(again.password, a.password);
}
END_TEST

/* The user's row once its record is no longer old: the upgrade is a write nobody waits for,
 * made after the answer under PostgreSQL (the store pool), so it is waited for (at most 10 s,
 * however loaded the machine), not assumed. */
static void upgraded_row(const char *email, const char *old, idd_user_t *out)
{
    th_user_row(&env, 1, email, out);
    for (int i = 0; i < 100 && strcmp(out->password, old) == 0; i++) {
        usleep(100 * 1000);
        th_user_row(&env, 1, email, out);
    }
}

/* A first-version record signs in through Basic, is stored the current way by that sign-in,
 * once, and keeps working. A wrong password upgrades nothing. */
START_TEST(v1_record_upgraded_by_basic)
{
    idd_user_t before, after, later;
    char *v1 = write_v1_record("old@example.com", "old pass");
    th_user_row(&env, 1, "old@example.com", &before);
    ck_assert_str_eq(before.password, v1);
    th_server_start(&srv, &env);

    ck_assert_int_eq(basic_sign_in("old@example.com", "wrong pass"), 401);
    th_user_row(&env, 1, "old@example.com", &after);
    ck_assert_str_eq(after.password, v1);

    ck_assert_int_eq(basic_sign_in("old@example.com", "old pass"), 200);
    upgraded_row("old@example.com", v1, &after);
    assert_current_record(&after, "old pass");
    ck_assert_int_eq(after.auth_version, before.auth_version);
    ck_assert_int_eq(after.updated, before.updated);

    /* Written once: the next sign-ins check the new record and leave it as it is. */
    ck_assert_int_eq(basic_sign_in("old@example.com", "old pass"), 200);
    ck_assert_int_eq(basic_sign_in("old@example.com", "old pass"), 200);
    th_user_row(&env, 1, "old@example.com", &later);
    ck_assert_str_eq(later.password, after.password);
    ck_assert_int_eq(basic_sign_in("old@example.com", "wrong pass"), 401);
    ck_assert_int_eq(th_server_stop(&srv), 0);
    free(v1);
}
END_TEST

/* Through POST /api/2.0/authentication, with DocSpace's client hash (checked inline) and then
 * the plain password (checked in the worker pool): the upgrade ends no session, neither one
 * signed in before it nor the one it signs in. */
START_TEST(v1_record_upgraded_by_post_keeps_sessions)
{
    idd_user_t before, after, later;
    char ch[IDD_CLIENT_HASH_HEX_LEN + 1];
    char *earlier = NULL, *now = NULL, *third = NULL;

    th_server_start(&srv, &env);
    ck_assert_int_eq(
        post_sign_in("{\"userName\":\"old@example.com\",\"password\":\"old pass\"}", &earlier),
        200);
    char *v1 = write_v1_record("old@example.com", "old pass");
    th_user_row(&env, 1, "old@example.com", &before);
    ck_assert(session_works(earlier));

    client_hash("old pass", ch);
    char *body = th_strf("{\"userName\":\"old@example.com\",\"passwordHash\":\"%s\"}", ch);
    ck_assert_int_eq(post_sign_in(body, &now), 200);
    upgraded_row("old@example.com", v1, &after);
    assert_current_record(&after, "old pass");
    ck_assert_int_eq(after.auth_version, before.auth_version);
    ck_assert(session_works(earlier));
    ck_assert(session_works(now));

    ck_assert_int_eq(
        post_sign_in("{\"userName\":\"old@example.com\",\"password\":\"old pass\"}", &third), 200);
    ck_assert_int_eq(post_sign_in(body, NULL), 200);
    th_user_row(&env, 1, "old@example.com", &later);
    ck_assert_str_eq(later.password, after.password);
    ck_assert_int_eq(later.auth_version, before.auth_version);
    ck_assert(session_works(earlier));
    ck_assert(session_works(third));
    ck_assert_int_eq(th_server_stop(&srv), 0);
    free(body);
    free(v1);
    free(earlier);
    free(now);
    free(third);
}
END_TEST

/* Upgraded by a plain password (the KDF in the worker pool), from a record whose iterations
 * are not password.iterations: the new record keeps the record's own, which the client hash
 * is derived with, or the user could no longer sign in. */
START_TEST(v1_record_upgraded_by_post_password)
{
    idd_user_t after;
    char *v1 = write_v1_record_with("twin@example.com", "old pass", 2 * ITERATIONS);
    th_server_start(&srv, &env);
    ck_assert_int_eq(
        post_sign_in("{\"userName\":\"twin@example.com\",\"password\":\"old pass\"}", NULL), 200);
    upgraded_row("twin@example.com", v1, &after);
    assert_current_record_with(&after, "old pass", 2 * ITERATIONS);
    ck_assert_int_eq(
        post_sign_in("{\"userName\":\"twin@example.com\",\"password\":\"old pass\"}", NULL), 200);
    ck_assert_int_eq(basic_sign_in("twin@example.com", "old pass"), 200);
    ck_assert_int_eq(th_server_stop(&srv), 0);
    free(v1);
}
END_TEST

static Suite *records_suite(void)
{
    Suite *s = suite_create("records");
    TCase *tc = tcase_create("records");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, new_records_are_salted);
    tcase_add_test(tc, v1_record_upgraded_by_basic);
    tcase_add_test(tc, v1_record_upgraded_by_post_keeps_sessions);
    tcase_add_test(tc, v1_record_upgraded_by_post_password);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return th_run_suite(records_suite());
}
