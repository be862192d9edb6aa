/*
 * Sign-in sessions end to end: POST /api/2.0/authentication against a real identityd on a
 * loopback port with a real SQLite file, users made by identityctl, libcurl as the client.
 * Covers the sign-in body (password and DocSpace's client hash), the cookie it sets, every
 * way the session token is carried, every way a session stops working, GET and logout of
 * /api/2.0/authentication, and the session lifetimes from config. Sessions are read back
 * through the store library, and expired through the sqlite3 API, never through the server.
 */
#include <check.h>
#include <curl/curl.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "identityd/core/b64.h"
#include "identityd/store/store.h"

#define AUTH_PATH "/api/2.0/authentication"
#define LOGOUT_PATH "/api/2.0/authentication/logout"
#define SETTINGS_PATH "/api/2.0/settings"
#define TOKEN_PATH "/api/2.0/security/oauth2/token"
#define AUTH_FAILED "User authentication failed"

/* The lifetimes the main fixture configures; distinct so a mix-up shows. */
#define TTL 3600
#define BROWSER_TTL 600
#define DEFAULT_TTL (30 * 86400)
#define DEFAULT_BROWSER_TTL (12 * 3600)

static th_env_t env;
static th_server_t srv;

/* ---- plumbing --------------------------------------------------------------------------- */

static void add_users(void)
{
    ck_assert_int_eq(
        th_add_user(&env, "Admin@Example.com", "correct horse", "Ada", "Lovelace", "admin"), 0);
    ck_assert_int_eq(th_add_user(&env, "user@example.com", "user pass", "Bob", "User", "user"), 0);
    ck_assert_int_eq(th_add_user(&env, "off@example.com", "off pass", "Olga", "Off", "user"), 0);
    /* A user of tenant 2 (th_add_user has no --tenant). */
    const char *argv[] = {th_ctl(),          "-c",      env.config, "user",   "add",
                          "two@second.test", "--first", "Tia",      "--last", "Two",
                          "--role",          "user",    "--tenant", "2",      NULL};
    ck_assert_int_eq(th_run(argv, "two pass\n", NULL, NULL), 0);
}

/* The main fixture: short, distinct lifetimes; a brute-force limit high enough that the
 * deliberate failures of these tests never trip it (check_bruteforce.c covers it). No
 * trusted proxies. */
static void setup(void)
{
    th_env_init(&env,
                "session: { ttl: 3600, browser_ttl: 600 }\n"
                "bruteforce: { attempts: 50, window: 60, block: 60 }\n",
                NULL);
    add_users();
    th_server_start(&srv, &env);
}

/* Loopback is a trusted proxy; session lifetimes are left at their defaults. */
static void setup_proxy(void)
{
    th_env_init(&env, "trusted_proxies: [127.0.0.1]\n", NULL);
    add_users();
    th_server_start(&srv, &env);
}

static void teardown(void)
{
    ck_assert_int_eq(th_server_stop(&srv), 0);
    th_env_dispose(&env);
}

/* One request; th_http opens a new connection every time. */
static void req(th_response_t *r, const char *method, const char *path, const char *const headers[],
                const char *body, size_t body_len, int flags)
{
    char *u = th_url(&srv, path);
    th_http(r, method, u, headers, body, body_len, flags);
    free(u);
}

/* POSTs a JSON body with Content-Type: application/json plus up to 4 extra headers. */
static void post_json(th_response_t *r, const char *path, const char *body, size_t len,
                      const char *const extra[])
{
    const char *h[6] = {"Content-Type: application/json"};
    size_t n = 1;
    for (size_t i = 0; extra != NULL && extra[i] != NULL; i++) {
        ck_assert(n < 5);
        h[n++] = extra[i];
    }
    h[n] = NULL;
    req(r, "POST", path, h, body, len, 0);
}

static void post_str(th_response_t *r, const char *path, const char *body,
                     const char *const extra[])
{
    post_json(r, path, body, strlen(body), extra);
}

static int first_last_seen(const idd_session_t *session, void *arg)
{
    *(int64_t *)arg = session->last_seen;
    return 1;
}

static int count_headers(const th_response_t *r, const char *name)
{
    int n = 0;
    size_t nlen = strlen(name);
    for (const char *line = r->headers; line && *line;) {
        const char *end = strstr(line, "\r\n");
        if (strncasecmp(line, name, nlen) == 0 && line[nlen] == ':')
            n++;
        line = end ? end + 2 : NULL;
    }
    return n;
}

/* The error envelope with status and, unless message is NULL, exactly that message. */
static void assert_error(const th_response_t *r, long status, const char *message)
{
    th_assert_error_envelope(r, status);
    if (message != NULL)
        th_assert_error_message(r, message);
}

/* Asserts the success envelope and returns the parsed document (caller decrefs). */
static json_t *assert_ok(const th_response_t *r, const char *path, const char *action)
{
    ck_assert_msg(r->status == 200, "status %ld: %s", r->status, r->body);
    th_assert_json_content_type(r);
    json_t *j = th_json_parse(r->body);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "status")), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "statusCode")), 200);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "count")), 1);
    json_t *links = json_object_get(j, "links");
    ck_assert_int_eq(json_array_size(links), 1);
    char *href = th_url(&srv, path);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(links, 0), "href")), href);
    free(href);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(links, 0), "action")),
                     action);
    ck_assert_ptr_nonnull(json_object_get(j, "response"));
    return j;
}

/* {"userName":"E","password":"P"TAIL} (malloc'd); tail is raw JSON such as ,"session":true. */
static char *login_body(const char *email, const char *password, const char *tail)
{
    char *b = malloc(1024);
    snprintf(b, 1024, "{\"userName\":\"%s\",\"password\":\"%s\"%s}", email, password,
             tail ? tail : "");
    return b;
}

static void post_login(th_response_t *r, const char *email, const char *password, const char *tail,
                       const char *const extra[])
{
    char *b = login_body(email, password, tail);
    post_str(r, AUTH_PATH, b, extra);
    free(b);
}

/* Signs in and returns the token (malloc'd); the test fails unless the answer is 200. */
static char *login(const char *email, const char *password)
{
    th_response_t r;
    post_login(&r, email, password, NULL, NULL);
    json_t *j = assert_ok(&r, AUTH_PATH, "POST");
    char *token =
        strdup(json_string_value(json_object_get(json_object_get(j, "response"), "token")));
    json_decref(j);
    th_response_dispose(&r);
    return token;
}

