/*
 * What the JOSE suites (check_jwks.c, check_jwt_verify.c) share: keys generated with OpenSSL,
 * a JWKS written from their public parts with jansson, and a small signer of their own, not
 * src/token/signer.c, so that the verifier is tested against an independent implementation.
 * Each suite is its own program: everything here is static, and functions are inline so
 * that a suite not using one does not warn.
 */
#ifndef IDENTITYD_TESTS_JOSE_TEST_H
#define IDENTITYD_TESTS_JOSE_TEST_H

#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "identityd/core/common.h"
#include "identityd/jose/jwks.h"
#include "identityd/core/log.h"

#define NOW INT64_C(1800000000)
#define SKEW 120
#define ISSUER "https://auth.example.org"
#define AUDIENCE "https://docspace.example.org"
#define SUBJECT "4a515a15-d4d6-4b8e-828e-e0586f18f3a3"
#define ALL_ALGS (IDD_JWA_RS256 | IDD_JWA_ES256 | IDD_JWA_PS256 | IDD_JWA_EDDSA)
/* Characters of unpadded base64url for n bytes: ceil(4n / 3). */
#define B64URL_LEN(n) ((4 * (n) + 2) / 3)

static const char *const audiences[] = {"https://other.example.org", AUDIENCE};

/* Generated once, in the runner, before the tests fork. */
static EVP_PKEY *rsa_key;     /* kid rsa-1 (no alg) and rsa-rs256 (alg RS256) */
static EVP_PKEY *rsa_enc_key; /* published with use "enc": skipped */
static EVP_PKEY *rsa1024_key; /* too small: skipped */
static EVP_PKEY *ec_key;      /* kid ec-1 */
static EVP_PKEY *ec_other;    /* an attacker's P-256 key */
static EVP_PKEY *ec384_key;   /* wrong curve: skipped */
static EVP_PKEY *ed_key;      /* kid ed-1 */
static idd_jwks_t jwks;       /* the authority's set */
static int keys_ready;

#define ck_status(got_expr, want_expr)                                                             \
    do {                                                                                           \
        idd_jwt_status_t got_ = (got_expr);                                                        \
        idd_jwt_status_t want_ = (want_expr);                                                      \
        ck_assert_msg(got_ == want_, "got %s, want %s", idd_jwt_status_name(got_),                 \
                      idd_jwt_status_name(want_));                                                 \
    } while (0)

/* ---- encoding ---- */

/* Unpadded base64url via OpenSSL's standard base64, independent of src/core/b64.c. */
static inline char *b64url(const void *data, size_t len)
{
    char *out = idd_xmalloc(4 * ((len + 2) / 3) + 1);
    int n = EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    size_t j = 0;
    for (int i = 0; i < n && out[i] != '='; i++)
        out[j++] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
    out[j] = '\0';
    return out;
}

static inline char *join3(const char *a, const char *b, const char *c)
{
    char *s = NULL;
    ck_assert_int_ne(asprintf(&s, "%s.%s.%s", a, b, c), -1);
    return s;
}

/* ---- JWKs from public keys ---- */

static inline void set_b64(json_t *obj, const char *name, const unsigned char *bytes, size_t len)
{
    char *s = b64url(bytes, len);
    json_object_set_new(obj, name, json_string(s));
    free(s);
}

/* Sets name to the big-endian bytes of a BIGNUM parameter, left-padded to pad (0: minimal). */
static inline void set_bn(json_t *obj, const char *name, EVP_PKEY *pkey, const char *param, int pad)
{
    BIGNUM *bn = NULL;
    ck_assert_int_eq(EVP_PKEY_get_bn_param(pkey, param, &bn), 1);
    int n = pad > 0 ? pad : BN_num_bytes(bn);
    unsigned char *bytes = idd_xmalloc((size_t)n);
    ck_assert_int_eq(BN_bn2binpad(bn, bytes, n), n);
    set_b64(obj, name, bytes, (size_t)n);
    free(bytes);
    BN_free(bn);
}

