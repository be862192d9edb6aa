/*
 * The signer, checked from the outside: for every algorithm a token is minted with keys
 * generated for the test and then verified by code that shares nothing with the signer
 * (libjwt for HS256/RS256/ES256, OpenSSL's verify for EdDSA), with the HS256 key taken from
 * DocSpace's published vector rather than from our own derivation. Every claim is checked
 * for value and JSON type as DocSpace's consumers read it, and the claims writer's escaping
 * is checked against jansson, since a name with a quote must not be able to add a claim.
 */
#include <check.h>
#include <jansson.h>
#include <jwt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "identityd/core/b64.h"
#include "identityd/core/buf.h"
#include "identityd/core/common.h"
#include "identityd/config/config.h"
#include "identityd/token/keyring.h"
#include "identityd/token/signer.h"

#include "vectors.h"

static const idd_alg_t all_algs[] = {IDD_ALG_HS256, IDD_ALG_ES256, IDD_ALG_RS256, IDD_ALG_EDDSA};

static char key_dir[] = "/tmp/idd-signer-XXXXXX";
static char pem_path[4][512]; /* indexed by idd_alg_t; HS256 unused */

/* ---- a hand-built configuration (the config loader is another module's) ---- */

static idd_config_t *cfg_new(void)
{
    idd_config_t *cfg = idd_xcalloc(1, sizeof(*cfg));
    cfg->path = idd_xstrdup("/etc/identityd/test.yaml");
    return cfg;
}

static void cfg_add_key(idd_config_t *cfg, const char *kid, idd_alg_t alg, const char *file,
                        const char *machine_key, idd_key_state_t state, int line)
{
    cfg->keys = idd_xrealloc(cfg->keys, (cfg->n_keys + 1) * sizeof(*cfg->keys));
    idd_key_config_t *k = &cfg->keys[cfg->n_keys++];
    memset(k, 0, sizeof(*k));
    k->kid = idd_xstrdup(kid);
    k->alg = alg;
    k->file = idd_xstrdup(file);
    k->machine_key = idd_xstrdup(machine_key);
    k->state = state;
    k->line = line;
}

static void cfg_free(idd_config_t *cfg)
{
    for (size_t i = 0; i < cfg->n_keys; i++) {
        free(cfg->keys[i].kid);
        free(cfg->keys[i].file);
        free(cfg->keys[i].machine_key);
        free(cfg->keys[i].machine_key_file);
    }
    free(cfg->keys);
    free(cfg->path);
    free(cfg);
}

/* A keyring whose only (active) key has this alg. */
static idd_keyring_t *keyring_for(idd_alg_t alg)
{
    idd_config_t *cfg = cfg_new();
    idd_keyring_t *kr = NULL;
    char err[512];
    if (alg == IDD_ALG_HS256)
        cfg_add_key(cfg, "hs-1", alg, NULL, "111", IDD_KEY_ACTIVE, 10);
    else
        cfg_add_key(cfg, "key-1", alg, pem_path[alg], NULL, IDD_KEY_ACTIVE, 10);
    int rc = idd_keyring_load(cfg, &kr, err, sizeof(err));
    ck_assert_msg(rc == 0, "keyring: %s", err);
    cfg_free(cfg);
    return kr;
}

static void generate_keys(void)
{
    char err[512];
    ck_assert_ptr_nonnull(mkdtemp(key_dir));
    for (size_t i = 1; i < IDD_ARRAY_LEN(all_algs); i++) {
        idd_alg_t alg = all_algs[i];
        snprintf(pem_path[alg], sizeof(pem_path[alg]), "%s/%s.pem", key_dir, idd_alg_name(alg));
        int rc = idd_key_generate(alg, pem_path[alg], err, sizeof(err));
        ck_assert_msg(rc == 0, "generate %s: %s", idd_alg_name(alg), err);
    }
}

static void remove_keys(void)
{
    for (size_t i = 1; i < IDD_ARRAY_LEN(all_algs); i++)
        unlink(pem_path[all_algs[i]]);
    rmdir(key_dir);
}

/* ---- helpers to take a token apart ---- */

typedef struct parts {
    char *header_b64, *payload_b64, *sig_b64;
    json_t *header, *payload;
    unsigned char sig[1024];
    size_t sig_len;
} parts_t;

