/*
 * Two-factor sign-in end to end against a real identityd (docspace-login-surface.md §5): the
 * tenant's settings and who may change them, the challenge at sign-in, the SDK's second step
 * (POST /authentication/{code}) and the web one (confirm header and cookie, setup with its QR
 * code, validate), backup codes, the attempt limit, unlinking, trusted addresses and
 * mandatory users, and what stays unchallenged (API keys) or is refused (Basic). Codes are
 * computed here with RFC 6238 written afresh over OpenSSL's HMAC, from the key the server
 * handed out. Every answer is checked against the reference's field lists, types included.
 */
#include <check.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fields.h"
#include "harness.h"

#define AUTH_PATH "/api/2.0/authentication"
#define TFA_PATH "/api/2.0/settings/tfaapp"
#define SETUP_PATH "/api/2.0/settings/tfaapp/setup"
#define VALIDATE_PATH "/api/2.0/settings/tfaapp/validate"
#define CODES_PATH "/api/2.0/settings/tfaappcodes"
#define JSON "Content-Type: application/json"
#define SIGNIN_FAILED "User authentication failed"
#define NOT_AVAILABLE "TFA application settings are not available"

#define ADMIN "admin@example.com"
#define ADMIN_PASS "admin pass"
#define USER "user@example.com"
#define USER_PASS "user pass"

static th_env_t env;
static th_server_t srv;
static char *user_id;

/* ---- field lists (reference §5) --------------------------------------------------------- */

static const field_t step1[] = {
    {"expires", T_STR, REQUIRED}, {"sms", T_BOOL, REQUIRED},       {"tfa", T_BOOL, REQUIRED},
    {"tfaKey", T_STR, OPTIONAL},  {"confirmUrl", T_STR, REQUIRED}, {"token", T_STR, FORBIDDEN},
};
static const field_t signed_in[] = {
    {"token", T_STR, REQUIRED},
    {"expires", T_STR, REQUIRED},
    {"sms", T_BOOL, REQUIRED},
    {"tfa", T_BOOL, REQUIRED},
};
static const field_t setup_dto[] = {
    {"account", T_STR, REQUIRED},
    {"manualEntryKey", T_STR, REQUIRED},
    {"qrCodeSetupImageUrl", T_STR, REQUIRED},
};
static const field_t settings_dto[] = {
    {"id", T_STR, REQUIRED},
    {"title", T_STR, REQUIRED},
    {"enabled", T_BOOL, REQUIRED},
    {"avaliable", T_BOOL, REQUIRED},
    {"available", T_BOOL, REQUIRED},
    {"trustedIps", T_ARR, REQUIRED},
    {"mandatoryUsers", T_ARR, REQUIRED},
    {"mandatoryGroups", T_ARR, REQUIRED},
};
static const field_t backup_code[] = {{"isUsed", T_BOOL, REQUIRED}, {"code", T_STR, REQUIRED}};
static const field_t confirm_result[] = {{"result", T_INT, REQUIRED},
                                         {"isAgent", T_BOOL, REQUIRED}};
static const field_t confirm_link[] = {
    {"url", T_STR, REQUIRED}, {"cookieName", T_STR, REQUIRED}, {"cookieValue", T_STR, REQUIRED}};

/* ---- TOTP, as an authenticator app computes it ------------------------------------------ */

static size_t base32_decode(const char *in, unsigned char *out)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    unsigned buffer = 0, bits = 0;
    size_t n = 0;
    for (const char *p = in; *p; p++) {
        const char *at = strchr(alphabet, *p);
        ck_assert_msg(at != NULL, "not base32: %s", in);
        buffer = (buffer << 5) | (unsigned)(at - alphabet);
        bits += 5;
        if (bits >= 8) {
            out[n++] = (unsigned char)(buffer >> (bits - 8));
            bits -= 8;
        }
    }
    return n;
}

/* The code of the step offset steps from now for a base32 key. */
static void totp(const char *key32, int offset, char out[7])
{
    unsigned char key[64], msg[8], mac[20];
    unsigned int mac_len = 0;
    size_t key_len = base32_decode(key32, key);
    uint64_t step = (uint64_t)(time(NULL) / 30 + offset);
    for (int i = 7; i >= 0; i--, step >>= 8)
        msg[i] = (unsigned char)step;
    ck_assert_ptr_nonnull(HMAC(EVP_sha1(), key, (int)key_len, msg, 8, mac, &mac_len));
    int o = mac[19] & 0x0f;
    uint32_t v = ((uint32_t)(mac[o] & 0x7f) << 24) | ((uint32_t)mac[o + 1] << 16) |
                 ((uint32_t)mac[o + 2] << 8) | mac[o + 3];
    snprintf(out, 7, "%06u", v % 1000000);
}

