/*
 * API keys end to end: a real identityd on a loopback port with a real SQLite file, users
 * made by identityctl, libcurl as the client. Covers creating keys (POST /api/2.0/keys and
 * its validation), using them (Authorization: Bearer sk-… and the ApiKeyBearer header), what
 * their permissions allow, every way a key stops working, the listing, @self, update and
 * delete with the owner/admin/guest matrix, and lastUsed across a restart.
 *
 * Keys the API cannot make (expired ones, keys of tenant 2, keys of guests, keys with a
 * chosen creation time) are written through the store library with the same digest the
 * server computes, so the server sees them exactly as it sees its own.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* timegm */
#endif
#include <check.h>
#include <ctype.h>
#include <curl/curl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "apidate.h"
#include "harness.h"
#include "identityd/cred/apikey.h"
#include "identityd/cred/password.h"
#include "identityd/store/store.h"

#define KEYS_PATH "/api/2.0/keys"
#define PERMISSIONS_PATH "/api/2.0/keys/permissions"
#define SELF_PATH "/api/2.0/keys/@self"
#define TOKEN_PATH "/api/2.0/security/oauth2/token"
#define AUTH_PATH "/api/2.0/authentication"
#define INVALID_TOKEN "Bearer error=\"invalid_token\""
#define TENANT2_HOST "Host: second.test"
#define BODY_LIMIT (64 * 1024)
#define DAY 86400

/* UTF-8 test characters: 2 and 4 bytes. */
#define E_ACUTE "\xc3\xa9"
#define GRIN "\xf0\x9f\x98\x80"

static th_env_t env;
static th_server_t srv;
static char *admin_basic, *user_basic, *other_basic, *guest_basic, *two_basic;

/* ---- plumbing --------------------------------------------------------------------------- */

static void setup(void)
{
    th_env_init(&env, NULL, NULL);
    ck_assert_int_eq(
        th_add_user(&env, "Admin@Example.com", "correct horse", "Ada", "Lovelace", "admin"), 0);
    ck_assert_int_eq(th_add_user(&env, "user@example.com", "user pass", "Bob", "User", "user"), 0);
    ck_assert_int_eq(th_add_user(&env, "other@example.com", "other pass", "Olga", "Other", "user"),
                     0);
    ck_assert_int_eq(th_add_user(&env, "guest@example.com", "guest pass", "Gus", "Guest", "guest"),
                     0);
    /* The admin of tenant 2 (th_add_user has no --tenant). */
    const char *argv[] = {th_ctl(),          "-c",      env.config, "user",   "add",
                          "two@second.test", "--first", "Tia",      "--last", "Two",
                          "--role",          "admin",   "--tenant", "2",      NULL};
    ck_assert_int_eq(th_run(argv, "two pass\n", NULL, NULL), 0);
    th_server_start(&srv, &env);
    admin_basic = th_basic("admin@example.com", "correct horse");
    user_basic = th_basic("user@example.com", "user pass");
    other_basic = th_basic("other@example.com", "other pass");
    guest_basic = th_basic("guest@example.com", "guest pass");
    two_basic = th_basic("two@second.test", "two pass");
}

static void teardown(void)
{
    ck_assert_int_eq(th_server_stop(&srv), 0);
    th_env_dispose(&env);
    free(admin_basic), free(user_basic), free(other_basic), free(guest_basic), free(two_basic);
}

/* printf into one of a ring of static buffers: headers and small bodies without free(). */
__attribute__((format(printf, 1, 2))) static const char *fmt(const char *f, ...)
{
    static char ring[64][2048];
    static unsigned next;
    char *b = ring[next++ % 64];
    va_list ap;
    va_start(ap, f);
    int n = vsnprintf(b, sizeof(ring[0]), f, ap);
    va_end(ap);
    ck_assert(n >= 0 && (size_t)n < sizeof(ring[0]));
    return b;
}

/* One request on a new connection (th_http never reuses one). auth and extra are whole
 * header lines and may be NULL; a body is sent as application/json. */
static void call_len(th_response_t *r, const char *method, const char *path, const char *auth,
                     const char *extra, const char *body, size_t len)
{
    const char *h[4];
    size_t n = 0;
    if (auth != NULL)
        h[n++] = auth;
    if (extra != NULL)
        h[n++] = extra;
    if (body != NULL)
        h[n++] = "Content-Type: application/json";
    h[n] = NULL;
    char *u = th_url(&srv, path);
    th_http(r, method, u, h, body, len, 0);
    free(u);
}

static void call(th_response_t *r, const char *method, const char *path, const char *auth,
                 const char *extra, const char *body)
{
    call_len(r, method, path, auth, extra, body, body ? strlen(body) : 0);
}

/* The envelope of a 403 for a scope that is too narrow: message "Access denied". */
static void assert_access_denied(const th_response_t *r)
{
    th_assert_error_envelope(r, 403);
    th_assert_error_message(r, "Access denied");
}

/* A refused key: 401, the envelope, and exactly the Bearer invalid_token challenge. */
static void assert_401_key(const th_response_t *r)
{
    th_assert_error_envelope(r, 401);
    char *wa = th_header(r, "www-authenticate");
    ck_assert_msg(wa != NULL, "no WWW-Authenticate on a refused key");
    ck_assert_str_eq(wa, INVALID_TOKEN);
    free(wa);
}

/* Asserts a 200 success envelope (status 0, statusCode 200, an integer count) and returns it. */
static json_t *assert_ok(const th_response_t *r)
{
    ck_assert_msg(r->status == 200, "expected 200, got %ld: %s", r->status, r->body);
    json_t *j = th_json_parse(r->body);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "status")), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "statusCode")), 200);
    ck_assert(json_is_integer(json_object_get(j, "count")));
    ck_assert_ptr_nonnull(json_object_get(j, "response"));
    return j;
}

/* A BooleanWrapper whose response is true. */
static void assert_true_wrapper(const th_response_t *r)
{
    json_t *j = assert_ok(r);
    ck_assert_msg(json_is_true(json_object_get(j, "response")), "not true: %s", r->body);
    json_decref(j);
}

static bool is_guid(const char *s)
{
    if (s == NULL || strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return false;
        } else if (!isxdigit((unsigned char)s[i])) {
            return false;
        }
    }
    return true;
}

static bool is_full_key(const char *s)
{
    if (s == NULL || strlen(s) != IDD_APIKEY_LEN || strncmp(s, "sk-", 3) != 0)
        return false;
    for (size_t i = 3; i < IDD_APIKEY_LEN; i++)
        if (!(isdigit((unsigned char)s[i]) || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

/* An ApiDateTime of the default tenant (UTC): "YYYY-MM-DDTHH:MM:SS.0000000Z", as Unix time. */
static int64_t api_time(json_t *dt)
{
    int offset = -1;
    int64_t t = apidate_parse(dt, &offset);
    ck_assert_int_eq(offset, 0);
    ck_assert_msg(strcmp(json_string_value(dt) + 19, ".0000000Z") == 0, "%s",
                  json_string_value(dt));
    return t;
}

static char *utc_string(int64_t t)
{
    static char ring[8][32];
    static unsigned next;
    char *b = ring[next++ % 8];
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(b, sizeof(ring[0]), "%Y-%m-%dT%H:%M:%S.0000000Z", &tm);
    return b;
}

#define assert_near(actual, expected, slack)                                                       \
    ck_assert_msg(llabs((long long)(actual) - (long long)(expected)) <= (slack),                   \
                  "%s = %lld, expected %lld ± %d", #actual, (long long)(actual),                   \
                  (long long)(expected), (int)(slack))

/* Checks an ApiKeyResponseDto: only the schema's members, each of its type. full_key is the
 * key a create answer must carry, or NULL for a listed key (masked "sk-***" + postfix). */
static void assert_dto(json_t *o, const char *full_key)
{
    static const char *const allowed[] = {"id",          "name",     "key",      "keyPostfix",
                                          "permissions", "lastUsed", "createOn", "createBy",
                                          "expiresAt",   "isActive"};
    ck_assert(json_is_object(o));
    const char *member;
    json_t *value;
    json_object_foreach(o, member, value)
    {
        bool known = false;
        for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
            known = known || strcmp(member, allowed[i]) == 0;
        ck_assert_msg(known, "unexpected member %s", member);
    }
    ck_assert(is_guid(json_string_value(json_object_get(o, "id"))));
    ck_assert(json_is_string(json_object_get(o, "name")));
    const char *key = json_string_value(json_object_get(o, "key"));
    const char *postfix = json_string_value(json_object_get(o, "keyPostfix"));
    ck_assert_ptr_nonnull(key);
    ck_assert_ptr_nonnull(postfix);
    ck_assert_int_eq(strlen(postfix), 4);
    if (full_key != NULL) {
        ck_assert_msg(is_full_key(key), "key %s", key);
        ck_assert_str_eq(key, full_key);
    } else {
        ck_assert_str_eq(key, fmt("sk-***%s", postfix));
    }
    ck_assert_str_eq(postfix, key + strlen(key) - 4);
    json_t *perms = json_object_get(o, "permissions");
    ck_assert(json_is_array(perms));
    for (size_t i = 0; i < json_array_size(perms); i++)
        ck_assert(json_is_string(json_array_get(perms, i)));
    api_time(json_object_get(o, "createOn"));
    json_t *by = json_object_get(o, "createBy");
    ck_assert(json_is_object(by));
    ck_assert(is_guid(json_string_value(json_object_get(by, "id"))));
    ck_assert(json_is_string(json_object_get(by, "displayName")));
    ck_assert(json_is_boolean(json_object_get(o, "isActive")));
    if (json_object_get(o, "expiresAt") != NULL)
        api_time(json_object_get(o, "expiresAt"));
    if (json_object_get(o, "lastUsed") != NULL)
        api_time(json_object_get(o, "lastUsed"));
}

/* Asserts that the JSON array equals the strings given, in order (n of them). */
static void assert_strings(json_t *array, const char *const *expected, size_t n)
{
    ck_assert_msg(json_is_array(array) && json_array_size(array) == n, "array of %zu expected", n);
    for (size_t i = 0; i < n; i++)
        ck_assert_str_eq(json_string_value(json_array_get(array, i)), expected[i]);
}

typedef struct made_key {
    char id[IDD_GUID_LEN + 1];
    char key[IDD_APIKEY_LEN + 1];
} made_key_t;

/* POSTs body to /api/2.0/keys as auth; asserts 200 and a well-formed answer; out receives the
 * id and the key. Returns the parsed envelope (the caller frees it). */
static json_t *create_json(const char *auth, const char *extra, const char *body, made_key_t *out)
{
    th_response_t r;
    call(&r, "POST", KEYS_PATH, auth, extra, body);
    json_t *j = assert_ok(&r);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "count")), 1);
    json_t *o = json_object_get(j, "response");
    const char *key = json_string_value(json_object_get(o, "key"));
    ck_assert_msg(is_full_key(key), "created key %s", key ? key : "(none)");
    assert_dto(o, key);
    snprintf(out->id, sizeof(out->id), "%s", json_string_value(json_object_get(o, "id")));
    snprintf(out->key, sizeof(out->key), "%s", key);
    th_response_dispose(&r);
    return j;
}

