/*
 * The login surface besides sign-in and settings, end to end against a real identityd:
 * GET /api/2.0/people/@self with each credential kind identityd accepts here (Basic, session
 * token as header and cookie, API key; external tokens are in the interop suite
 * check_oidc_provider), each role, and anonymous callers; GET /api/2.0/capabilities and the
 * cosmetic calls DocSpace's login page makes. Every answer is checked against the field list
 * of docspace-login-surface.md (§3, §4, §6): each member's JSON type, the members that must be
 * there, the ones that must not, and no member the list does not know.
 */
#include <check.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fields.h"
#include "harness.h"
#include "identityd/store/store.h"

#define SELF_PATH "/api/2.0/people/@self"
#define AUTH_PATH "/api/2.0/authentication"
#define KEYS_PATH "/api/2.0/keys"
#define AC_PATH "/api/2.0/security/activeconnections"

static th_env_t env;
static th_server_t srv;

/* The users every test has. */
#define ADMIN "admin@example.com"
#define ADMIN_PASS "admin pass"
#define USER "Bob.User@Example.com"
#define USER_PASS "user pass"
#define GUEST "guest@example.com"
#define GUEST_PASS "guest pass"

/* EmployeeFullDto (§4, server 3.7.2): what identityd always sends, what DocSpace sends only
 * when set (identityd has none of it), and what an active user never carries. */
static const field_t employee_full[] = {
    {"id", T_STR, REQUIRED},
    {"displayName", T_STR, REQUIRED},
    {"avatar", T_STR, REQUIRED},
    {"avatarOriginal", T_STR, REQUIRED},
    {"avatarMax", T_STR, REQUIRED},
    {"avatarMedium", T_STR, REQUIRED},
    {"avatarSmall", T_STR, REQUIRED},
    {"profileUrl", T_STR, REQUIRED},
    {"hasAvatar", T_BOOL, REQUIRED},
    {"isAnonim", T_BOOL, REQUIRED},
    {"firstName", T_STR, REQUIRED},
    {"lastName", T_STR, REQUIRED},
    {"userName", T_STR, OPTIONAL},
    {"email", T_STR, REQUIRED},
    {"contacts", T_ARR, OPTIONAL},
    {"status", T_INT, REQUIRED},
    {"activationStatus", T_INT, REQUIRED},
    {"terminated", T_STR, FORBIDDEN}, /* active users only */
    {"department", T_STR, REQUIRED},
    {"groups", T_ARR, OPTIONAL},
    {"location", T_STR, OPTIONAL},
    {"notes", T_STR, OPTIONAL},
    {"mobilePhone", T_STR, OPTIONAL},
    {"isAdmin", T_BOOL, REQUIRED},
    {"isRoomAdmin", T_BOOL, REQUIRED},
    {"isLDAP", T_BOOL, REQUIRED},
    {"listAdminModules", T_ARR, OPTIONAL},
    {"isOwner", T_BOOL, REQUIRED},
    {"isVisitor", T_BOOL, REQUIRED},
    {"isCollaborator", T_BOOL, REQUIRED},
    {"cultureName", T_STR, OPTIONAL},
    {"mobilePhoneActivationStatus", T_INT, REQUIRED},
    {"isSSO", T_BOOL, REQUIRED},
    {"theme", T_STR, REQUIRED},
    {"usedSpace", T_NUM, OPTIONAL},
    {"quotaLimit", T_NUM, OPTIONAL},
    {"isCustomQuota", T_BOOL, OPTIONAL},
    {"loginEventId", T_INT, REQUIRED},
    {"authCookieLifetime", T_INT, OPTIONAL},
    {"registrationDate", T_STR, REQUIRED}, /* ApiDateTime: a string, never an object */
    {"hasPersonalFolder", T_BOOL, REQUIRED},
    {"createdBy", T_STR, OPTIONAL},
    {"tfaAppEnabled", T_BOOL, OPTIONAL},
};

/* CapabilitiesDto (§3): every member but ldapDomain required by the SDKs. */
static const field_t capabilities[] = {
    {"ldapEnabled", T_BOOL, REQUIRED},
    {"ldapDomain", T_STR, OPTIONAL},
    {"providers", T_ARR, REQUIRED},
    {"ssoLabel", T_STR, REQUIRED},
    {"oauthEnabled", T_BOOL, REQUIRED},
    {"ssoUrl", T_STR, REQUIRED},
    {"identityServerEnabled", T_BOOL, REQUIRED},
};

