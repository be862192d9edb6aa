/*
 * Unit tests of the API key rules in src/cred/apikey.c: the name, permission and expiry
 * checks that POST/PUT /api/2.0/keys and `identityctl apikey create` both apply, with the
 * exact messages both report.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "identityd/core/common.h"
#include "identityd/cred/apikey.h"
#include "identityd/store/store.h" /* the field a key's permissions are kept in */

#define MSG_UTF8 "name must be UTF-8 text"
#define MSG_CONTROL "name must not contain control characters"
#define MSG_LENGTH "name must be 1 to 30 characters"
#define MSG_BLANK "name must not be blank"
#define MSG_UNKNOWN "unknown permission"
#define MSG_TOO_MANY "too many permissions"
#define MSG_EXPIRY "expiry must be 1 to 365 days"

#define E_ACUTE "\xc3\xa9"      /* 2 bytes */
#define GRIN "\xf0\x9f\x98\x80" /* 4 bytes */

/* The name rule on a NUL-terminated name. */
static const char *name_problem(const char *name)
{
    return idd_apikey_check_name(name, strlen(name));
}

/* s repeated n times, in a static buffer. */
static const char *repeat(const char *s, int n)
{
    static char buf[512];
    buf[0] = '\0';
    for (int i = 0; i < n; i++)
        strcat(buf, s);
    return buf;
}

START_TEST(test_name_accepted)
{
    static const char *const good[] = {
        "k",
        "with space",
        " leading and trailing ",
        "caf" E_ACUTE,
        "a\xc2\xa0"
        "b",
        "x\xe3\x80\x80" /* an ideographic space after a letter */,
        GRIN,
    };
    for (size_t i = 0; i < IDD_ARRAY_LEN(good); i++)
        ck_assert_msg(name_problem(good[i]) == NULL, "refused \"%s\": %s", good[i],
                      name_problem(good[i]));
    /* 30 characters, whatever their size in bytes (30 of 4 bytes fill the store's 120). */
    ck_assert_ptr_null(name_problem(repeat("x", 30)));
    ck_assert_ptr_null(name_problem(repeat(E_ACUTE, 30)));
    ck_assert_ptr_null(name_problem(repeat(GRIN, 30)));
    /* Blank only counts when nothing else is there. */
    ck_assert_ptr_null(name_problem(" x "));
    ck_assert_ptr_null(name_problem("\xe2\x80\x8b"
                                    "x")); /* zero-width space, then a letter */
}
END_TEST

START_TEST(test_name_length)
{
    ck_assert_str_eq(idd_apikey_check_name("", 0), MSG_LENGTH);
    ck_assert_str_eq(name_problem(repeat("x", 31)), MSG_LENGTH);
    ck_assert_str_eq(name_problem(repeat(E_ACUTE, 31)), MSG_LENGTH);
    ck_assert_str_eq(name_problem(repeat(GRIN, 31)), MSG_LENGTH);
    /* The length given is what counts, not where a NUL falls. */
    ck_assert_ptr_null(idd_apikey_check_name("abcdef", 3));
    ck_assert_str_eq(idd_apikey_check_name(NULL, 0), "name is required");
}
END_TEST

/* Blank is white space or zero-width characters only, in any mix and number. */
START_TEST(test_name_blank)
{
    static const char *const blank[] = {
        " ",
        "   ",
        "\xc2\xa0",               /* U+00A0 no-break space */
        "\xe1\x9a\x80",           /* U+1680 ogham space mark */
        "\xe1\xa0\x8e",           /* U+180E Mongolian vowel separator */
        "\xe2\x80\x80",           /* U+2000 en quad */
        "\xe2\x80\x8a",           /* U+200A hair space */
        "\xe2\x80\x8b",           /* U+200B zero-width space */
        "\xe2\x80\x8d",           /* U+200D zero-width joiner */
        "\xe2\x80\xa8",           /* U+2028 line separator */
        "\xe2\x80\xa9",           /* U+2029 paragraph separator */
        "\xe2\x80\xaf",           /* U+202F narrow no-break space */
        "\xe2\x81\x9f",           /* U+205F medium mathematical space */
        "\xe2\x81\xa0",           /* U+2060 word joiner */
        "\xe3\x80\x80",           /* U+3000 ideographic space */
        "\xef\xbb\xbf",           /* U+FEFF zero-width no-break space */
        " \xc2\xa0 \xe3\x80\x80", /* a mix */
    };
    for (size_t i = 0; i < IDD_ARRAY_LEN(blank); i++) {
        const char *p = name_problem(blank[i]);
        ck_assert_msg(p != NULL && strcmp(p, MSG_BLANK) == 0, "case %zu: %s", i,
                      p ? p : "accepted");
    }
    ck_assert_str_eq(name_problem(repeat(" ", 30)), MSG_BLANK);
    /* Too long is reported before blank. */
    ck_assert_str_eq(name_problem(repeat(" ", 31)), MSG_LENGTH);
    /* Neighbours of the blank characters are ordinary text. */
    ck_assert_ptr_null(name_problem("\xe2\x80\x8e"
                                    "a"));            /* U+200E, then a letter */
    ck_assert_ptr_null(name_problem("\xe2\x80\x8f")); /* U+200F is not blank */
    ck_assert_ptr_null(name_problem("\xc2\xa1"));     /* U+00A1 */
}
END_TEST

