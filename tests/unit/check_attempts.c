/*
 * Unit tests of src/core/attempts.c, the limit on two-factor code attempts (DocSpace: 5 per
 * user, each re-arming a one-minute expiry; the 6th refused unchecked). The clock is a
 * parameter: every time below is chosen, none is waited for.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "identityd/core/attempts.h"
#include "identityd/core/common.h"

#define USER_A "0f8e7d6c-5b4a-4321-8fed-cba987654321"
#define USER_B "11111111-2222-4333-8444-555555555555"
#define MINUTE 60000

static int take(idd_attempts_t *a, const char *key, int64_t now, int *retry)
{
    return idd_attempts_take(a, key, strlen(key), now, retry);
}

START_TEST(test_five_then_refused_without_rearming)
{
    idd_attempts_t *a = idd_attempts_new(1024, 5, MINUTE);
    int retry = -1;
    ck_assert_ptr_nonnull(a);
    /* Five attempts, the last at t = 40 s. */
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(take(a, USER_A, 10000 * i, &retry), 0);
    /* The sixth is refused, even just before the expiry the fifth set. */
    ck_assert_int_eq(take(a, USER_A, 40001, &retry), IDD_EDENIED);
    ck_assert_int_eq(retry, 60);
    ck_assert_int_eq(take(a, USER_A, 40000 + MINUTE - 1, &retry), IDD_EDENIED);
    ck_assert_int_eq(retry, 1);
    /* Refusals did not re-arm it: one minute after the fifth, the user may try again. */
    ck_assert_int_eq(take(a, USER_A, 40000 + MINUTE, &retry), 0);
    /* Another user was never concerned. */
    ck_assert_int_eq(take(a, USER_B, 40001, &retry), 0);
    idd_attempts_free(a);
}
END_TEST

/* Each counted attempt re-arms the expiry: five spread over four minutes still block. */
START_TEST(test_each_attempt_rearms)
{
    idd_attempts_t *a = idd_attempts_new(64, 5, MINUTE);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(take(a, USER_A, (int64_t)i * 59000, NULL), 0);
    ck_assert_int_eq(take(a, USER_A, 4 * 59000 + 1000, NULL), IDD_EDENIED);
    /* Left alone for a minute, the count starts over. */
    ck_assert_int_eq(take(a, USER_A, 4 * 59000 + MINUTE, NULL), 0);
    ck_assert_int_eq(idd_attempts_used(a, 4 * 59000 + MINUTE), 1);
    ck_assert_int_eq(idd_attempts_used(a, 5 * 59000 + 2 * MINUTE), 0);
    idd_attempts_free(a);
}
END_TEST

/* A success does not count: an attempt taken and given back leaves room for five more. */
START_TEST(test_refund_on_success)
{
    idd_attempts_t *a = idd_attempts_new(64, 5, MINUTE);
    for (int i = 0; i < 20; i++) {
        ck_assert_int_eq(take(a, USER_A, 1000 + i, NULL), 0);
        idd_attempts_refund(a, USER_A, strlen(USER_A), 1000 + i);
    }
    ck_assert_int_eq(idd_attempts_used(a, 2000), 0);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(take(a, USER_A, 2000, NULL), 0);
    idd_attempts_refund(a, USER_A, strlen(USER_A), 2000);
    ck_assert_int_eq(take(a, USER_A, 2000, NULL), 0);
    ck_assert_int_eq(take(a, USER_A, 2000, NULL), 0);
    ck_assert_int_eq(take(a, USER_A, 2000, NULL), IDD_EDENIED);
    /* A refund for a key with nothing on record changes nothing. */
    idd_attempts_refund(a, USER_B, strlen(USER_B), 2000);
    ck_assert_int_eq(idd_attempts_used(a, 2000), 1);
    idd_attempts_free(a);
}
END_TEST

