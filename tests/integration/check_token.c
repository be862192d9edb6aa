/*
 * The token endpoint end to end: a real identityd on a loopback port, a real SQLite file,
 * users made by identityctl, and libcurl as the client. Signatures are checked against the
 * served JWKS with OpenSSL directly, independently of identityd's signer.
 */
#include <check.h>
#include <curl/curl.h>
#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "identityd/core/b64.h"

#define TOKEN_PATH "/api/2.0/security/oauth2/token"

static th_env_t env;
static th_server_t srv;

static void setup_with(const char *extra_yaml)
{
    th_env_init(&env, extra_yaml, NULL);
    ck_assert_int_eq(
        th_add_user(&env, "Admin@Example.com", "correct horse", "Ada", "Lovelace", "admin"), 0);
    ck_assert_int_eq(th_add_user(&env, "user@example.com", "user pass", "Bob", "User", "user"), 0);
    ck_assert_int_eq(th_add_user(&env, "guest@example.com", "guest pass", "Gus", "Guest", "guest"),
                     0);
    th_server_start(&srv, &env);
}

static void setup(void)
{
    /* token_concurrent_basic signs in 100 times at once from one address: above the default
     * queue.per_client, which check_queues tests. */
    setup_with("queue: { per_client: 1000, max_wait_ms: 600000 }\n");
}

/* The peer (loopback) is a trusted proxy. */
static void setup_behind_proxy(void)
{
    setup_with("trusted_proxies: [127.0.0.1]\n");
}

static void teardown(void)
{
    ck_assert_int_eq(th_server_stop(&srv), 0);
    th_env_dispose(&env);
}

static void get_basic(th_response_t *r, const char *path, const char *user, const char *password)
{
    char *h = th_basic(user, password);
    th_get(r, &srv, path, h);
    free(h);
}

typedef struct jwt_parts {
    json_t *header, *claims;
    unsigned char sig[512];
    size_t sig_len;
    char signing_input[4096];
} jwt_parts_t;

static void split_jwt(const char *token, jwt_parts_t *p)
{
    const char *d1 = strchr(token, '.');
    ck_assert_ptr_nonnull(d1);
    const char *d2 = strchr(d1 + 1, '.');
    ck_assert_ptr_nonnull(d2);
    ck_assert_ptr_null(strchr(d2 + 1, '.'));
    p->header = th_b64url_json(token, (size_t)(d1 - token));
    p->claims = th_b64url_json(d1 + 1, (size_t)(d2 - d1 - 1));
    ck_assert_int_eq(idd_b64url_decode(p->sig, &p->sig_len, d2 + 1, strlen(d2 + 1)), 0);
    ck_assert(d2 - token < (long)sizeof(p->signing_input));
    memcpy(p->signing_input, token, (size_t)(d2 - token));
    p->signing_input[d2 - token] = '\0';
}

/* Builds the P-256 public key of a JWK and verifies an ES256 signature (raw R‖S). */
static int verify_es256_with_jwk(json_t *jwk, const jwt_parts_t *p)
{
    const char *x = json_string_value(json_object_get(jwk, "x"));
    const char *y = json_string_value(json_object_get(jwk, "y"));
    unsigned char point[65 + 3];
    size_t xl = 0, yl = 0;
    point[0] = 0x04;
    ck_assert_int_eq(idd_b64url_decode(point + 1, &xl, x, strlen(x)), 0);
    ck_assert_int_eq(idd_b64url_decode(point + 33, &yl, y, strlen(y)), 0);
    ck_assert(xl == 32 && yl == 32);

    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0);
    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, 65);
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    EVP_PKEY *pkey = NULL;
    ck_assert(EVP_PKEY_fromdata_init(pctx) == 1);
    ck_assert(EVP_PKEY_fromdata(pctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) == 1);

    ck_assert_int_eq(p->sig_len, 64);
    ECDSA_SIG *sig = ECDSA_SIG_new();
    ECDSA_SIG_set0(sig, BN_bin2bn(p->sig, 32, NULL), BN_bin2bn(p->sig + 32, 32, NULL));
    unsigned char *der = NULL;
    int der_len = i2d_ECDSA_SIG(sig, &der);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    ck_assert(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pkey) == 1);
    int ok = EVP_DigestVerify(md, der, (size_t)der_len, (unsigned char *)p->signing_input,
                              strlen(p->signing_input));
    EVP_MD_CTX_free(md);
    OPENSSL_free(der);
    ECDSA_SIG_free(sig);
    EVP_PKEY_free(pkey);
    EVP_PKEY_CTX_free(pctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    return ok == 1;
}

