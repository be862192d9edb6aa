/*
 * If-None-Match (RFC 9110, 13.1.2): a list of entity tags, or "*". The parser takes the
 * field as hostile text: it walks it once, bounded by its length, and any byte that is not
 * part of a well-formed list makes the whole field match nothing (the full document is then
 * sent, which is always a correct answer).
 */
#include "identityd/http/conditional.h"

#include <string.h>

#include "identityd/http/server.h"

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* etagc = %x21 / %x23-7E / obs-text */
static bool is_etagc(unsigned char c)
{
    return c == 0x21 || (c >= 0x23 && c != 0x7f);
}

bool idd_http_etag_match(const char *value, size_t len, const char *etag, size_t etag_len)
{
    size_t i = 0;
    bool matched = false;

    if (value == NULL || etag == NULL || etag_len < 2)
        return false;
    for (;;) {
        /* Empty list elements and the whitespace around them are allowed (RFC 9110, 5.6.1). */
        while (i < len && (is_ows(value[i]) || value[i] == ','))
            i++;
        if (i == len)
            return matched;
        if (value[i] == '*') {
            i++;
            matched = true;
        } else {
            if (len - i >= 2 && value[i] == 'W' && value[i + 1] == '/')
                i += 2;
            if (i == len || value[i] != '"')
                return false;
            size_t start = i++;
            while (i < len && value[i] != '"') {
                if (!is_etagc((unsigned char)value[i]))
                    return false;
                i++;
            }
            if (i == len)
                return false; /* no closing quote */
            i++;
            if (i - start == etag_len && memcmp(value + start, etag, etag_len) == 0)
                matched = true;
        }
        while (i < len && is_ows(value[i]))
            i++;
        if (i < len && value[i] != ',')
            return false;
    }
}

bool idd_http_if_none_match(h2o_req_t *req, const char *etag, size_t etag_len)
{
    const h2o_token_t *name = H2O_TOKEN_IF_NONE_MATCH;
    for (ssize_t at = -1; (at = h2o_find_header(&req->headers, name, at)) != -1;) {
        const h2o_iovec_t *v = &req->headers.entries[at].value;
        if (idd_http_etag_match(v->base, v->len, etag, etag_len))
            return true;
    }
    return false;
}

void idd_http_cacheable(h2o_req_t *req, int max_age, const char *etag, size_t etag_len)
{
    static const char prefix[] = "public, max-age=";
    char digits[16];
    size_t n = 0;
    unsigned v = max_age > 0 ? (unsigned)max_age : 0;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0 && n < sizeof(digits));
    char *cc = h2o_mem_alloc_pool(&req->pool, sizeof(prefix) - 1 + n);
    memcpy(cc, prefix, sizeof(prefix) - 1);
    for (size_t i = 0; i < n; i++)
        cc[sizeof(prefix) - 1 + i] = digits[n - 1 - i];
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, cc,
                   sizeof(prefix) - 1 + n);
    if (etag != NULL)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ETAG, NULL, etag, etag_len);
}

void idd_http_not_modified(h2o_req_t *req)
{
    req->res.status = 304;
    req->res.reason = "Not Modified";
    /* While stopping, an HTTP/1 connection ends with its response instead of idling. */
    if (idd_http_stopping())
        req->http1_is_persistent = 0;
    /* No Content-Length and no chunked framing: a 304 never has a body (RFC 9110, 15.4.5). */
    h2o_send_inline(req, NULL, 0);
}
