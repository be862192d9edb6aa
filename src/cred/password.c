/*
 * Client hashes and stored password records (include/identityd/password.h).
 *
 * The client hash is what a DocSpace login client sends, so it is the credential itself: the
 * store keeps only HMAC-SHA256(pepper, salt and client hash), so a copy of the database
 * without the pepper file neither logs anyone in nor lets an attacker test password guesses
 * offline, and with it each guess still tests one user, since every record has its own salt.
 * The HMAC is keyed over the 64 lowercase hex characters exactly as clients send them, which
 * is why every function here insists on that spelling instead of normalising it.
 *
 * Records are parsed strictly (one spelling per record: no leading zeros, no padding, no
 * trailing bytes) and compared in constant time; every intermediate holding a client hash,
 * derived key or MAC is wiped before returning.
 */
#include "identityd/cred/password.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "identityd/core/b64.h"
#include "identityd/core/common.h"
#include "identityd/core/ct.h"
#include "identityd/core/secretfile.h"
#include "identityd/cred/digest.h"
#include "identityd/cred/pbkdf2.h"

#define PREFIX_V1 "$idd1$"
#define PREFIX_V2 "$idd2$"
#define PREFIX_LEN (sizeof PREFIX_V1 - 1) /* every version's */
#define CLIENT_HASH_BYTES 32              /* 256 bits, DocSpace's passwordHash size */
#define MAC_BYTES IDD_SESSION_DIGEST_LEN
#define MAC_B64_LEN IDD_B64URL_LEN(MAC_BYTES)
#define SALT_BYTES IDD_RECORD_SALT_LEN
#define SALT_B64_LEN IDD_B64URL_LEN(SALT_BYTES)

_Static_assert(sizeof PREFIX_V1 == sizeof PREFIX_V2, "one prefix length");
/* The longest current record: prefix, 10 digits, salt and MAC with their separators. */
_Static_assert(PREFIX_LEN + 10 + 1 + SALT_B64_LEN + 1 + MAC_B64_LEN <= IDD_PASSWORD_RECORD_MAX,
               "a record fits its column");

/* A record taken apart. */
typedef struct record {
    int version; /* 1 or 2 */
    unsigned iterations;
    unsigned char salt[SALT_BYTES]; /* version 2 only */
    unsigned char mac[MAC_BYTES];
} record_t;

/* Records have always carried counts that fit an int. */
static int iterations_valid(unsigned iterations)
{
    return iterations >= 1 && iterations <= INT_MAX;
}

static int pepper_valid(const idd_pepper_t *pepper)
{
    return pepper != NULL && pepper->len >= IDD_PEPPER_MIN && pepper->len <= IDD_PEPPER_MAX;
}

/* Whether s is exactly 64 lowercase hex digits. */
static int client_hash_valid(const char *s)
{
    if (s == NULL || strnlen(s, IDD_CLIENT_HASH_HEX_LEN + 1) != IDD_CLIENT_HASH_HEX_LEN)
        return 0;
    for (size_t i = 0; i < IDD_CLIENT_HASH_HEX_LEN; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    }
    return 1;
}

/* The MAC of a record of the given version and salt over client_hash. Version 1 has no label
 * and no salt: records were made that way before either existed. Version 2 feeds the label,
 * the salt and the client hash through the one keyed digest; the scratch buffer holding them
 * is wiped. The caller has validated the pepper and the client hash. */
static int record_mac(const idd_pepper_t *pepper, int version, const unsigned char *salt,
                      const char *client_hash, unsigned char mac[MAC_BYTES])
{
    unsigned char msg[SALT_BYTES + IDD_CLIENT_HASH_HEX_LEN];
    int rc;

    if (version == 1)
        return idd_keyed_digest(pepper, NULL, client_hash, IDD_CLIENT_HASH_HEX_LEN, mac);
    memcpy(msg, salt, SALT_BYTES);
    memcpy(msg + SALT_BYTES, client_hash, IDD_CLIENT_HASH_HEX_LEN);
    rc = idd_keyed_digest(pepper, IDD_DIGEST_LABEL_PASSWORD, msg, sizeof msg, mac);
    idd_wipe(msg, sizeof msg);
    return rc;
}

/* Decodes exactly len base64url characters at p, which must end there with `end`, into
 * exactly n bytes at out. Returns 0 or IDD_EINVAL. */