/* A code no step of the window accepts (the current one's neighbour value, checked). */
static void wrong_code(const char *key32, char out[7])
{
    char now[7], prev[7], next[7];
    totp(key32, 0, now);
    totp(key32, -1, prev);
    totp(key32, 1, next);
    for (unsigned v = 0;; v++) {
        snprintf(out, 7, "%06u", (unsigned)(atoi(now) + 1 + v) % 1000000);
        if (strcmp(out, now) && strcmp(out, prev) && strcmp(out, next))
            return;
    }
}

/* ---- plumbing ----------------------------------------------------------------------------- */

static void setup(void)
{
    th_env_init(&env, "bruteforce: { attempts: 50, window: 60, block: 60 }\n", NULL);
    ck_assert_int_eq(th_add_user(&env, ADMIN, ADMIN_PASS, "Ada", "Admin", "admin"), 0);
    ck_assert_int_eq(th_add_user(&env, USER, USER_PASS, "Bob", "User", "user"), 0);
    user_id = th_user_guid(&env, USER);
    th_server_start(&srv, &env);
}

static void teardown(void)
{
    ck_assert_int_eq(th_server_stop(&srv), 0);
    th_env_dispose(&env);
    free(user_id);
}

/* Requests method path with the header lines given (NULL-terminated list, may be NULL). */
static void call(th_response_t *r, const char *method, const char *path, const char *const *h,
                 const char *body)
{
    char *u = th_url(&srv, path);
    th_http(r, method, u, h, body, body ? strlen(body) : 0, 0);
    free(u);
}

/* The response member of a 200 envelope (count checked), validated as an object against
 * fields when fields is not NULL. The caller decrefs *doc. */
static json_t *ok(const th_response_t *r, const char *what, long count, const field_t *fields,
                  size_t n, json_t **doc)
{
    ck_assert_msg(r->status == 200, "%s: %ld %s", what, r->status, r->body);
    th_assert_json_content_type(r);
    *doc = th_json_parse(r->body);
    ck_assert_int_eq(json_integer_value(json_object_get(*doc, "count")), count);
    json_t *resp = json_object_get(*doc, "response");
    if (fields != NULL)
        validate(resp, what, fields, n);
    return resp;
}
#define OK(r, what, count, list, doc)                                                              \
    ok((r), (what), (count), (list), sizeof(list) / sizeof((list)[0]), (doc))

/* The value of cookie name set by the response ("" when it deletes it), malloc'd, or NULL
 * when the response does not set it. */
static char *set_cookie(const th_response_t *r, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = r->headers; (p = strcasestr(p, "set-cookie:")) != NULL; p++) {
        const char *v = p + strlen("set-cookie:");
        while (*v == ' ')
            v++;
        if (strncmp(v, name, n) == 0 && v[n] == '=') {
            size_t len = strcspn(v + n + 1, ";\r\n");
            return strndup(v + n + 1, len);
        }
    }
    return NULL;
}

/* Step 1 of a sign-in expected to owe a second factor: the answer (validated), its confirm
 * cookie ("Cookie: asc_confirm_key_T=..." in *cookie) and header ("confirm: type=T&uid=..."
 * in *confirm). The caller decrefs the result. */
