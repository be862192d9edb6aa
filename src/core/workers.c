/*
 * The worker pool: a mutex-protected FIFO and a condition variable. Jobs are few and slow
 * (tens of milliseconds of KDF), so a single queue is the simple and sufficient shape.
 */
#include "identityd/core/workers.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "identityd/core/common.h"

struct idd_workers {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    idd_job_t *head, *tail;
    int pending;     /* queued plus running */
    int running;     /* taken by a worker, run not yet returned */
    int max_pending; /* 0: unlimited */
    bool stopping;
    int n_threads;
    int started;   /* threads that have taken their name and policy (lock) */
    int nice;      /* of each worker thread */
    bool batch;    /* SCHED_BATCH: CPU-bound work that never preempts a waking loop */
    char name[16]; /* each worker thread's name */
    pthread_t *threads;
    atomic_ulong counts[IDD_JOBS_NCOUNTS];
    unsigned long taken; /* jobs a worker took from the queue (lock) */
    long long waited_ns; /* and how long they had waited, in all (lock) */
};

static long long monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Unlinks job from the queue; the lock is held. */
static void unlink_job(idd_workers_t *w, idd_job_t *job)
{
    if (job->prev != NULL)
        job->prev->next = job->next;
    else
        w->head = job->next;
    if (job->next != NULL)
        job->next->prev = job->prev;
    else
        w->tail = job->prev;
    job->next = job->prev = NULL;
    job->queued = 0;
}

static void *worker_main(void *arg)
{
    idd_workers_t *w = arg;
    /* Linux keeps a scheduling policy and a nice value per thread: this one only. A failure
     * leaves the thread as the process is, which is what it would have had anyway. */
    if (w->batch) {
        struct sched_param none = {0};
        (void)pthread_setschedparam(pthread_self(), SCHED_BATCH, &none);
    }
    if (w->nice != 0)
        (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), w->nice);
    if (w->name[0] != '\0')
        (void)pthread_setname_np(pthread_self(), w->name);
    pthread_mutex_lock(&w->lock);
    w->started++;
    pthread_cond_broadcast(&w->wake);
    for (;;) {
        while (w->head == NULL && !w->stopping)
            pthread_cond_wait(&w->wake, &w->lock);
        if (w->head == NULL)
            break; /* stopping and drained */
        idd_job_t *job = w->head;
        unlink_job(w, job);
        w->running++;
        long long waited = monotonic_ns() - job->queued_ns;
        w->taken++;
        w->waited_ns += waited > 0 ? waited : 0;
        pthread_mutex_unlock(&w->lock);
        job->run(job);
        /* Count the job finished before done(): done may free it or hand it to a loop. */
        pthread_mutex_lock(&w->lock);
        w->running--;
        w->pending--;
        pthread_mutex_unlock(&w->lock);
        job->done(job);
        pthread_mutex_lock(&w->lock);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

idd_workers_t *idd_workers_new(int n, int max_pending)
{
    return idd_workers_new_named(n, max_pending, NULL, false, 0);
}

idd_workers_t *idd_workers_new_named(int n, int max_pending, const char *name, bool batch, int nice)
{
    idd_workers_t *w = idd_xcalloc(1, sizeof(*w));
    w->max_pending = max_pending;
    w->batch = batch;
    w->nice = nice;
    if (name != NULL)
        snprintf(w->name, sizeof(w->name), "%s", name);
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->wake, NULL);
    w->n_threads = n < 1 ? 1 : n;
    w->threads = idd_xcalloc((size_t)w->n_threads, sizeof(pthread_t));
    for (int i = 0; i < w->n_threads; i++) {
        if (pthread_create(&w->threads[i], NULL, worker_main, w) != 0) {
            fprintf(stderr, "identityd: cannot start worker thread\n");
            abort();
        }
    }
    /* The pool is returned with every thread named and under its policy, so that what an
     * operator sees in /proc once the server says it is ready is what it runs. */
    pthread_mutex_lock(&w->lock);
    while (w->started < w->n_threads)
        pthread_cond_wait(&w->wake, &w->lock);
    pthread_mutex_unlock(&w->lock);
    return w;
}

int idd_workers_submit(idd_workers_t *w, idd_job_t *job)
{
    pthread_mutex_lock(&w->lock);
    if (w->stopping || (w->max_pending > 0 && w->pending >= w->max_pending)) {
        pthread_mutex_unlock(&w->lock);
        atomic_fetch_add(&w->counts[IDD_JOBS_FULL], 1);
        return IDD_EBUSY;
    }
    job->next = NULL;
    job->prev = w->tail;
    job->queued = 1;
    job->cancelled = 0;
    job->queued_ns = monotonic_ns();
    if (w->tail != NULL)
        w->tail->next = job;
    else
        w->head = job;
    w->tail = job;
    w->pending++;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    return 0;
}

int idd_workers_withdraw(idd_workers_t *w, idd_job_t *job)
{
    pthread_mutex_lock(&w->lock);
    int rc = IDD_EBUSY;
    if (job->queued) {
        unlink_job(w, job);
        w->pending--;
        rc = 0;
    }
    pthread_mutex_unlock(&w->lock);
    return rc;
}

void idd_workers_note(idd_workers_t *w, idd_jobs_count_t what)
{
    atomic_fetch_add(&w->counts[what], 1);
}

unsigned long idd_workers_count(idd_workers_t *w, idd_jobs_count_t what)
{
    return atomic_load(&w->counts[what]);
}

void idd_workers_cancel(idd_workers_t *w)
{
    pthread_mutex_lock(&w->lock);
    w->stopping = true;
    idd_job_t *job = w->head;
    for (idd_job_t *j = job; j != NULL; j = j->next)
        j->queued = 0;
    w->head = w->tail = NULL;
    pthread_mutex_unlock(&w->lock);
    while (job != NULL) {
        idd_job_t *next = job->next;
        job->next = job->prev = NULL;
        job->cancelled = 1;
        pthread_mutex_lock(&w->lock);
        w->pending--;
        pthread_mutex_unlock(&w->lock);
        job->done(job);
        job = next;
    }
}

int idd_workers_pending(idd_workers_t *w)
{
    pthread_mutex_lock(&w->lock);
    int n = w->pending;
    pthread_mutex_unlock(&w->lock);
    return n;
}

void idd_workers_waited(idd_workers_t *w, unsigned long *jobs, double *seconds)
{
    pthread_mutex_lock(&w->lock);
    *jobs = w->taken;
    *seconds = (double)w->waited_ns / 1e9;
    pthread_mutex_unlock(&w->lock);
}

int idd_workers_running(idd_workers_t *w)
{
    pthread_mutex_lock(&w->lock);
    int n = w->running;
    pthread_mutex_unlock(&w->lock);
    return n;
}

/* Tells every thread to end once the queue is empty. */
static void tell_stop(idd_workers_t *w)
{
    pthread_mutex_lock(&w->lock);
    w->stopping = true;
    pthread_cond_broadcast(&w->wake);
    pthread_mutex_unlock(&w->lock);
}

void idd_workers_free(idd_workers_t *w)
{
    if (w == NULL)
        return;
    tell_stop(w);
    for (int i = 0; i < w->n_threads; i++)
        pthread_join(w->threads[i], NULL);
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->lock);
    free(w->threads);
    free(w);
}

void idd_workers_abandon(idd_workers_t *w)
{
    if (w == NULL)
        return;
    tell_stop(w);
    for (int i = 0; i < w->n_threads; i++)
        (void)pthread_detach(w->threads[i]); /* a thread that already ended is freed here */
}
