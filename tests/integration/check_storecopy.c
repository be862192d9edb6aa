/*
 * identityctl store copy: an SQLite deployment with real content (users of two tenants, a
 * session from a sign-in, an API key with scopes, a two-factor enrolment, a rotated signing
 * key) moved to an empty PostgreSQL database, where identityd then accepts the same
 * password, session, API key and authenticator app; a target that holds data is refused and
 * left alone; a copy the target refuses half-way, or stopped by a value that does not
 * convert, leaves it as it was; a source at an older
 * schema is refused, not migrated. It needs the pg/ tests' server, so it runs as
 * pg/integration/check_storecopy (as integration/check_storecopy it says SKIP and passes).
 */
#include <libpq-fe.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "harness.h"

#define TOKEN_PATH "/api/2.0/security/oauth2/token"
#define AUTH_PATH "/api/2.0/authentication"
#define JSON "Content-Type: application/json"
#define ALICE "alice@example.com"
#define BOB "bob@example.com"
#define CAROL "carol@second.test"
#define PASS_A "alice's passphrase"
#define PASS_B "bob's passphrase"
#define PASS_C "carol's passphrase"

/* identityd makes its first signing key itself, so signing_keys has a row to copy. */
#define EXTRA "rotation: { every: 86400s, alg: EdDSA, dir: keys, check_interval: 1s }\n"
#define KEYS "keys:\n  - { kid: test-es256, alg: ES256, file: es256.pem, state: published }\n"

static th_env_t pg;  /* the target: its config names the test's PostgreSQL database */
static th_env_t src; /* the source: the same folder, files and keys, on identity.db */

#define SKIP_UNLESS_PG()                                                                           \
    do {                                                                                           \
        if (!th_store_pg()) {                                                                      \
            fprintf(stderr, "SKIP %s: needs PostgreSQL (pg/integration/check_storecopy)\n",        \
                    __func__);                                                                     \
            return;                                                                                \
        }                                                                                          \
    } while (0)

static int ctl(const th_env_t *env, const char *const *words, const char *in, char **out,
               char **err)
{
    const char *argv[16] = {th_ctl(), "-c", env->config};
    size_t n = 3;
    for (; words[n - 3] != NULL && n < 15; n++)
        argv[n] = words[n - 3];
    argv[n] = NULL;
    return th_run(argv, in, out, err);
}

static void setup(void)
{
    if (!th_store_pg())
        return;
    th_env_init(&pg, EXTRA, KEYS);
    char *dir = th_strf("%s/keys", pg.dir);
    ck_assert_int_eq(mkdir(dir, 0700), 0);
    free(dir);
    src = pg;
    src.pg_db[0] = '\0';
    snprintf(src.db, sizeof src.db, "%s/identity.db", pg.dir);
    snprintf(src.config, sizeof src.config, "%s/sqlite.yaml", pg.dir);
    th_env_write_config(&src, EXTRA, KEYS);
    ck_assert_int_eq(th_add_user(&src, ALICE, PASS_A, "Alice", "Admin", "admin"), 0);
    ck_assert_int_eq(th_add_user(&src, BOB, PASS_B, "Bob", "User", "user"), 0);
    const char *carol[] = {"user",   "add", CAROL,      "--first", "Carol",
                           "--last", "Two", "--tenant", "2",       NULL};
    char *err = NULL;
    ck_assert_msg(ctl(&src, carol, PASS_C "\n", NULL, &err) == 0, "%s", err);
    free(err);
}

static void teardown(void)
{
    if (th_store_pg())
        th_env_dispose(&pg);
}

/* identityctl store copy from the source into to; returns the exit status. */
static int copy_to(const char *to, char **out, char **err)
{
    char *from = th_strf("sqlite:%s", src.db);
    const char *words[] = {"store", "copy", "--from", from, "--to", to, NULL};
    int rc = ctl(&pg, words, NULL, out, err);
    free(from);
    return rc;
}