/* Every C0 character, DEL and every C1 character, anywhere in the name. */
START_TEST(test_name_control)
{
    char name[8];
    for (unsigned c = 0; c < 0x20; c++) {
        memcpy(name, "a?b", 4);
        name[1] = (char)c;
        const char *p = idd_apikey_check_name(name, 3);
        ck_assert_msg(p != NULL && strcmp(p, MSG_CONTROL) == 0, "C0 U+%04X: %s", c,
                      p ? p : "accepted");
    }
    ck_assert_str_eq(name_problem("del\x7f"), MSG_CONTROL);
    ck_assert_str_eq(name_problem("\x7f"), MSG_CONTROL);
    for (unsigned c = 0x80; c <= 0x9f; c++) {
        snprintf(name, sizeof(name), "a\xc2%cb", (char)c);
        const char *p = name_problem(name);
        ck_assert_msg(p != NULL && strcmp(p, MSG_CONTROL) == 0, "C1 U+%04X: %s", c,
                      p ? p : "accepted");
    }
    /* The characters just past each range are fine. */
    ck_assert_ptr_null(name_problem("a b"));
    ck_assert_ptr_null(name_problem("~"));
    ck_assert_ptr_null(name_problem("\xc2\xa0x"));
    /* A control character in an otherwise blank name is reported as what it is. */
    ck_assert_str_eq(name_problem(" \t "), MSG_CONTROL);
    /* A NUL inside the given length is a control character, not the end of the name. */
    ck_assert_str_eq(idd_apikey_check_name("ok\0hidden", 9), MSG_CONTROL);
}
END_TEST

START_TEST(test_name_not_utf8)
{
    static const char *const bad[] = {
        "bad\xff",
        "\x80",             /* a continuation byte alone */
        "overlong\xc0\xaf", /* '/' in two bytes */
        "\xc1\xbf",         /* overlong */
        "\xe0\x80\xaf",     /* overlong in three bytes */
        "\xf0\x80\x80\xaf", /* overlong in four bytes */
        "\xed\xa0\x80",     /* U+D800, a surrogate */
        "\xed\xbf\xbf",     /* U+DFFF */
        "\xf4\x90\x80\x80", /* U+110000 */
        "\xf5\x80\x80\x80", /* no such lead byte */
        "cut\xe2\x82",      /* cut short */
        "cut\xf0\x9f\x98",  /* cut short */
        "\xc3"
        "x", /* lead byte, then not a continuation */
    };
    for (size_t i = 0; i < IDD_ARRAY_LEN(bad); i++) {
        const char *p = name_problem(bad[i]);
        ck_assert_msg(p != NULL && strcmp(p, MSG_UTF8) == 0, "case %zu: %s", i, p ? p : "accepted");
    }
    /* A sequence cut short by the given length, though more bytes follow in memory. */
    ck_assert_str_eq(idd_apikey_check_name(GRIN, 3), MSG_UTF8);
    /* The extremes that are well-formed. */
    ck_assert_ptr_null(name_problem("\xed\x9f\xbf"));     /* U+D7FF */
    ck_assert_ptr_null(name_problem("\xee\x80\x80"));     /* U+E000 */
    ck_assert_ptr_null(name_problem("\xf4\x8f\xbf\xbf")); /* U+10FFFF */
    ck_assert_ptr_null(name_problem("\xf0\x90\x80\x80")); /* U+10000 */
}
END_TEST

START_TEST(test_permissions_add)
{
    char list[IDD_APIKEY_PERMISSIONS_MAX + 1] = "";
    ck_assert_ptr_null(idd_apikey_permissions_add(list, sizeof(list), "files:read", 10));
    ck_assert_ptr_null(idd_apikey_permissions_add(list, sizeof(list), "*", 1));
    ck_assert_ptr_null(idd_apikey_permissions_add(list, sizeof(list), "rooms:write", 11));
    /* A repeat is kept once, where it first came. */
    ck_assert_ptr_null(idd_apikey_permissions_add(list, sizeof(list), "files:read", 10));
    ck_assert_ptr_null(idd_apikey_permissions_add(list, sizeof(list), "*", 1));
    ck_assert_str_eq(list, "files:read * rooms:write");
    /* "*" in the list must not hide "*:read" (nor "files:read" "files:write"). */
    ck_assert_ptr_null(idd_apikey_permissions_add(list, sizeof(list), "*:read", 6));
    ck_assert_ptr_null(idd_apikey_permissions_add(list, sizeof(list), "files:write", 11));
    ck_assert_str_eq(list, "files:read * rooms:write *:read files:write");
}
END_TEST

