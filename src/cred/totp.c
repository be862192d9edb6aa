/*
 * TOTP, base32, the two kinds of secret, sealed records and backup codes (see totp.h).
 * Nothing here allocates: every buffer is the caller's or on the stack, and every stack copy
 * of a secret, a key or a plaintext is wiped before returning.
 */
#include "identityd/cred/totp.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>

#include "identityd/core/b64.h"
#include "identityd/core/common.h"
#include "identityd/core/ct.h"
#include "identityd/cred/digest.h"

/* ---- HOTP / TOTP ---- */

int idd_hotp(const unsigned char *key, size_t keylen, uint64_t counter, int digits, uint32_t *value)
{
    static const uint32_t mod[] = {1000000, 10000000, 100000000};
    unsigned char msg[8], mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;

    *value = 0;
    if (key == NULL || keylen == 0 || keylen > IDD_TOTP_SECRET_MAX || digits < 6 || digits > 8)
        return IDD_EINVAL;
    for (int i = 7; i >= 0; i--) {
        msg[i] = (unsigned char)(counter & 0xff);
        counter >>= 8;
    }
    if (HMAC(EVP_sha1(), key, (int)keylen, msg, sizeof(msg), mac, &maclen) == NULL ||
        maclen != 20) {
        idd_wipe(mac, sizeof(mac));
        return IDD_ECRYPTO;
    }
    /* Dynamic truncation (RFC 4226 §5.3). */
    unsigned off = mac[19] & 0x0f;
    uint32_t bin = ((uint32_t)(mac[off] & 0x7f) << 24) | ((uint32_t)mac[off + 1] << 16) |
                   ((uint32_t)mac[off + 2] << 8) | (uint32_t)mac[off + 3];
    *value = bin % mod[digits - 6];
    idd_wipe(mac, sizeof(mac));
    return 0;
}

int64_t idd_totp_step(int64_t unix_time)
{
    return unix_time < 0 ? -1 : unix_time / IDD_TOTP_PERIOD;
}

static bool secret_ok(const idd_totp_secret_t *s)
{
    return s != NULL && s->len > 0 && s->len <= sizeof(s->bytes);
}

/* The code of step as six ASCII digits (no NUL), without snprintf on the sign-in path. */
static int code_digits(const idd_totp_secret_t *secret, int64_t step, char out[IDD_TOTP_DIGITS])
{
    uint32_t v = 0;
    int rc = idd_hotp(secret->bytes, secret->len, (uint64_t)step, IDD_TOTP_DIGITS, &v);
    for (int i = IDD_TOTP_DIGITS - 1; i >= 0; i--) {
        out[i] = (char)('0' + v % 10);
        v /= 10;
    }
    return rc;
}

int idd_totp_code(const idd_totp_secret_t *secret, int64_t step, char out[IDD_TOTP_DIGITS + 1])
{
    memset(out, 0, IDD_TOTP_DIGITS + 1);
    if (!secret_ok(secret) || step < 0)
        return IDD_EINVAL;
    int rc = code_digits(secret, step, out);
    if (rc != 0)
        memset(out, 0, IDD_TOTP_DIGITS + 1);
    return rc;
}

