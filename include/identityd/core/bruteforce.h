/*
 * Brute-force protection: failed sign-ins counted per (lowercased login, client IP). After
 * `attempts` failures within `window` seconds the pair is refused for `block` seconds, even
 * with the right password; a success clears the pair. The table is fixed-size and shared by
 * every thread: a flood of made-up logins evicts old, unblocked entries first and can never
 * grow memory. Logins and addresses are kept only as a keyed hash.
 */
#ifndef IDENTITYD_BRUTEFORCE_H
#define IDENTITYD_BRUTEFORCE_H

#include <stddef.h>
#include <stdint.h>

typedef struct idd_bruteforce idd_bruteforce_t;

/* A table of `slots` entries (rounded up to a power of two, at least 64, at most 2^20).
 * attempts >= 1, window and block in seconds >= 1. The hash key is drawn from the CSPRNG.
 * Returns NULL for arguments out of those bounds or when the CSPRNG fails. */
idd_bruteforce_t *idd_bruteforce_new(size_t slots, int attempts, int window, int block);

/* NULL is a no-op. */
void idd_bruteforce_free(idd_bruteforce_t *bf);

/* Returns 0 when the pair may try, or IDD_EDENIED while it is blocked; then *retry_after
 * (may be NULL) receives the whole seconds until it may try again (>= 1).
 * now_ms is a monotonic clock (idd_monotonic_ms). login is compared case-insensitively
 * (ASCII); ip is the textual client address. */
int idd_bruteforce_check(idd_bruteforce_t *bf, const char *login, const char *ip, int64_t now_ms,
                         int *retry_after);

/* Records a failure; the failure that reaches `attempts` within the window starts the
 * block. */
void idd_bruteforce_fail(idd_bruteforce_t *bf, const char *login, const char *ip, int64_t now_ms);

/* Forgets the pair (a successful sign-in). */
void idd_bruteforce_success(idd_bruteforce_t *bf, const char *login, const char *ip);

#endif
