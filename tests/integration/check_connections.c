/*
 * Active connections end to end: /api/2.0/security/activeconnections and its logout
 * endpoints against a real identityd on a loopback port with a real SQLite file, users made
 * by identityctl, libcurl as the client. Sessions are made by POST /api/2.0/authentication;
 * their ids are read back through the store library, so each test knows which session is
 * which without asking the server under test.
 */
#include <check.h>
#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "apidate.h"
#include "harness.h"
#include "identityd/store/store.h"

#define AUTH_PATH "/api/2.0/authentication"
#define LOGOUT_PATH "/api/2.0/authentication/logout"
#define SETTINGS_PATH "/api/2.0/settings"
#define TOKEN_PATH "/api/2.0/security/oauth2/token"
#define AC_PATH "/api/2.0/security/activeconnections"
#define AC_LOGOUT AC_PATH "/logout/"
#define AC_EXCEPT AC_PATH "/logoutallexceptthis"
#define AC_ALL AC_PATH "/logoutall/"
#define AC_CHANGE AC_PATH "/logoutallchangepassword"
#define AUTH_FAILED "User authentication failed"

#define UA_CHROME_WIN                                                                              \
    "User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like "       \
    "Gecko) Chrome/120.0.0.0 Safari/537.36"
#define UA_FIREFOX_LINUX                                                                           \
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"
#define UA_IPHONE                                                                                  \
    "User-Agent: Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 "     \
    "(KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1"

static th_env_t env;
static th_server_t srv;

/* ---- plumbing --------------------------------------------------------------------------- */

static void start(const char *extra_yaml)
{
    th_env_init(&env, extra_yaml, NULL);
    ck_assert_int_eq(
        th_add_user(&env, "Admin@Example.com", "correct horse", "Ada", "Lovelace", "admin"), 0);
    ck_assert_int_eq(th_add_user(&env, "user@example.com", "user pass", "Bob", "User", "user"), 0);
    ck_assert_int_eq(th_add_user(&env, "carol@example.com", "carol pass", "Carol", "Other", "user"),
                     0);
    /* An admin of tenant 2 (th_add_user has no --tenant). */
    const char *argv[] = {th_ctl(),           "-c",      env.config, "user",   "add",
                          "boss@second.test", "--first", "Tom",      "--last", "Boss",
                          "--role",           "admin",   "--tenant", "2",      NULL};
    ck_assert_int_eq(th_run(argv, "boss pass\n", NULL, NULL), 0);
    th_server_start(&srv, &env);
}

/* The brute-force limit is high so that the deliberate failures here never trip it. */
static void setup(void)
{
    start("bruteforce: { attempts: 50, window: 60, block: 60 }\n");
}

static void setup_proxy(void)
{
    start("bruteforce: { attempts: 50, window: 60, block: 60 }\ntrusted_proxies: [127.0.0.1]\n");
}

static void teardown(void)
{
    ck_assert_int_eq(th_server_stop(&srv), 0);
    th_env_dispose(&env);
}

/* One request on a new connection; headers may hold NULLs past the end (NULL-terminated). */
static void req(th_response_t *r, const char *method, const char *path, const char *const headers[],
                const char *body)
{
    char *u = th_url(&srv, path);
    th_http(r, method, u, headers, body, body ? strlen(body) : 0, 0);
    free(u);
}

/* method path with up to two headers (either may be NULL). */
static void call(th_response_t *r, const char *method, const char *path, const char *h1,
                 const char *h2)
{
    const char *h[3] = {NULL, NULL, NULL};
    size_t n = 0;
    if (h1 != NULL)
        h[n++] = h1;
    if (h2 != NULL)
        h[n++] = h2;
    req(r, method, path, h, NULL);
}

/* The error envelope with status and, unless message is NULL, exactly that message. */
static void assert_error(const th_response_t *r, long status, const char *message)
{
    th_assert_error_envelope(r, status);
    if (message != NULL)
        th_assert_error_message(r, message);
}

