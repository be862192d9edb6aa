/*
 * Mints the login-to-identity token: a compact JWS over DocSpace's claims. Each thread owns
 * one signer, which keeps ready OpenSSL contexts for the active key and copies them per
 * token, so minting parses no PEM and allocates little. The claims are written with the
 * escaping writer of buf.h, never json_dumps.
 */
#ifndef IDENTITYD_SIGNER_H
#define IDENTITYD_SIGNER_H

#include <stdbool.h>
#include <stdint.h>

#include "identityd/core/buf.h"
#include "identityd/token/keyring.h"

/* What goes into a token. All strings are borrowed for the duration of the call. Every claim
 * is written as a JSON string as DocSpace does, except exp and iat (numbers). */
typedef struct idd_claims {
    const char *user_id;    /* sub and user_id: lowercase GUID */
    const char *first_name; /* user_name is "first last" */
    const char *last_name;
    const char *email;      /* user_email */
    int64_t tenant_id;      /* tenant_id, as a decimal string */
    const char *tenant_url; /* tenant_url, iss and aud */
    bool is_admin;
    bool is_guest;
    bool is_public;
    int64_t iat; /* Unix seconds */
    int64_t exp;
} idd_claims_t;

typedef struct idd_signer idd_signer_t;

/* A signer for the keyring's active key. The keyring must outlive the signer.
 * Returns NULL (and logs) only when OpenSSL cannot set up the context. */
idd_signer_t *idd_signer_new(const idd_keyring_t *kr);

/* NULL is a no-op. */
void idd_signer_free(idd_signer_t *s);

/* The key s signs with (the keyring's). */
const idd_key_t *idd_signer_key(const idd_signer_t *s);

/* Appends the compact JWS (header.claims.signature) to out. The header is
 * {"alg":…,"typ":"JWT","kid":…}; claims carry a fresh random jti (128 bits, base64url).
 * ES256 signatures are the raw 64-byte R‖S of RFC 7518 §3.4. Returns 0 or IDD_ECRYPTO. */
int idd_signer_mint(idd_signer_t *s, const idd_claims_t *claims, idd_buf_t *out);

/* Appends the claims JSON alone (the JWS payload) to out: exposed for tests of escaping. */
void idd_claims_write(const idd_claims_t *claims, const char *jti, idd_buf_t *out);

#endif
