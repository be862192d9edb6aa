/*
 * identityctl's verifier: it accepts what the signer mints for every algorithm, and refuses
 * what an attacker would try: an edited payload under the old signature, an expired token,
 * a kid it does not know, a key swapped under a known kid, and the algorithm-confusion
 * forgery (an HS256 token whose HMAC key is the RS256 public key, which anybody can fetch
 * from the JWKS and which libjwt alone would accept).
 */
#include <check.h>
#include <jansson.h>
#include <jwt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "identityd/core/b64.h"
#include "identityd/core/buf.h"
#include "identityd/core/common.h"
#include "identityd/config/config.h"
#include "identityd/token/keyring.h"
#include "identityd/token/machinekey.h"
#include "identityd/token/signer.h"
#include "identityd/token/verify.h"

static const idd_alg_t all_algs[] = {IDD_ALG_HS256, IDD_ALG_ES256, IDD_ALG_RS256, IDD_ALG_EDDSA};
static const char *const kids[] = {"hs-1", "es-1", "rs-1", "ed-1"}; /* by idd_alg_t */

static char dir[] = "/tmp/idd-verify-XXXXXX";
static char pem_path[4][512]; /* by idd_alg_t; HS256 unused */
static char es_other_pem[512];

/* ---- configuration by hand ---- */

static idd_config_t *cfg_new(void)
{
    idd_config_t *cfg = idd_xcalloc(1, sizeof(*cfg));
    cfg->path = idd_xstrdup("/etc/identityd/test.yaml");
    return cfg;
}

static void cfg_add(idd_config_t *cfg, const char *kid, idd_alg_t alg, const char *file,
                    idd_key_state_t state)
{
    cfg->keys = idd_xrealloc(cfg->keys, (cfg->n_keys + 1) * sizeof(*cfg->keys));
    idd_key_config_t *k = &cfg->keys[cfg->n_keys];
    memset(k, 0, sizeof(*k));
    k->kid = idd_xstrdup(kid);
    k->alg = alg;
    if (alg == IDD_ALG_HS256)
        k->machine_key = idd_xstrdup("111");
    else
        k->file = idd_xstrdup(file);
    k->state = state;
    k->line = (int)(cfg->n_keys + 1) * 4;
    cfg->n_keys++;
}

static void cfg_free(idd_config_t *cfg)
{
    for (size_t i = 0; i < cfg->n_keys; i++) {
        free(cfg->keys[i].kid);
        free(cfg->keys[i].file);
        free(cfg->keys[i].machine_key);
    }
    free(cfg->keys);
    free(cfg->path);
    free(cfg);
}

static idd_keyring_t *load(idd_config_t *cfg)
{
    idd_keyring_t *kr = NULL;
    char err[512];
    int rc = idd_keyring_load(cfg, &kr, err, sizeof(err));
    ck_assert_msg(rc == 0, "keyring: %s", err);
    cfg_free(cfg);
    return kr;
}

/* All four keys, the one of alg active, the others published. */
static idd_keyring_t *keyring_all(idd_alg_t active)
{
    idd_config_t *cfg = cfg_new();
    for (size_t i = 0; i < IDD_ARRAY_LEN(all_algs); i++) {
        idd_alg_t alg = all_algs[i];
        cfg_add(cfg, kids[alg], alg, pem_path[alg],
                alg == active ? IDD_KEY_ACTIVE : IDD_KEY_PUBLISHED);
    }
    return load(cfg);
}

static void make_keys(void)
{
    char err[512];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    for (size_t i = 1; i < IDD_ARRAY_LEN(all_algs); i++) {
        idd_alg_t alg = all_algs[i];
        snprintf(pem_path[alg], sizeof(pem_path[alg]), "%s/%s.pem", dir, kids[alg]);
        ck_assert_int_eq(idd_key_generate(alg, pem_path[alg], err, sizeof(err)), 0);
    }
    snprintf(es_other_pem, sizeof(es_other_pem), "%s/es-other.pem", dir);
    ck_assert_int_eq(idd_key_generate(IDD_ALG_ES256, es_other_pem, err, sizeof(err)), 0);
}

static void remove_keys(void)
{
    for (size_t i = 1; i < IDD_ARRAY_LEN(all_algs); i++)
        unlink(pem_path[all_algs[i]]);
    unlink(es_other_pem);
    rmdir(dir);
}

/* ---- tokens ---- */