/* Asserts the success envelope (count not checked) of a request made to base (NULL: the
 * server's own address; "http://second.test" when the request carried that Host) and
 * returns the document. */
static json_t *assert_ok_at(const th_response_t *r, const char *base, const char *path,
                            const char *action)
{
    ck_assert_msg(r->status == 200, "%s %s: status %ld: %s", action, path, r->status, r->body);
    json_t *j = th_json_parse(r->body);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "status")), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "statusCode")), 200);
    json_t *links = json_object_get(j, "links");
    ck_assert_int_eq(json_array_size(links), 1);
    char *href = base != NULL ? th_strf("%s%s", base, path) : th_url(&srv, path);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(links, 0), "href")), href);
    free(href);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(links, 0), "action")),
                     action);
    ck_assert_ptr_nonnull(json_object_get(j, "response"));
    return j;
}

static json_t *assert_ok(const th_response_t *r, const char *path, const char *action)
{
    return assert_ok_at(r, NULL, path, action);
}

/* Asserts a BooleanWrapper that says true. */
static void assert_true_wrapper(const th_response_t *r, const char *path, const char *action)
{
    json_t *j = assert_ok(r, path, action);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "count")), 1);
    ck_assert_msg(json_is_true(json_object_get(j, "response")), "response is not true: %s",
                  r->body);
    json_decref(j);
}

static void post_login(th_response_t *r, const char *email, const char *password, const char *h1,
                       const char *h2)
{
    char body[512];
    snprintf(body, sizeof(body), "{\"userName\":\"%s\",\"password\":\"%s\"}", email, password);
    const char *h[4] = {"Content-Type: application/json", h1, NULL, NULL};
    if (h1 == NULL)
        h[1] = h2;
    else
        h[2] = h2;
    req(r, "POST", AUTH_PATH, h, body);
}

/* Signs in (with up to two extra headers) and returns the cookie header for the session. */
static char *login(const char *email, const char *password, const char *h1, const char *h2)
{
    th_response_t r;
    post_login(&r, email, password, h1, h2);
    const char *base = NULL;
    if (h1 != NULL && strcmp(h1, "Host: second.test") == 0)
        base = "http://second.test";
    json_t *j = assert_ok_at(&r, base, AUTH_PATH, "POST");
    const char *token = json_string_value(json_object_get(json_object_get(j, "response"), "token"));
    ck_assert_ptr_nonnull(token);
    char *c = th_strf("Cookie: asc_auth_key=%s", token);
    json_decref(j);
    th_response_dispose(&r);
    return c;
}

/* Whether the credential works at the token endpoint at host (NULL: the default): 200 is
 * true, 401 false, anything else fails the test. */
static bool works_at(const char *cred, const char *host)
{
    th_response_t r;
    call(&r, "GET", TOKEN_PATH, cred, host);
    ck_assert_msg(r.status == 200 || r.status == 401, "token endpoint: %ld %s", r.status, r.body);
    bool ok = r.status == 200;
    th_response_dispose(&r);
    return ok;
}

static bool works(const char *cred)
{
    return works_at(cred, NULL);
}

static int max_id(const idd_session_t *session, void *arg)
{
    int64_t *id = arg;
    if (session->id > *id)
        *id = session->id;
    return 0;
}

/* The id of the user's newest live session: the one a sign-in just made. */
static int64_t newest_session(const char *email, int64_t tenant)
{
    idd_user_t u;
    th_user_row(&env, tenant, email, &u);
    idd_store_t *s = NULL;
    int64_t id = 0;
    ck_assert_int_eq(idd_store_open(env.db, &s), 0);
    ck_assert_int_eq(idd_store_session_list_user(s, u.id, (int64_t)time(NULL), max_id, &id), 0);
    idd_store_free(s);
    ck_assert(id > 0);
    return id;
}

