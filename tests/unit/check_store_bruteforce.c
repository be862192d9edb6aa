/*
 * Unit tests of the brute-force counters every process shares (store.h, migrations/0009),
 * through the store's interface, on either engine (store_test.h): the key every process
 * agrees on, the counting rule of one upsert, what a sync reads, and pruning.
 */
#include "store_test.h"

static idd_bf_count_t rule(unsigned char fill, int64_t window_ms, int64_t block_ms, int64_t most)
{
    idd_bf_count_t c;
    memset(c.tag, fill, sizeof c.tag);
    c.window_ms = window_ms;
    c.block_ms = block_ms;
    c.most = most;
    return c;
}

typedef struct seen {
    idd_bf_counter_t rows[8];
    int n;
} seen_t;

static int remember(const idd_bf_counter_t *c, void *arg)
{
    seen_t *s = arg;
    ck_assert_int_lt(s->n, 8);
    s->rows[s->n++] = *c;
    return 0;
}

/* The one counter with tag fill (failures 0 when it is not listed as live at now). */
static idd_bf_counter_t counter_of(idd_store_t *s, unsigned char fill, int64_t now)
{
    seen_t seen = {.n = 0};
    idd_bf_counter_t none = {.failures = 0};
    ck_assert_int_eq(idd_store_bruteforce_since(s, 0, now, 8, remember, &seen), 0);
    for (int i = 0; i < seen.n; i++)
        if (seen.rows[i].tag[0] == fill)
            return seen.rows[i];
    return none;
}

START_TEST(test_key_is_the_first_stored)
{
    idd_store_t *s = open_migrated();
    idd_store_t *other = open_migrated();
    unsigned char first[IDD_BF_TAG_LEN], second[IDD_BF_TAG_LEN], got[IDD_BF_TAG_LEN];
    memset(first, 0xa1, sizeof first);
    memset(second, 0xb2, sizeof second);
    ck_assert_int_eq(idd_store_bruteforce_key(s, first, got), 0);
    ck_assert_mem_eq(got, first, sizeof got);
    /* Another process, later, with its own candidate: it gets the key already there. */
    ck_assert_int_eq(idd_store_bruteforce_key(other, second, got), 0);
    ck_assert_mem_eq(got, first, sizeof got);
    idd_store_free(other);
    idd_store_free(s);
}
END_TEST

/* A pair's rule: failures count up inside the window, the one that reaches `most` starts
 * the block, more failures neither extend nor count; after the block a failure starts over. */
START_TEST(test_count_blocks_at_most)
{
    idd_store_t *s = open_migrated();
    idd_bf_count_t pair = rule(1, 60000, 300000, 3);
    int64_t t0 = 1700000000000;

    ck_assert_int_eq(idd_store_bruteforce_count(s, &pair, 1, t0), 0);
    idd_bf_counter_t c = counter_of(s, 1, t0);
    ck_assert_int_eq(c.failures, 1);
    ck_assert_int_eq(c.deadline_ms, t0 + 60000);
    ck_assert_int_eq(c.updated_ms, t0);

    ck_assert_int_eq(idd_store_bruteforce_count(s, &pair, 1, t0 + 1000), 0);
    c = counter_of(s, 1, t0 + 1000);
    ck_assert_int_eq(c.failures, 2);
    ck_assert_int_eq(c.deadline_ms, t0 + 60000); /* the window does not slide */

    ck_assert_int_eq(idd_store_bruteforce_count(s, &pair, 1, t0 + 2000), 0);
    c = counter_of(s, 1, t0 + 2000);
    ck_assert_int_eq(c.failures, 3);
    ck_assert_int_eq(c.deadline_ms, t0 + 2000 + 300000); /* blocked */

    ck_assert_int_eq(idd_store_bruteforce_count(s, &pair, 1, t0 + 3000), 0);
    c = counter_of(s, 1, t0 + 3000);
    ck_assert_int_eq(c.failures, 3);
    ck_assert_int_eq(c.deadline_ms, t0 + 2000 + 300000); /* not extended */

    int64_t after = t0 + 2000 + 300000;
    ck_assert_int_eq(counter_of(s, 1, after).failures, 0); /* over: not listed */
    ck_assert_int_eq(idd_store_bruteforce_count(s, &pair, 1, after), 0);
    c = counter_of(s, 1, after);
    ck_assert_int_eq(c.failures, 1);
    ck_assert_int_eq(c.deadline_ms, after + 60000);
    idd_store_free(s);
}
END_TEST

/* A client's or a login's budget has no block: reaching it keeps the window's end. One
 * call counts several counters in one transaction; `most` of 1 with a block blocks at once. */
