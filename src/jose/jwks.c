/*
 * Parsing an external authority's JWKS into ready EVP_PKEYs, once per fetch, so that
 * verifying a token never parses key material. The document is trusted only as far as its
 * transport; each key is still checked as if it were hostile: an RSA modulus too small to
 * resist factoring, an EC point off P-256 (the invalid-curve attack) or a key that carries
 * private members (a sign the publisher leaks secrets) is skipped, never fatal, so one odd
 * key does not take the whole authority down. The algorithms a key may verify are fixed
 * here, from its "alg" or its type, and idd_jwt_verify never lets a token widen them.
 */
#include "identityd/jose/jwks.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "identityd/core/b64.h"
#include "identityd/core/common.h"
#include "identityd/core/log.h"

#define JWKS_MAX (1024 * 1024)
#define RSA_MIN_BITS 2048
/* OpenSSL's own ceiling for RSA moduli; larger keys could not be used anyway. */
#define RSA_MAX_BITS 16384
/* Public exponents are 65537 in practice; a huge one only makes verification slow. */
#define RSA_MAX_E_BYTES 8
#define P256_COORD 32
#define ED25519_PUB 32

/* Members that only a private (or symmetric) JWK has (RFC 7518 §6.2.2, §6.3.2, §6.4). */
static const char *const private_members[] = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"};

/* Copies a kid into out for a log line, replacing anything unprintable: the document comes
 * from the network, and a kid with a newline must not forge a log line. */
static const char *printable_kid(const char *kid, char *out, size_t outlen)
{
    size_t i = 0;
    for (; kid[i] != '\0' && i + 1 < outlen; i++) {
        unsigned char c = (unsigned char)kid[i];
        out[i] = (char)(c >= 0x20 && c < 0x7f ? c : '?');
    }
    out[i] = '\0';
    return out;
}

/* Decodes the base64url string member name of jwk. Returns a malloc'd buffer (caller
 * frees) with *len bytes, or NULL when the member is missing, not a string or not strict
 * base64url. */
static unsigned char *member_bytes(const json_t *jwk, const char *name, size_t *len)
{
    const json_t *v = json_object_get(jwk, name);
    unsigned char *bytes = NULL;
    size_t slen;

    *len = 0;
    if (!json_is_string(v))
        return NULL;
    slen = json_string_length(v);
    bytes = idd_xmalloc(IDD_B64_DECODED_MAX(slen) + 1);
    if (idd_b64url_decode(bytes, len, json_string_value(v), slen) != 0) {
        free(bytes);
        *len = 0;
        return NULL;
    }
    return bytes;
}

/* Builds a public EVP_PKEY of type from params; NULL on any failure. */
static EVP_PKEY *pkey_from_params(const char *type, OSSL_PARAM_BLD *bld)
{
    EVP_PKEY *pkey = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);

    if (params == NULL)
        goto done;
    ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) {
        EVP_PKEY_free(pkey);
        pkey = NULL;
    }
done:
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    return pkey;
}