static int field_decode(const char *p, size_t len, char end, unsigned char *out, size_t n)
{
    unsigned char decoded[IDD_B64_DECODED_MAX(MAC_B64_LEN)];
    size_t decoded_len = 0;
    int rc = IDD_EINVAL;

    _Static_assert(SALT_B64_LEN <= MAC_B64_LEN, "decoded[] holds a salt too");
    if (strnlen(p, len + 1) < len || p[len] != end)
        goto done;
    if (idd_b64url_decode(decoded, &decoded_len, p, len) != 0 || decoded_len != n)
        goto done;
    memcpy(out, decoded, n);
    rc = 0;

done:
    idd_wipe(decoded, sizeof decoded);
    return rc;
}

/* Takes a record apart. Only the canonical spelling is accepted: the prefix of a known
 * version; iterations in decimal without leading zeros or sign, 1..INT_MAX; for version 2 the
 * exactly 22 characters of an unpadded base64url 16-byte salt; then exactly the 43 characters
 * of an unpadded base64url 32-byte MAC and nothing after. out is wiped on failure. */
static int record_parse(const char *record, record_t *out)
{
    unsigned long value = 0;
    const char *p;

    memset(out, 0, sizeof *out);
    if (record == NULL)
        return IDD_EINVAL;
    if (strncmp(record, PREFIX_V1, PREFIX_LEN) == 0)
        out->version = 1;
    else if (strncmp(record, PREFIX_V2, PREFIX_LEN) == 0)
        out->version = 2;
    else
        return IDD_EINVAL;
    p = record + PREFIX_LEN;
    if (*p < '1' || *p > '9')
        goto fail;
    for (; *p >= '0' && *p <= '9'; p++) {
        value = value * 10 + (unsigned long)(*p - '0');
        if (value > INT_MAX)
            goto fail;
    }
    if (*p != '$')
        goto fail;
    p++;
    if (out->version == 2) {
        if (field_decode(p, SALT_B64_LEN, '$', out->salt, SALT_BYTES) != 0)
            goto fail;
        p += SALT_B64_LEN + 1;
    }
    if (field_decode(p, MAC_B64_LEN, '\0', out->mac, MAC_BYTES) != 0)
        goto fail;
    out->iterations = (unsigned)value;
    return 0;

fail:
    idd_wipe(out, sizeof *out);
    return IDD_EINVAL;
}

/* Writes the version 2 record of salt and mac into out (outlen >= IDD_PASSWORD_RECORD_MAX + 1). */
static int record_format(unsigned iterations, const unsigned char salt[SALT_BYTES],
                         const unsigned char mac[MAC_BYTES], char *out, size_t outlen)
{
    char salt_b64[SALT_B64_LEN + 1];
    char mac_b64[MAC_B64_LEN + 1];
    int n;

    idd_b64url_encode(salt_b64, salt, SALT_BYTES);
    idd_b64url_encode(mac_b64, mac, MAC_BYTES);
    n = snprintf(out, outlen, PREFIX_V2 "%u$%s$%s", iterations, salt_b64, mac_b64);
    idd_wipe(mac_b64, sizeof mac_b64);
    /* Cannot happen (see the assertion above), but a cut record would lock its user out. */
    if (n < 0 || (size_t)n > IDD_PASSWORD_RECORD_MAX) {
        idd_wipe(out, outlen);
        return IDD_ECRYPTO;
    }
    return 0;
}

int idd_password_client_hash(const char *password, size_t len, const char *salt,
                             unsigned iterations, char out[IDD_CLIENT_HASH_HEX_LEN + 1],
                             idd_pacer_t *pacer)
{
    static const char digits[] = "0123456789abcdef";
    unsigned char derived[CLIENT_HASH_BYTES];
    size_t salt_len;
    int rc = IDD_EINVAL;

    out[0] = '\0';
    if ((password == NULL && len > 0) || len > INT_MAX || salt == NULL ||
        !iterations_valid(iterations))
        goto done;
    salt_len = strlen(salt);
    if (salt_len > INT_MAX)
        goto done;
    if (idd_pbkdf2_sha256(password, len, salt, salt_len, iterations, derived, CLIENT_HASH_BYTES,
                          pacer) != 0) {
        rc = IDD_ECRYPTO;
        goto done;
    }
    for (size_t i = 0; i < CLIENT_HASH_BYTES; i++) {
        out[2 * i] = digits[derived[i] >> 4];
        out[2 * i + 1] = digits[derived[i] & 0x0f];
    }
    out[IDD_CLIENT_HASH_HEX_LEN] = '\0';
    rc = 0;

done:
    idd_wipe(derived, sizeof derived);
    return rc;
}