/* The rows of table in the target; -1 when it has no such table (it was never migrated). */
static long long target_count(const char *table)
{
    PGconn *c = PQconnectdb(pg.db);
    ck_assert_msg(PQstatus(c) == CONNECTION_OK, "%s", PQerrorMessage(c));
    const char *params[] = {table};
    PGresult *r = PQexecParams(c, "SELECT to_regclass($1) IS NULL", 1, NULL, params, NULL, NULL, 0);
    ck_assert_int_eq(PQresultStatus(r), PGRES_TUPLES_OK);
    long long n = -1;
    if (strcmp(PQgetvalue(r, 0, 0), "f") == 0) {
        char *sql = th_strf("SELECT count(*) FROM %s", table);
        PQclear(r);
        r = PQexec(c, sql);
        ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s: %s", sql, PQerrorMessage(c));
        n = atoll(PQgetvalue(r, 0, 0));
        free(sql);
    }
    PQclear(r);
    PQfinish(c);
    return n;
}

/* One request; h1, h2 are whole header lines (either may be NULL). Returns the status and,
 * in *out (may be NULL), the parsed body. */
static long call(const th_server_t *s, const char *method, const char *path, const char *h1,
                 const char *h2, const char *body, json_t **out)
{
    const char *h[4];
    size_t n = 0;
    if (h1 != NULL)
        h[n++] = h1;
    if (h2 != NULL)
        h[n++] = h2;
    if (body != NULL)
        h[n++] = JSON;
    h[n] = NULL;
    th_response_t r;
    char *u = th_url(s, path);
    th_http(&r, method, u, h, body, body ? strlen(body) : 0, 0);
    free(u);
    long status = r.status;
    if (status >= 400)
        th_assert_error_envelope(&r, status);
    if (out != NULL)
        *out = th_json_parse(r.body);
    th_response_dispose(&r);
    return status;
}

/* Signs in (body may carry a code); returns the answer's response object (the caller
 * decrefs *doc) after asserting a 200. */
static json_t *sign_in(const th_server_t *s, const char *path, const char *email,
                       const char *password, const char *code, json_t **doc)
{
    char *body = code != NULL
                     ? th_strf("{\"userName\":\"%s\",\"password\":\"%s\",\"code\":\"%s\"}", email,
                               password, code)
                     : th_strf("{\"userName\":\"%s\",\"password\":\"%s\"}", email, password);
    ck_assert_int_eq(call(s, "POST", path, NULL, NULL, body, doc), 200);
    free(body);
    return json_object_get(*doc, "response");
}

/* The authenticator app's code for key32 (base32) offset steps of 30 s from now. */
static void app_code(const char *key32, int offset, char out[7])
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    unsigned char key[40], msg[8], mac[EVP_MAX_MD_SIZE];
    unsigned bits = 0, acc = 0, mac_len = 0;
    size_t n = 0;
    for (const char *p = key32; *p != '\0' && n < sizeof key; p++) {
        const char *at = strchr(alphabet, *p);
        ck_assert_msg(at != NULL, "not base32: %s", key32);
        acc = (acc << 5) | (unsigned)(at - alphabet);
        bits += 5;
        if (bits >= 8) {
            key[n++] = (unsigned char)(acc >> (bits - 8));
            bits -= 8;
        }
    }
    uint64_t step = (uint64_t)(time(NULL) / 30 + offset);
    for (int i = 7; i >= 0; i--, step >>= 8)
        msg[i] = (unsigned char)step;
    ck_assert_ptr_nonnull(HMAC(EVP_sha1(), key, (int)n, msg, 8, mac, &mac_len));
    int o = mac[mac_len - 1] & 0x0f;
    uint32_t v = ((uint32_t)(mac[o] & 0x7f) << 24) | ((uint32_t)mac[o + 1] << 16) |
                 ((uint32_t)mac[o + 2] << 8) | mac[o + 3];
    snprintf(out, 7, "%06u", v % 1000000);
}

