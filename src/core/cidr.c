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