START_TEST(test_permissions_unknown)
{
    static const char *const bad[] = {
        "nope",
        "FILES:READ",
        "files",
        "files:",
        "files:delete",
        " files:read",
        "files:read ",
        "files:read rooms:write",
        "files:read *",
        "read",
        "",
    };
    for (size_t i = 0; i < IDD_ARRAY_LEN(bad); i++) {
        char list[64] = "rooms:read";
        const char *p = idd_apikey_permissions_add(list, sizeof(list), bad[i], strlen(bad[i]));
        ck_assert_msg(p != NULL && strcmp(p, MSG_UNKNOWN) == 0, "\"%s\": %s", bad[i],
                      p ? p : "accepted");
        ck_assert_str_eq(list, "rooms:read");
    }
    /* The length given is what is compared: a known name with a NUL and more after it is not
     * that name, and a prefix of one is not it either. */
    char list[64] = "";
    ck_assert_str_eq(idd_apikey_permissions_add(list, sizeof(list), "files:read\0x", 12),
                     MSG_UNKNOWN);
    ck_assert_str_eq(idd_apikey_permissions_add(list, sizeof(list), "files:read", 9), MSG_UNKNOWN);
    ck_assert_str_eq(idd_apikey_permissions_add(list, sizeof(list), NULL, 0), MSG_UNKNOWN);
    ck_assert_str_eq(list, "");
}
END_TEST

/* Every known permission fits the store's field; a list that would overflow its buffer is
 * refused and left as it was. */
START_TEST(test_permissions_room)
{
    char list[IDD_APIKEY_PERMISSIONS_MAX + 1] = "";
    for (size_t i = 0; i < idd_apikey_permissions_count; i++) {
        const char *name = idd_apikey_permissions[i];
        ck_assert_ptr_null(idd_apikey_permissions_add(list, sizeof(list), name, strlen(name)));
    }
    ck_assert_uint_eq(strlen(list), 130);

    char small[12] = "";
    ck_assert_ptr_null(idd_apikey_permissions_add(small, sizeof(small), "files:read", 10));
    /* "files:read *" needs 13 bytes with its NUL. */
    ck_assert_str_eq(idd_apikey_permissions_add(small, sizeof(small), "*", 1), MSG_TOO_MANY);
    ck_assert_str_eq(small, "files:read");
    char exact[11] = "";
    ck_assert_ptr_null(idd_apikey_permissions_add(exact, sizeof(exact), "files:read", 10));
    ck_assert_str_eq(exact, "files:read");
    char none[1] = "";
    ck_assert_str_eq(idd_apikey_permissions_add(none, 0, "*", 1), MSG_TOO_MANY);
    ck_assert_str_eq(idd_apikey_permissions_add(NULL, 16, "*", 1), MSG_TOO_MANY);
    /* A list that is not terminated within its size is not read past. */
    char full[4] = {'f', 'u', 'l', 'l'};
    ck_assert_str_eq(idd_apikey_permissions_add(full, sizeof(full), "*", 1), MSG_TOO_MANY);
}
END_TEST

START_TEST(test_expiry_days)
{
    ck_assert_ptr_null(idd_apikey_check_expiry_days(1));
    ck_assert_ptr_null(idd_apikey_check_expiry_days(30));
    ck_assert_ptr_null(idd_apikey_check_expiry_days(365));
    static const int64_t bad[] = {0, -1, 366, 4294967297LL, INT64_MAX, INT64_MIN};
    for (size_t i = 0; i < IDD_ARRAY_LEN(bad); i++) {
        const char *p = idd_apikey_check_expiry_days(bad[i]);
        ck_assert_msg(p != NULL && strcmp(p, MSG_EXPIRY) == 0, "%lld: %s", (long long)bad[i],
                      p ? p : "accepted");
    }
}
END_TEST

static Suite *apikey_suite(void)
{
    Suite *s = suite_create("apikey");
    TCase *names = tcase_create("name");
    tcase_add_test(names, test_name_accepted);
    tcase_add_test(names, test_name_length);
    tcase_add_test(names, test_name_blank);
    tcase_add_test(names, test_name_control);
    tcase_add_test(names, test_name_not_utf8);
    suite_add_tcase(s, names);
    TCase *perms = tcase_create("permissions");
    tcase_add_test(perms, test_permissions_add);
    tcase_add_test(perms, test_permissions_unknown);
    tcase_add_test(perms, test_permissions_room);
    suite_add_tcase(s, perms);
    TCase *expiry = tcase_create("expiry");
    tcase_add_test(expiry, test_expiry_days);
    suite_add_tcase(s, expiry);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(apikey_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
