/*
 * What identityd reads from an external OAuth2/OpenID authority, without the network: the
 * discovery document (auth/oidc_authority.c, idd_oidc_discovery_parse), which must name the
 * configured authority as its issuer, and the RFC 7662 introspection answer
 * (auth/oidc_introspect.c, idd_oidc_introspection_read), which alone decides whether an
 * opaque token is accepted and how long that verdict is kept.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/auth/oidc_internal.h"
#include "identityd/core/common.h"

#define AUTHORITY "https://issuer.example/realm"

static int parse(const char *doc, idd_oidc_discovery_t *d)
{
    char err[256] = "";
    int rc = idd_oidc_discovery_parse(AUTHORITY, false, doc, strlen(doc), d, err, sizeof(err));
    if (rc != 0) {
        ck_assert_int_eq(rc, IDD_ECONFIG);
        ck_assert_msg(err[0] != '\0', "a refusal says why");
        ck_assert_ptr_null(d->issuer);
        ck_assert_ptr_null(d->jwks_uri);
        ck_assert_ptr_null(d->introspection_endpoint);
    }
    return rc;
}

START_TEST(test_discovery_good)
{
    idd_oidc_discovery_t d;
    ck_assert_int_eq(parse("{\"issuer\":\"" AUTHORITY "\",\"jwks_uri\":\"https://k.example/jwks\","
                           "\"introspection_endpoint\":\"https://k.example/introspect\"}",
                           &d),
                     0);
    ck_assert_str_eq(d.issuer, AUTHORITY);
    ck_assert_str_eq(d.jwks_uri, "https://k.example/jwks");
    ck_assert_str_eq(d.introspection_endpoint, "https://k.example/introspect");
    idd_oidc_discovery_dispose(&d);

    /* The issuer keeps its own trailing slash (tokens carry that exact text); no endpoint
     * for introspection is no error here. */
    ck_assert_int_eq(parse("{\"issuer\":\"" AUTHORITY "/\",\"jwks_uri\":\"https://k/j\"}", &d), 0);
    ck_assert_str_eq(d.issuer, AUTHORITY "/");
    ck_assert_ptr_null(d.introspection_endpoint);
    idd_oidc_discovery_dispose(&d);
}
END_TEST

static const char *const bad_discovery[] = {
    "",
    "not json",
    "[]",
    "{}",
    "{\"issuer\":\"" AUTHORITY "\"}", /* no jwks_uri */
    "{\"jwks_uri\":\"https://k/j\"}", /* no issuer */
    "{\"issuer\":\"https://evil.example/realm\",\"jwks_uri\":\"https://k/j\"}",
    "{\"issuer\":\"" AUTHORITY "x\",\"jwks_uri\":\"https://k/j\"}", /* a longer issuer */
    "{\"issuer\":\"https://issuer.example/real\",\"jwks_uri\":\"https://k/j\"}", /* shorter */
    "{\"issuer\":\"" AUTHORITY "//\",\"jwks_uri\":\"https://k/j\"}", /* one slash only */
    "{\"issuer\":\"HTTPS://ISSUER.EXAMPLE/REALM\",\"jwks_uri\":\"https://k/j\"}",
    "{\"issuer\":1,\"jwks_uri\":\"https://k/j\"}",
    "{\"issuer\":\"" AUTHORITY "\",\"jwks_uri\":null}",
    "{\"issuer\":\"" AUTHORITY "\\u0000\",\"jwks_uri\":\"https://k/j\"}",
    "{\"issuer\":\"" AUTHORITY "\",\"jwks_uri\":\"https://k/j\"} trailing",
    /* Endpoints identityd would not fetch (http:// only with allow_http). */
    "{\"issuer\":\"" AUTHORITY "\",\"jwks_uri\":\"http://k/j\"}",
    "{\"issuer\":\"" AUTHORITY "\",\"jwks_uri\":\"file:///etc/passwd\"}",
    "{\"issuer\":\"" AUTHORITY "\",\"jwks_uri\":\"https://k/j\","
    "\"introspection_endpoint\":\"gopher://k/i\"}",
};

/* With allow_http (loopback tests), plain http:// endpoints are accepted too. */
START_TEST(test_discovery_allow_http)
{
    const char *doc = "{\"issuer\":\"" AUTHORITY "\",\"jwks_uri\":\"http://127.0.0.1:9/j\","
                      "\"introspection_endpoint\":\"HTTP://127.0.0.1:9/i\"}";
    idd_oidc_discovery_t d;
    char err[256];
    ck_assert_int_eq(
        idd_oidc_discovery_parse(AUTHORITY, true, doc, strlen(doc), &d, err, sizeof(err)), 0);
    ck_assert_str_eq(d.jwks_uri, "http://127.0.0.1:9/j");
    idd_oidc_discovery_dispose(&d);
    ck_assert_int_eq(
        idd_oidc_discovery_parse(AUTHORITY, false, doc, strlen(doc), &d, err, sizeof(err)),
        IDD_ECONFIG);
}
END_TEST

START_TEST(test_discovery_refused)
{
    idd_oidc_discovery_t d;
    ck_assert_msg(parse(bad_discovery[_i], &d) != 0, "accepted: %s", bad_discovery[_i]);
}
END_TEST

/* ---- introspection ---- */

#define NOW 1800000000
#define ISSUER "https://issuer.example"

static idd_oidc_config_t cfg = {.clock_skew = 120, .cache_ttl = 60, .negative_ttl = 5};
static const char *const audiences[] = {"https://docspace.example"};

