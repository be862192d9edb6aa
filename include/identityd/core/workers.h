/*
 * A fixed pool of worker threads for the slow parts of a request: the password KDF, and (in
 * a pool of its own) calls to the OAuth2/OpenID authority. Event loops never run these
 * themselves. A job is a caller-owned
 * struct with two callbacks, both run on the worker thread: `run` does the work and `done`
 * hands the result back (the HTTP layer posts it to the request's own event loop).
 */
#ifndef IDENTITYD_WORKERS_H
#define IDENTITYD_WORKERS_H

#include <stdbool.h>

typedef struct idd_job idd_job_t;
struct idd_job {
    void (*run)(idd_job_t *job);  /* the slow work */
    void (*done)(idd_job_t *job); /* called right after run (or instead, when cancelled) */
    idd_job_t *next, *prev;       /* queue links, owned by the pool while queued */
    int queued;                   /* in the queue, not yet taken by a worker (pool's lock) */
    int cancelled;                /* set when idd_workers_cancel took the job unrun */
    long long queued_ns;          /* monotonic, when submitted (for the wait time) */
};

/* What became of the jobs offered to a pool, counted for /metrics. The pool counts FULL
 * itself; its callers count the others (idd_workers_note): only they know whether a job's
 * run did the work or found it no longer wanted. */
typedef enum {
    IDD_JOBS_RAN,     /* run by a worker */
    IDD_JOBS_DROPPED, /* withdrawn unrun: the request it was for had gone */
    IDD_JOBS_EXPIRED, /* withdrawn unrun: waited longer than allowed, answered 503 */
    IDD_JOBS_FULL,    /* refused: the pool's queue was full (or stopping) */
    IDD_JOBS_CAPPED,  /* refused by the caller: its connection or client had too many queued */
    IDD_JOBS_NCOUNTS
} idd_jobs_count_t;

typedef struct idd_workers idd_workers_t;

/* Starts n threads (n >= 1). At most max_pending jobs may be queued or running at once
 * (0: no limit); beyond that, submit refuses. Aborts when a thread cannot be created. */
idd_workers_t *idd_workers_new(int n, int max_pending);

/* The same, with each thread named name (at most 15 characters; NULL: unnamed, as the
 * process), under SCHED_BATCH when batch (long CPU-bound jobs: the scheduler does not let
 * them preempt a thread that wakes, such as an event loop with a request, yet gives them
 * their fair share), and at nice value nice (0: the process's). */
idd_workers_t *idd_workers_new_named(int n, int max_pending, const char *name, bool batch,
                                     int nice);

/* Queues job. The job must stay valid until its done callback has returned.
 * Returns 0, or IDD_EBUSY once the pool is stopping or holds max_pending jobs. */
int idd_workers_submit(idd_workers_t *w, idd_job_t *job);

/* Takes job back out of the queue if no worker has taken it yet: returns 0, and then
 * neither run nor done will be called; or IDD_EBUSY when it is running or already done. */
int idd_workers_withdraw(idd_workers_t *w, idd_job_t *job);

/* Adds one to a counter (thread-safe), and reads one. */
void idd_workers_note(idd_workers_t *w, idd_jobs_count_t what);
unsigned long idd_workers_count(idd_workers_t *w, idd_jobs_count_t what);

/* Jobs a worker took from the queue, and the seconds they had waited there in all. */
void idd_workers_waited(idd_workers_t *w, unsigned long *jobs, double *seconds);

/* Refuses new jobs from now on and hands every queued job back unrun: each gets
 * cancelled = 1 and its done callback, on the calling thread. Jobs already running finish
 * normally. Used at shutdown, so that nothing is left to call back into event loops that
 * are about to go away. */
void idd_workers_cancel(idd_workers_t *w);

/* Number of jobs queued or running (for metrics and shutdown). */
int idd_workers_pending(idd_workers_t *w);

/* Number of jobs a worker has taken and is running now (for metrics). */
int idd_workers_running(idd_workers_t *w);

/* Finishes every queued job, stops and joins the threads, frees the pool; NULL is a no-op. */
void idd_workers_free(idd_workers_t *w);

/* For a process about to end with jobs still running: tells the threads to stop after their
 * job and detaches them, so that none is left joinable at exit; the pool itself stays
 * allocated, since a running job may still use it. NULL is a no-op. */
void idd_workers_abandon(idd_workers_t *w);

#endif
