/*
 * A growable byte buffer and the small JSON writer built on it. identityd writes every JSON
 * document it sends (claims, envelopes, JWKS) with these functions instead of jansson's
 * json_dumps, which costs about 15 times more per token. The writer only escapes; callers
 * lay out the document.
 */
#ifndef IDENTITYD_BUF_H
#define IDENTITYD_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

typedef struct idd_buf {
    char *data; /* NUL-terminated after every append; owned by the buffer */
    size_t len; /* bytes used, excluding the NUL */
    size_t cap; /* bytes allocated */
} idd_buf_t;

/* Prepares an empty buffer (no allocation). */
void idd_buf_init(idd_buf_t *b);

/* Frees the storage; the buffer is empty and reusable afterwards. */
void idd_buf_dispose(idd_buf_t *b);

/* Like idd_buf_dispose but wipes the bytes first: for buffers that held secrets. */
void idd_buf_dispose_secret(idd_buf_t *b);

/* Empties the buffer, keeping its storage. */
void idd_buf_reset(idd_buf_t *b);

/* Makes room for at least extra more bytes (plus the NUL). Aborts on out-of-memory. */
void idd_buf_reserve(idd_buf_t *b, size_t extra);

/* The same for a buffer holding a secret: when the storage must move, the old storage is
 * wiped before it is freed, so no stale copy stays in the heap. */
void idd_buf_reserve_wiped(idd_buf_t *b, size_t extra);

/* Appends bytes / a C string / one character / formatted text. */
void idd_buf_append(idd_buf_t *b, const void *data, size_t len);
void idd_buf_puts(idd_buf_t *b, const char *s);
void idd_buf_putc(idd_buf_t *b, char c);
void idd_buf_printf(idd_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void idd_buf_vprintf(idd_buf_t *b, const char *fmt, va_list ap);

/* Appends s[0..len) as a quoted JSON string: '"' and '\\' escaped, control characters as
 * \b \f \n \r \t or \u00XX, DEL and bytes >= 0x80 copied as they are (UTF-8 passes through
 * unchanged). */
void idd_buf_json_str(idd_buf_t *b, const char *s, size_t len);
/* One JSON string of s1 followed by s2 (escaped as idd_buf_json_str), without joining them
 * first. */
void idd_buf_json_str2(idd_buf_t *b, const char *s1, size_t len1, const char *s2, size_t len2);

/* Appends a decimal integer. */
void idd_buf_json_int(idd_buf_t *b, int64_t v);

#endif