/* Whether out holds the line "table N → N" with N == n (n < 0: any N above 0). */
static void assert_count_line(const char *out, const char *table, long long n)
{
    char *line = th_strf("\n%s ", table);
    char *all = th_strf("\n%s", out);
    const char *at = strstr(all, line);
    ck_assert_msg(at != NULL, "no %s line in: %s", table, out);
    long long a = -1, b = -2;
    ck_assert_int_eq(sscanf(at + strlen(line), "%lld \xe2\x86\x92 %lld", &a, &b), 2);
    ck_assert_msg(a == b && (n < 0 ? a > 0 : a == n), "%s: %lld -> %lld, expected %lld", table, a,
                  b, n);
    ck_assert_int_eq(target_count(table), b);
    free(all);
    free(line);
}

START_TEST(copy_moves_a_deployment)
{
    SKIP_UNLESS_PG();
    /* Two-factor sign-in for Bob (127.0.0.1 trusted, so Alice is not challenged). */
    const char *tfa[] = {"tenant",    "tfa",         "on", "--trusted-ips",
                         "127.0.0.1", "--mandatory", BOB,  NULL};
    char *out = NULL, *err = NULL;
    ck_assert_msg(ctl(&src, tfa, NULL, NULL, &err) == 0, "%s", err);
    free(err);
    const char *mk[] = {
        "apikey", "create", ALICE, "--name", "moved", "--permissions", "*:read,accounts:write",
        NULL};
    ck_assert_msg(ctl(&src, mk, NULL, &out, &err) == 0, "%s", err);
    out[strcspn(out, "\n")] = '\0';
    char *apikey = th_strf("Authorization: Bearer %s", out);
    free(out);
    free(err);

    th_server_t s;
    th_server_start(&s, &src);
    json_t *doc = NULL;
    json_t *resp = sign_in(&s, AUTH_PATH, ALICE, PASS_A, NULL, &doc);
    char *session =
        th_strf("Cookie: asc_auth_key=%s", json_string_value(json_object_get(resp, "token")));
    json_decref(doc);
    resp = sign_in(&s, AUTH_PATH, BOB, PASS_B, NULL, &doc);
    char *app_key = strdup(json_string_value(json_object_get(resp, "tfaKey")));
    ck_assert_uint_eq(strlen(app_key), 32);
    json_decref(doc);
    char code[7];
    app_code(app_key, 0, code);
    char *path = th_strf(AUTH_PATH "/%s", code);
    resp = sign_in(&s, path, BOB, PASS_B, NULL, &doc);
    free(path);
    char *bob_session =
        th_strf("Cookie: asc_auth_key=%s", json_string_value(json_object_get(resp, "token")));
    json_decref(doc);
    ck_assert_int_eq(call(&s, "GET", TOKEN_PATH, session, NULL, NULL, NULL), 200);
    ck_assert_int_eq(call(&s, "GET", TOKEN_PATH, apikey, NULL, NULL, NULL), 200);
    ck_assert_int_eq(th_server_stop(&s), 0);

    ck_assert_msg(copy_to(pg.db, &out, &err) == 0, "store copy failed: %s\n%s", err, out);
    assert_count_line(out, "tenants", 2);
    assert_count_line(out, "users", 3);
    assert_count_line(out, "login_events", -1);
    assert_count_line(out, "api_keys", 1);
    assert_count_line(out, "signing_keys", -1);
    assert_count_line(out, "user_tfa", 1);
    assert_count_line(out, "tenant_tfa", 1);
    free(out);
    free(err);
    /* The ids are the source's. */
    char *alice_id = th_user_guid(&src, ALICE), *moved_id = th_user_guid(&pg, ALICE);
    ck_assert_str_eq(alice_id, moved_id);

    th_server_start(&s, &pg);
    /* The same password (the tenant's salt came along), session and API key. */
    char *basic = th_basic(ALICE, PASS_A);
    ck_assert_int_eq(call(&s, "GET", TOKEN_PATH, basic, NULL, NULL, NULL), 200);
    ck_assert_int_eq(call(&s, "GET", TOKEN_PATH, session, NULL, NULL, NULL), 200);
    ck_assert_int_eq(call(&s, "GET", TOKEN_PATH, apikey, NULL, NULL, NULL), 200);
    ck_assert_int_eq(call(&s, "GET", TOKEN_PATH, bob_session, NULL, NULL, NULL), 200);
    free(basic);
    /* The second tenant's user, by its host. */
    basic = th_basic(CAROL, PASS_C);
    ck_assert_int_eq(call(&s, "GET", TOKEN_PATH, basic, "Host: second.test", NULL, NULL), 200);
    free(basic);
    /* Bob's app: a later step's code signs him in; his password alone does not. */
    basic = th_basic(BOB, PASS_B);
    ck_assert_int_eq(call(&s, "GET", TOKEN_PATH, basic, NULL, NULL, NULL), 401);
    free(basic);
    app_code(app_key, 1, code);
    path = th_strf(AUTH_PATH "/%s", code);
    sign_in(&s, path, BOB, PASS_B, NULL, &doc);
    json_decref(doc);
    free(path);
    /* A new session takes an id past the copied ones. */
    resp = sign_in(&s, AUTH_PATH, ALICE, PASS_A, NULL, &doc);
    ck_assert_ptr_nonnull(json_string_value(json_object_get(resp, "token")));
    json_decref(doc);
    ck_assert_int_eq(th_server_stop(&s), 0);

    free(alice_id);
    free(moved_id);
    free(app_key);
    free(bob_session);
    free(session);
    free(apikey);
}
END_TEST

