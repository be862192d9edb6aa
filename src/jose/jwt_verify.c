/*
 * Verifying a compact JWS from an external authority (RFC 7515, 7519) the way RFC 8725
 * asks. The token is hostile input until its signature checks out, so the order matters:
 * shape and size first, then the header is judged on its own (no "none", no HMAC, no key
 * or key URL from the token, no critical extension we would silently ignore), then the key
 * is chosen by kid from the JWKS and must itself allow the header's algorithm, then the
 * signature, and only then are the claims read. Everything here is pure: the caller
 * supplies the time, the keys and the policy.
 */
#include "identityd/jose/jwks.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "identityd/core/b64.h"
#include "identityd/core/common.h"

#define ES256_COORD 32
#define ED25519_SIG 64
#define PS256_SALT 32
/* RFC 7515 does not bound kid; our JWKS keeps 127 bytes, so a longer kid matches nothing. */
#define KID_MAX 127

/* A compact JWS cut into its three segments; pointers into the caller's token. */
typedef struct {
    const char *header;
    size_t header_len;
    const char *payload;
    size_t payload_len;
    const char *sig;
    size_t sig_len;
} segments_t;

const char *idd_jwt_status_name(idd_jwt_status_t st)
{
    switch (st) {
    case IDD_JWT_OK:
        return "ok";
    case IDD_JWT_MALFORMED:
        return "malformed";
    case IDD_JWT_ALG:
        return "alg";
    case IDD_JWT_HEADER:
        return "header";
    case IDD_JWT_KID_UNKNOWN:
        return "kid_unknown";
    case IDD_JWT_SIGNATURE:
        return "signature";
    case IDD_JWT_EXPIRED:
        return "expired";
    case IDD_JWT_NOT_YET:
        return "not_yet";
    case IDD_JWT_ISSUER:
        return "issuer";
    case IDD_JWT_AUDIENCE:
        return "audience";
    }
    return "unknown";
}

/* Splits token into exactly three segments (two dots). A JWE has five, and must not be
 * mistaken for a JWS whose "signature" happens to contain dots. */
static int split(const char *token, size_t len, segments_t *seg)
{
    const char *dot1 = memchr(token, '.', len);
    const char *end = token + len;
    const char *dot2;

    if (dot1 == NULL)
        return IDD_EINVAL;
    dot2 = memchr(dot1 + 1, '.', (size_t)(end - dot1 - 1));
    if (dot2 == NULL || memchr(dot2 + 1, '.', (size_t)(end - dot2 - 1)) != NULL)
        return IDD_EINVAL;
    seg->header = token;
    seg->header_len = (size_t)(dot1 - token);
    seg->payload = dot1 + 1;
    seg->payload_len = (size_t)(dot2 - dot1 - 1);
    seg->sig = dot2 + 1;
    seg->sig_len = (size_t)(end - dot2 - 1);
    return 0;
}

/* Decodes a strict base64url segment and parses it as a JSON object without duplicate
 * names (two "alg" or two "aud" would let two parsers disagree about one token). */
static json_t *decode_object(const char *seg, size_t len)
{
    json_t *obj = NULL;
    size_t n = 0;
    char *bytes = idd_xmalloc(IDD_B64_DECODED_MAX(len) + 1);

    if (idd_b64url_decode(bytes, &n, seg, len) != 0)
        goto done;
    obj = json_loadb(bytes, n, JSON_REJECT_DUPLICATES, NULL);
    if (obj != NULL && !json_is_object(obj)) {
        json_decref(obj);
        obj = NULL;
    }
done:
    free(bytes);
    return obj;
}

/* The shared first step of decode and verify. On IDD_JWT_OK *header and *claims are owned
 * by the caller and sig (IDD_B64_DECODED_MAX(IDD_JWT_MAX) bytes) holds the raw signature. */
static idd_jwt_status_t decode_all(const char *token, size_t len, segments_t *seg, json_t **header,
                                   json_t **claims, unsigned char *sig, size_t *sig_len)
{
    idd_jwt_status_t st = IDD_JWT_MALFORMED;
    json_t *h = NULL;
    json_t *c = NULL;

    *header = NULL;
    *claims = NULL;
    *sig_len = 0;
    if (token == NULL || len > IDD_JWT_MAX || split(token, len, seg) != 0)
        goto done;
    /* The signature segment is held to the same strict alphabet as the others. */
    if (idd_b64url_decode(sig, sig_len, seg->sig, seg->sig_len) != 0)
        goto done;
    h = decode_object(seg->header, seg->header_len);
    if (h == NULL)
        goto done;
    c = decode_object(seg->payload, seg->payload_len);
    if (c == NULL)
        goto done;
    *header = h;
    *claims = c;
    h = NULL;
    c = NULL;
    st = IDD_JWT_OK;
done:
    json_decref(h);
    json_decref(c);
    return st;
}

