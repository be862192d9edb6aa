/*
 * Passwords, the way DocSpace's clients see them and the way identityd keeps them.
 *
 * The client hash is DocSpace's: lowercase hex of PBKDF2-HMAC-SHA256(password, the tenant's
 * salt string, iterations, 32 bytes). A login client may compute it itself and send it, so it
 * is the real credential; the server never stores it. What the store keeps is a versioned
 * record of an HMAC-SHA256 of the client hash under the server's pepper and a salt of the
 * record's own:
 *
 *     $idd2$<iterations>$<base64url salt>$<base64url HMAC-SHA256(pepper,
 *                                          "password:" || salt || client_hash_hex)>
 *
 * The salt is 16 random bytes drawn for every record made, so two users with the same
 * password (same tenant, so same client hash) get different records, and one guess checked
 * against a stolen database and pepper tests one user, not all of them.
 *
 * Records of the first version, made before the salt existed, still verify:
 *
 *     $idd1$<iterations>$<base64url HMAC-SHA256(pepper, client_hash_hex)>
 *
 * and a successful sign-in replaces one by a record of the current version. The iterations
 * travel in the record so that changing password.iterations does not lock out existing
 * users.
 */
#ifndef IDENTITYD_PASSWORD_H
#define IDENTITYD_PASSWORD_H

#include <stddef.h>

#include "identityd/core/pacer.h"

#define IDD_CLIENT_HASH_HEX_LEN 64
#define IDD_PEPPER_MIN 32
#define IDD_PEPPER_MAX 1024
#define IDD_PASSWORD_RECORD_MAX 160 /* the longest record, NUL excluded */
#define IDD_SALT_MAX 64             /* a tenant's salt string for the client hash */
#define IDD_RECORD_SALT_LEN 16      /* bytes of a record's own salt */

/* The length of a keyed digest made under the pepper (HMAC-SHA256): the store finds a
 * session by the digest of its token and an API key by the digest of the key, never by the
 * secret itself. */
#define IDD_SESSION_DIGEST_LEN 32

typedef struct idd_pepper {
    unsigned char bytes[IDD_PEPPER_MAX];
    size_t len;
} idd_pepper_t;

/* Reads the pepper file: its bytes with trailing whitespace removed, at least 32 bytes.
 * The file must satisfy the rules of every secret file (core/secretfile.h: a regular file,
 * not a link, mode 0600 or 0400). Returns 0, IDD_EIO or IDD_EINVAL (err gets a message). Wipe with
 * idd_pepper_wipe. */
int idd_pepper_load(const char *path, idd_pepper_t *out, char *err, size_t errlen);
void idd_pepper_wipe(idd_pepper_t *p);

/* Computes the client hash of password[0..len) into out (65 bytes, NUL-terminated hex).
 * This is the slow part (PBKDF2): never call it on an event loop. pacer (NULL: none) paces
 * it while the event loops are busy (core/pacer.h). Returns 0, IDD_EINVAL or IDD_ECRYPTO. */
int idd_password_client_hash(const char *password, size_t len, const char *salt,
                             unsigned iterations, char out[IDD_CLIENT_HASH_HEX_LEN + 1],
                             idd_pacer_t *pacer);

/* Writes a record of the current version for a client hash into out (outlen >=
 * IDD_PASSWORD_RECORD_MAX + 1), with a fresh random salt: two calls never give the same
 * record. Returns 0, IDD_EINVAL (client hash not 64 lowercase hex) or IDD_ECRYPTO. */
int idd_password_record_make(const idd_pepper_t *pepper, const char *client_hash,
                             unsigned iterations, char *out, size_t outlen);

/* Checks a client hash against a record of any version in constant time. Returns 0 on a
 * match, IDD_EDENIED on a mismatch, IDD_EINVAL for a record it cannot read. */
int idd_password_record_check(const idd_pepper_t *pepper, const char *record,
                              const char *client_hash);

/* The iterations a record was made with. Returns 0 or IDD_EINVAL. */
int idd_password_record_iterations(const char *record, unsigned *out);

/* Whether record is a readable record of an older version, one that a sign-in with the right
 * secret should replace by idd_password_record_make's. 0 for a current or unreadable one. */
int idd_password_record_outdated(const char *record);

/* Writes into out (outlen >= IDD_PASSWORD_RECORD_MAX + 1) a record of the current version
 * that no client hash matches, which costs idd_password_record_check the same work as a
 * real one: what an unknown user's sign-in is checked against. Returns 0 or IDD_EINVAL. */
int idd_password_record_decoy(unsigned iterations, char *out, size_t outlen);

#endif