START_TEST(target_with_data_refused_and_unchanged)
{
    SKIP_UNLESS_PG();
    char *out = NULL, *err = NULL;
    ck_assert_msg(copy_to(pg.db, &out, &err) == 0, "%s", err);
    free(out);
    free(err);
    ck_assert_int_eq(th_add_user(&src, "dave@example.com", "dave's", "Dave", "D", "user"), 0);
    ck_assert_int_eq(copy_to(pg.db, &out, &err), 1);
    ck_assert_msg(strstr(err, "not empty") != NULL, "%s", err);
    ck_assert_int_eq(target_count("users"), 3);
    ck_assert_int_eq(target_count("tenants"), 2);
    free(out);
    free(err);
}
END_TEST

START_TEST(copy_refused_half_way_leaves_target_as_it_was)
{
    SKIP_UNLESS_PG();
    /* A target prepared by migrate (its tenants, with salts of their own), then made to
     * refuse the last user row. */
    const char *migrate[] = {"migrate", NULL};
    char *out = NULL, *err = NULL;
    ck_assert_msg(ctl(&pg, migrate, NULL, NULL, &err) == 0, "%s", err);
    free(err);
    ck_assert_int_eq(target_count("tenants"), 2);
    th_sql(&pg, "ALTER TABLE users ADD CONSTRAINT refuse_carol CHECK (email <> '" CAROL "')");
    ck_assert_int_eq(copy_to(pg.db, &out, &err), 1);
    ck_assert_msg(strstr(err, "users row") != NULL && strstr(err, "refuse_carol") != NULL, "%s",
                  err);
    ck_assert_ptr_null(strstr(err, PASS_C));
    ck_assert_int_eq(target_count("users"), 0);
    ck_assert_int_eq(target_count("tenants"), 2);
    free(out);
    free(err);
}
END_TEST

