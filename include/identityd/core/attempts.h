/*
 * A bounded count of attempts per key in a sliding window: the limit on two-factor codes
 * (DocSpace's login-surface reference §5.7: 5 codes per user a minute), in a fixed table
 * shared by every loop under one mutex (code attempts are rare next to tokens).
 *
 * DocSpace's rule, kept exactly: each attempt counted re-arms the key's expiry to now +
 * window; once `limit` attempts are on record, further attempts are refused without being
 * checked and without re-arming, so the key is free again one window after its last counted
 * attempt. A success does not count: the caller takes an attempt before checking the code
 * (so that concurrent attempts cannot all slip under the limit) and gives it back when the
 * code was right.
 *
 * The table never grows: a key is looked for in a short run of slots; a key that finds no
 * free slot there (every one holds another live key) is refused, the safe answer, since only
 * callers that passed a password check reach it. Keys are copied (up to IDD_ATTEMPTS_KEY_MAX
 * bytes), so two keys never share a count. Times are monotonic milliseconds, a parameter, so
 * tests control the clock.
 */
#ifndef IDENTITYD_ATTEMPTS_H
#define IDENTITYD_ATTEMPTS_H

#include <stddef.h>
#include <stdint.h>

#define IDD_ATTEMPTS_KEY_MAX 64

typedef struct idd_attempts idd_attempts_t;

/* A table of `slots` entries (rounded up to a power of two, 64 .. 2^20) allowing `limit`
 * (1..1000) attempts per key, each re-arming a window of window_ms (1 .. 86400000). Returns
 * NULL for arguments out of bounds or when the CSPRNG fails (the hash key). */
idd_attempts_t *idd_attempts_new(size_t slots, int limit, int64_t window_ms);

/* NULL is a no-op. */
void idd_attempts_free(idd_attempts_t *a);

/* Takes one attempt for key[0..len) (1..IDD_ATTEMPTS_KEY_MAX bytes). Returns 0 when it may be
 * tried (counted, expiry re-armed); IDD_EDENIED when the key has used its limit, IDD_EBUSY
 * when it has no counter and no room for one, with *retry_after (may be NULL) = whole
 * seconds until it may try again (>= 1); IDD_EINVAL for a bad key. */
int idd_attempts_take(idd_attempts_t *a, const void *key, size_t len, int64_t now_ms,
                      int *retry_after);

/* Gives back an attempt taken for key (the code was right): one fewer on record, expiry
 * unchanged. No-op when the key has no live counter. */
void idd_attempts_refund(idd_attempts_t *a, const void *key, size_t len, int64_t now_ms);

/* Keys with a live counter, for tests and diagnostics. */
size_t idd_attempts_used(idd_attempts_t *a, int64_t now_ms);

#endif
