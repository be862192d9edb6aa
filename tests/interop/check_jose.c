/*
 * identityd's tokens as an independent consumer sees them: jose (Node, pinned by
 * tests/interop/package-lock.json) verifies tokens minted by the real identityd, over its
 * served JWKS for ES256, RS256 and EdDSA, and with the DocSpace-derived machine key for
 * HS256. The test then checks the header and every claim jose handed back, so a token that
 * verifies in identityd's own tests but not in a third-party library, or that verifies with
 * the wrong content, fails here. Needs `npm ci` in tests/interop (scripts/test does it).
 */
#include <check.h>
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "identityd/core/b64.h"
#include "identityd/token/machinekey.h"

#define TOKEN_PATH "/api/2.0/security/oauth2/token"
#define JWKS_PATH "/.well-known/jwks.json"

/* Runs `node verify.mjs --token T` plus extra arguments (NULL-terminated). Returns node's
 * exit status; *out and *err receive its stdout and stderr (malloc'd). */
static int run_verify(const char *token, const char *const extra[], char **out, char **err)
{
    char script[TH_PATH];
    snprintf(script, sizeof(script), "%s/verify.mjs", th_getenv("IDD_INTEROP_DIR"));
    const char *argv[24] = {th_getenv("IDD_NODE"), script, "--token", token};
    size_t n = 4;
    for (size_t i = 0; extra[i] != NULL; i++) {
        ck_assert(n < sizeof(argv) / sizeof(argv[0]) - 1);
        argv[n++] = extra[i];
    }
    argv[n] = NULL;
    return th_run(argv, NULL, out, err);
}

/* A token from identityd for email:password, with Basic. malloc'd. */
static char *mint(const th_server_t *srv, const char *email, const char *password)
{
    char *basic = th_basic(email, password);
    th_response_t r;
    th_get(&r, srv, TOKEN_PATH, basic);
    ck_assert_msg(r.status == 200, "token for %s: %ld %s", email, r.status, r.body);
    json_t *j = th_json_parse(r.body);
    const char *token = json_string_value(json_object_get(j, "response"));
    ck_assert_ptr_nonnull(token);
    char *copy = strdup(token);
    json_decref(j);
    th_response_dispose(&r);
    free(basic);
    return copy;
}

static json_t *fetch_jwks(const th_server_t *srv)
{
    th_response_t r;
    th_get(&r, srv, JWKS_PATH, NULL);
    ck_assert_int_eq(r.status, 200);
    json_t *j = th_json_parse(r.body);
    th_response_dispose(&r);
    return j;
}

/* The JWK with this kid in a JWKS, or NULL. Borrowed from jwks. */
static json_t *jwk_by_kid(json_t *jwks, const char *kid)
{
    json_t *keys = json_object_get(jwks, "keys");
    size_t i;
    json_t *k;
    json_array_foreach(keys, i, k)
    {
        const char *v = json_string_value(json_object_get(k, "kid"));
        if (v != NULL && strcmp(v, kid) == 0)
            return k;
    }
    return NULL;
}

static const char *claim(json_t *payload, const char *name)
{
    json_t *v = json_object_get(payload, name);
    ck_assert_msg(json_is_string(v), "claim %s is not a string", name);
    return json_string_value(v);
}

/* What identityd must have put into a token for one user. */
typedef struct expected_user {
    const char *email, *password, *first, *last, *role;
    const char *is_admin, *is_guest;
} expected_user_t;

static const expected_user_t users[] = {
    {"Admin@Example.com", "correct horse", "Ada", "Lovelace", "admin", "true", "false"},
    {"user@example.com", "user pass", "Bob", "User", "user", "false", "false"},
    {"guest@example.com", "guest pass", "Gus", "Guest", "guest", "false", "true"},
};
#define N_USERS (sizeof(users) / sizeof(users[0]))

static void add_users(const th_env_t *env)
{
    for (size_t i = 0; i < N_USERS; i++)
        ck_assert_int_eq(th_add_user(env, users[i].email, users[i].password, users[i].first,
                                     users[i].last, users[i].role),
                         0);
}