static char *path_id(const char *prefix, long long id)
{
    char *p = malloc(strlen(prefix) + 24);
    sprintf(p, "%s%lld", prefix, id);
    return p;
}

static char *path_str(const char *prefix, const char *s)
{
    char *p = malloc(strlen(prefix) + strlen(s) + 1);
    sprintf(p, "%s%s", prefix, s);
    return p;
}

/* GET the list with a credential; returns the document (caller decrefs), count checked. */
static json_t *list(const char *cred)
{
    th_response_t r;
    call(&r, "GET", AC_PATH, cred, NULL);
    json_t *j = assert_ok(&r, AC_PATH, "GET");
    json_t *items = json_object_get(json_object_get(j, "response"), "items");
    ck_assert_msg(json_is_array(items), "no response.items: %s", r.body);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "count")), json_array_size(items));
    th_response_dispose(&r);
    return j;
}

static json_int_t login_event(json_t *doc)
{
    json_t *v = json_object_get(json_object_get(doc, "response"), "loginEvent");
    ck_assert(json_is_integer(v));
    return json_integer_value(v);
}

static json_t *items_of(json_t *doc)
{
    return json_object_get(json_object_get(doc, "response"), "items");
}

/* Asserts the shape of one item and returns it for more checks. */
static json_t *check_item(json_t *item, const char *user_id, const char *ip)
{
    ck_assert(json_is_integer(json_object_get(item, "id")));
    ck_assert_int_eq(json_integer_value(json_object_get(item, "tenantId")), 1);
    ck_assert_str_eq(json_string_value(json_object_get(item, "userId")), user_id);
    ck_assert(json_is_boolean(json_object_get(item, "mobile")));
    ck_assert_str_eq(json_string_value(json_object_get(item, "ip")), ip);
    ck_assert(json_is_string(json_object_get(item, "browser")));
    ck_assert(json_is_string(json_object_get(item, "platform")));
    /* an ApiDateTime string in the tenant's zone (UTC here) */
    int offset = -1;
    time_t when = (time_t)apidate_parse(json_object_get(item, "date"), &offset);
    ck_assert_int_eq(offset, 0);
    ck_assert_msg(llabs((long long)when - (long long)time(NULL)) <= 30, "date %lld",
                  (long long)when);
    return item;
}

static json_t *item_by_id(json_t *doc, int64_t id)
{
    json_t *items = items_of(doc);
    for (size_t i = 0; i < json_array_size(items); i++)
        if (json_integer_value(json_object_get(json_array_get(items, i), "id")) == id)
            return json_array_get(items, i);
    return NULL;
}

/* ---- listing ---------------------------------------------------------------------------- */

/* The list holds the caller's own live sessions, newest first, described from the
 * User-Agent and address they signed in with; loginEvent names the session in use. */
