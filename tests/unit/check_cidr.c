/*
 * Unit tests of src/core/cidr.c: parsing trusted_proxies entries and matching peers.
 */
#include <check.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "identityd/core/cidr.h"
#include "identityd/core/common.h"

static struct sockaddr_in v4(const char *text)
{
    struct sockaddr_in sin = {.sin_family = AF_INET};
    ck_assert_int_eq(inet_pton(AF_INET, text, &sin.sin_addr), 1);
    return sin;
}

static struct sockaddr_in6 v6(const char *text)
{
    struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6};
    ck_assert_int_eq(inet_pton(AF_INET6, text, &sin6.sin6_addr), 1);
    return sin6;
}

static int matches(const char *net_text, const struct sockaddr *peer)
{
    idd_cidr_t net;
    ck_assert_int_eq(idd_cidr_parse(net_text, &net), 0);
    return idd_cidr_match(&net, 1, peer);
}

START_TEST(cidr_parse_and_match)
{
    struct sockaddr_in in8 = v4("10.200.3.4"), out8 = v4("11.0.0.1"), host = v4("192.168.1.7");
    struct sockaddr_in other = v4("192.168.1.8");
    ck_assert_int_eq(matches("10.0.0.0/8", (struct sockaddr *)&in8), 1);
    ck_assert_int_eq(matches("10.0.0.0/8", (struct sockaddr *)&out8), 0);
    ck_assert_int_eq(matches("192.168.1.7/32", (struct sockaddr *)&host), 1);
    ck_assert_int_eq(matches("192.168.1.7/32", (struct sockaddr *)&other), 0);
    ck_assert_int_eq(matches("192.168.1.7", (struct sockaddr *)&other), 0);
    ck_assert_int_eq(matches("192.168.1.0/29", (struct sockaddr *)&host), 1);
    ck_assert_int_eq(matches("0.0.0.0/0", (struct sockaddr *)&out8), 1);

    struct sockaddr_in6 lo = v6("::1"), lo2 = v6("::2");
    ck_assert_int_eq(matches("::1/128", (struct sockaddr *)&lo), 1);
    ck_assert_int_eq(matches("::1", (struct sockaddr *)&lo2), 0);
    ck_assert_int_eq(matches("fd00::/8", (struct sockaddr *)&lo), 0);
    struct sockaddr_in6 ula = v6("fd12:3456::1");
    ck_assert_int_eq(matches("fd00::/8", (struct sockaddr *)&ula), 1);

    /* A dual-stack socket reports an IPv4 proxy as ::ffff:a.b.c.d; it must still match the
     * IPv4 network, and an IPv6 network must not swallow it by accident. */
    struct sockaddr_in6 mapped = v6("::ffff:10.1.2.3"), mapped_out = v6("::ffff:11.1.2.3");
    ck_assert_int_eq(matches("10.0.0.0/8", (struct sockaddr *)&mapped), 1);
    ck_assert_int_eq(matches("10.0.0.0/8", (struct sockaddr *)&mapped_out), 0);
    ck_assert_int_eq(matches("::1/128", (struct sockaddr *)&mapped), 0);
    /* The same network written as IPv4-mapped IPv6 matches a plain IPv4 peer. */
    ck_assert_int_eq(matches("::ffff:10.0.0.0/104", (struct sockaddr *)&in8), 1);
    /* Families never cross: an IPv4 network says nothing about a native IPv6 peer. */
    ck_assert_int_eq(matches("0.0.0.0/0", (struct sockaddr *)&lo), 0);

    idd_cidr_t nets[2];
    ck_assert_int_eq(idd_cidr_parse("172.16.0.0/12", &nets[0]), 0);
    ck_assert_int_eq(idd_cidr_parse("::1", &nets[1]), 0);
    ck_assert_int_eq(idd_cidr_match(nets, 2, (struct sockaddr *)&lo), 1);
    ck_assert_int_eq(idd_cidr_match(nets, 2, (struct sockaddr *)&in8), 0);
    ck_assert_int_eq(idd_cidr_match(nets, 0, (struct sockaddr *)&lo), 0);

    idd_cidr_t net;
    static const char *const bad[] = {
        "10.0.0.0/33", "::1/129",     "10.0.0.0/", "/8",          "10.0.0/8", "10.0.0.0/-1",
        "10.0.0.0/8x", "example.com", "",          "10.0.0.0/08", "1.2.3.4 "};
    for (size_t i = 0; i < IDD_ARRAY_LEN(bad); i++)
        ck_assert_msg(idd_cidr_parse(bad[i], &net) == IDD_EINVAL, "'%s' accepted", bad[i]);
    ck_assert_int_eq(idd_cidr_parse("10.1.2.3/8", &net), 0);
    ck_assert_int_eq(net.family, AF_INET);
    ck_assert_uint_eq(net.prefix, 8);
    ck_assert_int_eq(matches("10.1.2.3/8", (struct sockaddr *)&in8), 1); /* host bits ignored */
}
END_TEST

/* Trusted lists of two-factor sign-in: an address, an a-b range or a CIDR network; an
 * address matches the entries it falls in, of its own family, IPv4-mapped as IPv4. */