static bool is_b64url_token(const char *t)
{
    if (strlen(t) != 43)
        return false;
    for (const char *c = t; *c; c++)
        if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
              *c == '-' || *c == '_'))
            return false;
    return true;
}

static time_t parse_imf(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *end = strptime(s, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    ck_assert_msg(end != NULL && *end == '\0' && strlen(s) == 29, "not an IMF-fixdate: %s", s);
    return timegm(&tm);
}

static void assert_near(long long got, long long want, long long slack, const char *what)
{
    ck_assert_msg(llabs(got - want) <= slack, "%s: %lld, want %lld ± %lld", what, got, want, slack);
}

/* One Set-Cookie header, taken apart. Attribute order is not significant (RFC 6265). */
typedef struct set_cookie {
    char name[64];
    char value[256];
    bool path_root, http_only, same_site_strict, secure, has_expires, has_max_age;
    long max_age;
    time_t expires;
    int other; /* attributes not listed above */
} set_cookie_t;

static void parse_set_cookie(const char *header, set_cookie_t *c)
{
    memset(c, 0, sizeof(*c));
    char *copy = strdup(header), *save = NULL;
    char *part = strtok_r(copy, ";", &save);
    ck_assert_ptr_nonnull(part);
    char *eq = strchr(part, '=');
    ck_assert_msg(eq != NULL, "Set-Cookie without '=': %s", header);
    *eq = '\0';
    ck_assert(strlen(part) < sizeof(c->name) && strlen(eq + 1) < sizeof(c->value));
    strcpy(c->name, part);
    strcpy(c->value, eq + 1);
    while ((part = strtok_r(NULL, ";", &save)) != NULL) {
        while (*part == ' ')
            part++;
        if (strcasecmp(part, "Path=/") == 0 && strcmp(part + 5, "/") == 0)
            c->path_root = true;
        else if (strcasecmp(part, "HttpOnly") == 0)
            c->http_only = true;
        else if (strcasecmp(part, "SameSite=Strict") == 0)
            c->same_site_strict = true;
        else if (strcasecmp(part, "Secure") == 0)
            c->secure = true;
        else if (strncasecmp(part, "Expires=", 8) == 0) {
            c->has_expires = true;
            c->expires = parse_imf(part + 8);
        } else if (strncasecmp(part, "Max-Age=", 8) == 0) {
            c->has_max_age = true;
            char *end = NULL;
            c->max_age = strtol(part + 8, &end, 10);
            ck_assert_msg(end != part + 8 && *end == '\0', "bad Max-Age in %s", header);
        } else
            c->other++;
    }
    free(copy);
}

/* The response's only Set-Cookie, parsed. */
static void the_set_cookie(const th_response_t *r, set_cookie_t *c)
{
    ck_assert_msg(count_headers(r, "set-cookie") == 1, "want one Set-Cookie in:\n%s", r->headers);
    char *sc = th_header(r, "set-cookie");
    parse_set_cookie(sc, c);
    free(sc);
}

/* Asserts a Set-Cookie that deletes asc_auth_key. */
static void assert_cookie_deleted(const th_response_t *r)
{
    set_cookie_t c;
    the_set_cookie(r, &c);
    ck_assert_str_eq(c.name, "asc_auth_key");
    ck_assert_str_eq(c.value, "");
    ck_assert(c.path_root);
    ck_assert(c.has_max_age);
    ck_assert_int_eq(c.max_age, 0);
}

/* ---- the store, read directly --------------------------------------------------------- */

#define MAX_ROWS 16
typedef struct session_rows {
    idd_session_t row[MAX_ROWS];
    size_t n;
} session_rows_t;

static int keep_row(const idd_session_t *session, void *arg)
{
    session_rows_t *rows = arg;
    ck_assert(rows->n < MAX_ROWS);
    rows->row[rows->n++] = *session;
    return 0;
}

/* The user's active, unexpired sessions as the store lists them (newest first). */
static size_t live_sessions(const char *email, int64_t tenant, session_rows_t *rows)
{
    idd_user_t u;
    th_user_row(&env, tenant, email, &u);
    memset(rows, 0, sizeof(*rows));
    idd_store_t *s = NULL;
    ck_assert_int_eq(idd_store_open(env.db, &s), 0);
    ck_assert_int_eq(idd_store_session_list_user(s, u.id, (int64_t)time(NULL), keep_row, rows), 0);
    idd_store_free(s);
    return rows->n;
}

static size_t count_live(const char *email, int64_t tenant)
{
    session_rows_t rows;
    return live_sessions(email, tenant, &rows);
}

/* The id of the user's newest live session (the one a login just made). */
static int64_t newest_session(const char *email)
{
    session_rows_t rows;
    ck_assert(live_sessions(email, 1, &rows) > 0);
    int64_t id = 0;
    for (size_t i = 0; i < rows.n; i++)
        if (rows.row[i].id > id)
            id = rows.row[i].id;
    return id;
}

static void session_row(int64_t id, idd_session_t *out)
{
    idd_store_t *s = NULL;
    ck_assert_int_eq(idd_store_open(env.db, &s), 0);
    ck_assert_int_eq(idd_store_session_by_id(s, id, out), 0);
    idd_store_free(s);
}

static void ctl_user(const char *verb, const char *email, const char *stdin_text)
{
    const char *argv[] = {th_ctl(), "-c", env.config, "user", verb, email, NULL};
    char *err = NULL;
    int rc = th_run(argv, stdin_text, NULL, &err);
    ck_assert_msg(rc == 0, "identityctl user %s %s: %s", verb, email, err);
    free(err);
    /* Another process's change: the server sees it at its next change check (cache.*). */
    th_wait_changes_seen(&srv, &env);
}

/* ---- tokens from the token endpoint --------------------------------------------------- */

/* GET the token endpoint with one credential header; returns the claims (caller decrefs). */
static json_t *token_claims(const char *header)
{
    th_response_t r;
    th_get(&r, &srv, TOKEN_PATH, header);
    json_t *j = assert_ok(&r, TOKEN_PATH, "GET");
    json_t *claims = th_jwt_part(json_string_value(json_object_get(j, "response")), 1);
    json_decref(j);
    th_response_dispose(&r);
    return claims;
}

/* Asserts that the session in `header` is refused at the token endpoint: 401, the error
 * envelope, a Bearer invalid_token challenge, and a cookie deletion exactly when the
 * credential came from the cookie. */
static void assert_refused(const char *header)
{
    th_response_t r;
    th_get(&r, &srv, TOKEN_PATH, header);
    assert_error(&r, 401, NULL);
    char *wa = th_header(&r, "www-authenticate");
    ck_assert_msg(wa != NULL, "no WWW-Authenticate for %.60s", header);
    ck_assert_msg(strncmp(wa, "Bearer", 6) == 0 && strstr(wa, "error=\"invalid_token\"") != NULL,
                  "WWW-Authenticate: %s", wa);
    free(wa);
    if (strncasecmp(header, "Cookie:", 7) == 0)
        assert_cookie_deleted(&r);
    else
        ck_assert_int_eq(count_headers(&r, "set-cookie"), 0);
    th_response_dispose(&r);
}

/* Refused both as cookie and as raw Authorization header. */
static void assert_token_refused(const char *token)
{
    char *c = th_strf("Cookie: asc_auth_key=%s", token);
    char *a = th_strf("Authorization: %s", token);
    assert_refused(c);
    assert_refused(a);
    free(c);
    free(a);
}

/* GET /api/2.0/authentication with one header (may be NULL); returns response's value. */
static bool is_authenticated(const char *header)
{
    th_response_t r;
    th_get(&r, &srv, AUTH_PATH, header);
    json_t *j = assert_ok(&r, AUTH_PATH, "GET");
    json_t *v = json_object_get(j, "response");
    ck_assert_msg(json_is_boolean(v), "response is not a boolean: %s", r.body);
    bool b = json_is_true(v);
    json_decref(j);
    th_response_dispose(&r);
    return b;
}

/* ---- sign-in ---------------------------------------------------------------------------- */

/* The 200 path: body shape, the cookie, the stored session, and that the token it hands out
 * is a working credential for the user who signed in. */
START_TEST(login_with_password)
{
    time_t before = time(NULL);
    th_response_t r;
    post_login(&r, "user@example.com", "user pass", NULL, NULL);
    json_t *j = assert_ok(&r, AUTH_PATH, "POST");
    ck_assert_int_eq(json_object_size(j), 5);
    json_t *resp = json_object_get(j, "response");
    ck_assert(json_is_object(resp));
    const char *token = json_string_value(json_object_get(resp, "token"));
    ck_assert_msg(token != NULL && is_b64url_token(token), "token %s", token ? token : "(none)");
    time_t expires = th_parse_iso(json_string_value(json_object_get(resp, "expires")));
    assert_near(expires, before + TTL, 5, "response.expires");
    ck_assert(json_is_false(json_object_get(resp, "sms")));
    ck_assert(json_is_false(json_object_get(resp, "tfa")));

    set_cookie_t c;
    the_set_cookie(&r, &c);
    ck_assert_str_eq(c.name, "asc_auth_key");
    ck_assert_str_eq(c.value, token);
    ck_assert(c.path_root && c.http_only && c.same_site_strict);
    ck_assert_msg(!c.secure, "Secure over plain http from an untrusted peer");
    ck_assert(c.has_expires && !c.has_max_age);
    ck_assert_int_eq(c.other, 0);
    assert_near(c.expires, expires, 1, "cookie Expires vs response.expires");

    /* One stored session, for this user, from this address, with the configured lifetime. */
    idd_user_t u;
    th_user_row(&env, 1, "user@example.com", &u);
    session_rows_t rows;
    ck_assert_int_eq(live_sessions("user@example.com", 1, &rows), 1);
    ck_assert_str_eq(rows.row[0].user_id, u.id);
    ck_assert_int_eq(rows.row[0].tenant_id, 1);
    ck_assert_str_eq(rows.row[0].ip, "127.0.0.1");
    ck_assert_int_eq(rows.row[0].browser_session, 0);
    ck_assert_int_eq(rows.row[0].active, 1);
    assert_near(rows.row[0].expires, before + TTL, 5, "stored expires");

    /* The session is the same user as Basic says: every claim but the per-token ones. */
    char *cookie = th_strf("Cookie: asc_auth_key=%s", token);
    char *basic = th_basic("user@example.com", "user pass");
    json_t *by_session = token_claims(cookie);
    json_t *by_basic = token_claims(basic);
    ck_assert_str_eq(json_string_value(json_object_get(by_session, "sub")), u.id);
    static const char *const same[] = {"sub",       "user_id",    "user_name", "user_email",
                                       "tenant_id", "tenant_url", "is_admin",  "is_guest",
                                       "is_public", "iss",        "aud"};
    for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
        json_t *a = json_object_get(by_session, same[i]), *b = json_object_get(by_basic, same[i]);
        ck_assert_msg(json_is_string(a) && json_equal(a, b), "claim %s differs", same[i]);
    }
    json_decref(by_session);
    json_decref(by_basic);
    free(cookie);
    free(basic);
    json_decref(j);
    th_response_dispose(&r);

    /* Each sign-in is its own session with its own token. */
    char *t1 = login("user@example.com", "user pass");
    char *t2 = login("USER@example.COM", "user pass");
    ck_assert_str_ne(t1, t2);
    ck_assert_int_eq(count_live("user@example.com", 1), 3);
    free(t1);
    free(t2);
}
END_TEST

