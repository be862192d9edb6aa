/*
 * Unit tests of src/core/bruteforce.c, driven by a synthetic clock: every now_ms is chosen
 * here, so windows and blocks are tested to the millisecond.
 *
 * What is guarded against: an attacker guessing one account's password from one address.
 * DocSpace's rule is 5 failures within 60 s (counted from the first failure) block the pair
 * for 60 s. The HTTP layer calls check BEFORE it verifies a password, so during a block even
 * the right password is refused and never reaches success; success (which clears a pair) is
 * only called after a sign-in that was allowed to try. The table is fixed-size, so these
 * tests also flood it with made-up logins: that must never lift a block unless the flood
 * blocks a whole bucket itself, and must never fail.
 */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "identityd/core/bruteforce.h"
#include "identityd/core/common.h"

#define T0 1000000 /* an arbitrary monotonic start, in ms */
#define IP "203.0.113.7"

static idd_bruteforce_t *docspace_table(void)
{
    idd_bruteforce_t *bf = idd_bruteforce_new(65536, 5, 60, 60);
    ck_assert_ptr_nonnull(bf);
    return bf;
}

/* check's answer, with *retry (may be NULL) set from retry_after. */
static int check_at(idd_bruteforce_t *bf, const char *login, const char *ip, int64_t now,
                    int *retry)
{
    int after = -1;
    int rc = idd_bruteforce_check(bf, login, ip, now, &after);
    if (rc == 0)
        ck_assert_int_eq(after, 0);
    if (retry != NULL)
        *retry = after;
    return rc;
}

START_TEST(fifth_failure_blocks_for_sixty_seconds)
{
    idd_bruteforce_t *bf = docspace_table();
    int retry = 0;
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(check_at(bf, "alice", IP, T0 + i * 1000, NULL), 0);
        idd_bruteforce_fail(bf, "alice", IP, T0 + i * 1000);
        ck_assert_msg(check_at(bf, "alice", IP, T0 + i * 1000, NULL) == 0,
                      "blocked after %d failures", i + 1);
    }
    /* The fifth failure, at T0 + 4 s, blocks until T0 + 64 s. */
    idd_bruteforce_fail(bf, "alice", IP, T0 + 4000);
    ck_assert_int_eq(check_at(bf, "alice", IP, T0 + 4000, &retry), IDD_EDENIED);
    ck_assert_int_eq(retry, 60);
    ck_assert_int_eq(check_at(bf, "alice", IP, T0 + 4001, &retry), IDD_EDENIED);
    ck_assert_int_eq(retry, 60); /* 59.999 s rounds up: never tell a client to come back early */
    ck_assert_int_eq(check_at(bf, "alice", IP, T0 + 5000, &retry), IDD_EDENIED);
    ck_assert_int_eq(retry, 59);
    ck_assert_int_eq(check_at(bf, "alice", IP, T0 + 34500, &retry), IDD_EDENIED);
    ck_assert_int_eq(retry, 30);
    ck_assert_int_eq(check_at(bf, "alice", IP, T0 + 63000, &retry), IDD_EDENIED);
    ck_assert_int_eq(retry, 1);
    ck_assert_int_eq(check_at(bf, "alice", IP, T0 + 63999, &retry), IDD_EDENIED);
    ck_assert_int_eq(retry, 1); /* 1 ms left is still "1 second", never 0 */
    /* retry_after may be NULL. */
    ck_assert_int_eq(idd_bruteforce_check(bf, "alice", IP, T0 + 63999, NULL), IDD_EDENIED);
    ck_assert_int_eq(check_at(bf, "alice", IP, T0 + 64000, NULL), 0);
    idd_bruteforce_free(bf);
}
END_TEST

