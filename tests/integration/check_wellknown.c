/*
 * The documents consumers of identityd's tokens fetch without credentials: the JWKS with its
 * caching headers and conditional GETs (ETag, If-None-Match, 304), and each tenant's OpenID
 * discovery document.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "harness.h"

#define JWKS "/.well-known/jwks.json"
#define DISCOVERY "/.well-known/openid-configuration"

static th_env_t env;
static th_server_t srv;

static void start(const char *extra_yaml, const char *keys_yaml)
{
    th_env_init(&env, extra_yaml, keys_yaml);
    th_server_start(&srv, &env);
}

static void setup(void)
{
    start(NULL, NULL);
}

static void teardown(void)
{
    int rc = srv.pid > 0 ? th_server_stop(&srv) : 0;
    th_env_dispose(&env);
    ck_assert_int_eq(rc, 0);
}

/* The ETag identityd promises: the quoted base64url of the first 16 bytes of SHA-256 of the
 * body (malloc'd). */
static char *expected_etag(const char *body, size_t len)
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    ck_assert_int_eq(EVP_Digest(body, len, md, &mdlen, EVP_sha256(), NULL), 1);
    unsigned char b64[64];
    int n = EVP_EncodeBlock(b64, md, 16);
    /* standard base64 to base64url without padding */
    while (n > 0 && b64[n - 1] == '=')
        n--;
    for (int i = 0; i < n; i++)
        b64[i] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : b64[i];
    return th_strf("\"%.*s\"", n, (const char *)b64);
}

static void assert_header(const th_response_t *r, const char *name, const char *want)
{
    char *v = th_header(r, name);
    ck_assert_msg(v != NULL, "no %s header in %s", name, r->headers);
    ck_assert_str_eq(v, want);
    free(v);
}

/* GETs the JWKS with one If-None-Match value (NULL: none). */
static void get_jwks(th_response_t *r, const char *if_none_match, int flags)
{
    char *h = if_none_match ? th_strf("If-None-Match: %s", if_none_match) : NULL;
    const char *headers[] = {h, NULL};
    char *url = th_url(&srv, JWKS);
    th_http(r, "GET", url, headers, NULL, 0, flags);
    free(url);
    free(h);
}

/* The JWKS's ETag, checked against its body. */
static char *jwks_etag(void)
{
    th_response_t r;
    get_jwks(&r, NULL, 0);
    ck_assert_int_eq(r.status, 200);
    char *want = expected_etag(r.body, r.body_len);
    assert_header(&r, "etag", want);
    th_response_dispose(&r);
    return want;
}

START_TEST(jwks_has_etag_and_cache_control)
{
    th_response_t r;
    get_jwks(&r, NULL, 0);
    ck_assert_int_eq(r.status, 200);
    assert_header(&r, "cache-control", "public, max-age=300");
    char *want = expected_etag(r.body, r.body_len);
    assert_header(&r, "etag", want);
    free(want);
    th_response_dispose(&r);
}
END_TEST

/* If-None-Match forms that match the current document: 304, no body, the same validators. */
static const char *const matching[] = {
    NULL, /* the ETag itself, filled in by the test */
    "*",  "\"stale\", %s", "W/%s", " \"a\" ,, W/\"b\",%s , ",
};

START_TEST(jwks_not_modified)
{
    char *etag = jwks_etag();
    char *value = matching[_i] ? th_strf(matching[_i], etag) : strdup(etag);
    for (int flags = 0; flags <= TH_HTTP2; flags++) {
        th_response_t r;
        get_jwks(&r, value, flags);
        ck_assert_msg(r.status == 304, "If-None-Match: %s (flags %d): status %ld", value, flags,
                      r.status);
        ck_assert_uint_eq(r.body_len, 0);
        assert_header(&r, "etag", etag);
        assert_header(&r, "cache-control", "public, max-age=300");
        th_response_dispose(&r);
    }
    free(value);
    free(etag);
}
END_TEST

/* Values that do not match (another tag, or a malformed list): the whole document. */
static const char *const not_matching[] = {
    "\"something-else\"",
    "%.10s",    /* the tag cut short: no closing quote */
    "\"a\" %s", /* no comma between tags */
    "\"\"",
    "W/",
    "**",
};

START_TEST(jwks_other_tag_gets_document)
{
    char *etag = jwks_etag();
    char *value = th_strf(not_matching[_i], etag);
    th_response_t r;
    get_jwks(&r, value, 0);
    ck_assert_msg(r.status == 200, "If-None-Match: %s: status %ld", value, r.status);
    json_t *doc = th_json_parse(r.body);
    ck_assert(json_is_array(json_object_get(doc, "keys")));
    json_decref(doc);
    assert_header(&r, "etag", etag);
    th_response_dispose(&r);
    free(value);
    free(etag);
}
END_TEST

static void setup_max_age(void)
{
    start("jwks: { max_age: 86400 }\n", NULL);
}

START_TEST(jwks_max_age_from_config)
{
    th_response_t r;
    get_jwks(&r, NULL, 0);
    ck_assert_int_eq(r.status, 200);
    assert_header(&r, "cache-control", "public, max-age=86400");
    th_response_dispose(&r);
    th_get(&r, &srv, DISCOVERY, NULL);
    ck_assert_int_eq(r.status, 200);
    assert_header(&r, "cache-control", "public, max-age=86400");
    th_response_dispose(&r);
}
END_TEST