START_TEST(list_own_sessions)
{
    idd_user_t bob;
    th_user_row(&env, 1, "user@example.com", &bob);
    char *c1 = login("user@example.com", "user pass", UA_CHROME_WIN, NULL);
    int64_t id1 = newest_session("user@example.com", 1);
    char *c2 = login("user@example.com", "user pass", UA_FIREFOX_LINUX, NULL);
    int64_t id2 = newest_session("user@example.com", 1);
    char *c3 = login("user@example.com", "user pass", UA_IPHONE, NULL);
    int64_t id3 = newest_session("user@example.com", 1);
    char *cc = login("carol@example.com", "carol pass", NULL, NULL);
    int64_t idc = newest_session("carol@example.com", 1);
    ck_assert(id1 < id2 && id2 < id3);

    json_t *doc = list(c2);
    ck_assert_int_eq(login_event(doc), id2);
    json_t *items = items_of(doc);
    ck_assert_int_eq(json_array_size(items), 3);
    const int64_t order[] = {id3, id2, id1};
    for (size_t i = 0; i < 3; i++) {
        json_t *item = check_item(json_array_get(items, i), bob.id, "127.0.0.1");
        ck_assert_int_eq(json_integer_value(json_object_get(item, "id")), order[i]);
    }
    ck_assert_ptr_null(item_by_id(doc, idc));

    json_t *chrome = item_by_id(doc, id1);
    ck_assert_str_eq(json_string_value(json_object_get(chrome, "platform")), "Windows");
    ck_assert_msg(strncmp(json_string_value(json_object_get(chrome, "browser")), "Chrome", 6) == 0,
                  "browser %s", json_string_value(json_object_get(chrome, "browser")));
    ck_assert(json_is_false(json_object_get(chrome, "mobile")));
    json_t *firefox = item_by_id(doc, id2);
    ck_assert_msg(strncmp(json_string_value(json_object_get(firefox, "browser")), "Firefox", 7) ==
                      0,
                  "browser %s", json_string_value(json_object_get(firefox, "browser")));
    ck_assert(json_is_true(json_object_get(item_by_id(doc, id3), "mobile")));
    json_decref(doc);

    /* Another session of the same user sees the same list, with its own loginEvent. */
    doc = list(c3);
    ck_assert_int_eq(login_event(doc), id3);
    ck_assert_int_eq(json_array_size(items_of(doc)), 3);
    json_decref(doc);

    /* Basic is no session: loginEvent 0, the same three. */
    char *basic = th_basic("user@example.com", "user pass");
    doc = list(basic);
    ck_assert_int_eq(login_event(doc), 0);
    ck_assert_int_eq(json_array_size(items_of(doc)), 3);
    json_decref(doc);

    /* Carol sees only her own. */
    doc = list(cc);
    ck_assert_int_eq(login_event(doc), idc);
    ck_assert_int_eq(json_array_size(items_of(doc)), 1);
    ck_assert_ptr_nonnull(item_by_id(doc, idc));
    json_decref(doc);
    free(c1), free(c2), free(c3), free(cc), free(basic);
}
END_TEST

/* Logged-out and expired sessions are not listed. */
START_TEST(list_excludes_ended)
{
    char *c1 = login("user@example.com", "user pass", NULL, NULL);
    int64_t id1 = newest_session("user@example.com", 1);
    char *c2 = login("user@example.com", "user pass", NULL, NULL);
    char *c3 = login("user@example.com", "user pass", NULL, NULL);
    int64_t id3 = newest_session("user@example.com", 1);
    char stmt[128];
    snprintf(stmt, sizeof(stmt), "UPDATE login_events SET expires = %lld WHERE id = %lld",
             (long long)time(NULL) - 10, (long long)id1);
    th_sql(&env, stmt);
    th_response_t r;
    call(&r, "POST", LOGOUT_PATH, c2, NULL);
    ck_assert_int_eq(r.status, 200);
    th_response_dispose(&r);
    json_t *doc = list(c3);
    ck_assert_int_eq(json_array_size(items_of(doc)), 1);
    ck_assert_ptr_nonnull(item_by_id(doc, id3));
    json_decref(doc);
    free(c1), free(c2), free(c3);
}
END_TEST

/* The address shown is the peer's when it is not a trusted proxy, whatever it claims: an
 * X-Forwarded-For from anyone would let a thief disguise where a session is used from. */
START_TEST(client_ip_untrusted)
{
    char *c = login("user@example.com", "user pass", "X-Forwarded-For: 203.0.113.7", UA_CHROME_WIN);
    int64_t id = newest_session("user@example.com", 1);
    json_t *doc = list(c);
    idd_user_t bob;
    th_user_row(&env, 1, "user@example.com", &bob);
    check_item(item_by_id(doc, id), bob.id, "127.0.0.1");
    json_decref(doc);
    free(c);
}
END_TEST

/* A User-Agent of ill-formed UTF-8 and control characters still signs in, and is kept as
 * printable, well-formed text (PostgreSQL refuses anything else): each bad byte or control
 * character a space, the rest as sent. */