static void create_key(const char *auth, const char *body, made_key_t *out)
{
    json_decref(create_json(auth, NULL, body, out));
}

/* POSTs body to /api/2.0/keys and returns the status; an error carries the envelope. */
static long create_status(const char *auth, const char *body)
{
    th_response_t r;
    call(&r, "POST", KEYS_PATH, auth, NULL, body);
    long status = r.status;
    if (status != 200)
        th_assert_error_envelope(&r, status);
    th_response_dispose(&r);
    return status;
}

static const char *bearer(const made_key_t *k)
{
    return fmt("Authorization: Bearer %s", k->key);
}
static const char *key_path(const char *id)
{
    return fmt(KEYS_PATH "/%s", id);
}

/* GETs the token endpoint; asserts 200 and returns the token's sub claim (malloc'd). */
static char *token_sub(const char *auth, const char *extra)
{
    th_response_t r;
    call(&r, "GET", TOKEN_PATH, auth, extra, NULL);
    ck_assert_msg(r.status == 200, "token with \"%s\": %ld %s", auth, r.status, r.body);
    json_t *j = th_json_parse(r.body);
    const char *token = json_string_value(json_object_get(j, "response"));
    ck_assert_ptr_nonnull(token);
    json_t *claims = th_jwt_part(token, 1);
    const char *sub = json_string_value(json_object_get(claims, "sub"));
    ck_assert_ptr_nonnull(sub);
    char *out = strdup(sub);
    json_decref(claims);
    json_decref(j);
    th_response_dispose(&r);
    return out;
}

static void assert_runs_as(const char *auth, const char *extra, const char *user_id)
{
    char *sub = token_sub(auth, extra);
    ck_assert_str_eq(sub, user_id);
    free(sub);
}

/* The token endpoint refuses the credential: 401 with the Bearer challenge. */
static void assert_refused(const char *auth, const char *extra)
{
    th_response_t r;
    call(&r, "GET", TOKEN_PATH, auth, extra, NULL);
    assert_401_key(&r);
    th_response_dispose(&r);
}

/* The token endpoint answers 403 "Access denied" (authenticated, scope too narrow). */
static void assert_token_denied(const char *auth)
{
    th_response_t r;
    call(&r, "GET", TOKEN_PATH, auth, NULL, NULL);
    assert_access_denied(&r);
    th_response_dispose(&r);
}

static idd_store_t *open_store(void)
{
    idd_store_t *s = NULL;
    ck_assert_int_eq(idd_store_open(env.db, &s), 0);
    return s;
}

/* The id of a user, as the store has it. */
static void user_id(int64_t tenant, const char *email, char out[IDD_GUID_LEN + 1])
{
    idd_user_t u;
    th_user_row(&env, tenant, email, &u);
    snprintf(out, IDD_GUID_LEN + 1, "%s", u.id);
}

/* Writes a key straight into the store, digested under the server's pepper as the server
 * does it. permissions is space-separated ("" = full access); created 0 = now; expires 0 =
 * never. */
static void store_key(int64_t tenant, const char *email, const char *permissions, int64_t created,
                      int64_t expires, made_key_t *out)
{
    char path[TH_PATH + 16], err[256] = "";
    snprintf(path, sizeof(path), "%s/pepper", env.dir);
    idd_pepper_t pepper;
    ck_assert_msg(idd_pepper_load(path, &pepper, err, sizeof(err)) == 0, "pepper: %s", err);
    idd_store_t *s = open_store();
    ck_assert_msg(s->ops->apikey_create != NULL, "the store has no apikey_create yet");
    idd_user_t u;
    ck_assert_int_eq(idd_store_user_by_email(s, tenant, email, &u), 0);
    idd_apikey_t k;
    memset(&k, 0, sizeof(k));
    ck_assert_int_eq(idd_apikey_generate(out->key), 0);
    k.tenant_id = tenant;
    snprintf(k.created_by, sizeof(k.created_by), "%s", u.id);
    snprintf(k.name, sizeof(k.name), "stored %s", email);
    ck_assert_int_eq(idd_apikey_digest(&pepper, out->key, IDD_APIKEY_LEN, k.digest), 0);
    memcpy(k.postfix, out->key + IDD_APIKEY_LEN - 4, 5);
    snprintf(k.permissions, sizeof(k.permissions), "%s", permissions);
    k.created = created;
    k.expires = expires;
    k.active = 1;
    ck_assert_int_eq(idd_store_apikey_create(s, &k), 0);
    ck_assert(is_guid(k.id));
    snprintf(out->id, sizeof(out->id), "%s", k.id);
    idd_store_free(s);
    idd_pepper_wipe(&pepper);
}

/* GET /api/2.0/keys as auth (extra may carry a Host); asserts 200 and count = items.
 * Returns the envelope (the caller frees it). */
static json_t *list_keys(const char *auth, const char *extra)
{
    th_response_t r;
    call(&r, "GET", KEYS_PATH, auth, extra, NULL);
    json_t *j = assert_ok(&r);
    json_t *items = json_object_get(j, "response");
    ck_assert(json_is_array(items));
    ck_assert_int_eq(json_integer_value(json_object_get(j, "count")), json_array_size(items));
    for (size_t i = 0; i < json_array_size(items); i++)
        assert_dto(json_array_get(items, i), NULL);
    th_response_dispose(&r);
    return j;
}

static size_t count_keys(const char *auth)
{
    json_t *j = list_keys(auth, NULL);
    size_t n = json_array_size(json_object_get(j, "response"));
    json_decref(j);
    return n;
}

/* The listed key with this id (borrowed from list), or NULL. */
static json_t *find_key(json_t *list, const char *id)
{
    json_t *items = json_object_get(list, "response");
    for (size_t i = 0; i < json_array_size(items); i++) {
        json_t *o = json_array_get(items, i);
        if (strcmp(json_string_value(json_object_get(o, "id")), id) == 0)
            return o;
    }
    return NULL;
}

/* The listed key with this id as auth sees it: a new reference; the test fails if absent. */
static json_t *listed(const char *auth, const char *id)
{
    json_t *j = list_keys(auth, NULL);
    json_t *o = find_key(j, id);
    ck_assert_msg(o != NULL, "key %s is not listed", id);
    json_incref(o);
    json_decref(j);
    return o;
}

static long status_of(const char *method, const char *path, const char *auth, const char *extra,
                      const char *body)
{
    th_response_t r;
    call(&r, method, path, auth, extra, body);
    long status = r.status;
    if (status != 200)
        th_assert_error_envelope(&r, status);
    th_response_dispose(&r);
    return status;
}

/* Signs in with a session; returns the token (malloc'd). */
static char *session_token(const char *email, const char *password)
{
    th_response_t r;
    call(&r, "POST", AUTH_PATH, NULL, NULL,
         fmt("{\"userName\":\"%s\",\"password\":\"%s\"}", email, password));
    json_t *j = assert_ok(&r);
    const char *token = json_string_value(json_object_get(json_object_get(j, "response"), "token"));
    ck_assert_ptr_nonnull(token);
    char *out = strdup(token);
    json_decref(j);
    th_response_dispose(&r);
    return out;
}

/* ---- the vocabulary ----------------------------------------------------------------------- */

/* GET /api/2.0/keys/permissions lists the 11 names in order for any authenticated caller,
 * whatever its scope; anonymous callers get 401. */
START_TEST(permissions_listed)
{
    static const char *const expected[] = {"*",
                                           "*:read",
                                           "*:write",
                                           "accounts:read",
                                           "accounts:write",
                                           "accounts.self:read",
                                           "accounts.self:write",
                                           "files:read",
                                           "files:write",
                                           "rooms:read",
                                           "rooms:write"};
    th_response_t r;
    call(&r, "GET", PERMISSIONS_PATH, user_basic, NULL, NULL);
    json_t *j = assert_ok(&r);
    assert_strings(json_object_get(j, "response"), expected, 11);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "count")), 11);
    json_decref(j);
    th_response_dispose(&r);

    made_key_t narrow;
    create_key(user_basic, "{\"name\":\"narrow\",\"permissions\":[\"files:read\"]}", &narrow);
    call(&r, "GET", PERMISSIONS_PATH, bearer(&narrow), NULL, NULL);
    j = assert_ok(&r);
    assert_strings(json_object_get(j, "response"), expected, 11);
    json_decref(j);
    th_response_dispose(&r);

    call(&r, "GET", PERMISSIONS_PATH, NULL, NULL, NULL);
    th_assert_error_envelope(&r, 401);
    th_response_dispose(&r);
}
END_TEST

/* ---- creating ---------------------------------------------------------------------------- */

/* The 200 answer of POST /api/2.0/keys, member by member. */
START_TEST(create_answer)
{
    char admin_id[IDD_GUID_LEN + 1];
    user_id(1, "admin@example.com", admin_id);
    made_key_t k;
    int64_t before = time(NULL);
    json_t *j = create_json(admin_basic, NULL,
                            "{\"name\":\"ci key\",\"permissions\":[\"rooms:write\",\"files:read\"],"
                            "\"expiresInDays\":30}",
                            &k);
    int64_t after = time(NULL);
    json_t *o = json_object_get(j, "response");
    ck_assert_str_eq(json_string_value(json_object_get(o, "name")), "ci key");
    ck_assert_str_eq(json_string_value(json_object_get(o, "keyPostfix")),
                     k.key + IDD_APIKEY_LEN - 4);
    static const char *const perms[] = {"rooms:write", "files:read"};
    assert_strings(json_object_get(o, "permissions"), perms, 2);
    int64_t created = api_time(json_object_get(o, "createOn"));
    ck_assert(created >= before - 1 && created <= after + 1);
    json_t *by = json_object_get(o, "createBy");
    ck_assert_str_eq(json_string_value(json_object_get(by, "id")), admin_id);
    ck_assert_str_eq(json_string_value(json_object_get(by, "displayName")), "Ada Lovelace");
    assert_near(api_time(json_object_get(o, "expiresAt")), before + 30 * DAY, 10);
    ck_assert(json_is_true(json_object_get(o, "isActive")));
    ck_assert_ptr_null(json_object_get(o, "lastUsed"));
    json_decref(j);

    /* Absent and null permissions and expiry: [] (full access) and no expiresAt. */
    static const char *const bodies[] = {
        "{\"name\":\"plain\"}", "{\"name\":\"nulls\",\"permissions\":null,\"expiresInDays\":null}",
        "{\"name\":\"empty\",\"permissions\":[]}"};
    made_key_t plain[3];
    for (size_t i = 0; i < 3; i++) {
        j = create_json(admin_basic, NULL, bodies[i], &plain[i]);
        o = json_object_get(j, "response");
        ck_assert(json_is_array(json_object_get(o, "permissions")));
        ck_assert_int_eq(json_array_size(json_object_get(o, "permissions")), 0);
        ck_assert_ptr_null(json_object_get(o, "expiresAt"));
        json_decref(j);
    }
    /* Every key and id is fresh. */
    ck_assert_str_ne(k.key, plain[0].key);
    ck_assert_str_ne(plain[0].key, plain[1].key);
    ck_assert_str_ne(k.id, plain[0].id);
    ck_assert_str_ne(plain[0].id, plain[1].id);

    /* Quotes, backslashes and markup in a name come back exactly and the answer stays valid
     * JSON: a name is attacker-chosen text that every listing echoes, so an escaping slip
     * would let it forge members of the answer. */
    made_key_t odd;
    j = create_json(admin_basic, NULL, "{\"name\":\"a\\\"b\\\\c</x>\\u00e9\"}", &odd);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "response"), "name")),
                     "a\"b\\c</x>" E_ACUTE);
    json_decref(j);
    json_t *item = listed(admin_basic, odd.id);
    ck_assert_str_eq(json_string_value(json_object_get(item, "name")), "a\"b\\c</x>" E_ACUTE);
    json_decref(item);
    ck_assert_int_eq(count_keys(admin_basic), 5);
}
END_TEST