idd_jwt_status_t idd_jwt_decode(const char *token, size_t len, json_t **header, json_t **claims)
{
    segments_t seg;
    json_t *h = NULL;
    json_t *c = NULL;
    unsigned char *sig = idd_xmalloc(IDD_B64_DECODED_MAX(IDD_JWT_MAX));
    size_t sig_len = 0;
    idd_jwt_status_t st = decode_all(token, len, &seg, &h, &c, sig, &sig_len);

    if (header != NULL)
        *header = h;
    else
        json_decref(h);
    if (claims != NULL)
        *claims = c;
    else
        json_decref(c);
    free(sig);
    return st;
}

/* "JWT" or "at+jwt" (RFC 9068), with or without "application/", in any case (RFC 7515
 * §4.1.9 makes media types case-insensitive). Other types (logout+jwt, dpop+jwt, ...) are
 * different tokens that a bearer check must not accept in their place. */
static int typ_acceptable(const char *typ)
{
    if (strncasecmp(typ, "application/", 12) == 0)
        typ += 12;
    return strcasecmp(typ, "JWT") == 0 || strcasecmp(typ, "at+jwt") == 0;
}

/* Judges the header alone: everything that must be refused whatever key it names. */
static idd_jwt_status_t check_header(const json_t *header, unsigned policy_algs, unsigned *alg)
{
    static const char *const key_sources[] = {"jku", "x5u", "jwk", "x5c"};
    const json_t *alg_v = json_object_get(header, "alg");
    const json_t *typ = json_object_get(header, "typ");
    const json_t *kid = json_object_get(header, "kid");

    /* idd_jwa_parse knows no "none" and no HS*: an HMAC "verified" with a public key as its
     * secret is a forgery anybody who can read the JWKS can make. */
    *alg = json_is_string(alg_v) ? idd_jwa_parse(json_string_value(alg_v)) : 0;
    if (*alg == 0 || (*alg & policy_algs) == 0)
        return IDD_JWT_ALG;
    /* A key, or a place to fetch one, chosen by the token's author proves nothing. */
    for (size_t i = 0; i < IDD_ARRAY_LEN(key_sources); i++) {
        if (json_object_get(header, key_sources[i]) != NULL)
            return IDD_JWT_HEADER;
    }
    /* We implement no extension, so any "crit" names one we would ignore; and an empty
     * "crit" is itself invalid (RFC 7515 §4.1.11). */
    if (json_object_get(header, "crit") != NULL)
        return IDD_JWT_HEADER;
    if (typ != NULL && (!json_is_string(typ) || !typ_acceptable(json_string_value(typ))))
        return IDD_JWT_HEADER;
    if (kid != NULL && !json_is_string(kid))
        return IDD_JWT_HEADER;
    return IDD_JWT_OK;
}

/* Chooses the key: by kid when the header names one, otherwise the only key in the set that
 * may verify alg. Keys sharing a kid are tried for the first that allows alg, so a JWKS that
 * lists one kid per algorithm still works. */
static idd_jwt_status_t select_key(const idd_jwks_t *keys, const json_t *header, unsigned alg,
                                   const idd_jwk_t **out)
{
    const json_t *kid = json_object_get(header, "kid");
    const idd_jwk_t *found = NULL;
    size_t usable = 0;
    int kid_seen = 0;

    *out = NULL;
    if (keys == NULL)
        return IDD_JWT_KID_UNKNOWN;
    if (kid != NULL) {
        /* Only ever compared with the JWKS's kids: never a path, URL or query. */
        const char *name = json_string_value(kid);
        if (json_string_length(kid) > KID_MAX)
            return IDD_JWT_KID_UNKNOWN;
        for (size_t i = 0; i < keys->n; i++) {
            if (strcmp(keys->keys[i].kid, name) != 0)
                continue;
            kid_seen = 1;
            if (keys->keys[i].algs & alg) {
                *out = &keys->keys[i];
                return IDD_JWT_OK;
            }
        }
        return kid_seen ? IDD_JWT_ALG : IDD_JWT_KID_UNKNOWN;
    }
    /* Without a kid, guessing among several candidates would let a token pick its key. */
    for (size_t i = 0; i < keys->n; i++) {
        if (keys->keys[i].algs & alg) {
            found = &keys->keys[i];
            usable++;
        }
    }
    if (usable != 1)
        return IDD_JWT_KID_UNKNOWN;
    *out = found;
    return IDD_JWT_OK;
}