/* Fetches the published hash parameters at host (NULL: the default), checks their shape,
 * and copies the salt out. */
static void settings_salt(const char *host_header, char salt[65])
{
    th_response_t r;
    th_get(&r, &srv, SETTINGS_PATH, host_header);
    ck_assert_msg(r.status == 200, "settings: %ld %s", r.status, r.body);
    json_t *j = th_json_parse(r.body);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "status")), 0);
    json_t *ph = json_object_get(json_object_get(j, "response"), "passwordHash");
    ck_assert_msg(json_is_object(ph), "no response.passwordHash: %s", r.body);
    ck_assert_int_eq(json_integer_value(json_object_get(ph, "size")), 256);
    ck_assert_int_eq(json_integer_value(json_object_get(ph, "iterations")), 1000);
    const char *s = json_string_value(json_object_get(ph, "salt"));
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(strlen(s), 64);
    ck_assert_int_eq(strspn(s, "0123456789abcdef"), 64);
    strcpy(salt, s);
    json_decref(j);
    th_response_dispose(&r);
}

/* DocSpace's web client signs in with the client hash it computes from GET /settings. */
START_TEST(login_with_password_hash)
{
    char salt[65], hash[65];
    settings_salt(NULL, salt);
    idd_store_t *s = NULL;
    idd_tenant_t t1, t2;
    ck_assert_int_eq(idd_store_open(env.db, &s), 0);
    ck_assert_int_eq(idd_store_tenant_get(s, 1, &t1), 0);
    ck_assert_int_eq(idd_store_tenant_get(s, 2, &t2), 0);
    idd_store_free(s);
    ck_assert_str_eq(salt, t1.password_salt);

    th_pbkdf2_hex("user pass", salt, 1000, hash);
    char body[512];
    snprintf(body, sizeof(body), "{\"userName\":\"user@example.com\",\"passwordHash\":\"%s\"}",
             hash);
    th_response_t r;
    post_str(&r, AUTH_PATH, body, NULL);
    json_t *j = assert_ok(&r, AUTH_PATH, "POST");
    const char *token = json_string_value(json_object_get(json_object_get(j, "response"), "token"));
    ck_assert(token != NULL && is_b64url_token(token));
    char *auth = th_strf("Authorization: %s", token);
    ck_assert(is_authenticated(auth));
    free(auth);
    json_decref(j);
    th_response_dispose(&r);

    /* The hash of another password is refused like a wrong password. */
    th_pbkdf2_hex("user pasS", salt, 1000, hash);
    snprintf(body, sizeof(body), "{\"userName\":\"user@example.com\",\"passwordHash\":\"%s\"}",
             hash);
    post_str(&r, AUTH_PATH, body, NULL);
    assert_error(&r, 401, AUTH_FAILED);
    ck_assert_int_eq(count_headers(&r, "set-cookie"), 0);
    th_response_dispose(&r);

    /* Tenant 2 publishes its own salt, and its users sign in with hashes made from it. */
    char salt2[65];
    settings_salt("Host: second.test", salt2);
    ck_assert_str_eq(salt2, t2.password_salt);
    ck_assert_str_ne(salt2, salt);
    th_pbkdf2_hex("two pass", salt2, 1000, hash);
    snprintf(body, sizeof(body), "{\"userName\":\"two@second.test\",\"passwordHash\":\"%s\"}",
             hash);
    const char *host2[] = {"Host: second.test", NULL};
    post_str(&r, AUTH_PATH, body, host2);
    ck_assert_msg(r.status == 200, "tenant 2 hash sign-in: %ld %s", r.status, r.body);
    th_response_dispose(&r);
    ck_assert_int_eq(count_live("user@example.com", 1), 1);
    ck_assert_int_eq(count_live("two@second.test", 2), 1);
}
END_TEST

