/*
 * Growable buffer and escaping JSON writer (see buf.h for why not json_dumps).
 */
#include "identityd/core/buf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "identityd/core/common.h"
#include "identityd/core/ct.h"

void idd_buf_init(idd_buf_t *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void idd_buf_dispose(idd_buf_t *b)
{
    free(b->data);
    idd_buf_init(b);
}

void idd_buf_dispose_secret(idd_buf_t *b)
{
    idd_wipe(b->data, b->cap);
    idd_buf_dispose(b);
}

void idd_buf_reset(idd_buf_t *b)
{
    b->len = 0;
    if (b->data != NULL)
        b->data[0] = '\0';
}

/* The capacity that holds need bytes: doubling from 256. */
static size_t grown(const idd_buf_t *b, size_t need)
{
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    return cap;
}

void idd_buf_reserve(idd_buf_t *b, size_t extra)
{
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return;
    size_t cap = grown(b, need);
    b->data = idd_xrealloc(b->data, cap);
    b->cap = cap;
}

void idd_buf_reserve_wiped(idd_buf_t *b, size_t extra)
{
    if (extra > SIZE_MAX - b->len - 1)
        abort();
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return;
    size_t cap = grown(b, need);
    char *data = idd_xmalloc(cap);
    if (b->data != NULL) {
        memcpy(data, b->data, b->len + 1);
        idd_wipe(b->data, b->cap);
        free(b->data);
    } else {
        data[0] = '\0';
    }
    b->data = data;
    b->cap = cap;
}

void idd_buf_append(idd_buf_t *b, const void *data, size_t len)
{
    idd_buf_reserve(b, len);
    if (len > 0)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
}

void idd_buf_puts(idd_buf_t *b, const char *s)
{
    idd_buf_append(b, s, strlen(s));
}

void idd_buf_putc(idd_buf_t *b, char c)
{
    idd_buf_reserve(b, 1);
    b->data[b->len++] = c;
    b->data[b->len] = '\0';
}

void idd_buf_vprintf(idd_buf_t *b, const char *fmt, va_list ap)
{
    va_list copy;
    va_copy(copy, ap);
    int n = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    if (n < 0)
        return;
    idd_buf_reserve(b, (size_t)n);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

void idd_buf_printf(idd_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    idd_buf_vprintf(b, fmt, ap);
    va_end(ap);
}

/* Writes s escaped for a JSON string, without the quotes, at p (room for len * 6 bytes);
 * returns the end. */
static char *json_escape(char *p, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        /* Most text needs no escape: copy each run of such bytes at once. */
        size_t run = i;
        while (run < len && (unsigned char)s[run] >= 0x20 && s[run] != '"' && s[run] != '\\')
            run++;
        if (run > i) {
            memcpy(p, s + i, run - i);
            p += run - i;
            i = run;
            if (i == len)
                break;
        }
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"':
            *p++ = '\\';
            *p++ = '"';
            break;
        case '\\':
            *p++ = '\\';
            *p++ = '\\';
            break;
        case '\b':
            *p++ = '\\';
            *p++ = 'b';
            break;
        case '\f':
            *p++ = '\\';
            *p++ = 'f';
            break;
        case '\n':
            *p++ = '\\';
            *p++ = 'n';
            break;
        case '\r':
            *p++ = '\\';
            *p++ = 'r';
            break;
        case '\t':
            *p++ = '\\';
            *p++ = 't';
            break;
        default:
            if (c < 0x20) {
                *p++ = '\\';
                *p++ = 'u';
                *p++ = '0';
                *p++ = '0';
                *p++ = hex[c >> 4];
                *p++ = hex[c & 15];
            } else {
                *p++ = (char)c;
            }
        }
    }
    return p;
}

void idd_buf_json_str(idd_buf_t *b, const char *s, size_t len)
{
    /* Worst case every byte becomes \u00XX: reserve once, then write without checks. */
    idd_buf_reserve(b, len * 6 + 2);
    char *p = b->data + b->len;
    *p++ = '"';
    p = json_escape(p, s, len);
    *p++ = '"';
    b->len = (size_t)(p - b->data);
    b->data[b->len] = '\0';
}

void idd_buf_json_str2(idd_buf_t *b, const char *s1, size_t len1, const char *s2, size_t len2)
{
    idd_buf_reserve(b, (len1 + len2) * 6 + 2);
    char *p = b->data + b->len;
    *p++ = '"';
    p = json_escape(p, s1, len1);
    p = json_escape(p, s2, len2);
    *p++ = '"';
    b->len = (size_t)(p - b->data);
    b->data[b->len] = '\0';
}

/* Decimal digits written backwards from the end of a small array: the token path writes
 * several integers per response, and snprintf's format parsing was most of their cost. */
void idd_buf_json_int(idd_buf_t *b, int64_t v)
{
    char tmp[24];
    char *end = tmp + sizeof(tmp), *p = end;
    /* The magnitude as unsigned, so that INT64_MIN needs no special case. */
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0)
        *--p = '-';
    idd_buf_append(b, p, (size_t)(end - p));
}