static bool is_trim(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Cuts ASCII blanks off both ends of in[0..*len). */
static const char *trim(const char *in, size_t *len)
{
    size_t n = *len;
    while (n > 0 && is_trim(in[0])) {
        in++;
        n--;
    }
    while (n > 0 && is_trim(in[n - 1]))
        n--;
    *len = n;
    return in;
}

int idd_totp_verify(const idd_totp_secret_t *secret, const char *input, size_t len,
                    int64_t now_step, int window, int64_t after_step, int64_t *matched)
{
    if (matched != NULL)
        *matched = -1;
    if (!secret_ok(secret) || input == NULL || window < 0 || window > IDD_TOTP_WINDOW_MAX ||
        now_step < 0)
        return IDD_EINVAL;
    input = trim(input, &len);
    if (len != IDD_TOTP_DIGITS)
        return IDD_EINVAL;
    for (size_t i = 0; i < len; i++)
        if (input[i] < '0' || input[i] > '9')
            return IDD_EINVAL;

    int64_t found = -1;
    int rc = 0;
    char code[IDD_TOTP_DIGITS];
    for (int64_t step = now_step - window; step <= now_step + window; step++) {
        if (step < 0 || step <= after_step)
            continue; /* before the epoch, or already used: a replay */
        rc = code_digits(secret, step, code);
        if (rc != 0)
            break;
        /* Constant time: every candidate is compared, found is chosen without a branch on
         * the secret's bytes beyond this one-bit result. */
        int eq = idd_ct_equal(code, input, IDD_TOTP_DIGITS);
        if (eq && found < 0)
            found = step;
    }
    idd_wipe(code, sizeof(code));
    if (rc != 0)
        return rc;
    if (found < 0)
        return IDD_EDENIED;
    if (matched != NULL)
        *matched = found;
    return 0;
}

/* ---- base32 ---- */

static const char b32_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

size_t idd_base32_encode(char *out, size_t outsize, const void *in, size_t len)
{
    const unsigned char *p = in;
    size_t need = IDD_BASE32_LEN(len);
    size_t n = 0;
    uint32_t acc = 0;
    int bits = 0;

    if (out == NULL || outsize == 0)
        return 0;
    out[0] = '\0';
    if (need + 1 > outsize || (p == NULL && len > 0))
        return 0;
    for (size_t i = 0; i < len; i++) {
        acc = (acc << 8) | p[i];
        bits += 8;
        while (bits >= 5) {
            bits -= 5;
            out[n++] = b32_alphabet[(acc >> bits) & 31];
        }
    }
    if (bits > 0)
        out[n++] = b32_alphabet[(acc << (5 - bits)) & 31];
    out[n] = '\0';
    /* acc held the secret's last bits: a plain store to it is dead and compiled away. */
    idd_wipe(&acc, sizeof(acc));
    return n;
}

int idd_base32_decode(unsigned char *out, size_t outsize, size_t *outlen, const char *in,
                      size_t len)
{
    uint32_t acc = 0;
    int bits = 0;
    size_t n = 0;
    size_t rem = len % 8;

    *outlen = 0;
    if (in == NULL && len > 0)
        return IDD_EINVAL;
    /* 8 characters carry 5 bytes; a tail of 1, 3 or 6 characters is not a byte string's. */
    if (rem == 1 || rem == 3 || rem == 6)
        return IDD_EINVAL;
    if ((len * 5) / 8 > outsize)
        return IDD_ETOOBIG;
    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        unsigned v;
        if (c >= 'A' && c <= 'Z')
            v = (unsigned)(c - 'A');
        else if (c >= '2' && c <= '7')
            v = (unsigned)(c - '2') + 26;
        else {
            idd_wipe(out, n);
            return IDD_EINVAL;
        }
        acc = (acc << 5) | v;
        bits += 5;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (unsigned char)(acc >> bits);
        }
        acc &= (1u << bits) - 1;
    }
    if (acc != 0) { /* trailing bits must be zero: one encoding per byte string */
        idd_wipe(out, n);
        return IDD_EINVAL;
    }
    *outlen = n;
    return 0;
}

/* ---- secrets ---- */

int idd_totp_secret_random(idd_totp_secret_t *out)
{
    memset(out, 0, sizeof(*out));
    if (RAND_bytes(out->bytes, IDD_TOTP_RANDOM_LEN) != 1)
        return IDD_ECRYPTO;
    out->len = IDD_TOTP_RANDOM_LEN;
    return 0;
}

