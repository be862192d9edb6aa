/*
 * Addresses and networks written as CIDR ("10.0.0.1", "10.0.0.0/8", "::1", "fd00::/8"), and
 * whether a peer's address falls in one of them (trusted_proxies).
 */
#ifndef IDENTITYD_CORE_CIDR_H
#define IDENTITYD_CORE_CIDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

typedef struct idd_cidr {
    int family;       /* AF_INET or AF_INET6 */
    uint8_t addr[16]; /* network byte order; 4 bytes used for AF_INET */
    unsigned prefix;  /* 0..32 or 0..128 */
} idd_cidr_t;

/* Parses "a.b.c.d[/n]" or an IPv6 address with optional "/n" (n in decimal, no sign, no
 * leading zero). ::ffff:a.b.c.d/n with n >= 96 becomes the IPv4 network a.b.c.d/(n-96). Bits
 * below the prefix are kept as written but never compared. Returns 0 or IDD_EINVAL. */
int idd_cidr_parse(const char *text, idd_cidr_t *out);

/* Returns 1 when addr (AF_INET or AF_INET6; IPv4-mapped IPv6 is matched as IPv4) falls in
 * one of the n networks, else 0. */
int idd_cidr_match(const idd_cidr_t *nets, size_t n, const struct sockaddr *addr);

#endif