START_TEST(user_agent_kept_as_printable_utf8)
{
    char *c = login("user@example.com", "user pass",
                    "User-Agent: ok\x9b\xc2\x9b\xff\xe2\x82 caf\xc3\xa9 \xe2\x82\xac", NULL);
    ck_assert_ptr_nonnull(c);
    int64_t id = newest_session("user@example.com", 1);
    idd_store_t *s = NULL;
    idd_session_t row;
    ck_assert_int_eq(idd_store_open(env.db, &s), 0);
    ck_assert_int_eq(idd_store_session_by_id(s, id, &row), 0);
    idd_store_free(s);
    /* 9b, c2 9b (C1), ff, e2 and 82 (a cut sequence: two bad bytes), then the real space. */
    ck_assert_str_eq(row.user_agent, "ok      caf\xc3\xa9 \xe2\x82\xac");
    free(c);
}
END_TEST

/* Behind a trusted proxy the list shows the real client's address. */
START_TEST(client_ip_trusted)
{
    char *c = login("user@example.com", "user pass", "X-Forwarded-For: 203.0.113.7", UA_CHROME_WIN);
    int64_t id = newest_session("user@example.com", 1);
    json_t *doc = list(c);
    idd_user_t bob;
    th_user_row(&env, 1, "user@example.com", &bob);
    json_t *item = check_item(item_by_id(doc, id), bob.id, "203.0.113.7");
    ck_assert_str_eq(json_string_value(json_object_get(item, "platform")), "Windows");
    json_decref(doc);
    free(c);
}
END_TEST

/* ---- ending one session ---------------------------------------------------------------- */

/* A user ends their own sessions by id: the other one, then the one in use. */
START_TEST(logout_own_by_id)
{
    char *ca = login("user@example.com", "user pass", NULL, NULL);
    int64_t ida = newest_session("user@example.com", 1);
    char *cb = login("user@example.com", "user pass", NULL, NULL);
    int64_t idb = newest_session("user@example.com", 1);
    th_response_t r;
    char *p = path_id(AC_LOGOUT, idb);
    call(&r, "PUT", p, ca, NULL);
    assert_true_wrapper(&r, p, "PUT");
    th_response_dispose(&r);
    free(p);
    for (int i = 0; i < 4; i++)
        ck_assert(!works(cb));
    ck_assert(works(ca));

    p = path_id(AC_LOGOUT, ida);
    call(&r, "PUT", p, ca, NULL);
    assert_true_wrapper(&r, p, "PUT");
    th_response_dispose(&r);
    free(p);
    for (int i = 0; i < 4; i++)
        ck_assert(!works(ca));
    free(ca), free(cb);
}
END_TEST

/* Ids that name nothing: 404 when numeric, 400 when not a number at all. */
START_TEST(logout_bad_ids)
{
    char *c = login("user@example.com", "user pass", NULL, NULL);
    th_response_t r;
    call(&r, "PUT", AC_LOGOUT "987654321", c, NULL);
    assert_error(&r, 404, NULL);
    th_response_dispose(&r);
    static const char *const not_numbers[] = {"abc", "12abc", "1.5", "0x10"};
    for (size_t i = 0; i < sizeof(not_numbers) / sizeof(not_numbers[0]); i++) {
        char *p = path_str(AC_LOGOUT, not_numbers[i]);
        call(&r, "PUT", p, c, NULL);
        ck_assert_msg(r.status == 400, "%s -> %ld", p, r.status);
        assert_error(&r, 400, NULL);
        th_response_dispose(&r);
        free(p);
    }
    /* Past int64: refused, not wrapped around onto some real session. */
    call(&r, "PUT", AC_LOGOUT "99999999999999999999999", c, NULL);
    ck_assert_msg(r.status == 400 || r.status == 404, "overflowing id -> %ld", r.status);
    th_response_dispose(&r);
    ck_assert(works(c));
    free(c);
}
END_TEST

