/*
 * API keys as values: "sk-" and 64 lowercase hex characters (32 bytes from the CSPRNG),
 * their keyed digest, the permissions a key may carry, and the rules for what a key is made
 * or changed with (its name, permissions and expiry). A 256-bit random key needs no slow KDF:
 * one HMAC under the pepper makes the stored digest, so checking a key costs one digest and
 * one indexed lookup.
 *
 * The HTTP API (POST and PUT /api/2.0/keys) and identityctl (apikey create) both apply these
 * rules, each after turning its own input (JSON, the command line) into C values, and both
 * pass the message a rule returns on unchanged, so that a refusal reads the same either way.
 */
#ifndef IDENTITYD_APIKEY_H
#define IDENTITYD_APIKEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "identityd/cred/password.h"

#define IDD_APIKEY_PREFIX "sk-"
#define IDD_APIKEY_LEN 67            /* "sk-" + 64 hex */
#define IDD_APIKEY_NAME_CHARS_MAX 30 /* characters, not bytes */
#define IDD_APIKEY_EXPIRES_DAYS_MAX 365

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

/* ---- the rules: each returns NULL when the value is fine, else a static message that says
 * what is wrong, fit to show to whoever sent the value ---- */

/* A key's name, name[0..len) (len counts every byte: a NUL inside is refused as a control
 * character): well-formed UTF-8 of 1 to IDD_APIKEY_NAME_CHARS_MAX characters, none of them a
 * control character (C0, DEL or C1), and not blank (made only of white space or zero-width
 * characters). Every listing shows the name, so it must be visible and must not steer the
 * terminal or page that shows it. */
const char *idd_apikey_check_name(const char *name, size_t len);

/* Adds the permission name[0..len) to list, the space-separated permissions of a key being
 * made (NUL-terminated, size bytes; start from ""). The name must be one of
 * idd_apikey_permissions, spelled exactly; one already in the list is not added twice. An
 * empty list means full access. */
const char *idd_apikey_permissions_add(char *list, size_t size, const char *name, size_t len);

/* A key's lifetime in days: 1 to IDD_APIKEY_EXPIRES_DAYS_MAX (a key that never expires has
 * none, and is not checked). */
const char *idd_apikey_check_expiry_days(int64_t days);

/* The refusal of one key too many (apikeys.max_per_user is max), in out (outlen bytes;
 * 128 suffice): the words POST /api/2.0/keys answers with 400 and identityctl prints. */
#define IDD_APIKEY_LIMIT_MESSAGE_MAX 128
void idd_apikey_limit_message(int max, char *out, size_t outlen);

/* The scopes a key's permissions grant (space-separated in and out): none or "*" give
 * "*:write"; otherwise each permission is a scope. */
void idd_apikey_scopes(const char *permissions, char *out, size_t outlen);

#endif