static json_t *challenge(const char *email, const char *password, const char *type, char **cookie,
                         char **confirm)
{
    char *body = th_strf("{\"userName\":\"%s\",\"password\":\"%s\"}", email, password);
    const char *h[] = {JSON, NULL};
    th_response_t r;
    json_t *doc;
    call(&r, "POST", AUTH_PATH, h, body);
    json_t *resp = OK(&r, "step 1", 1, step1, &doc);
    ck_assert(json_is_true(json_object_get(resp, "tfa")));
    ck_assert(json_is_false(json_object_get(resp, "sms")));
    ck_assert_str_eq(json_string_value(json_object_get(resp, "expires")), "0001-01-01T00:00:00");
    char *uid = th_user_guid(&env, email);
    char *url = th_strf("%s/confirm/%s?type=%s&uid=%s", srv.base, type, type, uid);
    ck_assert_str_eq(json_string_value(json_object_get(resp, "confirmUrl")), url);
    ck_assert_ptr_null(set_cookie(&r, "asc_auth_key")); /* no session yet */
    char *name = th_strf("asc_confirm_key_%s", type);
    char *value = set_cookie(&r, name);
    ck_assert_msg(value != NULL && *value, "no %s cookie: %s", name, r.headers);
    /* HttpOnly, SameSite=Strict, a browser-session cookie */
    char *line = strcasestr(r.headers, name);
    size_t end = strcspn(line, "\r\n");
    char *attrs = strndup(line, end);
    ck_assert_ptr_nonnull(strstr(attrs, "HttpOnly"));
    ck_assert_ptr_nonnull(strstr(attrs, "SameSite=Strict"));
    ck_assert_ptr_null(strstr(attrs, "Expires"));
    *cookie = th_strf("Cookie: %s=%s", name, value);
    *confirm = th_strf("confirm: type=%s&uid=%s", type, uid);
    free(uid);
    free(attrs);
    free(name);
    free(value);
    free(url);
    free(body);
    th_response_dispose(&r);
    json_incref(resp);
    json_decref(doc);
    return resp;
}

/* A sign-in that must get a session straight away: its token (malloc'd). */
static char *session_of(const char *email, const char *password)
{
    char *body = th_strf("{\"userName\":\"%s\",\"password\":\"%s\"}", email, password);
    const char *h[] = {JSON, NULL};
    th_response_t r;
    json_t *doc;
    call(&r, "POST", AUTH_PATH, h, body);
    json_t *resp = OK(&r, "sign-in", 1, signed_in, &doc);
    ck_assert(json_is_false(json_object_get(resp, "tfa")));
    char *token = strdup(json_string_value(json_object_get(resp, "token")));
    json_decref(doc);
    th_response_dispose(&r);
    free(body);
    return token;
}

/* Whether a session token is signed in (GET /authentication). */
static bool signed_in_with(const char *token)
{
    char *cookie = th_strf("Cookie: asc_auth_key=%s", token);
    const char *h[] = {cookie, NULL};
    th_response_t r;
    call(&r, "GET", AUTH_PATH, h, NULL);
    ck_assert_int_eq(r.status, 200);
    bool yes = strstr(r.body, "\"response\":true") != NULL;
    th_response_dispose(&r);
    free(cookie);
    return yes;
}

/* PUT settings/tfaapp as the session token; returns the status, *body the answer. */
static long put_settings(const char *token, const char *json, char **body)
{
    char *cookie = th_strf("Cookie: asc_auth_key=%s", token);
    const char *h[] = {cookie, JSON, NULL};
    th_response_t r;
    call(&r, "PUT", TFA_PATH, h, json);
    long status = r.status;
    if (body != NULL)
        *body = strdup(r.body);
    th_response_dispose(&r);
    free(cookie);
    return status;
}

/* Turns two-factor sign-in on for the tenant with the user as mandatory and 127.0.0.1
 * trusted, so that the admin signing in from loopback is not challenged. */
static void turn_on(void)
{
    char *admin = session_of(ADMIN, ADMIN_PASS);
    char *json = th_strf("{\"type\":\"App\",\"trustedIps\":[\"127.0.0.1\"],"
                         "\"mandatoryUsers\":[\"%s\"],\"mandatoryGroups\":[]}",
                         user_id);
    char *answer = NULL;
    ck_assert_int_eq(put_settings(admin, json, &answer), 200);
    ck_assert_ptr_nonnull(strstr(answer, "\"response\":true"));
    free(answer);
    free(json);
    free(admin);
}

/* The SDK's second step: POST /authentication/{path_code} with body code (either may be
 * NULL); returns the status, the token in *token when 200. */
static long sdk_step(const char *password, const char *code, const char *path_code, char **token)
{
    char *body = code ? th_strf("{\"userName\":\"%s\",\"password\":\"%s\",\"code\":\"%s\"}", USER,
                                password, code)
                      : th_strf("{\"userName\":\"%s\",\"password\":\"%s\"}", USER, password);
    char *path = th_strf(AUTH_PATH "/%s", path_code ? path_code : "000000");
    const char *h[] = {JSON, NULL};
    th_response_t r;
    call(&r, "POST", path, h, body);
    long status = r.status;
    if (status == 200) {
        json_t *doc;
        json_t *resp = OK(&r, "step 2 (SDK)", 1, signed_in, &doc);
        ck_assert(json_is_true(json_object_get(resp, "tfa")));
        char *cookie = set_cookie(&r, "asc_auth_key");
        ck_assert_str_eq(cookie, json_string_value(json_object_get(resp, "token")));
        if (token != NULL)
            *token = cookie;
        else
            free(cookie);
        json_decref(doc);
    } else {
        th_assert_error_envelope(&r, status);
    }
    th_response_dispose(&r);
    free(path);
    free(body);
    return status;
}

