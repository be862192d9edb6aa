/*
 * Reading UTF-8 one character at a time, strictly (RFC 3629): no overlong forms, no
 * surrogates, nothing above U+10FFFF. For text a client or an administrator chose that will
 * be stored, checked by character or shown on a terminal.
 */
#ifndef IDENTITYD_UTF8_H
#define IDENTITYD_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The length (1 to 4) of the well-formed UTF-8 sequence at the start of s[0..len), with its
 * code point in *cp; 0 when s does not start one (len 0, a stray continuation byte, a sequence
 * cut short, an overlong form, a surrogate, or a code point past U+10FFFF). A NUL byte is
 * U+0000, one byte long. */
size_t idd_utf8_decode(const char *s, size_t len, uint32_t *cp);

/* Whether cp is a control character: C0 (U+0000 to U+001F), DEL (U+007F) or C1 (U+0080 to
 * U+009F). Terminals obey all three kinds, so none belongs in text that is shown to people. */
bool idd_utf8_is_control(uint32_t cp);

/* Whether s[0..len) is well-formed UTF-8 without any control character: what a name or an
 * address an administrator types may hold. */
bool idd_utf8_is_plain_text(const char *s, size_t len);

#endif
