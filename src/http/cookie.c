/*
 * Cookie lookup over "a=1; b=2" header values (RFC 6265 §5.4 order and syntax, leniently:
 * whitespace around pairs is skipped, a quoted value loses its quotes).
 */
#include "identityd/http/cookie.h"

#include <stdio.h>
#include <string.h>

#include "identityd/core/common.h"
#include "identityd/core/ct.h"

int idd_cookie_find_in(const char *header, size_t len, const char *name, h2o_iovec_t *value)
{
    size_t nlen = strlen(name);
    size_t i = 0;
    while (i < len) {
        while (i < len && (header[i] == ' ' || header[i] == '\t' || header[i] == ';'))
            i++;
        size_t pair_start = i;
        while (i < len && header[i] != ';')
            i++;
        size_t pair_end = i;
        const char *eq = memchr(header + pair_start, '=', pair_end - pair_start);
        if (eq == NULL)
            continue;
        size_t key_len = (size_t)(eq - (header + pair_start));
        while (key_len > 0 && (header[pair_start + key_len - 1] == ' '))
            key_len--;
        if (key_len != nlen || memcmp(header + pair_start, name, nlen) != 0)
            continue;
        const char *v = eq + 1;
        size_t vlen = (size_t)(header + pair_end - v);
        while (vlen > 0 && (*v == ' ' || *v == '\t')) {
            v++;
            vlen--;
        }
        while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
            vlen--;
        if (vlen >= 2 && v[0] == '"' && v[vlen - 1] == '"') {
            v++;
            vlen -= 2;
        }
        *value = h2o_iovec_init(v, vlen);
        return 1;
    }
    return 0;
}

int idd_cookie_find(h2o_req_t *req, const char *name, h2o_iovec_t *value)
{
    ssize_t i = -1;
    while ((i = h2o_find_header(&req->headers, H2O_TOKEN_COOKIE, i)) != -1) {
        const h2o_iovec_t *v = &req->headers.entries[i].value;
        if (idd_cookie_find_in(v->base, v->len, name, value))
            return 1;
    }
    return 0;
}

static void add_set_cookie(h2o_req_t *req, const char *value, size_t len)
{
    h2o_iovec_t v = h2o_strdup(&req->pool, value, len);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_SET_COOKIE, NULL, v.base, v.len);
}

void idd_cookie_set(h2o_req_t *req, const char *name, const char *value, int64_t expires,
                    bool secure)
{
    char line[256], date[30] = "";
    if (expires != 0)
        idd_format_http_date(expires, date);
    int n = snprintf(line, sizeof(line), "%s=%s; Path=/; HttpOnly; SameSite=Strict%s%s%s", name,
                     value, secure ? "; Secure" : "", expires ? "; Expires=" : "", date);
    if (n > 0 && (size_t)n < sizeof(line))
        add_set_cookie(req, line, (size_t)n);
    idd_wipe(line, sizeof(line));
}

void idd_cookie_clear(h2o_req_t *req, const char *name, bool secure)
{
    char line[192];
    int n = snprintf(line, sizeof(line),
                     "%s=; Path=/; HttpOnly; SameSite=Strict%s; Max-Age=0; Expires=Thu, 01 Jan "
                     "1970 00:00:00 GMT",
                     name, secure ? "; Secure" : "");
    if (n > 0 && (size_t)n < sizeof(line))
        add_set_cookie(req, line, (size_t)n);
}

void idd_cookie_set_session(h2o_req_t *req, const char *token, int64_t expires, bool secure)
{
    idd_cookie_set(req, IDD_SESSION_COOKIE, token, expires, secure);
}

void idd_cookie_clear_session(h2o_req_t *req, bool secure)
{
    idd_cookie_clear(req, IDD_SESSION_COOKIE, secure);
}