START_TEST(after_a_block_the_pair_starts_afresh)
{
    idd_bruteforce_t *bf = docspace_table();
    for (int i = 0; i < 5; i++)
        idd_bruteforce_fail(bf, "alice", IP, T0);
    ck_assert_int_eq(check_at(bf, "alice", IP, T0 + 59999, NULL), IDD_EDENIED);
    ck_assert_int_eq(check_at(bf, "alice", IP, T0 + 60000, NULL), 0);
    /* Four fresh failures are allowed again; the fifth blocks again, for a full minute. */
    for (int i = 0; i < 4; i++)
        idd_bruteforce_fail(bf, "alice", IP, T0 + 61000);
    ck_assert_int_eq(check_at(bf, "alice", IP, T0 + 61000, NULL), 0);
    idd_bruteforce_fail(bf, "alice", IP, T0 + 62000);
    int retry = 0;
    ck_assert_int_eq(check_at(bf, "alice", IP, T0 + 62000, &retry), IDD_EDENIED);
    ck_assert_int_eq(retry, 60);

    /* The same without a check in between: a failure after the block counts as the first
     * of a new window, not as the sixth. */
    for (int i = 0; i < 5; i++)
        idd_bruteforce_fail(bf, "bob", IP, T0);
    idd_bruteforce_fail(bf, "bob", IP, T0 + 60000);
    ck_assert_int_eq(check_at(bf, "bob", IP, T0 + 60000, NULL), 0);
    idd_bruteforce_free(bf);
}
END_TEST

START_TEST(failing_while_blocked_does_not_extend_the_block)
{
    idd_bruteforce_t *bf = docspace_table();
    for (int i = 0; i < 5; i++)
        idd_bruteforce_fail(bf, "alice", IP, T0);
    idd_bruteforce_fail(bf, "alice", IP, T0 + 30000);
    idd_bruteforce_fail(bf, "alice", IP, T0 + 59000);
    int retry = 0;
    ck_assert_int_eq(check_at(bf, "alice", IP, T0 + 59000, &retry), IDD_EDENIED);
    ck_assert_int_eq(retry, 1);
    ck_assert_int_eq(check_at(bf, "alice", IP, T0 + 60000, NULL), 0);
    idd_bruteforce_free(bf);
}
END_TEST

/* The window is fixed from the first failure, not sliding: 4 failures at the start and one
 * at 59.999 s block; a failure at 60 s starts a new window with a count of 1. */
START_TEST(window_runs_from_the_first_failure)
{
    idd_bruteforce_t *bf = docspace_table();
    for (int i = 0; i < 4; i++)
        idd_bruteforce_fail(bf, "alice", IP, T0);
    idd_bruteforce_fail(bf, "alice", IP, T0 + 59999);
    ck_assert_int_eq(check_at(bf, "alice", IP, T0 + 59999, NULL), IDD_EDENIED);

    for (int i = 0; i < 4; i++)
        idd_bruteforce_fail(bf, "bob", IP, T0);
    idd_bruteforce_fail(bf, "bob", IP, T0 + 60000); /* new window, count 1, until T0+120 s */
    ck_assert_int_eq(check_at(bf, "bob", IP, T0 + 60000, NULL), 0);
    for (int i = 0; i < 3; i++)
        idd_bruteforce_fail(bf, "bob", IP, T0 + 61000 + i * 1000);
    ck_assert_int_eq(check_at(bf, "bob", IP, T0 + 63000, NULL), 0); /* 4 in this window */
    idd_bruteforce_fail(bf, "bob", IP, T0 + 119999);
    int retry = 0;
    ck_assert_int_eq(check_at(bf, "bob", IP, T0 + 119999, &retry), IDD_EDENIED);
    ck_assert_int_eq(retry, 60);

    /* Spread out, failures never add up: one every 61 s for ten minutes. */
    for (int i = 0; i < 10; i++)
        idd_bruteforce_fail(bf, "carol", IP, T0 + i * 61000);
    ck_assert_int_eq(check_at(bf, "carol", IP, T0 + 9 * 61000, NULL), 0);
    idd_bruteforce_free(bf);
}
END_TEST

