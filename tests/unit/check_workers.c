/*
 * The worker pool: every job runs exactly once, on a thread other than the submitter's,
 * done follows run, and freeing the pool finishes what was queued.
 */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "identityd/common.h"
#include "identityd/workers.h"

typedef struct counted_job {
    idd_job_t job;
    pthread_t submitter;
    int ran_elsewhere;
    int order; /* 1 after run, 2 after done */
} counted_job_t;

static atomic_int runs, dones;

static void run(idd_job_t *job)
{
    counted_job_t *c = (counted_job_t *)job;
    c->ran_elsewhere = !pthread_equal(pthread_self(), c->submitter);
    usleep(100);
    c->order = 1;
    atomic_fetch_add(&runs, 1);
}

static void done(idd_job_t *job)
{
    counted_job_t *c = (counted_job_t *)job;
    if (c->order == 1)
        c->order = 2;
    atomic_fetch_add(&dones, 1);
}

START_TEST(all_jobs_run_once)
{
    enum { N = 500 };
    counted_job_t *jobs = calloc(N, sizeof(*jobs));
    idd_workers_t *w = idd_workers_new(3);
    atomic_store(&runs, 0);
    atomic_store(&dones, 0);
    for (int i = 0; i < N; i++) {
        jobs[i].job.run = run;
        jobs[i].job.done = done;
        jobs[i].submitter = pthread_self();
        ck_assert_int_eq(idd_workers_submit(w, &jobs[i].job), 0);
    }
    idd_workers_free(w); /* drains the queue before joining */
    ck_assert_int_eq(atomic_load(&runs), N);
    ck_assert_int_eq(atomic_load(&dones), N);
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(jobs[i].order, 2);
        ck_assert(jobs[i].ran_elsewhere);
    }
    free(jobs);
}
END_TEST

START_TEST(free_null_is_noop)
{
    idd_workers_free(NULL);
}
END_TEST

static Suite *workers_suite(void)
{
    Suite *s = suite_create("workers");
    TCase *tc = tcase_create("pool");
    tcase_add_test(tc, all_jobs_run_once);
    tcase_add_test(tc, free_null_is_noop);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(workers_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