/* A key is shown once. Anyone who can read the database file (a backup, a copied volume) or
 * the log must not find a working key there: the store keeps a keyed digest and the log
 * names keys by id or postfix only. */
START_TEST(key_not_stored_or_logged)
{
    TH_SKIP_UNLESS_SQLITE("reads the SQLite file and its -wal file for the key");
    made_key_t k;
    create_key(user_basic, "{\"name\":\"secret\"}", &k);
    char *sub = token_sub(bearer(&k), NULL);
    free(sub);
    th_response_t r;
    call(&r, "GET", TOKEN_PATH, fmt("ApiKeyBearer: %s", k.key), NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    th_response_dispose(&r);
    const char *hex = k.key + 3;
    char wal[TH_PATH + 8];
    snprintf(wal, sizeof(wal), "%s-wal", env.db);
    ck_assert_msg(!th_file_contains(env.db, hex, strlen(hex)), "the database holds the key");
    ck_assert_msg(!th_file_contains(wal, hex, strlen(hex)), "the WAL holds the key");
    ck_assert_msg(!th_file_contains(srv.log, hex, strlen(hex)), "the log holds the key");
    /* Listing never repeats it either. */
    call(&r, "GET", KEYS_PATH, user_basic, NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_null(strstr(r.body, hex));
    th_response_dispose(&r);
}
END_TEST

/* name: a string of 1..30 characters (UTF-8 characters, not bytes), no control characters. */
START_TEST(create_name_validation)
{
    char x31[32], e30[61], e31[63], g30[121], g31[125], x30[31];
    memset(x31, 'x', 31), x31[31] = '\0';
    memset(x30, 'x', 30), x30[30] = '\0';
    e30[0] = e31[0] = g30[0] = g31[0] = '\0';
    for (int i = 0; i < 30; i++)
        strcat(e30, E_ACUTE), strcat(g30, GRIN);
    strcpy(e31, e30), strcat(e31, E_ACUTE);
    strcpy(g31, g30), strcat(g31, GRIN);

    const char *bad[] = {
        "{}",
        "{\"permissions\":[]}",
        "{\"name\":\"\"}",
        "{\"name\":null}",
        "{\"name\":5}",
        "{\"name\":true}",
        "{\"name\":[\"x\"]}",
        "{\"name\":{\"x\":1}}",
        fmt("{\"name\":\"%s\"}", x31),
        fmt("{\"name\":\"%s\"}", e31),
        fmt("{\"name\":\"%s\"}", g31), /* 124 bytes: more than the store's 120-byte field */
        "{\"name\":\"a\\u0001b\"}",
        "{\"name\":\"a\\nb\"}",
        "{\"name\":\"tab\\there\"}",
        "{\"name\":\"end\\u001f\"}",
        /* A NUL would cut the name short in C while the JSON length says otherwise. */
        "{\"name\":\"\\u0000hidden\"}",
        /* Not UTF-8 at all. */
        "{\"name\":\"a\xff"
        "b\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(create_status(user_basic, bad[i]) == 400, "accepted %s", bad[i]);
    ck_assert_int_eq(count_keys(user_basic), 0);

    const char *good[] = {"k", x30, e30, g30, "with space", "caf" E_ACUTE};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        made_key_t k;
        json_t *j = create_json(user_basic, NULL, fmt("{\"name\":\"%s\"}", good[i]), &k);
        ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "response"), "name")),
                         good[i]);
        json_decref(j);
        /* Stored whole, not cut at a byte limit. */
        json_t *item = listed(user_basic, k.id);
        ck_assert_str_eq(json_string_value(json_object_get(item, "name")), good[i]);
        json_decref(item);
    }
    ck_assert_int_eq(count_keys(user_basic), sizeof(good) / sizeof(good[0]));
}
END_TEST

/* The name rule is cred's, applied alike by the API and by `identityctl apikey create`: blank
 * names and control characters of every kind (C0, DEL, C1) are refused by both, on creation
 * and on update, with the same message. */
START_TEST(name_rule_same_as_identityctl)
{
    static const struct {
        const char *json; /* the name as a JSON string's contents */
        const char *raw;  /* the same name as bytes, for the command line */
        const char *message;
    } cases[] = {
        {"   ", "   ", "name must not be blank"},
        {"\\u00a0\\u3000", "\xc2\xa0\xe3\x80\x80", "name must not be blank"},
        {"\\u200b", "\xe2\x80\x8b", "name must not be blank"},
        {"csi\\u009b2J",
         "csi\xc2\x9b"
         "2J",
         "name must not contain control characters"},
        {"next\\u0085line", "next\xc2\x85line", "name must not contain control characters"},
        {"pad\\u0080", "pad\xc2\x80", "name must not contain control characters"},
        {"del\\u007f", "del\x7f", "name must not contain control characters"},
        {"tab\\there", "tab\there", "name must not contain control characters"},
        {"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
         "name must be 1 to 30 characters"},
    };
    made_key_t k;
    create_key(user_basic, "{\"name\":\"kept\"}", &k);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *body = fmt("{\"name\":\"%s\"}", cases[i].json);
        th_response_t r;
        call(&r, "POST", KEYS_PATH, user_basic, NULL, body);
        th_assert_error_envelope(&r, 400);
        th_assert_error_message(&r, cases[i].message);
        th_response_dispose(&r);
        call(&r, "PUT", key_path(k.id), user_basic, NULL, body);
        th_assert_error_envelope(&r, 400);
        th_assert_error_message(&r, cases[i].message);
        th_response_dispose(&r);

        const char *argv[] = {th_ctl(),           "-c",     env.config,   "apikey", "create",
                              "user@example.com", "--name", cases[i].raw, NULL};
        char *out = NULL, *err = NULL;
        int rc = th_run(argv, NULL, &out, &err);
        ck_assert_msg(rc == 1, "case %zu: identityctl exit %d", i, rc);
        ck_assert_str_eq(out, "");
        ck_assert_str_eq(err, fmt("identityctl: %s\n", cases[i].message));
        free(out), free(err);
    }
    /* Nothing was made, and the existing key kept its name. */
    ck_assert_int_eq(count_keys(user_basic), 1);
    json_t *item = listed(user_basic, k.id);
    ck_assert_str_eq(json_string_value(json_object_get(item, "name")), "kept");
    json_decref(item);
}
END_TEST

/* permissions: an array of known names, or null/absent. */
START_TEST(create_permissions_validation)
{
    static const char *const bad[] = {
        "[\"nope\"]",
        "\"files:read\"",
        "[1]",
        "[null]",
        "[[\"files:read\"]]",
        "{\"files:read\":true}",
        "true",
        "5",
        "[\"files:read\",5]",
        "[\"files:read\",\"nope\"]",
        "[\"FILES:READ\"]",
        "[\" files:read\"]",
        "[\"files:read \"]",
        "[\"\"]",
        "[\"files\"]",
        "[\"files:\"]",
        "[\"files:delete\"]",
        "[\"read\",\"write\"]", /* the OpenAPI's example values are not real permissions */
        /* The store keeps permissions as one space-separated string: one element holding two
         * names must not be accepted, or a single "name" could smuggle in a second grant. */
        "[\"files:read *\"]",
        "[\"files:read rooms:write\"]",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *body = fmt("{\"name\":\"p\",\"permissions\":%s}", bad[i]);
        ck_assert_msg(create_status(user_basic, body) == 400, "accepted %s", body);
    }
    ck_assert_int_eq(count_keys(user_basic), 0);

    /* Every known name at once is fine, and comes back as given. */
    static const char *const all[] = {"*",
                                      "*:read",
                                      "*:write",
                                      "accounts:read",
                                      "accounts:write",
                                      "accounts.self:read",
                                      "accounts.self:write",
                                      "files:read",
                                      "files:write",
                                      "rooms:read",
                                      "rooms:write"};
    char body[1024] = "{\"name\":\"all\",\"permissions\":[";
    for (size_t i = 0; i < 11; i++)
        strcat(body, fmt("%s\"%s\"", i ? "," : "", all[i]));
    strcat(body, "]}");
    made_key_t k;
    json_t *j = create_json(admin_basic, NULL, body, &k);
    assert_strings(json_object_get(json_object_get(j, "response"), "permissions"), all, 11);
    json_decref(j);
    json_t *item = listed(admin_basic, k.id);
    assert_strings(json_object_get(item, "permissions"), all, 11);
    json_decref(item);
}
END_TEST

/* expiresInDays: an integer 1..365, or null/absent (never expires). */
START_TEST(create_expiry_validation)
{
    static const char *const bad[] = {
        "0",
        "366",
        "-1",
        "\"5\"",
        "1.5",
        "true",
        "[5]",
        "{}",
        /* 2^32 + 1 and 2^63 - 1: an int32 or day-to-seconds overflow must not turn them into
         * a short or a past expiry. */
        "4294967297",
        "9223372036854775807",
        "-9223372036854775808",
        "100000000000000000000",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *body = fmt("{\"name\":\"e\",\"expiresInDays\":%s}", bad[i]);
        ck_assert_msg(create_status(user_basic, body) == 400, "accepted %s", body);
    }
    ck_assert_int_eq(count_keys(user_basic), 0);

    static const int good[] = {1, 365};
    for (size_t i = 0; i < 2; i++) {
        made_key_t k;
        int64_t now = time(NULL);
        json_t *j = create_json(user_basic, NULL,
                                fmt("{\"name\":\"e\",\"expiresInDays\":%d}", good[i]), &k);
        json_t *o = json_object_get(j, "response");
        assert_near(api_time(json_object_get(o, "expiresAt")), now + (int64_t)good[i] * DAY, 10);
        json_decref(j);
        /* Not expired: it works. */
        char *sub = token_sub(bearer(&k), NULL);
        free(sub);
    }
}
END_TEST

