/*
 * Client hashes and stored password records (include/identityd/password.h).
 *
 * The client hash is what a DocSpace login client sends, so it is the credential itself: the
 * store keeps only HMAC-SHA256(pepper, client hash), so a copy of the database without the
 * pepper file neither logs anyone in nor lets an attacker test password guesses offline.
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

#include "identityd/core/b64.h"
#include "identityd/core/common.h"
#include "identityd/core/ct.h"
#include "identityd/core/secretfile.h"
#include "identityd/cred/digest.h"

#define RECORD_PREFIX "$idd1$"
#define RECORD_PREFIX_LEN (sizeof RECORD_PREFIX - 1)
#define CLIENT_HASH_BYTES 32 /* 256 bits, DocSpace's passwordHash size */
#define MAC_BYTES IDD_SESSION_DIGEST_LEN
#define MAC_B64_LEN IDD_B64URL_LEN(MAC_BYTES)

/* PKCS5_PBKDF2_HMAC takes int lengths and counts. */
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

/* HMAC-SHA256(pepper, client_hash), without a label: records were made that way before the
 * labels existed. The caller has validated both. */
static int record_mac(const idd_pepper_t *pepper, const char *client_hash,
                      unsigned char mac[MAC_BYTES])
{
    return idd_keyed_digest(pepper, NULL, client_hash, IDD_CLIENT_HASH_HEX_LEN, mac);
}

/* Splits a record into its iterations and MAC. Only the canonical spelling is accepted:
 * iterations in decimal without leading zeros or sign, 1..INT_MAX, then exactly the 43
 * characters of an unpadded base64url 32-byte MAC and nothing after. mac may be NULL. */
static int record_parse(const char *record, unsigned *iterations, unsigned char mac[MAC_BYTES])
{
    unsigned char decoded[IDD_B64_DECODED_MAX(MAC_B64_LEN)];
    size_t decoded_len = 0;
    unsigned long value = 0;
    const char *p;
    int rc = IDD_EINVAL;

    if (record == NULL || strncmp(record, RECORD_PREFIX, RECORD_PREFIX_LEN) != 0)
        goto done;
    p = record + RECORD_PREFIX_LEN;
    if (*p < '1' || *p > '9')
        goto done;
    for (; *p >= '0' && *p <= '9'; p++) {
        value = value * 10 + (unsigned long)(*p - '0');
        if (value > INT_MAX)
            goto done;
    }
    if (*p != '$')
        goto done;
    p++;
    if (strnlen(p, MAC_B64_LEN + 1) != MAC_B64_LEN)
        goto done;
    if (idd_b64url_decode(decoded, &decoded_len, p, MAC_B64_LEN) != 0 || decoded_len != MAC_BYTES)
        goto done;
    if (mac != NULL)
        memcpy(mac, decoded, MAC_BYTES);
    if (iterations != NULL)
        *iterations = (unsigned)value;
    rc = 0;

done:
    idd_wipe(decoded, sizeof decoded);
    return rc;
}

int idd_password_client_hash(const char *password, size_t len, const char *salt,
                             unsigned iterations, char out[IDD_CLIENT_HASH_HEX_LEN + 1])
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
    /* An empty password is passed as "" rather than NULL, which some providers refuse. */
    if (PKCS5_PBKDF2_HMAC(password != NULL ? password : "", (int)len, (const unsigned char *)salt,
                          (int)salt_len, (int)iterations, EVP_sha256(), CLIENT_HASH_BYTES,
                          derived) != 1) {
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
    unsigned char mac[MAC_BYTES];
    char encoded[MAC_B64_LEN + 1];
    int rc = IDD_EINVAL;
    int n;

    if (out == NULL || outlen < IDD_PASSWORD_RECORD_MAX + 1)
        goto done;
    out[0] = '\0';
    if (!pepper_valid(pepper) || !client_hash_valid(client_hash) || !iterations_valid(iterations))
        goto done;
    rc = record_mac(pepper, client_hash, mac);
    if (rc != 0)
        goto done;
    idd_b64url_encode(encoded, mac, sizeof mac);
    n = snprintf(out, outlen, RECORD_PREFIX "%u$%s", iterations, encoded);
    /* Cannot happen (60 characters at most), but a cut record would lock its user out. */
    if (n < 0 || (size_t)n > IDD_PASSWORD_RECORD_MAX) {
        idd_wipe(out, outlen);
        out[0] = '\0';
        rc = IDD_ECRYPTO;
        goto done;
    }
    rc = 0;

done:
    idd_wipe(mac, sizeof mac);
    idd_wipe(encoded, sizeof encoded);
    return rc;
}

int idd_password_record_check(const idd_pepper_t *pepper, const char *record,
                              const char *client_hash)
{
    unsigned char stored[MAC_BYTES];
    unsigned char computed[MAC_BYTES];
    unsigned iterations = 0;
    int rc = IDD_EINVAL;

    if (!pepper_valid(pepper) || !client_hash_valid(client_hash))
        goto done;
    rc = record_parse(record, &iterations, stored);
    if (rc != 0)
        goto done;
    rc = record_mac(pepper, client_hash, computed);
    if (rc != 0)
        goto done;
    rc = idd_ct_equal(stored, computed, MAC_BYTES) ? 0 : IDD_EDENIED;

done:
    idd_wipe(stored, sizeof stored);
    idd_wipe(computed, sizeof computed);
    return rc;
}

int idd_password_record_iterations(const char *record, unsigned *out)
{
    return record_parse(record, out, NULL);
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
