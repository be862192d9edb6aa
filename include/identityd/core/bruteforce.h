/*
 * Brute-force protection: failed sign-ins counted three ways in one fixed table shared by
 * every thread.
 *
 *  - per pair (tenant, lowercased login, client): after `attempts` failures within `window`
 *    seconds the pair is refused for `block` seconds, even with the right password;
 *  - per client, across logins and tenants: after `client_attempts` failures within
 *    `client_window` seconds every sign-in from that client is refused until the window
 *    ends (password spraying);
 *  - per (tenant, login), across clients: after `login_attempts` failures within
 *    `login_window` seconds the login is "hot"; the caller slows each further attempt down
 *    rather than refusing it, so that a distributed attacker cannot lock the owner out.
 *
 * A client is its address, IPv4-mapped IPv6 as IPv4, and IPv6 cut to its first
 * `ipv6_prefix` bits (one /64 is one client by default). A success clears nothing: failures
 * age out of their window (DocSpace's rule). Counters that are live (in a window with
 * failures, or blocking) are never evicted; when a new counter finds no room it is not
 * stored, and the table judges by what it still has (see idd_bruteforce_check). Logins and
 * addresses are kept only as a keyed hash.
 */
#ifndef IDENTITYD_BRUTEFORCE_H
#define IDENTITYD_BRUTEFORCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct idd_bruteforce idd_bruteforce_t;

typedef struct idd_bruteforce_limits {
    int attempts, window, block;        /* per pair: 1..1000000, seconds 1..86400 */
    int client_attempts, client_window; /* per client */
    int login_attempts, login_window;   /* per login */
    int ipv6_prefix;                    /* 1..128 */
} idd_bruteforce_limits_t;

/* DocSpace's pair rule (5 in 60 s, blocked 60 s), 20 failures per client and 100 per login
 * in 10 minutes, IPv6 /64. */
void idd_bruteforce_limits_default(idd_bruteforce_limits_t *limits);

/* A table of `slots` entries (rounded up to a power of two, at least 64, at most 2^20).
 * The hash key is drawn from the CSPRNG. Returns NULL for limits out of bounds or when the
 * CSPRNG fails. */
idd_bruteforce_t *idd_bruteforce_new_limits(size_t slots, const idd_bruteforce_limits_t *limits);

/* The default limits with the pair's rule replaced. */
idd_bruteforce_t *idd_bruteforce_new(size_t slots, int attempts, int window, int block);

/* NULL is a no-op. */
void idd_bruteforce_free(idd_bruteforce_t *bf);

/* What one sign-in is counted under: computed once, used by every call below. */
typedef struct idd_bruteforce_key {
    uint64_t pair[2], client[2], login[2];
} idd_bruteforce_key_t;

/* login is compared case-insensitively (ASCII); ip is the textual client address (an
 * address that does not parse is used as it is). NULL strings count as empty. */
void idd_bruteforce_key(const idd_bruteforce_t *bf, int64_t tenant_id, const char *login,
                        const char *ip, idd_bruteforce_key_t *key);

/* Returns 0 when the sign-in may be tried, or IDD_EDENIED when its pair is blocked, its
 * client has used its budget, or its client has no counter and no room for one (the table
 * is full of live counters there: refusing is the safe answer); then *retry_after (may be
 * NULL) receives the whole seconds until it may try again (>= 1). A pair with no room for
 * a counter is judged by its client's and its login's budgets alone. now_ms is monotonic. */
int idd_bruteforce_check(idd_bruteforce_t *bf, const idd_bruteforce_key_t *key, int64_t now_ms,
                         int *retry_after);

/* True when the login has used its budget: the caller delays the attempt. */
bool idd_bruteforce_login_hot(idd_bruteforce_t *bf, const idd_bruteforce_key_t *key,
                              int64_t now_ms);

/* True when the client has no failure on record: no live counter, or one at zero. */
bool idd_bruteforce_client_clean(idd_bruteforce_t *bf, const idd_bruteforce_key_t *key,
                                 int64_t now_ms);

/* Records a failure for the pair, its client and its login. Returns 0, or IDD_EDENIED when
 * the pair had already used its attempts before this one (a parallel request got there
 * first): the caller answers as for a block, so no more than `attempts` verdicts are ever
 * told. Reading that and counting happen under one lock. */
int idd_bruteforce_fail(idd_bruteforce_t *bf, const idd_bruteforce_key_t *key, int64_t now_ms);

/* Live entries (failures inside their window, or blocking), for tests and diagnostics;
 * takes every lock. */
size_t idd_bruteforce_used(idd_bruteforce_t *bf, int64_t now_ms);

/* ---- sharing counters between processes (auth/bfshare.c) ----------------------------------
 * Processes that share a database agree on one hash key (set_key, before any thread uses
 * the table), report each failure's counters to the database (rules: what to count, and
 * how), and merge what the others counted (merge). */

/* Replaces the hash key drawn at _new; only before the table is used. */
void idd_bruteforce_set_key(idd_bruteforce_t *bf, const unsigned char key[16]);

/* How one of a sign-in's three counters is counted: its tag, the window a new counter opens,
 * the failures that spend it, and the block reaching them starts (0: none, the window runs
 * on). */
typedef struct idd_bruteforce_rule {
    uint64_t tag[2];
    int64_t window_ms, block_ms;
    uint32_t most;
} idd_bruteforce_rule_t;
void idd_bruteforce_rules(const idd_bruteforce_t *bf, const idd_bruteforce_key_t *key,
                          idd_bruteforce_rule_t out[3]);

/* A tag as 16 bytes (little-endian words), the same on every host, and back. */
void idd_bruteforce_tag_bytes(const uint64_t tag[2], unsigned char out[16]);
void idd_bruteforce_tag_read(const unsigned char in[16], uint64_t tag[2]);

/* Takes a counter another process counted: failures until deadline_ms (on this table's
 * clock). The local counter keeps whichever of the two counted more (on a tie, the later
 * deadline), so merging the same counter twice changes nothing. A counter that is over, or
 * that finds no room, is not stored. */
void idd_bruteforce_merge(idd_bruteforce_t *bf, const uint64_t tag[2], uint32_t failures,
                          int64_t deadline_ms, int64_t now_ms);

#endif