/* Bodies that are not a JSON object are 400, bodies over 64 KiB 413; none creates a key. */
START_TEST(create_bad_bodies)
{
    static const char *const bad[] = {
        "",
        "not json",
        "{",
        "[]",
        "\"name\"",
        "null",
        "42",
        "{\"name\":\"x\"}{}",
        "{\"name\":\"x\"} x",
        "[{\"name\":\"x\"}]",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(create_status(user_basic, bad[i]) == 400, "accepted \"%s\"", bad[i]);
    ck_assert_int_eq(count_keys(user_basic), 0);

    /* A valid body padded with spaces to exactly the limit, and one byte over it. */
    char *body = malloc(BODY_LIMIT + 2);
    const char *head = "{\"name\":\"big\"";
    memset(body, ' ', BODY_LIMIT + 1);
    memcpy(body, head, strlen(head));
    body[BODY_LIMIT + 1] = '\0';
    body[BODY_LIMIT] = '}'; /* BODY_LIMIT + 1 bytes */
    th_response_t r;
    call_len(&r, "POST", KEYS_PATH, user_basic, NULL, body, BODY_LIMIT + 1);
    th_assert_error_envelope(&r, 413);
    th_response_dispose(&r);
    ck_assert_int_eq(count_keys(user_basic), 0);

    body[BODY_LIMIT] = '\0';
    body[BODY_LIMIT - 1] = '}'; /* exactly BODY_LIMIT bytes: not over the limit */
    call_len(&r, "POST", KEYS_PATH, user_basic, NULL, body, BODY_LIMIT);
    ck_assert_msg(r.status == 200, "a body of exactly 64 KiB: %ld %s", r.status, r.body);
    th_response_dispose(&r);
    free(body);
    ck_assert_int_eq(count_keys(user_basic), 1);
}
END_TEST

/* ---- using a key -------------------------------------------------------------------------- */

/* A key runs as its creator, whichever of the three ways it is carried. */
START_TEST(key_runs_as_creator)
{
    char bob[IDD_GUID_LEN + 1], ada[IDD_GUID_LEN + 1];
    user_id(1, "user@example.com", bob);
    user_id(1, "admin@example.com", ada);
    made_key_t k, a;
    create_key(user_basic, "{\"name\":\"bob\"}", &k);
    create_key(admin_basic, "{\"name\":\"ada\"}", &a);
    assert_runs_as(bearer(&k), NULL, bob);
    assert_runs_as(fmt("ApiKeyBearer: %s", k.key), NULL, bob);
    assert_runs_as(fmt("ApiKeyBearer: Bearer %s", k.key), NULL, bob);
    assert_runs_as(bearer(&a), NULL, ada);
    assert_runs_as(fmt("ApiKeyBearer: %s", a.key), NULL, ada);
}
END_TEST

/* Anything but an exact, known key is refused with 401 and the invalid_token challenge,
 * carried either way. An attacker who holds a key's neighbourhood (a truncated copy from a
 * log line, a case-folded copy from a ticket, a guess) must get nothing from a lax match:
 * a prefix compare, a case-insensitive compare or a length that is not checked would each
 * turn one of these near-misses into the real key. */
START_TEST(refused_keys)
{
    made_key_t k;
    create_key(user_basic, "{\"name\":\"real\"}", &k);
    char unknown[IDD_APIKEY_LEN + 1], upper[IDD_APIKEY_LEN + 1], flipped[IDD_APIKEY_LEN + 1],
        short_key[IDD_APIKEY_LEN], nonhex[IDD_APIKEY_LEN + 1];
    ck_assert_int_eq(idd_apikey_generate(unknown), 0);
    strcpy(upper, k.key);
    for (size_t i = 3; i < IDD_APIKEY_LEN; i++)
        upper[i] = (char)toupper((unsigned char)upper[i]);
    strcpy(flipped, k.key);
    flipped[IDD_APIKEY_LEN - 1] = flipped[IDD_APIKEY_LEN - 1] == '0' ? '1' : '0';
    memcpy(short_key, k.key, IDD_APIKEY_LEN - 1);
    short_key[IDD_APIKEY_LEN - 1] = '\0';
    strcpy(nonhex, k.key);
    nonhex[10] = 'g';
    const char *values[] = {
        unknown,
        upper,             /* the real key with upper-case hex */
        flipped,           /* the real key, last character changed */
        short_key,         /* 63 hex: the real key cut short */
        fmt("%s0", k.key), /* 65 hex: the real key with one more */
        fmt("%sab", k.key),
        nonhex,
        "sk-",
        fmt("SK-%s", k.key + 3),
        fmt("sk_%s", k.key + 3),
        "sk-zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz",
    };
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        assert_refused(fmt("Authorization: Bearer %s", values[i]), NULL);
        assert_refused(fmt("ApiKeyBearer: %s", values[i]), NULL);
    }
    /* A refused key is refused on the key endpoints too. */
    th_response_t r;
    call(&r, "GET", SELF_PATH, fmt("Authorization: Bearer %s", unknown), NULL, NULL);
    assert_401_key(&r);
    th_response_dispose(&r);
    call(&r, "POST", KEYS_PATH, fmt("Authorization: Bearer %s", unknown), NULL, "{\"name\":\"x\"}");
    assert_401_key(&r);
    th_response_dispose(&r);
    /* None of that harmed the real key. */
    char bob[IDD_GUID_LEN + 1];
    user_id(1, "user@example.com", bob);
    assert_runs_as(bearer(&k), NULL, bob);
    ck_assert_int_eq(count_keys(user_basic), 1);
}
END_TEST

/* What a key's permissions allow on the token endpoint, which needs *:read. */
START_TEST(scopes_on_token_endpoint)
{
    static const struct {
        const char *permissions;
        long status;
    } cases[] = {
        {"[\"*:read\"]", 200},
        {"[\"*:write\"]", 200},
        {"[]", 200},
        {"null", 200},
        {"[\"*\"]", 200},
        {"[\"files:read\",\"*\"]", 200},
        {"[\"files:read\"]", 403},
        {"[\"accounts:write\"]", 403},
        {"[\"files:write\",\"rooms:write\",\"accounts:read\"]", 403},
    };
    char ada[IDD_GUID_LEN + 1];
    user_id(1, "admin@example.com", ada);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        made_key_t k;
        create_key(admin_basic,
                   fmt("{\"name\":\"s%zu\",\"permissions\":%s}", i, cases[i].permissions), &k);
        if (cases[i].status == 200) {
            assert_runs_as(bearer(&k), NULL, ada);
        } else {
            assert_token_denied(bearer(&k));
            assert_token_denied(fmt("ApiKeyBearer: %s", k.key));
        }
    }
}
END_TEST

/* Deactivating a key stops it at once on every thread; reactivating brings it back. This is
 * what an owner does on finding a key leaked: a per-thread cache that outlived the change
 * would keep serving the attacker on some connections. Each request opens a new connection,
 * so the requests spread over the server's threads. */
START_TEST(deactivate_and_reactivate)
{
    char bob[IDD_GUID_LEN + 1];
    user_id(1, "user@example.com", bob);
    made_key_t k;
    create_key(user_basic, "{\"name\":\"toggle\"}", &k);
    for (int i = 0; i < 8; i++)
        assert_runs_as(bearer(&k), NULL, bob);

    th_response_t r;
    call(&r, "PUT", key_path(k.id), user_basic, NULL, "{\"isActive\":false}");
    assert_true_wrapper(&r);
    th_response_dispose(&r);
    for (int i = 0; i < 8; i++)
        assert_refused(i % 2 ? bearer(&k) : fmt("ApiKeyBearer: %s", k.key), NULL);
    json_t *item = listed(user_basic, k.id);
    ck_assert(json_is_false(json_object_get(item, "isActive")));
    json_decref(item);

    call(&r, "PUT", key_path(k.id), user_basic, NULL, "{\"isActive\":true}");
    assert_true_wrapper(&r);
    th_response_dispose(&r);
    for (int i = 0; i < 8; i++)
        assert_runs_as(bearer(&k), NULL, bob);
    item = listed(user_basic, k.id);
    ck_assert(json_is_true(json_object_get(item, "isActive")));
    json_decref(item);
}
END_TEST

/* `identityctl apikey revoke ID` (another process, straight to the database) stops the key
 * on every thread of the running server. */
START_TEST(identityctl_revoke)
{
    made_key_t k, keep;
    create_key(user_basic, "{\"name\":\"revoked\"}", &k);
    create_key(user_basic, "{\"name\":\"kept\"}", &keep);
    for (int i = 0; i < 4; i++) {
        char *sub = token_sub(bearer(&k), NULL);
        free(sub);
    }
    const char *argv[] = {th_ctl(), "-c", env.config, "apikey", "revoke", k.id, NULL};
    char *out = NULL, *err = NULL;
    int rc = th_run(argv, NULL, &out, &err);
    ck_assert_msg(rc == 0, "identityctl apikey revoke: %d %s", rc, err);
    free(out), free(err);
    /* Another process's write: refused once a change check has seen it (cache.*). */
    th_wait_changes_seen(&srv, &env);
    for (int i = 0; i < 8; i++)
        assert_refused(bearer(&k), NULL);
    json_t *item = listed(user_basic, k.id);
    ck_assert(json_is_false(json_object_get(item, "isActive")));
    json_decref(item);
    /* Only that key. */
    char *sub = token_sub(bearer(&keep), NULL);
    free(sub);
}
END_TEST