/* Checks what jose printed for a verified token: the header and every claim, and that there
 * are no claims beyond these (DocSpace's consumers read what is there; anything extra would
 * be a leak nobody reviewed). */
static void assert_verified(const char *jose_out, const char *alg, const char *kid,
                            const th_server_t *srv, const expected_user_t *u, const char *guid)
{
    json_t *j = th_json_parse(jose_out);
    json_t *h = json_object_get(j, "header"), *p = json_object_get(j, "payload");
    ck_assert(json_is_object(h) && json_is_object(p));

    ck_assert_str_eq(json_string_value(json_object_get(h, "alg")), alg);
    ck_assert_str_eq(json_string_value(json_object_get(h, "typ")), "JWT");
    ck_assert_str_eq(json_string_value(json_object_get(h, "kid")), kid);
    ck_assert_int_eq(json_object_size(h), 3);

    ck_assert_str_eq(claim(p, "sub"), guid);
    ck_assert_str_eq(claim(p, "user_id"), guid);
    char name[128];
    snprintf(name, sizeof(name), "%s %s", u->first, u->last);
    ck_assert_str_eq(claim(p, "user_name"), name);
    ck_assert_str_eq(claim(p, "user_email"), u->email);
    ck_assert_str_eq(claim(p, "tenant_id"), "1");
    ck_assert_str_eq(claim(p, "tenant_url"), srv->base);
    ck_assert_str_eq(claim(p, "iss"), srv->base);
    /* DocSpace's consumers read aud as one string, not an array. */
    ck_assert_str_eq(claim(p, "aud"), srv->base);
    ck_assert_str_eq(claim(p, "is_admin"), u->is_admin);
    ck_assert_str_eq(claim(p, "is_guest"), u->is_guest);
    ck_assert_str_eq(claim(p, "is_public"), "true");
    ck_assert(strlen(claim(p, "jti")) >= 16);
    json_t *exp = json_object_get(p, "exp"), *iat = json_object_get(p, "iat");
    ck_assert(json_is_integer(exp) && json_is_integer(iat));
    ck_assert_int_eq(json_integer_value(exp) - json_integer_value(iat), 300);
    ck_assert(llabs(json_integer_value(iat) - (long long)time(NULL)) <= 5);
    ck_assert_msg(json_object_size(p) == 14, "unexpected claims in %s", jose_out);
    json_decref(j);
}

/* Changes one byte of the decoded payload ('A'..'Z' and 'a'..'z' swap case at the first
 * letter of the user's name) and re-encodes it, keeping the original signature: a valid
 * base64url, valid JSON token whose content is no longer what was signed. malloc'd. */
static char *tamper_payload(const char *token)
{
    const char *d1 = strchr(token, '.');
    const char *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    ck_assert(d1 != NULL && d2 != NULL);
    size_t n = 0;
    unsigned char *payload = th_b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), &n);
    char *at = strstr((char *)payload, "\"user_name\":\"");
    ck_assert_ptr_nonnull(at);
    at += strlen("\"user_name\":\"");
    *at ^= 0x20;
    char *enc = malloc(IDD_B64URL_LEN(n) + 1);
    idd_b64url_encode(enc, payload, n);
    char *out = malloc(strlen(token) + 8);
    sprintf(out, "%.*s.%s%s", (int)(d1 - token), token, enc, d2);
    ck_assert_str_ne(out, token);
    free(enc);
    free(payload);
    return out;
}

/* One asymmetric algorithm per loop iteration. */
static const char *const asym_algs[] = {"ES256", "RS256", "EdDSA"};

/* identityd signs with an ES256, RS256 or EdDSA key from identityctl; jose, given nothing
 * but the JWKS URL, verifies the tokens of an admin, a user and a guest, and every claim
 * is what DocSpace's consumers expect. A payload changed after signing is refused. */