static idd_claims_t claims_at(int64_t now, int64_t exp)
{
    idd_claims_t c = {
        .user_id = "4a515a15-d4d6-4b8e-828e-e0586f18f3a3",
        .first_name = "Ada",
        .last_name = "Lovelace",
        .email = "ada@example.com",
        .tenant_id = 1,
        .tenant_url = "https://docspace.example.com",
        .is_admin = false,
        .is_guest = false,
        .is_public = true,
        .iat = now,
        .exp = exp,
    };
    return c;
}

/* Mints with the keyring's active key; the caller frees the result. */
static char *mint(const idd_keyring_t *kr, int64_t now, int64_t exp)
{
    idd_signer_t *s = idd_signer_new(kr);
    ck_assert_ptr_nonnull(s);
    idd_claims_t c = claims_at(now, exp);
    idd_buf_t out;
    idd_buf_init(&out);
    ck_assert_int_eq(idd_signer_mint(s, &c, &out), 0);
    idd_signer_free(s);
    return out.data;
}

static char *b64url_str(const char *text, size_t len)
{
    char *out = malloc(IDD_B64URL_LEN(len) + 1);
    idd_b64url_encode(out, text, len);
    return out;
}

/* header.payload.signature from JSON texts and signature bytes. */
static char *assemble(const char *header, const char *payload, const unsigned char *sig,
                      size_t sig_len)
{
    char *h = b64url_str(header, strlen(header));
    char *p = b64url_str(payload, strlen(payload));
    char *s = b64url_str((const char *)sig, sig_len);
    char *token = NULL;
    ck_assert_int_ne(asprintf(&token, "%s.%s.%s", h, p, s), -1);
    free(h);
    free(p);
    free(s);
    return token;
}

static char *public_pem(const char *path, int *len)
{
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    EVP_PKEY *pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    ck_assert_ptr_nonnull(pkey);
    BIO *bio = BIO_new(BIO_s_mem());
    ck_assert_int_eq(PEM_write_bio_PUBKEY(bio, pkey), 1);
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    char *copy = strndup(data, (size_t)n);
    *len = (int)n;
    BIO_free(bio);
    EVP_PKEY_free(pkey);
    return copy;
}

static int verify(const idd_keyring_t *kr, const char *token, int64_t now, char *err, size_t errlen)
{
    return idd_verify_token(kr, token, now, NULL, err, errlen);
}

/* ---- acceptance ---- */

START_TEST(test_accepts_fresh_token)
{
    idd_alg_t alg = all_algs[_i];
    idd_keyring_t *kr = keyring_all(alg);
    int64_t now = idd_now();
    char *token = mint(kr, now, now + 300);
    idd_buf_t claims;
    idd_buf_init(&claims);
    char err[256] = "x";

    int rc = idd_verify_token(kr, token, now, &claims, err, sizeof(err));
    ck_assert_msg(rc == 0, "%s token refused: %s", idd_alg_name(alg), err);
    ck_assert_str_eq(err, "");
    json_t *j = json_loadb(claims.data, claims.len, 0, NULL);
    ck_assert_ptr_nonnull(j);
    ck_assert_str_eq(json_string_value(json_object_get(j, "user_id")),
                     "4a515a15-d4d6-4b8e-828e-e0586f18f3a3");
    ck_assert_str_eq(json_string_value(json_object_get(j, "is_admin")), "false");
    ck_assert_int_eq(json_integer_value(json_object_get(j, "exp")), now + 300);
    json_decref(j);

    /* claims_out and err may be NULL. */
    ck_assert_int_eq(idd_verify_token(kr, token, now, NULL, NULL, 0), 0);

    idd_buf_dispose(&claims);
    free(token);
    idd_keyring_free(kr);
}
END_TEST

/* A published (retiring) key still verifies the tokens it signed, found by kid. */
START_TEST(test_accepts_published_key_by_kid)
{
    idd_config_t *cfg = cfg_new();
    cfg_add(cfg, "old", IDD_ALG_ES256, pem_path[IDD_ALG_ES256], IDD_KEY_ACTIVE);
    idd_keyring_t *before = load(cfg);
    int64_t now = idd_now();
    char *token = mint(before, now, now + 60);

    cfg = cfg_new();
    cfg_add(cfg, "new", IDD_ALG_EDDSA, pem_path[IDD_ALG_EDDSA], IDD_KEY_ACTIVE);
    cfg_add(cfg, "old", IDD_ALG_ES256, pem_path[IDD_ALG_ES256], IDD_KEY_PUBLISHED);
    idd_keyring_t *after = load(cfg);
    char err[256];
    ck_assert_msg(verify(after, token, now, err, sizeof(err)) == 0, "%s", err);

    free(token);
    idd_keyring_free(before);
    idd_keyring_free(after);
}
END_TEST

