/*
 * Writing responses: the DocSpace envelopes, JSON bodies with an explicit Content-Length
 * (h2o_send_inline alone would answer chunked), and common headers.
 */
#include "identityd/http/respond.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "identityd/core/buf.h"
#include "identityd/core/ct.h"
#include "identityd/http/server.h"

const char *idd_status_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 413:
        return "Payload Too Large";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    }
    return "Unknown";
}

void idd_respond_header(h2o_req_t *req, const char *name, const char *value)
{
    size_t nlen = strlen(name);
    h2o_iovec_t v = h2o_strdup(&req->pool, value, SIZE_MAX);
    const h2o_token_t *token = h2o_lookup_token(name, nlen);
    if (token != NULL)
        h2o_add_header(&req->pool, &req->res.headers, token, NULL, v.base, v.len);
    else
        h2o_add_header_by_str(&req->pool, &req->res.headers, name, nlen, 0, NULL, v.base, v.len);
}

void idd_respond_body(h2o_req_t *req, int status, const char *content_type, const char *body,
                      size_t len)
{
    req->res.status = status;
    req->res.reason = idd_status_reason(status);
    /* While stopping, an HTTP/1 connection ends with its response instead of idling. */
    if (idd_http_stopping())
        req->http1_is_persistent = 0;
    req->res.content_length = len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, content_type,
                   strlen(content_type));
    if (h2o_find_header(&req->res.headers, H2O_TOKEN_CACHE_CONTROL, -1) == -1)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                       H2O_STRLIT("no-store"));
    /* Every 503 is worth a retry (a full queue, a database out of reach): one that names no
     * time of its own says a second. */
    if (status == 503 && h2o_find_header(&req->res.headers, H2O_TOKEN_RETRY_AFTER, -1) == -1)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL, H2O_STRLIT("1"));
    h2o_send_inline(req, body, len);
}

void idd_respond_json(h2o_req_t *req, int status, const char *body, size_t len)
{
    idd_respond_body(req, status, "application/json; charset=utf-8", body, len);
}

/* The value of ?fields= (the last one), or {NULL, 0}. */
static h2o_iovec_t fields_param(const h2o_req_t *req)
{
    h2o_iovec_t found = {NULL, 0};
    if (req->query_at == SIZE_MAX)
        return found;
    const char *q = req->path.base + req->query_at + 1, *end = req->path.base + req->path.len;
    while (q < end) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        const char *stop = amp ? amp : end;
        if (stop - q >= 7 && memcmp(q, "fields=", 7) == 0)
            found = h2o_iovec_init(q + 7, (size_t)(stop - q - 7));
        q = stop + 1;
    }
    return found;
}

/* Whether key is one of the comma-separated names of fields (case-insensitive, as DocSpace
 * matches them; %2C taken as a comma). */
static bool field_wanted(h2o_iovec_t fields, const char *key)
{
    size_t n = strlen(key);
    const char *p = fields.base, *end = fields.base + fields.len;
    while (p <= end) {
        const char *stop = p;
        size_t sep = 0;
        for (; stop < end; stop++) {
            if (*stop == ',') {
                sep = 1;
                break;
            }
            if (end - stop >= 3 && stop[0] == '%' && stop[1] == '2' &&
                (stop[2] == 'C' || stop[2] == 'c')) {
                sep = 3;
                break;
            }
        }
        if ((size_t)(stop - p) == n && strncasecmp(p, key, n) == 0)
            return true;
        if (sep == 0)
            break;
        p = stop + sep;
    }
    return false;
}

static void trim_object(json_t *o, h2o_iovec_t fields)
{
    const char *key;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(o, tmp, key, v)
    {
        (void)v;
        if (!field_wanted(fields, key))
            json_object_del(o, key);
    }
}

/* ?fields=a,b keeps only those members of the response (of each element of a list): DocSpace's
 * serialisation rule for every endpoint. Returns the trimmed JSON (malloc'd) or NULL to send
 * the response as it is. */
static char *trimmed(const h2o_req_t *req, const char *response_json, size_t len)
{
    h2o_iovec_t fields = fields_param(req);
    if (fields.base == NULL || fields.len == 0 || response_json == NULL)
        return NULL;
    json_t *doc = json_loadb(response_json, len, 0, NULL);
    if (doc == NULL)
        return NULL;
    if (json_is_object(doc)) {
        trim_object(doc, fields);
    } else if (json_is_array(doc)) {
        size_t i;
        json_t *e;
        json_array_foreach(doc, i, e)
        {
            if (json_is_object(e))
                trim_object(e, fields);
        }
    }
    char *out = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
    json_decref(doc);
    return out;
}

void idd_respond_envelope(h2o_req_t *req, h2o_iovec_t origin, int status, const char *response_json,
                          size_t len, long count)
{
    char *trim = trimmed(req, response_json, len);
    if (trim != NULL) {
        response_json = trim;
        len = strlen(trim);
    }
    idd_buf_t b;
    idd_buf_init(&b);
    idd_buf_reserve(&b, len + 256 + req->path.len);
    /* A null result has no "response" at all (DocSpace leaves null properties out). */
    if (response_json != NULL) {
        idd_buf_puts(&b, "{\"response\":");
        idd_buf_append(&b, response_json, len);
        idd_buf_puts(&b, ",\"count\":");
    } else {
        idd_buf_puts(&b, "{\"count\":");
    }
    idd_buf_json_int(&b, count);
    idd_buf_puts(&b, ",\"links\":[{\"href\":");
    /* The full URL the client asked for, as the client addressed us. */
    idd_buf_json_str2(&b, origin.base, origin.len, req->path.base, req->path.len);
    idd_buf_puts(&b, ",\"action\":");
    idd_buf_json_str(&b, req->method.base, req->method.len);
    idd_buf_puts(&b, "}],\"status\":0,\"statusCode\":");
    idd_buf_json_int(&b, status);
    idd_buf_putc(&b, '}');
    idd_respond_json(req, status, b.data, b.len);
    idd_buf_dispose(&b);
    if (trim != NULL) {
        idd_wipe(trim, strlen(trim));
        free(trim);
    }
}

void idd_respond_bool(h2o_req_t *req, h2o_iovec_t origin, bool value)
{
    if (value)
        idd_respond_envelope(req, origin, 200, "true", 4, 1);
    else
        idd_respond_envelope(req, origin, 200, "false", 5, 1);
}

void idd_respond_string(h2o_req_t *req, h2o_iovec_t origin, const char *value)
{
    idd_buf_t b;
    idd_buf_init(&b);
    idd_buf_json_str(&b, value, strlen(value));
    idd_respond_envelope(req, origin, 200, b.data, b.len, 1);
    idd_buf_dispose(&b);
}

void idd_respond_error(h2o_req_t *req, int status, const char *message)
{
    idd_buf_t b;
    idd_buf_init(&b);
    idd_buf_puts(&b, "{\"error\":{\"message\":");
    idd_buf_json_str(&b, message, strlen(message));
    idd_buf_puts(&b, "},\"status\":1,\"statusCode\":");
    idd_buf_json_int(&b, status);
    idd_buf_putc(&b, '}');
    idd_respond_json(req, status, b.data, b.len);
    idd_buf_dispose(&b);
}