/* Colour themes (§6). */
static const field_t colortheme[] = {
    {"themes", T_ARR, REQUIRED},
    {"selected", T_INT, REQUIRED},
    {"limit", T_INT, REQUIRED},
};
static const field_t theme[] = {
    {"id", T_INT, REQUIRED},
    {"name", T_STR, REQUIRED},
    {"main", T_OBJ, REQUIRED},
    {"text", T_OBJ, REQUIRED},
};
static const field_t theme_colors[] = {
    {"accent", T_STR, REQUIRED},
    {"buttons", T_STR, REQUIRED},
};

/* SSO settings as an anonymous caller sees them (§6). */
static const field_t ssov2[] = {
    {"hideAuthPage", T_BOOL, REQUIRED},
    {"enableSso", T_BOOL, OPTIONAL},
};

/* The envelope (§0): response, count, links, status, statusCode. */
static const field_t envelope[] = {
    {"response", T_OBJ, OPTIONAL}, /* its type is checked by each test */
    {"count", T_INT, REQUIRED},    {"total", T_INT, OPTIONAL},      {"links", T_ARR, REQUIRED},
    {"status", T_INT, REQUIRED},   {"statusCode", T_INT, REQUIRED},
};

/* ---- plumbing --------------------------------------------------------------------------- */

static void setup(void)
{
    th_env_init(&env, "bruteforce: { attempts: 50, window: 60, block: 60 }\n", NULL);
    ck_assert_int_eq(th_add_user(&env, ADMIN, ADMIN_PASS, "Ada", "Lovelace", "admin"), 0);
    ck_assert_int_eq(th_add_user(&env, USER, USER_PASS, "Bob", "User", "user"), 0);
    ck_assert_int_eq(th_add_user(&env, GUEST, GUEST_PASS, "Gil", "Guest", "guest"), 0);
    th_server_start(&srv, &env);
}

static void teardown(void)
{
    ck_assert_int_eq(th_server_stop(&srv), 0);
    th_env_dispose(&env);
}

/* Requests method path with up to two header lines (either may be NULL) and a body. */
static void call(th_response_t *r, const char *method, const char *path, const char *h1,
                 const char *h2, const char *body)
{
    const char *h[3] = {NULL, NULL, NULL};
    size_t n = 0;
    if (h1 != NULL)
        h[n++] = h1;
    if (h2 != NULL)
        h[n++] = h2;
    char *u = th_url(&srv, path);
    th_http(r, method, u, h, body, body ? strlen(body) : 0, 0);
    free(u);
}

/* Asserts a 200 success envelope for GET path with count and returns its response member
 * (the document is kept in *doc for the caller to decref). */
static json_t *assert_ok(const th_response_t *r, const char *path, long count, json_t **doc)
{
    ck_assert_msg(r->status == 200, "GET %s: status %ld: %s", path, r->status, r->body);
    th_assert_json_content_type(r);
    json_t *j = th_json_parse(r->body);
    char what[128];
    snprintf(what, sizeof(what), "envelope of %s", path);
    /* the response member may be of any type: check it apart from the others */
    json_t *response = json_incref(json_object_get(j, "response"));
    ck_assert_msg(response != NULL, "%s: no response member: %s", path, r->body);
    json_object_del(j, "response");
    VALIDATE(j, what, envelope);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "status")), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "statusCode")), 200);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "count")), count);
    json_t *link = json_array_get(json_object_get(j, "links"), 0);
    char *href = th_url(&srv, path);
    ck_assert_str_eq(json_string_value(json_object_get(link, "href")), href);
    ck_assert_str_eq(json_string_value(json_object_get(link, "action")), "GET");
    free(href);
    json_object_set_new(j, "response", response);
    *doc = j;
    return response;
}

/* GET /people/@self with one credential header (NULL: none) and returns the EmployeeFullDto,
 * validated against the field list; *doc receives the document to decref. */
static json_t *get_self(const char *credential, json_t **doc)
{
    th_response_t r;
    call(&r, "GET", SELF_PATH, credential, NULL, NULL);
    json_t *self = assert_ok(&r, SELF_PATH, 1, doc);
    th_response_dispose(&r);
    VALIDATE(self, "EmployeeFullDto", employee_full);
    return self;
}

static const char *str(json_t *obj, const char *name)
{
    const char *s = json_string_value(json_object_get(obj, name));
    ck_assert_msg(s != NULL, "%s is not a string", name);
    return s;
}