START_TEST(jose_verifies_asymmetric)
{
    const char *alg = asym_algs[_i];
    char kid[32], keys_yaml[256];
    snprintf(kid, sizeof(kid), "k-%s", alg);
    snprintf(keys_yaml, sizeof(keys_yaml),
             "keys:\n  - { kid: %s, alg: %s, file: %s.pem, state: active }", kid, alg, alg);
    th_env_t env;
    th_env_init(&env, NULL, keys_yaml);
    char pem[TH_PATH + 16];
    snprintf(pem, sizeof(pem), "%s/%s.pem", env.dir, alg);
    const char *gen[] = {th_ctl(), "key", "generate", "--alg", alg, "--out", pem, NULL};
    ck_assert_int_eq(th_run(gen, NULL, NULL, NULL), 0);
    add_users(&env);
    th_server_t srv;
    th_server_start(&srv, &env);

    json_t *jwks = fetch_jwks(&srv);
    ck_assert_int_eq(json_array_size(json_object_get(jwks, "keys")), 1);
    json_t *jwk = jwk_by_kid(jwks, kid);
    ck_assert_ptr_nonnull(jwk);
    ck_assert_str_eq(json_string_value(json_object_get(jwk, "alg")), alg);
    /* A JWKS carries public keys only. */
    static const char *const private_members[] = {"d", "p", "q", "dp", "dq", "qi", "k"};
    for (size_t i = 0; i < sizeof(private_members) / sizeof(private_members[0]); i++)
        ck_assert_ptr_null(json_object_get(jwk, private_members[i]));
    json_decref(jwks);

    char jwks_url[128];
    snprintf(jwks_url, sizeof(jwks_url), "%s" JWKS_PATH, srv.base);
    const char *const args[] = {"--jwks",     jwks_url, "--alg", alg,   "--issuer", srv.base,
                                "--audience", srv.base, "--typ", "JWT", NULL};
    for (size_t i = 0; i < N_USERS; i++) {
        char *guid = th_user_guid(&env, users[i].email);
        char *token = mint(&srv, users[i].email, users[i].password);
        char *out = NULL, *err = NULL;
        int rc = run_verify(token, args, &out, &err);
        ck_assert_msg(rc == 0, "jose refused identityd's %s token: %s", alg, err);
        assert_verified(out, alg, kid, &srv, &users[i], guid);
        free(out), free(err);

        /* The same token with one byte of its payload changed (Ada -> aDa style) must not
         * verify: the signature covers the claims, so nobody can raise their own role or
         * swap in another user's id without the private key. */
        char *tampered = tamper_payload(token);
        rc = run_verify(tampered, args, &out, &err);
        ck_assert_msg(rc == 1, "jose accepted a tampered %s token: %s", alg, out);
        ck_assert_msg(strstr(err, "ERR_JWS_SIGNATURE_VERIFICATION_FAILED") != NULL,
                      "refused for another reason: %s", err);
        free(out), free(err);
        free(tampered);
        free(token);
        free(guid);
    }

    ck_assert_int_eq(th_server_stop(&srv), 0);
    th_env_dispose(&env);
}
END_TEST

static char *hex_of(const unsigned char *b, size_t n)
{
    char *hex = malloc(2 * n + 1);
    for (size_t i = 0; i < n; i++)
        sprintf(hex + 2 * i, "%02x", b[i]);
    return hex;
}

static char *derived_hex(const char *machine_key)
{
    unsigned char key[IDD_MACHINEKEY_HMAC_LEN];
    ck_assert_int_eq(idd_machinekey_derive(machine_key, strlen(machine_key), key, sizeof(key)), 0);
    return hex_of(key, sizeof(key));
}

/* DocSpace mode: identityd signs HS256 with the 256 bytes derived from the machine key, as
 * DocSpace's identity service expects. jose verifies with that derived key, computed here
 * from the machine key alone; the wrong secrets are refused; the shared secret is never
 * published in the JWKS. */
