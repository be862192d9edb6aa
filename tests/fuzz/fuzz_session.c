/*
 * The session token and what a session keeps of its client (auth/session.c): the token's
 * shape (token_well_formed: 43 base64url characters, checked before any digest or lookup)
 * and the User-Agent copied into the session record (copy_printable: well-formed UTF-8
 * without control characters, cut to a whole character). Both are static and run on a
 * request, so this target compiles session.c into itself (it then defines every symbol
 * session.c does, and the library's copy is not linked) and calls them directly.
 *
 * Input: a selector byte (0: a token; else a User-Agent, with the byte as the copy's bound),
 * then the value.
 *
 * Promises checked: a token accepted is exactly IDD_SESSION_TOKEN_LEN base64url characters;
 * the copy is NUL-terminated within its bound, well-formed UTF-8 with no control character,
 * and no longer than the input.
 */
#include "auth/session.c"

#include "fuzz.h"

static void token(const char *s, size_t len)
{
    if (!token_well_formed(h2o_iovec_init(s, len)))
        return;
    FUZZ_CHECK(len == IDD_SESSION_TOKEN_LEN);
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        FUZZ_CHECK((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                   c == '-' || c == '_');
    }
}

static void user_agent(size_t max, const char *s, size_t len)
{
    char *out = malloc(max + 1); /* exactly what the bound allows: ASan sees one byte more */
    copy_printable(out, max, s, len);
    size_t n = strnlen(out, max + 1);
    FUZZ_CHECK(n <= max && n <= len);
    for (size_t i = 0; i < n;) {
        uint32_t cp = 0;
        size_t step = idd_utf8_decode(out + i, n - i, &cp);
        FUZZ_CHECK(step > 0 && !idd_utf8_is_control(cp));
        i += step;
    }
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *in = (const char *)data + 1;
    size_t len = size - 1;
    if (data[0] == 0)
        token(in, len);
    else
        user_agent(data[0], in, len);
    return 0;
}
