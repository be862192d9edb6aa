/*
 * Two-factor sign-in with an authenticator app: the pieces every endpoint of it uses, as pure
 * functions of their inputs (the time is always a parameter, so tests control the clock).
 *
 *  - HOTP (RFC 4226) and TOTP (RFC 6238): HMAC-SHA1, 6 digits, 30-second steps from the Unix
 *    epoch. A code is checked against the steps now-window..now+window (default 1, DocSpace
 *    accepts 10), every candidate compared in constant time, and only steps after the last
 *    one the user had accepted count: the caller passes that step and then records the new
 *    one with a conditional write (store.h, tfa_accept_step), so a code is accepted once.
 *  - RFC 4648 base32, upper case and unpadded, as authenticator apps take a key by hand.
 *  - The secrets: 160 random bits per user, or, for databases moved from DocSpace, DocSpace's
 *    derivation from a per-user salt and the machine key (`tfa.secret: docspace`).
 *  - Sealed records: what the store keeps of a secret and of the backup codes, encrypted with
 *    AES-256-GCM under a key derived from the pepper, bound to the user and to the kind of
 *    record, so that the database alone reveals neither:
 *        $tfa1$<base64url(nonce[12] | ciphertext | tag[16])>
 *  - Backup codes (DocSpace §5.6): 5 codes of 6 characters over a 64-symbol alphabet, each
 *    usable once.
 *
 * Secrets live in idd_totp_secret_t / idd_tfa_codes_t values on the caller's stack: wipe them
 * with idd_wipe once used.
 */
#ifndef IDENTITYD_TOTP_H
#define IDENTITYD_TOTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "identityd/cred/password.h"

#define IDD_TOTP_DIGITS 6
#define IDD_TOTP_PERIOD 30        /* seconds per step */
#define IDD_TOTP_WINDOW_DEFAULT 1 /* steps either side of now */
#define IDD_TOTP_WINDOW_MAX 10    /* DocSpace's window: never wider */
#define IDD_TOTP_RANDOM_LEN 20    /* bytes of a secret identityd makes: 160 bits */
#define IDD_TOTP_DOCSPACE_LEN 10  /* bytes of a DocSpace-derived secret (ASCII) */
#define IDD_TOTP_SECRET_MAX 64    /* bytes of any secret accepted */
/* Characters of the base32 of IDD_TOTP_SECRET_MAX bytes, and a buffer for it with its NUL. */
#define IDD_BASE32_LEN(n) (((n)*8 + 4) / 5)
#define IDD_TOTP_BASE32_MAX (IDD_BASE32_LEN(IDD_TOTP_SECRET_MAX) + 1)

typedef struct idd_totp_secret {
    unsigned char bytes[IDD_TOTP_SECRET_MAX];
    size_t len; /* 1..IDD_TOTP_SECRET_MAX */
} idd_totp_secret_t;

/* ---- HOTP / TOTP ---- */

/* The HOTP value of counter under key (RFC 4226 §5.3), reduced to digits (6..8) decimal
 * digits. Returns 0, IDD_EINVAL for a bad key length or digit count, IDD_ECRYPTO. */
int idd_hotp(const unsigned char *key, size_t keylen, uint64_t counter, int digits,
             uint32_t *value);

/* The step a Unix time falls in: floor(t / 30); -1 for a time before the epoch. */
int64_t idd_totp_step(int64_t unix_time);

/* Writes the 6-digit code of step under secret to out, zero-padded and NUL-terminated.
 * Returns 0, IDD_EINVAL (bad secret or a negative step), IDD_ECRYPTO. */
int idd_totp_code(const idd_totp_secret_t *secret, int64_t step, char out[IDD_TOTP_DIGITS + 1]);

/* Checks a code a user typed. input[0..len) is trimmed of ASCII spaces, tabs, CR and LF at
 * both ends and must then be exactly 6 decimal digits. Every step of now_step-window ..
 * now_step+window that is greater than after_step (the last step this user had accepted; -1
 * when none) is computed and compared in constant time, all of them whatever matches.
 * Returns 0 with *matched (may be NULL) = the lowest matching step; IDD_EDENIED when none
 * matches (a replayed code included); IDD_EINVAL for malformed input, a window outside
 * 0..IDD_TOTP_WINDOW_MAX or a bad secret; IDD_ECRYPTO. */
int idd_totp_verify(const idd_totp_secret_t *secret, const char *input, size_t len,
                    int64_t now_step, int window, int64_t after_step, int64_t *matched);

/* ---- base32 (RFC 4648 §6, upper case, unpadded) ---- */

/* Writes the base32 of in[0..len) and a NUL to out (outsize >= IDD_BASE32_LEN(len) + 1).
 * Returns the characters written, or 0 (out = "") when out is too small. */
