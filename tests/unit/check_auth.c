/*
 * Credential classification (the classification table in README.md), scope rules and cookie
 * lookup: pure functions, checked against tables of inputs.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "identityd/auth/auth.h"
#include "identityd/http/cookie.h"

typedef struct classify_case {
    const char *authorization;
    const char *apikey;
    const char *cookie;
    idd_cred_kind_t kind;
    const char *value;
    int from_cookie;
} classify_case_t;

static const classify_case_t cases[] = {
    {NULL, NULL, NULL, IDD_CRED_NONE, NULL, 0},
    {"", NULL, NULL, IDD_CRED_NONE, NULL, 0},
    {"Basic YTpi", NULL, NULL, IDD_CRED_BASIC, "YTpi", 0},
    {"basic   YTpi  ", NULL, NULL, IDD_CRED_BASIC, "YTpi", 0},
    /* a bare scheme is still Basic (and gets the Basic challenge), with nothing to check */
    {"Basic", NULL, NULL, IDD_CRED_BASIC, "", 0},
    {"Basicx", NULL, NULL, IDD_CRED_SESSION, "Basicx", 0},
    {"Bearer sk-abc", NULL, NULL, IDD_CRED_APIKEY, "sk-abc", 0},
    {"Bearer eyJh.eyJz.c2ln", NULL, NULL, IDD_CRED_JWT, "eyJh.eyJz.c2ln", 0},
    /* alg none has an empty signature: still JWT-shaped, refused later by the JWT module */
    {"Bearer eyJh.eyJz.", NULL, NULL, IDD_CRED_JWT, "eyJh.eyJz.", 0},
    /* two segments, four segments, an empty header, foreign characters: not a JWT */
    {"Bearer eyJh.eyJz", NULL, NULL, IDD_CRED_SESSION, "eyJh.eyJz", 0},
    {"Bearer a.b.c.d", NULL, NULL, IDD_CRED_SESSION, "a.b.c.d", 0},
    {"Bearer .eyJz.c2ln", NULL, NULL, IDD_CRED_SESSION, ".eyJz.c2ln", 0},
    {"Bearer a+b.c.d", NULL, NULL, IDD_CRED_SESSION, "a+b.c.d", 0},
    {"Bearer opaque", NULL, NULL, IDD_CRED_SESSION, "opaque", 0},
    /* DocSpace's login client forwards the cookie value as the raw header */
    {"raw-session-token", NULL, NULL, IDD_CRED_SESSION, "raw-session-token", 0},
    /* the Authorization header wins over the others */
    {"Basic YTpi", "sk-abc", "cookie", IDD_CRED_BASIC, "YTpi", 0},
    {NULL, "sk-abc", "cookie", IDD_CRED_APIKEY, "sk-abc", 0},
    {NULL, "Bearer sk-abc", NULL, IDD_CRED_APIKEY, "sk-abc", 0},
    {NULL, NULL, "cookie-value", IDD_CRED_SESSION, "cookie-value", 1},
    {"   ", NULL, "cookie-value", IDD_CRED_SESSION, "cookie-value", 1},
};

START_TEST(classify_table)
{
    const classify_case_t *c = &cases[_i];
    idd_credential_t cred = idd_auth_classify(
        c->authorization, c->authorization ? strlen(c->authorization) : 0, c->apikey,
        c->apikey ? strlen(c->apikey) : 0, c->cookie, c->cookie ? strlen(c->cookie) : 0);
    ck_assert_msg(cred.kind == c->kind, "case %d: kind %d, want %d", _i, cred.kind, c->kind);
    if (c->value != NULL) {
        ck_assert_int_eq(cred.value.len, strlen(c->value));
        ck_assert(memcmp(cred.value.base, c->value, cred.value.len) == 0);
    }
    ck_assert_int_eq(cred.from_cookie, c->from_cookie);
}
END_TEST

START_TEST(scopes)
{
    ck_assert(idd_scopes_allow("*:write", "*:read"));
    ck_assert(idd_scopes_allow("*:write", "*:write"));
    ck_assert(idd_scopes_allow("*:read", "*:read"));
    ck_assert(!idd_scopes_allow("*:read", "*:write"));
    ck_assert(idd_scopes_allow("*:write", "accounts:write"));
    ck_assert(idd_scopes_allow("files:read accounts:write", "accounts:read"));
    ck_assert(!idd_scopes_allow("files:read", "*:read"));
    ck_assert(!idd_scopes_allow("files:write", "*:read"));
    ck_assert(!idd_scopes_allow("", "*:read"));
    ck_assert(!idd_scopes_allow("*:writer", "*:read"));
    ck_assert(!idd_scopes_allow("files:read", "filesx:read"));
    /* a resource covers its sub-resources (accounts: every account, one's own included) */
    ck_assert(idd_scopes_allow("accounts:read", "accounts.self:read"));
    ck_assert(idd_scopes_allow("accounts:write", "accounts.self:read"));
    ck_assert(idd_scopes_allow("*:read", "accounts.self:read"));
    ck_assert(!idd_scopes_allow("accounts:read", "accounts.self:write"));
    ck_assert(!idd_scopes_allow("accounts.self:write", "accounts:read"));
    ck_assert(!idd_scopes_allow("account:read", "accounts.self:read"));
    ck_assert(!idd_scopes_allow("accounts.selfish:read", "accounts.self:read"));
    ck_assert(!idd_scopes_allow("accountsx:read", "accounts.self:read"));
}
END_TEST

START_TEST(cookies)
{
    h2o_iovec_t v;
    const char *h = "a=1; asc_auth_key=tok; b=2";
    ck_assert(idd_cookie_find_in(h, strlen(h), "asc_auth_key", &v));
    ck_assert(v.len == 3 && memcmp(v.base, "tok", 3) == 0);
    h = "asc_auth_key=\"quoted\"";
    ck_assert(idd_cookie_find_in(h, strlen(h), "asc_auth_key", &v));
    ck_assert(v.len == 6 && memcmp(v.base, "quoted", 6) == 0);
    h = "x_asc_auth_key=no; asc_auth_keyx=no";
    ck_assert(!idd_cookie_find_in(h, strlen(h), "asc_auth_key", &v));
    h = ";;  ; asc_auth_key = spaced ;";
    ck_assert(idd_cookie_find_in(h, strlen(h), "asc_auth_key", &v));
    ck_assert(v.len == 6 && memcmp(v.base, "spaced", 6) == 0);
    h = "novalue; other";
    ck_assert(!idd_cookie_find_in(h, strlen(h), "asc_auth_key", &v));
    /* the first occurrence wins, and a length bounds the search */
    h = "asc_auth_key=first; asc_auth_key=second";
    ck_assert(idd_cookie_find_in(h, strlen(h), "asc_auth_key", &v));
    ck_assert(v.len == 5 && memcmp(v.base, "first", 5) == 0);
    ck_assert(!idd_cookie_find_in(h, 5, "asc_auth_key", &v));
}
END_TEST

static Suite *auth_suite(void)
{
    Suite *s = suite_create("auth");
    TCase *tc = tcase_create("classify");
    tcase_add_loop_test(tc, classify_table, 0, (int)(sizeof(cases) / sizeof(cases[0])));
    tcase_add_test(tc, scopes);
    tcase_add_test(tc, cookies);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(auth_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
