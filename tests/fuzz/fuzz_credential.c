/*
 * Credential classification (auth/auth.c, idd_auth_classify) and HTTP Basic's decoding
 * (auth/basic.c). idd_auth_basic itself hands the decoded login to the sign-in check on a
 * request, so this target runs its pure part: the size bound, the strict base64 decoder
 * (core/b64.c) and the split at the first colon.
 *
 * Input: a selector byte, then the bytes of one header value. Selector bit 0: the value is
 * the Authorization header; else the ApiKeyBearer header. Bit 1: a cookie value ("c") is
 * present too.
 *
 * Promises checked: the classified value lies within the header given; an API key value
 * starts with "sk-" when it came from "Bearer"; a JWT value is three base64url segments; a
 * strict decoder's output re-encodes to exactly its input (one spelling per byte string),
 * for base64 and base64url alike.
 */
#include <string.h>

#include "identityd/auth/auth.h"
#include "identityd/core/b64.h"

#include "fuzz.h"

#define BASIC_ENCODED_MAX 4096 /* auth/basic.c */

static void within(h2o_iovec_t v, const char *base, size_t len)
{
    FUZZ_CHECK(fuzz_within(v.base, v.len, base, len));
}

static void round_trip(const char *in, size_t len, bool url)
{
    unsigned char *out = malloc(IDD_B64_DECODED_MAX(len) + 1);
    size_t n = 0;
    int rc = url ? idd_b64url_decode(out, &n, in, len) : idd_b64_decode(out, &n, in, len);
    if (rc == 0) {
        FUZZ_CHECK(n <= IDD_B64_DECODED_MAX(len));
        char *again = malloc(IDD_B64_LEN(n) + 1);
        size_t m = url ? idd_b64url_encode(again, out, n) : idd_b64_encode(again, out, n);
        FUZZ_CHECK(m == len && memcmp(again, in, len) == 0);
        free(again);
    }
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned sel = data[0];
    const char *v = (const char *)data + 1;
    size_t vlen = size - 1;
    const char *cookie = (sel & 2) ? "c" : NULL;
    idd_credential_t c = (sel & 1) ? idd_auth_classify(v, vlen, NULL, 0, cookie, cookie ? 1 : 0)
                                   : idd_auth_classify(NULL, 0, v, vlen, cookie, cookie ? 1 : 0);
    if (c.from_cookie) {
        FUZZ_CHECK(c.kind == IDD_CRED_SESSION && c.value.base == cookie);
    } else {
        within(c.value, v, vlen);
        FUZZ_CHECK(c.kind != IDD_CRED_NONE || vlen == 0 || c.value.len == 0);
    }
    if (c.kind == IDD_CRED_JWT) {
        size_t dots = 0;
        for (size_t i = 0; i < c.value.len; i++)
            dots += c.value.base[i] == '.';
        FUZZ_CHECK(dots == 2);
    }
    if (c.kind == IDD_CRED_APIKEY && (sel & 1))
        FUZZ_CHECK(c.value.len >= 3 && memcmp(c.value.base, "sk-", 3) == 0);

    if (c.kind == IDD_CRED_BASIC && c.value.len > 0 && c.value.len <= BASIC_ENCODED_MAX) {
        char plain[IDD_B64_DECODED_MAX(BASIC_ENCODED_MAX) + 1];
        size_t plain_len = 0;
        if (idd_b64_decode(plain, &plain_len, c.value.base, c.value.len) == 0) {
            FUZZ_CHECK(plain_len <= IDD_B64_DECODED_MAX(c.value.len));
            plain[plain_len] = '\0';
            char *colon = memchr(plain, ':', plain_len);
            if (colon != NULL && memchr(plain, '\0', plain_len) == NULL)
                FUZZ_CHECK(strlen(plain) == plain_len && colon < plain + plain_len);
        }
    }
    /* The decoders themselves, on the whole value. */
    round_trip(v, vlen, false);
    round_trip(v, vlen, true);
    return 0;
}