START_TEST(jose_verifies_hs256_docspace_key)
{
    th_env_t env;
    th_env_init(&env, NULL,
                "keys:\n  - { kid: docspace, alg: HS256, machine_key: \"some-machine-key\","
                " state: active }");
    add_users(&env);
    th_server_t srv;
    th_server_start(&srv, &env);

    /* Publishing an HMAC secret would let anybody mint tokens: the JWKS has no key. */
    json_t *jwks = fetch_jwks(&srv);
    ck_assert_int_eq(json_array_size(json_object_get(jwks, "keys")), 0);
    json_decref(jwks);

    const expected_user_t *u = &users[0];
    char *guid = th_user_guid(&env, u->email);
    char *token = mint(&srv, u->email, u->password);
    char *out = NULL, *err = NULL;

    char *right = derived_hex("some-machine-key");
    const char *const ok_args[] = {"--secret-hex", right,    "--alg", "HS256", "--issuer", srv.base,
                                   "--audience",   srv.base, "--typ", "JWT",   NULL};
    int rc = run_verify(token, ok_args, &out, &err);
    ck_assert_msg(rc == 0, "jose refused the HS256 token with the derived key: %s", err);
    assert_verified(out, "HS256", "docspace", &srv, u, guid);
    free(out), free(err);

    /* DocSpace seeds its generator with the machine key's last four bytes only, so a key
     * that differs just before them derives the same secret: identityd must reproduce that
     * weakness exactly, or DocSpace's consumers would refuse its tokens. */
    char *same_tail = derived_hex("a-different-prefix-key");
    ck_assert_str_eq(same_tail, right);
    free(same_tail);

    /* A machine key with other last bytes gives another secret: refused. */
    char *wrong = derived_hex("some-machine-kez");
    ck_assert_str_ne(wrong, right);
    const char *const wrong_args[] = {"--secret-hex", wrong, "--alg", "HS256", NULL};
    rc = run_verify(token, wrong_args, &out, &err);
    ck_assert_msg(rc == 1, "jose accepted a wrong secret: %s", out);
    ck_assert_ptr_nonnull(strstr(err, "ERR_JWS_SIGNATURE_VERIFICATION_FAILED"));
    free(out), free(err);
    free(wrong);

    /* The raw machine key is not the HMAC key: DocSpace's consumers use the derived bytes,
     * so a signer that used the configured string directly would mint tokens they refuse. */
    char *raw = hex_of((const unsigned char *)"some-machine-key", strlen("some-machine-key"));
    const char *const raw_args[] = {"--secret-hex", raw, "--alg", "HS256", NULL};
    rc = run_verify(token, raw_args, &out, &err);
    ck_assert_msg(rc == 1, "the token verified with the raw machine key: %s", out);
    free(out), free(err);
    free(raw);

    /* One byte of the payload changed after signing: refused. */
    char *tampered = tamper_payload(token);
    rc = run_verify(tampered, ok_args, &out, &err);
    ck_assert_msg(rc == 1, "jose accepted a tampered HS256 token: %s", out);
    ck_assert_ptr_nonnull(strstr(err, "ERR_JWS_SIGNATURE_VERIFICATION_FAILED"));
    free(out), free(err);
    free(tampered);

    free(right);
    free(token);
    free(guid);
    ck_assert_int_eq(th_server_stop(&srv), 0);
    th_env_dispose(&env);
}
END_TEST

#define KEYS_RSA_ACTIVE                                                                            \
    "keys:\n"                                                                                      \
    "  - { kid: k-rsa, alg: RS256, file: rs.pem, state: active }\n"                                \
    "  - { kid: k-ec, alg: ES256, file: ec.pem, state: published }"
#define KEYS_EC_ACTIVE                                                                             \
    "keys:\n"                                                                                      \
    "  - { kid: k-rsa, alg: RS256, file: rs.pem, state: published }\n"                             \
    "  - { kid: k-ec, alg: ES256, file: ec.pem, state: active }"

/* Key rotation as a consumer sees it: a published key is in the JWKS next to the active one
 * but signs nothing, jose picks the active key by kid among several, and after the roles
 * swap (restart with the other key active) a token the old key signed still verifies. */
