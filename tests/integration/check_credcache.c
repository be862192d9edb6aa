/*
 * The credential cache (auth/credcache.h) in the real server: a warm request with a session,
 * an API key or Basic reads nothing from the store (its lookups are counted in /metrics);
 * every write through the API that ends or narrows a credential is refused on the very next
 * request; a write by identityctl (another process) is refused once a change check has seen
 * it, which the tests wait for through /metrics rather than sleeping.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "identityd/cred/apikey.h"

#define TOKEN_PATH "/api/2.0/security/oauth2/token"
#define AUTH_PATH "/api/2.0/authentication"
#define SELF_PATH "/api/2.0/people/@self"
#define KEYS_PATH "/api/2.0/keys"
#define CONN_PATH "/api/2.0/security/activeconnections"

static th_env_t env;
static th_server_t srv;

static void start(int threads, const char *extra_yaml)
{
    th_threads = threads;
    th_env_init(&env, extra_yaml, NULL);
    ck_assert_int_eq(
        th_add_user(&env, "admin@example.com", "correct horse", "Ada", "Admin", "admin"), 0);
    ck_assert_int_eq(th_add_user(&env, "user@example.com", "user pass", "Bob", "User", "user"), 0);
    th_server_start(&srv, &env);
    /* The first change check (at start) has run: from here on the epoch moves only for
     * the writes a test makes. */
    th_wait_changes_seen(&srv, &env);
}

static void setup(void)
{
    start(2, "cache:\n  check_interval_ms: 100\nsessions:\n  max_per_user: 3\n");
}

static void setup_one_thread(void)
{
    start(1, NULL);
}

static void teardown(void)
{
    ck_assert_int_eq(th_server_stop(&srv), 0);
    th_env_dispose(&env);
    th_threads = 2;
}

/* ---- plumbing ---------------------------------------------------------------------------- */

/* One request; auth is a whole header line (may be NULL); a body goes as JSON. Returns the
 * status; *out (may be NULL) receives the parsed body. */
static long call(const char *method, const char *path, const char *auth, const char *body,
                 json_t **out)
{
    th_response_t r;
    th_send(&r, &srv, method, path, auth, body);
    long status = r.status;
    if (status >= 400)
        th_assert_error_envelope(&r, status);
    if (out != NULL)
        *out = th_json_parse(r.body);
    th_response_dispose(&r);
    return status;
}

static char *basic_user(void)
{
    return th_basic("user@example.com", "user pass");
}

/* Signs in; returns "Authorization: Bearer TOKEN" (malloc'd). */
static char *sign_in(const char *email, const char *password)
{
    char *body = th_strf("{\"userName\":\"%s\",\"password\":\"%s\"}", email, password);
    json_t *j = NULL;
    ck_assert_int_eq(call("POST", AUTH_PATH, NULL, body, &j), 200);
    free(body);
    char *h =
        th_bearer(json_string_value(json_object_get(json_object_get(j, "response"), "token")));
    json_decref(j);
    return h;
}

typedef struct made_key {
    char id[64];
    char *auth; /* "Authorization: Bearer sk-..." */
} made_key_t;

static void make_key(const char *owner_auth, const char *body, made_key_t *k)
{
    json_t *j = NULL;
    ck_assert_int_eq(call("POST", KEYS_PATH, owner_auth, body, &j), 200);
    json_t *o = json_object_get(j, "response");
    snprintf(k->id, sizeof(k->id), "%s", json_string_value(json_object_get(o, "id")));
    k->auth = th_bearer(json_string_value(json_object_get(o, "key")));
    json_decref(j);
}

static double lookups(const char *kind, const char *result)
{
    char *series =
        th_strf("identityd_credcache_lookups_total{kind=\"%s\",result=\"%s\"}", kind, result);
    double v = th_metric(&srv, series);
    free(series);
    return v;
}

/* Uses auth until a request of it was answered from the cache (at most a few tries: the first
 * fills it), so that the write that follows has something cached to undo. */
static void warm(const char *path, const char *auth, const char *kind)
{
    for (int i = 0; i < 10; i++) {
        double hits = lookups(kind, "hit");
        ck_assert_int_eq(call("GET", path, auth, NULL, NULL), 200);
        if (lookups(kind, "hit") > hits)
            return;
    }
    ck_abort_msg("%s was never answered from the cache", kind);
}

static int64_t session_id_of(const char *auth)
{
    json_t *j = NULL;
    ck_assert_int_eq(call("GET", CONN_PATH, auth, NULL, &j), 200);
    /* loginEvent: the session the request came with. */
    int64_t id = json_integer_value(json_object_get(json_object_get(j, "response"), "loginEvent"));
    json_decref(j);
    ck_assert_int_gt(id, 0);
    return id;
}

