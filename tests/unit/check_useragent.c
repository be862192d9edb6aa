/*
 * Unit tests of src/core/useragent.c: a table of User-Agents real browsers and tools send,
 * then hostile input. The header arrives from any client, so the parser must stay inside
 * the bytes it was given (they are not NUL-terminated: every case is copied into a buffer of
 * exactly its length, where AddressSanitizer sees a read one byte too far) and must put only
 * printable ASCII into what the active-connections page displays.
 */
#include <check.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "identityd/core/common.h"
#include "identityd/core/useragent.h"

/* Parses the first len bytes of text from a heap copy of exactly len bytes. */
static idd_useragent_t parse_exact(const char *text, size_t len)
{
    char *copy = malloc(len ? len : 1);
    ck_assert_ptr_nonnull(copy);
    memcpy(copy, text, len);
    idd_useragent_t ua;
    memset(&ua, 0x5a, sizeof(ua)); /* every field must be written */
    idd_useragent_parse(copy, len, &ua);
    free(copy);
    return ua;
}

static const struct ua_case {
    const char *what, *header, *platform, *browser;
    bool mobile;
} ua_cases[] = {
    {"Chrome on Windows",
     "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/120.0.6099.130 Safari/537.36",
     "Windows", "Chrome 120.0", false},
    {"Chrome on macOS",
     "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/119.0.0.0 Safari/537.36",
     "macOS", "Chrome 119.0", false},
    {"Safari on macOS",
     "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/17.2 Safari/605.1.15",
     "macOS", "Safari 17.2", false},
    {"Safari on iPhone",
     "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
     "like Gecko) Version/17.2.1 Mobile/15E148 Safari/604.1",
     "iOS", "Safari 17.2", true},
    {"Safari on iPad (old UA, says Mobile)",
     "Mozilla/5.0 (iPad; CPU OS 12_5_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/12.1.2 Mobile/15E148 Safari/604.1",
     "iOS", "Safari 12.1", true},
    {"an iPhone app without the Mobile token", "DocSpace/3.1.0 (iPhone; iOS 17.2; Scale/3.00)",
     "iOS", "", true},
    {"Chrome on iPhone",
     "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
     "Gecko) CriOS/120.0.6099.119 Mobile/15E148 Safari/604.1",
     "iOS", "Chrome 120.0", true},
    {"Firefox on iPhone",
     "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
     "Gecko) FxiOS/121.0 Mobile/15E148 Safari/605.1.15",
     "iOS", "Firefox 121.0", true},
    {"Edge on iPhone",
     "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
     "Gecko) Version/17.0 EdgiOS/120.0.2210.126 Mobile/15E148 Safari/605.1.15",
     "iOS", "Edge 120.0", true},
    {"Chrome on Android phone",
     "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/120.0.6099.144 Mobile Safari/537.36",
     "Android", "Chrome 120.0", true},
    {"Chrome on Android tablet (no Mobile token)",
     "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/120.0.0.0 Safari/537.36",
     "Android", "Chrome 120.0", false},
    {"Samsung Internet (Chromium)",
     "Mozilla/5.0 (Linux; Android 13; SAMSUNG SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) "
     "SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36",
     "Android", "Chrome 115.0", true},
    {"Edge on Android",
     "Mozilla/5.0 (Linux; Android 10; HD1913) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/120.0.6099.144 Mobile Safari/537.36 EdgA/120.0.2210.115",
     "Android", "Edge 120.0", true},
    {"Firefox on Android", "Mozilla/5.0 (Android 14; Mobile; rv:121.0) Gecko/121.0 Firefox/121.0",
     "Android", "Firefox 121.0", true},
    {"Android stock browser (not Safari)",
     "Mozilla/5.0 (Linux; U; Android 4.0.3; ko-kr; LG-L160L Build/IML74K) AppleWebKit/534.30 "
     "(KHTML, like Gecko) Version/4.0 Mobile Safari/534.30",
     "Android", "", true},
    {"Firefox on Linux", "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
     "Linux", "Firefox 121.0", false},
    {"Firefox on Ubuntu",
     "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/115.0", "Linux",
     "Firefox 115.0", false},
    {"Firefox on Windows",
     "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0", "Windows",
     "Firefox 121.0", false},
    {"Edge on Windows",
     "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91",
     "Windows", "Edge 120.0", false},
    {"Legacy Edge (EdgeHTML)",
     "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/70.0.3538.102 Safari/537.36 Edge/18.19045",
     "Windows", "Edge 18.19045", false},
    {"Opera on Windows",
     "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/119.0.0.0 Safari/537.36 OPR/105.0.0.0",
     "Windows", "Opera 105.0", false},
    {"Chrome on ChromeOS",
     "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/120.0.0.0 Safari/537.36",
     "ChromeOS", "Chrome 120.0", false},
    {"curl", "curl/7.88.1", "", "curl 7.88", false},
    {"curl with a major version only", "curl/8", "", "curl 8", false},
    {"a library nobody lists", "python-requests/2.31.0", "", "", false},
    {"Chrome without a version", "Mozilla/5.0 (Windows NT 10.0) Chrome/ Safari/537.36", "Windows",
     "Chrome", false},
    {"version parts cut to six digits", "Firefox/1234567890.0987654321", "",
     "Firefox 123456.098765", false},
    {"empty", "", "", "", false},
};