START_TEST(value_that_does_not_convert_named)
{
    SKIP_UNLESS_PG();
    /* Bytes that are not UTF-8 in a text column: SQLite keeps them, PostgreSQL would not. */
    th_sql(&src, "UPDATE users SET first_name = CAST(x'c328' AS TEXT) WHERE email = '" BOB "'");
    char *bob = th_user_guid(&src, BOB);
    char *out = NULL, *err = NULL;
    ck_assert_int_eq(copy_to(pg.db, &out, &err), 1);
    char *expect = th_strf("users row %s: column first_name is not UTF-8", bob);
    ck_assert_msg(strstr(err, expect) != NULL, "%s", err);
    ck_assert_int_eq(target_count("users"), 0);
    ck_assert_int_eq(target_count("tenants"), 0);
    free(expect);
    free(bob);
    free(out);
    free(err);
}
END_TEST

START_TEST(older_source_refused_not_migrated)
{
    SKIP_UNLESS_PG();
    th_sql(&src, "PRAGMA user_version = 7");
    char *out = NULL, *err = NULL;
    ck_assert_int_eq(copy_to(pg.db, &out, &err), 1);
    ck_assert_msg(strstr(err, "identityctl migrate") != NULL, "%s", err);
    ck_assert_int_eq(target_count("users"), -1);
    free(out);
    free(err);
    /* Still 7: the copy never writes its source. */
    const char *words[] = {"user", "list", NULL};
    ck_assert_int_eq(ctl(&src, words, NULL, &out, &err), 1);
    ck_assert_msg(strstr(err, "schema version 7") != NULL, "%s", err);
    free(out);
    free(err);
}
END_TEST

START_TEST(target_must_be_postgresql)
{
    SKIP_UNLESS_PG();
    char *out = NULL, *err = NULL;
    char *to = th_strf("sqlite:%s/other.db", pg.dir);
    ck_assert_int_eq(copy_to(to, &out, &err), 1);
    ck_assert_msg(strstr(err, "PostgreSQL") != NULL, "%s", err);
    free(to);
    free(out);
    free(err);
    /* A password on the command line is refused. */
    to = th_strf("%s%spassword=secret", pg.db, strchr(pg.db, '?') != NULL ? "&" : "?");
    ck_assert_int_eq(copy_to(to, &out, &err), 1);
    ck_assert_ptr_null(strstr(err, "secret"));
    ck_assert_int_eq(target_count("users"), -1);
    free(to);
    free(out);
    free(err);
}
END_TEST

START_TEST(password_from_a_secret_file)
{
    SKIP_UNLESS_PG();
    char *from = th_strf("sqlite:%s", src.db);
    char *file = th_strf("%s/pg-password", pg.dir);
    const char *words[] = {"store", "copy", "--from", from, "--to", pg.db, "--to-password-file",
                           file,    NULL};
    char *out = NULL, *err = NULL;
    /* A password file others may read is refused before anything is opened. */
    th_write_file(file, "not-needed-by-the-test-server\n", 0644);
    ck_assert_int_eq(ctl(&pg, words, NULL, &out, &err), 1);
    ck_assert_msg(strstr(err, "cannot open the target") != NULL, "%s", err);
    ck_assert_ptr_null(strstr(err, "not-needed"));
    ck_assert_int_eq(target_count("users"), -1);
    free(out);
    free(err);
    /* The owner's alone: taken (the test server trusts its socket and ignores it). */
    ck_assert_int_eq(chmod(file, 0600), 0);
    ck_assert_msg(ctl(&pg, words, NULL, &out, &err) == 0, "%s", err);
    ck_assert_int_eq(target_count("users"), 3);
    free(out);
    free(err);
    free(file);
    free(from);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("storecopy");
    TCase *tc = tcase_create("copy");
    tcase_set_timeout(tc, 240);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, copy_moves_a_deployment);
    tcase_add_test(tc, target_with_data_refused_and_unchanged);
    tcase_add_test(tc, copy_refused_half_way_leaves_target_as_it_was);
    tcase_add_test(tc, value_that_does_not_convert_named);
    tcase_add_test(tc, older_source_refused_not_migrated);
    tcase_add_test(tc, target_must_be_postgresql);
    tcase_add_test(tc, password_from_a_secret_file);
    suite_add_tcase(s, tc);
    return th_run_suite(s);
}