static void ctl_ok(const char *const argv[], const char *stdin_text)
{
    char *err = NULL;
    int rc = th_run(argv, stdin_text, NULL, &err);
    ck_assert_msg(rc == 0, "identityctl %s %s: %s", argv[3], argv[4], err ? err : "");
    free(err);
}

/* ---- warm requests read nothing -------------------------------------------------------- */

START_TEST(warm_requests_read_nothing)
{
    char *session = sign_in("user@example.com", "user pass");
    char *basic = basic_user();
    made_key_t key;
    make_key(basic, "{\"name\":\"k\"}", &key);
    const struct {
        const char *kind;
        const char *auth;
    } cases[] = {{"session", session}, {"apikey", key.auth}, {"basic", basic}};
    for (size_t c = 0; c < 3; c++) {
        warm(TOKEN_PATH, cases[c].auth, cases[c].kind);
        double miss = lookups(cases[c].kind, "miss"), hit = lookups(cases[c].kind, "hit");
        double tfa_miss = lookups("tenant_tfa", "miss");
        for (int i = 0; i < 20; i++)
            ck_assert_int_eq(call("GET", TOKEN_PATH, cases[c].auth, NULL, NULL), 200);
        ck_assert_msg(lookups(cases[c].kind, "miss") == miss, "%s: warm requests read the store",
                      cases[c].kind);
        ck_assert_double_eq(lookups(cases[c].kind, "hit"), hit + 20);
        /* Basic's two-factor settings come from the cache too. */
        ck_assert_double_eq(lookups("tenant_tfa", "miss"), tfa_miss);
    }
    free(session), free(basic), free(key.auth);
}
END_TEST

/* The configured bound, and the table's size, as /metrics reports them; the default bound
 * is in check_config's cache test. */
START_TEST(entries_reported)
{
    ck_assert_double_eq(th_metric(&srv, "identityd_credcache_entries"), 16384);
    ck_assert_double_ge(th_metric(&srv, "identityd_credcache_change_checks_total"), 1);
}
END_TEST

/* While the change version cannot be read, nothing cached is trusted and nothing is cached:
 * a key that was warm is read from the store again, and again on the next request (and still
 * works, the store being otherwise fine). */
START_TEST(unreadable_change_version_empties_the_cache)
{
    char *basic = basic_user();
    made_key_t key;
    make_key(basic, "{\"name\":\"k\"}", &key);
    warm(TOKEN_PATH, key.auth, "apikey");
    th_sql(&env, "DROP TABLE store_changes");
    /* Two checks after the drop: at least one ran wholly after it. */
    double checks = th_metric(&srv, "identityd_credcache_change_checks_total");
    for (int i = 0; i < 6000 && th_metric(&srv, "identityd_credcache_change_checks_total") <
                                    checks + 2 * th_threads;
         i++)
        usleep(10000);
    double miss = lookups("apikey", "miss");
    ck_assert_int_eq(call("GET", TOKEN_PATH, key.auth, NULL, NULL), 200);
    ck_assert_double_eq(lookups("apikey", "miss"), miss + 1);
    ck_assert_int_eq(call("GET", TOKEN_PATH, key.auth, NULL, NULL), 200);
    ck_assert_double_eq(lookups("apikey", "miss"), miss + 2);
    free(basic), free(key.auth);
}
END_TEST

/* ---- local writes: refused on the very next request ---------------------------------------- */

START_TEST(logout_refused_next)
{
    char *s = sign_in("user@example.com", "user pass");
    warm(TOKEN_PATH, s, "session");
    ck_assert_int_eq(call("POST", AUTH_PATH "/logout", s, NULL, NULL), 200);
    ck_assert_int_eq(call("GET", TOKEN_PATH, s, NULL, NULL), 401);
    free(s);
}
END_TEST

START_TEST(logout_by_id_refused_next)
{
    char *a = sign_in("user@example.com", "user pass");
    int64_t id = session_id_of(a);
    char *b = sign_in("user@example.com", "user pass");
    warm(TOKEN_PATH, a, "session");
    char *path = th_strf(CONN_PATH "/logout/%lld", (long long)id);
    ck_assert_int_eq(call("PUT", path, b, NULL, NULL), 200);
    ck_assert_int_eq(call("GET", TOKEN_PATH, a, NULL, NULL), 401);
    ck_assert_int_eq(call("GET", TOKEN_PATH, b, NULL, NULL), 200);
    free(path), free(a), free(b);
}
END_TEST

START_TEST(logout_others_refused_next)
{
    char *a = sign_in("user@example.com", "user pass");
    char *b = sign_in("user@example.com", "user pass");
    warm(TOKEN_PATH, a, "session");
    ck_assert_int_eq(call("PUT", CONN_PATH "/logoutallexceptthis", b, NULL, NULL), 200);
    ck_assert_int_eq(call("GET", TOKEN_PATH, a, NULL, NULL), 401);
    ck_assert_int_eq(call("GET", TOKEN_PATH, b, NULL, NULL), 200);
    free(a), free(b);
}
END_TEST