/* DocSpace's own tokens carry no kid: they are checked with the active key. This one is
 * made by libjwt, not by our signer, with DocSpace's header {"alg":"HS256","typ":"JWT"}. */
START_TEST(test_no_kid_uses_active_key)
{
    unsigned char secret[IDD_MACHINEKEY_HMAC_LEN];
    ck_assert_int_eq(idd_machinekey_derive("111", 3, secret, sizeof(secret)), 0);
    int64_t now = idd_now();
    jwt_t *jwt = NULL;
    ck_assert_int_eq(jwt_new(&jwt), 0);
    ck_assert_int_eq(jwt_add_grant(jwt, "user_id", "4a515a15-d4d6-4b8e-828e-e0586f18f3a3"), 0);
    ck_assert_int_eq(jwt_add_grant_int(jwt, "exp", (long)(now + 300)), 0);
    ck_assert_int_eq(jwt_set_alg(jwt, JWT_ALG_HS256, secret, sizeof(secret)), 0);
    char *token = jwt_encode_str(jwt);
    ck_assert_ptr_nonnull(token);
    jwt_free(jwt);

    idd_keyring_t *kr = keyring_all(IDD_ALG_HS256);
    char err[256];
    ck_assert_msg(verify(kr, token, now, err, sizeof(err)) == 0, "%s", err);
    idd_keyring_free(kr);

    /* With an ES256 key active, the same kid-less token names the wrong algorithm. */
    kr = keyring_all(IDD_ALG_ES256);
    ck_assert_int_eq(verify(kr, token, now, err, sizeof(err)), IDD_EDENIED);
    idd_keyring_free(kr);
    free(token);
}
END_TEST

/* ---- refusals ---- */

/* The payload is edited (is_admin false → true) and re-encoded under the old signature. */
START_TEST(test_refuses_tampered_payload)
{
    idd_alg_t alg = all_algs[_i];
    idd_keyring_t *kr = keyring_all(alg);
    int64_t now = idd_now();
    char *token = mint(kr, now, now + 300);

    char *d1 = strchr(token, '.');
    char *d2 = strchr(d1 + 1, '.');
    size_t n = 0;
    char payload[2048];
    ck_assert_int_eq(idd_b64url_decode(payload, &n, d1 + 1, (size_t)(d2 - d1 - 1)), 0);
    payload[n] = '\0';
    char *flag = strstr(payload, "\"is_admin\":\"false\"");
    ck_assert_ptr_nonnull(flag);
    /* "false" loses a letter and is overwritten: "true". */
    memmove(flag + 16, flag + 17, strlen(flag + 17) + 1);
    memcpy(flag + 12, "true", 4);
    ck_assert_ptr_nonnull(strstr(payload, "\"is_admin\":\"true\""));
    char *new_payload = b64url_str(payload, strlen(payload));
    char *forged = NULL;
    ck_assert_int_ne(asprintf(&forged, "%.*s.%s%s", (int)(d1 - token), token, new_payload, d2), -1);

    char err[256];
    ck_assert_int_eq(verify(kr, forged, now, err, sizeof(err)), IDD_EDENIED);
    ck_assert_ptr_nonnull(strstr(err, "signature"));

    /* A changed signature byte is refused too. */
    char *sig = strrchr(token, '.') + 10;
    *sig = *sig == 'A' ? 'B' : 'A';
    ck_assert_int_eq(verify(kr, token, now, err, sizeof(err)), IDD_EDENIED);

    free(forged);
    free(new_payload);
    free(token);
    idd_keyring_free(kr);
}
END_TEST

START_TEST(test_refuses_expired)
{
    idd_alg_t alg = all_algs[_i];
    idd_keyring_t *kr = keyring_all(alg);
    int64_t exp = 1700000300;
    char *token = mint(kr, exp - 300, exp);
    char err[256];

    ck_assert_int_eq(verify(kr, token, exp - 1, err, sizeof(err)), 0);
    /* exp is the first second at which the token is no longer valid. */
    ck_assert_int_eq(verify(kr, token, exp, err, sizeof(err)), IDD_EDENIED);
    ck_assert_ptr_nonnull(strstr(err, "expired"));
    ck_assert_int_eq(verify(kr, token, exp + 3600, err, sizeof(err)), IDD_EDENIED);
    free(token);
    idd_keyring_free(kr);
}
END_TEST

