/*
 * Verifies a token identityd minted, with the configured keys: libjwt for HS256, RS256 and
 * ES256 (an implementation independent of the signer), OpenSSL for EdDSA, which libjwt
 * 1.10 lacks. Used by `identityctl token verify` and by tests; not on the request path.
 */
#ifndef IDENTITYD_VERIFY_H
#define IDENTITYD_VERIFY_H

#include <stdint.h>

#include "identityd/core/buf.h"
#include "identityd/token/keyring.h"

/* Verifies token against the key named by its kid (or, without a kid, the active key): the
 * header alg must equal the key's alg, the signature must verify, and exp must be later
 * than now. On success appends the claims JSON to claims_out (may be NULL) and returns 0;
 * otherwise returns IDD_EDENIED (bad signature, wrong alg, expired, unknown kid) or
 * IDD_EINVAL (not a compact JWS), with a reason in err. */
int idd_verify_token(const idd_keyring_t *kr, const char *token, int64_t now, idd_buf_t *claims_out,
                     char *err, size_t errlen);

#endif