START_TEST(success_clears_the_pair)
{
    idd_bruteforce_t *bf = docspace_table();
    for (int i = 0; i < 4; i++)
        idd_bruteforce_fail(bf, "alice", IP, T0);
    idd_bruteforce_success(bf, "alice", IP);
    /* Without the success this would be the fifth failure. */
    for (int i = 0; i < 4; i++)
        idd_bruteforce_fail(bf, "alice", IP, T0 + 1000);
    ck_assert_int_eq(check_at(bf, "alice", IP, T0 + 1000, NULL), 0);
    idd_bruteforce_fail(bf, "alice", IP, T0 + 1000);
    ck_assert_int_eq(check_at(bf, "alice", IP, T0 + 1000, NULL), IDD_EDENIED);

    /* success also forgets a block. The HTTP layer never gets here during a block (it refuses
     * before looking at the password); an administrator's reset could. */
    idd_bruteforce_success(bf, "alice", IP);
    ck_assert_int_eq(check_at(bf, "alice", IP, T0 + 1000, NULL), 0);
    /* Forgetting a pair that was never seen is harmless. */
    idd_bruteforce_success(bf, "nobody", IP);
    idd_bruteforce_free(bf);
}
END_TEST

/* DocSpace lowercases the login: "Alice" and "alice" are one account, so an attacker must
 * not get five more guesses by changing the case of one letter. */
START_TEST(login_is_case_insensitive)
{
    idd_bruteforce_t *bf = docspace_table();
    static const char *const spellings[] = {"Alice@Example.COM", "alice@example.com",
                                            "ALICE@EXAMPLE.COM", "aLiCe@eXaMpLe.CoM",
                                            "alice@EXAMPLE.com"};
    for (size_t i = 0; i < IDD_ARRAY_LEN(spellings); i++)
        idd_bruteforce_fail(bf, spellings[i], IP, T0);
    for (size_t i = 0; i < IDD_ARRAY_LEN(spellings); i++)
        ck_assert_int_eq(check_at(bf, spellings[i], IP, T0, NULL), IDD_EDENIED);
    /* Only case is folded: other logins stay other pairs. */
    ck_assert_int_eq(check_at(bf, "alice@example.co", IP, T0, NULL), 0);
    ck_assert_int_eq(check_at(bf, "alice@example.com ", IP, T0, NULL), 0);
    ck_assert_int_eq(check_at(bf, "alice", IP, T0, NULL), 0);
    /* The address is compared as written (it is an address, not a name). */
    ck_assert_int_eq(check_at(bf, "alice@example.com", "203.0.113.70", T0, NULL), 0);
    idd_bruteforce_free(bf);
}
END_TEST

START_TEST(pairs_are_separate)
{
    idd_bruteforce_t *bf = docspace_table();
    for (int i = 0; i < 5; i++)
        idd_bruteforce_fail(bf, "alice", "10.0.0.1", T0);
    ck_assert_int_eq(check_at(bf, "alice", "10.0.0.1", T0, NULL), IDD_EDENIED);
    /* Another address may still try the account, as DocSpace allows. */
    ck_assert_int_eq(check_at(bf, "alice", "10.0.0.2", T0, NULL), 0);
    ck_assert_int_eq(check_at(bf, "alice", "2001:db8::1", T0, NULL), 0);
    /* The blocked address may still sign in to other accounts. */
    ck_assert_int_eq(check_at(bf, "bob", "10.0.0.1", T0, NULL), 0);

    /* The separator between login and address: ("ab", "c") and ("a", "bc") are not one pair,
     * so no login can be chosen to collide with another account's counter. */
    for (int i = 0; i < 5; i++)
        idd_bruteforce_fail(bf, "ab", "c", T0);
    ck_assert_int_eq(check_at(bf, "ab", "c", T0, NULL), IDD_EDENIED);
    ck_assert_int_eq(check_at(bf, "a", "bc", T0, NULL), 0);
    ck_assert_int_eq(check_at(bf, "abc", "", T0, NULL), 0);

    /* Counts of interleaved pairs do not mix: 4 + 4 failures block neither. */
    for (int i = 0; i < 4; i++) {
        idd_bruteforce_fail(bf, "carol", "10.0.0.9", T0);
        idd_bruteforce_fail(bf, "dave", "10.0.0.9", T0);
    }
    ck_assert_int_eq(check_at(bf, "carol", "10.0.0.9", T0, NULL), 0);
    ck_assert_int_eq(check_at(bf, "dave", "10.0.0.9", T0, NULL), 0);
    idd_bruteforce_free(bf);
}
END_TEST

