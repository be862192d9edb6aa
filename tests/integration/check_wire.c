/*
 * What a DocSpace client reads, against a real identityd: every answer checked against the
 * field lists of docspace-login-surface.md (§1, §2) with their JSON types — dates as one
 * string in the tenant's zone for each of the reference's vectors, the sign-in's plain
 * `expires`, and GET /api/2.0/settings for anonymous callers, Basic, a session cookie and
 * withpassword. Instants are written into the database, so no assertion waits on a clock.
 */
#include <check.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apidate.h"
#include "harness.h"

#define AUTH_PATH "/api/2.0/authentication"
#define SETTINGS_PATH "/api/2.0/settings"
#define KEYS_PATH "/api/2.0/keys"
#define AC_PATH "/api/2.0/security/activeconnections"
#define ZERO_GUID "00000000-0000-0000-0000-000000000000"
#define MIN_VALUE (-62135596800LL)

static th_env_t env;
static th_server_t srv;

/* ---- a field-list validator ----------------------------------------------------------- */

typedef enum { T_STR, T_BOOL, T_INT, T_NUM, T_OBJ, T_ARR } jtype_t;
/* When a field must be there: always; only for anonymous callers; only for signed-in ones;
 * with the password parameters; optional (either way); never. */
typedef enum { ALWAYS, ANON, SIGNED, PASSWORD, OPTIONAL, NEVER } rule_t;

typedef struct field {
    const char *name;
    jtype_t type;
    rule_t rule;
} field_t;

static bool type_ok(json_t *v, jtype_t t)
{
    switch (t) {
    case T_STR:
        return json_is_string(v);
    case T_BOOL:
        return json_is_boolean(v);
    case T_INT:
        return json_is_integer(v);
    case T_NUM:
        return json_is_number(v);
    case T_OBJ:
        return json_is_object(v);
    case T_ARR:
        return json_is_array(v);
    }
    return false;
}

/* Every field of the list present or absent as its rule says for this caller, with its type,
 * and no field that the list does not name. */
static void validate(json_t *o, const field_t *fields, size_t n, bool signed_in, bool password,
                     const char *what)
{
    ck_assert_msg(json_is_object(o), "%s: not an object", what);
    for (size_t i = 0; i < n; i++) {
        const field_t *f = &fields[i];
        json_t *v = json_object_get(o, f->name);
        bool want = f->rule == ALWAYS || (f->rule == ANON && !signed_in) ||
                    (f->rule == SIGNED && signed_in) || (f->rule == PASSWORD && password);
        bool forbid = f->rule == NEVER || (f->rule == ANON && signed_in) ||
                      (f->rule == SIGNED && !signed_in) || (f->rule == PASSWORD && !password);
        if (want)
            ck_assert_msg(v != NULL, "%s: %s missing", what, f->name);
        if (forbid)
            ck_assert_msg(v == NULL, "%s: %s must not be sent", what, f->name);
        if (v != NULL)
            ck_assert_msg(type_ok(v, f->type), "%s: %s has the wrong type", what, f->name);
    }
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        bool known = false;
        for (size_t i = 0; i < n && !known; i++)
            known = strcmp(fields[i].name, key) == 0;
        ck_assert_msg(known, "%s: unexpected field %s", what, key);
    }
}

#define VALIDATE(o, list, signed_in, password, what)                                               \
    validate(o, list, sizeof(list) / sizeof(list[0]), signed_in, password, what)