/* A token without exp would be valid forever. */
START_TEST(test_refuses_missing_exp)
{
    unsigned char secret[IDD_MACHINEKEY_HMAC_LEN];
    ck_assert_int_eq(idd_machinekey_derive("111", 3, secret, sizeof(secret)), 0);
    const char *header = "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"hs-1\"}";
    const char *payload = "{\"user_id\":\"x\"}";
    char *h = b64url_str(header, strlen(header));
    char *p = b64url_str(payload, strlen(payload));
    char *input = NULL;
    ck_assert_int_ne(asprintf(&input, "%s.%s", h, p), -1);
    unsigned char mac[32];
    unsigned int mac_len = 0;
    ck_assert_ptr_nonnull(HMAC(EVP_sha256(), secret, sizeof(secret), (unsigned char *)input,
                               strlen(input), mac, &mac_len));
    char *token = assemble(header, payload, mac, mac_len);

    idd_keyring_t *kr = keyring_all(IDD_ALG_HS256);
    char err[256];
    ck_assert_int_eq(verify(kr, token, idd_now(), err, sizeof(err)), IDD_EDENIED);
    ck_assert_ptr_nonnull(strstr(err, "exp"));

    idd_keyring_free(kr);
    free(token);
    free(input);
    free(h);
    free(p);
}
END_TEST

START_TEST(test_refuses_unknown_kid)
{
    idd_config_t *cfg = cfg_new();
    cfg_add(cfg, "elsewhere", IDD_ALG_ES256, pem_path[IDD_ALG_ES256], IDD_KEY_ACTIVE);
    idd_keyring_t *other = load(cfg);
    int64_t now = idd_now();
    char *token = mint(other, now, now + 300);

    idd_keyring_t *kr = keyring_all(IDD_ALG_ES256);
    char err[256];
    ck_assert_int_eq(verify(kr, token, now, err, sizeof(err)), IDD_EDENIED);
    ck_assert_ptr_nonnull(strstr(err, "elsewhere"));

    free(token);
    idd_keyring_free(kr);
    idd_keyring_free(other);
}
END_TEST

/* The same kid naming a different key (a key swapped in the config, or a forger who reuses
 * a kid) does not verify. */
START_TEST(test_refuses_other_key_same_kid)
{
    idd_keyring_t *kr = keyring_all(IDD_ALG_ES256);
    int64_t now = idd_now();
    char *token = mint(kr, now, now + 300);

    idd_config_t *cfg = cfg_new();
    cfg_add(cfg, kids[IDD_ALG_ES256], IDD_ALG_ES256, es_other_pem, IDD_KEY_ACTIVE);
    idd_keyring_t *swapped = load(cfg);
    char err[256];
    ck_assert_int_eq(verify(swapped, token, now, err, sizeof(err)), IDD_EDENIED);

    free(token);
    idd_keyring_free(swapped);
    idd_keyring_free(kr);
}
END_TEST

/* Algorithm confusion: the attacker takes the RS256 public key (published in the JWKS) and
 * uses its PEM text as an HMAC secret for an HS256 token under the RS256 kid. libjwt, given
 * that PEM as "the key", accepts such a token; the verifier must refuse it because the key
 * named by the kid is an RS256 key. */
START_TEST(test_refuses_alg_confusion)
{
    int pem_len = 0;
    char *pem = public_pem(pem_path[IDD_ALG_RS256], &pem_len);
    int64_t now = idd_now();
    char header[128], payload[256];
    snprintf(header, sizeof(header), "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"%s\"}",
             kids[IDD_ALG_RS256]);
    snprintf(payload, sizeof(payload), "{\"sub\":\"evil\",\"is_admin\":\"true\",\"exp\":%lld}",
             (long long)(now + 300));
    char *h = b64url_str(header, strlen(header));
    char *p = b64url_str(payload, strlen(payload));
    char *input = NULL;
    ck_assert_int_ne(asprintf(&input, "%s.%s", h, p), -1);
    unsigned char mac[32];
    unsigned int mac_len = 0;
    ck_assert_ptr_nonnull(
        HMAC(EVP_sha256(), pem, pem_len, (unsigned char *)input, strlen(input), mac, &mac_len));
    char *token = assemble(header, payload, mac, mac_len);

    /* The forgery is real: libjwt alone accepts it with the public PEM as key. */
    jwt_t *jwt = NULL;
    ck_assert_int_eq(jwt_decode(&jwt, token, (unsigned char *)pem, pem_len), 0);
    jwt_free(jwt);

    idd_keyring_t *kr = keyring_all(IDD_ALG_RS256);
    char err[256];
    ck_assert_int_eq(verify(kr, token, now, err, sizeof(err)), IDD_EDENIED);
    ck_assert_ptr_nonnull(strstr(err, "HS256"));

    idd_keyring_free(kr);
    free(token);
    free(input);
    free(h);
    free(p);
    free(pem);
}
END_TEST

