/*
 * Base64 and base64url (RFC 4648 §4 and §5). Encoding is table-driven and allocation-free
 * because it sits on the mint path; decoding is strict because every decoded value here is
 * a credential or a signature: a second spelling of the same bytes (padding in base64url,
 * non-zero trailing bits, whitespace) is refused instead of being guessed at.
 */
#include "identityd/core/b64.h"

#include <stdint.h>

#include "identityd/core/common.h"

static const char std_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* The value of an alphabet character, or -1. A switch over ranges instead of a 256-entry
 * table built at run time, so that no initialisation (and no threading question) exists. */
static int sextet(unsigned char c, int url)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (url) {
        if (c == '-')
            return 62;
        if (c == '_')
            return 63;
    } else {
        if (c == '+')
            return 62;
        if (c == '/')
            return 63;
    }
    return -1;
}

/* Writes the encoding of len bytes with the given alphabet; pads with '=' when asked. */
static size_t encode(char *out, const unsigned char *in, size_t len, const char *alphabet, int pad)
{
    char *p = out;
    size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8) | in[i + 2];
        *p++ = alphabet[(v >> 18) & 63];
        *p++ = alphabet[(v >> 12) & 63];
        *p++ = alphabet[(v >> 6) & 63];
        *p++ = alphabet[v & 63];
    }
    size_t rest = len - i;
    if (rest == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        *p++ = alphabet[(v >> 18) & 63];
        *p++ = alphabet[(v >> 12) & 63];
        if (pad) {
            *p++ = '=';
            *p++ = '=';
        }
    } else if (rest == 2) {
        uint32_t v = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8);
        *p++ = alphabet[(v >> 18) & 63];
        *p++ = alphabet[(v >> 12) & 63];
        *p++ = alphabet[(v >> 6) & 63];
        if (pad)
            *p++ = '=';
    }
    *p = '\0';
    return (size_t)(p - out);
}

/* Decodes len characters that carry no padding. A final group of 2 or 3 characters carries
 * 1 or 2 bytes; the bits it holds beyond those bytes must be zero, otherwise two different
 * strings would decode to the same bytes. */
static int decode(unsigned char *out, size_t *outlen, const char *in, size_t len, int url)
{
    if (len % 4 == 1)
        return IDD_EINVAL;
    unsigned char *p = out;
    size_t i = 0;
    for (; i + 4 <= len; i += 4) {
        int a = sextet((unsigned char)in[i], url);
        int b = sextet((unsigned char)in[i + 1], url);
        int c = sextet((unsigned char)in[i + 2], url);
        int d = sextet((unsigned char)in[i + 3], url);
        if ((a | b | c | d) < 0)
            return IDD_EINVAL;
        uint32_t v = ((uint32_t)a << 18) | ((uint32_t)b << 12) | ((uint32_t)c << 6) | (uint32_t)d;
        *p++ = (unsigned char)(v >> 16);
        *p++ = (unsigned char)(v >> 8);
        *p++ = (unsigned char)v;
    }
    size_t rest = len - i;
    if (rest == 2) {
        int a = sextet((unsigned char)in[i], url);
        int b = sextet((unsigned char)in[i + 1], url);
        if ((a | b) < 0 || (b & 15) != 0)
            return IDD_EINVAL;
        *p++ = (unsigned char)((a << 2) | (b >> 4));
    } else if (rest == 3) {
        int a = sextet((unsigned char)in[i], url);
        int b = sextet((unsigned char)in[i + 1], url);
        int c = sextet((unsigned char)in[i + 2], url);
        if ((a | b | c) < 0 || (c & 3) != 0)
            return IDD_EINVAL;
        *p++ = (unsigned char)((a << 2) | (b >> 4));
        *p++ = (unsigned char)(((b & 15) << 4) | (c >> 2));
    }
    *outlen = (size_t)(p - out);
    return 0;
}

size_t idd_b64url_encode(char *out, const void *in, size_t len)
{
    return encode(out, in, len, url_alphabet, 0);
}

int idd_b64url_decode(void *out, size_t *outlen, const char *in, size_t len)
{
    *outlen = 0;
    return decode(out, outlen, in, len, 1);
}

size_t idd_b64_encode(char *out, const void *in, size_t len)
{
    return encode(out, in, len, std_alphabet, 1);
}

int idd_b64_decode(void *out, size_t *outlen, const char *in, size_t len)
{
    *outlen = 0;
    if (len % 4 != 0)
        return IDD_EINVAL;
    /* Padding may only close the last group: strip at most two '=' there and decode the
     * rest unpadded; an '=' anywhere else is then an invalid character. */
    size_t body = len;
    if (body > 0 && in[body - 1] == '=')
        body--;
    if (body > 0 && in[body - 1] == '=')
        body--;
    if (len - body > 0 && body % 4 < 2)
        return IDD_EINVAL;
    return decode(out, outlen, in, body, 0);
}