/* §2 SettingsDto */
static const field_t settings_fields[] = {
    {"culture", T_STR, ALWAYS},
    {"greetingSettings", T_STR, ALWAYS},
    {"docSpace", T_BOOL, ALWAYS},
    {"standalone", T_BOOL, ALWAYS},
    {"isAmi", T_BOOL, ALWAYS},
    {"baseDomain", T_STR, ALWAYS},
    {"version", T_STR, ALWAYS},
    {"tenantStatus", T_INT, ALWAYS},
    {"tenantAlias", T_STR, ALWAYS},
    {"enableAdmMess", T_BOOL, ALWAYS},
    {"cookieSettingsEnabled", T_BOOL, ALWAYS},
    {"userNameRegex", T_STR, ALWAYS},
    {"displayAbout", T_BOOL, ALWAYS},
    {"deepLink", T_OBJ, ALWAYS},
    {"logoText", T_STR, ALWAYS},
    {"externalResources", T_OBJ, ALWAYS},
    {"trustedDomainsType", T_INT, ALWAYS},
    {"utcOffset", T_STR, ALWAYS},
    {"utcHoursOffset", T_NUM, ALWAYS},
    {"ownerId", T_STR, ALWAYS},
    {"recaptchaType", T_INT, ALWAYS},
    {"debugInfo", T_BOOL, ALWAYS},
    {"limitedAccessSpace", T_BOOL, ALWAYS},
    {"limitedAccessDevToolsForUsers", T_BOOL, ALWAYS},
    {"displayBanners", T_BOOL, ALWAYS},
    {"aiEnabled", T_BOOL, ALWAYS},
    {"maxImageUploadSize", T_INT, ALWAYS},
    {"defaultFolderType", T_INT, ALWAYS},
    {"externalDbEnabled", T_BOOL, ALWAYS},
    {"enabledJoin", T_BOOL, ANON},
    {"thirdpartyEnable", T_BOOL, ANON},
    {"recaptchaPublicKey", T_STR, NEVER}, /* no recaptcha configured */
    {"trustedDomains", T_ARR, SIGNED},
    {"timezone", T_STR, SIGNED},
    {"socketUrl", T_STR, SIGNED},
    {"domainValidator", T_OBJ, SIGNED},
    {"firebase", T_OBJ, SIGNED},
    {"plugins", T_OBJ, SIGNED},
    {"formGallery", T_OBJ, SIGNED},
    {"invitationLimit", T_INT, SIGNED},
    {"nameSchemaId", T_STR, OPTIONAL},
    {"zendeskKey", T_STR, OPTIONAL},
    {"tagManagerId", T_STR, OPTIONAL},
    {"passwordHash", T_OBJ, PASSWORD},
    {"wizardToken", T_STR, NEVER},
};
static const field_t deep_link_fields[] = {
    {"androidPackageName", T_STR, ALWAYS},
    {"url", T_STR, ALWAYS},
    {"iosPackageId", T_STR, ALWAYS},
};
static const field_t password_hash_fields[] = {
    {"size", T_INT, ALWAYS},
    {"iterations", T_INT, ALWAYS},
    {"salt", T_STR, ALWAYS},
};
static const field_t domain_validator_fields[] = {
    {"regex", T_STR, ALWAYS},
    {"minLength", T_INT, ALWAYS},
    {"maxLength", T_INT, ALWAYS},
};
static const field_t firebase_fields[] = {
    {"apiKey", T_STR, ALWAYS},
    {"authDomain", T_STR, ALWAYS},
    {"projectId", T_STR, ALWAYS},
    {"storageBucket", T_STR, ALWAYS},
    {"messagingSenderId", T_STR, ALWAYS},
    {"appId", T_STR, ALWAYS},
    {"measurementId", T_STR, ALWAYS},
    {"databaseURL", T_STR, ALWAYS},
};
static const field_t plugins_fields[] = {
    {"enabled", T_BOOL, ALWAYS},
    {"upload", T_BOOL, ALWAYS},
    {"delete", T_BOOL, ALWAYS},
};
static const field_t form_gallery_fields[] = {
    {"path", T_STR, ALWAYS},
    {"domain", T_STR, ALWAYS},
    {"ext", T_STR, ALWAYS},
    {"uploadPath", T_STR, ALWAYS},
    {"uploadDomain", T_STR, ALWAYS},
    {"uploadExt", T_STR, ALWAYS},
    {"uploadDashboard", T_STR, ALWAYS},
};
/* AuthenticationTokenDto (§1, §5.2: tfa fields only when two-factor applies) */
static const field_t token_fields[] = {
    {"token", T_STR, ALWAYS}, {"expires", T_STR, ALWAYS}, {"sms", T_BOOL, ALWAYS},
    {"tfa", T_BOOL, ALWAYS},  {"tfaKey", T_STR, NEVER},   {"confirmUrl", T_STR, NEVER},
};
/* ApiKeyResponseDto */
static const field_t key_fields[] = {
    {"id", T_STR, ALWAYS},         {"name", T_STR, ALWAYS},        {"key", T_STR, ALWAYS},
    {"keyPostfix", T_STR, ALWAYS}, {"permissions", T_ARR, ALWAYS}, {"lastUsed", T_STR, OPTIONAL},
    {"createOn", T_STR, ALWAYS},   {"createBy", T_OBJ, OPTIONAL},  {"expiresAt", T_STR, OPTIONAL},
    {"isActive", T_BOOL, ALWAYS},
};
/* ActiveConnectionsDto and its items */
static const field_t connections_fields[] = {
    {"loginEvent", T_INT, ALWAYS},
    {"items", T_ARR, ALWAYS},
};
static const field_t connection_fields[] = {
    {"id", T_INT, ALWAYS},       {"tenantId", T_INT, ALWAYS}, {"userId", T_STR, ALWAYS},
    {"mobile", T_BOOL, ALWAYS},  {"ip", T_STR, ALWAYS},       {"browser", T_STR, ALWAYS},
    {"platform", T_STR, ALWAYS}, {"date", T_STR, ALWAYS},
};