/* Hostile logins: very long, with bytes above 0x7f (not folded). They are hashed, never
 * stored, so the length costs nothing but time. */
START_TEST(long_and_binary_logins)
{
    idd_bruteforce_t *bf = docspace_table();
    size_t len = 100000;
    char *login = malloc(len + 1);
    ck_assert_ptr_nonnull(login);
    for (size_t i = 0; i < len; i++)
        login[i] = (char)(0x80 + i % 0x7f);
    login[len] = '\0';
    for (int i = 0; i < 5; i++)
        idd_bruteforce_fail(bf, login, IP, T0);
    ck_assert_int_eq(check_at(bf, login, IP, T0, NULL), IDD_EDENIED);
    login[len - 1] ^= 1;
    ck_assert_int_eq(check_at(bf, login, IP, T0, NULL), 0);
    free(login);

    /* Only ASCII letters are folded: "É" (C3 89) and "é" (C3 A9) are different logins. */
    for (int i = 0; i < 5; i++)
        idd_bruteforce_fail(bf, "\xc3\x89mile", IP, T0);
    ck_assert_int_eq(check_at(bf, "\xc3\x89mile", IP, T0, NULL), IDD_EDENIED);
    ck_assert_int_eq(check_at(bf, "\xc3\xa9mile", IP, T0, NULL), 0);
    ck_assert_int_eq(check_at(bf, "\xc3\x89MILE", IP, T0, NULL), IDD_EDENIED);
    idd_bruteforce_free(bf);
}
END_TEST

START_TEST(settings_are_honoured)
{
    /* attempts 1: the first failure blocks; block 1 s answers retry_after 1. */
    idd_bruteforce_t *bf = idd_bruteforce_new(64, 1, 10, 1);
    ck_assert_ptr_nonnull(bf);
    int retry = 0;
    idd_bruteforce_fail(bf, "alice", IP, T0);
    ck_assert_int_eq(check_at(bf, "alice", IP, T0, &retry), IDD_EDENIED);
    ck_assert_int_eq(retry, 1);
    ck_assert_int_eq(check_at(bf, "alice", IP, T0 + 999, NULL), IDD_EDENIED);
    ck_assert_int_eq(check_at(bf, "alice", IP, T0 + 1000, NULL), 0);
    idd_bruteforce_free(bf);

    /* 3 attempts within 10 s, blocked for an hour. */
    bf = idd_bruteforce_new(100, 3, 10, 3600);
    ck_assert_ptr_nonnull(bf);
    idd_bruteforce_fail(bf, "alice", IP, T0);
    idd_bruteforce_fail(bf, "alice", IP, T0 + 5000);
    idd_bruteforce_fail(bf, "alice", IP, T0 + 10000); /* outside the window: count 1 */
    ck_assert_int_eq(check_at(bf, "alice", IP, T0 + 10000, NULL), 0);
    idd_bruteforce_fail(bf, "alice", IP, T0 + 11000);
    idd_bruteforce_fail(bf, "alice", IP, T0 + 19999);
    ck_assert_int_eq(check_at(bf, "alice", IP, T0 + 19999, &retry), IDD_EDENIED);
    ck_assert_int_eq(retry, 3600);
    ck_assert_int_eq(check_at(bf, "alice", IP, T0 + 19999 + 3599001, &retry), IDD_EDENIED);
    ck_assert_int_eq(retry, 1);
    ck_assert_int_eq(check_at(bf, "alice", IP, T0 + 19999 + 3600000, NULL), 0);
    /* A clock that went backwards never yields a wait longer than the block. */
    idd_bruteforce_fail(bf, "bob", IP, T0);
    idd_bruteforce_fail(bf, "bob", IP, T0);
    idd_bruteforce_fail(bf, "bob", IP, T0);
    ck_assert_int_eq(check_at(bf, "bob", IP, 0, &retry), IDD_EDENIED);
    ck_assert_int_eq(retry, 3600);
    idd_bruteforce_free(bf);
}
END_TEST