START_TEST(test_count_budget_and_batch)
{
    idd_store_t *s = open_migrated();
    int64_t t0 = 1700000000000;
    idd_bf_count_t batch[2] = {rule(2, 600000, 0, 2), rule(3, 1000, 5000, 1)};

    ck_assert_int_eq(idd_store_bruteforce_count(s, batch, 2, t0), 0);
    ck_assert_int_eq(idd_store_bruteforce_count(s, batch, 1, t0 + 10), 0);
    ck_assert_int_eq(idd_store_bruteforce_count(s, batch, 1, t0 + 20), 0);
    idd_bf_counter_t c = counter_of(s, 2, t0 + 20);
    ck_assert_int_eq(c.failures, 2);
    ck_assert_int_eq(c.deadline_ms, t0 + 600000);
    c = counter_of(s, 3, t0);
    ck_assert_int_eq(c.failures, 1);
    ck_assert_int_eq(c.deadline_ms, t0 + 5000);

    /* A rule out of range is refused, and nothing of its batch is counted. */
    idd_bf_count_t bad[2] = {rule(4, 1000, 0, 5), rule(5, 1000, 0, 0)};
    ck_assert_int_eq(idd_store_bruteforce_count(s, bad, 2, t0), IDD_EINVAL);
    ck_assert_int_eq(counter_of(s, 4, t0).failures, 0);
    idd_store_free(s);
}
END_TEST

/* What a sync reads: live counters that moved at or after since, oldest move first, at most
 * limit; pruning deletes the counters that are over, and only those. */
START_TEST(test_since_and_prune)
{
    idd_store_t *s = open_migrated();
    int64_t t0 = 1700000000000;
    for (unsigned char i = 1; i <= 4; i++) {
        idd_bf_count_t c = rule(i, i == 4 ? 100 : 60000, 0, 10);
        ck_assert_int_eq(idd_store_bruteforce_count(s, &c, 1, t0 + i * 10), 0);
    }
    seen_t seen = {.n = 0};
    ck_assert_int_eq(idd_store_bruteforce_since(s, t0 + 20, t0 + 200, 8, remember, &seen), 0);
    ck_assert_int_eq(seen.n, 2); /* 2 and 3; 1 moved before, 4 is over at t0 + 200 */
    ck_assert_int_eq(seen.rows[0].tag[0], 2);
    ck_assert_int_eq(seen.rows[1].tag[0], 3);
    seen.n = 0;
    ck_assert_int_eq(idd_store_bruteforce_since(s, 0, t0, 2, remember, &seen), 0);
    ck_assert_int_eq(seen.n, 2);
    ck_assert_int_eq(seen.rows[0].tag[0], 1);

    int deleted = -1;
    ck_assert_int_eq(idd_store_bruteforce_prune(s, t0 + 200, 100, &deleted), 0);
    ck_assert_int_eq(deleted, 1);
    seen.n = 0;
    ck_assert_int_eq(idd_store_bruteforce_since(s, 0, 0, 8, remember, &seen), 0);
    ck_assert_int_eq(seen.n, 3);
    ck_assert_int_eq(idd_store_bruteforce_prune(s, t0, 0, &deleted), IDD_EINVAL);
    idd_store_free(s);
}
END_TEST

/* Two processes counting the same counter at once add up: no failure is lost. */
START_TEST(test_two_writers_add_up)
{
    idd_store_t *a = open_migrated();
    idd_store_t *b = open_migrated();
    int64_t t0 = 1700000000000;
    idd_bf_count_t c = rule(9, 600000, 0, 1000);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        idd_store_t *child = NULL;
        int bad = idd_store_open(store_location, &child) != 0;
        for (int i = 0; i < 50 && !bad; i++)
            bad = idd_store_bruteforce_count(child, &c, 1, t0 + i) != 0;
        idd_store_free(child);
        _exit(bad);
    }
    for (int i = 0; i < 50; i++)
        ck_assert_int_eq(idd_store_bruteforce_count(a, &c, 1, t0 + i), 0);
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ck_assert_int_eq(counter_of(b, 9, t0).failures, 100);
    idd_store_free(b);
    idd_store_free(a);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("store_bruteforce");
    TCase *tc = tcase_create("bruteforce");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_key_is_the_first_stored);
    tcase_add_test(tc, test_count_blocks_at_most);
    tcase_add_test(tc, test_count_budget_and_batch);
    tcase_add_test(tc, test_since_and_prune);
    tcase_add_test(tc, test_two_writers_add_up);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(make_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