/* A deleted key is gone: 401 everywhere, not listed, a second delete is 404. */
START_TEST(delete_key)
{
    made_key_t k, keep;
    create_key(user_basic, "{\"name\":\"doomed\"}", &k);
    create_key(user_basic, "{\"name\":\"kept\"}", &keep);
    for (int i = 0; i < 4; i++) {
        char *sub = token_sub(bearer(&k), NULL);
        free(sub);
    }
    th_response_t r;
    call(&r, "DELETE", key_path(k.id), user_basic, NULL, NULL);
    assert_true_wrapper(&r);
    th_response_dispose(&r);
    for (int i = 0; i < 8; i++)
        assert_refused(i % 2 ? bearer(&k) : fmt("ApiKeyBearer: %s", k.key), NULL);
    static const char *const paths[] = {PERMISSIONS_PATH, SELF_PATH, KEYS_PATH};
    for (size_t i = 0; i < 3; i++) {
        call(&r, "GET", paths[i], bearer(&k), NULL, NULL);
        assert_401_key(&r);
        th_response_dispose(&r);
    }
    json_t *list = list_keys(user_basic, NULL);
    ck_assert_ptr_null(find_key(list, k.id));
    ck_assert_ptr_nonnull(find_key(list, keep.id));
    ck_assert_int_eq(json_array_size(json_object_get(list, "response")), 1);
    json_decref(list);

    ck_assert_int_eq(status_of("DELETE", key_path(k.id), user_basic, NULL, NULL), 404);
    ck_assert_int_eq(status_of("PUT", key_path(k.id), user_basic, NULL, "{\"isActive\":true}"),
                     404);
    assert_refused(bearer(&k), NULL);
    char *sub = token_sub(bearer(&keep), NULL);
    free(sub);
}
END_TEST

/* A key past its expiry is refused: a time-limited key handed to a contractor must not
 * outlive its limit. A key written the same way with a future expiry works, so the refusal
 * is the expiry, not the way the key was written. */
START_TEST(expired_key)
{
    char bob[IDD_GUID_LEN + 1];
    user_id(1, "user@example.com", bob);
    int64_t now = time(NULL);
    made_key_t expired, fresh;
    store_key(1, "user@example.com", "", 0, now - 10, &expired);
    store_key(1, "user@example.com", "", 0, now + 3600, &fresh);
    assert_runs_as(bearer(&fresh), NULL, bob);
    for (int i = 0; i < 4; i++)
        assert_refused(i % 2 ? bearer(&expired) : fmt("ApiKeyBearer: %s", expired.key), NULL);
    th_response_t r;
    call(&r, "GET", SELF_PATH, bearer(&expired), NULL, NULL);
    assert_401_key(&r);
    th_response_dispose(&r);
}
END_TEST

/* A key belongs to its tenant. A key leaked from tenant 2 must not open tenant 1 (and the
 * reverse), and neither tenant's admin may see or change the other's keys. */
START_TEST(tenant_isolation)
{
    char two[IDD_GUID_LEN + 1], bob[IDD_GUID_LEN + 1];
    user_id(2, "two@second.test", two);
    user_id(1, "user@example.com", bob);
    made_key_t k2, k1;
    store_key(2, "two@second.test", "", 0, 0, &k2);
    create_key(user_basic, "{\"name\":\"tenant one\"}", &k1);

    assert_runs_as(bearer(&k2), TENANT2_HOST, two);
    assert_refused(bearer(&k2), NULL); /* 127.0.0.1: tenant 1 */
    assert_refused(bearer(&k2), "Host: localhost");
    assert_refused(fmt("ApiKeyBearer: %s", k2.key), NULL);
    assert_refused(bearer(&k1), TENANT2_HOST);
    assert_runs_as(bearer(&k1), NULL, bob);

    /* Listings stay within the tenant. */
    json_t *list = list_keys(admin_basic, NULL);
    ck_assert_ptr_null(find_key(list, k2.id));
    ck_assert_ptr_nonnull(find_key(list, k1.id));
    json_decref(list);
    list = list_keys(two_basic, TENANT2_HOST);
    ck_assert_ptr_nonnull(find_key(list, k2.id));
    ck_assert_ptr_null(find_key(list, k1.id));
    json_decref(list);

    /* Changing the other tenant's key by id: refused (403 or 404), and nothing changes. */
    long s;
    s = status_of("PUT", key_path(k2.id), admin_basic, NULL, "{\"isActive\":false}");
    ck_assert_msg(s == 403 || s == 404, "PUT across tenants: %ld", s);
    s = status_of("DELETE", key_path(k2.id), admin_basic, NULL, NULL);
    ck_assert_msg(s == 403 || s == 404, "DELETE across tenants: %ld", s);
    s = status_of("PUT", key_path(k1.id), two_basic, TENANT2_HOST, "{\"isActive\":false}");
    ck_assert_msg(s == 403 || s == 404, "PUT across tenants: %ld", s);
    s = status_of("DELETE", key_path(k1.id), two_basic, TENANT2_HOST, NULL);
    ck_assert_msg(s == 403 || s == 404, "DELETE across tenants: %ld", s);
    assert_runs_as(bearer(&k2), TENANT2_HOST, two);
    assert_runs_as(bearer(&k1), NULL, bob);
}
END_TEST

/* A key acts as its creator, so it cannot outlive the creator's access: disabling the user
 * stops the key. */
START_TEST(disabled_creator)
{
    made_key_t k;
    create_key(user_basic, "{\"name\":\"bob\"}", &k);
    char *sub = token_sub(bearer(&k), NULL);
    free(sub);
    const char *argv[] = {th_ctl(), "-c", env.config, "user", "disable", "user@example.com", NULL};
    ck_assert_int_eq(th_run(argv, NULL, NULL, NULL), 0);
    th_wait_changes_seen(&srv, &env);
    for (int i = 0; i < 6; i++)
        assert_refused(i % 2 ? bearer(&k) : fmt("ApiKeyBearer: %s", k.key), NULL);
}
END_TEST

/* ---- who may do what ------------------------------------------------------------------------ */

/* A narrowly scoped key must not be a way to a wider one: it cannot manage keys without
 * accounts:write, and with it can only grant what its own scopes cover. Otherwise a leaked
 * read-only integration key could mint itself a full-access key. */
START_TEST(create_scope_escalation)
{
    made_key_t fr, rd, self_w, aw, mix;
    create_key(user_basic, "{\"name\":\"fr\",\"permissions\":[\"files:read\"]}", &fr);
    create_key(user_basic, "{\"name\":\"rd\",\"permissions\":[\"*:read\"]}", &rd);
    create_key(user_basic, "{\"name\":\"sw\",\"permissions\":[\"accounts.self:write\"]}", &self_w);
    create_key(user_basic, "{\"name\":\"aw\",\"permissions\":[\"accounts:write\"]}", &aw);
    create_key(user_basic, "{\"name\":\"mix\",\"permissions\":[\"accounts:write\",\"*:read\"]}",
               &mix);
    size_t n = 5;

    /* Without accounts:write: no POST at all, whatever is asked. */
    static const char *const narrow_asks[] = {"{\"name\":\"x\",\"permissions\":[\"files:read\"]}",
                                              "{\"name\":\"x\"}"};
    const made_key_t *narrow[] = {&fr, &rd, &self_w};
    for (size_t i = 0; i < 3; i++)
        for (size_t j = 0; j < 2; j++) {
            th_response_t r;
            call(&r, "POST", KEYS_PATH, bearer(narrow[i]), NULL, narrow_asks[j]);
            th_assert_error_envelope(&r, 403);
            th_response_dispose(&r);
        }

    /* accounts:write alone: only accounts:read / accounts:write. */
    static const struct {
        const char *permissions;
        long status;
    } aw_cases[] = {
        {"[\"*:write\"]", 403},
        {"[]", 403},
        {"null", 403},
        {"[\"*\"]", 403},
        {"[\"*:read\"]", 403},
        {"[\"files:read\"]", 403},
        {"[\"accounts:read\",\"files:read\"]", 403},
        {"[\"accounts:read\"]", 200},
        {"[\"accounts:write\"]", 200},
    };
    for (size_t i = 0; i < sizeof(aw_cases) / sizeof(aw_cases[0]); i++) {
        const char *body =
            fmt("{\"name\":\"a%zu\",\"permissions\":%s}", i, aw_cases[i].permissions);
        th_response_t r;
        call(&r, "POST", KEYS_PATH, bearer(&aw), NULL, body);
        ck_assert_msg(r.status == aw_cases[i].status, "%s with accounts:write: %ld %s", body,
                      r.status, r.body);
        if (r.status != 200)
            th_assert_error_envelope(&r, r.status);
        else
            n++;
        th_response_dispose(&r);
    }
    /* The key field absent means full access: also refused. */
    ck_assert_int_eq(status_of("POST", KEYS_PATH, bearer(&aw), NULL, "{\"name\":\"full\"}"), 403);

    /* accounts:write + *:read: any read, but no other write. */
    static const struct {
        const char *permissions;
        long status;
    } mix_cases[] = {
        {"[\"files:read\"]", 200},
        {"[\"*:read\"]", 200},
        {"[\"rooms:read\",\"accounts:write\"]", 200},
        {"[\"files:write\"]", 403},
        {"[\"*:write\"]", 403},
        {"[]", 403},
    };
    for (size_t i = 0; i < sizeof(mix_cases) / sizeof(mix_cases[0]); i++) {
        const char *body =
            fmt("{\"name\":\"m%zu\",\"permissions\":%s}", i, mix_cases[i].permissions);
        th_response_t r;
        call(&r, "POST", KEYS_PATH, fmt("ApiKeyBearer: %s", mix.key), NULL, body);
        ck_assert_msg(r.status == mix_cases[i].status, "%s with accounts:write *:read: %ld %s",
                      body, r.status, r.body);
        if (r.status != 200)
            th_assert_error_envelope(&r, r.status);
        else
            n++;
        th_response_dispose(&r);
    }
    ck_assert_int_eq(count_keys(user_basic), n);
}
END_TEST

/* The same rule on PUT: a key may narrow keys but not widen one (its own included) beyond
 * its scopes. */
START_TEST(update_scope_escalation)
{
    made_key_t aw, target;
    create_key(user_basic, "{\"name\":\"aw\",\"permissions\":[\"accounts:write\"]}", &aw);
    create_key(user_basic, "{\"name\":\"target\",\"permissions\":[\"accounts:read\"]}", &target);
    static const char *const wider[] = {"[\"*:write\"]", "[]", "[\"*\"]", "[\"files:read\"]",
                                        "[\"accounts:read\",\"rooms:write\"]"};
    for (size_t i = 0; i < sizeof(wider) / sizeof(wider[0]); i++) {
        const char *body = fmt("{\"permissions\":%s}", wider[i]);
        ck_assert_msg(status_of("PUT", key_path(target.id), bearer(&aw), NULL, body) == 403,
                      "target %s", body);
        ck_assert_msg(status_of("PUT", key_path(aw.id), bearer(&aw), NULL, body) == 403, "self %s",
                      body);
    }
    static const char *const aw_perm[] = {"accounts:write"}, *const ar_perm[] = {"accounts:read"};
    json_t *item = listed(user_basic, aw.id);
    assert_strings(json_object_get(item, "permissions"), aw_perm, 1);
    json_decref(item);
    item = listed(user_basic, target.id);
    assert_strings(json_object_get(item, "permissions"), ar_perm, 1);
    json_decref(item);
    /* The key itself still authenticates (403 for its narrow scope, not 401), so the refusals
     * above were the permission check. */
    assert_token_denied(bearer(&aw));

    th_response_t r;
    call(&r, "PUT", key_path(target.id), bearer(&aw), NULL,
         "{\"permissions\":[\"accounts:write\"]}");
    assert_true_wrapper(&r);
    th_response_dispose(&r);
    item = listed(user_basic, target.id);
    assert_strings(json_object_get(item, "permissions"), aw_perm, 1);
    json_decref(item);

    /* Nor may it revive, rename or delete a key wider than itself: a narrow key that could
     * switch a disabled full-access key back on would be a way to that key's power. */
    made_key_t full;
    create_key(user_basic, "{\"name\":\"full\"}", &full);
    ck_assert_int_eq(status_of("PUT", key_path(full.id), user_basic, NULL, "{\"isActive\":false}"),
                     200);
    ck_assert_int_eq(status_of("PUT", key_path(full.id), bearer(&aw), NULL, "{\"isActive\":true}"),
                     403);
    ck_assert_int_eq(status_of("PUT", key_path(full.id), bearer(&aw), NULL, "{\"name\":\"mine\"}"),
                     403);
    ck_assert_int_eq(status_of("DELETE", key_path(full.id), bearer(&aw), NULL, NULL), 403);
    item = listed(user_basic, full.id);
    ck_assert(json_is_false(json_object_get(item, "isActive")));
    ck_assert_str_eq(json_string_value(json_object_get(item, "name")), "full");
    json_decref(item);
}
END_TEST