/* POST settings/tfaapp/validate with the confirm header and cookie; returns the status and
 * the answer in *r (caller disposes). */
static void validate_code(th_response_t *r, const char *confirm, const char *cookie,
                          const char *code)
{
    char *body = th_strf("{\"code\":\"%s\"}", code);
    const char *h[] = {confirm, cookie, JSON, NULL};
    call(r, "POST", VALIDATE_PATH, h, body);
    free(body);
}

/* ---- tests ------------------------------------------------------------------------------- */

/* GET shows both entries with both spellings; PUT is for admins, checks what it is given,
 * answers true/false, and turning it on ends the tenant's sessions. */
START_TEST(settings_get_put)
{
    char *admin = session_of(ADMIN, ADMIN_PASS);
    char *user = session_of(USER, USER_PASS);
    char *cookie = th_strf("Cookie: asc_auth_key=%s", user);
    const char *h[] = {cookie, NULL};
    th_response_t r;
    json_t *doc;
    call(&r, "GET", TFA_PATH, h, NULL);
    json_t *list = ok(&r, "GET tfaapp", 2, NULL, 0, &doc);
    ck_assert_int_eq(json_array_size(list), 2);
    VALIDATE(json_array_get(list, 0), "sms entry", settings_dto);
    VALIDATE(json_array_get(list, 1), "app entry", settings_dto);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(list, 0), "id")), "sms");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(list, 1), "id")), "app");
    ck_assert(json_is_false(json_object_get(json_array_get(list, 1), "enabled")));
    ck_assert(json_is_true(json_object_get(json_array_get(list, 1), "avaliable")));
    json_decref(doc);
    th_response_dispose(&r);

    /* ?fields= trims every element of a list to the members named (any case, %2C too). */
    call(&r, "GET", TFA_PATH "?fields=ID%2cEnabled", h, NULL);
    list = ok(&r, "GET tfaapp?fields=", 2, NULL, 0, &doc);
    for (size_t i = 0; i < 2; i++) {
        json_t *e = json_array_get(list, i);
        ck_assert_int_eq(json_object_size(e), 2);
        ck_assert_ptr_nonnull(json_object_get(e, "id"));
        ck_assert_ptr_nonnull(json_object_get(e, "enabled"));
    }
    json_decref(doc);
    th_response_dispose(&r);

    /* Not an admin; then what is refused as input, leaving everything as it was. */
    ck_assert_int_eq(put_settings(user, "{\"type\":\"App\"}", NULL), 403);
    ck_assert_int_eq(put_settings(admin, "{\"type\":\"Sms\"}", NULL), 400);
    ck_assert_int_eq(put_settings(admin, "{\"type\":\"Email\"}", NULL), 400);
    ck_assert_int_eq(
        put_settings(admin, "{\"type\":\"app\",\"trustedIps\":[\"10.0.0.9-10.0.0.1\"]}", NULL),
        400);
    ck_assert_int_eq(put_settings(admin, "{\"type\":2,\"mandatoryUsers\":[\"nobody\"]}", NULL),
                     400);
    ck_assert_int_eq(put_settings(admin, "{\"type\":\"App\",\"mandatoryGroups\":[\"g\"]}", NULL),
                     400);
    ck_assert(signed_in_with(user));
    ck_assert(signed_in_with(admin));

    /* On (the type in any case): every session of the tenant ends, the admin's too. */
    char *json =
        th_strf("{\"type\":\"aPp\",\"trustedIps\":[\"10.0.0.0/8\",\"192.0.2.1-192.0.2.9\"],"
                "\"mandatoryUsers\":[\"%s\"]}",
                user_id);
    char *answer;
    ck_assert_int_eq(put_settings(admin, json, &answer), 200);
    ck_assert_ptr_nonnull(strstr(answer, "\"response\":true"));
    free(answer);
    ck_assert(!signed_in_with(user));
    ck_assert(!signed_in_with(admin));

    /* What is stored shows; the admin (not mandatory, not trusted here) is challenged now. */
    char *akey, *aconfirm;
    json_t *s1 = challenge(ADMIN, ADMIN_PASS, "TfaActivation", &akey, &aconfirm);
    json_decref(s1);
    free(akey);
    free(aconfirm);

    free(json);
    free(cookie);
    free(user);
    free(admin);
}
END_TEST