/* Only an admin may end another user's session, and only within the admin's own tenant.
 * Otherwise any user could sign colleagues out at will (denial of service), and an admin of
 * one portal could reach into another's. */
START_TEST(logout_other_users_session)
{
    char *cbob = login("user@example.com", "user pass", NULL, NULL);
    char *ccarol = login("carol@example.com", "carol pass", NULL, NULL);
    int64_t idcarol = newest_session("carol@example.com", 1);
    char *p = path_id(AC_LOGOUT, idcarol);
    th_response_t r;
    call(&r, "PUT", p, cbob, NULL);
    assert_error(&r, 403, "Access denied");
    th_response_dispose(&r);
    ck_assert(works(ccarol));

    /* Tenant 2's admin, at tenant 2's host, aims at a session of tenant 1. */
    const char *host2 = "Host: second.test";
    char *cboss = login("boss@second.test", "boss pass", host2, NULL);
    call(&r, "PUT", p, cboss, host2);
    ck_assert_msg(r.status == 403 || r.status == 404, "cross-tenant logout -> %ld %s", r.status,
                  r.body);
    th_response_dispose(&r);
    ck_assert(works(ccarol));

    /* Tenant 1's admin aims at tenant 2's admin's session. */
    int64_t idboss = newest_session("boss@second.test", 2);
    char *admin = th_basic("admin@example.com", "correct horse");
    char *pboss = path_id(AC_LOGOUT, idboss);
    call(&r, "PUT", pboss, admin, NULL);
    ck_assert_msg(r.status == 403 || r.status == 404, "cross-tenant logout -> %ld %s", r.status,
                  r.body);
    th_response_dispose(&r);
    ck_assert(works_at(cboss, host2));

    /* Tenant 1's admin ends Carol's session. */
    call(&r, "PUT", p, admin, NULL);
    assert_true_wrapper(&r, p, "PUT");
    th_response_dispose(&r);
    for (int i = 0; i < 4; i++)
        ck_assert(!works(ccarol));
    ck_assert(works(cbob));
    free(p), free(pboss), free(cbob), free(ccarol), free(cboss), free(admin);
}
END_TEST

/* ---- ending many -------------------------------------------------------------------- */

/* "Sign out everywhere else": every other session of the caller ends, this one stays, and
 * nobody else is touched. */
START_TEST(logout_all_except_this)
{
    char *ca = login("user@example.com", "user pass", NULL, NULL);
    char *cb = login("user@example.com", "user pass", NULL, NULL);
    int64_t idb = newest_session("user@example.com", 1);
    char *cc = login("user@example.com", "user pass", NULL, NULL);
    char *ccarol = login("carol@example.com", "carol pass", NULL, NULL);
    th_response_t r;
    call(&r, "PUT", AC_EXCEPT, cb, NULL);
    json_t *j = assert_ok(&r, AC_EXCEPT, "PUT");
    ck_assert_str_eq(json_string_value(json_object_get(j, "response")), "Bob User");
    json_decref(j);
    th_response_dispose(&r);
    for (int i = 0; i < 3; i++) {
        ck_assert(!works(ca));
        ck_assert(!works(cc));
        ck_assert(works(cb));
    }
    ck_assert(works(ccarol));
    json_t *doc = list(cb);
    ck_assert_int_eq(json_array_size(items_of(doc)), 1);
    ck_assert_ptr_nonnull(item_by_id(doc, idb));
    json_decref(doc);
    free(ca), free(cb), free(cc), free(ccarol);
}
END_TEST

/* An admin signs a user out of every session; a non-admin may not, not even for themself,
 * and the admin cannot reach users of another tenant. */