START_TEST(jose_verifies_with_published_key)
{
    th_env_t env;
    th_env_init(&env, NULL, KEYS_RSA_ACTIVE);
    char pem[TH_PATH + 16];
    snprintf(pem, sizeof(pem), "%s/rs.pem", env.dir);
    const char *gen_rs[] = {th_ctl(), "key", "generate", "--alg", "RS256", "--out", pem, NULL};
    ck_assert_int_eq(th_run(gen_rs, NULL, NULL, NULL), 0);
    snprintf(pem, sizeof(pem), "%s/ec.pem", env.dir);
    const char *gen_ec[] = {th_ctl(), "key", "generate", "--alg", "ES256", "--out", pem, NULL};
    ck_assert_int_eq(th_run(gen_ec, NULL, NULL, NULL), 0);
    add_users(&env);
    const expected_user_t *u = &users[1];
    char *guid = th_user_guid(&env, u->email);

    th_server_t srv;
    th_server_start(&srv, &env);
    json_t *jwks = fetch_jwks(&srv);
    ck_assert_int_eq(json_array_size(json_object_get(jwks, "keys")), 2);
    ck_assert_ptr_nonnull(jwk_by_kid(jwks, "k-rsa"));
    ck_assert_ptr_nonnull(jwk_by_kid(jwks, "k-ec"));
    json_decref(jwks);

    char *old_token = mint(&srv, u->email, u->password);
    char jwks_url[128];
    snprintf(jwks_url, sizeof(jwks_url), "%s" JWKS_PATH, srv.base);
    const char *const args[] = {"--jwks",     jwks_url, "--issuer", srv.base,
                                "--audience", srv.base, NULL};
    char *out = NULL, *err = NULL;
    int rc = run_verify(old_token, args, &out, &err);
    ck_assert_msg(rc == 0, "jose refused the token of the active key: %s", err);
    /* Signed by the active key, not the published one. */
    assert_verified(out, "RS256", "k-rsa", &srv, u, guid);
    free(out), free(err);
    ck_assert_int_eq(th_server_stop(&srv), 0);

    /* Rotate: the ES256 key becomes active, the RSA key stays published. */
    char *config = th_read_file(env.config);
    char *at = strstr(config, KEYS_RSA_ACTIVE);
    ck_assert_ptr_nonnull(at);
    ck_assert_int_eq(strlen(KEYS_RSA_ACTIVE), strlen(KEYS_EC_ACTIVE));
    memcpy(at, KEYS_EC_ACTIVE, strlen(KEYS_EC_ACTIVE));
    th_write_file(env.config, config, 0644);
    free(config);
    th_server_start(&srv, &env);

    snprintf(jwks_url, sizeof(jwks_url), "%s" JWKS_PATH, srv.base);
    char *new_token = mint(&srv, u->email, u->password);
    const char *const new_args[] = {"--jwks",     jwks_url, "--issuer", srv.base,
                                    "--audience", srv.base, NULL};
    rc = run_verify(new_token, new_args, &out, &err);
    ck_assert_msg(rc == 0, "jose refused the token of the new active key: %s", err);
    assert_verified(out, "ES256", "k-ec", &srv, u, guid);
    free(out), free(err);

    /* The token the retired key signed before the rotation still verifies against the new
     * JWKS (its iss is the old port, so only the signature and times are checked here). */
    const char *const old_args[] = {"--jwks", jwks_url, "--alg", "RS256", NULL};
    rc = run_verify(old_token, old_args, &out, &err);
    ck_assert_msg(rc == 0, "a token of the published key no longer verifies: %s", err);
    json_t *j = th_json_parse(out);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "header"), "kid")),
                     "k-rsa");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "payload"), "sub")),
                     guid);
    json_decref(j);
    free(out), free(err);

    free(new_token);
    free(old_token);
    free(guid);
    ck_assert_int_eq(th_server_stop(&srv), 0);
    th_env_dispose(&env);
}
END_TEST

static Suite *jose_suite(void)
{
    Suite *s = suite_create("jose");
    TCase *tc = tcase_create("verify");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, jose_verifies_asymmetric, 0,
                        (int)(sizeof(asym_algs) / sizeof(asym_algs[0])));
    tcase_add_test(tc, jose_verifies_hs256_docspace_key);
    tcase_add_test(tc, jose_verifies_with_published_key);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return th_run_suite(jose_suite());
}
