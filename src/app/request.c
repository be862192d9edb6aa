/*
 * Where a request comes from and which tenant it addresses. The client address (for
 * brute-force counters and the session list) and the scheme and host (which become the
 * token's iss, aud and tenant_url) are taken from forwarding headers only when the
 * socket peer is a trusted proxy, are validated character by character, and ?origin= may
 * replace them only with a value the tenant's configuration lists.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>

#include "identityd/app/app.h"

#include "identityd/core/cidr.h"
#include "identityd/core/common.h"
#include "identityd/http/respond.h"
#include "identityd/http/server.h"

#define HOST_MAX 261 /* 255 name + ":65535" */

/* The last element of a comma-separated header value, trimmed. */
static h2o_iovec_t last_element(h2o_iovec_t v)
{
    size_t end = v.len;
    while (end > 0 && (v.base[end - 1] == ' ' || v.base[end - 1] == '\t'))
        end--;
    size_t start = end;
    while (start > 0 && v.base[start - 1] != ',')
        start--;
    while (start < end && (v.base[start] == ' ' || v.base[start] == '\t'))
        start++;
    return h2o_iovec_init(v.base + start, end - start);
}

/* The last field of a header a proxy may have appended to. Returns 0 when absent. */
static int find_last_header(h2o_req_t *req, const char *lowercase_name, h2o_iovec_t *out)
{
    ssize_t i = -1, last = -1;
    while ((i = h2o_find_header_by_str(&req->headers, lowercase_name, strlen(lowercase_name), i)) !=
           -1)
        last = i;
    if (last == -1)
        return 0;
    *out = req->headers.entries[last].value;
    return 1;
}

/* Checks "name[:port]" or "[v6]:port" and splits off the host part used for tenant lookup
 * and the port (0 when none). Returns 0 or -1 for anything that is not a plain authority. */
static int split_authority(h2o_iovec_t a, h2o_iovec_t *hostname, unsigned *port)
{
    if (a.len == 0 || a.len > HOST_MAX)
        return -1;
    size_t i = 0, host_end;
    if (a.base[0] == '[') {
        for (i = 1; i < a.len && a.base[i] != ']'; i++) {
            char c = a.base[i];
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
                  c == ':' || c == '.'))
                return -1;
        }
        if (i >= a.len || i == 1)
            return -1;
        *hostname = h2o_iovec_init(a.base + 1, i - 1);
        host_end = i + 1;
    } else {
        for (i = 0; i < a.len && a.base[i] != ':'; i++) {
            char c = a.base[i];
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  c == '-' || c == '.'))
                return -1;
        }
        if (i == 0)
            return -1;
        *hostname = h2o_iovec_init(a.base, i);
        host_end = i;
    }
    *port = 0;
    if (host_end == a.len)
        return 0;
    /* A port is 1..65535 in plain decimal: no sign, no leading zero. */
    if (a.base[host_end] != ':' || host_end + 1 == a.len || a.len - host_end - 1 > 5 ||
        a.base[host_end + 1] == '0')
        return -1;
    unsigned value = 0;
    for (i = host_end + 1; i < a.len; i++) {
        if (a.base[i] < '0' || a.base[i] > '9')
            return -1;
        value = value * 10 + (unsigned)(a.base[i] - '0');
    }
    if (value > 65535)
        return -1;
    *port = value;
    return 0;
}

/* Finds ?origin= in the query string and percent-decodes it into the pool.
 * Returns 1 when present, 0 when absent, -1 when malformed. */
static int query_origin(h2o_req_t *req, h2o_iovec_t *out)
{
    if (req->query_at == SIZE_MAX)
        return 0;
    const char *q = req->path.base + req->query_at + 1;
    const char *end = req->path.base + req->path.len;
    while (q < end) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        const char *stop = amp ? amp : end;
        if ((size_t)(stop - q) >= 7 && memcmp(q, "origin=", 7) == 0) {
            h2o_iovec_t raw = h2o_iovec_init(q + 7, (size_t)(stop - q - 7));
            char *dec = h2o_mem_alloc_pool(&req->pool, raw.len + 1);
            size_t n = 0;
            for (size_t i = 0; i < raw.len; i++) {
                if (raw.base[i] == '%') {
                    unsigned char byte;
                    if (i + 2 >= raw.len || h2o_hex_decode(&byte, raw.base + i + 1, 2) != 0)
                        return -1;
                    dec[n++] = (char)byte;
                    i += 2;
                } else {
                    dec[n++] = (char)(raw.base[i] == '+' ? ' ' : raw.base[i]);
                }
            }
            dec[n] = '\0';
            *out = h2o_iovec_init(dec, n);
            return 1;
        }
        q = stop + 1;
    }
    return 0;
}