/* RFC 7518 §3.4: ES256 is R‖S, 32 bytes each; OpenSSL verifies DER. Returns a malloc'd DER
 * signature, or NULL when the raw form is not exactly 64 bytes. */
static unsigned char *es256_raw_to_der(const unsigned char *raw, size_t raw_len, size_t *der_len)
{
    unsigned char *der = NULL;
    ECDSA_SIG *sig = NULL;
    BIGNUM *r = NULL;
    BIGNUM *s = NULL;
    unsigned char *p;
    int n;

    *der_len = 0;
    if (raw_len != 2 * ES256_COORD)
        goto done;
    r = BN_bin2bn(raw, ES256_COORD, NULL);
    s = BN_bin2bn(raw + ES256_COORD, ES256_COORD, NULL);
    sig = ECDSA_SIG_new();
    if (r == NULL || s == NULL || sig == NULL || !ECDSA_SIG_set0(sig, r, s))
        goto done;
    r = NULL; /* owned by sig now */
    s = NULL;
    n = i2d_ECDSA_SIG(sig, NULL);
    if (n <= 0)
        goto done;
    der = idd_xmalloc((size_t)n);
    p = der;
    if (i2d_ECDSA_SIG(sig, &p) != n) {
        free(der);
        der = NULL;
        goto done;
    }
    *der_len = (size_t)n;
done:
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    return der;
}

/* Returns 1 when the key's type is the one alg needs. The JWKS parser already ensures it;
 * this keeps a hand-built idd_jwks_t from pairing, say, ES256 with an RSA key. */
static int key_fits(EVP_PKEY *pkey, unsigned alg)
{
    switch (alg) {
    case IDD_JWA_RS256:
    case IDD_JWA_PS256:
        return EVP_PKEY_is_a(pkey, "RSA");
    case IDD_JWA_ES256:
        return EVP_PKEY_is_a(pkey, "EC");
    case IDD_JWA_EDDSA:
        return EVP_PKEY_is_a(pkey, "ED25519");
    }
    return 0;
}

/* Verifies sig over input with pkey under alg. Returns IDD_JWT_OK or IDD_JWT_SIGNATURE. */
static idd_jwt_status_t check_signature(EVP_PKEY *pkey, unsigned alg, const char *input,
                                        size_t input_len, const unsigned char *sig, size_t sig_len)
{
    idd_jwt_status_t st = IDD_JWT_SIGNATURE;
    EVP_MD_CTX *md = NULL;
    EVP_PKEY_CTX *pctx = NULL;
    unsigned char *der = NULL;
    size_t der_len = 0;
    const unsigned char *tbs = (const unsigned char *)input;

    if (sig_len == 0)
        goto done;
    md = EVP_MD_CTX_new();
    if (md == NULL)
        goto done;
    switch (alg) {
    case IDD_JWA_RS256:
    case IDD_JWA_PS256:
        /* An RSA signature is exactly the modulus' size; do not let OpenSSL pad it. */
        if (sig_len != (size_t)EVP_PKEY_get_size(pkey) ||
            EVP_DigestVerifyInit(md, &pctx, EVP_sha256(), NULL, pkey) != 1)
            goto done;
        if (alg == IDD_JWA_RS256) {
            if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1)
                goto done;
        } else if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
                   EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) != 1 ||
                   EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, PS256_SALT) != 1) {
            goto done;
        }
        if (EVP_DigestVerify(md, sig, sig_len, tbs, input_len) != 1)
            goto done;
        break;
    case IDD_JWA_ES256:
        /* A DER signature (what OpenSSL emits) is not a JWS signature: refuse it here
         * rather than accept two encodings of one signature. */
        der = es256_raw_to_der(sig, sig_len, &der_len);
        if (der == NULL || EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pkey) != 1 ||
            EVP_DigestVerify(md, der, der_len, tbs, input_len) != 1)
            goto done;
        break;
    case IDD_JWA_EDDSA:
        /* Ed25519 hashes internally: no digest, one shot. */
        if (sig_len != ED25519_SIG || EVP_DigestVerifyInit(md, NULL, NULL, NULL, pkey) != 1 ||
            EVP_DigestVerify(md, sig, sig_len, tbs, input_len) != 1)
            goto done;
        break;
    default:
        goto done;
    }
    st = IDD_JWT_OK;
done:
    free(der);
    EVP_MD_CTX_free(md); /* frees pctx with it */
    ERR_clear_error();
    return st;
}

/* Compares a NumericDate (RFC 7519 §2) with limit: *after is 1 when v > limit. Integers are
 * compared exactly, reals (legal, rare) as doubles, and nothing is added to v, so a huge exp
 * cannot overflow into the past. Returns 0 when v is not a number at all. */