/* Every wrong credential is the same 401, with no cookie and no session. The answers for a
 * wrong password and for a user that does not exist are byte-identical: otherwise the
 * endpoint tells an attacker which addresses have accounts (account enumeration). */
START_TEST(login_failures)
{
    th_response_t wrong, unknown, r;
    post_login(&wrong, "user@example.com", "wrong pass", NULL, NULL);
    assert_error(&wrong, 401, AUTH_FAILED);
    ck_assert_int_eq(count_headers(&wrong, "set-cookie"), 0);
    post_login(&unknown, "nobody@example.com", "user pass", NULL, NULL);
    assert_error(&unknown, 401, AUTH_FAILED);
    ck_assert_int_eq(count_headers(&unknown, "set-cookie"), 0);
    ck_assert_str_eq(wrong.body, unknown.body);
    th_response_dispose(&wrong);
    th_response_dispose(&unknown);

    post_login(&r, "user@example.com", "", NULL, NULL);
    ck_assert_msg(r.status == 401 || r.status == 400, "empty password: %ld", r.status);
    assert_error(&r, r.status, NULL);
    ck_assert_int_eq(count_headers(&r, "set-cookie"), 0);
    th_response_dispose(&r);

    /* A disabled account is refused even with its right password. */
    ctl_user("disable", "off@example.com", NULL);
    post_login(&r, "off@example.com", "off pass", NULL, NULL);
    assert_error(&r, 401, AUTH_FAILED);
    ck_assert_int_eq(count_headers(&r, "set-cookie"), 0);
    th_response_dispose(&r);

    /* The right password at another tenant's host: the user does not exist there. */
    const char *host2[] = {"Host: second.test", NULL};
    post_login(&r, "user@example.com", "user pass", NULL, host2);
    assert_error(&r, 401, AUTH_FAILED);
    ck_assert_int_eq(count_headers(&r, "set-cookie"), 0);
    th_response_dispose(&r);

    ck_assert_int_eq(count_live("user@example.com", 1), 0);
    ck_assert_int_eq(count_live("off@example.com", 1), 0);
}
END_TEST

/* Malformed bodies are 400 and create nothing, even when they carry the right password: a
 * parser that half-accepts input (a session flag of the wrong type, two credentials at once)
 * must not end up signing anyone in. */