/* The public JWK of pkey with use "sig"; kid and alg are left out when NULL. */
static inline json_t *jwk_of(EVP_PKEY *pkey, const char *kid, const char *alg)
{
    json_t *jwk = json_object();
    if (kid != NULL)
        json_object_set_new(jwk, "kid", json_string(kid));
    json_object_set_new(jwk, "use", json_string("sig"));
    if (alg != NULL)
        json_object_set_new(jwk, "alg", json_string(alg));
    if (EVP_PKEY_is_a(pkey, "RSA")) {
        json_object_set_new(jwk, "kty", json_string("RSA"));
        set_bn(jwk, "n", pkey, OSSL_PKEY_PARAM_RSA_N, 0);
        set_bn(jwk, "e", pkey, OSSL_PKEY_PARAM_RSA_E, 0);
    } else if (EVP_PKEY_is_a(pkey, "EC")) {
        char group[64];
        ck_assert_int_eq(EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group,
                                                        sizeof(group), NULL),
                         1);
        int p256 = strcmp(group, "prime256v1") == 0;
        int coord = p256 ? 32 : 48;
        json_object_set_new(jwk, "kty", json_string("EC"));
        json_object_set_new(jwk, "crv", json_string(p256 ? "P-256" : "P-384"));
        set_bn(jwk, "x", pkey, OSSL_PKEY_PARAM_EC_PUB_X, coord);
        set_bn(jwk, "y", pkey, OSSL_PKEY_PARAM_EC_PUB_Y, coord);
    } else {
        unsigned char pub[32];
        size_t len = sizeof(pub);
        ck_assert_int_eq(EVP_PKEY_get_raw_public_key(pkey, pub, &len), 1);
        json_object_set_new(jwk, "kty", json_string("OKP"));
        json_object_set_new(jwk, "crv", json_string("Ed25519"));
        set_b64(jwk, "x", pub, len);
    }
    return jwk;
}

/* Parses {"keys":[jwk]} (jwk is consumed) and returns how many keys were kept. */
static inline size_t parse_one(json_t *jwk)
{
    json_t *doc = json_pack("{s:[o]}", "keys", jwk);
    char *text = json_dumps(doc, JSON_COMPACT);
    idd_jwks_t set;
    ck_assert_int_eq(idd_jwks_parse(text, strlen(text), &set), 0);
    size_t n = set.n;
    idd_jwks_dispose(&set);
    free(text);
    json_decref(doc);
    return n;
}

static inline void make_keys(void)
{
    if (keys_ready)
        return;
    rsa_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    rsa_enc_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    rsa1024_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    ec_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    ec_other = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    ec384_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    ed_key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    ck_assert(rsa_key && rsa_enc_key && rsa1024_key && ec_key && ec_other && ec384_key && ed_key);

    json_t *keys = json_array();
    json_array_append_new(keys, jwk_of(rsa_key, "rsa-1", NULL));
    json_array_append_new(keys, jwk_of(rsa_key, "rsa-rs256", "RS256"));
    json_array_append_new(keys, jwk_of(ec_key, "ec-1", "ES256"));
    json_array_append_new(keys, jwk_of(ed_key, "ed-1", NULL));
    json_array_append_new(keys, jwk_of(ec384_key, "ec-384", NULL));
    json_array_append_new(keys, jwk_of(rsa1024_key, "rsa-1024", NULL));
    json_t *enc = jwk_of(rsa_enc_key, "rsa-enc", NULL);
    json_object_set_new(enc, "use", json_string("enc"));
    json_array_append_new(keys, enc);
    json_t *priv = jwk_of(ec_other, "ec-private", "ES256");
    json_object_set_new(priv, "d", json_string("c2VjcmV0IHNjYWxhciBvZiB0aGUga2V5IGlzIGhlcmU"));
    json_array_append_new(keys, priv);
    json_array_append_new(
        keys, json_pack("{s:s, s:s, s:s}", "kty", "oct", "kid", "oct-1", "k", "c2VjcmV0"));
    json_array_append_new(keys, json_pack("{s:s, s:s}", "kty", "XYZ", "kid", "xyz-1"));
    json_t *doc = json_pack("{s:o}", "keys", keys);
    char *text = json_dumps(doc, JSON_COMPACT);
    ck_assert_int_eq(idd_jwks_parse(text, strlen(text), &jwks), 0);
    free(text);
    json_decref(doc);
    keys_ready = 1;
}