START_TEST(logout_all_of_user)
{
    idd_user_t bob, carol, boss;
    th_user_row(&env, 1, "user@example.com", &bob);
    th_user_row(&env, 1, "carol@example.com", &carol);
    th_user_row(&env, 2, "boss@second.test", &boss);
    char *ca = login("user@example.com", "user pass", NULL, NULL);
    char *cb = login("user@example.com", "user pass", NULL, NULL);
    char *ccarol = login("carol@example.com", "carol pass", NULL, NULL);
    char *cadmin = login("admin@example.com", "correct horse", NULL, NULL);
    const char *host2 = "Host: second.test";
    char *cboss = login("boss@second.test", "boss pass", host2, NULL);
    char *pbob = path_str(AC_ALL, bob.id), *pcarol = path_str(AC_ALL, carol.id);
    char *pboss = path_str(AC_ALL, boss.id);
    th_response_t r;

    call(&r, "PUT", pcarol, ca, NULL);
    assert_error(&r, 403, NULL);
    th_response_dispose(&r);
    call(&r, "PUT", pbob, ca, NULL);
    assert_error(&r, 403, NULL);
    th_response_dispose(&r);
    ck_assert(works(ca) && works(cb) && works(ccarol));

    call(&r, "PUT", AC_ALL "0badc0de-0000-4000-8000-000000000000", cadmin, NULL);
    assert_error(&r, 404, NULL);
    th_response_dispose(&r);

    call(&r, "PUT", pboss, cadmin, NULL);
    ck_assert_msg(r.status == 403 || r.status == 404, "cross-tenant logoutall -> %ld %s", r.status,
                  r.body);
    th_response_dispose(&r);
    ck_assert(works_at(cboss, host2));

    call(&r, "PUT", pbob, cadmin, NULL);
    assert_true_wrapper(&r, pbob, "PUT");
    th_response_dispose(&r);
    for (int i = 0; i < 3; i++) {
        ck_assert(!works(ca));
        ck_assert(!works(cb));
    }
    ck_assert(works(cadmin) && works(ccarol));
    free(ca), free(cb), free(ccarol), free(cadmin), free(cboss), free(pbob), free(pcarol),
        free(pboss);
}
END_TEST

static void assert_password_signin(const char *email, const char *password, long want)
{
    th_response_t r;
    post_login(&r, email, password, NULL, NULL);
    ck_assert_msg(r.status == want, "password sign-in %s: %ld, want %ld", email, r.status, want);
    if (want == 401) {
        assert_error(&r, 401, AUTH_FAILED);
        ck_assert_ptr_null(th_header(&r, "set-cookie"));
    }
    th_response_dispose(&r);

    idd_store_t *s = NULL;
    idd_tenant_t t;
    ck_assert_int_eq(idd_store_open(env.db, &s), 0);
    ck_assert_int_eq(idd_store_tenant_get(s, 1, &t), 0);
    idd_store_free(s);
    char hash[65], body[512];
    th_pbkdf2_hex(password, t.password_salt, 1000, hash);
    snprintf(body, sizeof(body), "{\"userName\":\"%s\",\"passwordHash\":\"%s\"}", email, hash);
    const char *h[] = {"Content-Type: application/json", NULL};
    req(&r, "POST", AUTH_PATH, h, body);
    ck_assert_msg(r.status == want, "hash sign-in %s: %ld, want %ld", email, r.status, want);
    th_response_dispose(&r);

    char *basic = th_basic(email, password);
    call(&r, "GET", TOKEN_PATH, basic, NULL);
    ck_assert_msg(r.status == (want == 200 ? 200 : 401), "Basic %s: %ld", email, r.status);
    th_response_dispose(&r);
    free(basic);
}

/* "Sign out everywhere and change the password": for when the password itself may be
 * known to someone else. Every session ends, including this one, and the old password stops
 * working on every path (sign-in, client hash, Basic, even a Basic answer remembered by a
 * cache) until a new one is set. */