/* Listing, changing and deleting keys need accounts:write, as creating does: a read-only key
 * must not enumerate the tenant's keys, nor switch off or delete the keys other integrations
 * depend on. Full access (no permissions, or "*") is *:write and includes it. */
START_TEST(manage_needs_accounts_write)
{
    made_key_t rd, ar, empty, star, victim;
    create_key(admin_basic, "{\"name\":\"rd\",\"permissions\":[\"*:read\"]}", &rd);
    create_key(admin_basic, "{\"name\":\"ar\",\"permissions\":[\"accounts:read\",\"files:write\"]}",
               &ar);
    create_key(admin_basic, "{\"name\":\"empty\",\"permissions\":[]}", &empty);
    create_key(admin_basic, "{\"name\":\"star\",\"permissions\":[\"*\"]}", &star);
    create_key(user_basic, "{\"name\":\"victim\"}", &victim);
    const made_key_t *narrow[] = {&rd, &ar};
    for (size_t i = 0; i < 2; i++) {
        th_response_t r;
        call(&r, "GET", KEYS_PATH, bearer(narrow[i]), NULL, NULL);
        assert_access_denied(&r);
        th_response_dispose(&r);
        call(&r, "PUT", key_path(victim.id), bearer(narrow[i]), NULL, "{\"isActive\":false}");
        assert_access_denied(&r);
        th_response_dispose(&r);
        call(&r, "DELETE", key_path(victim.id), bearer(narrow[i]), NULL, NULL);
        assert_access_denied(&r);
        th_response_dispose(&r);
    }
    char bob[IDD_GUID_LEN + 1];
    user_id(1, "user@example.com", bob);
    assert_runs_as(bearer(&victim), NULL, bob);

    const made_key_t *full[] = {&empty, &star};
    for (size_t i = 0; i < 2; i++) {
        json_t *list = list_keys(bearer(full[i]), NULL);
        ck_assert_ptr_nonnull(find_key(list, victim.id)); /* the admin's key sees the tenant's */
        json_decref(list);
        made_key_t child;
        json_decref(create_json(bearer(full[i]), NULL,
                                "{\"name\":\"child\",\"permissions\":[\"*:write\"]}", &child));
        th_response_t r;
        call(&r, "PUT", key_path(child.id), bearer(full[i]), NULL, "{\"name\":\"renamed child\"}");
        assert_true_wrapper(&r);
        th_response_dispose(&r);
        call(&r, "DELETE", key_path(child.id), bearer(full[i]), NULL, NULL);
        assert_true_wrapper(&r);
        th_response_dispose(&r);
    }
    ck_assert_int_eq(count_keys(admin_basic), 5);
}
END_TEST

/* Guests may not create keys, but a guest's existing key works for reading the token. */
START_TEST(guest_keys)
{
    ck_assert_int_eq(create_status(guest_basic, "{\"name\":\"guest\"}"), 403);
    ck_assert_int_eq(
        create_status(guest_basic, "{\"name\":\"guest\",\"permissions\":[\"files:read\"]}"), 403);
    char gus[IDD_GUID_LEN + 1];
    user_id(1, "guest@example.com", gus);
    made_key_t g;
    store_key(1, "guest@example.com", "", 0, 0, &g);
    assert_runs_as(bearer(&g), NULL, gus);
    assert_runs_as(fmt("ApiKeyBearer: %s", g.key), NULL, gus);
    /* The guest's full-access key does not get around the rule either. */
    th_response_t r;
    call(&r, "POST", KEYS_PATH, bearer(&g), NULL, "{\"name\":\"via key\"}");
    th_assert_error_envelope(&r, 403);
    th_response_dispose(&r);
    /* The admin sees every key of the tenant: only the stored one exists. */
    json_t *list = list_keys(admin_basic, NULL);
    ck_assert_int_eq(json_array_size(json_object_get(list, "response")), 1);
    ck_assert_ptr_nonnull(find_key(list, g.id));
    json_decref(list);
}
END_TEST

/* Owner, admin and another user. One user must not be able to read, change, switch off or
 * delete another's key (or the admin's); the tenant admin may manage every key. */
START_TEST(owner_admin_matrix)
{
    char bob[IDD_GUID_LEN + 1], ada[IDD_GUID_LEN + 1];
    user_id(1, "user@example.com", bob);
    user_id(1, "admin@example.com", ada);
    made_key_t ka, kb;
    create_key(admin_basic, "{\"name\":\"admin's\"}", &ka);
    create_key(user_basic, "{\"name\":\"bob's\"}", &kb);

    /* Another user: 403 on Bob's key, sees nothing. */
    ck_assert_int_eq(
        status_of("PUT", key_path(kb.id), other_basic, NULL, "{\"name\":\"mine now\"}"), 403);
    ck_assert_int_eq(status_of("PUT", key_path(kb.id), other_basic, NULL, "{\"isActive\":false}"),
                     403);
    ck_assert_int_eq(status_of("DELETE", key_path(kb.id), other_basic, NULL, NULL), 403);
    ck_assert_int_eq(count_keys(other_basic), 0);
    assert_runs_as(bearer(&kb), NULL, bob);
    json_t *item = listed(user_basic, kb.id);
    ck_assert_str_eq(json_string_value(json_object_get(item, "name")), "bob's");
    json_decref(item);

    /* Bob: his own key only; the admin's is out of reach (also through his own key). */
    json_t *list = list_keys(user_basic, NULL);
    ck_assert_int_eq(json_array_size(json_object_get(list, "response")), 1);
    ck_assert_ptr_null(find_key(list, ka.id));
    json_decref(list);
    ck_assert_int_eq(status_of("PUT", key_path(ka.id), user_basic, NULL, "{\"isActive\":false}"),
                     403);
    ck_assert_int_eq(status_of("DELETE", key_path(ka.id), user_basic, NULL, NULL), 403);
    ck_assert_int_eq(status_of("DELETE", key_path(ka.id), bearer(&kb), NULL, NULL), 403);
    assert_runs_as(bearer(&ka), NULL, ada);

    /* The admin: sees both, renames, deactivates and deletes Bob's key. */
    list = list_keys(admin_basic, NULL);
    ck_assert_int_eq(json_array_size(json_object_get(list, "response")), 2);
    ck_assert_ptr_nonnull(find_key(list, ka.id));
    ck_assert_ptr_nonnull(find_key(list, kb.id));
    json_decref(list);
    th_response_t r;
    call(&r, "PUT", key_path(kb.id), admin_basic, NULL, "{\"name\":\"renamed by admin\"}");
    assert_true_wrapper(&r);
    th_response_dispose(&r);
    item = listed(user_basic, kb.id);
    ck_assert_str_eq(json_string_value(json_object_get(item, "name")), "renamed by admin");
    /* Still Bob's key: the admin's change does not make it the admin's. */
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(item, "createBy"), "id")),
                     bob);
    json_decref(item);
    assert_runs_as(bearer(&kb), NULL, bob);
    call(&r, "PUT", key_path(kb.id), admin_basic, NULL, "{\"isActive\":false}");
    assert_true_wrapper(&r);
    th_response_dispose(&r);
    assert_refused(bearer(&kb), NULL);
    call(&r, "DELETE", key_path(kb.id), admin_basic, NULL, NULL);
    assert_true_wrapper(&r);
    th_response_dispose(&r);
    ck_assert_int_eq(count_keys(user_basic), 0);
    assert_refused(bearer(&kb), NULL);
}
END_TEST

/* ---- reading keys -------------------------------------------------------------------------- */

/* GET /api/2.0/keys: newest first, masked, only the tenant's (admin) or one's own (user). */
START_TEST(list_order_and_masking)
{
    char bob[IDD_GUID_LEN + 1];
    user_id(1, "user@example.com", bob);
    int64_t now = time(NULL);
    made_key_t s1, s2, a, n, t2;
    store_key(1, "user@example.com", "files:read", now - 300, 0, &s1);
    store_key(1, "user@example.com", "", now - 200, now + 7 * DAY, &s2);
    store_key(1, "admin@example.com", "", now - 250, 0, &a);
    store_key(2, "two@second.test", "", now - 100, 0, &t2);
    create_key(user_basic, "{\"name\":\"newest\"}", &n);
    const made_key_t *all[] = {&s1, &s2, &a, &n, &t2};

    json_t *list = list_keys(user_basic, NULL);
    json_t *items = json_object_get(list, "response");
    ck_assert_int_eq(json_array_size(items), 3);
    const char *bob_order[] = {n.id, s2.id, s1.id};
    for (size_t i = 0; i < 3; i++)
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(items, i), "id")),
                         bob_order[i]);
    json_t *o = find_key(list, s1.id);
    ck_assert_str_eq(json_string_value(json_object_get(o, "key")),
                     fmt("sk-***%s", s1.key + IDD_APIKEY_LEN - 4));
    ck_assert_str_eq(json_string_value(json_object_get(o, "createOn")), utc_string(now - 300));
    static const char *const fr[] = {"files:read"};
    assert_strings(json_object_get(o, "permissions"), fr, 1);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(o, "createBy"), "id")), bob);
    ck_assert_str_eq(
        json_string_value(json_object_get(json_object_get(o, "createBy"), "displayName")),
        "Bob User");
    ck_assert_ptr_null(json_object_get(o, "expiresAt"));
    ck_assert_ptr_null(json_object_get(o, "lastUsed"));
    ck_assert(json_is_true(json_object_get(o, "isActive")));
    o = find_key(list, s2.id);
    ck_assert_int_eq(json_array_size(json_object_get(o, "permissions")), 0);
    ck_assert_str_eq(json_string_value(json_object_get(o, "expiresAt")), utc_string(now + 7 * DAY));
    json_decref(list);

    list = list_keys(admin_basic, NULL);
    items = json_object_get(list, "response");
    ck_assert_int_eq(json_array_size(items), 4);
    const char *admin_order[] = {n.id, s2.id, a.id, s1.id};
    for (size_t i = 0; i < 4; i++)
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(items, i), "id")),
                         admin_order[i]);
    json_decref(list);

    ck_assert_int_eq(count_keys(other_basic), 0);

    /* No listing anywhere repeats a full key. */
    const char *auths[] = {user_basic, admin_basic, other_basic};
    for (size_t i = 0; i < 3; i++) {
        th_response_t r;
        call(&r, "GET", KEYS_PATH, auths[i], NULL, NULL);
        ck_assert_int_eq(r.status, 200);
        for (size_t k = 0; k < sizeof(all) / sizeof(all[0]); k++)
            ck_assert_ptr_null(strstr(r.body, all[k]->key + 3));
        th_response_dispose(&r);
    }
}
END_TEST

