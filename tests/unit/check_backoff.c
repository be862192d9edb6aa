/*
 * Unit tests of src/core/backoff.c on times the test gives (no clock, no sleep): a new state
 * allows an attempt at once; failures in a row wait 100 ms, doubling to 5 s and no further;
 * jitter shortens a wait by at most a quarter; a success starts over.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#include "identityd/core/backoff.h"

START_TEST(test_new_state_allows_at_once)
{
    idd_backoff_t b = {0};
    ck_assert(idd_backoff_ready(&b, 0));
    ck_assert(idd_backoff_ready(&b, 123456));
}
END_TEST

START_TEST(test_failures_double_up_to_the_maximum)
{
    idd_backoff_t b = {0};
    int64_t now = 1000;
    const int64_t want[] = {100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        ck_assert_int_eq(idd_backoff_failed(&b, now, 0), want[i]);
        ck_assert(!idd_backoff_ready(&b, now));
        ck_assert(!idd_backoff_ready(&b, now + want[i] - 1));
        ck_assert(idd_backoff_ready(&b, now + want[i]));
        now += want[i];
    }
}
END_TEST

START_TEST(test_jitter_shortens_by_at_most_a_quarter)
{
    for (uint32_t j = 0; j < 100000; j += 7) {
        idd_backoff_t b = {0};
        int64_t w = idd_backoff_failed(&b, 0, j);
        ck_assert_int_le(w, 100);
        ck_assert_int_ge(w, 75);
        b.delay_ms = 4000;
        w = idd_backoff_failed(&b, 0, j);
        ck_assert_int_le(w, 5000);
        ck_assert_int_ge(w, 3750);
        ck_assert_int_eq(b.delay_ms, 5000); /* the jitter never changes the doubling */
    }
    idd_backoff_t b = {0};
    ck_assert_int_eq(idd_backoff_failed(&b, 0, 0xffffffffu), 100 - (int64_t)(0xffffffffu % 26));
}
END_TEST

START_TEST(test_success_starts_over)
{
    idd_backoff_t b = {0};
    for (int i = 0; i < 10; i++)
        (void)idd_backoff_failed(&b, 0, 0);
    idd_backoff_reset(&b);
    ck_assert(idd_backoff_ready(&b, 0));
    ck_assert_int_eq(idd_backoff_failed(&b, 50, 0), 100);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("backoff");
    TCase *tc = tcase_create("policy");
    tcase_add_test(tc, test_new_state_allows_at_once);
    tcase_add_test(tc, test_failures_double_up_to_the_maximum);
    tcase_add_test(tc, test_jitter_shortens_by_at_most_a_quarter);
    tcase_add_test(tc, test_success_starts_over);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
