/*
 * A CPU budget for slow background work (the password KDF) that must not crowd out the
 * event loops.
 *
 * A KDF runs in slices; after each, its thread tells the pacer how much CPU the slice took.
 * While the loops are idle the pacer lets the work run at full speed. While they are busy
 * (in the last window of PACER_WINDOW_MS they used at least half of their cores' time) the
 * work of all the paced threads together may use at most `percent` of the loops' cores: a
 * slice that goes over the budget makes its thread sleep until the budget has caught up.
 * The budget is virtual time, not a bucket: idle time does not build up a burst to spend
 * later, so the loops see a steady small share taken rather than bursts.
 *
 * The loops' use is read without their help, from their threads' CPU clocks (a reader the
 * HTTP layer provides). At shutdown the pacer is released: the checks still running finish at
 * full speed within the shutdown grace. The decision itself is idd_pacer_step, a pure
 * function of the times given, so that tests can check the policy without sleeping.
 */
#ifndef IDENTITYD_PACER_H
#define IDENTITYD_PACER_H

#include <stdbool.h>
#include <stdint.h>

#define PACER_WINDOW_MS 10

typedef struct idd_pacer_state {
    int percent;          /* 1..100 of the loops' cores while they are busy; 100: no limit */
    int loops;            /* the event loops' number (their cores) */
    int64_t window_start; /* monotonic ns */
    int64_t loops_at;     /* the loops' CPU ns at window_start */
    bool busy;            /* the loops were busy in the last whole window */
    int64_t free_at;      /* monotonic ns: when the budget has paid for what was spent */
    uint64_t paced_ns;    /* sleep imposed so far, for /metrics */
} idd_pacer_state_t;

/* Starts a state at now_ns with the loops' CPU clocks summing loops_ns. */
void idd_pacer_state_init(idd_pacer_state_t *s, int percent, int loops, int64_t now_ns,
                          int64_t loops_ns);

/* Counts a slice of slice_ns CPU reported at now_ns; read_loops, which sums the loops' CPU
 * clocks, is called only when a window ends (and never at 100 %). Returns the monotonic ns
 * until which the reporting thread must sleep, or 0. */
int64_t idd_pacer_step(idd_pacer_state_t *s, int64_t now_ns, int64_t slice_ns,
                       int64_t (*read_loops)(void));

typedef struct idd_pacer idd_pacer_t;

/* A pacer for work beside `loops` event loops whose CPU clocks read_loops sums; percent 100
 * never sleeps. */
idd_pacer_t *idd_pacer_new(int percent, int loops, int64_t (*read_loops)(void));
void idd_pacer_free(idd_pacer_t *p);

/* From now on nothing is paced (shutdown: what runs should finish, not yield). NULL: no-op. */
void idd_pacer_release(idd_pacer_t *p);

/* A paced thread's slice: call idd_pacer_begin before it and idd_pacer_end after it, with
 * the same mark; end may sleep. NULL p: both do nothing. */
typedef struct idd_pacer_mark {
    int64_t cpu_ns; /* the thread's CPU clock at the slice's start */
} idd_pacer_mark_t;
void idd_pacer_begin(const idd_pacer_t *p, idd_pacer_mark_t *m);
void idd_pacer_end(idd_pacer_t *p, idd_pacer_mark_t *m);

/* Seconds the paced threads have slept for the budget so far. */
double idd_pacer_slept(idd_pacer_t *p);

#endif
