/*
 * The store engines' one check of a record's string fields before a write
 * (idd_store_fields_length, used by the user, session, API key and two-factor writers):
 * each field must end inside its array, lengths come back where asked, and the first
 * unterminated field stops the check with IDD_ETOOBIG.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "identityd/core/common.h"

/* The engines' private header: the helper is not part of store.h. */
#include "../../src/store/checks.h"

START_TEST(test_lengths_returned)
{
    char a[8] = "abc", b[4] = "", c[16] = "fifteen chars!!";
    size_t a_len = 99, b_len = 99, c_len = 99;
    const store_field_t fields[] = {STORE_FIELD(a, &a_len), STORE_FIELD(b, &b_len),
                                    STORE_FIELD(c, &c_len)};

    ck_assert_int_eq(idd_store_fields_length(fields, IDD_ARRAY_LEN(fields)), 0);
    ck_assert_uint_eq(a_len, 3);
    ck_assert_uint_eq(b_len, 0);
    ck_assert_uint_eq(c_len, 15);
}
END_TEST

START_TEST(test_length_not_asked)
{
    char a[4] = "xy";
    const store_field_t fields[] = {STORE_FIELD(a, NULL)};

    ck_assert_int_eq(idd_store_fields_length(fields, IDD_ARRAY_LEN(fields)), 0);
}
END_TEST

START_TEST(test_unterminated_stops)
{
    char a[4] = "ok", full[4], c[4] = "c";
    size_t a_len = 99, full_len = 99, c_len = 99;
    memset(full, 'x', sizeof(full)); /* no terminator inside the array */
    const store_field_t fields[] = {STORE_FIELD(a, &a_len), STORE_FIELD(full, &full_len),
                                    STORE_FIELD(c, &c_len)};

    ck_assert_int_eq(idd_store_fields_length(fields, IDD_ARRAY_LEN(fields)), IDD_ETOOBIG);
    ck_assert_uint_eq(a_len, 2);
    ck_assert_uint_eq(full_len, 99); /* neither the bad field nor those after it are read */
    ck_assert_uint_eq(c_len, 99);
}
END_TEST

START_TEST(test_no_fields)
{
    ck_assert_int_eq(idd_store_fields_length(NULL, 0), 0);
}
END_TEST

static Suite *fields_suite(void)
{
    Suite *s = suite_create("store_fields");
    TCase *tc = tcase_create("fields");
    tcase_add_test(tc, test_lengths_returned);
    tcase_add_test(tc, test_length_not_asked);
    tcase_add_test(tc, test_unterminated_stops);
    tcase_add_test(tc, test_no_fields);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(fields_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
