/*
 * Client-supplied text kept and shown back: the User-Agent a session records
 * (core/useragent.c, idd_useragent_parse, shown by the active-connections list), and the IP
 * address lists of two-factor settings (core/cidr.c: idd_ip_list_check,
 * idd_ip_list_match, idd_ip_range_parse).
 *
 * Input: a selector byte (0: User-Agent; else an IP list, with an address after a
 * newline), then the value.
 *
 * Promises checked: the User-Agent's platform and browser are NUL-terminated printable
 * ASCII; a list that fails names a bad entry within itself; a list that passes has every
 * entry parse on its own and at most IDD_IP_LIST_ENTRIES_MAX of them.
 */
#include <string.h>

#include "identityd/core/cidr.h"
#include "identityd/core/useragent.h"

#include "fuzz.h"

static void printable(const char *s, size_t size)
{
    const char *nul = memchr(s, '\0', size);
    FUZZ_CHECK(nul != NULL);
    for (const char *p = s; p < nul; p++)
        FUZZ_CHECK(*p >= 0x20 && *p < 0x7f);
}

static void iplist(const char *in, size_t len)
{
    const char *nl = memchr(in, '\n', len);
    size_t list_len = nl ? (size_t)(nl - in) : len;
    char *list = malloc(list_len + 1);
    memcpy(list, in, list_len);
    list[list_len] = '\0';
    const char *bad = NULL;
    size_t bad_len = 0;
    if (idd_ip_list_check(list, &bad, &bad_len) != 0) {
        FUZZ_CHECK(bad != NULL && fuzz_within(bad, bad_len, list, list_len));
    } else {
        size_t entries = 0;
        const char *p = list;
        while (*p != '\0') {
            const char *comma = strchr(p, ',');
            size_t n = comma ? (size_t)(comma - p) : strlen(p);
            const char *s = p, *e = p + n;
            while (s < e && *s == ' ')
                s++;
            while (e > s && e[-1] == ' ')
                e--;
            idd_ip_range_t range;
            if (e > s) {
                FUZZ_CHECK(idd_ip_range_parse(s, (size_t)(e - s), &range) == 0);
                FUZZ_CHECK(memcmp(range.lo, range.hi, sizeof(range.lo)) <= 0);
                entries++;
            }
            p += n + (comma ? 1 : 0);
        }
        FUZZ_CHECK(entries <= IDD_IP_LIST_ENTRIES_MAX);
    }
    if (nl != NULL) {
        size_t ip_len = len - list_len - 1;
        char *ip = malloc(ip_len + 1);
        memcpy(ip, nl + 1, ip_len);
        ip[ip_len] = '\0';
        (void)idd_ip_list_match(list, ip);
        free(ip);
    }
    free(list);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *in = (const char *)data + 1;
    size_t len = size - 1;
    if (data[0] & 1) {
        iplist(in, len);
        return 0;
    }
    idd_useragent_t ua;
    memset(&ua, 0x7f, sizeof(ua));
    idd_useragent_parse(in, len, &ua);
    printable(ua.platform, sizeof(ua.platform));
    printable(ua.browser, sizeof(ua.browser));
    return 0;
}