/* The SDK's way: step 1 hands out the key, POST /authentication/{code} with the code from
 * the body (else the path) completes it, once per code; then sign-ins are TfaAuth. */
START_TEST(sdk_flow)
{
    turn_on();
    char *cookie, *confirm, *token = NULL;
    json_t *s1 = challenge(USER, USER_PASS, "TfaActivation", &cookie, &confirm);
    const char *key = json_string_value(json_object_get(s1, "tfaKey"));
    ck_assert_msg(key != NULL && strlen(key) == 32, "tfaKey of 160 bits: %s", key ? key : "-");
    char good[7], bad[7];
    wrong_code(key, bad);
    ck_assert_int_eq(sdk_step(USER_PASS, bad, NULL, NULL), 401);
    totp(key, 0, good);
    /* a wrong password with the right code: the password is checked first */
    ck_assert_int_eq(sdk_step(USER_PASS "x", good, NULL, NULL), 401);
    ck_assert_int_eq(sdk_step(USER_PASS, good, "999999", &token), 200);
    ck_assert(signed_in_with(token));
    /* the same code again: refused (DocSpace would take it) */
    ck_assert_int_eq(sdk_step(USER_PASS, good, NULL, NULL), 401);

    /* Linked now: step 1 is TfaAuth, without a key. */
    char *c2, *h2;
    json_t *again = challenge(USER, USER_PASS, "TfaAuth", &c2, &h2);
    ck_assert_ptr_null(json_object_get(again, "tfaKey"));
    /* The next step's code, from the path this time. */
    char next[7];
    totp(key, 1, next);
    char *token2 = NULL;
    ck_assert_int_eq(sdk_step(USER_PASS, NULL, next, &token2), 200);
    ck_assert(signed_in_with(token2));

    /* Basic with the password alone no longer mints tokens for this user; the admin (trusted
     * address) still can. */
    th_response_t r;
    char *basic = th_basic(USER, USER_PASS);
    th_get(&r, &srv, "/api/2.0/security/oauth2/token", basic);
    th_assert_error_envelope(&r, 401);
    th_response_dispose(&r);
    free(basic);
    basic = th_basic(ADMIN, ADMIN_PASS);
    th_get(&r, &srv, "/api/2.0/security/oauth2/token", basic);
    ck_assert_int_eq(r.status, 200);
    th_response_dispose(&r);
    free(basic);

    json_decref(again);
    json_decref(s1);
    free(c2);
    free(h2);
    free(token);
    free(token2);
    free(cookie);
    free(confirm);
}
END_TEST

/* The web way: confirm, setup with its QR code, validate; then backup codes, which work once
 * in place of a code, and the setup that is no longer available. */