START_TEST(logout_user_by_admin_refused_next)
{
    char *a = sign_in("user@example.com", "user pass");
    char *admin = th_basic("admin@example.com", "correct horse");
    warm(TOKEN_PATH, a, "session");
    char *uid = th_user_guid(&env, "user@example.com");
    char *path = th_strf(CONN_PATH "/logoutall/%s", uid);
    ck_assert_int_eq(call("PUT", path, admin, NULL, NULL), 200);
    ck_assert_int_eq(call("GET", TOKEN_PATH, a, NULL, NULL), 401);
    free(path), free(uid), free(a), free(admin);
}
END_TEST

START_TEST(logout_change_password_refused_next)
{
    char *a = sign_in("user@example.com", "user pass");
    char *basic = basic_user();
    warm(TOKEN_PATH, a, "session");
    warm(TOKEN_PATH, basic, "basic");
    ck_assert_int_eq(call("PUT", CONN_PATH "/logoutallchangepassword", a, NULL, NULL), 200);
    ck_assert_int_eq(call("GET", TOKEN_PATH, a, NULL, NULL), 401);
    /* A password change is now required: Basic no longer signs in. */
    ck_assert_int_eq(call("GET", TOKEN_PATH, basic, NULL, NULL), 401);
    free(a), free(basic);
}
END_TEST

/* sessions.max_per_user is 3 here: the fourth sign-in ends the oldest. */
START_TEST(session_cap_refused_next)
{
    char *first = sign_in("user@example.com", "user pass");
    char *more[3];
    more[0] = sign_in("user@example.com", "user pass");
    more[1] = sign_in("user@example.com", "user pass");
    warm(TOKEN_PATH, first, "session");
    more[2] = sign_in("user@example.com", "user pass");
    ck_assert_int_eq(call("GET", TOKEN_PATH, first, NULL, NULL), 401);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(call("GET", TOKEN_PATH, more[i], NULL, NULL), 200);
        free(more[i]);
    }
    free(first);
}
END_TEST

START_TEST(apikey_narrowed_refused_next)
{
    char *basic = basic_user();
    made_key_t k;
    make_key(basic, "{\"name\":\"k\"}", &k);
    warm(SELF_PATH, k.auth, "apikey");
    char *path = th_strf(KEYS_PATH "/%s", k.id);
    ck_assert_int_eq(call("PUT", path, basic, "{\"permissions\":[\"files:read\"]}", NULL), 200);
    ck_assert_int_eq(call("GET", SELF_PATH, k.auth, NULL, NULL), 403);
    free(path), free(basic), free(k.auth);
}
END_TEST

START_TEST(apikey_deactivated_refused_next)
{
    char *basic = basic_user();
    made_key_t k;
    make_key(basic, "{\"name\":\"k\"}", &k);
    warm(TOKEN_PATH, k.auth, "apikey");
    char *path = th_strf(KEYS_PATH "/%s", k.id);
    ck_assert_int_eq(call("PUT", path, basic, "{\"isActive\":false}", NULL), 200);
    ck_assert_int_eq(call("GET", TOKEN_PATH, k.auth, NULL, NULL), 401);
    free(path), free(basic), free(k.auth);
}
END_TEST

START_TEST(apikey_deleted_refused_next)
{
    char *basic = basic_user();
    made_key_t k;
    make_key(basic, "{\"name\":\"k\"}", &k);
    warm(TOKEN_PATH, k.auth, "apikey");
    char *path = th_strf(KEYS_PATH "/%s", k.id);
    ck_assert_int_eq(call("DELETE", path, basic, NULL, NULL), 200);
    ck_assert_int_eq(call("GET", TOKEN_PATH, k.auth, NULL, NULL), 401);
    free(path), free(basic), free(k.auth);
}
END_TEST

/* Two-factor sign-in turned on: Basic proves one factor only and is refused at once, and the
 * sessions made without a second factor end. */
START_TEST(tfa_settings_refused_next)
{
    char *admin = th_basic("admin@example.com", "correct horse");
    char *basic = basic_user();
    char *s = sign_in("user@example.com", "user pass");
    warm(TOKEN_PATH, basic, "basic");
    warm(TOKEN_PATH, s, "session");
    ck_assert_int_eq(call("PUT", "/api/2.0/settings/tfaapp", admin, "{\"type\":\"App\"}", NULL),
                     200);
    ck_assert_int_eq(call("GET", TOKEN_PATH, basic, NULL, NULL), 401);
    ck_assert_int_eq(call("GET", TOKEN_PATH, s, NULL, NULL), 401);
    free(admin), free(basic), free(s);
}
END_TEST

