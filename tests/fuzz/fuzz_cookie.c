/*
 * The Cookie header parser (http/cookie.c, idd_cookie_find_in), which finds the session
 * cookie asc_auth_key in whatever a client sends.
 *
 * Input: a Cookie header value. The parser is asked for asc_auth_key and for a name taken
 * from the input's first pair, so that matches are found as well as misses.
 *
 * Promises checked: a value found lies within the header, has no space or tab at either
 * end unless it was quoted, and is preceded (before any quote and spaces) by "=" and the name asked
 * for.
 */
#include <stdbool.h>
#include <string.h>

#include "identityd/http/cookie.h"

#include "fuzz.h"

static void find(const char *header, size_t len, const char *name)
{
    h2o_iovec_t value = {NULL, 0};
    if (!idd_cookie_find_in(header, len, name, &value))
        return;
    FUZZ_CHECK(fuzz_within(value.base, value.len, header, len));
    /* A quoted value keeps what is inside its quotes, spaces included. */
    bool quoted = value.base > header && value.base[-1] == '"' &&
                  value.base + value.len < header + len && value.base[value.len] == '"';
    if (value.len > 0 && !quoted) {
        FUZZ_CHECK(value.base[0] != ' ' && value.base[0] != '\t');
        FUZZ_CHECK(value.base[value.len - 1] != ' ' && value.base[value.len - 1] != '\t');
    }
    const char *p = value.base;
    while (p > header && (p[-1] == ' ' || p[-1] == '\t' || p[-1] == '"'))
        p--;
    FUZZ_CHECK(p > header && p[-1] == '=');
    size_t nlen = strlen(name);
    const char *eq = p - 1;
    const char *k = eq;
    while (k > header && k[-1] == ' ')
        k--;
    FUZZ_CHECK((size_t)(k - header) >= nlen && memcmp(k - nlen, name, nlen) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *h = (const char *)data;
    find(h, size, "asc_auth_key");
    /* The first pair's name, as a client might address it. */
    size_t i = 0;
    while (i < size && (h[i] == ' ' || h[i] == '\t' || h[i] == ';'))
        i++;
    size_t start = i;
    while (i < size && h[i] != '=' && h[i] != ';' && h[i] != '\0' && i - start < 64)
        i++;
    if (i > start && i < size && h[i] == '=') {
        char name[65];
        memcpy(name, h + start, i - start);
        name[i - start] = '\0';
        size_t n = i - start;
        while (n > 0 && name[n - 1] == ' ')
            name[--n] = '\0';
        if (n > 0)
            find(h, size, name);
    }
    return 0;
}