START_TEST(logout_all_change_password)
{
    char *ca = login("user@example.com", "user pass", NULL, NULL);
    char *cb = login("user@example.com", "user pass", NULL, NULL);
    char *ccarol = login("carol@example.com", "carol pass", NULL, NULL);
    char *basic = th_basic("user@example.com", "user pass");
    ck_assert(works(basic)); /* primes any Basic cache */
    ck_assert(works(basic));
    th_response_t r;
    call(&r, "PUT", AC_CHANGE, ca, NULL);
    json_t *j = assert_ok(&r, AC_CHANGE, "PUT");
    ck_assert(json_is_string(json_object_get(j, "response")));
    json_decref(j);
    th_response_dispose(&r);
    for (int i = 0; i < 3; i++) {
        ck_assert(!works(ca));
        ck_assert(!works(cb));
        ck_assert(!works(basic));
    }
    assert_password_signin("user@example.com", "user pass", 401);
    ck_assert(works(ccarol));
    assert_password_signin("carol@example.com", "carol pass", 200);

    const char *argv[] = {th_ctl(), "-c", env.config, "user", "passwd", "user@example.com", NULL};
    ck_assert_int_eq(th_run(argv, "fresh pass\n", NULL, NULL), 0);
    assert_password_signin("user@example.com", "fresh pass", 200);
    assert_password_signin("user@example.com", "user pass", 401);
    ck_assert(!works(ca));
    free(ca), free(cb), free(ccarol), free(basic);
}
END_TEST

/* Without a credential (or with a bad one) every endpoint is 401 and nothing changes. */
START_TEST(requires_credentials)
{
    idd_user_t bob;
    th_user_row(&env, 1, "user@example.com", &bob);
    char *cbob = login("user@example.com", "user pass", NULL, NULL);
    int64_t id = newest_session("user@example.com", 1);
    char *plogout = path_id(AC_LOGOUT, id), *pall = path_str(AC_ALL, bob.id);
    char *bad_basic = th_basic("admin@example.com", "wrong");
    const char *const creds[] = {NULL, "Cookie: asc_auth_key=garbage", "Authorization: garbage",
                                 bad_basic};
    const struct {
        const char *method, *path;
    } eps[] = {
        {"GET", AC_PATH}, {"PUT", plogout}, {"PUT", AC_EXCEPT}, {"PUT", pall}, {"PUT", AC_CHANGE}};
    for (size_t c = 0; c < sizeof(creds) / sizeof(creds[0]); c++)
        for (size_t e = 0; e < sizeof(eps) / sizeof(eps[0]); e++) {
            th_response_t r;
            call(&r, eps[e].method, eps[e].path, creds[c], NULL);
            ck_assert_msg(r.status == 401, "%s %s with %s -> %ld", eps[e].method, eps[e].path,
                          creds[c] ? creds[c] : "nothing", r.status);
            assert_error(&r, 401, NULL);
            th_response_dispose(&r);
        }
    ck_assert(works(cbob));
    assert_password_signin("user@example.com", "user pass", 200);
    free(cbob), free(plogout), free(pall), free(bad_basic);
}
END_TEST

static Suite *connections_suite(void)
{
    Suite *s = suite_create("connections");
    TCase *tc = tcase_create("connections");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, list_own_sessions);
    tcase_add_test(tc, list_excludes_ended);
    tcase_add_test(tc, client_ip_untrusted);
    tcase_add_test(tc, user_agent_kept_as_printable_utf8);
    tcase_add_test(tc, logout_own_by_id);
    tcase_add_test(tc, logout_bad_ids);
    tcase_add_test(tc, logout_other_users_session);
    tcase_add_test(tc, logout_all_except_this);
    tcase_add_test(tc, logout_all_of_user);
    tcase_add_test(tc, logout_all_change_password);
    tcase_add_test(tc, requires_credentials);
    suite_add_tcase(s, tc);

    TCase *proxy = tcase_create("proxy");
    tcase_add_checked_fixture(proxy, setup_proxy, teardown);
    tcase_set_timeout(proxy, 60);
    tcase_add_test(proxy, client_ip_trusted);
    suite_add_tcase(s, proxy);
    return s;
}

int main(void)
{
    return th_run_suite(connections_suite());
}