static json_t *json_from_b64url(const char *seg)
{
    size_t len = strlen(seg), n = 0;
    char *bytes = malloc(IDD_B64_DECODED_MAX(len) + 1);
    ck_assert_int_eq(idd_b64url_decode(bytes, &n, seg, len), 0);
    json_error_t jerr;
    json_t *j = json_loadb(bytes, n, JSON_REJECT_DUPLICATES, &jerr);
    ck_assert_msg(j != NULL, "not JSON: %s", jerr.text);
    free(bytes);
    return j;
}

static void split(const char *token, parts_t *p)
{
    memset(p, 0, sizeof(*p));
    const char *d1 = strchr(token, '.');
    ck_assert_ptr_nonnull(d1);
    const char *d2 = strchr(d1 + 1, '.');
    ck_assert_ptr_nonnull(d2);
    ck_assert_ptr_null(strchr(d2 + 1, '.'));
    p->header_b64 = strndup(token, (size_t)(d1 - token));
    p->payload_b64 = strndup(d1 + 1, (size_t)(d2 - d1 - 1));
    p->sig_b64 = strdup(d2 + 1);
    p->header = json_from_b64url(p->header_b64);
    p->payload = json_from_b64url(p->payload_b64);
    ck_assert_uint_le(IDD_B64_DECODED_MAX(strlen(p->sig_b64)), sizeof(p->sig));
    ck_assert_int_eq(idd_b64url_decode(p->sig, &p->sig_len, p->sig_b64, strlen(p->sig_b64)), 0);
}

static void parts_free(parts_t *p)
{
    free(p->header_b64);
    free(p->payload_b64);
    free(p->sig_b64);
    json_decref(p->header);
    json_decref(p->payload);
}

static const char *str_claim(json_t *obj, const char *name)
{
    json_t *v = json_object_get(obj, name);
    ck_assert_msg(json_is_string(v), "claim %s is not a JSON string", name);
    return json_string_value(v);
}

static json_int_t int_claim(json_t *obj, const char *name)
{
    json_t *v = json_object_get(obj, name);
    ck_assert_msg(json_is_integer(v), "claim %s is not a JSON integer", name);
    return json_integer_value(v);
}

/* The public key of a PEM private key file, as PEM (what libjwt verifies with). */
static char *public_pem_of(const char *path, int *len)
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

static void hs256_secret(unsigned char out[256])
{
    for (size_t i = 0; i < 256; i++) {
        unsigned v;
        ck_assert_int_eq(sscanf(VECTOR_MACHINE_KEY_111_HEX + 2 * i, "%2x", &v), 1);
        out[i] = (unsigned char)v;
    }
}

/* Verifies token with libjwt for HS256/RS256/ES256; returns libjwt's result code and, on
 * success, its view of the claims. */
static int libjwt_verify(idd_alg_t alg, const char *token, json_t **grants)
{
    unsigned char secret[256];
    const unsigned char *key;
    int key_len;
    char *pem = NULL;
    jwt_t *jwt = NULL;

    if (alg == IDD_ALG_HS256) {
        hs256_secret(secret);
        key = secret;
        key_len = sizeof(secret);
    } else {
        pem = public_pem_of(pem_path[alg], &key_len);
        key = (const unsigned char *)pem;
    }
    int rc = jwt_decode(&jwt, token, key, key_len);
    if (rc == 0) {
        jwt_alg_t want = alg == IDD_ALG_HS256   ? JWT_ALG_HS256
                         : alg == IDD_ALG_RS256 ? JWT_ALG_RS256
                                                : JWT_ALG_ES256;
        ck_assert_int_eq(jwt_get_alg(jwt), want);
        if (grants != NULL) {
            char *text = jwt_get_grants_json(jwt, NULL);
            ck_assert_ptr_nonnull(text);
            *grants = json_loads(text, 0, NULL);
            ck_assert_ptr_nonnull(*grants);
            free(text);
        }
    }
    jwt_free(jwt);
    free(pem);
    return rc;
}

/* Verifies an EdDSA token with OpenSSL and the key read from its PEM file. */
static int openssl_verify_eddsa(const char *token)
{
    FILE *f = fopen(pem_path[IDD_ALG_EDDSA], "r");
    ck_assert_ptr_nonnull(f);
    EVP_PKEY *pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    ck_assert_ptr_nonnull(pkey);
    const char *d2 = strrchr(token, '.');
    unsigned char sig[128];
    size_t sig_len = 0;
    ck_assert_int_eq(idd_b64url_decode(sig, &sig_len, d2 + 1, strlen(d2 + 1)), 0);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    ck_assert_int_eq(EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pkey), 1);
    int ok =
        EVP_DigestVerify(ctx, sig, sig_len, (const unsigned char *)token, (size_t)(d2 - token));
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pkey);
    return ok == 1;
}

