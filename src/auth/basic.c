/*
 * HTTP Basic: base64(email:password). Decoding is strict (RFC 4648 alphabet and padding, no
 * NUL bytes, bounded sizes); the check itself is idd_auth_signin's, with the Basic cache on.
 */
#include <string.h>

#include "identityd/auth/auth.h"
#include "identityd/core/b64.h"
#include "identityd/core/ct.h"

#define BASIC_ENCODED_MAX 4096

void idd_auth_basic(idd_request_t *r, h2o_iovec_t credential, idd_auth_done_fn done)
{
    if (credential.len == 0 || credential.len > BASIC_ENCODED_MAX) {
        done(r, IDD_AUTH_DENY, NULL);
        return;
    }
    /* On the stack, not in the request's pool: it is wiped below even when the check has
     * already answered and the request may be gone. */
    char plain[IDD_B64_DECODED_MAX(BASIC_ENCODED_MAX) + 1];
    size_t plain_len = 0;
    if (idd_b64_decode(plain, &plain_len, credential.base, credential.len) != 0 ||
        memchr(plain, '\0', plain_len) != NULL) {
        idd_wipe(plain, sizeof(plain));
        done(r, IDD_AUTH_DENY, NULL);
        return;
    }
    plain[plain_len] = '\0';
    char *colon = memchr(plain, ':', plain_len);
    if (colon == NULL || colon == plain) {
        idd_wipe(plain, plain_len);
        done(r, IDD_AUTH_DENY, NULL);
        return;
    }
    *colon = '\0';
    idd_signin_t in = {
        .login = plain,
        .password = colon + 1,
        .password_len = plain_len - (size_t)(colon - plain) - 1,
        .remember = true,
        .via = IDD_CRED_BASIC,
    };
    idd_auth_signin(r, &in, done);
    idd_wipe(plain, sizeof(plain)); /* signin copied what it needs */
}