START_TEST(web_flow)
{
    turn_on();
    char *cookie, *confirm;
    json_t *s1 = challenge(USER, USER_PASS, "TfaActivation", &cookie, &confirm);
    th_response_t r;
    json_t *doc;

    /* POST /authentication/confirm: 0 with the cookie, 1 without or for another user. */
    const char *with[] = {cookie, JSON, NULL}, *without[] = {JSON, NULL};
    char *body = th_strf("{\"type\":\"TfaActivation\",\"uid\":\"%s\"}", user_id);
    call(&r, "POST", AUTH_PATH "/confirm", with, body);
    json_t *res = OK(&r, "confirm", 1, confirm_result, &doc);
    ck_assert_int_eq(json_integer_value(json_object_get(res, "result")), 0);
    json_decref(doc);
    th_response_dispose(&r);
    call(&r, "POST", AUTH_PATH "/confirm", without, body);
    res = OK(&r, "confirm", 1, confirm_result, &doc);
    ck_assert_int_eq(json_integer_value(json_object_get(res, "result")), 1);
    json_decref(doc);
    th_response_dispose(&r);
    char *other = th_strf("{\"type\":\"TfaActivation\",\"uid\":\"%s\"}",
                          "00000000-0000-0000-0000-000000000001");
    call(&r, "POST", AUTH_PATH "/confirm", with, other);
    res = OK(&r, "confirm", 1, confirm_result, &doc);
    ck_assert_int_eq(json_integer_value(json_object_get(res, "result")), 1);
    json_decref(doc);
    th_response_dispose(&r);

    /* setup: the key step 1 gave, the account, a PNG data URI. Without the confirm: 401. */
    const char *setup_h[] = {confirm, cookie, NULL}, *no_confirm[] = {cookie, NULL};
    call(&r, "GET", SETUP_PATH, no_confirm, NULL);
    th_assert_error_envelope(&r, 401);
    th_response_dispose(&r);
    call(&r, "GET", SETUP_PATH, setup_h, NULL);
    json_t *su = OK(&r, "setup", 1, setup_dto, &doc);
    const char *key = json_string_value(json_object_get(s1, "tfaKey"));
    ck_assert_str_eq(json_string_value(json_object_get(su, "manualEntryKey")), key);
    ck_assert_str_eq(json_string_value(json_object_get(su, "account")), "user%40example.com");
    ck_assert(strncmp(json_string_value(json_object_get(su, "qrCodeSetupImageUrl")),
                      "data:image/png;base64,iVBORw0KGgo", 33) == 0);
    json_decref(doc);
    th_response_dispose(&r);

    /* validate: empty, wrong, then right (true: this linked the app) with a session. */
    char bad[7], good[7];
    wrong_code(key, bad);
    totp(key, 0, good);
    validate_code(&r, confirm, cookie, "");
    th_assert_error_envelope(&r, 400);
    th_response_dispose(&r);
    validate_code(&r, confirm, cookie, bad);
    th_assert_error_message(&r, "Incorrect code");
    ck_assert_int_eq(r.status, 400);
    th_response_dispose(&r);
    validate_code(&r, confirm, cookie, good);
    ck_assert_msg(r.status == 200, "validate: %ld %s", r.status, r.body);
    ck_assert_ptr_nonnull(strstr(r.body, "\"response\":true"));
    char *session = set_cookie(&r, "asc_auth_key");
    char *cleared = set_cookie(&r, "asc_confirm_key_TfaActivation");
    ck_assert(session != NULL && *session);
    ck_assert_str_eq(cleared, "");
    th_response_dispose(&r);
    ck_assert(signed_in_with(session));

    /* setup is over for this user */
    call(&r, "GET", SETUP_PATH, setup_h, NULL);
    th_assert_error_message(&r, NOT_AVAILABLE);
    ck_assert_int_eq(r.status, 403);
    th_response_dispose(&r);

    /* the backup codes, shown to their owner */
    char *sc = th_strf("Cookie: asc_auth_key=%s", session);
    const char *sh[] = {sc, NULL};
    call(&r, "GET", CODES_PATH, sh, NULL);
    json_t *codes = ok(&r, "tfaappcodes", 5, NULL, 0, &doc);
    ck_assert_int_eq(json_array_size(codes), 5);
    for (size_t i = 0; i < 5; i++) {
        VALIDATE(json_array_get(codes, i), "backup code", backup_code);
        ck_assert_uint_eq(
            strlen(json_string_value(json_object_get(json_array_get(codes, i), "code"))), 6);
    }
    char *backup = strdup(json_string_value(json_object_get(json_array_get(codes, 2), "code")));
    json_decref(doc);
    th_response_dispose(&r);

    /* A TfaAuth sign-in, completed with a backup code: false (not an activation). */
    char *c2, *h2;
    json_t *s2 = challenge(USER, USER_PASS, "TfaAuth", &c2, &h2);
    validate_code(&r, h2, c2, backup);
    ck_assert_msg(r.status == 200, "backup code: %ld %s", r.status, r.body);
    ck_assert_ptr_nonnull(strstr(r.body, "\"response\":false"));
    th_response_dispose(&r);
    validate_code(&r, h2, c2, backup); /* spent */
    ck_assert_int_eq(r.status, 400);
    th_response_dispose(&r);
    call(&r, "GET", CODES_PATH, sh, NULL);
    codes = ok(&r, "tfaappcodes", 5, NULL, 0, &doc);
    ck_assert(json_is_true(json_object_get(json_array_get(codes, 2), "isUsed")));
    ck_assert(json_is_false(json_object_get(json_array_get(codes, 1), "isUsed")));
    json_decref(doc);
    th_response_dispose(&r);

    /* An activation key is no TfaAuth key, and a tampered one is nothing. */
    char *swapped = th_strf("confirm: type=TfaAuth&uid=%s", user_id);
    validate_code(&r, swapped, cookie, good);
    ck_assert_int_eq(r.status, 401);
    th_response_dispose(&r);
    char *tampered = strdup(c2);
    tampered[strlen(tampered) - 2] ^= 1;
    validate_code(&r, h2, tampered, good);
    ck_assert_int_eq(r.status, 401);
    th_response_dispose(&r);

    json_decref(s2);
    json_decref(s1);
    free(tampered);
    free(swapped);
    free(c2);
    free(h2);
    free(backup);
    free(sc);
    free(session);
    free(cleared);
    free(other);
    free(body);
    free(cookie);
    free(confirm);
}
END_TEST

