/*
 * API keys as values: "sk-" and 64 lowercase hex characters (32 bytes from the CSPRNG),
 * their keyed digest, and the permissions a key may carry. A 256-bit random key needs no
 * slow KDF: one HMAC under the pepper makes the stored digest, so checking a key costs one
 * digest and one indexed lookup.
 */
#ifndef IDENTITYD_APIKEY_H
#define IDENTITYD_APIKEY_H

#include <stdbool.h>
#include <stddef.h>

#include "identityd/cred/password.h"

#define IDD_APIKEY_PREFIX "sk-"
#define IDD_APIKEY_LEN 67 /* "sk-" + 64 hex */

/* Writes a fresh key (NUL-terminated) to out. Returns 0 or IDD_ECRYPTO. */
int idd_apikey_generate(char out[IDD_APIKEY_LEN + 1]);

/* True for exactly "sk-" followed by 64 lowercase hex characters. */
bool idd_apikey_well_formed(const char *key, size_t len);

/* The stored digest: HMAC-SHA256(pepper, "apikey:" key). Returns 0 or IDD_ECRYPTO. */
int idd_apikey_digest(const idd_pepper_t *pepper, const char *key, size_t len,
                      unsigned char out[IDD_SESSION_DIGEST_LEN]);

/* The permissions a key may be given, in the order GET /api/2.0/keys/permissions lists
 * them: "*", "*:read", "*:write", then accounts, accounts.self, files and rooms, each with
 * ":read" and ":write". */
extern const char *const idd_apikey_permissions[];
extern const size_t idd_apikey_permissions_count;

/* True when name is one of idd_apikey_permissions. */
bool idd_apikey_permission_known(const char *name, size_t len);

/* The scopes a key's permissions grant (space-separated in and out): none or "*" give
 * "*:write"; otherwise each permission is a scope. */
void idd_apikey_scopes(const char *permissions, char *out, size_t outlen);

#endif