static idd_introspection_verdict_t judge(long status, bool is_jwt, const char *body,
                                         identity_t *who, int64_t *cache_for_ms)
{
    idd_introspection_rules_t rules = {.cfg = &cfg,
                                       .issuer = ISSUER,
                                       .audiences = audiences,
                                       .n_aud = 1,
                                       .now = NOW,
                                       .is_jwt = is_jwt};
    return idd_oidc_introspection_read(&rules, status, body, strlen(body), who, cache_for_ms);
}

START_TEST(test_introspection_active)
{
    identity_t who;
    int64_t ms = -1;
    ck_assert_int_eq(judge(200, false,
                           "{\"active\":true,\"sub\":\"u1\",\"scope\":\"openid read files:write\","
                           "\"iss\":\"" ISSUER "\",\"aud\":[\"x\",\"https://docspace.example\"],"
                           "\"exp\":1800000600,\"email\":\"a@b.example\",\"email_verified\":true}",
                           &who, &ms),
                     IDD_INTROSPECTION_ACTIVE);
    ck_assert_str_eq(who.sub, "u1");
    ck_assert_str_eq(who.email, "a@b.example");
    ck_assert(who.email_verified);
    ck_assert_str_eq(who.scopes, "*:read files:write");
    ck_assert_int_eq(ms, 60000); /* cache_ttl: exp is further away */

    /* An exp closer than cache_ttl bounds how long the verdict is kept. */
    ck_assert_int_eq(judge(200, false, "{\"active\":true,\"exp\":1800000010}", &who, &ms),
                     IDD_INTROSPECTION_ACTIVE);
    ck_assert_int_eq(ms, 10000);
}
END_TEST

/* A far exp, or one near INT64_MAX, keeps the verdict for cache_ttl: converting it to
 * milliseconds once overflowed (undefined behaviour, and a negative stay). */
START_TEST(test_introspection_far_exp)
{
    static const char *const far[] = {
        "{\"active\":true,\"exp\":9200000000000000000}",
        "{\"active\":true,\"exp\":1e28}",
        "{\"active\":true,\"exp\":18000000009223372036854775807.5}",
    };
    for (size_t i = 0; i < IDD_ARRAY_LEN(far); i++) {
        identity_t who;
        int64_t ms = -1;
        ck_assert_int_eq(judge(200, false, far[i], &who, &ms), IDD_INTROSPECTION_ACTIVE);
        ck_assert_msg(ms == 60000, "%s: kept %lld ms", far[i], (long long)ms);
    }
}
END_TEST

static const char *const inactive[] = {
    "{\"active\":false,\"sub\":\"u1\"}",
    "{\"sub\":\"u1\"}",
    "{\"active\":\"true\"}",
    "{\"active\":1}",
    "{\"active\":true,\"exp\":1799990000}",     /* expired */
    "{\"active\":true,\"exp\":\"1800000600\"}", /* exp not a number */
    "{\"active\":true,\"nbf\":1800003600}",     /* not yet */
    "{\"active\":true,\"iss\":\"https://evil.example\"}",
    "{\"active\":true,\"aud\":\"https://elsewhere.example\"}",
    "{\"active\":true,\"aud\":[]}",
    "{\"active\":true,\"aud\":5}",
};

START_TEST(test_introspection_inactive)
{
    identity_t who;
    int64_t ms = -1;
    ck_assert_msg(judge(200, false, inactive[_i], &who, &ms) == IDD_INTROSPECTION_INACTIVE,
                  "not refused: %s", inactive[_i]);
    ck_assert_int_eq(ms, 5000); /* negative_ttl */
    ck_assert_str_eq(who.sub, "");
}
END_TEST

START_TEST(test_introspection_unreadable)
{
    identity_t who;
    int64_t ms = -1;
    ck_assert_int_eq(judge(500, false, "{\"active\":true}", &who, &ms),
                     IDD_INTROSPECTION_UNREADABLE);
    ck_assert_int_le(ms, 0);
    ck_assert_int_eq(judge(200, false, "<html>", &who, &ms), IDD_INTROSPECTION_UNREADABLE);
    ck_assert_int_eq(judge(200, false, "[{\"active\":true}]", &who, &ms),
                     IDD_INTROSPECTION_UNREADABLE);
    /* unsupported_token_type is a configuration error for a JWT only. */
    const char *unsupported = "{\"error\":\"unsupported_token_type\"}";
    ck_assert_int_eq(judge(400, true, unsupported, &who, &ms), IDD_INTROSPECTION_JWT_REFUSED);
    ck_assert_int_le(ms, 0);
    ck_assert_int_eq(judge(400, false, unsupported, &who, &ms), IDD_INTROSPECTION_UNREADABLE);
}
END_TEST

static Suite *oidc_suite(void)
{
    Suite *s = suite_create("oidc");
    TCase *tc = tcase_create("discovery");
    tcase_add_test(tc, test_discovery_good);
    tcase_add_test(tc, test_discovery_allow_http);
    tcase_add_loop_test(tc, test_discovery_refused, 0, (int)IDD_ARRAY_LEN(bad_discovery));
    suite_add_tcase(s, tc);

    tc = tcase_create("introspection");
    tcase_add_test(tc, test_introspection_active);
    tcase_add_test(tc, test_introspection_far_exp);
    tcase_add_loop_test(tc, test_introspection_inactive, 0, (int)IDD_ARRAY_LEN(inactive));
    tcase_add_test(tc, test_introspection_unreadable);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(oidc_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