START_TEST(login_malformed)
{
    static const char *const bad[] = {
        "",
        "not json",
        "{\"userName\":\"user@example.com\",\"password\":\"user pass\"",   /* truncated */
        "{\"userName\":\"user@example.com\",\"password\":\"user pass\"}x", /* trailing garbage */
        "[\"user@example.com\",\"user pass\"]",
        "\"user@example.com\"",
        "null",
        "42",
        "{}",
        "{\"password\":\"user pass\"}",
        "{\"userName\":\"\",\"password\":\"user pass\"}",
        "{\"userName\":42,\"password\":\"user pass\"}",
        "{\"userName\":null,\"password\":\"user pass\"}",
        "{\"userName\":[\"user@example.com\"],\"password\":\"user pass\"}",
        "{\"userName\":\"user@example.com\"}",
        "{\"userName\":\"user@example.com\",\"password\":42}",
        "{\"userName\":\"user@example.com\",\"password\":true}",
        "{\"userName\":\"user@example.com\",\"password\":{\"x\":1}}",
        "{\"userName\":\"user@example.com\",\"passwordHash\":12}",
        "{\"userName\":\"user@example.com\",\"passwordHash\":\"abc\"}",
        /* 63, 65 and 64-but-not-hex characters */
        "{\"userName\":\"user@example.com\",\"passwordHash\":"
        "\"000000000000000000000000000000000000000000000000000000000000000\"}",
        "{\"userName\":\"user@example.com\",\"passwordHash\":"
        "\"00000000000000000000000000000000000000000000000000000000000000000\"}",
        "{\"userName\":\"user@example.com\",\"passwordHash\":"
        "\"g000000000000000000000000000000000000000000000000000000000000000\"}",
        "{\"userName\":\"user@example.com\",\"password\":\"user pass\",\"passwordHash\":"
        "\"0000000000000000000000000000000000000000000000000000000000000000\"}",
        "{\"userName\":\"user@example.com\",\"password\":\"user pass\",\"session\":\"true\"}",
        "{\"userName\":\"user@example.com\",\"password\":\"user pass\",\"session\":1}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        th_response_t r;
        post_str(&r, AUTH_PATH, bad[i], NULL);
        ck_assert_msg(r.status == 400, "body %s -> %ld %s", bad[i], r.status, r.body);
        assert_error(&r, 400, NULL);
        ck_assert_msg(count_headers(&r, "set-cookie") == 0, "Set-Cookie for %s", bad[i]);
        th_response_dispose(&r);
    }
    ck_assert_int_eq(count_live("user@example.com", 1), 0);

    /* Over 64 KiB: 413, even with valid credentials inside. Exactly 64 KiB is accepted. */
    const char *head = "{\"userName\":\"user@example.com\",\"password\":\"user pass\",\"pad\":\"";
    size_t size = 64 * 1024 + 1;
    char *big = malloc(size + 1);
    strcpy(big, head);
    memset(big + strlen(head), 'x', size - strlen(head) - 2);
    strcpy(big + size - 2, "\"}");
    th_response_t r;
    post_json(&r, AUTH_PATH, big, size, NULL);
    assert_error(&r, 413, NULL);
    ck_assert_int_eq(count_headers(&r, "set-cookie"), 0);
    th_response_dispose(&r);
    ck_assert_int_eq(count_live("user@example.com", 1), 0);

    size = 64 * 1024;
    memset(big + strlen(head), 'x', size - strlen(head) - 2);
    strcpy(big + size - 2, "\"}");
    post_json(&r, AUTH_PATH, big, size, NULL);
    ck_assert_msg(r.status == 200, "exactly 64 KiB: %ld %s", r.status, r.body);
    th_response_dispose(&r);
    free(big);

    /* Fields identityd does not know are ignored. */
    post_login(&r, "user@example.com", "user pass",
               ",\"provider\":{\"a\":[1,2]},\"rememberMe\":true,\"code\":null", NULL);
    ck_assert_msg(r.status == 200, "extra fields: %ld %s", r.status, r.body);
    th_response_dispose(&r);
    ck_assert_int_eq(count_live("user@example.com", 1), 2);
}
END_TEST

/* "session": null is not a boolean either (DocSpace's DTO field is a non-nullable bool, so
 * its JSON reader refuses null): 400, like every other wrong type. */
START_TEST(login_session_null)
{
    th_response_t r;
    post_login(&r, "user@example.com", "user pass", ",\"session\":null", NULL);
    assert_error(&r, 400, NULL);
    ck_assert_int_eq(count_headers(&r, "set-cookie"), 0);
    th_response_dispose(&r);
    ck_assert_int_eq(count_live("user@example.com", 1), 0);
}
END_TEST

/* ---- carrying the session ------------------------------------------------------------- */

/* Every way a client carries the token works, and each is the same user. */
START_TEST(session_transports)
{
    char *token = login("user@example.com", "user pass");
    idd_user_t u;
    th_user_row(&env, 1, "user@example.com", &u);
    char *forms[6];
    forms[0] = th_strf("Cookie: asc_auth_key=%s", token);
    forms[1] = th_strf("Cookie: a=1; asc_auth_key=%s; b=2", token);
    forms[2] = th_strf("Cookie: asc_auth_key=\"%s\"", token);
    forms[3] = th_strf("Authorization: %s", token);
    forms[4] = th_strf("Authorization: Bearer %s", token);
    forms[5] = NULL;
    for (int i = 0; forms[i] != NULL; i++) {
        json_t *claims = token_claims(forms[i]);
        ck_assert_msg(strcmp(json_string_value(json_object_get(claims, "sub")), u.id) == 0,
                      "wrong sub via %s", forms[i]);
        json_decref(claims);
        ck_assert_msg(is_authenticated(forms[i]), "not authenticated via %s", forms[i]);
    }

    /* HTTP/2 (h2c), where the cookie travels in its own header field. */
    const char *h2[] = {forms[1], NULL};
    th_response_t r;
    req(&r, "GET", TOKEN_PATH, h2, NULL, 0, TH_HTTP2);
    ck_assert_int_eq(r.http_version, CURL_HTTP_VERSION_2_0);
    json_t *j = assert_ok(&r, TOKEN_PATH, "GET");
    json_t *claims = th_jwt_part(json_string_value(json_object_get(j, "response")), 1);
    ck_assert_str_eq(json_string_value(json_object_get(claims, "sub")), u.id);
    json_decref(claims);
    json_decref(j);
    th_response_dispose(&r);

    /* HTTP/2 lets a client send its cookies as several `cookie` fields (RFC 9113 8.2.3):
     * the session may be in any of them. */
    char *crumb = th_strf("Cookie: asc_auth_key=%s", token);
    const char *crumbs[] = {"Cookie: a=1", crumb, "Cookie: b=2", NULL};
    req(&r, "GET", TOKEN_PATH, crumbs, NULL, 0, TH_HTTP2);
    ck_assert_int_eq(r.http_version, CURL_HTTP_VERSION_2_0);
    ck_assert_msg(r.status == 200, "split cookie fields over h2: %ld %s", r.status, r.body);
    th_response_dispose(&r);
    free(crumb);

    /* A cookie whose name merely ends in asc_auth_key is not the session cookie. */
    char *lookalike = th_strf("Cookie: not_asc_auth_key=%s", token);
    th_get(&r, &srv, TOKEN_PATH, lookalike);
    ck_assert_int_eq(r.status, 401);
    th_response_dispose(&r);
    free(lookalike);

    /* The same tenant under another of its domains accepts the session. */
    const char *other_domain[] = {forms[0], "Host: localhost", NULL};
    req(&r, "GET", TOKEN_PATH, other_domain, NULL, 0, 0);
    ck_assert_msg(r.status == 200, "Host: localhost: %ld %s", r.status, r.body);
    th_response_dispose(&r);

    for (int i = 0; forms[i] != NULL; i++)
        free(forms[i]);
    free(token);
}
END_TEST