/* GET /api/2.0/keys/@self: the key this request used, for any scope; 404 without a key. */
START_TEST(self_endpoint)
{
    made_key_t k, other;
    create_key(user_basic, "{\"name\":\"me\",\"permissions\":[\"files:read\"],\"expiresInDays\":7}",
               &k);
    create_key(user_basic, "{\"name\":\"not me\"}", &other);
    const char *ways[] = {bearer(&k), fmt("ApiKeyBearer: %s", k.key),
                          fmt("ApiKeyBearer: Bearer %s", k.key)};
    for (size_t i = 0; i < 3; i++) {
        th_response_t r;
        call(&r, "GET", SELF_PATH, ways[i], NULL, NULL);
        json_t *j = assert_ok(&r);
        json_t *o = json_object_get(j, "response");
        assert_dto(o, NULL);
        ck_assert_str_eq(json_string_value(json_object_get(o, "id")), k.id);
        ck_assert_str_eq(json_string_value(json_object_get(o, "name")), "me");
        ck_assert_str_eq(json_string_value(json_object_get(o, "key")),
                         fmt("sk-***%s", k.key + IDD_APIKEY_LEN - 4));
        ck_assert_ptr_null(strstr(r.body, k.key + 3));
        static const char *const fr[] = {"files:read"};
        assert_strings(json_object_get(o, "permissions"), fr, 1);
        ck_assert_ptr_nonnull(json_object_get(o, "expiresAt"));
        json_decref(j);
        th_response_dispose(&r);
    }
    th_response_t r;
    call(&r, "GET", SELF_PATH, bearer(&other), NULL, NULL);
    json_t *j = assert_ok(&r);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "response"), "id")),
                     other.id);
    json_decref(j);
    th_response_dispose(&r);

    /* Basic and session: authenticated, but no key. */
    call(&r, "GET", SELF_PATH, user_basic, NULL, NULL);
    th_assert_error_envelope(&r, 404);
    th_response_dispose(&r);
    char *token = session_token("user@example.com", "user pass");
    const char *session = fmt("Authorization: %s", token);
    call(&r, "GET", SELF_PATH, session, NULL, NULL);
    th_assert_error_envelope(&r, 404);
    th_response_dispose(&r);
    call(&r, "GET", SELF_PATH, NULL, NULL, NULL);
    th_assert_error_envelope(&r, 401);
    th_response_dispose(&r);

    /* A session has *:write: it can create keys. */
    made_key_t via_session;
    create_key(session, "{\"name\":\"from a session\"}", &via_session);
    char bob[IDD_GUID_LEN + 1];
    user_id(1, "user@example.com", bob);
    assert_runs_as(bearer(&via_session), NULL, bob);
    free(token);
}
END_TEST

/* ---- updating ------------------------------------------------------------------------------ */