static void verify_independently(idd_alg_t alg, const char *token, json_t *payload)
{
    if (alg == IDD_ALG_EDDSA) {
        ck_assert_msg(openssl_verify_eddsa(token), "OpenSSL refused the EdDSA signature");
        return;
    }
    json_t *grants = NULL;
    int rc = libjwt_verify(alg, token, &grants);
    ck_assert_msg(rc == 0, "libjwt refused the %s token (%d)", idd_alg_name(alg), rc);
    /* libjwt's reading of the claims equals ours. */
    ck_assert_msg(json_equal(grants, payload), "libjwt reads other claims");
    json_decref(grants);
}

static idd_claims_t sample_claims(int64_t now)
{
    idd_claims_t c = {
        .user_id = "4a515a15-d4d6-4b8e-828e-e0586f18f3a3",
        .first_name = "Ada",
        .last_name = "Lovelace",
        .email = "ada@example.com",
        .tenant_id = 42,
        .tenant_url = "https://docspace.example.com",
        .is_admin = true,
        .is_guest = false,
        .is_public = true,
        .iat = now,
        .exp = now + 300,
    };
    return c;
}

/* ---- tests ---- */

START_TEST(test_mint_round_trip)
{
    idd_alg_t alg = all_algs[_i];
    idd_keyring_t *kr = keyring_for(alg);
    idd_signer_t *s = idd_signer_new(kr);
    ck_assert_ptr_nonnull(s);
    int64_t now = idd_now();
    idd_claims_t c = sample_claims(now);
    idd_buf_t out;
    idd_buf_init(&out);

    ck_assert_int_eq(idd_signer_mint(s, &c, &out), 0);
    ck_assert_uint_eq(strlen(out.data), out.len);
    parts_t p;
    split(out.data, &p);

    /* Header: exactly alg, typ, kid. */
    ck_assert_uint_eq(json_object_size(p.header), 3);
    ck_assert_str_eq(str_claim(p.header, "alg"), idd_alg_name(alg));
    ck_assert_str_eq(str_claim(p.header, "typ"), "JWT");
    ck_assert_str_eq(str_claim(p.header, "kid"), alg == IDD_ALG_HS256 ? "hs-1" : "key-1");

    /* Claims: DocSpace's names, values and JSON types, nothing else. */
    json_t *pl = p.payload;
    ck_assert_uint_eq(json_object_size(pl), 14);
    ck_assert_str_eq(str_claim(pl, "sub"), c.user_id);
    ck_assert_str_eq(str_claim(pl, "user_id"), c.user_id);
    ck_assert_str_eq(str_claim(pl, "user_name"), "Ada Lovelace");
    ck_assert_str_eq(str_claim(pl, "user_email"), "ada@example.com");
    ck_assert_str_eq(str_claim(pl, "tenant_id"), "42");
    ck_assert_str_eq(str_claim(pl, "tenant_url"), "https://docspace.example.com");
    ck_assert_str_eq(str_claim(pl, "is_admin"), "true");
    ck_assert_str_eq(str_claim(pl, "is_guest"), "false");
    ck_assert_str_eq(str_claim(pl, "is_public"), "true");
    ck_assert_str_eq(str_claim(pl, "iss"), "https://docspace.example.com");
    ck_assert_str_eq(str_claim(pl, "aud"), "https://docspace.example.com");
    ck_assert_int_eq(int_claim(pl, "exp"), now + 300);
    ck_assert_int_eq(int_claim(pl, "iat"), now);
    const char *jti = str_claim(pl, "jti");
    unsigned char jti_raw[32];
    size_t jti_len = 0;
    ck_assert_uint_eq(strlen(jti), 22);
    ck_assert_int_eq(idd_b64url_decode(jti_raw, &jti_len, jti, strlen(jti)), 0);
    ck_assert_uint_eq(jti_len, 16);

    /* Signature sizes: HMAC-SHA256 32, raw R‖S 64 (not DER), RSA-3072 384, Ed25519 64. */
    size_t want_sig = alg == IDD_ALG_HS256 ? 32 : alg == IDD_ALG_RS256 ? 384 : 64;
    ck_assert_uint_eq(p.sig_len, want_sig);

    verify_independently(alg, out.data, pl);

    /* A second token from the same signer: the reused contexts must still be sound, and
     * the jti fresh. */
    idd_buf_t second;
    idd_buf_init(&second);
    c.is_admin = false;
    ck_assert_int_eq(idd_signer_mint(s, &c, &second), 0);
    parts_t p2;
    split(second.data, &p2);
    ck_assert_str_eq(str_claim(p2.payload, "is_admin"), "false");
    ck_assert_str_ne(str_claim(p2.payload, "jti"), jti);
    verify_independently(alg, second.data, p2.payload);

    /* A signature is bound to its payload: the first token's signature on the second
     * token's header and payload is refused. */
    if (alg != IDD_ALG_EDDSA) {
        char *forged = NULL;
        ck_assert_int_ne(asprintf(&forged, "%s.%s.%s", p2.header_b64, p2.payload_b64, p.sig_b64),
                         -1);
        ck_assert_int_ne(libjwt_verify(alg, forged, NULL), 0);
        free(forged);
    } else {
        char *forged = NULL;
        ck_assert_int_ne(asprintf(&forged, "%s.%s.%s", p2.header_b64, p2.payload_b64, p.sig_b64),
                         -1);
        ck_assert(!openssl_verify_eddsa(forged));
        free(forged);
    }

    parts_free(&p2);
    parts_free(&p);
    idd_buf_dispose(&second);
    idd_buf_dispose(&out);
    idd_signer_free(s);
    idd_keyring_free(kr);
}
END_TEST