/* text receives an IPv4 address as idd_ipv4_text writes it (no printf on every request). */
static void ipv4_text(const void *addr, char *text, size_t textlen)
{
    if (textlen < INET_ADDRSTRLEN) {
        text[0] = '\0';
        return;
    }
    idd_ipv4_text(addr, text);
}

/* Parses one address of X-Forwarded-For ("a.b.c.d", "v6", "[v6]") into a sockaddr and its
 * canonical text; IPv4-mapped IPv6 becomes IPv4. Returns 0 or -1. */
static int parse_hop(h2o_iovec_t v, struct sockaddr_storage *ss, char *text, size_t textlen)
{
    char buf[64];
    if (v.len >= 2 && v.base[0] == '[' && v.base[v.len - 1] == ']')
        v = h2o_iovec_init(v.base + 1, v.len - 2);
    if (v.len == 0 || v.len >= sizeof(buf))
        return -1;
    memcpy(buf, v.base, v.len);
    buf[v.len] = '\0';
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, buf, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        ipv4_text(&in4->sin_addr, text, textlen);
        return 0;
    }
    if (inet_pton(AF_INET6, buf, &in6->sin6_addr) == 1) {
        /* ::ffff:a.b.c.d is the IPv4 client a.b.c.d, as for the socket peer: one client
         * must not get a second set of counters by writing its address the other way. */
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
            struct in_addr v4;
            memcpy(&v4, &in6->sin6_addr.s6_addr[12], sizeof(v4));
            memset(ss, 0, sizeof(*ss));
            in4->sin_family = AF_INET;
            in4->sin_addr = v4;
            ipv4_text(&in4->sin_addr, text, textlen);
            return 0;
        }
        in6->sin6_family = AF_INET6;
        inet_ntop(AF_INET6, &in6->sin6_addr, text, (socklen_t)textlen);
        return 0;
    }
    return -1;
}

/* The textual address of a socket address; IPv4-mapped IPv6 is shown as IPv4. */
static void address_text(const struct sockaddr_storage *ss, char *text, size_t textlen)
{
    text[0] = '\0';
    if (ss->ss_family == AF_INET) {
        ipv4_text(&((const struct sockaddr_in *)ss)->sin_addr, text, textlen);
    } else if (ss->ss_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a))
            ipv4_text(&a->s6_addr[12], text, textlen);
        else
            inet_ntop(AF_INET6, a, text, (socklen_t)textlen);
    }
}

/* The client is the socket peer; when the peer is a trusted proxy, X-Forwarded-For is read
 * from the right, skipping further trusted proxies, and the first address that is not one
 * is the client. A hop that is not an address stops the walk at the last trusted hop, so a
 * forged entry never becomes the client. */