static void assert_bool(json_t *obj, const char *name, bool expected)
{
    json_t *v = json_object_get(obj, name);
    ck_assert_msg(json_is_boolean(v) && json_is_true(v) == expected, "%s is not %s", name,
                  expected ? "true" : "false");
}

static long long integer(json_t *obj, const char *name)
{
    json_t *v = json_object_get(obj, name);
    ck_assert_msg(json_is_integer(v), "%s is not an integer", name);
    return json_integer_value(v);
}

/* Signs in with the plain password and returns the session token (malloc'd). */
static char *sign_in(const char *email, const char *password)
{
    char *body = th_strf("{\"userName\":\"%s\",\"password\":\"%s\"}", email, password);
    th_response_t r;
    call(&r, "POST", AUTH_PATH, "Content-Type: application/json", NULL, body);
    ck_assert_msg(r.status == 200, "sign-in of %s: %ld %s", email, r.status, r.body);
    json_t *j = th_json_parse(r.body);
    char *token = strdup(str(json_object_get(j, "response"), "token"));
    json_decref(j);
    th_response_dispose(&r);
    free(body);
    return token;
}

/* The loginEvent the server reports for this session (activeconnections). */
static long long login_event_of(const char *credential)
{
    th_response_t r;
    json_t *doc;
    call(&r, "GET", AC_PATH, credential, NULL, NULL);
    json_t *resp = assert_ok(&r, AC_PATH, 1, &doc);
    long long id = integer(resp, "loginEvent");
    json_decref(doc);
    th_response_dispose(&r);
    return id;
}

/* Creates an API key with the given permissions (a JSON array, or NULL: full access) as
 * credential, and returns the key (malloc'd). */
static char *create_key(const char *credential, const char *permissions)
{
    char *body = permissions ? th_strf("{\"name\":\"k\",\"permissions\":%s}", permissions)
                             : th_strf("{\"name\":\"k\"}");
    th_response_t r;
    call(&r, "POST", KEYS_PATH, credential, "Content-Type: application/json", body);
    ck_assert_msg(r.status == 200, "key creation: %ld %s", r.status, r.body);
    json_t *j = th_json_parse(r.body);
    char *key = strdup(str(json_object_get(j, "response"), "key"));
    json_decref(j);
    th_response_dispose(&r);
    free(body);
    return key;
}

/* The "yyyy-MM-ddTHH:mm:ss.0000000Z" ApiDateTime of t for a UTC tenant. */
static void api_date(time_t t, char out[64])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 64, "%Y-%m-%dT%H:%M:%S.0000000Z", &tm);
}

/* Asserts what every @self of the user with this email says whatever the credential. */
static void assert_is(json_t *self, const char *email, const char *display, const char *role)
{
    idd_user_t u;
    th_user_row(&env, 1, email, &u);
    ck_assert_str_eq(str(self, "id"), u.id);
    ck_assert_str_eq(str(self, "email"), u.email);
    ck_assert_str_eq(str(self, "firstName"), u.first_name);
    ck_assert_str_eq(str(self, "lastName"), u.last_name);
    ck_assert_str_eq(str(self, "displayName"), display);
    ck_assert_int_eq(integer(self, "status"), 1);
    ck_assert_int_eq(integer(self, "activationStatus"), 1);
    ck_assert_int_eq(integer(self, "mobilePhoneActivationStatus"), 0);
    ck_assert_str_eq(str(self, "department"), "");
    ck_assert_str_eq(str(self, "theme"), "System");
    assert_bool(self, "hasAvatar", false);
    assert_bool(self, "isAnonim", false);
    assert_bool(self, "isLDAP", false);
    assert_bool(self, "isSSO", false);
    assert_bool(self, "isOwner", false);
    assert_bool(self, "isRoomAdmin", false);
    /* the role mapping of §4 */
    bool admin = strcmp(role, "admin") == 0, guest = strcmp(role, "guest") == 0;
    assert_bool(self, "isAdmin", admin);
    assert_bool(self, "isVisitor", guest);
    assert_bool(self, "isCollaborator", strcmp(role, "user") == 0);
    assert_bool(self, "hasPersonalFolder", !guest);
    /* default photos, and the profile link searching for the lowercase, escaped e-mail */
    ck_assert_str_eq(str(self, "avatar"),
                     "/static/images/default_user_photo_size_82-82.png?hash=1");
    ck_assert_str_eq(str(self, "avatarMax"),
                     "/static/images/default_user_photo_size_200-200.png?hash=1");
    ck_assert_str_eq(str(self, "avatarOriginal"),
                     "/static/images/default_user_photo_size_200-200.png?hash=1");
    ck_assert_str_eq(str(self, "avatarMedium"),
                     "/static/images/default_user_photo_size_48-48.png?hash=1");
    ck_assert_str_eq(str(self, "avatarSmall"),
                     "/static/images/default_user_photo_size_32-32.png?hash=1");
    char lower[IDD_EMAIL_MAX + 1], escaped[3 * IDD_EMAIL_MAX + 1];
    size_t n = 0;
    for (size_t i = 0; u.email[i] != '\0'; i++)
        lower[i] = (char)(u.email[i] >= 'A' && u.email[i] <= 'Z' ? u.email[i] + 32 : u.email[i]),
        lower[i + 1] = '\0';
    for (size_t i = 0; lower[i] != '\0'; i++)
        n += (size_t)(lower[i] == '@' ? sprintf(escaped + n, "%%40")
                                      : sprintf(escaped + n, "%c", lower[i]));
    char *profile =
        th_strf("%s/accounts/%s/filter?search=%s", srv.base, guest ? "guests" : "people", escaped);
    ck_assert_str_eq(str(self, "profileUrl"), profile);
    free(profile);
    /* registrationDate: the user's creation time as an ApiDateTime string (UTC tenant) */
    char date[64];
    api_date((time_t)u.created, date);
    ck_assert_str_eq(str(self, "registrationDate"), date);
}

