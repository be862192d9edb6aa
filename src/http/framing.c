/*
 * Request framing checks (include/identityd/http/framing.h says what h2o 2.2.5 passes on and
 * why each check reads what it reads).
 */
#include "identityd/http/framing.h"

#include <string.h>

#include "identityd/http/respond.h"

void idd_framing_init(void)
{
    /* hpack.c skips a field whose token says http2_should_reject when it is Host, and
     * refuses the others; Host is the only one whose bit is cleared, so it is kept as an
     * ordinary header instead. */
    H2O_TOKEN_HOST->http2_should_reject = 0;
}

static bool name_is(const char *name, size_t len, const char *lowercase, size_t lowercase_len)
{
    return len == lowercase_len && h2o_lcstris(name, len, lowercase, lowercase_len);
}

/* Content-Length = 1*DIGIT (RFC 9110 §8.6): no sign, no space inside, not empty. */
static bool is_decimal(const char *v, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++)
        if (v[i] < '0' || v[i] > '9')
            return false;
    return true;
}

const char *idd_framing_check_http1(const char *head, size_t len, bool http10)
{
    const char *p = head, *end = head + len;
    /* h2o's parser skips empty lines before the request line, as RFC 9112 §2.2 allows. */
    while (p < end && (*p == '\r' || *p == '\n'))
        p++;
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (nl == NULL)
        return "Malformed request head";
    p = nl + 1;

    unsigned hosts = 0, lengths = 0, encodings = 0;
    for (;;) {
        nl = memchr(p, '\n', (size_t)(end - p));
        if (nl == NULL)
            return "Malformed request head";
        const char *line_end = nl > p && nl[-1] == '\r' ? nl - 1 : nl;
        const char *line = p;
        p = nl + 1;
        if (line == line_end)
            break;
        /* A continuation line (obs-fold): h2o reads it as a field without a name, another
         * parser as part of the field above; RFC 9112 §5.2 lets a server refuse it. */
        if (*line == ' ' || *line == '\t')
            return "Folded header lines are not accepted";
        const char *colon = memchr(line, ':', (size_t)(line_end - line));
        if (colon == NULL)
            return "Malformed request head";
        size_t name_len = (size_t)(colon - line);
        const char *v = colon + 1, *v_end = line_end;
        while (v < v_end && (*v == ' ' || *v == '\t'))
            v++;
        while (v_end > v && (v_end[-1] == ' ' || v_end[-1] == '\t'))
            v_end--;
        size_t v_len = (size_t)(v_end - v);

        if (name_is(line, name_len, H2O_STRLIT("host"))) {
            /* RFC 9112 §3.2: more than one Host is answered 400, whether or not they agree. */
            if (++hosts > 1)
                return "More than one Host header";
        } else if (name_is(line, name_len, H2O_STRLIT("content-length"))) {
            if (!is_decimal(v, v_len))
                return "Invalid Content-Length";
            /* Refused even when equal (RFC 9110 §8.6 allows either): one length, one reading. */
            if (++lengths > 1)
                return "More than one Content-Length header";
        } else if (name_is(line, name_len, H2O_STRLIT("transfer-encoding"))) {
            /* h2o decodes chunked alone; a list or another coding would be read otherwise by
             * whoever forwarded it. */
            if (!h2o_lcstris(v, v_len, H2O_STRLIT("chunked")))
                return "Unsupported Transfer-Encoding";
            if (++encodings > 1)
                return "More than one Transfer-Encoding header";
        }
    }
    /* RFC 9112 §6.1, §6.3: both at once is the shape of request smuggling; HTTP/1.0 has no
     * Transfer-Encoding, so a 1.0 request with one has faulty framing. */
    if (encodings > 0 && lengths > 0)
        return "Transfer-Encoding and Content-Length together";
    if (encodings > 0 && http10)
        return "Transfer-Encoding in an HTTP/1.0 request";
    return NULL;
}

/* The request's raw HTTP/1 head as received: an HTTP/1 connection's input buffer starts with
 * the request being handled, since h2o consumes a request only once its response is done.
 * Returns false when req is not HTTP/1. */
static bool raw_http1_head(h2o_req_t *req, h2o_iovec_t *out)
{
    if (req->version >= 0x200)
        return false;
    h2o_socket_t *sock = req->conn->callbacks->get_socket(req->conn);
    if (sock == NULL || sock->input == NULL)
        return false;
    *out = h2o_iovec_init(sock->input->bytes, sock->input->size);
    return true;
}

/* Case-insensitive equality of two field values (h2o_lcstris wants one side lowercase). */
static bool equal_nocase(h2o_iovec_t a, h2o_iovec_t b)
{
    if (a.len != b.len)
        return false;
    for (size_t i = 0; i < a.len; i++)
        if (h2o_tolower(a.base[i]) != h2o_tolower(b.base[i]))
            return false;
    return true;
}

/* Whether head begins (after empty lines) with req's method and a space: that it is this
 * request's head, and not something h2o put there in a way this file does not know. */
static bool head_is_request(const h2o_req_t *req, h2o_iovec_t head)
{
    size_t i = 0;
    while (i < head.len && (head.base[i] == '\r' || head.base[i] == '\n'))
        i++;
    h2o_iovec_t m = req->input.method;
    return m.len > 0 && head.len - i > m.len && memcmp(head.base + i, m.base, m.len) == 0 &&
           head.base[i + m.len] == ' ';
}

const char *idd_framing_check(h2o_req_t *req)
{
    h2o_iovec_t head;
    if (raw_http1_head(req, &head)) {
        if (!head_is_request(req, head))
            return "Malformed request head";
        return idd_framing_check_http1(head.base, head.len, req->version == 0x100);
    }
    /* HTTP/2: DATA frames delimit the body (h2o resets a stream whose content-length
     * disagrees) and h2o refuses transfer-encoding; what is left is Host against :authority
     * (RFC 9113 §8.3.1). A Host equal to :authority, as an intermediary may keep, is fine. */
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_HOST, -1);
    if (i == -1)
        return NULL;
    if (h2o_find_header(&req->headers, H2O_TOKEN_HOST, i) != -1)
        return "More than one Host header";
    if (req->input.authority.base == NULL ||
        !equal_nocase(req->headers.entries[i].value, req->input.authority))
        return "Host disagrees with :authority";
    return NULL;
}

int idd_framing_refuse(h2o_req_t *req)
{
    const char *reason = idd_framing_check(req);
    if (reason == NULL)
        return 0;
    /* h2o answers "Connection: close" and closes once the response is written, before it
     * would parse anything after this request's head. */
    req->http1_is_persistent = 0;
    idd_respond_error(req, 400, reason);
    return 1;
}
