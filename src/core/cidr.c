/*
 * CIDR networks: parsing and matching; see cidr.h.
 */
#include "identityd/core/cidr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "identityd/core/common.h"

/* Whether the first prefix bits of a and b agree. */
static int prefix_equal(const uint8_t *a, const uint8_t *b, unsigned prefix)
{
    size_t whole = prefix / 8;
    if (memcmp(a, b, whole) != 0)
        return 0;
    unsigned rest = prefix % 8;
    if (rest == 0)
        return 1;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a[whole] & mask) == (b[whole] & mask);
}

/* Bits below the prefix are kept as written but never compared: 10.1.2.3/8 matches 10.0.0.0/8. */
int idd_cidr_parse(const char *text, idd_cidr_t *out)
{
    if (text == NULL)
        return IDD_EINVAL;
    char addr[INET6_ADDRSTRLEN];
    const char *slash = strchr(text, '/');
    size_t alen = slash ? (size_t)(slash - text) : strlen(text);
    if (alen == 0 || alen >= sizeof(addr))
        return IDD_EINVAL;
    memcpy(addr, text, alen);
    addr[alen] = '\0';
    idd_cidr_t net = {0};
    if (inet_pton(AF_INET, addr, net.addr) == 1)
        net.family = AF_INET;
    else if (inet_pton(AF_INET6, addr, net.addr) == 1)
        net.family = AF_INET6;
    else
        return IDD_EINVAL;
    unsigned max = net.family == AF_INET ? 32 : 128;
    net.prefix = max;
    if (slash != NULL) {
        const char *p = slash + 1;
        size_t digits = strspn(p, "0123456789");
        /* Digits only, no sign, no leading zero: "/08" is more likely a typo than /8. */
        if (digits == 0 || digits > 3 || p[digits] != '\0' || (p[0] == '0' && digits > 1))
            return IDD_EINVAL;
        unsigned n = 0;
        for (size_t i = 0; i < digits; i++)
            n = n * 10 + (unsigned)(p[i] - '0');
        if (n > max)
            return IDD_EINVAL;
        net.prefix = n;
    }
    /* ::ffff:a.b.c.d/n (n >= 96) is an IPv4 network, matched as such. */
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (net.family == AF_INET6 && net.prefix >= 96 && memcmp(net.addr, mapped, 12) == 0) {
        memmove(net.addr, net.addr + 12, 4);
        memset(net.addr + 4, 0, 12);
        net.family = AF_INET;
        net.prefix -= 96;
    }
    *out = net;
    return 0;
}

int idd_cidr_match(const idd_cidr_t *nets, size_t n, const struct sockaddr *addr)
{
    if (addr == NULL)
        return 0;
    uint8_t peer[16];
    int family;
    if (addr->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)addr;
        memcpy(peer, &sin->sin_addr, 4);
        family = AF_INET;
    } else if (addr->sa_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)addr;
        if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
            memcpy(peer, sin6->sin6_addr.s6_addr + 12, 4);
            family = AF_INET;
        } else {
            memcpy(peer, sin6->sin6_addr.s6_addr, 16);
            family = AF_INET6;
        }
    } else {
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        if (nets[i].family == family && prefix_equal(nets[i].addr, peer, nets[i].prefix))
            return 1;
    return 0;
}

/* ---- lists of trusted addresses ---- */

/* An address as text, IPv4-mapped IPv6 folded to IPv4. */
static int parse_addr(const char *text, size_t len, int *family, uint8_t out[16])
{
    char addr[INET6_ADDRSTRLEN];
    if (len == 0 || len >= sizeof(addr))
        return IDD_EINVAL;
    memcpy(addr, text, len);
    addr[len] = '\0';
    memset(out, 0, 16);
    if (inet_pton(AF_INET, addr, out) == 1) {
        *family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, addr, out) != 1)
        return IDD_EINVAL;
    *family = AF_INET6;
    if (IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)out)) {
        memmove(out, out + 12, 4);
        memset(out + 4, 0, 12);
        *family = AF_INET;
    }
    return 0;
}