START_TEST(ip_lists)
{
    const char *list = "10.0.0.0/8, 192.168.1.10-192.168.1.20,2001:db8::1,fd00::/16";
    ck_assert_int_eq(idd_ip_list_check(list, NULL, NULL), 0);
    ck_assert_int_eq(idd_ip_list_check("", NULL, NULL), 0);
    ck_assert(idd_ip_list_match(list, "10.1.2.3"));
    ck_assert(idd_ip_list_match(list, "::ffff:10.9.9.9"));
    ck_assert(!idd_ip_list_match(list, "11.0.0.1"));
    ck_assert(idd_ip_list_match(list, "192.168.1.10"));
    ck_assert(idd_ip_list_match(list, "192.168.1.20"));
    ck_assert(!idd_ip_list_match(list, "192.168.1.21"));
    ck_assert(!idd_ip_list_match(list, "192.168.1.9"));
    ck_assert(idd_ip_list_match(list, "2001:db8::1"));
    ck_assert(!idd_ip_list_match(list, "2001:db8::2"));
    ck_assert(idd_ip_list_match(list, "fd00:1::5"));
    ck_assert(!idd_ip_list_match(list, "fd01::5"));
    ck_assert(!idd_ip_list_match(list, "not an address"));
    ck_assert(!idd_ip_list_match("", "10.0.0.1"));
    ck_assert(idd_ip_list_match("0.0.0.0/0", "203.0.113.7"));
    ck_assert(!idd_ip_list_match("0.0.0.0/0", "2001:db8::7"));

    const char *bad = NULL;
    size_t bad_len = 0;
    ck_assert_int_eq(idd_ip_list_check("10.0.0.1,10.0.0.9-10.0.0.2", &bad, &bad_len), IDD_EINVAL);
    ck_assert_int_eq(bad_len, strlen("10.0.0.9-10.0.0.2"));
    ck_assert(strncmp(bad, "10.0.0.9-10.0.0.2", bad_len) == 0);
    ck_assert_int_eq(idd_ip_list_check("10.0.0.1-::1", NULL, NULL), IDD_EINVAL);
    ck_assert_int_eq(idd_ip_list_check("10.0.0.0/33", NULL, NULL), IDD_EINVAL);
    ck_assert_int_eq(idd_ip_list_check("10.0.0.1,,10.0.0.2", NULL, NULL), IDD_EINVAL);
    ck_assert_int_eq(idd_ip_list_check("10.0.0.0/8-10.0.0.1", NULL, NULL), IDD_EINVAL);
    ck_assert_int_eq(idd_ip_list_check("example.com", NULL, NULL), IDD_EINVAL);
    /* Bounded: one entry more than the limit is refused. */
    char many[IDD_IP_LIST_ENTRIES_MAX * 9 + 16] = "";
    for (int i = 0; i <= IDD_IP_LIST_ENTRIES_MAX; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "%s10.0.%d.1", i ? "," : "", i);
    ck_assert_int_eq(idd_ip_list_check(many, NULL, NULL), IDD_EINVAL);
    *strrchr(many, ',') = '\0';
    ck_assert_int_eq(idd_ip_list_check(many, NULL, NULL), 0);
}
END_TEST

START_TEST(cidr_prefix_edges)
{
    idd_cidr_t net;
    static const char *const bad[] = {"10.0.0.0/+8", "10.0.0.0/ 8", "10.0.0.0/8 ", "::1/0128",
                                      "::1/1280",    "10.0.0.0//8", "10.0.0.0/8/8"};
    for (size_t i = 0; i < IDD_ARRAY_LEN(bad); i++)
        ck_assert_msg(idd_cidr_parse(bad[i], &net) == IDD_EINVAL, "'%s' accepted", bad[i]);
    ck_assert_int_eq(idd_cidr_parse(NULL, &net), IDD_EINVAL);

    ck_assert_int_eq(idd_cidr_parse("10.0.0.0/0", &net), 0);
    ck_assert_uint_eq(net.prefix, 0);
    ck_assert_int_eq(idd_cidr_parse("::/128", &net), 0);
    ck_assert_uint_eq(net.prefix, 128);
    /* A mapped network shorter than /96 reaches beyond ::ffff:0:0/96: it stays IPv6. */
    ck_assert_int_eq(idd_cidr_parse("::ffff:10.0.0.0/95", &net), 0);
    ck_assert_int_eq(net.family, AF_INET6);
    ck_assert_int_eq(idd_cidr_parse("::ffff:10.0.0.0/96", &net), 0);
    ck_assert_int_eq(net.family, AF_INET);
    ck_assert_uint_eq(net.prefix, 0);
    /* Neither a NULL peer nor a family other than IPv4/IPv6 matches anything. */
    ck_assert_int_eq(idd_cidr_match(&net, 1, NULL), 0);
    struct sockaddr unix_peer = {.sa_family = AF_UNIX};
    ck_assert_int_eq(idd_cidr_match(&net, 1, &unix_peer), 0);
}
END_TEST

static Suite *cidr_suite(void)
{
    Suite *s = suite_create("cidr");
    TCase *tc = tcase_create("cidr");
    tcase_add_test(tc, cidr_parse_and_match);
    tcase_add_test(tc, cidr_prefix_edges);
    tcase_add_test(tc, ip_lists);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(cidr_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
