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

/* ---- lists of trusted addresses (two-factor sign-in) ---- */

/* An entry of such a list: one address, a CIDR network, or a range "a-b" of two addresses of
 * one family with a <= b. IPv4-mapped IPv6 addresses are taken as IPv4. */
typedef struct idd_ip_range {
    int family;
    uint8_t lo[16], hi[16]; /* inclusive bounds, network byte order */
} idd_ip_range_t;

#define IDD_IP_LIST_ENTRIES_MAX 64

/* Parses text[0..len) as one entry. Returns 0 or IDD_EINVAL. */
int idd_ip_range_parse(const char *text, size_t len, idd_ip_range_t *out);

/* Checks a comma-separated list of entries (spaces around entries allowed; "" is the empty
 * list; at most IDD_IP_LIST_ENTRIES_MAX entries). Returns 0, or IDD_EINVAL with *bad and
 * *bad_len (may be NULL) naming the first entry that is not one. */
int idd_ip_list_check(const char *list, const char **bad, size_t *bad_len);

/* Returns 1 when the textual address ip falls in an entry of the list, else 0 (entries that
 * do not parse match nothing). */
int idd_ip_list_match(const char *list, const char *ip);

/* Writes the 4 bytes at addr (an IPv4 address, network order) as "a.b.c.d", exactly as
 * inet_ntop does, into out (INET_ADDRSTRLEN bytes), without printf: every request writes
 * its client's address this way. */
void idd_ipv4_text(const void *addr, char out[16]);

#endif
