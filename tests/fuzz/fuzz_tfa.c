/*
 * What a client sends for two-factor sign-in: a code typed (cred/totp.c, idd_totp_verify),
 * a backup code (idd_tfa_codes_use), the confirm header's parameters and type (auth/tfa.c,
 * idd_tfa_confirm_param, idd_tfa_confirm_type), and base32 (idd_base32_decode: a secret's
 * text form).
 *
 * Input: a selector byte (which one), then the value.
 *
 * Promises checked: a code accepted is 6 digits once trimmed and matches a step in the
 * window after the last accepted one; a backup code spends exactly one unused code, once; a
 * parameter found lies within the header; a confirm type is one of the two canonical names;
 * base32 accepted re-encodes to exactly its input.
 */
#include <string.h>

#include "identityd/auth/tfa.h"
#include "identityd/cred/totp.h"

#include "fuzz.h"

#define STEP 60000000 /* a fixed "now" */

static void totp(const char *in, size_t len)
{
    static const idd_totp_secret_t secret = {.bytes = "12345678901234567890", .len = 20};
    int64_t matched = -7;
    int rc = idd_totp_verify(&secret, in, len, STEP, 1, STEP - 1, &matched);
    if (rc != 0)
        return;
    FUZZ_CHECK(matched >= STEP && matched <= STEP + 1);
    char code[IDD_TOTP_DIGITS + 1];
    FUZZ_CHECK(idd_totp_code(&secret, matched, code) == 0);
    FUZZ_CHECK(len >= IDD_TOTP_DIGITS && memmem(in, len, code, IDD_TOTP_DIGITS) != NULL);
}

static void backup(const char *in, size_t len)
{
    idd_tfa_codes_t codes = {
        .code = {"abcdef", "ABC123", "-_-_-_", "zzzzzz", "0a1b2c"},
        .used = {false, true, false, false, false},
    };
    int i = idd_tfa_codes_use(&codes, in, len);
    if (i < 0)
        return;
    FUZZ_CHECK(i < IDD_TFA_CODE_COUNT && i != 1 && codes.used[i]);
    FUZZ_CHECK(memmem(in, len, codes.code[i], IDD_TFA_CODE_LEN) != NULL);
    FUZZ_CHECK(idd_tfa_codes_use(&codes, in, len) < 0); /* once */
}

static void confirm(const char *in, size_t len)
{
    static const char *const names[] = {"type", "uid", "key", "k", ""};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        h2o_iovec_t v = idd_tfa_confirm_param(h2o_iovec_init(in, len), names[i]);
        FUZZ_CHECK(fuzz_within(v.base, v.len, in, len));
        if (v.base != NULL) {
            size_t n = strlen(names[i]);
            FUZZ_CHECK((size_t)(v.base - in) >= n + 1 && v.base[-1] == '=');
            FUZZ_CHECK(memcmp(v.base - 1 - n, names[i], n) == 0);
            FUZZ_CHECK(memchr(v.base, '&', v.len) == NULL);
        }
    }
    const char *type = idd_tfa_confirm_type(in, len);
    if (type != NULL)
        FUZZ_CHECK(strlen(type) == len && strncasecmp(type, in, len) == 0);
}

static void base32(const char *in, size_t len)
{
    unsigned char out[128];
    size_t n = 0;
    if (idd_base32_decode(out, sizeof(out), &n, in, len) != 0)
        return;
    FUZZ_CHECK(n <= sizeof(out));
    char again[IDD_BASE32_LEN(sizeof(out)) + 1];
    size_t m = idd_base32_encode(again, sizeof(again), out, n);
    FUZZ_CHECK(m == len && memcmp(again, in, len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *in = (const char *)data + 1;
    size_t len = size - 1;
    switch (data[0] & 3) {
    case 0:
        totp(in, len);
        break;
    case 1:
        backup(in, len);
        break;
    case 2:
        confirm(in, len);
        break;
    default:
        base32(in, len);
        break;
    }
    return 0;
}