/* ---- @self ------------------------------------------------------------------------------- */

/* Basic: each role, loginEventId 0 (no session). */
START_TEST(self_basic_each_role)
{
    static const struct {
        const char *email, *password, *display, *role;
    } who[] = {
        {ADMIN, ADMIN_PASS, "Ada Lovelace", "admin"},
        {USER, USER_PASS, "Bob User", "user"},
        {GUEST, GUEST_PASS, "Gil Guest", "guest"},
    };
    for (size_t i = 0; i < sizeof(who) / sizeof(who[0]); i++) {
        char *basic = th_basic(who[i].email, who[i].password);
        json_t *doc;
        json_t *self = get_self(basic, &doc);
        assert_is(self, who[i].email, who[i].display, who[i].role);
        ck_assert_int_eq(integer(self, "loginEventId"), 0);
        json_decref(doc);
        free(basic);
    }
}
END_TEST

/* A session, as the raw Authorization value the login server forwards, as a Bearer token and
 * as the asc_auth_key cookie: loginEventId is that session's login event. */
START_TEST(self_session_forms)
{
    static const struct {
        const char *email, *password, *display, *role;
    } who[] = {
        {ADMIN, ADMIN_PASS, "Ada Lovelace", "admin"},
        {USER, USER_PASS, "Bob User", "user"},
        {GUEST, GUEST_PASS, "Gil Guest", "guest"},
    };
    for (size_t i = 0; i < sizeof(who) / sizeof(who[0]); i++) {
        char *token = sign_in(who[i].email, who[i].password);
        char *forms[3] = {th_strf("Authorization: %s", token),
                          th_strf("Authorization: Bearer %s", token),
                          th_strf("Cookie: asc_auth_key=%s", token)};
        long long event = login_event_of(forms[0]);
        ck_assert(event > 0);
        for (size_t f = 0; f < 3; f++) {
            json_t *doc;
            json_t *self = get_self(forms[f], &doc);
            assert_is(self, who[i].email, who[i].display, who[i].role);
            ck_assert_int_eq(integer(self, "loginEventId"), event);
            json_decref(doc);
            free(forms[f]);
        }
        free(token);
    }
}
END_TEST

/* API keys: full access and the narrow permissions that cover one's own account
 * (accounts.self:read, and accounts:read, which covers it); loginEventId 0. A key for
 * something else entirely is refused with 403. */