/* RSA from n and e. Sets *why and returns NULL when the key is unusable. */
static EVP_PKEY *rsa_key(const json_t *jwk, const char **why)
{
    EVP_PKEY *pkey = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    BIGNUM *n = NULL;
    BIGNUM *e = NULL;
    size_t n_len = 0;
    size_t e_len = 0;
    unsigned char *n_bytes = member_bytes(jwk, "n", &n_len);
    unsigned char *e_bytes = member_bytes(jwk, "e", &e_len);

    *why = "n or e is not base64url";
    if (n_bytes == NULL || e_bytes == NULL || n_len == 0 || e_len == 0)
        goto done;
    *why = "e is out of range";
    if (e_len > RSA_MAX_E_BYTES)
        goto done;
    n = BN_bin2bn(n_bytes, (int)n_len, NULL);
    e = BN_bin2bn(e_bytes, (int)e_len, NULL);
    if (n == NULL || e == NULL)
        goto done;
    /* An even or tiny exponent makes RSA either broken or not RSA at all. */
    if (!BN_is_odd(e) || BN_is_one(e))
        goto done;
    *why = "the modulus is under 2048 bits, even, or too large";
    if (BN_num_bits(n) < RSA_MIN_BITS || BN_num_bits(n) > RSA_MAX_BITS || !BN_is_odd(n))
        goto done;
    *why = "OpenSSL refused the key";
    bld = OSSL_PARAM_BLD_new();
    if (bld == NULL || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
        goto done;
    pkey = pkey_from_params("RSA", bld);
done:
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    free(n_bytes);
    free(e_bytes);
    return pkey;
}

/* EC P-256 from x and y, refused unless the point is on the curve: verifying with an
 * off-curve point can leak nothing here (we hold no private key), but such a key is either
 * corrupt or an attack, and accepting it would make "verified" meaningless. */
static EVP_PKEY *ec_key(const json_t *jwk, const char **why)
{
    EVP_PKEY *pkey = NULL;
    EVP_PKEY_CTX *check = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    const json_t *crv = json_object_get(jwk, "crv");
    unsigned char point[1 + 2 * P256_COORD];
    size_t x_len = 0;
    size_t y_len = 0;
    unsigned char *x = NULL;
    unsigned char *y = NULL;

    *why = "crv is not P-256";
    if (!json_is_string(crv) || strcmp(json_string_value(crv), "P-256") != 0)
        goto done;
    x = member_bytes(jwk, "x", &x_len);
    y = member_bytes(jwk, "y", &y_len);
    /* RFC 7518 §6.2.1.2: coordinates are exactly the field size, leading zeros kept. */
    *why = "x or y is not a 32-byte base64url coordinate";
    if (x == NULL || y == NULL || x_len != P256_COORD || y_len != P256_COORD)
        goto done;
    point[0] = 0x04; /* uncompressed, SEC 1 §2.3.3 */
    memcpy(point + 1, x, P256_COORD);
    memcpy(point + 1 + P256_COORD, y, P256_COORD);
    *why = "the point is not on P-256";
    bld = OSSL_PARAM_BLD_new();
    if (bld == NULL ||
        !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
        !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point)))
        goto done;
    pkey = pkey_from_params("EC", bld);
    if (pkey == NULL)
        goto done;
    /* Whether fromdata checks the point depends on the OpenSSL version; ask explicitly. */
    check = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    if (check == NULL || EVP_PKEY_public_check(check) != 1) {
        EVP_PKEY_free(pkey);
        pkey = NULL;
    }
done:
    EVP_PKEY_CTX_free(check);
    OSSL_PARAM_BLD_free(bld);
    free(x);
    free(y);
    return pkey;
}

/* OKP Ed25519 from x (RFC 8037 §2). */
static EVP_PKEY *okp_key(const json_t *jwk, const char **why)
{
    EVP_PKEY *pkey = NULL;
    const json_t *crv = json_object_get(jwk, "crv");
    size_t x_len = 0;
    unsigned char *x = NULL;

    *why = "crv is not Ed25519";
    if (!json_is_string(crv) || strcmp(json_string_value(crv), "Ed25519") != 0)
        goto done;
    *why = "x is not a 32-byte base64url public key";
    x = member_bytes(jwk, "x", &x_len);
    if (x == NULL || x_len != ED25519_PUB)
        goto done;
    pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x, x_len);
done:
    free(x);
    return pkey;
}

/* Each kty we understand: the algorithms such a key may ever verify, and its builder. */
static const struct {
    const char *kty;
    unsigned algs;
    EVP_PKEY *(*build)(const json_t *jwk, const char **why);
} key_types[] = {
    {"RSA", IDD_JWA_RS256 | IDD_JWA_PS256, rsa_key},
    {"EC", IDD_JWA_ES256, ec_key},
    {"OKP", IDD_JWA_EDDSA, okp_key},
};

/* Returns 1 when jwk's "key_ops", if present, allows verification. */
static int key_ops_allow_verify(const json_t *jwk)
{
    const json_t *ops = json_object_get(jwk, "key_ops");
    size_t i;
    const json_t *op;

    if (ops == NULL)
        return 1;
    if (!json_is_array(ops))
        return 0;
    json_array_foreach(ops, i, op)
    {
        if (json_is_string(op) && strcmp(json_string_value(op), "verify") == 0)
            return 1;
    }
    return 0;
}

