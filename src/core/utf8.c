/*
 * Strict UTF-8 decoding (see utf8.h). The limits on the second byte of a sequence are what
 * rule out overlong forms (after E0 and F0), surrogates (after ED) and code points past
 * U+10FFFF (after F4), as in RFC 3629's table of well-formed byte sequences.
 */
#include "identityd/core/utf8.h"

size_t idd_utf8_decode(const char *s, size_t len, uint32_t *cp)
{
    const unsigned char *p = (const unsigned char *)s;
    unsigned char lo = 0x80, hi = 0xbf;
    size_t n;
    uint32_t c;

    if (len == 0)
        return 0;
    if (p[0] < 0x80) {
        *cp = p[0];
        return 1;
    }
    if (p[0] >= 0xc2 && p[0] <= 0xdf) {
        n = 2;
        c = p[0] & 0x1f;
    } else if (p[0] >= 0xe0 && p[0] <= 0xef) {
        n = 3;
        c = p[0] & 0x0f;
    } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        n = 4;
        c = p[0] & 0x07;
    } else {
        return 0;
    }
    if (len < n)
        return 0;
    if (p[0] == 0xe0)
        lo = 0xa0;
    else if (p[0] == 0xed)
        hi = 0x9f;
    else if (p[0] == 0xf0)
        lo = 0x90;
    else if (p[0] == 0xf4)
        hi = 0x8f;
    if (p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if (p[i] < 0x80 || p[i] > 0xbf)
            return 0;
        c = (c << 6) | (p[i] & 0x3f);
    }
    *cp = c;
    return n;
}

bool idd_utf8_is_control(uint32_t cp)
{
    return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f);
}

bool idd_utf8_is_plain_text(const char *s, size_t len)
{
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n = idd_utf8_decode(s + i, len - i, &cp);
        if (n == 0 || idd_utf8_is_control(cp))
            return false;
        i += n;
    }
    return true;
}