size_t idd_base32_encode(char *out, size_t outsize, const void *in, size_t len);

/* Decodes unpadded upper-case base32. Refuses (IDD_EINVAL) any other character ('=' and
 * lower case included), a length no byte string encodes to (1, 3 or 6 mod 8) and non-zero
 * trailing bits; IDD_ETOOBIG when the bytes do not fit outsize. */
int idd_base32_decode(unsigned char *out, size_t outsize, size_t *outlen, const char *in,
                      size_t len);

/* ---- secrets ---- */

/* 160 bits from the CSPRNG. Returns 0 or IDD_ECRYPTO. */
int idd_totp_secret_random(idd_totp_secret_t *out);

/* DocSpace's secret for a user (`tfa.secret: docspace`): the first 10 characters of
 * base64url-unpadded(base64(SHA-256(decimal(salt) || machine_key))), whose ASCII bytes are
 * the HMAC key. Returns 0, IDD_EINVAL (empty machine key), IDD_ECRYPTO. */
int idd_totp_secret_docspace(int64_t salt, const char *machine_key, size_t keylen,
                             idd_totp_secret_t *out);

/* ---- sealed records ---- */

#define IDD_TFA_RECORD_PREFIX "$tfa1$"
/* The kinds of sealed record, bound into each one (with the user id) as associated data. */
typedef enum { IDD_TFA_SEAL_SECRET = 1, IDD_TFA_SEAL_CODES = 2 } idd_tfa_seal_kind_t;
#define IDD_TFA_PLAIN_MAX 64
/* A record of up to IDD_TFA_PLAIN_MAX bytes, with its NUL. */
#define IDD_TFA_RECORD_MAX 160

/* Seals plain[0..len) (1..IDD_TFA_PLAIN_MAX bytes) for user_id into out (outsize >=
 * IDD_TFA_RECORD_MAX), with a fresh random nonce. Returns 0, IDD_EINVAL, IDD_ECRYPTO. */
int idd_tfa_seal(const idd_pepper_t *pepper, idd_tfa_seal_kind_t kind, const char *user_id,
                 const void *plain, size_t len, char *out, size_t outsize);

/* Opens a sealed record into out (outsize >= IDD_TFA_PLAIN_MAX), *outlen its length.
 * IDD_EINVAL for a record that is not one (prefix, encoding, length); IDD_EDENIED when it
 * does not authenticate: altered, sealed for another user or kind, or under another pepper.
 * out is wiped on any failure. */
int idd_tfa_open(const idd_pepper_t *pepper, idd_tfa_seal_kind_t kind, const char *user_id,
                 const char *record, unsigned char *out, size_t outsize, size_t *outlen);

/* The secret's own record: seal and open an idd_totp_secret_t. */
int idd_tfa_seal_secret(const idd_pepper_t *pepper, const char *user_id,
                        const idd_totp_secret_t *secret, char *out, size_t outsize);
int idd_tfa_open_secret(const idd_pepper_t *pepper, const char *user_id, const char *record,
                        idd_totp_secret_t *out);

/* ---- backup codes ---- */

#define IDD_TFA_CODE_COUNT 5
#define IDD_TFA_CODE_LEN 6
/* The 64 symbols of a backup code, DocSpace's: a-z A-Z 1-9 0 - _ */
#define IDD_TFA_CODE_ALPHABET "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ1234567890-_"

typedef struct idd_tfa_codes {
    char code[IDD_TFA_CODE_COUNT][IDD_TFA_CODE_LEN + 1];
    bool used[IDD_TFA_CODE_COUNT];
} idd_tfa_codes_t;

/* Five fresh, distinct codes, none used: each character one CSPRNG byte mod 64 (unbiased).
 * Returns 0 or IDD_ECRYPTO. */
int idd_tfa_codes_new(idd_tfa_codes_t *out);

/* Spends a backup code: input[0..len), trimmed as idd_totp_verify trims, compared exactly
 * (case-sensitive) with every code in constant time. Returns the index it matched and marks
 * it used; IDD_EDENIED when it matches no unused code; IDD_EINVAL when it is not 6 characters
 * of the alphabet. The caller stores the changed set with a conditional write
 * (tfa_set_codes with the record it read) so that a code is spent once. */
int idd_tfa_codes_use(idd_tfa_codes_t *codes, const char *input, size_t len);

/* Seal and open a set of codes (its used flags included). */
int idd_tfa_seal_codes(const idd_pepper_t *pepper, const char *user_id,
                       const idd_tfa_codes_t *codes, char *out, size_t outsize);
int idd_tfa_open_codes(const idd_pepper_t *pepper, const char *user_id, const char *record,
                       idd_tfa_codes_t *out);

#endif