START_TEST(real_user_agents)
{
    const struct ua_case *c = &ua_cases[_i];
    idd_useragent_t ua = parse_exact(c->header, strlen(c->header));
    ck_assert_msg(strcmp(ua.platform, c->platform) == 0, "%s: platform '%s', want '%s'", c->what,
                  ua.platform, c->platform);
    ck_assert_msg(strcmp(ua.browser, c->browser) == 0, "%s: browser '%s', want '%s'", c->what,
                  ua.browser, c->browser);
    ck_assert_msg(ua.mobile == c->mobile, "%s: mobile %d, want %d", c->what, ua.mobile, c->mobile);
}
END_TEST

static void assert_printable(const char *field, size_t size)
{
    size_t len = strnlen(field, size);
    ck_assert_uint_lt(len, size); /* NUL-terminated inside the field */
    for (size_t i = 0; i < len; i++)
        ck_assert_msg(field[i] >= 0x20 && field[i] < 0x7f, "byte 0x%02x at %zu",
                      (unsigned char)field[i], i);
}

static void assert_clean(const idd_useragent_t *ua)
{
    assert_printable(ua->platform, sizeof(ua->platform));
    assert_printable(ua->browser, sizeof(ua->browser));
}

START_TEST(null_and_empty_input)
{
    idd_useragent_t ua;
    memset(&ua, 0x5a, sizeof(ua));
    idd_useragent_parse(NULL, 100, &ua);
    ck_assert_str_eq(ua.platform, "");
    ck_assert_str_eq(ua.browser, "");
    ck_assert(!ua.mobile);
    memset(&ua, 0x5a, sizeof(ua));
    idd_useragent_parse("Chrome/1.2", 0, &ua);
    ck_assert_str_eq(ua.browser, "");
}
END_TEST

/* The header value is not NUL-terminated: what lies past len belongs to someone else. */
START_TEST(only_the_given_bytes_are_read)
{
    const char *header = "Mozilla/5.0 (X11; Linux x86_64) Firefox/121.0";
    size_t at = strstr(header, "Firefox/") - header;
    idd_useragent_t ua = parse_exact(header, at + strlen("Firefox/1"));
    ck_assert_str_eq(ua.browser, "Firefox 1");
    ua = parse_exact(header, at + strlen("Firefox/121."));
    ck_assert_str_eq(ua.browser, "Firefox 121");
    ua = parse_exact(header, at + strlen("Firefox"));
    ck_assert_str_eq(ua.browser, "");
    ck_assert_str_eq(ua.platform, "Linux");
    ua = parse_exact(header, strlen("Mozilla/5.0 (X11; Lin"));
    ck_assert_str_eq(ua.platform, "");
}
END_TEST

