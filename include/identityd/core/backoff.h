/*
 * When to try again after a connection failed: the first retry after IDD_BACKOFF_FIRST_MS,
 * each failure in a row doubling the delay up to IDD_BACKOFF_MAX_MS, a success starting over.
 * Until the time comes a caller fails at once instead of trying, so that an outage costs each
 * request one fast failure, not one connection attempt. A pure policy over the times the
 * caller gives (a monotonic clock in milliseconds): no clock, no lock; one owner per state.
 *
 * A delay is shortened by up to a quarter, by the jitter the caller gives, so that many
 * connections (of one process, or of several instances) that lost their server together
 * do not all come back in the same millisecond.
 */
#ifndef IDENTITYD_BACKOFF_H
#define IDENTITYD_BACKOFF_H

#include <stdbool.h>
#include <stdint.h>

#define IDD_BACKOFF_FIRST_MS 100
#define IDD_BACKOFF_MAX_MS 5000

typedef struct idd_backoff {
    int64_t retry_at_ms; /* no attempt before this */
    int64_t delay_ms;    /* the last delay, 0 after a success */
} idd_backoff_t;

/* Whether an attempt may be made at now. A new (zeroed) state always allows one. */
bool idd_backoff_ready(const idd_backoff_t *b, int64_t now_ms);
/* An attempt failed at now: the next one waits the doubled delay, less jitter % (delay / 4
 * + 1) (any value, e.g. random bits; 0 for none). Returns the wait set. */
int64_t idd_backoff_failed(idd_backoff_t *b, int64_t now_ms, uint32_t jitter);
/* An attempt succeeded: the next failure waits IDD_BACKOFF_FIRST_MS again. */
void idd_backoff_reset(idd_backoff_t *b);

#endif