/* PUT changes what it is given, validates like create, and 404s on unknown ids. */
START_TEST(update_key)
{
    char bob[IDD_GUID_LEN + 1];
    user_id(1, "user@example.com", bob);
    made_key_t k;
    create_key(user_basic, "{\"name\":\"before\",\"permissions\":[\"*:read\"]}", &k);
    th_response_t r;
    call(&r, "PUT", key_path(k.id), user_basic, NULL, "{\"name\":\"after\"}");
    assert_true_wrapper(&r);
    th_response_dispose(&r);
    json_t *item = listed(user_basic, k.id);
    ck_assert_str_eq(json_string_value(json_object_get(item, "name")), "after");
    static const char *const star_read[] = {"*:read"};
    assert_strings(json_object_get(item, "permissions"), star_read, 1);
    ck_assert(json_is_true(json_object_get(item, "isActive")));
    json_decref(item);
    assert_runs_as(bearer(&k), NULL, bob);

    /* A permission change takes effect on the next request. */
    call(&r, "PUT", key_path(k.id), user_basic, NULL, "{\"permissions\":[\"files:read\"]}");
    assert_true_wrapper(&r);
    th_response_dispose(&r);
    for (int i = 0; i < 4; i++)
        assert_token_denied(bearer(&k));
    call(&r, "PUT", key_path(k.id), user_basic, NULL, "{\"permissions\":[]}");
    assert_true_wrapper(&r);
    th_response_dispose(&r);
    for (int i = 0; i < 4; i++)
        assert_runs_as(bearer(&k), NULL, bob);

    char e30[61] = "", e31[63];
    for (int i = 0; i < 30; i++)
        strcat(e30, E_ACUTE);
    strcpy(e31, e30), strcat(e31, E_ACUTE);
    call(&r, "PUT", key_path(k.id), user_basic, NULL, fmt("{\"name\":\"%s\"}", e30));
    assert_true_wrapper(&r);
    th_response_dispose(&r);

    const char *bad[] = {
        "{\"name\":\"\"}",
        fmt("{\"name\":\"%s\"}", e31),
        "{\"name\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}",
        "{\"name\":\"a\\u0001\"}",
        "{\"name\":\"a\\nb\"}",
        "{\"name\":5}",
        "{\"permissions\":[\"nope\"]}",
        "{\"permissions\":\"files:read\"}",
        "{\"permissions\":[1]}",
        "{\"permissions\":[\"files:read rooms:write\"]}",
        "{\"isActive\":\"false\"}",
        "{\"isActive\":0}",
        "{\"name\":\"ok\",\"isActive\":\"no\"}", /* one bad field spoils the whole change */
        "not json",
        "[]",
        "null",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(status_of("PUT", key_path(k.id), user_basic, NULL, bad[i]) == 400,
                      "accepted %s", bad[i]);
    item = listed(user_basic, k.id);
    ck_assert_str_eq(json_string_value(json_object_get(item, "name")), e30);
    ck_assert_int_eq(json_array_size(json_object_get(item, "permissions")), 0);
    ck_assert(json_is_true(json_object_get(item, "isActive")));
    json_decref(item);
    assert_runs_as(bearer(&k), NULL, bob);

    /* Unknown or malformed ids. */
    static const char *const ids[] = {"0b9f2c1e-5d4a-4e3b-9c8d-7a6b5c4d3e2f", "not-a-guid",
                                      "00000000-0000-0000-0000-000000000000"};
    for (size_t i = 0; i < 3; i++) {
        ck_assert_int_eq(status_of("PUT", key_path(ids[i]), user_basic, NULL, "{\"name\":\"x\"}"),
                         404);
        ck_assert_int_eq(status_of("DELETE", key_path(ids[i]), user_basic, NULL, NULL), 404);
    }
    ck_assert_int_eq(count_keys(user_basic), 1);
}
END_TEST

/* ---- lastUsed ------------------------------------------------------------------------------- */

/* Uses are recorded (coalesced, flushed at shutdown): after a restart lastUsed is there and
 * close to the time of use; a key never used has none. */
/* last_used as the database has it right now (0: never written). */
static int64_t stored_last_used(const char *id)
{
    idd_store_t *store = NULL;
    idd_apikey_t k;
    ck_assert_int_eq(idd_store_open(env.db, &store), 0);
    ck_assert_int_eq(idd_store_apikey_by_id(store, id, &k), 0);
    idd_store_free(store);
    return k.last_used;
}

START_TEST(last_used_survives_restart)
{
    made_key_t used, idle;
    create_key(user_basic, "{\"name\":\"used\"}", &used);
    create_key(user_basic, "{\"name\":\"idle\"}", &idle);
    json_t *item = listed(user_basic, used.id);
    ck_assert_ptr_null(json_object_get(item, "lastUsed"));
    json_decref(item);

    int64_t t0 = time(NULL);
    char *sub = token_sub(bearer(&used), NULL);
    free(sub);
    int64_t t1 = time(NULL);
    /* Using a key writes nothing: the use waits in memory for the once-a-minute flush (or
     * the one at shutdown), so a burst of requests is not a burst of database writes. */
    ck_assert_int_eq(stored_last_used(used.id), 0);

    ck_assert_int_eq(th_server_stop(&srv), 0);
    ck_assert(stored_last_used(used.id) >= t0);
    /* th_server_start finds the port in the log; the old log still names the old port until
     * the new process truncates it, so remove it first. */
    ck_assert_int_eq(unlink(srv.log), 0);
    th_server_start(&srv, &env);

    item = listed(user_basic, used.id);
    json_t *last = json_object_get(item, "lastUsed");
    ck_assert_msg(last != NULL, "lastUsed missing after a restart");
    int64_t when = api_time(last);
    ck_assert_msg(when >= t0 - 10 && when <= t1 + 10, "lastUsed %lld, used at %lld",
                  (long long)when, (long long)t0);
    json_decref(item);
    item = listed(user_basic, idle.id);
    ck_assert_ptr_null(json_object_get(item, "lastUsed"));
    json_decref(item);
}
END_TEST

/* A burst of uses of one key takes the shared table of pending uses at most once per loop and
 * minute, not once per request (the minute may turn during the burst: twice per loop). */
START_TEST(uses_noted_once_per_loop_and_minute)
{
    made_key_t k;
    create_key(user_basic, "{\"name\":\"burst\"}", &k);
    double before = th_metric(&srv, "identityd_apikey_uses_noted_total");
    for (int i = 0; i < 40; i++) {
        char *sub = token_sub(bearer(&k), NULL);
        free(sub);
    }
    double noted = th_metric(&srv, "identityd_apikey_uses_noted_total") - before;
    ck_assert_msg(noted >= 1 && noted <= 2 * th_threads, "%g uses noted for 40 requests", noted);
}
END_TEST

/* ---- the cap on keys per user, and revocation ------------------------------------------- */

#define KEY_LIMIT_MESSAGE                                                                          \
    "API key limit reached: a user may hold at most 50 API keys; delete one that is no "           \
    "longer needed first"

/* apikeys.max_per_user defaults to 50: the 51st key gets 400 with the error envelope and a
 * message that says what to do, through the API and identityctl alike; inactive keys count,
 * and deleting one makes room. Another user is not affected. */
START_TEST(key_cap)
{
    made_key_t k, first;
    create_key(user_basic, "{\"name\":\"key 0\"}", &first);
    ck_assert_int_eq(status_of("PUT", key_path(first.id), user_basic, NULL, "{\"isActive\":false}"),
                     200);
    for (int i = 1; i < 50; i++)
        create_key(user_basic, fmt("{\"name\":\"key %d\"}", i), &k);
    th_response_t r;
    call(&r, "POST", KEYS_PATH, user_basic, NULL, "{\"name\":\"one too many\"}");
    th_assert_error_envelope(&r, 400);
    th_assert_error_message(&r, KEY_LIMIT_MESSAGE);
    th_response_dispose(&r);
    ck_assert_int_eq(count_keys(user_basic), 50);

    const char *argv[] = {th_ctl(),           "-c",     env.config, "apikey", "create",
                          "user@example.com", "--name", "by ctl",   NULL};
    char *out = NULL, *err = NULL;
    ck_assert_int_ne(th_run(argv, NULL, &out, &err), 0);
    ck_assert_msg(strstr(err, "identityctl: " KEY_LIMIT_MESSAGE "\n") != NULL, "stderr: %s", err);
    ck_assert_msg(strstr(out, "sk-") == NULL, "stdout: %s", out);
    free(out), free(err);
    ck_assert_int_eq(count_keys(user_basic), 50);

    /* Another user still gets keys, from both. */
    create_key(other_basic, "{\"name\":\"other\"}", &k);
    const char *argv2[] = {th_ctl(), "-c",     env.config, "apikey", "create", "other@example.com",
                           "--name", "by ctl", NULL};
    ck_assert_int_eq(th_run(argv2, NULL, NULL, NULL), 0);

    /* Deleting one makes room for one. */
    ck_assert_int_eq(status_of("DELETE", key_path(first.id), user_basic, NULL, NULL), 200);
    create_key(user_basic, "{\"name\":\"room again\"}", &k);
    ck_assert_int_eq(create_status(user_basic, "{\"name\":\"and no more\"}"), 400);
}
END_TEST

#define REVOKED_MESSAGE "This API key was revoked and cannot be activated again"
#define ADMIN_ONLY_MESSAGE                                                                         \
    "This API key was deactivated by an administrator; only an administrator can activate it "     \
    "again"

static void revoke_with_ctl(const char *id)
{
    const char *argv[] = {th_ctl(), "-c", env.config, "apikey", "revoke", id, NULL};
    char *err = NULL;
    int rc = th_run(argv, NULL, NULL, &err);
    ck_assert_msg(rc == 0, "identityctl apikey revoke: %d %s", rc, err);
    free(err);
}

/* PUT isActive:true answers 403 with message, and the key stays refused. */
static void assert_reactivation_refused(const made_key_t *k, const char *auth, const char *message)
{
    th_response_t r;
    call(&r, "PUT", key_path(k->id), auth, NULL, "{\"isActive\":true,\"name\":\"renamed\"}");
    th_assert_error_envelope(&r, 403);
    th_assert_error_message(&r, message);
    th_response_dispose(&r);
    assert_refused(bearer(k), NULL);
}

/* Revoked is final: after `identityctl apikey revoke`, neither its owner nor an admin can
 * turn the key back on; the refused request changes nothing else either. */
START_TEST(revoked_stays_revoked)
{
    made_key_t k;
    create_key(user_basic, "{\"name\":\"revoked\"}", &k);
    revoke_with_ctl(k.id);
    assert_refused(bearer(&k), NULL);
    assert_reactivation_refused(&k, user_basic, REVOKED_MESSAGE);
    assert_reactivation_refused(&k, admin_basic, REVOKED_MESSAGE);
    /* Deactivating it again through the API does not make it a mere deactivation. */
    ck_assert_int_eq(status_of("PUT", key_path(k.id), user_basic, NULL, "{\"isActive\":false}"),
                     200);
    assert_reactivation_refused(&k, user_basic, REVOKED_MESSAGE);
    assert_reactivation_refused(&k, admin_basic, REVOKED_MESSAGE);

    /* What the listing shows: the key, masked, inactive, under its old name, with nothing
     * beyond DocSpace's members; to its owner and to the admin. */
    json_t *item = listed(user_basic, k.id);
    assert_dto(item, NULL);
    ck_assert(json_is_false(json_object_get(item, "isActive")));
    ck_assert_str_eq(json_string_value(json_object_get(item, "name")), "revoked");
    ck_assert_str_eq(json_string_value(json_object_get(item, "key")),
                     fmt("sk-***%s", k.key + IDD_APIKEY_LEN - 4));
    json_decref(item);
    item = listed(admin_basic, k.id);
    ck_assert(json_is_false(json_object_get(item, "isActive")));
    json_decref(item);

    /* identityctl says so too, and revoking again changes nothing. */
    const char *argv[] = {th_ctl(), "-c", env.config, "apikey", "revoke", k.id, NULL};
    char *out = NULL;
    ck_assert_int_eq(th_run(argv, NULL, &out, NULL), 0);
    ck_assert_msg(strstr(out, "already been revoked") != NULL, "stdout: %s", out);
    free(out);
}
END_TEST

/* A key its owner deactivated, then revoked by identityctl, is revoked. */
START_TEST(revoke_after_deactivation)
{
    made_key_t k;
    create_key(user_basic, "{\"name\":\"off then revoked\"}", &k);
    ck_assert_int_eq(status_of("PUT", key_path(k.id), user_basic, NULL, "{\"isActive\":false}"),
                     200);
    revoke_with_ctl(k.id);
    assert_reactivation_refused(&k, user_basic, REVOKED_MESSAGE);
    assert_reactivation_refused(&k, admin_basic, REVOKED_MESSAGE);
}
END_TEST

/* An admin's deactivation binds the owner: the owner cannot turn it back on (nor weaken it
 * by deactivating it again), an admin can. */
START_TEST(admin_deactivation)
{
    char bob[IDD_GUID_LEN + 1];
    user_id(1, "user@example.com", bob);
    made_key_t k;
    create_key(user_basic, "{\"name\":\"admin stops it\"}", &k);
    ck_assert_int_eq(status_of("PUT", key_path(k.id), admin_basic, NULL, "{\"isActive\":false}"),
                     200);
    assert_refused(bearer(&k), NULL);
    assert_reactivation_refused(&k, user_basic, ADMIN_ONLY_MESSAGE);
    ck_assert_int_eq(status_of("PUT", key_path(k.id), user_basic, NULL, "{\"isActive\":false}"),
                     200);
    assert_reactivation_refused(&k, user_basic, ADMIN_ONLY_MESSAGE);
    json_t *item = listed(user_basic, k.id);
    ck_assert_str_eq(json_string_value(json_object_get(item, "name")), "admin stops it");
    json_decref(item);

    th_response_t r;
    call(&r, "PUT", key_path(k.id), admin_basic, NULL, "{\"isActive\":true}");
    assert_true_wrapper(&r);
    th_response_dispose(&r);
    assert_runs_as(bearer(&k), NULL, bob);
    /* Once active again, the owner's own deactivation is the owner's to lift. */
    ck_assert_int_eq(status_of("PUT", key_path(k.id), user_basic, NULL, "{\"isActive\":false}"),
                     200);
    ck_assert_int_eq(status_of("PUT", key_path(k.id), user_basic, NULL, "{\"isActive\":true}"),
                     200);
    assert_runs_as(bearer(&k), NULL, bob);
}
END_TEST

/* The owner's own deactivation: the owner turns it back on, and so may an admin. */
START_TEST(owner_deactivation)
{
    char bob[IDD_GUID_LEN + 1];
    user_id(1, "user@example.com", bob);
    made_key_t k;
    create_key(user_basic, "{\"name\":\"mine\"}", &k);
    ck_assert_int_eq(status_of("PUT", key_path(k.id), user_basic, NULL, "{\"isActive\":false}"),
                     200);
    assert_refused(bearer(&k), NULL);
    ck_assert_int_eq(status_of("PUT", key_path(k.id), user_basic, NULL, "{\"isActive\":true}"),
                     200);
    assert_runs_as(bearer(&k), NULL, bob);
    ck_assert_int_eq(status_of("PUT", key_path(k.id), user_basic, NULL, "{\"isActive\":false}"),
                     200);
    ck_assert_int_eq(status_of("PUT", key_path(k.id), admin_basic, NULL, "{\"isActive\":true}"),
                     200);
    assert_runs_as(bearer(&k), NULL, bob);
}
END_TEST

static Suite *apikeys_suite(void)
{
    Suite *s = suite_create("apikeys");
    TCase *tc = tcase_create("keys");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, permissions_listed);
    tcase_add_test(tc, create_answer);
    tcase_add_test(tc, key_not_stored_or_logged);
    tcase_add_test(tc, create_name_validation);
    tcase_add_test(tc, name_rule_same_as_identityctl);
    tcase_add_test(tc, create_permissions_validation);
    tcase_add_test(tc, create_expiry_validation);
    tcase_add_test(tc, create_bad_bodies);
    tcase_add_test(tc, key_runs_as_creator);
    tcase_add_test(tc, refused_keys);
    tcase_add_test(tc, scopes_on_token_endpoint);
    tcase_add_test(tc, deactivate_and_reactivate);
    tcase_add_test(tc, identityctl_revoke);
    tcase_add_test(tc, delete_key);
    tcase_add_test(tc, expired_key);
    tcase_add_test(tc, tenant_isolation);
    tcase_add_test(tc, disabled_creator);
    tcase_add_test(tc, create_scope_escalation);
    tcase_add_test(tc, update_scope_escalation);
    tcase_add_test(tc, manage_needs_accounts_write);
    tcase_add_test(tc, guest_keys);
    tcase_add_test(tc, owner_admin_matrix);
    tcase_add_test(tc, list_order_and_masking);
    tcase_add_test(tc, self_endpoint);
    tcase_add_test(tc, update_key);
    tcase_add_test(tc, last_used_survives_restart);
    tcase_add_test(tc, uses_noted_once_per_loop_and_minute);
    tcase_add_test(tc, key_cap);
    tcase_add_test(tc, revoked_stays_revoked);
    tcase_add_test(tc, revoke_after_deactivation);
    tcase_add_test(tc, admin_deactivation);
    tcase_add_test(tc, owner_deactivation);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return th_run_suite(apikeys_suite());
}