START_TEST(test_bad_arguments)
{
    ck_assert_ptr_null(idd_attempts_new(64, 0, MINUTE));
    ck_assert_ptr_null(idd_attempts_new(64, 1001, MINUTE));
    ck_assert_ptr_null(idd_attempts_new(64, 5, 0));
    ck_assert_ptr_null(idd_attempts_new(64, 5, 86400001));
    ck_assert_ptr_null(idd_attempts_new(((size_t)1 << 20) + 1, 5, MINUTE));
    idd_attempts_t *a = idd_attempts_new(0, 5, MINUTE);
    ck_assert_ptr_nonnull(a);
    char big[IDD_ATTEMPTS_KEY_MAX + 1];
    memset(big, 'k', sizeof big);
    ck_assert_int_eq(idd_attempts_take(a, big, sizeof big, 0, NULL), IDD_EINVAL);
    ck_assert_int_eq(idd_attempts_take(a, big, sizeof big - 1, 0, NULL), 0);
    ck_assert_int_eq(idd_attempts_take(a, big, 0, 0, NULL), IDD_EINVAL);
    ck_assert_int_eq(idd_attempts_take(a, NULL, 3, 0, NULL), IDD_EINVAL);
    /* Keys that share a prefix are different keys. */
    ck_assert_int_eq(idd_attempts_take(a, big, sizeof big - 2, 0, NULL), 0);
    ck_assert_int_eq(idd_attempts_used(a, 0), 2);
    idd_attempts_free(a);
    idd_attempts_free(NULL);
}
END_TEST

/* The table never grows: when a key's run of slots is full of live keys it is refused with a
 * time to retry, and the room comes back when those expire. */
START_TEST(test_full_table_refuses)
{
    idd_attempts_t *a = idd_attempts_new(64, 5, MINUTE);
    char key[32];
    int stored = 0, busy = 0, retry = 0;
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof key, "user-%d", i);
        int rc = take(a, key, 1000, &retry);
        if (rc == 0)
            stored++;
        else {
            ck_assert_int_eq(rc, IDD_EBUSY);
            ck_assert_int_eq(retry, 60);
            busy++;
        }
    }
    ck_assert_int_le(stored, 64);
    ck_assert_int_gt(busy, 0);
    ck_assert_int_eq((int)idd_attempts_used(a, 1000), stored);
    /* Keys on record keep their counts. */
    ck_assert_int_eq(take(a, "user-0", 1001, NULL), 0);
    /* A minute after, everything expired: room again. */
    ck_assert_int_eq(idd_attempts_used(a, 1001 + MINUTE), 0);
    ck_assert_int_eq(take(a, "user-999", 1001 + MINUTE, NULL), 0);
    idd_attempts_free(a);
}
END_TEST

typedef struct {
    idd_attempts_t *a;
    int allowed;
} racer_t;

static void *racer(void *arg)
{
    racer_t *r = arg;
    for (int i = 0; i < 200; i++)
        if (take(r->a, USER_A, 5000, NULL) == 0)
            r->allowed++;
    return NULL;
}

/* Threads hammering one key: exactly the limit gets through, whatever the interleaving. */
START_TEST(test_threads_share_the_limit)
{
    enum { THREADS = 4 };
    idd_attempts_t *a = idd_attempts_new(64, 5, MINUTE);
    pthread_t t[THREADS];
    racer_t r[THREADS];
    int total = 0;
    for (int i = 0; i < THREADS; i++) {
        r[i] = (racer_t){.a = a, .allowed = 0};
        ck_assert_int_eq(pthread_create(&t[i], NULL, racer, &r[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        ck_assert_int_eq(pthread_join(t[i], NULL), 0);
        total += r[i].allowed;
    }
    ck_assert_int_eq(total, 5);
    idd_attempts_free(a);
}
END_TEST

static Suite *attempts_suite(void)
{
    Suite *s = suite_create("attempts");
    TCase *tc = tcase_create("attempts");
    tcase_add_test(tc, test_five_then_refused_without_rearming);
    tcase_add_test(tc, test_each_attempt_rearms);
    tcase_add_test(tc, test_refund_on_success);
    tcase_add_test(tc, test_bad_arguments);
    tcase_add_test(tc, test_full_table_refuses);
    tcase_add_test(tc, test_threads_share_the_limit);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(attempts_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