START_TEST(bad_arguments_are_refused)
{
    ck_assert_ptr_null(idd_bruteforce_new(64, 0, 60, 60));
    ck_assert_ptr_null(idd_bruteforce_new(64, -1, 60, 60));
    ck_assert_ptr_null(idd_bruteforce_new(64, 5, 0, 60));
    ck_assert_ptr_null(idd_bruteforce_new(64, 5, 60, 0));
    ck_assert_ptr_null(idd_bruteforce_new((size_t)1 << 21, 5, 60, 60)); /* above 2^20 */
    ck_assert_ptr_null(idd_bruteforce_new(SIZE_MAX, 5, 60, 60));
    /* Small and odd sizes round up (to 64 and 128 entries) and work. */
    idd_bruteforce_t *bf = idd_bruteforce_new(0, 5, 60, 60);
    ck_assert_ptr_nonnull(bf);
    idd_bruteforce_free(bf);
    bf = idd_bruteforce_new(65, 5, 60, 60);
    ck_assert_ptr_nonnull(bf);
    idd_bruteforce_free(bf);
    bf = idd_bruteforce_new((size_t)1 << 20, 5, 60, 60);
    ck_assert_ptr_nonnull(bf);
    idd_bruteforce_free(bf);
    idd_bruteforce_free(NULL);
}
END_TEST

static void made_up_login(char *buf, size_t size, const char *prefix, int i)
{
    snprintf(buf, size, "%s-%d@example.com", prefix, i);
}

/*
 * The attack: guessing alice's password until blocked, then flooding sign-ins with
 * thousands of made-up logins to push alice's block out of the table. With 64 entries (8
 * buckets of 8) every bucket overflows many times over, yet unblocked counters are always
 * recycled before a blocked one.
 */
START_TEST(flood_of_made_up_logins_does_not_lift_a_block)
{
    idd_bruteforce_t *bf = idd_bruteforce_new(64, 5, 60, 60);
    ck_assert_ptr_nonnull(bf);
    char login[64];
    for (int i = 0; i < 5; i++)
        idd_bruteforce_fail(bf, "alice", IP, T0);
    /* bob has 4 failures and is not blocked: his counter is fair game for eviction. */
    for (int i = 0; i < 4; i++)
        idd_bruteforce_fail(bf, "bob", IP, T0);
    for (int i = 0; i < 20000; i++) {
        made_up_login(login, sizeof(login), "flood", i);
        idd_bruteforce_fail(bf, login, "198.51.100.1", T0 + 1 + i / 1000);
        /* 4 failures each: counters that matter, not blocked. */
        if (i % 10 == 0)
            for (int k = 0; k < 3; k++)
                idd_bruteforce_fail(bf, login, "198.51.100.1", T0 + 1 + i / 1000);
    }
    int retry = 0;
    ck_assert_int_eq(check_at(bf, "alice", IP, T0 + 30000, &retry), IDD_EDENIED);
    ck_assert_int_eq(retry, 30);
    /* bob was recycled (~2500 new pairs went through his bucket): his next failure is a
     * first one again. This is the price of a fixed table, and why it prefers to recycle the
     * oldest counters. */
    idd_bruteforce_fail(bf, "bob", IP, T0 + 30000);
    ck_assert_int_eq(check_at(bf, "bob", IP, T0 + 30000, NULL), 0);
    /* The table still works for everyone. */
    for (int i = 0; i < 5; i++)
        idd_bruteforce_fail(bf, "carol", IP, T0 + 30000);
    ck_assert_int_eq(check_at(bf, "carol", IP, T0 + 30000, NULL), IDD_EDENIED);
    ck_assert_int_eq(check_at(bf, "alice", IP, T0 + 60000, NULL), 0);
    idd_bruteforce_free(bf);
}
END_TEST