int idd_ip_range_parse(const char *text, size_t len, idd_ip_range_t *out)
{
    idd_ip_range_t r = {0};
    const char *dash = memchr(text, '-', len);
    const char *slash = memchr(text, '/', len);
    if (dash != NULL) {
        int f2;
        if (slash != NULL || parse_addr(text, (size_t)(dash - text), &r.family, r.lo) != 0 ||
            parse_addr(dash + 1, len - (size_t)(dash - text) - 1, &f2, r.hi) != 0 ||
            f2 != r.family || memcmp(r.lo, r.hi, 16) > 0)
            return IDD_EINVAL;
    } else if (slash != NULL) {
        char net[INET6_ADDRSTRLEN + 5];
        idd_cidr_t c;
        if (len >= sizeof(net))
            return IDD_EINVAL;
        memcpy(net, text, len);
        net[len] = '\0';
        if (idd_cidr_parse(net, &c) != 0)
            return IDD_EINVAL;
        r.family = c.family;
        unsigned bits = c.family == AF_INET ? 32 : 128;
        for (unsigned i = 0; i < bits; i++) {
            uint8_t bit = (uint8_t)(0x80 >> (i % 8));
            if (i < c.prefix) {
                r.lo[i / 8] |= c.addr[i / 8] & bit;
                r.hi[i / 8] |= c.addr[i / 8] & bit;
            } else {
                r.hi[i / 8] |= bit;
            }
        }
    } else {
        if (parse_addr(text, len, &r.family, r.lo) != 0)
            return IDD_EINVAL;
        memcpy(r.hi, r.lo, 16);
    }
    *out = r;
    return 0;
}

/* Calls visit for each entry of list, trimmed of spaces; stops at the first non-zero. */
static int each_entry(const char *list, int (*visit)(const char *, size_t, void *), void *arg)
{
    const char *p = list;
    while (*p != '\0') {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        const char *s = p;
        while (n > 0 && *s == ' ')
            s++, n--;
        while (n > 0 && s[n - 1] == ' ')
            n--;
        int rc = visit(s, n, arg);
        if (rc != 0)
            return rc;
        if (end == NULL)
            break;
        p = end + 1;
    }
    return 0;
}

typedef struct list_check {
    size_t count;
    const char *bad;
    size_t bad_len;
} list_check_t;

static int check_entry(const char *s, size_t n, void *arg)
{
    list_check_t *c = arg;
    idd_ip_range_t r;
    if (++c->count > IDD_IP_LIST_ENTRIES_MAX || idd_ip_range_parse(s, n, &r) != 0) {
        c->bad = s;
        c->bad_len = n;
        return IDD_EINVAL;
    }
    return 0;
}

int idd_ip_list_check(const char *list, const char **bad, size_t *bad_len)
{
    list_check_t c = {0};
    int rc = each_entry(list, check_entry, &c);
    if (bad != NULL)
        *bad = c.bad;
    if (bad_len != NULL)
        *bad_len = c.bad_len;
    return rc;
}

typedef struct list_match {
    int family;
    uint8_t addr[16];
} list_match_t;

static int match_entry(const char *s, size_t n, void *arg)
{
    const list_match_t *m = arg;
    idd_ip_range_t r;
    if (idd_ip_range_parse(s, n, &r) != 0 || r.family != m->family)
        return 0;
    return memcmp(r.lo, m->addr, 16) <= 0 && memcmp(m->addr, r.hi, 16) <= 0;
}

int idd_ip_list_match(const char *list, const char *ip)
{
    list_match_t m;
    if (list == NULL || ip == NULL || parse_addr(ip, strlen(ip), &m.family, m.addr) != 0)
        return 0;
    return each_entry(list, match_entry, &m) == 1;
}

void idd_ipv4_text(const void *addr, char out[16])
{
    const unsigned char *a = addr;
    char *p = out;
    for (int i = 0; i < 4; i++) {
        unsigned v = a[i];
        if (v >= 100)
            *p++ = (char)('0' + v / 100);
        if (v >= 10)
            *p++ = (char)('0' + v / 10 % 10);
        *p++ = (char)('0' + v % 10);
        *p++ = i < 3 ? '.' : '\0';
    }
}