/* ---- plumbing --------------------------------------------------------------------------- */

static void start(const char *timezone)
{
    static char tenants[512];
    snprintf(tenants, sizeof(tenants),
             "tenants:\n"
             "  - { id: 1, name: default, domains: [localhost, 127.0.0.1, \"::1\"],"
             " timezone: %s }\n"
             "  - { id: 2, name: second, domains: [second.test] }\n",
             timezone);
    th_tenants_yaml = tenants;
    th_env_init(&env, "bruteforce: { attempts: 50, window: 60, block: 60 }\n", NULL);
    th_tenants_yaml = NULL;
    ck_assert_int_eq(
        th_add_user(&env, "admin@example.com", "correct horse", "Ada", "Lovelace", "admin"), 0);
    th_server_start(&srv, &env);
}

static void stop(void)
{
    ck_assert_int_eq(th_server_stop(&srv), 0);
    th_env_dispose(&env);
}

static void request(th_response_t *r, const char *method, const char *path, const char *h1,
                    const char *body)
{
    const char *h[3] = {"Content-Type: application/json", h1, NULL};
    char *u = th_url(&srv, path);
    th_http(r, method, u, h, body, body ? strlen(body) : 0, 0);
    free(u);
}

/* The response of a 200 envelope (owned by *doc). */
static json_t *ok(const th_response_t *r, json_t **doc, const char *what)
{
    ck_assert_msg(r->status == 200, "%s: %ld %s", what, r->status, r->body);
    th_assert_json_content_type(r);
    *doc = th_json_parse(r->body);
    ck_assert_int_eq(json_integer_value(json_object_get(*doc, "statusCode")), 200);
    json_t *resp = json_object_get(*doc, "response");
    ck_assert_ptr_nonnull(resp);
    return resp;
}

static char *admin_basic(void)
{
    return th_basic("admin@example.com", "correct horse");
}

/* Signs in and returns the response document; session: browser session or not. */
static json_t *sign_in(bool session, char **cookie)
{
    th_response_t r;
    char body[256];
    snprintf(body, sizeof(body),
             "{\"userName\":\"admin@example.com\",\"password\":\"correct horse\",\"session\":%s}",
             session ? "true" : "false");
    request(&r, "POST", AUTH_PATH, NULL, body);
    json_t *doc;
    json_t *resp = ok(&r, &doc, "sign-in");
    VALIDATE(resp, token_fields, false, false, "AuthenticationTokenDto");
    ck_assert(json_is_false(json_object_get(resp, "sms")));
    ck_assert(json_is_false(json_object_get(resp, "tfa")));
    if (cookie != NULL)
        *cookie =
            th_strf("Cookie: asc_auth_key=%s", json_string_value(json_object_get(resp, "token")));
    th_response_dispose(&r);
    return doc;
}

