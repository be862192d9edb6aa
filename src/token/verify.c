/*
 * identityctl's token verifier, deliberately independent of the signer: HS256, RS256 and
 * ES256 tokens are checked by libjwt (its own base64url, JSON and signature code), EdDSA,
 * which libjwt 1.10 lacks, by OpenSSL directly. libjwt trusts the alg named in the token's
 * header, which is how HS256-with-the-public-key forgeries work, so the header is read here
 * first and its alg must equal the alg of the key its kid names before libjwt sees a key.
 * Not on the request path: the PEM export and re-parse per call are acceptable here.
 */
#include "identityd/jose/jwks.h"
#include "identityd/token/verify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "identityd/core/b64.h"
#include "identityd/core/common.h"

/* Tokens identityd mints are well under 2 KiB; this bounds what a pasted token may cost. */
#define TOKEN_MAX IDD_JWT_MAX /* the strict decoder looks at no more */
#define ED25519_SIG_LEN 64

static jwt_alg_t libjwt_alg(idd_alg_t alg)
{
    switch (alg) {
    case IDD_ALG_HS256:
        return JWT_ALG_HS256;
    case IDD_ALG_RS256:
        return JWT_ALG_RS256;
    case IDD_ALG_ES256:
        return JWT_ALG_ES256;
    default:
        break;
    }
    return JWT_ALG_INVAL;
}

/* Verifies with libjwt. For RS256/ES256 libjwt wants the public key as PEM; for HS256 the
 * derived secret itself. On success *claims_json is libjwt's rendering of the claims. */
static int verify_libjwt(const idd_key_t *key, const char *token, char **claims_json)
{
    int rc = IDD_EDENIED;
    jwt_t *jwt = NULL;
    BIO *pem = NULL;
    const unsigned char *key_bytes = NULL;
    long key_len = 0;

    *claims_json = NULL;
    if (key->alg == IDD_ALG_HS256) {
        key_bytes = key->secret;
        key_len = (long)key->secret_len;
    } else {
        char *text = NULL;
        pem = BIO_new(BIO_s_mem());
        if (pem == NULL || !PEM_write_bio_PUBKEY(pem, key->pkey)) {
            ERR_clear_error();
            rc = IDD_ECRYPTO;
            goto done;
        }
        key_len = BIO_get_mem_data(pem, &text);
        key_bytes = (const unsigned char *)text;
    }
    if (key_bytes == NULL || key_len <= 0)
        goto done;
    if (jwt_decode(&jwt, token, key_bytes, (int)key_len) != 0 || jwt == NULL)
        goto done;
    /* The header was checked already; this guards against libjwt reading it differently. */
    if (jwt_get_alg(jwt) != libjwt_alg(key->alg))
        goto done;
    *claims_json = jwt_get_grants_json(jwt, NULL);
    rc = 0;
done:
    jwt_free(jwt);
    BIO_free(pem);
    ERR_clear_error();
    return rc;
}

/* Verifies an Ed25519 signature over header.payload with OpenSSL. */
static int verify_eddsa(const idd_key_t *key, const char *signing_input, size_t signing_len,
                        const char *sig_b64, size_t sig_b64_len)
{
    int rc = IDD_EDENIED;
    EVP_MD_CTX *ctx = NULL;
    unsigned char sig[IDD_B64_DECODED_MAX(IDD_B64URL_LEN(ED25519_SIG_LEN))];
    size_t sig_len = 0;

    if (sig_b64_len != IDD_B64URL_LEN(ED25519_SIG_LEN) ||
        idd_b64url_decode(sig, &sig_len, sig_b64, sig_b64_len) != 0 || sig_len != ED25519_SIG_LEN)
        goto done;
    ctx = EVP_MD_CTX_new();
    if (ctx == NULL || EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key->pkey) != 1)
        goto done;
    if (EVP_DigestVerify(ctx, sig, sig_len, (const unsigned char *)signing_input, signing_len) != 1)
        goto done;
    rc = 0;
done:
    EVP_MD_CTX_free(ctx);
    ERR_clear_error();
    return rc;
}

