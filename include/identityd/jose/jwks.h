/*
 * Verifying JWTs issued by an external OAuth2/OpenID authority, as RFC 8725 asks: keys come
 * only from the authority's JWKS (never from jku, x5u or jwk headers), the algorithm must be
 * on the allow-list and match the key's type and curve (never "none", never an HMAC with a
 * public key), unknown critical headers are refused, and exp, nbf, iat, iss and aud are
 * checked with a bounded clock skew. Pure functions over parsed data: no I/O.
 */
#ifndef IDENTITYD_JWKS_H
#define IDENTITYD_JWKS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>

#include "identityd/core/jwa.h"

#define IDD_JWT_MAX 8192 /* bytes of a compact JWT we are willing to look at */

/* One public key of a JWKS. */
typedef struct idd_jwk {
    char kid[128];
    unsigned
        algs; /* algorithms this key may verify: from its "alg" when present, else by kty/crv */
    EVP_PKEY *pkey; /* owned */
} idd_jwk_t;

typedef struct idd_jwks {
    idd_jwk_t *keys;
    size_t n;
} idd_jwks_t;

/* Parses a JWKS document (at most 1 MiB): keys with "use" other than "sig", unknown kty/crv,
 * private members ("d", "p", ...), RSA under 2048 bits, EC off P-256 or a point not on the
 * curve are skipped (logged at debug), not fatal. Keys without kid are kept with kid "".
 * Returns 0 (possibly with n == 0) or IDD_EINVAL when the document is not a JWKS. */
int idd_jwks_parse(const char *json, size_t len, idd_jwks_t *out);
void idd_jwks_dispose(idd_jwks_t *set);

/* The key with this kid, or NULL. */
const idd_jwk_t *idd_jwks_find(const idd_jwks_t *set, const char *kid);

/* What a verified token must satisfy. */
typedef struct idd_jwt_policy {
    unsigned algs;                /* allow-list (IDD_JWA_* bits of core/jwa.h) */
    const char *issuer;           /* required "iss" value, exactly */
    const char *const *audiences; /* "aud" (string or array) must contain one of these */
    size_t n_audiences;
    int64_t now;
    int skew; /* seconds of tolerance for exp, nbf, iat */
} idd_jwt_policy_t;

/* Why a token was refused (for logs and tests; never sent to the client in detail). */
typedef enum {
    IDD_JWT_OK = 0,
    IDD_JWT_MALFORMED,   /* not three base64url segments of JSON objects, too big, JWE */
    IDD_JWT_ALG,         /* none, HS*, not allowed, or not matching the key */
    IDD_JWT_HEADER,      /* crit we do not understand, jku/x5u/jwk/x5c present */
    IDD_JWT_KID_UNKNOWN, /* no key with this kid (the caller may refetch the JWKS once) */
    IDD_JWT_SIGNATURE,
    IDD_JWT_EXPIRED, /* exp missing or past */
    IDD_JWT_NOT_YET, /* nbf or iat in the future */
    IDD_JWT_ISSUER,
    IDD_JWT_AUDIENCE,
} idd_jwt_status_t;

const char *idd_jwt_status_name(idd_jwt_status_t st);

/* Splits and decodes a compact JWS without verifying: header and claims as jansson objects
 * (caller decrefs). Returns IDD_JWT_OK or IDD_JWT_MALFORMED. */
idd_jwt_status_t idd_jwt_decode(const char *token, size_t len, json_t **header, json_t **claims);

/* Verifies token against keys and policy. On IDD_JWT_OK, *claims (if not NULL) receives the
 * claims object (caller decrefs). */
idd_jwt_status_t idd_jwt_verify(const char *token, size_t len, const idd_jwks_t *keys,
                                const idd_jwt_policy_t *policy, json_t **claims);

#endif