/*
 * Only a flood that blocks entire buckets can push a block out, and then the block that ends
 * soonest goes first. 64 entries; 400 pairs are blocked one after another: exactly 64 blocks
 * survive (8 per bucket), the newest ones, and the first pair is long gone.
 */
START_TEST(whole_bucket_blocked_evicts_the_block_ending_soonest)
{
    idd_bruteforce_t *bf = idd_bruteforce_new(64, 5, 60, 60);
    ck_assert_ptr_nonnull(bf);
    char login[64];
    enum { PAIRS = 400 };
    for (int i = 0; i < PAIRS; i++) {
        made_up_login(login, sizeof(login), "blocked", i);
        for (int k = 0; k < 5; k++)
            idd_bruteforce_fail(bf, login, IP, T0 + i * 10);
    }
    int still_blocked = 0, newest_blocked = 1;
    int64_t now = T0 + PAIRS * 10;
    for (int i = 0; i < PAIRS; i++) {
        made_up_login(login, sizeof(login), "blocked", i);
        int denied = check_at(bf, login, IP, now, NULL) == IDD_EDENIED;
        still_blocked += denied;
        if (i >= PAIRS - 8)
            newest_blocked &= denied; /* the last 8 are the newest of whatever bucket */
    }
    ck_assert_int_eq(still_blocked, 64);
    ck_assert_int_eq(newest_blocked, 1);
    made_up_login(login, sizeof(login), "blocked", 0);
    ck_assert_int_eq(check_at(bf, login, IP, now, NULL), 0);

    /* When the blocks end, their entries are free again: new blocks take them. */
    now = T0 + PAIRS * 10 + 60000;
    for (int i = 0; i < 64; i++) {
        made_up_login(login, sizeof(login), "later", i);
        ck_assert_int_eq(check_at(bf, login, IP, now, NULL), 0);
    }
    for (int k = 0; k < 5; k++)
        idd_bruteforce_fail(bf, "alice", IP, now);
    ck_assert_int_eq(check_at(bf, "alice", IP, now, NULL), IDD_EDENIED);
    still_blocked = 0;
    for (int i = 0; i < PAIRS; i++) {
        made_up_login(login, sizeof(login), "blocked", i);
        still_blocked += check_at(bf, login, IP, now, NULL) == IDD_EDENIED;
    }
    ck_assert_int_eq(still_blocked, 0);
    idd_bruteforce_free(bf);
}
END_TEST

/* ---- concurrency ----------------------------------------------------------------------- */

enum { THREADS = 4, ROUNDS = 50000, SHARED = 4 };

typedef struct hammer {
    idd_bruteforce_t *bf;
    int id;
    int mismatches; /* results for the thread's own pair that were not exactly as expected */
    int bad_retry;  /* retry_after outside 1..block for any pair */
} hammer_t;