static inline void free_keys(void)
{
    idd_jwks_dispose(&jwks);
    EVP_PKEY_free(rsa_key);
    EVP_PKEY_free(rsa_enc_key);
    EVP_PKEY_free(rsa1024_key);
    EVP_PKEY_free(ec_key);
    EVP_PKEY_free(ec_other);
    EVP_PKEY_free(ec384_key);
    EVP_PKEY_free(ed_key);
}

/* ---- minting ---- */

typedef enum {
    SIGN_RS256,
    SIGN_PS256,
    SIGN_ES256,
    SIGN_ES256_DER,
    SIGN_EDDSA,
    SIGN_NONE,
    /* RSA-PSS variants that are not PS256 (RFC 7518 §3.5 fixes SHA-256 for the MGF and a
     * 32-byte salt). */
    SIGN_PSS_SALT0,
    SIGN_PSS_SALTMAX,
    SIGN_PSS_MGF1_SHA1,
} sign_as_t;

static inline sign_as_t sign_as(const char *alg)
{
    if (strcmp(alg, "RS256") == 0)
        return SIGN_RS256;
    if (strcmp(alg, "PS256") == 0)
        return SIGN_PS256;
    if (strcmp(alg, "ES256") == 0)
        return SIGN_ES256;
    if (strcmp(alg, "EdDSA") == 0)
        return SIGN_EDDSA;
    return SIGN_NONE;
}

/* Signs input the way a JWS signer does; returns the signature bytes (caller frees). */
static inline unsigned char *sign(sign_as_t how, EVP_PKEY *pkey, const char *input, size_t *sig_len)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    size_t len = 0;
    unsigned char *sig;

    ck_assert_int_eq(
        EVP_DigestSignInit(md, &pctx, how == SIGN_EDDSA ? NULL : EVP_sha256(), NULL, pkey), 1);
    if (how == SIGN_PS256 || how == SIGN_PSS_SALT0 || how == SIGN_PSS_SALTMAX ||
        how == SIGN_PSS_MGF1_SHA1) {
        int salt = how == SIGN_PSS_SALT0 ? 0 : how == SIGN_PSS_SALTMAX ? RSA_PSS_SALTLEN_MAX : 32;
        ck_assert_int_eq(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING), 1);
        ck_assert_int_eq(EVP_PKEY_CTX_set_rsa_mgf1_md(
                             pctx, how == SIGN_PSS_MGF1_SHA1 ? EVP_sha1() : EVP_sha256()),
                         1);
        ck_assert_int_eq(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, salt), 1);
    }
    ck_assert_int_eq(EVP_DigestSign(md, NULL, &len, (const unsigned char *)input, strlen(input)),
                     1);
    sig = idd_xmalloc(len);
    ck_assert_int_eq(EVP_DigestSign(md, sig, &len, (const unsigned char *)input, strlen(input)), 1);
    EVP_MD_CTX_free(md);
    if (how == SIGN_ES256) {
        /* JWS wants R‖S, 32 bytes each, not OpenSSL's DER. */
        const unsigned char *p = sig;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)len);
        const BIGNUM *r = NULL;
        const BIGNUM *s = NULL;
        ck_assert_ptr_nonnull(es);
        ECDSA_SIG_get0(es, &r, &s);
        unsigned char *raw = idd_xmalloc(64);
        ck_assert_int_eq(BN_bn2binpad(r, raw, 32), 32);
        ck_assert_int_eq(BN_bn2binpad(s, raw + 32, 32), 32);
        ECDSA_SIG_free(es);
        free(sig);
        sig = raw;
        len = 64;
    }
    *sig_len = len;
    return sig;
}