/* ---- dates: one server per zone vector ----------------------------------------------------- */

typedef struct vector {
    const char *zone;
    int64_t created, expires; /* of an API key */
    const char *want_created, *want_expires;
    int64_t session_created; /* of a session */
    const char *want_session;
} vector_t;

/* §1's examples, London's zero summer-free offset, and instants past the zone files' last
 * transitions (their POSIX rules). Seconds only: identityd stores whole seconds. */
static const vector_t vectors[] = {
    {"UTC", 1751278391, 4118126400, "2025-06-30T10:13:11.0000000Z", "2100-07-01T12:00:00.0000000Z",
     1736937000, "2025-01-15T10:30:00.0000000Z"},
    {"Europe/Berlin", 1751278391, 4102488000, "2025-06-30T12:13:11.0000000+02:00",
     "2100-01-01T13:00:00.0000000+01:00", MIN_VALUE, "0001-01-01T00:00:00.0000000Z"},
    {"America/New_York", 1736937000, 4118126400, "2025-01-15T05:30:00.0000000-05:00",
     "2100-07-01T08:00:00.0000000-04:00", 1751278391, "2025-06-30T06:13:11.0000000-04:00"},
    {"Europe/London", 1736937000, 4118126400, "2025-01-15T10:30:00.0000000Z",
     "2100-07-01T13:00:00.0000000+01:00", 1751278391, "2025-06-30T11:13:11.0000000+01:00"},
};

START_TEST(dates_in_the_tenants_zone)
{
    const vector_t *v = &vectors[_i];
    start(v->zone);
    char *auth = admin_basic();

    /* a key, made now, then dated by the database */
    th_response_t r;
    request(&r, "POST", KEYS_PATH, auth, "{\"name\":\"dated\",\"expiresInDays\":30}");
    json_t *doc;
    json_t *created = ok(&r, &doc, "create key");
    VALIDATE(created, key_fields, true, false, "created key");
    int offset;
    apidate_parse(json_object_get(created, "createOn"), &offset);
    apidate_parse(json_object_get(created, "expiresAt"), NULL);
    char *sql = th_strf("UPDATE api_keys SET create_on = %lld, expires_at = %lld, last_used = %lld",
                        (long long)v->created, (long long)v->expires, (long long)v->created);
    th_sql(&env, sql);
    free(sql);
    json_decref(doc);
    th_response_dispose(&r);

    request(&r, "GET", KEYS_PATH, auth, NULL);
    json_t *list = ok(&r, &doc, "list keys");
    ck_assert_int_eq(json_array_size(list), 1);
    json_t *k = json_array_get(list, 0);
    VALIDATE(k, key_fields, true, false, "listed key");
    ck_assert_str_eq(json_string_value(json_object_get(k, "createOn")), v->want_created);
    ck_assert_str_eq(json_string_value(json_object_get(k, "lastUsed")), v->want_created);
    ck_assert_str_eq(json_string_value(json_object_get(k, "expiresAt")), v->want_expires);
    ck_assert_int_eq(apidate_parse(json_object_get(k, "createOn"), NULL), v->created);
    ck_assert_int_eq(apidate_parse(json_object_get(k, "expiresAt"), NULL), v->expires);
    json_decref(doc);
    th_response_dispose(&r);

    /* a session, dated likewise, in the active connections */
    char *cookie = NULL;
    json_decref(sign_in(false, &cookie));
    sql = th_strf("UPDATE login_events SET created = %lld", (long long)v->session_created);
    th_sql(&env, sql);
    free(sql);
    request(&r, "GET", AC_PATH, cookie, NULL);
    json_t *ac = ok(&r, &doc, "active connections");
    VALIDATE(ac, connections_fields, true, false, "ActiveConnectionsDto");
    json_t *items = json_object_get(ac, "items");
    ck_assert_int_ge(json_array_size(items), 1);
    for (size_t i = 0; i < json_array_size(items); i++) {
        json_t *item = json_array_get(items, i);
        VALIDATE(item, connection_fields, true, false, "ActiveConnectionItemDto");
        ck_assert_str_eq(json_string_value(json_object_get(item, "date")), v->want_session);
        if (v->session_created != MIN_VALUE)
            ck_assert_int_eq(apidate_parse(json_object_get(item, "date"), NULL),
                             v->session_created);
    }
    json_decref(doc);
    th_response_dispose(&r);
    free(cookie);
    free(auth);
    stop();
}
END_TEST