/* Out-of-bounds max_age is a configuration error naming the key. */
START_TEST(jwks_max_age_bounds)
{
    th_env_t e;
    th_env_init(&e, "jwks: { max_age: 86401 }\n", NULL);
    const char *argv[] = {th_bin(), "-t", "-c", e.config, NULL};
    char *err = NULL;
    ck_assert_int_ne(th_run(argv, NULL, NULL, &err), 0);
    ck_assert_msg(strstr(err, "jwks.max_age") != NULL, "%s", err);
    free(err);
    th_env_dispose(&e);
}
END_TEST

/* Fetches the discovery document with an extra header (NULL: none) and checks its members. */
static json_t *discovery(const char *header, long want_status)
{
    th_response_t r;
    th_get(&r, &srv, DISCOVERY, header);
    ck_assert_msg(r.status == want_status, "status %ld: %s", r.status, r.body);
    json_t *doc = NULL;
    if (want_status == 200) {
        assert_header(&r, "cache-control", "public, max-age=300");
        th_assert_json_content_type(&r);
        doc = th_json_parse(r.body);
    } else {
        th_assert_error_envelope(&r, want_status);
    }
    th_response_dispose(&r);
    return doc;
}

static void assert_doc(json_t *doc, const char *issuer, const char *algs)
{
    ck_assert_str_eq(json_string_value(json_object_get(doc, "issuer")), issuer);
    char *want = th_strf("%s/.well-known/jwks.json", issuer);
    ck_assert_str_eq(json_string_value(json_object_get(doc, "jwks_uri")), want);
    free(want);
    want = th_strf("%s/api/2.0/security/oauth2/token", issuer);
    ck_assert_str_eq(json_string_value(json_object_get(doc, "token_endpoint")), want);
    free(want);
    char *got =
        json_dumps(json_object_get(doc, "id_token_signing_alg_values_supported"), JSON_COMPACT);
    ck_assert_str_eq(got, algs);
    free(got);
    /* Nothing identityd does not serve. */
    ck_assert_uint_eq(json_object_size(doc), 4);
}

START_TEST(discovery_per_tenant)
{
    json_t *doc = discovery(NULL, 200);
    assert_doc(doc, srv.base, "[\"ES256\"]");
    json_decref(doc);

    doc = discovery("Host: second.test", 200);
    assert_doc(doc, "http://second.test", "[\"ES256\"]");
    json_decref(doc);

    /* An allowed ?origin= is the tenant URL, as in the tokens' iss. */
    th_response_t r;
    th_get(&r, &srv, DISCOVERY "?origin=https://docs.example.com", NULL);
    ck_assert_int_eq(r.status, 200);
    doc = th_json_parse(r.body);
    assert_doc(doc, "https://docs.example.com", "[\"ES256\"]");
    json_decref(doc);
    th_response_dispose(&r);
}
END_TEST

/* An unknown host gets what every tenant route gives it. */
START_TEST(discovery_unknown_host)
{
    json_t *doc = discovery("Host: nobody.test", 404);
    ck_assert_ptr_null(doc);
    th_response_t a, b;
    th_get(&a, &srv, DISCOVERY, "Host: nobody.test");
    th_get(&b, &srv, "/api/2.0/settings", "Host: nobody.test");
    ck_assert_int_eq(a.status, b.status);
    ck_assert_str_eq(a.body, b.body);
    th_response_dispose(&a);
    th_response_dispose(&b);
}
END_TEST

/* With a published EdDSA key beside the active ES256 one, both algorithms are listed; an
 * HS256 key (never in the JWKS) is not. */
static void setup_two_keys(void)
{
    th_env_init(&env, NULL,
                "keys:\n"
                "  - { kid: test-es256, alg: ES256, file: es256.pem, state: active }\n"
                "  - { kid: next-eddsa, alg: EdDSA, file: ed25519.pem, state: published }\n"
                "  - { kid: docspace, alg: HS256, machine_key: not-so-secret, state: published "
                "}\n");
    char *path = th_strf("%s/ed25519.pem", env.dir);
    const char *gen[] = {th_ctl(), "key", "generate", "--alg", "EdDSA", "--out", path, NULL};
    ck_assert_int_eq(th_run(gen, NULL, NULL, NULL), 0);
    free(path);
    th_server_start(&srv, &env);
}

START_TEST(discovery_lists_jwks_algs)
{
    json_t *doc = discovery(NULL, 200);
    assert_doc(doc, srv.base, "[\"ES256\",\"EdDSA\"]");
    json_decref(doc);
    /* The ETag still describes the body with both keys. */
    char *etag = jwks_etag();
    free(etag);
}
END_TEST

static Suite *wellknown_suite(void)
{
    Suite *s = suite_create("wellknown");
    TCase *tc = tcase_create("jwks");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, jwks_has_etag_and_cache_control);
    tcase_add_loop_test(tc, jwks_not_modified, 0, (int)(sizeof(matching) / sizeof(*matching)));
    tcase_add_loop_test(tc, jwks_other_tag_gets_document, 0,
                        (int)(sizeof(not_matching) / sizeof(*not_matching)));
    tcase_add_test(tc, discovery_per_tenant);
    tcase_add_test(tc, discovery_unknown_host);
    suite_add_tcase(s, tc);

    tc = tcase_create("config");
    tcase_add_checked_fixture(tc, setup_max_age, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, jwks_max_age_from_config);
    tcase_add_test(tc, jwks_max_age_bounds);
    suite_add_tcase(s, tc);

    tc = tcase_create("keys");
    tcase_add_checked_fixture(tc, setup_two_keys, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, discovery_lists_jwks_algs);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return th_run_suite(wellknown_suite());
}