static int date_after(const json_t *v, int64_t limit, int *after)
{
    if (json_is_integer(v)) {
        *after = json_integer_value(v) > limit;
        return 1;
    }
    if (json_is_real(v)) {
        *after = json_real_value(v) > (double)limit;
        return 1;
    }
    return 0;
}

/* Checks exp, nbf and iat against now with skew. */
static idd_jwt_status_t check_times(const json_t *claims, int64_t now, int skew)
{
    const json_t *exp = json_object_get(claims, "exp");
    const json_t *nbf = json_object_get(claims, "nbf");
    const json_t *iat = json_object_get(claims, "iat");
    int after = 0;

    /* exp + skew > now, i.e. exp > now - skew. A bearer token without exp never dies. */
    if (exp == NULL || !date_after(exp, now - skew, &after) || !after)
        return IDD_JWT_EXPIRED;
    /* nbf <= now + skew: a token announced for later is not valid yet. */
    if (nbf != NULL && (!date_after(nbf, now + skew, &after) || after))
        return IDD_JWT_NOT_YET;
    /* A token issued in the future comes from a broken or hostile clock. */
    if (iat != NULL && (!date_after(iat, now + skew, &after) || after))
        return IDD_JWT_NOT_YET;
    return IDD_JWT_OK;
}

/* Exact comparison: a prefix or case variant of our audience is somebody else's. */
static int audience_listed(const idd_jwt_policy_t *policy, const char *aud)
{
    for (size_t i = 0; i < policy->n_audiences; i++) {
        if (policy->audiences[i] != NULL && strcmp(policy->audiences[i], aud) == 0)
            return 1;
    }
    return 0;
}

static idd_jwt_status_t check_audience(const json_t *claims, const idd_jwt_policy_t *policy)
{
    const json_t *aud = json_object_get(claims, "aud");
    const json_t *item;
    size_t i;
    int hit = 0;

    if (json_is_string(aud))
        return audience_listed(policy, json_string_value(aud)) ? IDD_JWT_OK : IDD_JWT_AUDIENCE;
    if (!json_is_array(aud))
        return IDD_JWT_AUDIENCE;
    /* An array holding a non-string is malformed as a whole, not partly trusted. */
    json_array_foreach(aud, i, item)
    {
        if (!json_is_string(item))
            return IDD_JWT_AUDIENCE;
        if (audience_listed(policy, json_string_value(item)))
            hit = 1;
    }
    return hit ? IDD_JWT_OK : IDD_JWT_AUDIENCE;
}

idd_jwt_status_t idd_jwt_verify(const char *token, size_t len, const idd_jwks_t *keys,
                                const idd_jwt_policy_t *policy, json_t **claims)
{
    idd_jwt_status_t st;
    segments_t seg;
    json_t *header = NULL;
    json_t *payload = NULL;
    unsigned char *sig = idd_xmalloc(IDD_B64_DECODED_MAX(IDD_JWT_MAX));
    size_t sig_len = 0;
    unsigned alg = 0;
    const idd_jwk_t *key = NULL;
    const json_t *iss;
    int skew;

    if (claims != NULL)
        *claims = NULL;
    st = decode_all(token, len, &seg, &header, &payload, sig, &sig_len);
    if (st != IDD_JWT_OK)
        goto done;
    /* No policy allows no algorithm. */
    st = check_header(header, policy != NULL ? policy->algs : 0, &alg);
    if (st != IDD_JWT_OK)
        goto done;
    st = select_key(keys, header, alg, &key);
    if (st != IDD_JWT_OK)
        goto done;
    st = IDD_JWT_ALG;
    if (key->pkey == NULL || !key_fits(key->pkey, alg))
        goto done;
    /* The signing input is the first two segments exactly as sent, dot included. */
    st = check_signature(key->pkey, alg, token, seg.header_len + 1 + seg.payload_len, sig, sig_len);
    if (st != IDD_JWT_OK)
        goto done;

    skew = policy->skew > 0 ? policy->skew : 0;
    st = check_times(payload, policy->now, skew);
    if (st != IDD_JWT_OK)
        goto done;
    st = IDD_JWT_ISSUER;
    iss = json_object_get(payload, "iss");
    if (policy->issuer == NULL || !json_is_string(iss) ||
        strcmp(json_string_value(iss), policy->issuer) != 0)
        goto done;
    st = check_audience(payload, policy);
    if (st != IDD_JWT_OK)
        goto done;
    if (claims != NULL) {
        *claims = payload;
        payload = NULL;
    }
    st = IDD_JWT_OK;
done:
    free(sig);
    json_decref(header);
    json_decref(payload);
    return st;
}