/* Turns one JWK into out. Returns 0, or IDD_EINVAL with *why set when the key is skipped. */
static int parse_key(const json_t *jwk, idd_jwk_t *out, const char **why)
{
    int rc = IDD_EINVAL;
    const json_t *kty = json_object_get(jwk, "kty");
    const json_t *kid = json_object_get(jwk, "kid");
    const json_t *use = json_object_get(jwk, "use");
    const json_t *alg = json_object_get(jwk, "alg");
    unsigned allowed;
    size_t type = IDD_ARRAY_LEN(key_types);
    EVP_PKEY *pkey = NULL;

    memset(out, 0, sizeof(*out));
    *why = "not an object";
    if (!json_is_object(jwk))
        goto done;
    *why = "kid is not a string of at most 127 bytes";
    if (kid != NULL && (!json_is_string(kid) || json_string_length(kid) >= sizeof(out->kid)))
        goto done;
    *why = "use is not sig";
    if (use != NULL && (!json_is_string(use) || strcmp(json_string_value(use), "sig") != 0))
        goto done;
    *why = "key_ops does not include verify";
    if (!key_ops_allow_verify(jwk))
        goto done;
    *why = "it has private members";
    for (size_t i = 0; i < IDD_ARRAY_LEN(private_members); i++) {
        if (json_object_get(jwk, private_members[i]) != NULL)
            goto done;
    }
    *why = "unknown kty";
    for (size_t i = 0; json_is_string(kty) && i < IDD_ARRAY_LEN(key_types); i++) {
        if (strcmp(json_string_value(kty), key_types[i].kty) == 0)
            type = i;
    }
    if (type == IDD_ARRAY_LEN(key_types))
        goto done;
    allowed = key_types[type].algs;
    /* An "alg" narrows what the key may verify; one that names another key type (or an
     * algorithm we do not implement) means we cannot honour the publisher's intent. */
    if (alg != NULL) {
        *why = "alg is unknown or does not fit the key type";
        unsigned named = json_is_string(alg) ? idd_jwa_parse(json_string_value(alg)) : 0;
        if (named == 0 || (named & allowed) == 0)
            goto done;
        allowed = named;
    }
    pkey = key_types[type].build(jwk, why);
    if (pkey == NULL) {
        ERR_clear_error();
        goto done;
    }
    if (kid != NULL)
        memcpy(out->kid, json_string_value(kid), json_string_length(kid) + 1);
    out->algs = allowed;
    out->pkey = pkey;
    pkey = NULL;
    rc = 0;
done:
    EVP_PKEY_free(pkey);
    return rc;
}

int idd_jwks_parse(const char *json, size_t len, idd_jwks_t *out)
{
    int rc = IDD_EINVAL;
    json_t *doc = NULL;
    const json_t *keys;
    const json_t *jwk;
    size_t i;
    idd_jwks_t set = {NULL, 0};

    if (out != NULL) {
        out->keys = NULL;
        out->n = 0;
    }
    if (json == NULL || out == NULL || len > JWKS_MAX)
        goto done;
    doc = json_loadb(json, len, JSON_REJECT_DUPLICATES, NULL);
    keys = json_object_get(doc, "keys");
    if (!json_is_object(doc) || !json_is_array(keys))
        goto done;
    size_t count = json_array_size(keys);
    if (count > 0)
        set.keys = idd_xcalloc(count, sizeof(*set.keys));
    json_array_foreach(keys, i, jwk)
    {
        const char *why = NULL;
        if (i >= count) /* never: the array is not changed while it is walked */
            break;
        if (parse_key(jwk, &set.keys[set.n], &why) == 0) {
            set.n++;
            continue;
        }
        const json_t *kid = json_object_get(jwk, "kid");
        char shown[64];
        idd_log_debug(
            "jwks: skipping key %zu (kid '%s'): %s", i,
            json_is_string(kid) ? printable_kid(json_string_value(kid), shown, sizeof(shown)) : "",
            why);
    }
    *out = set;
    set.keys = NULL;
    set.n = 0;
    rc = 0;
done:
    idd_jwks_dispose(&set);
    json_decref(doc);
    return rc;
}

void idd_jwks_dispose(idd_jwks_t *set)
{
    if (set == NULL)
        return;
    for (size_t i = 0; i < set->n; i++)
        EVP_PKEY_free(set->keys[i].pkey);
    free(set->keys);
    set->keys = NULL;
    set->n = 0;
}

const idd_jwk_t *idd_jwks_find(const idd_jwks_t *set, const char *kid)
{
    if (set == NULL || kid == NULL)
        return NULL;
    for (size_t i = 0; i < set->n; i++) {
        if (strcmp(set->keys[i].kid, kid) == 0)
            return &set->keys[i];
    }
    return NULL;
}