/* ---- identityctl, another process: refused once a change check saw it ------------------- */

START_TEST(ctl_user_disable)
{
    char *s = sign_in("user@example.com", "user pass");
    char *basic = basic_user();
    made_key_t k;
    make_key(basic, "{\"name\":\"k\"}", &k);
    warm(TOKEN_PATH, s, "session");
    warm(TOKEN_PATH, k.auth, "apikey");
    warm(TOKEN_PATH, basic, "basic");
    const char *argv[] = {th_ctl(), "-c", env.config, "user", "disable", "user@example.com", NULL};
    ctl_ok(argv, NULL);
    th_wait_changes_seen(&srv, &env);
    ck_assert_int_eq(call("GET", TOKEN_PATH, s, NULL, NULL), 401);
    ck_assert_int_eq(call("GET", TOKEN_PATH, k.auth, NULL, NULL), 401);
    ck_assert_int_eq(call("GET", TOKEN_PATH, basic, NULL, NULL), 401);
    free(s), free(basic), free(k.auth);
}
END_TEST

START_TEST(ctl_user_passwd)
{
    char *s = sign_in("user@example.com", "user pass");
    char *basic = basic_user();
    warm(TOKEN_PATH, s, "session");
    warm(TOKEN_PATH, basic, "basic");
    const char *argv[] = {th_ctl(), "-c", env.config, "user", "passwd", "user@example.com", NULL};
    ctl_ok(argv, "a brand new pass\n");
    th_wait_changes_seen(&srv, &env);
    ck_assert_int_eq(call("GET", TOKEN_PATH, s, NULL, NULL), 401);
    ck_assert_int_eq(call("GET", TOKEN_PATH, basic, NULL, NULL), 401);
    free(s), free(basic);
}
END_TEST

START_TEST(ctl_apikey_revoke)
{
    char *basic = basic_user();
    made_key_t k;
    make_key(basic, "{\"name\":\"k\"}", &k);
    warm(TOKEN_PATH, k.auth, "apikey");
    const char *argv[] = {th_ctl(), "-c", env.config, "apikey", "revoke", k.id, NULL};
    ctl_ok(argv, NULL);
    th_wait_changes_seen(&srv, &env);
    ck_assert_int_eq(call("GET", TOKEN_PATH, k.auth, NULL, NULL), 401);
    free(basic), free(k.auth);
}
END_TEST

START_TEST(ctl_session_revoke)
{
    char *s = sign_in("user@example.com", "user pass");
    int64_t id = session_id_of(s);
    warm(TOKEN_PATH, s, "session");
    char *ids = th_strf("%lld", (long long)id);
    const char *argv[] = {th_ctl(), "-c", env.config, "session", "revoke", ids, NULL};
    ctl_ok(argv, NULL);
    th_wait_changes_seen(&srv, &env);
    ck_assert_int_eq(call("GET", TOKEN_PATH, s, NULL, NULL), 401);
    free(ids), free(s);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("credcache");
    TCase *one = tcase_create("warm");
    tcase_add_checked_fixture(one, setup_one_thread, teardown);
    tcase_set_timeout(one, 60);
    tcase_add_test(one, warm_requests_read_nothing);
    tcase_add_test(one, entries_reported);
    suite_add_tcase(s, one);

    TCase *local = tcase_create("local");
    tcase_add_checked_fixture(local, setup, teardown);
    tcase_set_timeout(local, 60);
    tcase_add_test(local, unreadable_change_version_empties_the_cache);
    tcase_add_test(local, logout_refused_next);
    tcase_add_test(local, logout_by_id_refused_next);
    tcase_add_test(local, logout_others_refused_next);
    tcase_add_test(local, logout_user_by_admin_refused_next);
    tcase_add_test(local, logout_change_password_refused_next);
    tcase_add_test(local, session_cap_refused_next);
    tcase_add_test(local, apikey_narrowed_refused_next);
    tcase_add_test(local, apikey_deactivated_refused_next);
    tcase_add_test(local, apikey_deleted_refused_next);
    tcase_add_test(local, tfa_settings_refused_next);
    suite_add_tcase(s, local);

    TCase *ctl = tcase_create("identityctl");
    tcase_add_checked_fixture(ctl, setup, teardown);
    tcase_set_timeout(ctl, 90);
    tcase_add_test(ctl, ctl_user_disable);
    tcase_add_test(ctl, ctl_user_passwd);
    tcase_add_test(ctl, ctl_apikey_revoke);
    tcase_add_test(ctl, ctl_session_revoke);
    suite_add_tcase(s, ctl);
    return s;
}

int main(void)
{
    return th_run_suite(make_suite());
}
