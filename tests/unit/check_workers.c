/*
 * The worker pool: every job runs exactly once, on a thread other than the submitter's,
 * done follows run, and freeing the pool finishes what was queued.
 */
#include <check.h>
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "identityd/core/common.h"
#include "identityd/core/workers.h"

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
    idd_workers_t *w = idd_workers_new(3, 0);
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

static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_open = PTHREAD_COND_INITIALIZER;
static pthread_cond_t gate_reached = PTHREAD_COND_INITIALIZER;
static int gate_is_open;
static int at_gate; /* jobs waiting at the gate */

static void run_gated(idd_job_t *job)
{
    (void)job;
    pthread_mutex_lock(&gate_lock);
    at_gate++;
    pthread_cond_broadcast(&gate_reached);
    while (!gate_is_open)
        pthread_cond_wait(&gate_open, &gate_lock);
    pthread_mutex_unlock(&gate_lock);
    atomic_fetch_add(&runs, 1);
}

/* A bounded pool refuses work beyond its limit instead of queueing without end, and
 * cancelling hands queued jobs back unrun (marked cancelled) while running ones finish. */
START_TEST(bounded_queue_and_cancel)
{
    counted_job_t jobs[4];
    memset(jobs, 0, sizeof(jobs));
    atomic_store(&runs, 0);
    atomic_store(&dones, 0);
    gate_is_open = 0;
    at_gate = 0;
    idd_workers_t *w = idd_workers_new(1, 3);
    for (int i = 0; i < 4; i++) {
        jobs[i].job.run = run_gated;
        jobs[i].job.done = done;
    }
    ck_assert_int_eq(idd_workers_submit(w, &jobs[0].job), 0);
    ck_assert_int_eq(idd_workers_submit(w, &jobs[1].job), 0);
    ck_assert_int_eq(idd_workers_submit(w, &jobs[2].job), 0);
    ck_assert_int_eq(idd_workers_submit(w, &jobs[3].job), IDD_EBUSY);
    /* Until the single thread has taken job 0 and waits at the gate (a fixed pause could
     * end first on a busy machine, and then job 0 would be cancelled too). */
    pthread_mutex_lock(&gate_lock);
    while (at_gate == 0)
        pthread_cond_wait(&gate_reached, &gate_lock);
    pthread_mutex_unlock(&gate_lock);
    idd_workers_cancel(w);
    ck_assert_int_eq(jobs[1].job.cancelled, 1);
    ck_assert_int_eq(jobs[2].job.cancelled, 1);
    ck_assert_int_eq(idd_workers_submit(w, &jobs[3].job), IDD_EBUSY);
    pthread_mutex_lock(&gate_lock);
    gate_is_open = 1;
    pthread_cond_broadcast(&gate_open);
    pthread_mutex_unlock(&gate_lock);
    idd_workers_free(w);
    ck_assert_int_eq(atomic_load(&runs), 1);  /* only the job already running ran */
    ck_assert_int_eq(atomic_load(&dones), 3); /* every accepted job was handed back */
    ck_assert_int_eq(jobs[0].job.cancelled, 0);
}
END_TEST

START_TEST(free_null_is_noop)
{
    idd_workers_free(NULL);
    idd_workers_abandon(NULL);
}
END_TEST

/* Threads of this process, from /proc/self/task. */
static int task_count(void)
{
    DIR *d = opendir("/proc/self/task");
    ck_assert_ptr_nonnull(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* Kept reachable: an abandoned pool is never freed, since a job may still be using it. */
static idd_workers_t *abandoned_pool;

/* A pool abandoned while a job runs lets the job finish, and then its threads end by
 * themselves, none left to be joined: under ThreadSanitizer a finished thread still joinable
 * at exit is reported as a leak, which fails this test's process. */
START_TEST(abandon_lets_the_running_job_finish_and_ends_the_threads)
{
    int before = task_count();
    abandoned_pool = idd_workers_new(2, 4);
    int with_pool = task_count(); /* a sanitizer may start a thread of its own with the first */
    ck_assert_int_ge(with_pool, before + 2);
    atomic_store(&runs, 0);
    atomic_store(&dones, 0);
    counted_job_t job = {.job = {.run = run, .done = done}, .submitter = pthread_self()};
    ck_assert_int_eq(idd_workers_submit(abandoned_pool, &job.job), 0);
    idd_workers_abandon(abandoned_pool);
    /* Waited for, within the test case's bound: a loaded machine may run the threads late. */
    for (int i = 0; i < 30000 && task_count() > with_pool - 2; i++)
        usleep(1000);
    ck_assert_int_eq(task_count(), with_pool - 2);
    ck_assert_int_eq(atomic_load(&runs), 1);
    ck_assert_int_eq(atomic_load(&dones), 1);
    ck_assert_int_eq(job.order, 2);
}
END_TEST

static Suite *workers_suite(void)
{
    Suite *s = suite_create("workers");
    TCase *tc = tcase_create("pool");
    tcase_add_test(tc, all_jobs_run_once);
    tcase_add_test(tc, bounded_queue_and_cancel);
    tcase_add_test(tc, free_null_is_noop);
    tcase_add_test(tc, abandon_lets_the_running_job_finish_and_ends_the_threads);
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