/* Tokens that were never issued are refused, however close they are to a real one. An
 * attacker who can guess, truncate or extend a token must get nothing: a comparison over a
 * prefix, or one that stops at the shorter length, would let a modified token through. */
START_TEST(session_garbage_refused)
{
    char *token = login("user@example.com", "user pass");
    size_t len = strlen(token);
    char flipped[64], shorter[64], longer[64];
    strcpy(flipped, token);
    flipped[len - 1] = flipped[len - 1] == 'A' ? 'B' : 'A';
    strcpy(shorter, token);
    shorter[len - 1] = '\0';
    snprintf(longer, sizeof(longer), "%sA", token);
    char first_flipped[64];
    strcpy(first_flipped, token);
    first_flipped[0] = first_flipped[0] == 'A' ? 'B' : 'A';
    char *huge = malloc(4001);
    memset(huge, 'A', 4000);
    huge[4000] = '\0';
    const char *const bad[] = {"garbage", flipped, first_flipped,
                               shorter,   longer,  "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                               huge};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_token_refused(bad[i]);
        char *c = th_strf("Cookie: asc_auth_key=%s", bad[i]);
        ck_assert(!is_authenticated(c));
        free(c);
    }
    free(huge);
    ck_assert(!is_authenticated("Authorization: garbage"));
    char *good = th_strf("Cookie: asc_auth_key=%s", token);
    ck_assert(is_authenticated(good));
    free(good);
    free(token);
}
END_TEST

/* An expired session is refused. It is expired in the database before its first use, so no
 * cache of the server could have seen it alive. */
START_TEST(session_expired)
{
    char *token = login("user@example.com", "user pass");
    int64_t id = newest_session("user@example.com");
    char stmt[128];
    snprintf(stmt, sizeof(stmt), "UPDATE login_events SET expires = %lld WHERE id = %lld",
             (long long)time(NULL) - 10, (long long)id);
    th_sql(&env, stmt);
    assert_token_refused(token);
    char *c = th_strf("Cookie: asc_auth_key=%s", token);
    ck_assert(!is_authenticated(c));
    free(c);
    ck_assert_int_eq(count_live("user@example.com", 1), 0);
    free(token);
}
END_TEST

/* Disabling an account ends its sessions at once, on every thread, and re-enabling it does
 * not bring them back: an admin who locks out a compromised account must not have a stolen
 * cookie keep working (or revive later). */
START_TEST(session_user_disabled)
{
    char *token = login("user@example.com", "user pass");
    char *c = th_strf("Cookie: asc_auth_key=%s", token), *a = th_strf("Authorization: %s", token);
    for (int i = 0; i < 4; i++)
        ck_assert(is_authenticated(i % 2 ? c : a)); /* warm whatever the threads cache */
    ctl_user("disable", "user@example.com", NULL);
    for (int i = 0; i < 3; i++)
        assert_token_refused(token);
    ctl_user("enable", "user@example.com", NULL);
    for (int i = 0; i < 3; i++)
        assert_token_refused(token);
    free(c);
    free(a);
    free(token);
    token = login("user@example.com", "user pass");
    free(token);
}
END_TEST

/* A password change ends every session: changing the password is what a user does when a
 * session may be stolen. */
START_TEST(session_password_changed)
{
    char *token = login("user@example.com", "user pass");
    char *c = th_strf("Cookie: asc_auth_key=%s", token), *a = th_strf("Authorization: %s", token);
    for (int i = 0; i < 4; i++)
        ck_assert(is_authenticated(i % 2 ? c : a));
    ctl_user("passwd", "user@example.com", "brand new pass\n");
    for (int i = 0; i < 3; i++)
        assert_token_refused(token);
    th_response_t r;
    post_login(&r, "user@example.com", "user pass", NULL, NULL);
    assert_error(&r, 401, AUTH_FAILED);
    th_response_dispose(&r);
    free(token);
    token = login("user@example.com", "brand new pass");
    free(token);
    free(c);
    free(a);
}
END_TEST

/* A session belongs to its tenant: presented at another tenant's host it is refused, or a
 * user of one portal would be signed in to every portal on the same server. */
START_TEST(session_other_tenant)
{
    char *token = login("user@example.com", "user pass");
    char *c = th_strf("Cookie: asc_auth_key=%s", token), *a = th_strf("Authorization: %s", token);
    const char *const forms[] = {c, a};
    for (int i = 0; i < 2; i++) {
        const char *h[] = {forms[i], "Host: second.test", NULL};
        th_response_t r;
        req(&r, "GET", TOKEN_PATH, h, NULL, 0, 0);
        assert_error(&r, 401, NULL);
        char *wa = th_header(&r, "www-authenticate");
        ck_assert(wa != NULL && strstr(wa, "invalid_token") != NULL);
        free(wa);
        th_response_dispose(&r);
        req(&r, "GET", AUTH_PATH, h, NULL, 0, 0);
        ck_assert_int_eq(r.status, 200);
        json_t *j = th_json_parse(r.body);
        ck_assert(json_is_false(json_object_get(j, "response")));
        json_decref(j);
        th_response_dispose(&r);
    }
    free(c);
    free(a);
    free(token);
}
END_TEST

/* GET /api/2.0/authentication says whether the caller is signed in, and is 200 either way. */
START_TEST(authentication_check)
{
    char *token = login("user@example.com", "user pass");
    char *c = th_strf("Cookie: asc_auth_key=%s", token), *a = th_strf("Authorization: %s", token);
    char *bearer = th_strf("Authorization: Bearer %s", token);
    char *basic = th_basic("user@example.com", "user pass");
    char *bad_basic = th_basic("user@example.com", "not it");
    ck_assert(!is_authenticated(NULL));
    ck_assert(is_authenticated(c));
    ck_assert(is_authenticated(a));
    ck_assert(is_authenticated(bearer));
    ck_assert(is_authenticated(basic));
    ck_assert(!is_authenticated(bad_basic));
    ck_assert(!is_authenticated("Cookie: asc_auth_key=garbage"));
    ck_assert(!is_authenticated("Authorization: garbage"));
    free(c), free(a), free(bearer), free(basic), free(bad_basic), free(token);
}
END_TEST

/* Logout ends exactly the session it was called with, at once, for every thread. A logout
 * that only cleared the browser's cookie would leave a copied token working. */