int idd_totp_secret_docspace(int64_t salt, const char *machine_key, size_t keylen,
                             idd_totp_secret_t *out)
{
    char num[24];
    unsigned char digest[SHA256_DIGEST_LENGTH];
    char b64[IDD_B64_LEN(SHA256_DIGEST_LENGTH) + 1];
    char b64url[IDD_B64URL_LEN(sizeof(b64) - 1) + 1];
    int rc = IDD_ECRYPTO;

    memset(out, 0, sizeof(*out));
    if (machine_key == NULL || keylen == 0)
        return IDD_EINVAL;
    int numlen = snprintf(num, sizeof(num), "%lld", (long long)salt);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int dlen = 0;
    if (ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) &&
        EVP_DigestUpdate(ctx, num, (size_t)numlen) && EVP_DigestUpdate(ctx, machine_key, keylen) &&
        EVP_DigestFinal_ex(ctx, digest, &dlen) && dlen == sizeof(digest)) {
        /* base64 (padded, standard alphabet), then base64url of those ASCII characters. */
        size_t n = idd_b64_encode(b64, digest, sizeof(digest));
        idd_b64url_encode(b64url, b64, n);
        memcpy(out->bytes, b64url, IDD_TOTP_DOCSPACE_LEN);
        out->len = IDD_TOTP_DOCSPACE_LEN;
        rc = 0;
    }
    EVP_MD_CTX_free(ctx);
    idd_wipe(digest, sizeof(digest));
    idd_wipe(b64, sizeof(b64));
    idd_wipe(b64url, sizeof(b64url));
    return rc;
}

/* ---- sealed records ---- */

#define SEAL_LABEL "tfa-seal:"
#define NONCE_LEN 12
#define TAG_LEN 16
#define USER_ID_MAX 64
#define SEALED_MAX (NONCE_LEN + IDD_TFA_PLAIN_MAX + TAG_LEN)

/* The associated data: the record's version, its kind and the user it belongs to. */
static size_t seal_aad(idd_tfa_seal_kind_t kind, const char *user_id, size_t uidlen,
                       unsigned char aad[8 + USER_ID_MAX])
{
    memcpy(aad, "tfa1:", 5);
    aad[5] = (unsigned char)('0' + (int)kind);
    aad[6] = ':';
    memcpy(aad + 7, user_id, uidlen);
    return 7 + uidlen;
}

static bool seal_args_ok(const idd_pepper_t *pepper, idd_tfa_seal_kind_t kind, const char *user_id,
                         size_t *uidlen)
{
    if (pepper == NULL || pepper->len == 0 || user_id == NULL ||
        (kind != IDD_TFA_SEAL_SECRET && kind != IDD_TFA_SEAL_CODES))
        return false;
    *uidlen = strnlen(user_id, USER_ID_MAX + 1);
    return *uidlen > 0 && *uidlen <= USER_ID_MAX;
}

/* AES-256-GCM one way or the other over in[0..len) into out; tag is written when sealing
 * and checked when opening. Returns 0, IDD_EDENIED (tag mismatch), IDD_ECRYPTO. */
static int gcm(bool seal, const unsigned char key[32], const unsigned char nonce[NONCE_LEN],
               const unsigned char *aad, size_t aadlen, const unsigned char *in, size_t len,
               unsigned char *out, unsigned char tag[TAG_LEN])
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n = 0, rc = IDD_ECRYPTO;
    int (*init)(EVP_CIPHER_CTX *, const EVP_CIPHER *, ENGINE *, const unsigned char *,
                const unsigned char *) = seal ? EVP_EncryptInit_ex : EVP_DecryptInit_ex;
    int (*update)(EVP_CIPHER_CTX *, unsigned char *, int *, const unsigned char *, int) =
        seal ? EVP_EncryptUpdate : EVP_DecryptUpdate;

    if (ctx == NULL || !init(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) ||
        !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) ||
        !init(ctx, NULL, NULL, key, nonce) || !update(ctx, NULL, &n, aad, (int)aadlen) ||
        !update(ctx, out, &n, in, (int)len))
        goto done;
    if (seal) {
        if (EVP_EncryptFinal_ex(ctx, out + n, &n) &&
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag))
            rc = 0;
    } else {
        if (!EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag))
            goto done;
        rc = EVP_DecryptFinal_ex(ctx, out + n, &n) > 0 ? 0 : IDD_EDENIED;
    }
done:
    EVP_CIPHER_CTX_free(ctx);
    return rc;
}