/* Control bytes, NULs and bytes above 0x7f, with real tokens in between: the tokens are still
 * found, and nothing from the header reaches the output but digits. */
START_TEST(binary_garbage)
{
    size_t len = 10 * 1024;
    char *buf = malloc(len);
    ck_assert_ptr_nonnull(buf);
    unsigned seed = 12345;
    for (size_t i = 0; i < len; i++) {
        seed = seed * 1103515245u + 12345u;
        buf[i] = (char)(seed >> 16);
    }
    idd_useragent_t ua = parse_exact(buf, len);
    assert_clean(&ua);

    /* A token right before binary bytes: the version stops at the first non-digit. */
    static const char mixed[] = "\x01\x02(Windows\x00\x7f; Mobile)\x1b[31m Chrome/99\x00.1\xff"
                                "Edg\x00/1.2";
    ua = parse_exact(mixed, sizeof(mixed) - 1);
    assert_clean(&ua);
    ck_assert_str_eq(ua.platform, "Windows");
    ck_assert_str_eq(ua.browser, "Chrome 99");
    ck_assert(ua.mobile);

    /* Every byte value after every token, at the very end of the buffer. */
    static const char *const tokens[] = {"Chrome/", "Edg/",   "OPR/",     "Firefox/",
                                         "curl/",   "CriOS/", "Version/1"};
    for (size_t t = 0; t < IDD_ARRAY_LEN(tokens); t++) {
        for (int b = 0; b < 256; b++) {
            char one[64];
            size_t n = strlen(tokens[t]);
            memcpy(one, tokens[t], n);
            one[n] = (char)b;
            memcpy(one + n + 1, " Safari/1", 9);
            ua = parse_exact(one, n + 1 + 9);
            assert_clean(&ua);
            ua = parse_exact(one, n + 1);
            assert_clean(&ua);
        }
    }
    free(buf);
}
END_TEST

/* A 10 KB header: the parser looks only at the beginning (real User-Agents are a few
 * hundred bytes), so a client cannot make it scan megabytes for a token. */
START_TEST(long_header)
{
    size_t len = 10 * 1024;
    char *buf = malloc(len);
    ck_assert_ptr_nonnull(buf);
    memset(buf, 'A', len);
    const char *head = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0.1 ";
    memcpy(buf, head, strlen(head));
    memcpy(buf + len - 20, "Mobile Firefox/9.9", 18);
    idd_useragent_t ua = parse_exact(buf, len);
    assert_clean(&ua);
    ck_assert_str_eq(ua.platform, "Windows");
    ck_assert_str_eq(ua.browser, "Chrome 120.0");
    ck_assert(!ua.mobile); /* "Mobile" lies beyond the bytes examined */

    /* Nothing recognisable in the first kilobytes: nothing is reported. */
    memset(buf, 'A', len);
    memcpy(buf + len - 30, "(iPhone) Version/1.0 Safari/1", 29);
    ua = parse_exact(buf, len);
    ck_assert_str_eq(ua.platform, "");
    ck_assert_str_eq(ua.browser, "");
    ck_assert(!ua.mobile);
    free(buf);
}
END_TEST

static Suite *useragent_suite(void)
{
    Suite *s = suite_create("useragent");
    TCase *tc = tcase_create("parse");
    tcase_add_loop_test(tc, real_user_agents, 0, (int)IDD_ARRAY_LEN(ua_cases));
    tcase_add_test(tc, null_and_empty_input);
    tcase_add_test(tc, only_the_given_bytes_are_read);
    tcase_add_test(tc, binary_garbage);
    tcase_add_test(tc, long_header);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(useragent_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
