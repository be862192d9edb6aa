/*
 * Where a request comes from (app/request.c): the Host / :authority / X-Forwarded-Host
 * check (split_authority), the last element of a forwarding header (last_element), one
 * X-Forwarded-For hop (parse_hop) and ?origin= (query_origin). They are static and
 * idd_request_resolve needs a whole generation and connection around them, so this target
 * compiles request.c into itself (it then defines every symbol request.c does, and the
 * library's copy is not linked) and calls them directly.
 *
 * Input: a selector byte (which parser), then the header value or query string.
 *
 * Promises checked: what each returns lies within its input; an accepted authority is
 * exactly host[:port] with the allowed characters and a port 1..65535; an accepted hop's
 * text is an address that parses back to the same bytes; a decoded origin is no longer
 * than its encoding.
 */
#include "app/request.c"

#include "fuzz.h"

static void within(h2o_iovec_t v, const char *base, size_t len)
{
    FUZZ_CHECK(fuzz_within(v.base, v.len, base, len));
}

static void authority(const char *s, size_t len)
{
    h2o_iovec_t host = {NULL, 0};
    unsigned port = 99999;
    if (split_authority(h2o_iovec_init(s, len), &host, &port) != 0)
        return;
    within(host, s, len);
    FUZZ_CHECK(host.len > 0 && len <= HOST_MAX && port <= 65535);
    bool bracket = s[0] == '[';
    for (size_t i = 0; i < host.len; i++) {
        char c = host.base[i];
        bool ok =
            (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
            c == '.' ||
            (bracket ? c == ':' : ((c >= 'g' && c <= 'z') || (c >= 'G' && c <= 'Z') || c == '-'));
        FUZZ_CHECK(ok);
    }
    size_t host_end = (size_t)(host.base - s) + host.len + (bracket ? 1 : 0);
    if (port == 0) {
        FUZZ_CHECK(host_end == len);
    } else {
        FUZZ_CHECK(host_end < len && s[host_end] == ':' && s[host_end + 1] != '0');
        unsigned v = 0;
        for (size_t i = host_end + 1; i < len; i++) {
            FUZZ_CHECK(s[i] >= '0' && s[i] <= '9');
            v = v * 10 + (unsigned)(s[i] - '0');
        }
        FUZZ_CHECK(v == port);
    }
}

static void element(const char *s, size_t len)
{
    h2o_iovec_t e = last_element(h2o_iovec_init(s, len));
    within(e, s, len);
    FUZZ_CHECK(memchr(e.base, ',', e.len) == NULL);
    if (e.len > 0) {
        FUZZ_CHECK(e.base[0] != ' ' && e.base[0] != '\t');
        FUZZ_CHECK(e.base[e.len - 1] != ' ' && e.base[e.len - 1] != '\t');
    }
}

static void hop(const char *s, size_t len)
{
    struct sockaddr_storage ss;
    char text[64];
    memset(text, 'x', sizeof(text));
    if (parse_hop(h2o_iovec_init(s, len), &ss, text, sizeof(text)) != 0)
        return;
    FUZZ_CHECK(memchr(text, '\0', sizeof(text)) != NULL);
    unsigned char back[16];
    if (ss.ss_family == AF_INET) {
        FUZZ_CHECK(inet_pton(AF_INET, text, back) == 1);
        FUZZ_CHECK(memcmp(back, &((struct sockaddr_in *)&ss)->sin_addr, 4) == 0);
    } else {
        FUZZ_CHECK(ss.ss_family == AF_INET6);
        FUZZ_CHECK(inet_pton(AF_INET6, text, back) == 1);
        FUZZ_CHECK(memcmp(back, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16) == 0);
        FUZZ_CHECK(!IN6_IS_ADDR_V4MAPPED((struct in6_addr *)back));
    }
}

static void origin(const char *s, size_t len)
{
    h2o_req_t req;
    memset(&req, 0, sizeof(req));
    h2o_mem_init_pool(&req.pool);
    /* The path as h2o keeps it: "/x" then the query from its '?'. */
    char *path = h2o_mem_alloc_pool(&req.pool, len + 3);
    memcpy(path, "/x?", 3);
    memcpy(path + 3, s, len);
    req.path = h2o_iovec_init(path, len + 3);
    req.query_at = 2;
    h2o_iovec_t out = {NULL, 0};
    int rc = query_origin(&req, &out);
    FUZZ_CHECK(rc >= -1 && rc <= 1);
    if (rc == 1) {
        FUZZ_CHECK(out.len <= len && out.base[out.len] == '\0');
    }
    h2o_mem_clear_pool(&req.pool);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *s = (const char *)data + 1;
    size_t len = size - 1;
    switch (data[0] & 3) {
    case 0:
        authority(s, len);
        break;
    case 1:
        element(s, len);
        break;
    case 2:
        hop(s, len);
        break;
    default:
        origin(s, len);
        break;
    }
    return 0;
}