int idd_tfa_seal(const idd_pepper_t *pepper, idd_tfa_seal_kind_t kind, const char *user_id,
                 const void *plain, size_t len, char *out, size_t outsize)
{
    unsigned char key[IDD_SESSION_DIGEST_LEN], aad[8 + USER_ID_MAX], sealed[SEALED_MAX];
    size_t uidlen = 0, prefix = sizeof(IDD_TFA_RECORD_PREFIX) - 1;
    int rc;

    if (out != NULL && outsize > 0)
        out[0] = '\0';
    if (!seal_args_ok(pepper, kind, user_id, &uidlen) || plain == NULL || len == 0 ||
        len > IDD_TFA_PLAIN_MAX || out == NULL ||
        outsize < prefix + IDD_B64URL_LEN(NONCE_LEN + len + TAG_LEN) + 1)
        return IDD_EINVAL;
    rc = idd_keyed_digest(pepper, SEAL_LABEL, NULL, 0, key);
    if (rc == 0 && RAND_bytes(sealed, NONCE_LEN) != 1)
        rc = IDD_ECRYPTO;
    if (rc == 0)
        rc = gcm(true, key, sealed, aad, seal_aad(kind, user_id, uidlen, aad), plain, len,
                 sealed + NONCE_LEN, sealed + NONCE_LEN + len);
    if (rc == 0) {
        memcpy(out, IDD_TFA_RECORD_PREFIX, prefix);
        idd_b64url_encode(out + prefix, sealed, NONCE_LEN + len + TAG_LEN);
    }
    idd_wipe(key, sizeof(key));
    return rc;
}

int idd_tfa_open(const idd_pepper_t *pepper, idd_tfa_seal_kind_t kind, const char *user_id,
                 const char *record, unsigned char *out, size_t outsize, size_t *outlen)
{
    unsigned char key[IDD_SESSION_DIGEST_LEN], aad[8 + USER_ID_MAX];
    unsigned char sealed[IDD_B64_DECODED_MAX(IDD_TFA_RECORD_MAX)];
    size_t uidlen = 0, prefix = sizeof(IDD_TFA_RECORD_PREFIX) - 1, n = 0;
    int rc;

    *outlen = 0;
    if (!seal_args_ok(pepper, kind, user_id, &uidlen) || record == NULL || out == NULL ||
        outsize < IDD_TFA_PLAIN_MAX)
        return IDD_EINVAL;
    size_t reclen = strnlen(record, IDD_TFA_RECORD_MAX);
    if (reclen >= IDD_TFA_RECORD_MAX || reclen <= prefix ||
        memcmp(record, IDD_TFA_RECORD_PREFIX, prefix) != 0 ||
        idd_b64url_decode(sealed, &n, record + prefix, reclen - prefix) != 0 ||
        n <= NONCE_LEN + TAG_LEN || n > SEALED_MAX)
        return IDD_EINVAL;
    size_t len = n - NONCE_LEN - TAG_LEN;
    rc = idd_keyed_digest(pepper, SEAL_LABEL, NULL, 0, key);
    if (rc == 0)
        rc = gcm(false, key, sealed, aad, seal_aad(kind, user_id, uidlen, aad), sealed + NONCE_LEN,
                 len, out, sealed + NONCE_LEN + len);
    idd_wipe(key, sizeof(key));
    if (rc != 0) {
        idd_wipe(out, outsize);
        return rc;
    }
    *outlen = len;
    return 0;
}

int idd_tfa_seal_secret(const idd_pepper_t *pepper, const char *user_id,
                        const idd_totp_secret_t *secret, char *out, size_t outsize)
{
    if (!secret_ok(secret))
        return IDD_EINVAL;
    return idd_tfa_seal(pepper, IDD_TFA_SEAL_SECRET, user_id, secret->bytes, secret->len, out,
                        outsize);
}

int idd_tfa_open_secret(const idd_pepper_t *pepper, const char *user_id, const char *record,
                        idd_totp_secret_t *out)
{
    memset(out, 0, sizeof(*out));
    size_t len = 0;
    int rc = idd_tfa_open(pepper, IDD_TFA_SEAL_SECRET, user_id, record, out->bytes,
                          sizeof(out->bytes), &len);
    if (rc == 0)
        out->len = len;
    return rc;
}

/* ---- backup codes ---- */

/* Plaintext of a set: for each code its 6 characters, then '0' (unused) or '1' (used). */
#define CODES_PLAIN_LEN (IDD_TFA_CODE_COUNT * (IDD_TFA_CODE_LEN + 1))