int idd_verify_token(const idd_keyring_t *kr, const char *token, int64_t now, idd_buf_t *claims_out,
                     char *err, size_t errlen)
{
    int rc = IDD_EINVAL;
    json_t *header = NULL;
    json_t *payload = NULL;
    char *claims_json = NULL;
    const idd_key_t *key = NULL;
    json_t *alg;
    json_t *kid;
    json_t *exp;
    const char *dot1;
    const char *dot2;
    size_t token_len;

    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (kr == NULL || token == NULL) {
        idd_errorf(err, errlen, "no token or no keys");
        goto done;
    }
    token_len = strnlen(token, TOKEN_MAX + 1);
    if (token_len > TOKEN_MAX) {
        idd_errorf(err, errlen, "token longer than %d bytes", TOKEN_MAX);
        goto done;
    }
    dot1 = memchr(token, '.', token_len);
    dot2 = dot1 != NULL ? memchr(dot1 + 1, '.', token_len - (size_t)(dot1 + 1 - token)) : NULL;
    if (dot1 == NULL || dot2 == NULL || dot1 == token || dot2 == dot1 + 1 ||
        dot2 + 1 == token + token_len ||
        memchr(dot2 + 1, '.', token_len - (size_t)(dot2 + 1 - token)) != NULL) {
        idd_errorf(err, errlen, "not a compact JWS (header.payload.signature)");
        goto done;
    }
    /* The same strict decoding the external-token verifier uses: base64url without
     * padding, JSON objects without duplicate names. */
    if (idd_jwt_decode(token, token_len, &header, &payload) != IDD_JWT_OK) {
        idd_errorf(err, errlen, "the header or payload is not base64url of a JSON object");
        goto done;
    }
    alg = json_object_get(header, "alg");
    kid = json_object_get(header, "kid");
    if (!json_is_string(alg) || (kid != NULL && !json_is_string(kid))) {
        idd_errorf(err, errlen, "the header needs a string alg (and a string kid, if any)");
        goto done;
    }

    rc = IDD_EDENIED;
    key = kid != NULL ? idd_keyring_find(kr, json_string_value(kid)) : idd_keyring_active(kr);
    if (key == NULL && kid == NULL) {
        idd_errorf(err, errlen, "the token names no kid and no key signs yet");
        goto done;
    }
    if (key == NULL) {
        idd_errorf(err, errlen, "unknown kid '%s'", json_string_value(kid));
        goto done;
    }
    /* The key decides the algorithm, never the token: otherwise an RS256 public key could
     * be used as an HMAC secret by whoever can read the JWKS. */
    if (strcmp(json_string_value(alg), idd_alg_name(key->alg)) != 0) {
        idd_errorf(err, errlen, "alg %s does not match key %s (%s)", json_string_value(alg),
                   key->kid, idd_alg_name(key->alg));
        goto done;
    }
    if (key->alg == IDD_ALG_EDDSA)
        rc = verify_eddsa(key, token, (size_t)(dot2 - token), dot2 + 1,
                          token_len - (size_t)(dot2 + 1 - token));
    else
        rc = verify_libjwt(key, token, &claims_json);
    if (rc != 0) {
        idd_errorf(err, errlen, "the signature does not verify with key %s", key->kid);
        rc = IDD_EDENIED;
        goto done;
    }

    rc = IDD_EDENIED;
    exp = json_object_get(payload, "exp");
    if (!json_is_number(exp)) {
        idd_errorf(err, errlen, "the token has no numeric exp");
        goto done;
    }
    /* Integers are compared exactly; a fractional NumericDate (legal, never minted here)
     * as a double. */
    if (json_is_integer(exp) ? json_integer_value(exp) <= now
                             : json_real_value(exp) <= (double)now) {
        idd_errorf(err, errlen, "the token expired (exp %.0f, now %lld)", json_number_value(exp),
                   (long long)now);
        goto done;
    }

    if (claims_out != NULL) {
        if (claims_json == NULL)
            claims_json = json_dumps(payload, JSON_COMPACT | JSON_SORT_KEYS);
        if (claims_json == NULL) {
            rc = IDD_EINVAL;
            idd_errorf(err, errlen, "cannot render the claims");
            goto done;
        }
        idd_buf_puts(claims_out, claims_json);
    }
    rc = 0;
done:
    free(claims_json);
    json_decref(header);
    json_decref(payload);
    return rc;
}