static void resolve_client(idd_request_t *r, int trusted)
{
    const idd_config_t *cfg = r->gen->cfg;
    h2o_req_t *req = r->req;
    address_text(&r->peer, r->client_ip, sizeof(r->client_ip));
    if (!trusted)
        return;
    /* Several X-Forwarded-For fields are one list in field order (RFC 9110 §5.3), and
     * proxies append: walk the fields from the last, each from its right end. Every field
     * counts: stopping at some number would let a client push the proxy's own entry out. */
    ssize_t *fields = h2o_mem_alloc_pool(&req->pool, (req->headers.size + 1) * sizeof(*fields));
    size_t n_fields = 0;
    ssize_t i = -1;
    while ((i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-forwarded-for"), i)) != -1)
        fields[n_fields++] = i;
    while (n_fields > 0) {
        h2o_iovec_t xff = req->headers.entries[fields[--n_fields]].value;
        size_t end = xff.len;
        while (end > 0) {
            size_t start = end;
            while (start > 0 && xff.base[start - 1] != ',')
                start--;
            h2o_iovec_t hop = h2o_iovec_init(xff.base + start, end - start);
            while (hop.len > 0 && (hop.base[0] == ' ' || hop.base[0] == '\t'))
                hop.base++, hop.len--;
            while (hop.len > 0 && (hop.base[hop.len - 1] == ' ' || hop.base[hop.len - 1] == '\t'))
                hop.len--;
            struct sockaddr_storage ss;
            char text[sizeof(r->client_ip)];
            if (parse_hop(hop, &ss, text, sizeof(text)) != 0)
                return;
            memcpy(r->client_ip, text, sizeof(text));
            if (!idd_cidr_match(cfg->trusted_proxies, cfg->n_trusted_proxies,
                                (struct sockaddr *)&ss))
                return;
            end = start > 0 ? start - 1 : 0;
        }
    }
}

int idd_request_resolve(idd_request_t *r)
{
    h2o_req_t *req = r->req;
    const idd_config_t *cfg = r->gen->cfg;

    socklen_t len = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&r->peer);
    int trusted =
        len > 0 && cfg->n_trusted_proxies > 0 &&
        idd_cidr_match(cfg->trusted_proxies, cfg->n_trusted_proxies, (struct sockaddr *)&r->peer);

    resolve_client(r, trusted);
    /* The connection itself says: h2o's req->scheme would echo an HTTP/2 client's :scheme,
     * which the client chooses freely. */
    r->scheme = idd_http_is_tls(req) ? h2o_iovec_init(H2O_STRLIT("https"))
                                     : h2o_iovec_init(H2O_STRLIT("http"));
    /* Without a Host (or :authority) h2o substitutes its own host configuration's name;
     * the tenant and the claims need the client's, so such a request is malformed here. */
    if (req->input.authority.len == 0 ||
        (req->hostconf != NULL &&
         req->input.authority.base == req->hostconf->authority.hostport.base)) {
        idd_respond_error(req, 400, "A Host header is required");
        return -1;
    }
    h2o_iovec_t authority = req->input.authority;
    h2o_iovec_t v;
    /* Proxies append: the value nearest to us, the last one, is the trusted proxy's own. */
    if (trusted && find_last_header(req, "x-forwarded-proto", &v)) {
        v = last_element(v);
        if (h2o_lcstris(v.base, v.len, H2O_STRLIT("https")))
            r->scheme = h2o_iovec_init(H2O_STRLIT("https"));
        else if (h2o_lcstris(v.base, v.len, H2O_STRLIT("http")))
            r->scheme = h2o_iovec_init(H2O_STRLIT("http"));
        else {
            idd_respond_error(req, 400, "Invalid X-Forwarded-Proto");
            return -1;
        }
    }
    r->https = h2o_memis(r->scheme.base, r->scheme.len, H2O_STRLIT("https"));
    if (trusted && find_last_header(req, "x-forwarded-host", &v))
        authority = last_element(v);

    h2o_iovec_t hostname;
    unsigned port = 0;
    if (split_authority(authority, &hostname, &port) != 0) {
        idd_respond_error(req, 400, "Invalid host");
        return -1;
    }
    /* As DocSpace's ServerRootPath, the scheme's default port is not written out. */
    if ((port == 80 && !r->https) || (port == 443 && r->https))
        authority.len = (size_t)(hostname.base + hostname.len - authority.base) +
                        (authority.base[0] == '[' ? 1 : 0);
    /* Lowercase copies: host names are case-insensitive and end up in signed claims. */
    r->host = h2o_strdup(&req->pool, authority.base, authority.len);
    h2o_strtolower(r->host.base, r->host.len);
    r->origin.len = r->scheme.len + 3 + r->host.len;
    r->origin.base = h2o_mem_alloc_pool(&req->pool, r->origin.len + 1);
    memcpy(r->origin.base, r->scheme.base, r->scheme.len);
    memcpy(r->origin.base + r->scheme.len, "://", 3);
    memcpy(r->origin.base + r->scheme.len + 3, r->host.base, r->host.len);
    r->origin.base[r->origin.len] = '\0';
    r->tenant = idd_config_tenant_by_host(cfg, hostname.base, hostname.len);
    if (r->tenant == NULL)
        return 0;
    r->tenant_row = &r->gen->tenants[r->tenant - cfg->tenants];

    h2o_iovec_t origin;
    int has_origin = query_origin(req, &origin);
    if (has_origin < 0) {
        idd_respond_error(req, 400, "Invalid origin");
        return -1;
    }
    if (has_origin) {
        for (size_t i = 0; i < r->tenant->n_origins; i++) {
            const char *o = r->tenant->origins[i];
            if (strlen(o) == origin.len && strncasecmp(o, origin.base, origin.len) == 0) {
                r->tenant_url = h2o_strdup(&req->pool, o, SIZE_MAX);
                return 0;
            }
        }
        idd_respond_error(req, 400, "Invalid origin");
        return -1;
    }
    r->tenant_url = r->origin;
    return 0;
}

bool idd_request_guid_param(const idd_request_t *r, size_t i, char out[IDD_GUID_LEN + 1])
{
    if (i >= r->n_params || r->params[i].len != IDD_GUID_LEN)
        return false;
    memcpy(out, r->params[i].base, IDD_GUID_LEN);
    out[IDD_GUID_LEN] = '\0';
    h2o_strtolower(out, IDD_GUID_LEN);
    return true;
}