static void *hammer_run(void *arg)
{
    hammer_t *h = arg;
    char own[32], shared[32];
    unsigned seed = (unsigned)h->id * 2654435761u + 1;
    snprintf(own, sizeof(own), "owner-%d", h->id);
    for (int round = 0; round < ROUNDS; round++) {
        /* The own pair: nobody else touches it, so its answers are exact. */
        int step = round % 7, retry = 0;
        if (step < 4)
            idd_bruteforce_fail(h->bf, own, IP, T0);
        else if (step == 4)
            h->mismatches += idd_bruteforce_check(h->bf, own, IP, T0, &retry) != 0;
        else if (step == 5) {
            idd_bruteforce_fail(h->bf, own, IP, T0);
            h->mismatches += idd_bruteforce_check(h->bf, own, IP, T0, &retry) != IDD_EDENIED;
            h->mismatches += retry != 60;
        } else {
            idd_bruteforce_success(h->bf, own, IP);
            h->mismatches += idd_bruteforce_check(h->bf, own, IP, T0, &retry) != 0;
        }
        /* Shared pairs: every thread fails, checks and clears them at random. */
        seed = seed * 1103515245u + 12345u;
        snprintf(shared, sizeof(shared), "shared-%u", (seed >> 16) % SHARED);
        switch ((seed >> 8) % 3) {
        case 0:
            idd_bruteforce_fail(h->bf, shared, IP, T0);
            break;
        case 1:
            if (idd_bruteforce_check(h->bf, shared, IP, T0, &retry) == IDD_EDENIED)
                h->bad_retry += retry < 1 || retry > 60;
            break;
        default:
            idd_bruteforce_success(h->bf, shared, IP);
            break;
        }
    }
    return NULL;
}

START_TEST(threads_hammering_overlapping_pairs)
{
    /* 64 entries, 8 buckets: the 8 pairs crowd into a few buckets, so threads meet on the
     * same bucket all the time, yet 8 pairs can never overflow a bucket of 8 and no thread's
     * own counter is ever evicted by another's. Without the locks, two threads inserting
     * into one bucket take the same free entry and a count goes missing. */
    idd_bruteforce_t *bf = idd_bruteforce_new(64, 5, 60, 60);
    ck_assert_ptr_nonnull(bf);
    hammer_t h[THREADS];
    pthread_t tid[THREADS];
    for (int i = 0; i < THREADS; i++) {
        h[i] = (hammer_t){.bf = bf, .id = i};
        ck_assert_int_eq(pthread_create(&tid[i], NULL, hammer_run, &h[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        ck_assert_int_eq(pthread_join(tid[i], NULL), 0);
    for (int i = 0; i < THREADS; i++) {
        ck_assert_msg(h[i].mismatches == 0, "thread %d: %d wrong answers for its own pair", i,
                      h[i].mismatches);
        ck_assert_int_eq(h[i].bad_retry, 0);
    }
    /* The table is consistent afterwards: every shared pair is either clear or blocked with
     * a full minute to go (all failures happened at T0). */
    char shared[32];
    for (int i = 0; i < SHARED; i++) {
        int retry = 0;
        snprintf(shared, sizeof(shared), "shared-%d", i);
        if (idd_bruteforce_check(bf, shared, IP, T0, &retry) == IDD_EDENIED)
            ck_assert_int_eq(retry, 60);
        idd_bruteforce_success(bf, shared, IP);
        ck_assert_int_eq(check_at(bf, shared, IP, T0, NULL), 0);
    }
    idd_bruteforce_free(bf);
}
END_TEST

static Suite *bruteforce_suite(void)
{
    Suite *s = suite_create("bruteforce");
    TCase *tc = tcase_create("semantics");
    tcase_add_test(tc, fifth_failure_blocks_for_sixty_seconds);
    tcase_add_test(tc, after_a_block_the_pair_starts_afresh);
    tcase_add_test(tc, failing_while_blocked_does_not_extend_the_block);
    tcase_add_test(tc, window_runs_from_the_first_failure);
    tcase_add_test(tc, success_clears_the_pair);
    tcase_add_test(tc, login_is_case_insensitive);
    tcase_add_test(tc, pairs_are_separate);
    tcase_add_test(tc, long_and_binary_logins);
    tcase_add_test(tc, settings_are_honoured);
    tcase_add_test(tc, bad_arguments_are_refused);
    suite_add_tcase(s, tc);

    TCase *table = tcase_create("table");
    tcase_set_timeout(table, 60);
    tcase_add_test(table, flood_of_made_up_logins_does_not_lift_a_block);
    tcase_add_test(table, whole_bucket_blocked_evicts_the_block_ending_soonest);
    tcase_add_test(table, threads_hammering_overlapping_pairs);
    suite_add_tcase(s, table);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(bruteforce_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