START_TEST(self_api_keys)
{
    static const struct {
        const char *email, *password, *display, *role;
    } who[] = {
        {ADMIN, ADMIN_PASS, "Ada Lovelace", "admin"},
        {USER, USER_PASS, "Bob User", "user"},
    };
    static const char *const allowed[] = {NULL, "[\"accounts.self:read\"]",
                                          "[\"accounts.self:write\"]", "[\"accounts:read\"]",
                                          "[\"*:read\"]"};
    for (size_t i = 0; i < sizeof(who) / sizeof(who[0]); i++) {
        char *basic = th_basic(who[i].email, who[i].password);
        for (size_t k = 0; k < sizeof(allowed) / sizeof(allowed[0]); k++) {
            char *key = create_key(basic, allowed[k]);
            /* both ways DocSpace's clients send a key */
            char *forms[2] = {th_strf("Authorization: Bearer %s", key),
                              th_strf("ApiKeyBearer: %s", key)};
            for (size_t f = 0; f < 2; f++) {
                json_t *doc;
                json_t *self = get_self(forms[f], &doc);
                assert_is(self, who[i].email, who[i].display, who[i].role);
                ck_assert_int_eq(integer(self, "loginEventId"), 0);
                json_decref(doc);
                free(forms[f]);
            }
            free(key);
        }
        char *narrow = create_key(basic, "[\"files:read\"]");
        char *h = th_strf("Authorization: Bearer %s", narrow);
        th_response_t r;
        call(&r, "GET", SELF_PATH, h, NULL, NULL);
        th_assert_error_envelope(&r, 403);
        th_response_dispose(&r);
        free(h), free(narrow), free(basic);
    }
}
END_TEST

/* Without a valid credential: 401 in the error envelope, never a profile. */
START_TEST(self_anonymous_401)
{
    char *wrong = th_basic(ADMIN, "wrong pass");
    const char *cases[] = {NULL, wrong,
                           "Cookie: asc_auth_key=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                           "Authorization: Bearer "
                           "sk-0000000000000000000000000000000000000000000000000000000000000000"};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        th_response_t r;
        call(&r, "GET", SELF_PATH, cases[i], NULL, NULL);
        th_assert_error_envelope(&r, 401);
        json_t *j = th_json_parse(r.body);
        ck_assert_ptr_null(json_object_get(j, "response"));
        json_decref(j);
        th_response_dispose(&r);
    }
    free(wrong);
}
END_TEST

/* displayName is HTML-encoded (a name is markup-free wherever a client puts it), then
 * JSON-escaped; firstName and lastName are the names as they are; a user without names is
 * shown by e-mail. */
START_TEST(self_display_name_escaping)
{
    ck_assert_int_eq(th_add_user(&env, "xss@example.com", "xss pass", "<script>alert('x')</script>",
                                 "O\"Brien & Co", "user"),
                     0);
    char *basic = th_basic("xss@example.com", "xss pass");
    json_t *doc;
    json_t *self = get_self(basic, &doc);
    ck_assert_str_eq(str(self, "displayName"),
                     "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; O&quot;Brien &amp; Co");
    ck_assert_str_eq(str(self, "firstName"), "<script>alert('x')</script>");
    ck_assert_str_eq(str(self, "lastName"), "O\"Brien & Co");
    json_decref(doc);
    free(basic);

    /* no names: the e-mail (HTML-encoded too) */
    th_sql(&env,
           "UPDATE users SET first_name = '', last_name = '' WHERE email = 'xss@example.com'");
    basic = th_basic("xss@example.com", "xss pass");
    self = get_self(basic, &doc);
    ck_assert_str_eq(str(self, "displayName"), "xss@example.com");
    json_decref(doc);
    free(basic);
}
END_TEST

/* ---- capabilities and the login page's cosmetic calls ---------------------------------------- */

/* Anonymous, in the envelope, exactly the reference's members with identityd's values: no
 * LDAP, no SSO, no social sign-in, no OAuth-app management; the .json spelling too. */