int idd_password_record_make(const idd_pepper_t *pepper, const char *client_hash,
                             unsigned iterations, char *out, size_t outlen)
{
    unsigned char salt[SALT_BYTES];
    unsigned char mac[MAC_BYTES];
    int rc = IDD_EINVAL;

    if (out == NULL || outlen < IDD_PASSWORD_RECORD_MAX + 1)
        goto done;
    out[0] = '\0';
    if (!pepper_valid(pepper) || !client_hash_valid(client_hash) || !iterations_valid(iterations))
        goto done;
    if (RAND_bytes(salt, sizeof salt) != 1) {
        rc = IDD_ECRYPTO;
        goto done;
    }
    rc = record_mac(pepper, 2, salt, client_hash, mac);
    if (rc == 0)
        rc = record_format(iterations, salt, mac, out, outlen);

done:
    idd_wipe(salt, sizeof salt);
    idd_wipe(mac, sizeof mac);
    return rc;
}

int idd_password_record_check(const idd_pepper_t *pepper, const char *record,
                              const char *client_hash)
{
    record_t stored;
    unsigned char computed[MAC_BYTES];
    int rc = IDD_EINVAL;

    memset(&stored, 0, sizeof stored);
    if (!pepper_valid(pepper) || !client_hash_valid(client_hash))
        goto done;
    rc = record_parse(record, &stored);
    if (rc != 0)
        goto done;
    rc = record_mac(pepper, stored.version, stored.salt, client_hash, computed);
    if (rc != 0)
        goto done;
    rc = idd_ct_equal(stored.mac, computed, MAC_BYTES) ? 0 : IDD_EDENIED;

done:
    idd_wipe(&stored, sizeof stored);
    idd_wipe(computed, sizeof computed);
    return rc;
}

int idd_password_record_iterations(const char *record, unsigned *out)
{
    record_t parsed;
    int rc = record_parse(record, &parsed);
    if (rc == 0 && out != NULL)
        *out = parsed.iterations;
    idd_wipe(&parsed, sizeof parsed);
    return rc;
}

int idd_password_record_outdated(const char *record)
{
    record_t parsed;
    int outdated = record_parse(record, &parsed) == 0 && parsed.version < 2;
    idd_wipe(&parsed, sizeof parsed);
    return outdated;
}

/* An all-zero MAC: HMAC-SHA256 gives it for no input anyone can find. The salt is all zeros
 * too; it is parsed and hashed like any other. */
int idd_password_record_decoy(unsigned iterations, char *out, size_t outlen)
{
    static const unsigned char zero_salt[SALT_BYTES];
    static const unsigned char zero_mac[MAC_BYTES];

    if (out == NULL || outlen < IDD_PASSWORD_RECORD_MAX + 1 || !iterations_valid(iterations))
        return IDD_EINVAL;
    return record_format(iterations, zero_salt, zero_mac, out, outlen) == 0 ? 0 : IDD_EINVAL;
}

int idd_pepper_load(const char *path, idd_pepper_t *out, char *err, size_t errlen)
{
    char *text = NULL;
    size_t read_len = 0;

    memset(out, 0, sizeof *out);
    idd_errorf(err, errlen, "%s", "");
    if (path == NULL || path[0] == '\0') {
        idd_errorf(err, errlen, "no pepper file given");
        return IDD_EINVAL;
    }
    /* Mode, file type and size rules are those of every secret file. */
    int rc = idd_secretfile_read(path, IDD_PEPPER_MAX, &text, &read_len, err, errlen);
    if (rc != 0)
        return rc;
    /* Leading whitespace is part of the secret; a final newline is not. */
    size_t len = idd_secretfile_trim(text, read_len);
    if (len < IDD_PEPPER_MIN) {
        idd_errorf(err, errlen,
                   "pepper file %s holds %zu bytes without trailing whitespace; "
                   "at least %d are needed",
                   path, len, IDD_PEPPER_MIN);
        rc = IDD_EINVAL;
    } else {
        memcpy(out->bytes, text, len);
        out->len = len;
    }
    idd_wipe(text, read_len);
    free(text);
    return rc;
}

void idd_pepper_wipe(idd_pepper_t *p)
{
    if (p == NULL)
        return;
    idd_wipe(p, sizeof *p);
    p->len = 0;
}