/* The token is appended: what the buffer held before stays. */
START_TEST(test_mint_appends)
{
    idd_keyring_t *kr = keyring_for(IDD_ALG_HS256);
    idd_signer_t *s = idd_signer_new(kr);
    idd_claims_t c = sample_claims(idd_now());
    idd_buf_t out;
    idd_buf_init(&out);
    idd_buf_puts(&out, "{\"response\":\"");

    ck_assert_int_eq(idd_signer_mint(s, &c, &out), 0);
    ck_assert_int_eq(strncmp(out.data, "{\"response\":\"", 13), 0);
    ck_assert_int_eq(libjwt_verify(IDD_ALG_HS256, out.data + 13, NULL), 0);

    idd_buf_dispose(&out);
    idd_signer_free(s);
    idd_keyring_free(kr);
}
END_TEST

/* Verifies an ES256 token's raw R‖S with OpenSSL (R‖S rebuilt into DER), independently of
 * the signer's conversion; faster than libjwt, so every one of many tokens can be checked. */
static int openssl_verify_es256_raw(EVP_PKEY *pkey, const char *token)
{
    const char *d2 = strrchr(token, '.');
    unsigned char raw[96];
    size_t raw_len = 0;
    ck_assert_int_eq(idd_b64url_decode(raw, &raw_len, d2 + 1, strlen(d2 + 1)), 0);
    ck_assert_uint_eq(raw_len, 64);
    ECDSA_SIG *sig = ECDSA_SIG_new();
    ck_assert_int_eq(ECDSA_SIG_set0(sig, BN_bin2bn(raw, 32, NULL), BN_bin2bn(raw + 32, 32, NULL)),
                     1);
    unsigned char *der = NULL;
    int der_len = i2d_ECDSA_SIG(sig, &der);
    ck_assert_int_gt(der_len, 0);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    ck_assert_int_eq(EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pkey), 1);
    int ok = EVP_DigestVerify(ctx, der, (size_t)der_len, (const unsigned char *)token,
                              (size_t)(d2 - token));
    EVP_MD_CTX_free(ctx);
    OPENSSL_free(der);
    ECDSA_SIG_free(sig);
    return ok == 1;
}

/* ES256 signatures are raw R‖S of exactly 64 bytes, each half left-padded, even when R or S
 * has leading zero bytes (about 1 in 128 signatures): there DER is shorter, and a converter
 * that does not pad shifts the bytes. Many mints make such a signature near certain. */