/* header.payload.signature from JSON texts, signed as how with pkey (caller frees). */
static inline char *mint_raw(const char *header, const char *claims, sign_as_t how, EVP_PKEY *pkey)
{
    char *h = b64url(header, strlen(header));
    char *p = b64url(claims, strlen(claims));
    char *input = NULL;
    char *s;
    char *token;

    ck_assert_int_ne(asprintf(&input, "%s.%s", h, p), -1);
    if (how == SIGN_NONE) {
        s = idd_xstrdup("");
    } else {
        size_t len = 0;
        unsigned char *sig = sign(how, pkey, input, &len);
        s = b64url(sig, len);
        free(sig);
    }
    token = join3(h, p, s);
    free(h);
    free(p);
    free(s);
    free(input);
    return token;
}

/* Mints from JSON objects (both consumed). */
static inline char *mint_obj(json_t *header, json_t *claims, sign_as_t how, EVP_PKEY *pkey)
{
    char *h = json_dumps(header, JSON_COMPACT);
    char *c = json_dumps(claims, JSON_COMPACT | JSON_ENCODE_ANY);
    char *token = mint_raw(h, c, how, pkey);
    free(h);
    free(c);
    json_decref(header);
    json_decref(claims);
    return token;
}

static inline json_t *header_for(const char *alg, const char *kid)
{
    json_t *h = json_pack("{s:s, s:s}", "alg", alg, "typ", "JWT");
    if (kid != NULL)
        json_object_set_new(h, "kid", json_string(kid));
    return h;
}

/* Claims that pass the default policy at NOW. */
static inline json_t *good_claims(void)
{
    return json_pack("{s:s, s:s, s:s, s:I, s:I, s:I}", "iss", ISSUER, "aud", AUDIENCE, "sub",
                     SUBJECT, "exp", (json_int_t)(NOW + 300), "iat", (json_int_t)(NOW - 10), "nbf",
                     (json_int_t)(NOW - 10));
}

/* Good claims with name replaced by value (consumed), or removed when value is NULL. */
static inline json_t *claims_with(const char *name, json_t *value)
{
    json_t *c = good_claims();
    if (value != NULL)
        json_object_set_new(c, name, value);
    else
        json_object_del(c, name);
    return c;
}

/* An ES256 token under ec-1 carrying claims (consumed): the default vehicle. */
static inline char *mint_es(json_t *claims)
{
    return mint_obj(header_for("ES256", "ec-1"), claims, SIGN_ES256, ec_key);
}

static inline idd_jwt_policy_t policy_default(void)
{
    idd_jwt_policy_t p = {
        .algs = ALL_ALGS,
        .issuer = ISSUER,
        .audiences = audiences,
        .n_audiences = IDD_ARRAY_LEN(audiences),
        .now = NOW,
        .skew = SKEW,
    };
    return p;
}

/* Verifies against the authority's set; also checks claims are handed out only on success. */
static inline idd_jwt_status_t verify_with(const char *token, const idd_jwt_policy_t *policy)
{
    json_t *claims = json_object(); /* must be overwritten either way */
    json_t *sentinel = claims;
    idd_jwt_status_t st = idd_jwt_verify(token, strlen(token), &jwks, policy, &claims);
    if (st == IDD_JWT_OK) {
        ck_assert(json_is_object(claims));
        ck_assert_str_eq(json_string_value(json_object_get(claims, "sub")), SUBJECT);
    } else {
        ck_assert_ptr_null(claims);
    }
    json_decref(sentinel);
    json_decref(claims);
    return st;
}

static inline idd_jwt_status_t verify(const char *token)
{
    idd_jwt_policy_t p = policy_default();
    return verify_with(token, &p);
}

/* Verifies and frees a token. */
static inline idd_jwt_status_t verify_free(char *token)
{
    idd_jwt_status_t st = verify(token);
    free(token);
    return st;
}

/* ==== JWKS parsing ==== */

#endif