START_TEST(logout)
{
    char *ta = login("user@example.com", "user pass");
    int64_t ida = newest_session("user@example.com");
    char *tb = login("user@example.com", "user pass");
    char *ca = th_strf("Cookie: asc_auth_key=%s", ta);
    char *cb = th_strf("Cookie: asc_auth_key=%s", tb), *ab = th_strf("Authorization: %s", tb);
    ck_assert(is_authenticated(ca));

    const char *h[] = {ca, NULL};
    th_response_t r;
    req(&r, "POST", LOGOUT_PATH, h, NULL, 0, 0);
    json_t *j = assert_ok(&r, LOGOUT_PATH, "POST");
    ck_assert(json_is_string(json_object_get(j, "response")));
    json_decref(j);
    assert_cookie_deleted(&r);
    th_response_dispose(&r);

    for (int i = 0; i < 3; i++)
        assert_token_refused(ta); /* 6 requests, each on a new connection */
    ck_assert(!is_authenticated(ca));
    idd_session_t row;
    session_row(ida, &row);
    ck_assert_int_eq(row.active, 0);

    /* The other session of the same user is untouched... */
    ck_assert(is_authenticated(cb));
    json_t *claims = token_claims(ab);
    json_decref(claims);
    /* ...until it logs out too, here with the header form. */
    const char *hb[] = {ab, NULL};
    req(&r, "POST", LOGOUT_PATH, hb, NULL, 0, 0);
    j = assert_ok(&r, LOGOUT_PATH, "POST");
    json_decref(j);
    assert_cookie_deleted(&r);
    th_response_dispose(&r);
    for (int i = 0; i < 3; i++)
        assert_token_refused(tb);
    ck_assert_int_eq(count_live("user@example.com", 1), 0);
    free(ca), free(cb), free(ab), free(ta), free(tb);
}
END_TEST

/* "session": true is a browser session: no Expires on the cookie, the short lifetime. */
START_TEST(browser_session_lifetime)
{
    time_t before = time(NULL);
    th_response_t r;
    post_login(&r, "user@example.com", "user pass", ",\"session\":true", NULL);
    json_t *j = assert_ok(&r, AUTH_PATH, "POST");
    json_t *resp = json_object_get(j, "response");
    /* DocSpace's unset DateTime: the session has no lifetime a client should plan on */
    ck_assert_str_eq(json_string_value(json_object_get(resp, "expires")), "0001-01-01T00:00:00");
    set_cookie_t c;
    the_set_cookie(&r, &c);
    ck_assert_str_eq(c.value, json_string_value(json_object_get(resp, "token")));
    ck_assert(c.path_root && c.http_only && c.same_site_strict && !c.secure);
    ck_assert_msg(!c.has_expires && !c.has_max_age, "a browser session cookie must not persist");
    char *auth = th_strf("Authorization: %s", c.value);
    ck_assert(is_authenticated(auth));
    free(auth);
    json_decref(j);
    th_response_dispose(&r);
    idd_session_t row;
    session_row(newest_session("user@example.com"), &row);
    ck_assert_int_eq(row.browser_session, 1);
    assert_near(row.expires, before + BROWSER_TTL, 5, "stored expires (session: true)");

    before = time(NULL);
    post_login(&r, "user@example.com", "user pass", ",\"session\":false", NULL);
    j = assert_ok(&r, AUTH_PATH, "POST");
    resp = json_object_get(j, "response");
    assert_near(th_parse_iso(json_string_value(json_object_get(resp, "expires"))), before + TTL, 5,
                "response.expires (session: false)");
    the_set_cookie(&r, &c);
    ck_assert(c.has_expires);
    assert_near(c.expires, before + TTL, 5, "cookie Expires (session: false)");
    json_decref(j);
    th_response_dispose(&r);
}
END_TEST

/* The database and the log never hold a session token: whoever reads a backup of the
 * database file or the log must not be able to ride a live session. */
/* last_seen of a session, from the database. */
static int64_t stored_last_seen(const char *email)
{
    idd_user_t u;
    th_user_row(&env, 1, email, &u);
    idd_store_t *store = NULL;
    ck_assert_int_eq(idd_store_open(env.db, &store), 0);
    int64_t last_seen = -1;
    ck_assert_int_eq(
        idd_store_session_list_user(store, u.id, (int64_t)time(NULL), first_last_seen, &last_seen),
        0);
    idd_store_free(store);
    return last_seen;
}

/* Using a session writes last_seen at most once a minute: a session seen 30 s ago is not
 * written again, one last seen two minutes ago is. Otherwise every request would be a write.
 * (Each session is used first after its row is set: the credential cache keeps the
 * last_seen it read, and a touch from outside moves nothing it watches.) */
START_TEST(last_seen_is_coalesced)
{
    char *token = login("user@example.com", "user pass");
    char auth[128];
    snprintf(auth, sizeof(auth), "Authorization: %s", token);
    const char *h[] = {auth, NULL};
    int64_t now = (int64_t)time(NULL);

    char *sql = th_strf("UPDATE login_events SET last_seen = %lld", (long long)(now - 30));
    th_sql(&env, sql);
    free(sql);
    th_response_t r;
    for (int i = 0; i < 3; i++) {
        req(&r, "GET", TOKEN_PATH, h, NULL, 0, 0);
        ck_assert_int_eq(r.status, 200);
        th_response_dispose(&r);
    }
    ck_assert_int_eq(stored_last_seen("user@example.com"), now - 30);
    free(token);

    token = login("off@example.com", "off pass");
    snprintf(auth, sizeof(auth), "Authorization: %s", token);
    sql = th_strf("UPDATE login_events SET last_seen = %lld", (long long)(now - 120));
    th_sql(&env, sql);
    free(sql);
    for (int i = 0; i < 3; i++) {
        req(&r, "GET", TOKEN_PATH, h, NULL, 0, 0);
        ck_assert_int_eq(r.status, 200);
        th_response_dispose(&r);
    }
    ck_assert_int_ge(stored_last_seen("off@example.com"), now);
    free(token);
}
END_TEST

START_TEST(token_not_stored_or_logged)
{
    TH_SKIP_UNLESS_SQLITE("reads the SQLite file and its -wal file for the token");
    char *token = login("user@example.com", "user pass");
    unsigned char raw[64];
    size_t raw_len = 0;
    ck_assert_int_eq(idd_b64url_decode(raw, &raw_len, token, strlen(token)), 0);
    ck_assert_int_eq(raw_len, 32);
    char wal[TH_PATH + 8];
    snprintf(wal, sizeof(wal), "%s-wal", env.db);
    const char *const files[] = {env.db, wal, srv.log};
    for (size_t i = 0; i < 3; i++) {
        ck_assert_msg(!th_file_contains(files[i], token, strlen(token)), "token text in %s",
                      files[i]);
        ck_assert_msg(!th_file_contains(files[i], raw, raw_len), "token bytes in %s", files[i]);
    }
    ck_assert_msg(!th_file_contains(srv.log, "user pass", 9), "password in the log");
    free(token);
}
END_TEST