/* Five attempts a minute per user: the sixth is refused unchecked, even with the right code
 * (403 on validate, the one 401 on the SDK's step). */
START_TEST(attempt_limit)
{
    turn_on();
    char *cookie, *confirm;
    json_t *s1 = challenge(USER, USER_PASS, "TfaActivation", &cookie, &confirm);
    const char *key = json_string_value(json_object_get(s1, "tfaKey"));
    char bad[7], good[7];
    wrong_code(key, bad);
    th_response_t r;
    for (int i = 0; i < 5; i++) {
        validate_code(&r, confirm, cookie, bad);
        ck_assert_int_eq(r.status, 400);
        th_response_dispose(&r);
    }
    totp(key, 0, good);
    validate_code(&r, confirm, cookie, good);
    th_assert_error_message(&r, "You have sent too many text messages. Please try again later.");
    ck_assert_int_eq(r.status, 403);
    th_response_dispose(&r);
    ck_assert_int_eq(sdk_step(USER_PASS, good, NULL, NULL), 401);
    json_decref(s1);
    free(cookie);
    free(confirm);
}
END_TEST

/* Trusted addresses spare users not listed as mandatory; API keys are not challenged;
 * tfaapp/confirm gives the caller's link; unlinking ends sessions and starts over. */
START_TEST(trusted_keys_unlink)
{
    turn_on();
    /* the admin from 127.0.0.1 (trusted, not mandatory) signs in with a password alone, makes
     * an API key, which then works with two-factor sign-in on */
    char *admin = session_of(ADMIN, ADMIN_PASS);
    char *ac = th_strf("Cookie: asc_auth_key=%s", admin);
    const char *ah[] = {ac, JSON, NULL};
    th_response_t r;
    json_t *doc;
    call(&r, "POST", "/api/2.0/keys", ah, "{\"name\":\"ci\"}");
    ck_assert_msg(r.status == 200, "key: %ld %s", r.status, r.body);
    json_t *k = th_json_parse(r.body);
    char *key = th_strf("Authorization: Bearer %s",
                        json_string_value(json_object_get(json_object_get(k, "response"), "key")));
    json_decref(k);
    th_response_dispose(&r);
    th_get(&r, &srv, "/api/2.0/security/oauth2/token", key);
    ck_assert_int_eq(r.status, 200);
    th_response_dispose(&r);

    /* tfaapp/confirm: null for the admin here (nothing applies) */
    call(&r, "GET", TFA_PATH "/confirm", ah, NULL);
    ck_assert_int_eq(r.status, 200);
    json_t *j = th_json_parse(r.body);
    ck_assert_ptr_null(json_object_get(j, "response"));
    ck_assert_int_eq(json_integer_value(json_object_get(j, "count")), 0);
    json_decref(j);
    th_response_dispose(&r);

    /* The user links an app (SDK way), then unlinks it: sessions end, and the next sign-in
     * is an activation again with a new key. */
    char *cookie, *confirm, *token = NULL;
    json_t *s1 = challenge(USER, USER_PASS, "TfaActivation", &cookie, &confirm);
    char *first_key = strdup(json_string_value(json_object_get(s1, "tfaKey")));
    char good[7];
    totp(first_key, 0, good);
    ck_assert_int_eq(sdk_step(USER_PASS, good, NULL, &token), 200);
    char *uc = th_strf("Cookie: asc_auth_key=%s", token);
    const char *uh[] = {uc, JSON, NULL};
    call(&r, "GET", TFA_PATH "/confirm", uh, NULL);
    json_t *link = OK(&r, "tfaapp/confirm", 1, confirm_link, &doc);
    ck_assert_str_eq(json_string_value(json_object_get(link, "cookieName")),
                     "asc_confirm_key_TfaAuth");
    json_decref(doc);
    th_response_dispose(&r);
    /* a user may not unlink someone else's app */
    char *admin_id = th_user_guid(&env, ADMIN);
    char *other = th_strf("{\"id\":\"%s\"}", admin_id);
    call(&r, "PUT", "/api/2.0/settings/tfaappnewapp", uh, other);
    th_assert_error_message(&r, "No permissions to perform this action");
    th_response_dispose(&r);
    call(&r, "PUT", "/api/2.0/settings/tfaappnewapp", uh, "{}");
    ck_assert_msg(r.status == 200, "newapp: %ld %s", r.status, r.body);
    ck_assert_ptr_nonnull(strstr(r.body, "/confirm/TfaActivation?type=TfaActivation&uid="));
    th_response_dispose(&r);
    ck_assert(!signed_in_with(token));
    char *c2, *h2;
    json_t *s2 = challenge(USER, USER_PASS, "TfaActivation", &c2, &h2);
    ck_assert_str_ne(json_string_value(json_object_get(s2, "tfaKey")), first_key);

    /* Off again: a password is enough. */
    ck_assert_int_eq(put_settings(admin, "{\"type\":\"None\"}", NULL), 200);
    char *plain = session_of(USER, USER_PASS);
    ck_assert(signed_in_with(plain));

    json_decref(s1);
    json_decref(s2);
    free(plain);
    free(c2);
    free(h2);
    free(other);
    free(admin_id);
    free(uc);
    free(first_key);
    free(token);
    free(cookie);
    free(confirm);
    free(key);
    free(ac);
    free(admin);
}
END_TEST

