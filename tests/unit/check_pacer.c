/*
 * Unit tests of src/core/pacer.c's policy, idd_pacer_step, on times the test gives (no clock,
 * no sleep): idle loops never pace; busy loops (half their cores' time or more in a window)
 * hold the paced work to percent of their cores; the budget does not save up idle time; the
 * verdict follows the last whole window; 100 % never paces nor reads the loops' clocks; and a
 * released pacer (shutdown) lets everything run.
 */
#include <check.h>
#include <stdlib.h>

#include "identityd/core/pacer.h"

#define MS 1000000LL
#define WINDOW (PACER_WINDOW_MS * MS)

static int64_t loops_clock; /* what read_loops answers: the loops' CPU ns */
static int reads;

static int64_t read_loops(void)
{
    reads++;
    return loops_clock;
}

/* Runs one whole window in which the loops used loops_ns and the paced work nothing, and
 * returns the state's verdict of it. */
static bool window(idd_pacer_state_t *s, int64_t *now, int64_t loops_ns)
{
    *now += WINDOW;
    loops_clock += loops_ns;
    (void)idd_pacer_step(s, *now, 0, read_loops);
    return s->busy;
}

START_TEST(test_idle_loops_never_pace)
{
    idd_pacer_state_t st;
    int64_t now = 1000 * MS;
    loops_clock = 0;
    idd_pacer_state_init(&st, 10, 2, now, loops_clock);
    ck_assert(!window(&st, &now, WINDOW - 1)); /* 2 loops, just under one core: idle */
    /* A whole second of KDF work reported at once still passes. */
    ck_assert_int_eq(idd_pacer_step(&st, now + 1, 1000 * MS, read_loops), 0);
    ck_assert_uint_eq(st.paced_ns, 0);
}
END_TEST

START_TEST(test_busy_loops_hold_the_work_to_its_share)
{
    idd_pacer_state_t s;
    int64_t now = 1000 * MS;
    loops_clock = 0;
    idd_pacer_state_init(&s, 10, 2, now, loops_clock);
    ck_assert(window(&s, &now, WINDOW)); /* 2 loops, one core's time: half, busy */
    /* 10 % of 2 cores: 1 ms of work costs 5 ms of budget. */
    ck_assert_int_eq(idd_pacer_step(&s, now, 1 * MS, read_loops), now + 5 * MS);
    /* A second slice reported at the same instant queues behind the first. */
    ck_assert_int_eq(idd_pacer_step(&s, now, 1 * MS, read_loops), now + 10 * MS);
    ck_assert_uint_eq(s.paced_ns, 15 * MS);
}
END_TEST

START_TEST(test_idle_time_is_not_saved_up)
{
    idd_pacer_state_t s;
    int64_t now = 1000 * MS;
    loops_clock = 0;
    idd_pacer_state_init(&s, 10, 1, now, loops_clock);
    ck_assert(window(&s, &now, WINDOW)); /* one loop, all of its core */
    /* Within the same window, a long pause and then a slice: the pause bought nothing. */
    int64_t later = now + WINDOW - 1;
    ck_assert_int_eq(idd_pacer_step(&s, later, 2 * MS, read_loops), later + 20 * MS);
}
END_TEST

START_TEST(test_verdict_follows_the_last_window)
{
    idd_pacer_state_t s;
    int64_t now = 1000 * MS;
    loops_clock = 0;
    idd_pacer_state_init(&s, 10, 2, now, loops_clock);
    ck_assert(window(&s, &now, 2 * WINDOW));   /* busy */
    ck_assert(!window(&s, &now, WINDOW / 10)); /* the load went away */
    ck_assert_int_eq(idd_pacer_step(&s, now + 1, 5 * MS, read_loops), 0);
    ck_assert(window(&s, &now, 2 * WINDOW)); /* and came back */
    ck_assert_int_gt(idd_pacer_step(&s, now + 1, 5 * MS, read_loops), now + 1);
}
END_TEST

START_TEST(test_release_stops_pacing)
{
    idd_pacer_state_t st;
    int64_t now = 1000 * MS;
    loops_clock = 0;
    idd_pacer_state_init(&st, 10, 1, now, loops_clock);
    ck_assert(window(&st, &now, WINDOW));
    ck_assert_int_gt(idd_pacer_step(&st, now, MS, read_loops), 0);
    /* What idd_pacer_release does, under the lock. */
    st.percent = 100;
    reads = 0;
    ck_assert_int_eq(idd_pacer_step(&st, now + 2 * WINDOW, 50 * MS, read_loops), 0);
    ck_assert_int_eq(reads, 0);
    idd_pacer_t *p = idd_pacer_new(1, 1, read_loops);
    idd_pacer_release(p);
    idd_pacer_release(NULL);
    idd_pacer_free(p);
}
END_TEST

START_TEST(test_loops_clock_read_once_per_window)
{
    idd_pacer_state_t s;
    int64_t now = 1000 * MS;
    loops_clock = 0;
    reads = 0;
    idd_pacer_state_init(&s, 50, 1, now, loops_clock);
    for (int i = 0; i < 100; i++)
        (void)idd_pacer_step(&s, now + i * (WINDOW / 100), MS / 10, read_loops);
    ck_assert_int_eq(reads, 0);
    (void)idd_pacer_step(&s, now + WINDOW, 0, read_loops);
    ck_assert_int_eq(reads, 1);
}
END_TEST

START_TEST(test_full_share_never_paces)
{
    idd_pacer_state_t s;
    int64_t now = 1000 * MS;
    loops_clock = 0;
    idd_pacer_state_init(&s, 100, 1, now, loops_clock);
    reads = 0;
    (void)window(&s, &now, WINDOW); /* the loops as busy as can be */
    ck_assert_int_eq(idd_pacer_step(&s, now, 50 * MS, read_loops), 0);
    ck_assert_int_eq(reads, 0); /* not even looked at */
    /* Out-of-range shares are clamped: 0 is 1 %, 1000 is 100 %. */
    idd_pacer_state_init(&s, 0, 0, now, loops_clock);
    ck_assert_int_eq(s.percent, 1);
    ck_assert_int_eq(s.loops, 1);
    idd_pacer_state_init(&s, 1000, 1, now, loops_clock);
    ck_assert_int_eq(s.percent, 100);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pacer");
    TCase *tc = tcase_create("policy");
    tcase_add_test(tc, test_idle_loops_never_pace);
    tcase_add_test(tc, test_busy_loops_hold_the_work_to_its_share);
    tcase_add_test(tc, test_idle_time_is_not_saved_up);
    tcase_add_test(tc, test_verdict_follows_the_last_window);
    tcase_add_test(tc, test_release_stops_pacing);
    tcase_add_test(tc, test_loops_clock_read_once_per_window);
    tcase_add_test(tc, test_full_share_never_paces);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