/* ---- POST /authentication: expires --------------------------------------------------------- */

START_TEST(signin_expires_is_plain_utc)
{
    start("Europe/Berlin"); /* the tenant's zone does not apply to this plain DateTime */
    time_t before = time(NULL);
    json_t *doc = sign_in(false, NULL);
    const char *expires =
        json_string_value(json_object_get(json_object_get(doc, "response"), "expires"));
    ck_assert_msg(apidate_matches(PLAINDATE_RE, expires), "expires '%s'", expires);
    /* the default session lifetime is 30 days */
    time_t t = th_parse_iso(expires);
    ck_assert_msg(t >= before + 30 * 86400 - 5 && t <= time(NULL) + 30 * 86400 + 5, "expires %s",
                  expires);
    json_decref(doc);

    doc = sign_in(true, NULL);
    ck_assert_str_eq(
        json_string_value(json_object_get(json_object_get(doc, "response"), "expires")),
        "0001-01-01T00:00:00");
    json_decref(doc);
    stop();
}
END_TEST

/* ---- GET /settings -------------------------------------------------------------------------- */

/* GETs the settings with header h (may be NULL) and validates the whole answer for the kind of
 * caller; returns the document. */
static json_t *settings(const char *query, const char *h, bool signed_in, bool password)
{
    th_response_t r;
    char *path = th_strf("%s%s", SETTINGS_PATH, query);
    request(&r, "GET", path, h, NULL);
    json_t *doc;
    json_t *s = ok(&r, &doc, path);
    VALIDATE(s, settings_fields, signed_in, password, path);
    VALIDATE(json_object_get(s, "deepLink"), deep_link_fields, signed_in, password, "deepLink");
    if (password) {
        json_t *ph = json_object_get(s, "passwordHash");
        VALIDATE(ph, password_hash_fields, signed_in, password, "passwordHash");
        ck_assert_int_eq(json_integer_value(json_object_get(ph, "size")), 256);
        ck_assert_int_eq(json_integer_value(json_object_get(ph, "iterations")),
                         th_password_iterations);
        ck_assert_uint_gt(strlen(json_string_value(json_object_get(ph, "salt"))), 0);
    }
    if (signed_in) {
        VALIDATE(json_object_get(s, "domainValidator"), domain_validator_fields, true, false,
                 "domainValidator");
        VALIDATE(json_object_get(s, "firebase"), firebase_fields, true, false, "firebase");
        VALIDATE(json_object_get(s, "plugins"), plugins_fields, true, false, "plugins");
        VALIDATE(json_object_get(s, "formGallery"), form_gallery_fields, true, false,
                 "formGallery");
        ck_assert_str_eq(json_string_value(json_object_get(s, "timezone")), "Asia/Kolkata");
        /* India keeps +05:30 all year */
        ck_assert_str_eq(json_string_value(json_object_get(s, "utcOffset")), "05:30:00");
        ck_assert(json_number_value(json_object_get(s, "utcHoursOffset")) == 5.5);
        ck_assert_str_eq(json_string_value(json_object_get(s, "socketUrl")), "/socket.io");
    } else {
        ck_assert_str_eq(json_string_value(json_object_get(s, "utcOffset")), "00:00:00");
        ck_assert(json_number_value(json_object_get(s, "utcHoursOffset")) == 0);
        ck_assert(json_is_false(json_object_get(s, "enabledJoin")));
        ck_assert(json_is_false(json_object_get(s, "thirdpartyEnable")));
    }
    /* DocSpace's constants (§2, [BT]) and the tenant's own values */
    ck_assert_str_eq(json_string_value(json_object_get(s, "culture")), "en-US");
    ck_assert_str_eq(json_string_value(json_object_get(s, "greetingSettings")), "default");
    ck_assert(json_is_true(json_object_get(s, "docSpace")));
    ck_assert(json_is_true(json_object_get(s, "standalone")));
    ck_assert(json_is_false(json_object_get(s, "cookieSettingsEnabled")));
    ck_assert_int_eq(json_integer_value(json_object_get(s, "tenantStatus")), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(s, "recaptchaType")), 0);
    ck_assert_str_eq(json_string_value(json_object_get(s, "logoText")), "ONLYOFFICE");
    ck_assert_str_eq(json_string_value(json_object_get(s, "userNameRegex")),
                     "^[\\p{L}\\p{M}' \\-]+$");
    ck_assert_str_eq(json_string_value(json_object_get(s, "ownerId")), ZERO_GUID);
    json_t *dl = json_object_get(s, "deepLink");
    ck_assert_str_eq(json_string_value(json_object_get(dl, "androidPackageName")),
                     "com.onlyoffice.documents");
    ck_assert_str_eq(json_string_value(json_object_get(dl, "url")), "oodocuments://openfile");
    ck_assert_str_eq(json_string_value(json_object_get(dl, "iosPackageId")), "944896972");
    th_response_dispose(&r);
    free(path);
    return doc;
}