/* X-Forwarded-Proto from a peer that is not a trusted proxy is ignored: otherwise any client
 * could steer what the server believes about the connection. */
START_TEST(forwarded_proto_untrusted)
{
    const char *h[] = {"X-Forwarded-Proto: https", NULL};
    th_response_t r;
    post_login(&r, "user@example.com", "user pass", NULL, h);
    ck_assert_int_eq(r.status, 200);
    set_cookie_t c;
    the_set_cookie(&r, &c);
    ck_assert(!c.secure);
    th_response_dispose(&r);
}
END_TEST

/* ---- with loopback as a trusted proxy and default lifetimes -------------------------- */

/* Behind a TLS-terminating proxy the cookie is Secure, so a browser never sends it over
 * plain http where a network attacker could read it. */
START_TEST(forwarded_proto_trusted)
{
    const char *https[] = {"X-Forwarded-Proto: https", NULL};
    const char *http[] = {"X-Forwarded-Proto: http", NULL};
    th_response_t r;
    set_cookie_t c;
    post_login(&r, "user@example.com", "user pass", NULL, https);
    ck_assert_int_eq(r.status, 200);
    the_set_cookie(&r, &c);
    ck_assert(c.secure && c.http_only && c.same_site_strict && c.path_root);
    th_response_dispose(&r);

    post_login(&r, "user@example.com", "user pass", NULL, http);
    ck_assert_int_eq(r.status, 200);
    the_set_cookie(&r, &c);
    ck_assert(!c.secure);
    th_response_dispose(&r);

    post_login(&r, "user@example.com", "user pass", NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    the_set_cookie(&r, &c);
    ck_assert(!c.secure);
    th_response_dispose(&r);
}
END_TEST

/* Without a session: section the lifetimes are 30 days and 12 hours. */
START_TEST(default_lifetimes)
{
    time_t before = time(NULL);
    th_response_t r;
    post_login(&r, "user@example.com", "user pass", NULL, NULL);
    json_t *j = assert_ok(&r, AUTH_PATH, "POST");
    assert_near(
        th_parse_iso(json_string_value(json_object_get(json_object_get(j, "response"), "expires"))),
        before + DEFAULT_TTL, 5, "default response.expires");
    set_cookie_t c;
    the_set_cookie(&r, &c);
    ck_assert(c.has_expires);
    assert_near(c.expires, before + DEFAULT_TTL, 5, "default cookie Expires");
    json_decref(j);
    th_response_dispose(&r);

    before = time(NULL);
    post_login(&r, "user@example.com", "user pass", ",\"session\":true", NULL);
    j = assert_ok(&r, AUTH_PATH, "POST");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "response"), "expires")),
                     "0001-01-01T00:00:00");
    /* the stored row still ends after the browser lifetime */
    idd_session_t row;
    session_row(newest_session("user@example.com"), &row);
    assert_near(row.expires, before + DEFAULT_BROWSER_TTL, 5, "default browser stored expires");
    the_set_cookie(&r, &c);
    ck_assert(!c.has_expires && !c.has_max_age);
    json_decref(j);
    th_response_dispose(&r);
}
END_TEST

/* ---- configuration -------------------------------------------------------------------- */

static int config_test(const char *extra)
{
    th_env_t e;
    th_env_init(&e, extra, NULL);
    const char *argv[] = {th_bin(), "-c", e.config, "-t", NULL};
    char *err = NULL;
    int rc = th_run(argv, NULL, NULL, &err);
    if (rc != 0)
        ck_assert_msg(strstr(err, "identityd.yaml:") != NULL, "no FILE:LINE in: %s", err);
    free(err);
    th_env_dispose(&e);
    return rc;
}

/* Session lifetimes below a minute are refused at start, naming the line. */
START_TEST(config_session_bounds)
{
    ck_assert_int_eq(config_test("session: { ttl: 60, browser_ttl: 60 }\n"), 0);
    ck_assert_int_eq(config_test("session: { ttl: 59 }\n"), 1);
    ck_assert_int_eq(config_test("session: { browser_ttl: 59 }\n"), 1);
    ck_assert_int_eq(config_test("session: { ttl: -1 }\n"), 1);
    ck_assert_int_eq(config_test("bruteforce: { attempts: 3, window: 2, block: 2 }\n"
                                 "trusted_proxies: [127.0.0.1]\n"),
                     0);
}
END_TEST

static Suite *sessions_suite(void)
{
    Suite *s = suite_create("sessions");
    TCase *tc = tcase_create("sessions");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, login_with_password);
    tcase_add_test(tc, login_with_password_hash);
    tcase_add_test(tc, login_failures);
    tcase_add_test(tc, login_malformed);
    tcase_add_test(tc, login_session_null);
    tcase_add_test(tc, session_transports);
    tcase_add_test(tc, session_garbage_refused);
    tcase_add_test(tc, session_expired);
    tcase_add_test(tc, session_user_disabled);
    tcase_add_test(tc, session_password_changed);
    tcase_add_test(tc, session_other_tenant);
    tcase_add_test(tc, authentication_check);
    tcase_add_test(tc, logout);
    tcase_add_test(tc, browser_session_lifetime);
    tcase_add_test(tc, token_not_stored_or_logged);
    tcase_add_test(tc, last_seen_is_coalesced);
    tcase_add_test(tc, forwarded_proto_untrusted);
    suite_add_tcase(s, tc);

    TCase *proxy = tcase_create("proxy");
    tcase_add_checked_fixture(proxy, setup_proxy, teardown);
    tcase_set_timeout(proxy, 60);
    tcase_add_test(proxy, forwarded_proto_trusted);
    tcase_add_test(proxy, default_lifetimes);
    suite_add_tcase(s, proxy);

    TCase *config = tcase_create("config");
    tcase_set_timeout(config, 60);
    tcase_add_test(config, config_session_bounds);
    suite_add_tcase(s, config);
    return s;
}

int main(void)
{
    return th_run_suite(sessions_suite());
}
