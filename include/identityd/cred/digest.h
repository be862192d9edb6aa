/*
 * The keyed digest every stored or cached credential is kept under: HMAC-SHA256 with the
 * server's pepper as the key, over a label naming the kind of credential followed by the
 * credential itself. The label keeps the kinds apart, so that the digest of a session token
 * can never be presented as that of an API key with the same characters.
 *
 * These bytes are what existing databases hold: changing the construction or a label makes
 * every stored session and API key unusable. tests/unit/check_digest.c pins one digest of each
 * kind to a value computed outside identityd. The digest is IDD_SESSION_DIGEST_LEN bytes
 * (password.h), whatever the kind.
 */
#ifndef IDENTITYD_DIGEST_H
#define IDENTITYD_DIGEST_H

#include <stddef.h>

#include "identityd/cred/hmac256.h"
#include "identityd/cred/password.h"

/* The labels in use. The MAC of a first-version password record has none (password.h); that
 * of the current version has IDD_DIGEST_LABEL_PASSWORD, followed by the record's salt and the
 * client hash. */
#define IDD_DIGEST_LABEL_SESSION "session:"
#define IDD_DIGEST_LABEL_APIKEY "apikey:"
#define IDD_DIGEST_LABEL_PASSWORD "password:"
/* Kept only in memory (never stored): the credential cache's key of a verified external JWT. */
#define IDD_DIGEST_LABEL_JWT "jwt:"

/* Writes HMAC-SHA256(pepper, label || data[0..len)) to out. label is a NUL-terminated string
 * and may be "" or NULL for none; data may be NULL when len is 0. Returns 0; IDD_EINVAL for an
 * empty pepper or missing data; IDD_ECRYPTO when OpenSSL fails. On failure out is all zeros,
 * which no caller stores or accepts. */
int idd_keyed_digest(const idd_pepper_t *pepper, const char *label, const void *data, size_t len,
                     unsigned char out[IDD_SESSION_DIGEST_LEN]);

/* The same over label || the concatenation of n parts (none NULL with a length). */
int idd_keyed_digest_parts(const idd_pepper_t *pepper, const char *label, const idd_bytes_t *parts,
                           size_t n, unsigned char out[IDD_SESSION_DIGEST_LEN]);

#endif