START_TEST(test_es256_always_64_bytes)
{
    idd_keyring_t *kr = keyring_for(IDD_ALG_ES256);
    idd_signer_t *s = idd_signer_new(kr);
    idd_claims_t c = sample_claims(idd_now());
    FILE *f = fopen(pem_path[IDD_ALG_ES256], "r");
    ck_assert_ptr_nonnull(f);
    EVP_PKEY *pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    ck_assert_ptr_nonnull(pkey);
    idd_buf_t out;
    idd_buf_init(&out);
    int leading_zero = 0;

    for (int i = 0; i < 2000; i++) {
        idd_buf_reset(&out);
        ck_assert_int_eq(idd_signer_mint(s, &c, &out), 0);
        const char *sig_b64 = strrchr(out.data, '.') + 1;
        unsigned char sig[96];
        size_t n = 0;
        ck_assert_uint_eq(strlen(sig_b64), 86);
        ck_assert_int_eq(idd_b64url_decode(sig, &n, sig_b64, strlen(sig_b64)), 0);
        ck_assert_uint_eq(n, 64);
        ck_assert_msg(openssl_verify_es256_raw(pkey, out.data), "mint %d does not verify", i);
        if (sig[0] == 0 || sig[32] == 0) {
            leading_zero++;
            ck_assert_int_eq(libjwt_verify(IDD_ALG_ES256, out.data, NULL), 0);
        }
    }
    ck_assert_msg(leading_zero > 0, "no signature with a leading zero byte in 2000 mints");
    EVP_PKEY_free(pkey);
    idd_buf_dispose(&out);
    idd_signer_free(s);
    idd_keyring_free(kr);
}
END_TEST

/* A name with quotes, backslashes and control characters must stay inside its string: if
 * the writer did not escape, a user named `x","is_admin":"true` would grant himself admin. */
START_TEST(test_claims_escaping)
{
    idd_claims_t c = sample_claims(1700000000);
    c.first_name = "Eve\",\"is_admin\":\"true";
    c.last_name = "Back\\slash\x01\x1f\n\t\r\b\f\x7f";
    c.email = "quote\"@example.com";
    c.is_admin = false;
    idd_buf_t out;
    idd_buf_init(&out);

    idd_claims_write(&c, "jti-1", &out);
    ck_assert_ptr_nonnull(strstr(out.data, "\\u0001"));
    ck_assert_ptr_nonnull(strstr(out.data, "\\u001f"));
    ck_assert_ptr_nonnull(strstr(out.data, "\\\\slash"));
    for (size_t i = 0; i < out.len; i++)
        ck_assert_msg((unsigned char)out.data[i] >= 0x20, "raw control byte at %zu", i);

    json_error_t jerr;
    json_t *j = json_loadb(out.data, out.len, JSON_REJECT_DUPLICATES, &jerr);
    ck_assert_msg(j != NULL, "claims are not JSON: %s", jerr.text);
    ck_assert_str_eq(str_claim(j, "user_name"),
                     "Eve\",\"is_admin\":\"true Back\\slash\x01\x1f\n\t\r\b\f\x7f");
    ck_assert_str_eq(str_claim(j, "is_admin"), "false");
    ck_assert_str_eq(str_claim(j, "user_email"), "quote\"@example.com");
    ck_assert_str_eq(str_claim(j, "jti"), "jti-1");
    ck_assert_uint_eq(json_object_size(j), 14);
    json_decref(j);
    idd_buf_dispose(&out);
}
END_TEST

/* Non-ASCII names are UTF-8 and pass through byte for byte, also inside a signed token. */
START_TEST(test_claims_utf8_round_trip)
{
    idd_keyring_t *kr = keyring_for(IDD_ALG_ES256);
    idd_signer_t *s = idd_signer_new(kr);
    idd_claims_t c = sample_claims(idd_now());
    c.first_name = "Zoë";
    c.last_name = "Ünal-Ωμέγα 日本 😀";
    idd_buf_t out;
    idd_buf_init(&out);

    ck_assert_int_eq(idd_signer_mint(s, &c, &out), 0);
    parts_t p;
    split(out.data, &p);
    ck_assert_str_eq(str_claim(p.payload, "user_name"), "Zoë Ünal-Ωμέγα 日本 😀");
    verify_independently(IDD_ALG_ES256, out.data, p.payload);

    parts_free(&p);
    idd_buf_dispose(&out);
    idd_signer_free(s);
    idd_keyring_free(kr);
}
END_TEST