/* Other mismatches: "none", and a genuine signature relabelled with another key's kid. */
START_TEST(test_refuses_alg_mismatch)
{
    idd_keyring_t *kr = keyring_all(IDD_ALG_ES256);
    int64_t now = idd_now();
    char err[256];
    char payload[128];
    snprintf(payload, sizeof(payload), "{\"sub\":\"x\",\"exp\":%lld}", (long long)(now + 300));

    /* alg "none" with a signature, and with none at all. */
    const unsigned char junk[4] = {1, 2, 3, 4};
    char *token = assemble("{\"alg\":\"none\",\"kid\":\"es-1\"}", payload, junk, sizeof(junk));
    ck_assert_int_eq(verify(kr, token, now, err, sizeof(err)), IDD_EDENIED);
    free(token);
    token = assemble("{\"alg\":\"none\"}", payload, junk, 0);
    ck_assert_int_ne(verify(kr, token, now, err, sizeof(err)), 0);
    free(token);

    /* An ES256 token whose header now names the EdDSA key. */
    token = mint(kr, now, now + 300);
    char *d1 = strchr(token, '.');
    const char *header = "{\"alg\":\"ES256\",\"typ\":\"JWT\",\"kid\":\"ed-1\"}";
    char *h = b64url_str(header, strlen(header));
    char *relabelled = NULL;
    ck_assert_int_ne(asprintf(&relabelled, "%s%s", h, d1), -1);
    ck_assert_int_eq(verify(kr, relabelled, now, err, sizeof(err)), IDD_EDENIED);
    ck_assert_ptr_nonnull(strstr(err, "does not match"));

    /* And the header claiming EdDSA for the ES256 key. */
    free(h);
    free(relabelled);
    header = "{\"alg\":\"EdDSA\",\"typ\":\"JWT\",\"kid\":\"es-1\"}";
    h = b64url_str(header, strlen(header));
    ck_assert_int_ne(asprintf(&relabelled, "%s%s", h, d1), -1);
    ck_assert_int_eq(verify(kr, relabelled, now, err, sizeof(err)), IDD_EDENIED);

    free(h);
    free(relabelled);
    free(token);
    idd_keyring_free(kr);
}
END_TEST

static const char *const malformed[] = {
    "",
    "abc",
    "a.b",
    "a.b.c.d",
    ".eyJleHAiOjF9.c2ln",
    "eyJhbGciOiJIUzI1NiJ9..c2ln",
    "eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjF9.",
    "eyJhbGciOiJIUzI1NiJ9=.eyJleHAiOjF9.c2ln", /* padded base64url */
    "eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjF9!.c2ln", /* outside the alphabet */
    "bm90IGpzb24.eyJleHAiOjF9.c2ln",           /* header "not json" */
    "WzFd.eyJleHAiOjF9.c2ln",                  /* header [1]: JSON but not an object */
    "eyJ0eXAiOiJKV1QifQ.eyJleHAiOjF9.c2ln",    /* header without alg */
    "eyJhbGciOjF9.eyJleHAiOjF9.c2ln",          /* alg not a string */
};

START_TEST(test_refuses_malformed)
{
    idd_keyring_t *kr = keyring_all(IDD_ALG_HS256);
    char err[256] = "";
    int rc = verify(kr, malformed[_i], idd_now(), err, sizeof(err));
    ck_assert_msg(rc == IDD_EINVAL, "\"%s\": rc %d (%s)", malformed[_i], rc, err);
    ck_assert_str_ne(err, "");
    idd_keyring_free(kr);
}
END_TEST

static Suite *verify_suite(void)
{
    Suite *s = suite_create("verify");
    TCase *tc = tcase_create("verify");
    tcase_add_unchecked_fixture(tc, make_keys, remove_keys);
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_accepts_fresh_token, 0, (int)IDD_ARRAY_LEN(all_algs));
    tcase_add_test(tc, test_accepts_published_key_by_kid);
    tcase_add_test(tc, test_no_kid_uses_active_key);
    tcase_add_loop_test(tc, test_refuses_tampered_payload, 0, (int)IDD_ARRAY_LEN(all_algs));
    tcase_add_loop_test(tc, test_refuses_expired, 0, (int)IDD_ARRAY_LEN(all_algs));
    tcase_add_test(tc, test_refuses_missing_exp);
    tcase_add_test(tc, test_refuses_unknown_kid);
    tcase_add_test(tc, test_refuses_other_key_same_kid);
    tcase_add_test(tc, test_refuses_alg_confusion);
    tcase_add_test(tc, test_refuses_alg_mismatch);
    tcase_add_loop_test(tc, test_refuses_malformed, 0, (int)IDD_ARRAY_LEN(malformed));
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(verify_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