/* tfa.secret: docspace: the key is DocSpace's (16 base32 characters: 10 ASCII bytes derived
 * from a salt and the machine key), and codes computed from it sign in. identityd -t refuses
 * the mode when no HS256 key has a machine key to derive from. */
START_TEST(docspace_secrets)
{
    ck_assert_int_eq(th_server_stop(&srv), 0);
    th_env_write_config(&env,
                        "bruteforce: { attempts: 50, window: 60, block: 60 }\n"
                        "tfa: { secret: docspace }\n",
                        NULL);
    const char *test_argv[] = {th_bin(), "-t", "-c", env.config, NULL};
    char *out = NULL, *err = NULL;
    ck_assert_int_ne(th_run(test_argv, NULL, &out, &err), 0);
    ck_assert_msg(strstr(err, "tfa.secret: docspace") != NULL, "-t said: %s", err);
    free(out);
    free(err);
    th_env_write_config(
        &env,
        "bruteforce: { attempts: 50, window: 60, block: 60 }\n"
        "tfa: { secret: docspace }\n",
        "keys:\n  - { kid: test-es256, alg: ES256, file: es256.pem, state: active }\n"
        "  - { kid: docspace, alg: HS256, machine_key: \"1123askdasjklasbnd\","
        " state: published }\n");
    th_server_start(&srv, &env);
    turn_on();
    char *cookie, *confirm, *token = NULL;
    json_t *s1 = challenge(USER, USER_PASS, "TfaActivation", &cookie, &confirm);
    const char *key = json_string_value(json_object_get(s1, "tfaKey"));
    ck_assert_msg(key != NULL && strlen(key) == 16, "a DocSpace key: %s", key ? key : "-");
    /* The secret is printable ASCII, as DocSpace's base64url prefix is. */
    unsigned char raw[16];
    ck_assert_uint_eq(base32_decode(key, raw), 10);
    for (int i = 0; i < 10; i++)
        ck_assert_msg(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
                             raw[i]) != NULL,
                      "byte %d of the secret is not base64url", i);
    char good[7];
    totp(key, 0, good);
    ck_assert_int_eq(sdk_step(USER_PASS, good, NULL, &token), 200);
    ck_assert(signed_in_with(token));
    json_decref(s1);
    free(token);
    free(cookie);
    free(confirm);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tfa");
    TCase *tc = tcase_create("two-factor");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, settings_get_put);
    tcase_add_test(tc, sdk_flow);
    tcase_add_test(tc, web_flow);
    tcase_add_test(tc, attempt_limit);
    tcase_add_test(tc, trusted_keys_unlink);
    tcase_add_test(tc, docspace_secrets);
    suite_add_tcase(s, tc);
    return th_run_suite(s);
}