START_TEST(capabilities_anonymous)
{
    static const char *const paths[] = {"/api/2.0/capabilities", "/api/2.0/capabilities.json"};
    for (size_t i = 0; i < 2; i++) {
        th_response_t r;
        json_t *doc;
        call(&r, "GET", paths[i], NULL, NULL, NULL);
        json_t *c = assert_ok(&r, paths[i], 1, &doc);
        VALIDATE(c, "CapabilitiesDto", capabilities);
        assert_bool(c, "ldapEnabled", false);
        assert_bool(c, "oauthEnabled", false);
        assert_bool(c, "identityServerEnabled", false);
        ck_assert_uint_eq(json_array_size(json_object_get(c, "providers")), 0);
        ck_assert_str_eq(str(c, "ssoLabel"), "");
        ck_assert_str_eq(str(c, "ssoUrl"), "");
        ck_assert_ptr_null(json_object_get(c, "ldapDomain"));
        json_decref(doc);
        th_response_dispose(&r);
    }
    /* ?fields= keeps only the members named, in the order sent (reference §0). */
    th_response_t r;
    json_t *doc;
    call(&r, "GET", "/api/2.0/capabilities?fields=ssoUrl,oauthenabled,nosuch", NULL, NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    doc = th_json_parse(r.body);
    json_t *c = json_object_get(doc, "response");
    ck_assert_int_eq(json_object_size(c), 2);
    ck_assert_ptr_nonnull(json_object_get(c, "ssoUrl"));
    ck_assert_ptr_nonnull(json_object_get(c, "oauthEnabled"));
    ck_assert_ptr_nonnull(json_object_get(doc, "links"));
    json_decref(doc);
    th_response_dispose(&r);
}
END_TEST

/* The cosmetic calls answer anonymous and signed-in callers alike, in the envelope. */
START_TEST(login_page_calls)
{
    char *basic = th_basic(USER, USER_PASS);
    const char *callers[] = {NULL, basic};
    for (size_t c = 0; c < 2; c++) {
        th_response_t r;
        json_t *doc;

        call(&r, "GET", "/api/2.0/settings/colortheme", callers[c], NULL, NULL);
        json_t *ct = assert_ok(&r, "/api/2.0/settings/colortheme", 1, &doc);
        VALIDATE(ct, "colortheme", colortheme);
        json_t *themes = json_object_get(ct, "themes");
        ck_assert_uint_ge(json_array_size(themes), 1);
        bool selected_listed = false;
        size_t i;
        json_t *t;
        json_array_foreach(themes, i, t)
        {
            VALIDATE(t, "theme", theme);
            VALIDATE(json_object_get(t, "main"), "theme.main", theme_colors);
            VALIDATE(json_object_get(t, "text"), "theme.text", theme_colors);
            selected_listed |= integer(t, "id") == integer(ct, "selected");
        }
        ck_assert(selected_listed);
        json_decref(doc);
        th_response_dispose(&r);

        call(&r, "GET", "/api/2.0/settings/ssov2", callers[c], NULL, NULL);
        json_t *sso = assert_ok(&r, "/api/2.0/settings/ssov2", 1, &doc);
        VALIDATE(sso, "ssov2", ssov2);
        assert_bool(sso, "hideAuthPage", false);
        json_decref(doc);
        th_response_dispose(&r);

        /* the query the login page adds is no part of the route */
        call(&r, "GET", "/api/2.0/people/thirdparty/providers?inviteView=false", callers[c], NULL,
             NULL);
        json_t *prov =
            assert_ok(&r, "/api/2.0/people/thirdparty/providers?inviteView=false", 0, &doc);
        ck_assert(json_is_array(prov));
        ck_assert_uint_eq(json_array_size(prov), 0);
        json_decref(doc);
        th_response_dispose(&r);

        call(&r, "GET", "/api/2.0/settings/cultures", callers[c], NULL, NULL);
        json_t *cultures = assert_ok(&r, "/api/2.0/settings/cultures", 1, &doc);
        ck_assert(json_is_array(cultures));
        ck_assert_uint_eq(json_array_size(cultures), 1);
        ck_assert_str_eq(json_string_value(json_array_get(cultures, 0)), "en-US");
        json_decref(doc);
        th_response_dispose(&r);
    }
    free(basic);
}
END_TEST

/* These are GET routes: anything else is 405 in the error envelope. */
START_TEST(other_methods_refused)
{
    static const char *const paths[] = {SELF_PATH, "/api/2.0/capabilities",
                                        "/api/2.0/settings/colortheme",
                                        "/api/2.0/settings/cultures"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        th_response_t r;
        call(&r, "POST", paths[i], "Content-Type: application/json", NULL, "{}");
        th_assert_error_envelope(&r, 405);
        th_response_dispose(&r);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("surface");
    TCase *tc = tcase_create("self");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, self_basic_each_role);
    tcase_add_test(tc, self_session_forms);
    tcase_add_test(tc, self_api_keys);
    tcase_add_test(tc, self_anonymous_401);
    tcase_add_test(tc, self_display_name_escaping);
    suite_add_tcase(s, tc);
    tc = tcase_create("login_page");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, capabilities_anonymous);
    tcase_add_test(tc, login_page_calls);
    tcase_add_test(tc, other_methods_refused);
    suite_add_tcase(s, tc);
    return th_run_suite(s);
}
