/*
 * Unit tests of src/core/rand.c, the pooled identifier bytes: no two draws alike within a
 * thread across several refills of the pool, nor between threads, nor between a parent and
 * the child it forks (the child's pool starts empty); requests over 256 bytes refused.
 */
#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "identityd/core/common.h"
#include "identityd/core/rand.h"

#define ID 16
#define DRAWS (3 * IDD_RAND_POOL / ID + 7) /* three refills and a part */

static int compare(const void *a, const void *b)
{
    return memcmp(a, b, ID);
}

/* Fails when any two of n ids are equal. */
static void all_distinct(unsigned char (*ids)[ID], size_t n)
{
    qsort(ids, n, ID, compare);
    for (size_t i = 1; i < n; i++)
        ck_assert_msg(memcmp(ids[i - 1], ids[i], ID) != 0, "ids %zu and %zu are equal", i - 1, i);
}

START_TEST(test_draws_differ_across_refills)
{
    static unsigned char ids[DRAWS][ID];
    for (size_t i = 0; i < DRAWS; i++)
        ck_assert_int_eq(idd_rand_id(ids[i], ID), 0);
    all_distinct(ids, DRAWS);
}
END_TEST

static unsigned char thread_ids[2][64][ID];

static void *draw(void *arg)
{
    unsigned char(*ids)[ID] = arg;
    for (int i = 0; i < 64; i++)
        idd_rand_id(ids[i], ID);
    return NULL;
}

START_TEST(test_threads_differ)
{
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, draw, thread_ids[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    all_distinct(&thread_ids[0][0], 128);
}
END_TEST

START_TEST(test_fork_child_does_not_repeat_the_parent)
{
    unsigned char first[ID], parent_next[ID], child_next[ID];
    int fds[2];
    ck_assert_int_eq(idd_rand_id(first, ID), 0); /* the pool is filled before the fork */
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        unsigned char b[ID];
        int ok = idd_rand_id(b, ID) == 0 && write(fds[1], b, ID) == ID;
        _exit(ok ? 0 : 1);
    }
    ck_assert_int_eq(idd_rand_id(parent_next, ID), 0);
    ck_assert_int_eq(read(fds[0], child_next, ID), ID);
    int status = 0;
    waitpid(pid, &status, 0);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ck_assert(memcmp(parent_next, child_next, ID) != 0);
    close(fds[0]);
    close(fds[1]);
}
END_TEST

START_TEST(test_large_request_refused)
{
    unsigned char b[300];
    ck_assert_int_eq(idd_rand_id(b, 257), IDD_EINVAL);
    ck_assert_int_eq(idd_rand_id(b, 256), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("rand");
    TCase *tc = tcase_create("rand");
    tcase_add_test(tc, test_draws_differ_across_refills);
    tcase_add_test(tc, test_threads_differ);
    tcase_add_test(tc, test_fork_child_does_not_repeat_the_parent);
    tcase_add_test(tc, test_large_request_refused);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