static const struct {
    const char *first, *last, *want;
} names[] = {
    {"Ada", "Lovelace", "Ada Lovelace"},
    {"Ada", "", "Ada"},
    {"", "Lovelace", "Lovelace"},
    {"Ada", NULL, "Ada"},
    {NULL, "Lovelace", "Lovelace"},
    {"", "", ""},
    {NULL, NULL, ""},
};

/* "First Last", with no stray space when one part is missing. */
START_TEST(test_user_name_spacing)
{
    idd_claims_t c = sample_claims(1700000000);
    c.first_name = names[_i].first;
    c.last_name = names[_i].last;
    idd_buf_t out;
    idd_buf_init(&out);
    idd_claims_write(&c, "j", &out);
    json_t *j = json_loads(out.data, 0, NULL);
    ck_assert_ptr_nonnull(j);
    ck_assert_str_eq(str_claim(j, "user_name"), names[_i].want);
    json_decref(j);
    idd_buf_dispose(&out);
}
END_TEST

/* A name longer than the writer's stack buffer takes the heap path and is not cut. */
START_TEST(test_long_name)
{
    char first[700], last[500];
    memset(first, 'a', sizeof(first) - 1);
    first[sizeof(first) - 1] = '\0';
    memset(last, 'b', sizeof(last) - 1);
    last[sizeof(last) - 1] = '\0';
    idd_claims_t c = sample_claims(1700000000);
    c.first_name = first;
    c.last_name = last;
    idd_buf_t out;
    idd_buf_init(&out);
    idd_claims_write(&c, "j", &out);
    json_t *j = json_loads(out.data, 0, NULL);
    ck_assert_ptr_nonnull(j);
    const char *name = str_claim(j, "user_name");
    ck_assert_uint_eq(strlen(name), 699 + 1 + 499);
    ck_assert_int_eq(name[699], ' ');
    ck_assert_int_eq(name[700], 'b');
    json_decref(j);
    idd_buf_dispose(&out);
}
END_TEST

/* DocSpace's claim order, and exp/iat as numbers, tenant_id as a string, in the raw text
 * (jansson would hide the order). */
START_TEST(test_claims_order_and_text)
{
    idd_claims_t c = sample_claims(1700000000);
    c.tenant_id = 7;
    idd_buf_t out;
    idd_buf_init(&out);
    idd_claims_write(&c, "JTI", &out);

    static const char *const order[] = {
        "\"sub\":",        "\"user_id\":",  "\"user_name\":", "\"user_email\":", "\"tenant_id\":",
        "\"tenant_url\":", "\"is_admin\":", "\"is_guest\":",  "\"is_public\":",  "\"iss\":",
        "\"aud\":",        "\"exp\":",      "\"iat\":",       "\"jti\":"};
    const char *prev = out.data;
    for (size_t i = 0; i < IDD_ARRAY_LEN(order); i++) {
        const char *at = strstr(out.data, order[i]);
        ck_assert_msg(at != NULL && at >= prev, "%s out of order", order[i]);
        prev = at;
    }
    ck_assert_ptr_nonnull(strstr(out.data, "\"tenant_id\":\"7\""));
    ck_assert_ptr_nonnull(strstr(out.data, "\"exp\":1700000300,"));
    ck_assert_ptr_nonnull(strstr(out.data, "\"iat\":1700000000,"));
    ck_assert_ptr_nonnull(strstr(out.data, "\"aud\":\"https://docspace.example.com\""));
    ck_assert_int_eq(out.data[0], '{');
    ck_assert_int_eq(out.data[out.len - 1], '}');
    idd_buf_dispose(&out);
}
END_TEST

static Suite *signer_suite(void)
{
    Suite *s = suite_create("signer");
    TCase *tc = tcase_create("mint");
    /* RSA-3072 generation takes a while: once for the case, not per test. */
    tcase_add_unchecked_fixture(tc, generate_keys, remove_keys);
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_mint_round_trip, 0, (int)IDD_ARRAY_LEN(all_algs));
    tcase_add_test(tc, test_mint_appends);
    tcase_add_test(tc, test_es256_always_64_bytes);
    tcase_add_test(tc, test_claims_utf8_round_trip);
    suite_add_tcase(s, tc);

    tc = tcase_create("claims");
    tcase_add_test(tc, test_claims_escaping);
    tcase_add_loop_test(tc, test_user_name_spacing, 0, (int)IDD_ARRAY_LEN(names));
    tcase_add_test(tc, test_long_name);
    tcase_add_test(tc, test_claims_order_and_text);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(signer_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