START_TEST(settings_by_caller)
{
    start("Asia/Kolkata");
    /* anonymous: the password parameters whatever withpassword says */
    json_decref(settings("", NULL, false, true));
    json_decref(settings("?withpassword=false", NULL, false, true));
    json_decref(settings("?withPassword=true", NULL, false, true));

    /* signed in with Basic, then with a session cookie */
    char *auth = admin_basic();
    char *cookie = NULL;
    json_decref(sign_in(false, &cookie));
    const char *const callers[] = {auth, cookie};
    for (size_t i = 0; i < 2; i++) {
        json_decref(settings("", callers[i], true, false));
        json_decref(settings("?withpassword=false", callers[i], true, false));
        json_decref(settings("?withpassword=true", callers[i], true, true));
        json_decref(settings("?withPassword=true", callers[i], true, true));
        json_decref(settings("?x=1&WITHPASSWORD=TRUE", callers[i], true, true));
        json_decref(settings("?withpassword=truex", callers[i], true, false));
    }
    free(cookie);
    free(auth);
    stop();
}
END_TEST

/* A credential that does not sign in gets the anonymous answer, as from DocSpace (the route
 * allows anonymous callers): never the signed-in one. */
START_TEST(settings_with_a_bad_credential)
{
    start("Asia/Kolkata");
    char *bad = th_basic("admin@example.com", "wrong");
    json_decref(settings("?withpassword=true", bad, false, true));
    json_decref(settings("", "Cookie: asc_auth_key=garbage", false, true));
    free(bad);
    stop();
}
END_TEST

static Suite *wire_suite(void)
{
    Suite *s = suite_create("wire");
    TCase *tc = tcase_create("dates");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, dates_in_the_tenants_zone, 0,
                        (int)(sizeof(vectors) / sizeof(vectors[0])));
    tcase_add_test(tc, signin_expires_is_plain_utc);
    suite_add_tcase(s, tc);
    tc = tcase_create("settings");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, settings_by_caller);
    tcase_add_test(tc, settings_with_a_bad_credential);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return th_run_suite(wire_suite());
}