static bool in_alphabet(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

int idd_tfa_codes_new(idd_tfa_codes_t *out)
{
    static const char alphabet[] = IDD_TFA_CODE_ALPHABET;
    _Static_assert(sizeof(alphabet) - 1 == 64, "a byte mod 64 must pick every symbol evenly");
    unsigned char rnd[IDD_TFA_CODE_LEN];

    memset(out, 0, sizeof(*out));
    for (int i = 0; i < IDD_TFA_CODE_COUNT; i++) {
        bool again;
        do {
            if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
                idd_wipe(rnd, sizeof(rnd));
                idd_wipe(out, sizeof(*out));
                return IDD_ECRYPTO;
            }
            for (int j = 0; j < IDD_TFA_CODE_LEN; j++)
                out->code[i][j] = alphabet[rnd[j] & 63];
            again = false; /* distinct codes, so that one use never spends two */
            for (int k = 0; k < i; k++)
                if (memcmp(out->code[k], out->code[i], IDD_TFA_CODE_LEN) == 0)
                    again = true;
        } while (again);
    }
    idd_wipe(rnd, sizeof(rnd));
    return 0;
}

int idd_tfa_codes_use(idd_tfa_codes_t *codes, const char *input, size_t len)
{
    if (codes == NULL || input == NULL)
        return IDD_EINVAL;
    input = trim(input, &len);
    if (len != IDD_TFA_CODE_LEN)
        return IDD_EINVAL;
    for (size_t i = 0; i < len; i++)
        if (!in_alphabet(input[i]))
            return IDD_EINVAL;
    int found = -1;
    for (int i = 0; i < IDD_TFA_CODE_COUNT; i++) {
        int eq = idd_ct_equal(codes->code[i], input, IDD_TFA_CODE_LEN);
        if (eq && !codes->used[i] && found < 0)
            found = i;
    }
    if (found < 0)
        return IDD_EDENIED;
    codes->used[found] = true;
    return found;
}

int idd_tfa_seal_codes(const idd_pepper_t *pepper, const char *user_id,
                       const idd_tfa_codes_t *codes, char *out, size_t outsize)
{
    char plain[CODES_PLAIN_LEN];
    for (int i = 0; i < IDD_TFA_CODE_COUNT; i++) {
        memcpy(plain + i * (IDD_TFA_CODE_LEN + 1), codes->code[i], IDD_TFA_CODE_LEN);
        plain[i * (IDD_TFA_CODE_LEN + 1) + IDD_TFA_CODE_LEN] = codes->used[i] ? '1' : '0';
    }
    int rc = idd_tfa_seal(pepper, IDD_TFA_SEAL_CODES, user_id, plain, sizeof(plain), out, outsize);
    idd_wipe(plain, sizeof(plain));
    return rc;
}

int idd_tfa_open_codes(const idd_pepper_t *pepper, const char *user_id, const char *record,
                       idd_tfa_codes_t *out)
{
    unsigned char plain[IDD_TFA_PLAIN_MAX];
    size_t len = 0;

    memset(out, 0, sizeof(*out));
    int rc = idd_tfa_open(pepper, IDD_TFA_SEAL_CODES, user_id, record, plain, sizeof(plain), &len);
    if (rc == 0 && len != CODES_PLAIN_LEN)
        rc = IDD_EINVAL;
    for (int i = 0; rc == 0 && i < IDD_TFA_CODE_COUNT; i++) {
        const unsigned char *p = plain + i * (IDD_TFA_CODE_LEN + 1);
        for (int j = 0; j < IDD_TFA_CODE_LEN; j++)
            if (!in_alphabet((char)p[j]))
                rc = IDD_EINVAL;
        if (p[IDD_TFA_CODE_LEN] != '0' && p[IDD_TFA_CODE_LEN] != '1')
            rc = IDD_EINVAL;
        memcpy(out->code[i], p, IDD_TFA_CODE_LEN);
        out->used[i] = p[IDD_TFA_CODE_LEN] == '1';
    }
    idd_wipe(plain, sizeof(plain));
    if (rc != 0)
        idd_wipe(out, sizeof(*out));
    return rc;
}
