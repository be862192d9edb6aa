/*
 * If-None-Match parsing (RFC 9110, 13.1.2): which field values match an entity tag. Every
 * malformed value matches nothing, so that a hostile header can only get the full document.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "identityd/core/common.h"
#include "identityd/http/conditional.h"

#define TAG "\"abc-123\""

static const struct {
    const char *value;
    bool match;
} cases[] = {
    {TAG, true},
    {"*", true},
    {" * ", true},
    {"W/" TAG, true},
    {"\"x\", " TAG, true},
    {"\"x\",W/" TAG ",\"y\"", true},
    {",\t, " TAG " ,", true},
    {"\"x\"", false},
    {"", false},
    {" , ", false},
    {"abc-123", false},      /* unquoted */
    {"\"abc-123", false},    /* no closing quote */
    {"\"x\" " TAG, false},   /* no comma between tags */
    {"w/" TAG, false},       /* the weak prefix is case-sensitive */
    {"W/ " TAG, false},      /* nothing between W/ and the quote */
    {"\"abc 123\"", false},  /* a space is not an etagc */
    {"\"abc-123\"x", false}, /* garbage after a tag */
    {"\"ABC-123\"", false},  /* tags compare exactly */
    {"\"abc-12\"", false},
    {"\"abc-1234\"", false},
    {"**", false},
    {"\"x\", *x", false},
};

START_TEST(test_cases)
{
    const char *v = cases[_i].value;
    ck_assert_msg(idd_http_etag_match(v, strlen(v), TAG, strlen(TAG)) == cases[_i].match,
                  "If-None-Match: %s", v);
}
END_TEST

/* A DEL or a NUL inside the field stops it matching; the length bounds the walk. */
START_TEST(test_bytes)
{
    const char with_nul[] = "\"abc\0-123\"";
    ck_assert(!idd_http_etag_match(with_nul, sizeof(with_nul) - 1, TAG, strlen(TAG)));
    const char with_del[] = "\"abc\x7f-123\"";
    ck_assert(!idd_http_etag_match(with_del, sizeof(with_del) - 1, TAG, strlen(TAG)));
    /* The tag followed by more bytes than len admits: only the first len bytes count. */
    const char longer[] = TAG ", garbage";
    ck_assert(idd_http_etag_match(longer, strlen(TAG), TAG, strlen(TAG)));
    ck_assert(!idd_http_etag_match(NULL, 0, TAG, strlen(TAG)));
    ck_assert(!idd_http_etag_match("*", 1, NULL, 0));
}
END_TEST

static Suite *conditional_suite(void)
{
    Suite *s = suite_create("conditional");
    TCase *tc = tcase_create("if-none-match");
    tcase_add_loop_test(tc, test_cases, 0, (int)IDD_ARRAY_LEN(cases));
    tcase_add_test(tc, test_bytes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(conditional_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