static const char *claim(json_t *claims, const char *name)
{
    json_t *v = json_object_get(claims, name);
    ck_assert_msg(json_is_string(v), "claim %s is not a string", name);
    return json_string_value(v);
}

/* The 200 path: envelope, headers, claims and a signature that verifies against the JWKS. */
START_TEST(token_basic_ok)
{
    th_response_t r;
    get_basic(&r, TOKEN_PATH, "admin@example.com", "correct horse");
    ck_assert_int_eq(r.status, 200);
    char *cc = th_header(&r, "cache-control");
    ck_assert_str_eq(cc, "no-store");
    free(cc);
    ck_assert_ptr_null(th_header(&r, "server"));

    json_t *j = th_json_parse(r.body);
    ck_assert_int_eq(json_object_size(j), 5);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "count")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "status")), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "statusCode")), 200);
    json_t *links = json_object_get(j, "links");
    ck_assert_int_eq(json_array_size(links), 1);
    char *expected_href = th_url(&srv, TOKEN_PATH);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(links, 0), "href")),
                     expected_href);
    free(expected_href);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(links, 0), "action")), "GET");
    const char *token = json_string_value(json_object_get(j, "response"));
    ck_assert_ptr_nonnull(token);

    jwt_parts_t p;
    split_jwt(token, &p);
    ck_assert_str_eq(json_string_value(json_object_get(p.header, "alg")), "ES256");
    ck_assert_str_eq(json_string_value(json_object_get(p.header, "typ")), "JWT");
    ck_assert_str_eq(json_string_value(json_object_get(p.header, "kid")), "test-es256");

    /* The user's id, as identityctl listed it in the store. */
    const char *sub = claim(p.claims, "sub");
    ck_assert_int_eq(strlen(sub), 36);
    ck_assert_str_eq(claim(p.claims, "user_id"), sub);
    for (const char *c = sub; *c; c++)
        ck_assert(*c == '-' || (*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f'));
    ck_assert_str_eq(claim(p.claims, "user_name"), "Ada Lovelace");
    ck_assert_str_eq(claim(p.claims, "user_email"), "Admin@Example.com");
    ck_assert_str_eq(claim(p.claims, "tenant_id"), "1");
    char tenant_url[128];
    snprintf(tenant_url, sizeof(tenant_url), "http://127.0.0.1:%d", srv.port);
    ck_assert_str_eq(claim(p.claims, "tenant_url"), tenant_url);
    ck_assert_str_eq(claim(p.claims, "iss"), tenant_url);
    ck_assert_str_eq(claim(p.claims, "aud"), tenant_url);
    ck_assert_str_eq(claim(p.claims, "is_admin"), "true");
    ck_assert_str_eq(claim(p.claims, "is_guest"), "false");
    ck_assert_str_eq(claim(p.claims, "is_public"), "true");
    ck_assert(strlen(claim(p.claims, "jti")) >= 16);
    json_t *exp = json_object_get(p.claims, "exp"), *iat = json_object_get(p.claims, "iat");
    ck_assert(json_is_integer(exp) && json_is_integer(iat));
    ck_assert_int_eq(json_integer_value(exp) - json_integer_value(iat), 300);
    long long now = (long long)time(NULL);
    ck_assert(llabs(json_integer_value(iat) - now) <= 5);

    /* The signature verifies with the key the JWKS publishes under the token's kid. */
    th_response_t jr;
    th_get(&jr, &srv, "/.well-known/jwks.json", NULL);
    ck_assert_int_eq(jr.status, 200);
    json_t *jwks = th_json_parse(jr.body);
    json_t *keys = json_object_get(jwks, "keys");
    ck_assert_int_eq(json_array_size(keys), 1);
    json_t *jwk = json_array_get(keys, 0);
    ck_assert_str_eq(json_string_value(json_object_get(jwk, "kid")), "test-es256");
    ck_assert_ptr_null(json_object_get(jwk, "d"));
    ck_assert(verify_es256_with_jwk(jwk, &p));
    /* A flipped bit in the payload must not verify. */
    p.signing_input[strlen(p.signing_input) - 2] ^= 1;
    ck_assert(!verify_es256_with_jwk(jwk, &p));

    json_decref(jwks);
    th_response_dispose(&jr);
    json_decref(p.header);
    json_decref(p.claims);
    json_decref(j);
    th_response_dispose(&r);
}
END_TEST

/* Roles map onto is_admin / is_guest, and every token carries a fresh jti. */
START_TEST(token_roles_and_unique_jti)
{
    th_response_t a, b, g;
    get_basic(&a, TOKEN_PATH, "user@example.com", "user pass");
    get_basic(&b, TOKEN_PATH, "user@example.com", "user pass");
    get_basic(&g, TOKEN_PATH, "guest@example.com", "guest pass");
    ck_assert_int_eq(a.status, 200);
    ck_assert_int_eq(b.status, 200);
    ck_assert_int_eq(g.status, 200);
    json_t *ja = th_json_parse(a.body), *jb = th_json_parse(b.body), *jg = th_json_parse(g.body);
    jwt_parts_t pa, pb, pg;
    split_jwt(json_string_value(json_object_get(ja, "response")), &pa);
    split_jwt(json_string_value(json_object_get(jb, "response")), &pb);
    split_jwt(json_string_value(json_object_get(jg, "response")), &pg);
    ck_assert_str_eq(claim(pa.claims, "is_admin"), "false");
    ck_assert_str_eq(claim(pa.claims, "is_guest"), "false");
    ck_assert_str_eq(claim(pg.claims, "is_admin"), "false");
    ck_assert_str_eq(claim(pg.claims, "is_guest"), "true");
    ck_assert_str_ne(claim(pa.claims, "jti"), claim(pb.claims, "jti"));
    ck_assert_str_eq(claim(pa.claims, "sub"), claim(pb.claims, "sub"));
    json_decref(pa.header), json_decref(pa.claims), json_decref(pb.header), json_decref(pb.claims);
    json_decref(pg.header), json_decref(pg.claims);
    json_decref(ja), json_decref(jb), json_decref(jg);
    th_response_dispose(&a), th_response_dispose(&b), th_response_dispose(&g);
}
END_TEST

static void assert_401_basic(const th_response_t *r)
{
    th_assert_error_envelope(r, 401);
    char *wa = th_header(r, "www-authenticate");
    ck_assert_ptr_nonnull(wa);
    ck_assert_str_eq(wa, "Basic realm=\"identityd\"");
    free(wa);
}

/* Every way of not being the user ends in 401 with a Basic challenge and the envelope. */
START_TEST(token_basic_failures)
{
    th_response_t r;
    th_get(&r, &srv, TOKEN_PATH, NULL);
    assert_401_basic(&r);
    th_response_dispose(&r);

    get_basic(&r, TOKEN_PATH, "admin@example.com", "wrong horse");
    assert_401_basic(&r);
    th_response_dispose(&r);

    get_basic(&r, TOKEN_PATH, "nobody@example.com", "correct horse");
    assert_401_basic(&r);
    th_response_dispose(&r);

    get_basic(&r, TOKEN_PATH, "admin@example.com", "");
    assert_401_basic(&r);
    th_response_dispose(&r);

    /* A disabled user is refused even with the right password. */
    const char *argv[] = {th_ctl(), "-c", env.config, "user", "disable", "user@example.com", NULL};
    ck_assert_int_eq(th_run(argv, NULL, NULL, NULL), 0);
    get_basic(&r, TOKEN_PATH, "user@example.com", "user pass");
    assert_401_basic(&r);
    th_response_dispose(&r);
}
END_TEST

/* Malformed Basic credentials are refused cleanly and the server goes on serving. */
START_TEST(token_basic_malformed)
{
    static const char *const bad[] = {
        "Authorization: Basic !!!not-base64!!!",
        "Authorization: Basic YWRtaW5AZXhhbXBsZS5jb20", /* "admin@example.com": no colon, no padding
                                                         */
        "Authorization: Basic YWRtaW5AZXhhbXBsZS5jb20=", /* bad padding */
        "Authorization: Basic YQBiOmM=",                 /* "a\0b:c": a NUL byte */
        "Authorization: Basic Og==",                     /* ":" alone */
        "Authorization: Basic ",
        "Authorization: Basic",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        th_response_t r;
        th_get(&r, &srv, TOKEN_PATH, bad[i]);
        ck_assert_msg(r.status == 401 || r.status == 400, "%s -> %ld", bad[i], r.status);
        th_assert_error_envelope(&r, r.status);
        th_response_dispose(&r);
    }
    /* Huge, but under the header limit: refused without decoding work. */
    char *huge = malloc(12000);
    strcpy(huge, "Authorization: Basic ");
    memset(huge + strlen(huge), 'Q', 10000);
    huge[21 + 10000] = '\0';
    th_response_t r;
    th_get(&r, &srv, TOKEN_PATH, huge);
    ck_assert(r.status == 401 || r.status == 400);
    th_response_dispose(&r);
    free(huge);

    get_basic(&r, TOKEN_PATH, "admin@example.com", "correct horse");
    ck_assert_int_eq(r.status, 200);
    th_response_dispose(&r);
}
END_TEST

/* The other credential kinds, when they are not valid, answer 401 with a Bearer challenge:
 * an API key nobody issued, a JWT while no authority is configured (this environment has no
 * oidc: section), a session token nobody holds, an unknown cookie. */
START_TEST(token_other_schemes_401)
{
    static const char *const creds[] = {
        "Authorization: Bearer sk-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "ApiKeyBearer: sk-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "Authorization: Bearer eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln",
        "Authorization: Bearer opaque-session-token",
        "Cookie: asc_auth_key=some-session",
    };
    for (size_t i = 0; i < sizeof(creds) / sizeof(creds[0]); i++) {
        th_response_t r;
        th_get(&r, &srv, TOKEN_PATH, creds[i]);
        th_assert_error_envelope(&r, 401);
        char *wa = th_header(&r, "www-authenticate");
        ck_assert_ptr_nonnull(wa);
        ck_assert(strncmp(wa, "Bearer", 6) == 0);
        free(wa);
        th_response_dispose(&r);
    }
}
END_TEST

/* The Host picks the tenant; an unknown host is 404; ?origin= only from the tenant's list. */
START_TEST(token_tenants_and_origin)
{
    th_response_t r;
    char *basic = th_basic("admin@example.com", "correct horse");
    const char *second[] = {basic, "Host: second.test", NULL};
    char *u = th_url(&srv, TOKEN_PATH);
    th_http(&r, "GET", u, second, NULL, 0, 0);
    assert_401_basic(&r); /* the user belongs to tenant 1, not 2 */
    th_response_dispose(&r);

    const char *unknown[] = {basic, "Host: elsewhere.test", NULL};
    th_http(&r, "GET", u, unknown, NULL, 0, 0);
    th_assert_error_envelope(&r, 404);
    th_response_dispose(&r);

    const char *injected[] = {basic, "Host: evil\".test", NULL};
    th_http(&r, "GET", u, injected, NULL, 0, 0);
    th_assert_error_envelope(&r, 400);
    th_response_dispose(&r);

    /* Ports end up in signed claims: only 1..65535 in plain decimal, and the scheme's default
     * port is left out as DocSpace leaves it out. */
    const char *bad_port[] = {basic, "Host: localhost:99999", NULL};
    th_http(&r, "GET", u, bad_port, NULL, 0, 0);
    th_assert_error_envelope(&r, 400);
    th_response_dispose(&r);
    const char *zero_port[] = {basic, "Host: localhost:00080", NULL};
    th_http(&r, "GET", u, zero_port, NULL, 0, 0);
    th_assert_error_envelope(&r, 400);
    th_response_dispose(&r);
    /* No Host at all ("Host:" makes libcurl leave it out): h2o would substitute a name of
     * its own, so identityd refuses rather than guess the tenant. */
    const char *no_host[] = {basic, "Host:", NULL};
    th_http(&r, "GET", u, no_host, NULL, 0, 0);
    th_assert_error_envelope(&r, 400);
    th_response_dispose(&r);
    const char *default_port[] = {basic, "Host: LocalHost:80", NULL};
    th_http(&r, "GET", u, default_port, NULL, 0, 0);
    ck_assert_int_eq(r.status, 200);
    json_t *jd = th_json_parse(r.body);
    jwt_parts_t pd;
    split_jwt(json_string_value(json_object_get(jd, "response")), &pd);
    ck_assert_str_eq(claim(pd.claims, "tenant_url"), "http://localhost");
    json_decref(pd.header), json_decref(pd.claims), json_decref(jd);
    th_response_dispose(&r);

    const char *only[] = {basic, NULL};
    char *with_origin = th_url(&srv, TOKEN_PATH "?origin=https%3A%2F%2Fdocs.example.com");
    th_http(&r, "GET", with_origin, only, NULL, 0, 0);
    ck_assert_int_eq(r.status, 200);
    json_t *j = th_json_parse(r.body);
    jwt_parts_t p;
    split_jwt(json_string_value(json_object_get(j, "response")), &p);
    ck_assert_str_eq(claim(p.claims, "tenant_url"), "https://docs.example.com");
    ck_assert_str_eq(claim(p.claims, "iss"), "https://docs.example.com");
    ck_assert_str_eq(claim(p.claims, "aud"), "https://docs.example.com");
    json_decref(p.header), json_decref(p.claims), json_decref(j);
    th_response_dispose(&r);
    free(with_origin);

    char *bad_origin = th_url(&srv, TOKEN_PATH "?origin=https://attacker.example");
    th_http(&r, "GET", bad_origin, only, NULL, 0, 0);
    th_assert_error_envelope(&r, 400);
    th_response_dispose(&r);
    free(bad_origin);

    /* X-Forwarded-* from a peer that is not a trusted proxy changes nothing. */
    const char *forwarded[] = {basic, "X-Forwarded-Proto: https",
                               "X-Forwarded-Host: docs.example.com", NULL};
    th_http(&r, "GET", u, forwarded, NULL, 0, 0);
    ck_assert_int_eq(r.status, 200);
    j = th_json_parse(r.body);
    split_jwt(json_string_value(json_object_get(j, "response")), &p);
    char tenant_url[128];
    snprintf(tenant_url, sizeof(tenant_url), "http://127.0.0.1:%d", srv.port);
    ck_assert_str_eq(claim(p.claims, "tenant_url"), tenant_url);
    json_decref(p.header), json_decref(p.claims), json_decref(j);
    th_response_dispose(&r);
    free(u);
    free(basic);
}
END_TEST

/* Routing and limits: 404, 405, 413 and 431 in the error envelope; h2c works. */
START_TEST(http_routing_and_limits)
{
    th_response_t r;
    th_get(&r, &srv, "/api/2.0/nothing-here", NULL);
    th_assert_error_envelope(&r, 404);
    th_response_dispose(&r);

    char *u = th_url(&srv, TOKEN_PATH);
    th_http(&r, "POST", u, NULL, "{}", 2, 0);
    th_assert_error_envelope(&r, 405);
    char *allow = th_header(&r, "allow");
    ck_assert_str_eq(allow, "GET");
    free(allow);
    th_response_dispose(&r);

    size_t big = 64 * 1024 + 1;
    char *body = malloc(big);
    memset(body, 'x', big);
    th_http(&r, "GET", u, NULL, body, big, 0);
    th_assert_error_envelope(&r, 413);
    th_response_dispose(&r);
    free(body);

    char *header = malloc(20000);
    strcpy(header, "X-Filler: ");
    memset(header + 10, 'a', 17000);
    header[10 + 17000] = '\0';
    th_get(&r, &srv, TOKEN_PATH, header);
    th_assert_error_envelope(&r, 431);
    th_response_dispose(&r);
    free(header);

    char *basic = th_basic("admin@example.com", "correct horse");
    const char *headers[] = {basic, NULL};
    th_http(&r, "GET", u, headers, NULL, 0, TH_HTTP2);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq(r.http_version, CURL_HTTP_VERSION_2_0);
    th_response_dispose(&r);
    free(basic);
    free(u);
}
END_TEST

/* A password change or a disable takes effect at once, even for a remembered credential. */
START_TEST(token_cache_follows_changes)
{
    th_response_t r;
    get_basic(&r, TOKEN_PATH, "user@example.com", "user pass");
    ck_assert_int_eq(r.status, 200);
    th_response_dispose(&r);
    const char *argv[] = {th_ctl(), "-c", env.config, "user", "passwd", "user@example.com", NULL};
    ck_assert_int_eq(th_run(argv, "new pass\n", NULL, NULL), 0);
    /* Two requests, so both threads' caches would have been asked. */
    for (int i = 0; i < 2; i++) {
        get_basic(&r, TOKEN_PATH, "user@example.com", "user pass");
        assert_401_basic(&r);
        th_response_dispose(&r);
    }
    get_basic(&r, TOKEN_PATH, "user@example.com", "new pass");
    ck_assert_int_eq(r.status, 200);
    th_response_dispose(&r);
}
END_TEST

/* 100 Basic requests at once are all answered, correctly. */
START_TEST(token_concurrent_basic)
{
    enum { N = 100 };
    CURLM *multi = curl_multi_init();
    CURL *easy[N];
    struct curl_slist *headers = NULL;
    char *basic = th_basic("admin@example.com", "correct horse");
    headers = curl_slist_append(headers, basic);
    char *u = th_url(&srv, TOKEN_PATH);
    for (int i = 0; i < N; i++)
        easy[i] = th_multi_add(multi, u, headers, NULL, 60);
    th_multi_run(multi);
    int ok = 0;
    for (int i = 0; i < N; i++)
        if (th_multi_finish(multi, easy[i]) == 200)
            ok++;
    ck_assert_int_eq(ok, N);
    curl_multi_cleanup(multi);
    curl_slist_free_all(headers);
    free(basic);
    free(u);
}
END_TEST

/* identityd -t: "configuration OK" for a good config; FILE:LINE for a bad one. */
START_TEST(config_test_mode)
{
    char *out = NULL, *err = NULL;
    const char *argv[] = {th_bin(), "-c", env.config, "-t", NULL};
    ck_assert_int_eq(th_run(argv, NULL, &out, &err), 0);
    ck_assert_str_eq(out, "configuration OK\n");
    free(out), free(err);

    /* -t changes nothing: a database that does not exist yet is not created by it (an SQLite
     * file: under PostgreSQL the configured database is the test's own). */
    if (!th_store_pg()) {
        char *text = th_read_file(env.config);
        char *db_line = strstr(text, "database: identity.db");
        ck_assert_ptr_nonnull(db_line);
        memcpy(db_line, "database: fresh_db.db", strlen("database: fresh_db.db"));
        char fresh_cfg[TH_PATH + 16], fresh_db[TH_PATH + 16];
        snprintf(fresh_cfg, sizeof(fresh_cfg), "%s/fresh.yaml", env.dir);
        snprintf(fresh_db, sizeof(fresh_db), "%s/fresh_db.db", env.dir);
        th_write_file(fresh_cfg, text, 0644);
        free(text);
        const char *argv_fresh[] = {th_bin(), "-c", fresh_cfg, "-t", NULL};
        ck_assert_int_eq(th_run(argv_fresh, NULL, &out, &err), 0);
        ck_assert_str_eq(out, "configuration OK\n");
        free(out), free(err);
        ck_assert_int_ne(access(fresh_db, F_OK), 0);
    }

    char bad[TH_PATH + 16];
    snprintf(bad, sizeof(bad), "%s/bad.yaml", env.dir);
    th_write_file(bad, "listen: [\"127.0.0.1:0\"]\ntoken: { ttl: 5 }\n", 0644);
    const char *argv_bad[] = {th_bin(), "-c", bad, "-t", NULL};
    ck_assert_int_eq(th_run(argv_bad, NULL, &out, &err), 1);
    char expect[TH_PATH + 32];
    snprintf(expect, sizeof(expect), "%s:2:", bad);
    ck_assert_msg(strstr(err, expect) != NULL, "stderr was: %s", err);
    free(out), free(err);

    /* Starting (not -t) with the bad file fails the same way. */
    const char *argv_start[] = {th_bin(), "-c", bad, NULL};
    ck_assert_int_eq(th_run(argv_start, NULL, &out, &err), 1);
    ck_assert(strstr(err, expect) != NULL);
    free(out), free(err);
}
END_TEST

/* The value of one metric line ("name value") in a /metrics body, or -1. */
static long metric_value(const char *body, const char *name)
{
    size_t n = strlen(name);
    for (const char *line = body; line && *line;
         line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
        if (strncmp(line, name, n) == 0 && line[n] == ' ')
            return atol(line + n + 1);
    return -1;
}

/* /health answers 200 while the database does; /metrics counts what happened, so an
 * operator can see tokens issued and credentials refused. */
START_TEST(health_and_metrics)
{
    th_response_t r;
    th_get(&r, &srv, "/health", NULL);
    ck_assert_int_eq(r.status, 200);
    th_response_dispose(&r);

    for (int i = 0; i < 2; i++) {
        get_basic(&r, TOKEN_PATH, "admin@example.com", "correct horse");
        ck_assert_int_eq(r.status, 200);
        th_response_dispose(&r);
    }
    get_basic(&r, TOKEN_PATH, "admin@example.com", "wrong horse");
    ck_assert_int_eq(r.status, 401);
    th_response_dispose(&r);

    th_get(&r, &srv, "/metrics", NULL);
    ck_assert_int_eq(r.status, 200);
    char *ct = th_header(&r, "content-type");
    ck_assert_ptr_nonnull(ct);
    ck_assert(strncmp(ct, "text/plain", 10) == 0);
    free(ct);
    ck_assert_int_eq(
        metric_value(r.body, "identityd_tokens_minted_total{kid=\"test-es256\",alg=\"ES256\"}"), 2);
    ck_assert_int_eq(metric_value(r.body, "identityd_auth_failures_total"), 1);
    ck_assert_int_eq(metric_value(r.body, "identityd_signins_blocked_total"), 0);
    ck_assert_int_eq(metric_value(r.body, "identityd_worker_jobs{pool=\"kdf\"}"), 0);
    ck_assert_ptr_nonnull(strstr(r.body, "# TYPE identityd_tokens_minted_total counter"));
    th_response_dispose(&r);
}
END_TEST

/* Behind a trusted proxy, the scheme and host the client used come from X-Forwarded-Proto
 * and -Host (the last value: the one the nearest proxy set), and decide the tenant, iss,
 * aud, tenant_url and the envelope's link. */
START_TEST(forwarded_from_trusted_proxy)
{
    char *basic = th_basic("admin@example.com", "correct horse");
    char *u = th_url(&srv, TOKEN_PATH "?x=1");
    const char *forwarded[] = {basic, "X-Forwarded-Proto: https", "X-Forwarded-Host: evil.test",
                               "X-Forwarded-Host: LocalHost", NULL};
    th_response_t r;
    th_http(&r, "GET", u, forwarded, NULL, 0, 0);
    ck_assert_int_eq(r.status, 200);
    json_t *j = th_json_parse(r.body);
    json_t *link = json_array_get(json_object_get(j, "links"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(link, "href")),
                     "https://localhost" TOKEN_PATH "?x=1");
    json_t *claims = th_jwt_part(json_string_value(json_object_get(j, "response")), 1);
    ck_assert_str_eq(claim(claims, "tenant_url"), "https://localhost");
    ck_assert_str_eq(claim(claims, "iss"), "https://localhost");
    ck_assert_str_eq(claim(claims, "aud"), "https://localhost");
    json_decref(claims);
    json_decref(j);
    th_response_dispose(&r);

    /* The forwarded host picks the tenant: tenant 2 has no such user; an unknown host has
     * no tenant at all. */
    const char *second[] = {basic, "X-Forwarded-Host: second.test", NULL};
    th_http(&r, "GET", u, second, NULL, 0, 0);
    th_assert_error_envelope(&r, 401);
    th_response_dispose(&r);
    const char *unknown[] = {basic, "X-Forwarded-Host: nowhere.test", NULL};
    th_http(&r, "GET", u, unknown, NULL, 0, 0);
    th_assert_error_envelope(&r, 404);
    th_response_dispose(&r);
    const char *bad_proto[] = {basic, "X-Forwarded-Proto: gopher", NULL};
    th_http(&r, "GET", u, bad_proto, NULL, 0, 0);
    th_assert_error_envelope(&r, 400);
    th_response_dispose(&r);
    free(u);
    free(basic);
}
END_TEST

static th_response_t scratch;

static long kdf_iterations(void)
{
    th_response_t r;
    th_get(&r, &srv, "/metrics", NULL);
    long v = metric_value(r.body, "identityd_password_kdf_iterations_total");
    th_response_dispose(&r);
    return v;
}

/* A wrong password for a real account and any password for an account that does not exist
 * must cost the same KDF work, or response time tells an attacker which emails exist. That
 * includes an account whose record was made before password.iterations was raised: its
 * check is padded up to the configured cost. The work is counted, not timed. */
START_TEST(unknown_user_costs_the_same_kdf)
{
    long before = kdf_iterations();
    get_basic(&scratch, TOKEN_PATH, "user@example.com", "wrong");
    th_response_dispose(&scratch);
    long known = kdf_iterations() - before;
    before = kdf_iterations();
    get_basic(&scratch, TOKEN_PATH, "nobody@example.com", "wrong");
    th_response_dispose(&scratch);
    long unknown = kdf_iterations() - before;
    ck_assert_int_eq(known, 1000); /* the harness's password.iterations */
    ck_assert_int_eq(unknown, known);

    /* Raise password.iterations: the stored records stay at 1000 rounds. */
    ck_assert_int_eq(th_server_stop(&srv), 0);
    char *text = th_read_file(env.config);
    char *it = strstr(text, "iterations: 1000,");
    ck_assert_ptr_nonnull(it);
    memcpy(it, "iterations: 5000,", strlen("iterations: 5000,"));
    th_write_file(env.config, text, 0644);
    free(text);
    th_server_start(&srv, &env);
    before = kdf_iterations();
    get_basic(&scratch, TOKEN_PATH, "user@example.com", "wrong");
    th_response_dispose(&scratch);
    known = kdf_iterations() - before;
    before = kdf_iterations();
    get_basic(&scratch, TOKEN_PATH, "nobody@example.com", "wrong");
    th_response_dispose(&scratch);
    unknown = kdf_iterations() - before;
    ck_assert_int_eq(unknown, 5000);
    ck_assert_int_eq(known, unknown);
    /* The right password still works (checked at the record's own 1000 rounds). */
    get_basic(&scratch, TOKEN_PATH, "user@example.com", "user pass");
    ck_assert_int_eq(scratch.status, 200);
    th_response_dispose(&scratch);
}
END_TEST

static Suite *token_suite(void)
{
    Suite *s = suite_create("token");
    TCase *tc = tcase_create("endpoint");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, token_basic_ok);
    tcase_add_test(tc, token_roles_and_unique_jti);
    tcase_add_test(tc, token_basic_failures);
    tcase_add_test(tc, token_basic_malformed);
    tcase_add_test(tc, token_other_schemes_401);
    tcase_add_test(tc, token_tenants_and_origin);
    tcase_add_test(tc, http_routing_and_limits);
    tcase_add_test(tc, token_cache_follows_changes);
    tcase_add_test(tc, token_concurrent_basic);
    tcase_add_test(tc, config_test_mode);
    tcase_add_test(tc, health_and_metrics);
    tcase_add_test(tc, unknown_user_costs_the_same_kdf);
    suite_add_tcase(s, tc);

    TCase *proxy = tcase_create("behind_proxy");
    tcase_add_checked_fixture(proxy, setup_behind_proxy, teardown);
    tcase_set_timeout(proxy, 120);
    tcase_add_test(proxy, forwarded_from_trusted_proxy);
    suite_add_tcase(s, proxy);
    return s;
}

int main(void)
{
    return th_run_suite(token_suite());
}
