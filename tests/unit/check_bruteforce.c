/*
 * Unit tests of src/core/bruteforce.c, driven by a synthetic clock: every now_ms is chosen
 * here, so windows and blocks are tested to the millisecond.
 *
 * What is guarded against: an attacker guessing one account's password from one address
 * (DocSpace's rule: 5 failures within 60 s, counted from the first failure, block the pair
 * for 60 s), one address trying many logins (the client's budget), many addresses trying
 * one login (the login's budget, which the caller turns into a delay), and an IPv6 client
 * hopping through its /64. The HTTP layer calls check BEFORE it verifies a password, so
 * during a block even the right password is refused. The table is fixed-size, so these
 * tests also flood it with made-up logins: that must never reset or lift a live counter,
 * and a table full of live counters must still judge new sign-ins safely.
 */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "identityd/core/bruteforce.h"
#include "identityd/core/common.h"

#define T0 1000000 /* an arbitrary monotonic start, in ms */
#define IP "203.0.113.7"

/* Tenant 1, as most tests need; t_check_in / t_fail_in name the tenant. */
static int t_check_in(idd_bruteforce_t *bf, int64_t tenant, const char *login, const char *ip,
                      int64_t now, int *retry)
{
    idd_bruteforce_key_t key;
    idd_bruteforce_key(bf, tenant, login, ip, &key);
    return idd_bruteforce_check(bf, &key, now, retry);
}

static void t_fail_in(idd_bruteforce_t *bf, int64_t tenant, const char *login, const char *ip,
                      int64_t now)
{
    idd_bruteforce_key_t key;
    idd_bruteforce_key(bf, tenant, login, ip, &key);
    idd_bruteforce_fail(bf, &key, now);
}

static int t_check(idd_bruteforce_t *bf, const char *login, const char *ip, int64_t now, int *retry)
{
    return t_check_in(bf, 1, login, ip, now, retry);
}

static void t_fail(idd_bruteforce_t *bf, const char *login, const char *ip, int64_t now)
{
    t_fail_in(bf, 1, login, ip, now);
}

static bool t_hot(idd_bruteforce_t *bf, const char *login, const char *ip, int64_t now)
{
    idd_bruteforce_key_t key;
    idd_bruteforce_key(bf, 1, login, ip, &key);
    return idd_bruteforce_login_hot(bf, &key, now);
}

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
    int rc = t_check(bf, login, ip, now, &after);
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
        t_fail(bf, "alice", IP, T0 + i * 1000);
        ck_assert_msg(check_at(bf, "alice", IP, T0 + i * 1000, NULL) == 0,
                      "blocked after %d failures", i + 1);
    }
    /* The fifth failure, at T0 + 4 s, blocks until T0 + 64 s. */
    t_fail(bf, "alice", IP, T0 + 4000);
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
    ck_assert_int_eq(t_check(bf, "alice", IP, T0 + 63999, NULL), IDD_EDENIED);
    ck_assert_int_eq(check_at(bf, "alice", IP, T0 + 64000, NULL), 0);
    idd_bruteforce_free(bf);
}
END_TEST

START_TEST(after_a_block_the_pair_starts_afresh)
{
    idd_bruteforce_t *bf = docspace_table();
    for (int i = 0; i < 5; i++)
        t_fail(bf, "alice", IP, T0);
    ck_assert_int_eq(check_at(bf, "alice", IP, T0 + 59999, NULL), IDD_EDENIED);
    ck_assert_int_eq(check_at(bf, "alice", IP, T0 + 60000, NULL), 0);
    /* Four fresh failures are allowed again; the fifth blocks again, for a full minute. */
    for (int i = 0; i < 4; i++)
        t_fail(bf, "alice", IP, T0 + 61000);
    ck_assert_int_eq(check_at(bf, "alice", IP, T0 + 61000, NULL), 0);
    t_fail(bf, "alice", IP, T0 + 62000);
    int retry = 0;
    ck_assert_int_eq(check_at(bf, "alice", IP, T0 + 62000, &retry), IDD_EDENIED);
    ck_assert_int_eq(retry, 60);

    /* The same without a check in between: a failure after the block counts as the first
     * of a new window, not as the sixth. */
    for (int i = 0; i < 5; i++)
        t_fail(bf, "bob", IP, T0);
    t_fail(bf, "bob", IP, T0 + 60000);
    ck_assert_int_eq(check_at(bf, "bob", IP, T0 + 60000, NULL), 0);
    idd_bruteforce_free(bf);
}
END_TEST

START_TEST(failing_while_blocked_does_not_extend_the_block)
{
    idd_bruteforce_t *bf = docspace_table();
    for (int i = 0; i < 5; i++)
        t_fail(bf, "alice", IP, T0);
    t_fail(bf, "alice", IP, T0 + 30000);
    t_fail(bf, "alice", IP, T0 + 59000);
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
        t_fail(bf, "alice", IP, T0);
    t_fail(bf, "alice", IP, T0 + 59999);
    ck_assert_int_eq(check_at(bf, "alice", IP, T0 + 59999, NULL), IDD_EDENIED);

    for (int i = 0; i < 4; i++)
        t_fail(bf, "bob", IP, T0);
    t_fail(bf, "bob", IP, T0 + 60000); /* new window, count 1, until T0+120 s */
    ck_assert_int_eq(check_at(bf, "bob", IP, T0 + 60000, NULL), 0);
    for (int i = 0; i < 3; i++)
        t_fail(bf, "bob", IP, T0 + 61000 + i * 1000);
    ck_assert_int_eq(check_at(bf, "bob", IP, T0 + 63000, NULL), 0); /* 4 in this window */
    t_fail(bf, "bob", IP, T0 + 119999);
    int retry = 0;
    ck_assert_int_eq(check_at(bf, "bob", IP, T0 + 119999, &retry), IDD_EDENIED);
    ck_assert_int_eq(retry, 60);

    /* Spread out, failures never add up: one every 61 s for ten minutes (from an address of
     * its own: the client's budget across logins is not what this is about). */
    for (int i = 0; i < 10; i++)
        t_fail(bf, "carol", "203.0.113.8", T0 + i * 61000);
    ck_assert_int_eq(check_at(bf, "carol", "203.0.113.8", T0 + 9 * 61000, NULL), 0);
    idd_bruteforce_free(bf);
}
END_TEST

/* The same login at two tenants is two accounts: failures at one never count at the other
 * (and nothing done at the other, such as signing in to an account the attacker owns
 * there, touches this tenant's counter: the table has no way to clear one). */
START_TEST(tenants_are_separate)
{
    idd_bruteforce_t *bf = docspace_table();
    for (int i = 0; i < 4; i++)
        t_fail_in(bf, 2, "alice", IP, T0);
    ck_assert_int_eq(t_check_in(bf, 1, "alice", IP, T0, NULL), 0);
    t_fail_in(bf, 1, "alice", IP, T0);
    ck_assert_int_eq(t_check_in(bf, 1, "alice", IP, T0, NULL), 0);
    t_fail_in(bf, 2, "alice", IP, T0);
    ck_assert_int_eq(t_check_in(bf, 2, "alice", IP, T0, NULL), IDD_EDENIED);
    ck_assert_int_eq(t_check_in(bf, 1, "alice", IP, T0, NULL), 0);
    for (int i = 0; i < 4; i++)
        t_fail_in(bf, 1, "alice", IP, T0);
    ck_assert_int_eq(t_check_in(bf, 1, "alice", IP, T0, NULL), IDD_EDENIED);
    idd_bruteforce_free(bf);
}
END_TEST

/* Password spraying: one address, one guess per login, never five at any one login. The
 * client's budget (20 in 10 minutes by default) stops it, for every login, until the window
 * that began with its first failure ends. */
START_TEST(client_budget_across_logins)
{
    idd_bruteforce_t *bf = docspace_table();
    char login[64];
    int retry = 0;
    for (int i = 0; i < 20; i++) {
        snprintf(login, sizeof(login), "victim-%d@example.com", i);
        ck_assert_msg(check_at(bf, login, IP, T0 + i * 1000, NULL) == 0, "refused at %d", i);
        t_fail(bf, login, IP, T0 + i * 1000);
    }
    ck_assert_int_eq(check_at(bf, "fresh@example.com", IP, T0 + 20000, &retry), IDD_EDENIED);
    ck_assert_int_eq(retry, 580);
    ck_assert_int_eq(check_at(bf, "victim-0@example.com", IP, T0 + 599999, &retry), IDD_EDENIED);
    ck_assert_int_eq(retry, 1);
    ck_assert_int_eq(check_at(bf, "fresh@example.com", IP, T0 + 600000, NULL), 0);
    /* Another client is not affected, and neither are other tenants' logins from elsewhere. */
    ck_assert_int_eq(check_at(bf, "fresh@example.com", "198.51.100.1", T0 + 20000, NULL), 0);
    /* The budget is the client's across tenants too. */
    ck_assert_int_eq(t_check_in(bf, 7, "x@example.com", IP, T0 + 20000, NULL), IDD_EDENIED);
    idd_bruteforce_free(bf);

    /* Configurable: 3 in 5 s. */
    idd_bruteforce_limits_t l;
    idd_bruteforce_limits_default(&l);
    l.client_attempts = 3;
    l.client_window = 5;
    bf = idd_bruteforce_new_limits(64, &l);
    ck_assert_ptr_nonnull(bf);
    t_fail(bf, "a", IP, T0);
    t_fail(bf, "b", IP, T0);
    ck_assert_int_eq(check_at(bf, "c", IP, T0, NULL), 0);
    t_fail(bf, "c", IP, T0);
    ck_assert_int_eq(check_at(bf, "d", IP, T0, &retry), IDD_EDENIED);
    ck_assert_int_eq(retry, 5);
    ck_assert_int_eq(check_at(bf, "d", IP, T0 + 5000, NULL), 0);
    idd_bruteforce_free(bf);
}
END_TEST

/* An IPv6 client usually holds a whole /64: each address of it must not be a fresh client.
 * IPv4-mapped IPv6 is the IPv4 address it maps. */
START_TEST(ipv6_prefix_is_one_client)
{
    idd_bruteforce_t *bf = docspace_table();
    char ip[64];
    for (int i = 1; i <= 5; i++) {
        snprintf(ip, sizeof(ip), "2001:db8:1:2::%x", i * 0x1111);
        t_fail(bf, "alice", ip, T0);
    }
    ck_assert_int_eq(check_at(bf, "alice", "2001:db8:1:2:ffff:ffff:ffff:ffff", T0, NULL),
                     IDD_EDENIED);
    ck_assert_int_eq(check_at(bf, "alice", "2001:DB8:1:2:0:0:0:1", T0, NULL), IDD_EDENIED);
    ck_assert_int_eq(check_at(bf, "alice", "2001:db8:1:3::1", T0, NULL), 0);

    for (int i = 0; i < 3; i++)
        t_fail(bf, "bob", "::ffff:192.0.2.1", T0);
    for (int i = 0; i < 2; i++)
        t_fail(bf, "bob", "192.0.2.1", T0);
    ck_assert_int_eq(check_at(bf, "bob", "192.0.2.1", T0, NULL), IDD_EDENIED);
    ck_assert_int_eq(check_at(bf, "bob", "::ffff:192.0.2.1", T0, NULL), IDD_EDENIED);
    ck_assert_int_eq(check_at(bf, "bob", "192.0.2.2", T0, NULL), 0);
    idd_bruteforce_free(bf);

    /* The prefix is configurable: /128 makes every address its own client. */
    idd_bruteforce_limits_t l;
    idd_bruteforce_limits_default(&l);
    l.ipv6_prefix = 128;
    bf = idd_bruteforce_new_limits(64, &l);
    ck_assert_ptr_nonnull(bf);
    for (int i = 0; i < 5; i++)
        t_fail(bf, "alice", "2001:db8::1", T0);
    ck_assert_int_eq(check_at(bf, "alice", "2001:db8::1", T0, NULL), IDD_EDENIED);
    ck_assert_int_eq(check_at(bf, "alice", "2001:db8::2", T0, NULL), 0);
    idd_bruteforce_free(bf);
    /* /48: a bit inside a byte boundary is cut too. */
    l.ipv6_prefix = 52;
    bf = idd_bruteforce_new_limits(64, &l);
    for (int i = 0; i < 5; i++)
        t_fail(bf, "alice", "2001:db8:0:0fff::1", T0);
    ck_assert_int_eq(check_at(bf, "alice", "2001:db8:0:0000::9", T0, NULL), IDD_EDENIED);
    ck_assert_int_eq(check_at(bf, "alice", "2001:db8:0:1000::1", T0, NULL), 0);
    idd_bruteforce_free(bf);
}
END_TEST

/* A login attacked from many clients at once: each client stays under its pair's limit,
 * the login's own budget (100 in 10 minutes) makes it hot. Hot is not refused: check still
 * lets a client with a clean record try (the caller delays it), so the owner keeps access. */
START_TEST(login_budget_across_clients)
{
    idd_bruteforce_t *bf = docspace_table();
    char ip[32];
    for (int i = 0; i < 100; i++) {
        ck_assert_msg(!t_hot(bf, "alice", IP, T0 + i), "hot after %d failures", i);
        snprintf(ip, sizeof(ip), "10.0.%d.%d", i / 200, i % 200);
        t_fail(bf, "alice", ip, T0 + i);
    }
    ck_assert(t_hot(bf, "alice", IP, T0 + 100));
    ck_assert(t_hot(bf, "ALICE", "2001:db8::1", T0 + 100));
    ck_assert_int_eq(check_at(bf, "alice", IP, T0 + 100, NULL), 0);
    ck_assert(!t_hot(bf, "bob", IP, T0 + 100));
    ck_assert(!t_hot(bf, "alice", IP, T0 + 600000));
    idd_bruteforce_key_t key;
    idd_bruteforce_key(bf, 2, "alice", IP, &key);
    ck_assert(!idd_bruteforce_login_hot(bf, &key, T0 + 100)); /* another tenant's alice */
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
        t_fail(bf, spellings[i], IP, T0);
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
        t_fail(bf, "alice", "10.0.0.1", T0);
    ck_assert_int_eq(check_at(bf, "alice", "10.0.0.1", T0, NULL), IDD_EDENIED);
    /* Another address may still try the account, as DocSpace allows. */
    ck_assert_int_eq(check_at(bf, "alice", "10.0.0.2", T0, NULL), 0);
    ck_assert_int_eq(check_at(bf, "alice", "2001:db8::1", T0, NULL), 0);
    /* The blocked address may still sign in to other accounts. */
    ck_assert_int_eq(check_at(bf, "bob", "10.0.0.1", T0, NULL), 0);

    /* The separator between login and address: ("ab", "c") and ("a", "bc") are not one pair,
     * so no login can be chosen to collide with another account's counter. */
    for (int i = 0; i < 5; i++)
        t_fail(bf, "ab", "c", T0);
    ck_assert_int_eq(check_at(bf, "ab", "c", T0, NULL), IDD_EDENIED);
    ck_assert_int_eq(check_at(bf, "a", "bc", T0, NULL), 0);
    ck_assert_int_eq(check_at(bf, "abc", "", T0, NULL), 0);

    /* Counts of interleaved pairs do not mix: 4 + 4 failures block neither. */
    for (int i = 0; i < 4; i++) {
        t_fail(bf, "carol", "10.0.0.9", T0);
        t_fail(bf, "dave", "10.0.0.9", T0);
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
        t_fail(bf, login, IP, T0);
    ck_assert_int_eq(check_at(bf, login, IP, T0, NULL), IDD_EDENIED);
    login[len - 1] ^= 1;
    ck_assert_int_eq(check_at(bf, login, IP, T0, NULL), 0);
    free(login);

    /* Only ASCII letters are folded: "É" (C3 89) and "é" (C3 A9) are different logins. */
    for (int i = 0; i < 5; i++)
        t_fail(bf, "\xc3\x89mile", IP, T0);
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
    t_fail(bf, "alice", IP, T0);
    ck_assert_int_eq(check_at(bf, "alice", IP, T0, &retry), IDD_EDENIED);
    ck_assert_int_eq(retry, 1);
    ck_assert_int_eq(check_at(bf, "alice", IP, T0 + 999, NULL), IDD_EDENIED);
    ck_assert_int_eq(check_at(bf, "alice", IP, T0 + 1000, NULL), 0);
    idd_bruteforce_free(bf);

    /* 3 attempts within 10 s, blocked for an hour. */
    bf = idd_bruteforce_new(100, 3, 10, 3600);
    ck_assert_ptr_nonnull(bf);
    t_fail(bf, "alice", IP, T0);
    t_fail(bf, "alice", IP, T0 + 5000);
    t_fail(bf, "alice", IP, T0 + 10000); /* outside the window: count 1 */
    ck_assert_int_eq(check_at(bf, "alice", IP, T0 + 10000, NULL), 0);
    t_fail(bf, "alice", IP, T0 + 11000);
    t_fail(bf, "alice", IP, T0 + 19999);
    ck_assert_int_eq(check_at(bf, "alice", IP, T0 + 19999, &retry), IDD_EDENIED);
    ck_assert_int_eq(retry, 3600);
    ck_assert_int_eq(check_at(bf, "alice", IP, T0 + 19999 + 3599001, &retry), IDD_EDENIED);
    ck_assert_int_eq(retry, 1);
    ck_assert_int_eq(check_at(bf, "alice", IP, T0 + 19999 + 3600000, NULL), 0);
    /* A clock that went backwards never yields a wait longer than the block. */
    t_fail(bf, "bob", IP, T0);
    t_fail(bf, "bob", IP, T0);
    t_fail(bf, "bob", IP, T0);
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
 * The attack: guessing bob's password to just under the limit, then flooding sign-ins with
 * 160,000 made-up logins from many addresses to push bob's counter (and alice's block) out
 * of the table and start afresh. With 64 entries (8 buckets of 8) every bucket overflows
 * thousands of times, yet no live counter is ever taken.
 */
START_TEST(flood_of_made_up_logins_evicts_no_live_counter)
{
    idd_bruteforce_t *bf = idd_bruteforce_new(64, 5, 60, 60);
    ck_assert_ptr_nonnull(bf);
    char login[64], ip[32];
    for (int i = 0; i < 5; i++)
        t_fail(bf, "alice", IP, T0);
    for (int i = 0; i < 4; i++)
        t_fail(bf, "bob", IP, T0);
    for (int i = 0; i < 160000; i++) {
        made_up_login(login, sizeof(login), "flood", i);
        snprintf(ip, sizeof(ip), "198.51.%d.%d", (i / 250) % 250, i % 250);
        t_fail(bf, login, ip, T0 + 1 + i / 10000);
    }
    ck_assert_uint_le(idd_bruteforce_used(bf, T0 + 30000), 64);
    int retry = 0;
    ck_assert_int_eq(check_at(bf, "alice", IP, T0 + 30000, &retry), IDD_EDENIED);
    ck_assert_int_eq(retry, 30);
    /* bob's four failures are still there: the fifth blocks. */
    ck_assert_int_eq(check_at(bf, "bob", IP, T0 + 30000, NULL), 0);
    t_fail(bf, "bob", IP, T0 + 30000);
    ck_assert_int_eq(check_at(bf, "bob", IP, T0 + 30000, NULL), IDD_EDENIED);
    idd_bruteforce_free(bf);
}
END_TEST

/*
 * A table full of live counters: a new pair cannot be stored, and must still be judged
 * safely. Its client's budget still counts (a client with a counter keeps being counted),
 * and a client with no counter and no room for one is refused until room frees up, so a
 * full table never becomes unlimited guessing.
 */
START_TEST(full_table_judges_new_pairs_safely)
{
    idd_bruteforce_t *bf = idd_bruteforce_new(64, 5, 60, 60);
    ck_assert_ptr_nonnull(bf);
    char login[64], ip[32];
    const char *known = "192.0.2.50";
    t_fail(bf, "first@example.com", known, T0); /* its client counter exists from now on */
    for (int i = 0; i < 5000; i++) {
        made_up_login(login, sizeof(login), "filler", i);
        snprintf(ip, sizeof(ip), "198.51.%d.%d", i / 250, i % 250);
        t_fail(bf, login, ip, T0 + 1000);
    }
    ck_assert_uint_eq(idd_bruteforce_used(bf, T0 + 1000), 64);

    /* Unknown clients find no room: refused, told to come back when the soonest counter of
     * their bucket ends (the fillers' pair windows end at T0 + 61 s, their client and login
     * windows at T0 + 601 s). */
    int refused = 0, retry = 0;
    for (int i = 0; i < 200; i++) {
        snprintf(ip, sizeof(ip), "203.0.113.%d", i);
        if (check_at(bf, "alice", ip, T0 + 2000, &retry) == IDD_EDENIED) {
            refused++;
            ck_assert_msg(retry >= 1 && retry <= 600, "retry %d", retry);
        }
    }
    ck_assert_int_eq(refused, 200);

    /* The known client: new pairs have no room, but its budget still counts and stops it. */
    int allowed = 0;
    for (int i = 0; i < 100; i++) {
        made_up_login(login, sizeof(login), "spray", i);
        if (check_at(bf, login, known, T0 + 2000, NULL) != 0)
            break;
        allowed++;
        t_fail(bf, login, known, T0 + 2000);
    }
    ck_assert_int_eq(allowed, 19);

    /* Once the windows end the table has room again for everyone. */
    ck_assert_int_eq(check_at(bf, "alice", "203.0.113.1", T0 + 602000, NULL), 0);
    ck_assert_uint_eq(idd_bruteforce_used(bf, T0 + 602000), 0);
    idd_bruteforce_free(bf);
}
END_TEST

/* ---- concurrency ----------------------------------------------------------------------- */

enum { THREADS = 4, ROUNDS = 49000, SHARED = 4 }; /* ROUNDS: whole cycles of 7 */

/* Every thread's clock moves at once, as the one monotonic clock of a process does: a
 * thread far ahead would see another's live counters as long over. */
static pthread_barrier_t cycle_barrier;

typedef struct hammer {
    idd_bruteforce_t *bf;
    int id;
    int mismatches; /* results for the thread's own pair that were not exactly as expected */
    int bad_retry;  /* retry_after outside 1..block for any pair */
} hammer_t;

static void *hammer_run(void *arg)
{
    hammer_t *h = arg;
    char own[32], own_ip[32], shared[32];
    unsigned seed = (unsigned)h->id * 2654435761u + 1;
    snprintf(own, sizeof(own), "owner-%d", h->id);
    snprintf(own_ip, sizeof(own_ip), "10.0.0.%d", h->id + 1);
    for (int round = 0; round < ROUNDS; round++) {
        /* The own pair: nobody else touches it, so its answers are exact. Each cycle of 7
         * steps runs 200 s after the last, when the previous block is over. */
        int64_t now = T0 + (int64_t)(round / 7) * 200000;
        int step = round % 7, retry = 0;
        if (step == 0)
            pthread_barrier_wait(&cycle_barrier);
        if (step < 4)
            t_fail(h->bf, own, own_ip, now);
        else if (step == 4)
            h->mismatches += t_check(h->bf, own, own_ip, now, &retry) != 0;
        else if (step == 5) {
            t_fail(h->bf, own, own_ip, now);
            h->mismatches += t_check(h->bf, own, own_ip, now, &retry) != IDD_EDENIED;
            h->mismatches += retry != 60;
        } else {
            h->mismatches += t_check(h->bf, own, own_ip, now + 59999, &retry) != IDD_EDENIED;
            h->mismatches += t_check(h->bf, own, own_ip, now + 60000, &retry) != 0;
        }
        /* Shared pairs: every thread fails and checks them at random. */
        seed = seed * 1103515245u + 12345u;
        snprintf(shared, sizeof(shared), "shared-%u", (seed >> 16) % SHARED);
        if ((seed >> 8) % 2 == 0)
            t_fail(h->bf, shared, IP, now);
        else if (t_check(h->bf, shared, IP, now, &retry) == IDD_EDENIED)
            h->bad_retry += retry < 1 || retry > 60;
    }
    return NULL;
}

START_TEST(threads_hammering_overlapping_pairs)
{
    /* 128 entries, 16 buckets: the counters crowd into a few buckets, so threads meet on the
     * same bucket all the time, yet about 21 live counters never fill a bucket of 8 (but
     * with odds of about 1 in 30,000) and no thread's own counter is ever taken by another's.
     * Without the locks, two threads inserting into one bucket take the same free entry and
     * a count goes missing. Budgets across logins and clients are out of the way. */
    idd_bruteforce_limits_t l;
    idd_bruteforce_limits_default(&l);
    l.client_attempts = l.login_attempts = 1000000;
    idd_bruteforce_t *bf = idd_bruteforce_new_limits(128, &l);
    ck_assert_ptr_nonnull(bf);
    hammer_t h[THREADS];
    pthread_t tid[THREADS];
    ck_assert_int_eq(pthread_barrier_init(&cycle_barrier, NULL, THREADS), 0);
    for (int i = 0; i < THREADS; i++) {
        h[i] = (hammer_t){.bf = bf, .id = i};
        ck_assert_int_eq(pthread_create(&tid[i], NULL, hammer_run, &h[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        ck_assert_int_eq(pthread_join(tid[i], NULL), 0);
    pthread_barrier_destroy(&cycle_barrier);
    for (int i = 0; i < THREADS; i++) {
        ck_assert_msg(h[i].mismatches == 0, "thread %d: %d wrong answers for its own pair", i,
                      h[i].mismatches);
        ck_assert_int_eq(h[i].bad_retry, 0);
    }
    idd_bruteforce_free(bf);
}
END_TEST

/* Two tables given one key name a sign-in's counters alike; tables with keys of their own
 * do not. The tag survives its trip through bytes. */
START_TEST(shared_key_names_counters_alike)
{
    unsigned char key[16];
    for (int i = 0; i < 16; i++)
        key[i] = (unsigned char)(i * 7 + 1);
    idd_bruteforce_t *a = idd_bruteforce_new(64, 3, 60, 300);
    idd_bruteforce_t *b = idd_bruteforce_new(64, 3, 60, 300);
    idd_bruteforce_key_t ka, kb;
    idd_bruteforce_key(a, 1, "alice@example.com", "192.0.2.1", &ka);
    idd_bruteforce_key(b, 1, "alice@example.com", "192.0.2.1", &kb);
    ck_assert(memcmp(&ka, &kb, sizeof ka) != 0);
    idd_bruteforce_set_key(a, key);
    idd_bruteforce_set_key(b, key);
    idd_bruteforce_key(a, 1, "alice@example.com", "192.0.2.1", &ka);
    idd_bruteforce_key(b, 1, "ALICE@example.com", "192.0.2.1", &kb);
    ck_assert_mem_eq(&ka, &kb, sizeof ka);

    idd_bruteforce_rule_t rules[3];
    idd_bruteforce_rules(a, &ka, rules);
    ck_assert(rules[0].tag[0] == ka.pair[0] && rules[0].tag[1] == ka.pair[1]);
    ck_assert_int_eq(rules[0].most, 3);
    ck_assert_int_eq(rules[0].window_ms, 60000);
    ck_assert_int_eq(rules[0].block_ms, 300000);
    ck_assert(rules[1].tag[0] == ka.client[0] && rules[2].tag[1] == ka.login[1]);
    ck_assert_int_eq(rules[1].block_ms, 0);
    ck_assert_int_eq(rules[2].most, 100);

    unsigned char bytes[16];
    uint64_t back[2];
    idd_bruteforce_tag_bytes(ka.pair, bytes);
    ck_assert_int_eq(bytes[0], (unsigned char)ka.pair[0]);
    ck_assert_int_eq(bytes[15], (unsigned char)(ka.pair[1] >> 56));
    idd_bruteforce_tag_read(bytes, back);
    ck_assert(back[0] == ka.pair[0] && back[1] == ka.pair[1]);
    idd_bruteforce_free(a);
    idd_bruteforce_free(b);
}
END_TEST

/* What another process counted joins this table: a pair it blocked is blocked here until
 * its deadline; merging keeps the larger count (a repeat changes nothing, a smaller count
 * lowers nothing); a counter already over is not taken. */
START_TEST(merge_takes_what_others_counted)
{
    idd_bruteforce_t *bf = idd_bruteforce_new(64, 3, 60, 300);
    idd_bruteforce_key_t k;
    int retry = 0;
    int64_t now = 1000000;
    idd_bruteforce_key(bf, 1, "alice@example.com", "192.0.2.1", &k);

    ck_assert_int_eq(idd_bruteforce_fail(bf, &k, now), 0);
    idd_bruteforce_merge(bf, k.pair, 2, now + 60000, now); /* the other's two, not mine */
    ck_assert_int_eq(idd_bruteforce_check(bf, &k, now, NULL), 0);
    idd_bruteforce_merge(bf, k.pair, 3, now + 300000, now + 10); /* it blocked the pair */
    ck_assert_int_eq(idd_bruteforce_check(bf, &k, now + 10, &retry), IDD_EDENIED);
    ck_assert_int_eq(retry, 300);
    idd_bruteforce_merge(bf, k.pair, 3, now + 300000, now + 20); /* again: the same */
    idd_bruteforce_merge(bf, k.pair, 1, now + 60000, now + 20);  /* smaller: ignored */
    ck_assert_int_eq(idd_bruteforce_check(bf, &k, now + 289000, &retry), IDD_EDENIED);
    ck_assert_int_eq(retry, 11);
    ck_assert_int_eq(idd_bruteforce_check(bf, &k, now + 300010, NULL), 0);

    /* A tie keeps the later deadline; an expired counter is not stored. */
    idd_bruteforce_key_t other;
    idd_bruteforce_key(bf, 1, "bob@example.com", "192.0.2.2", &other);
    idd_bruteforce_merge(bf, other.pair, 3, now - 1, now);
    ck_assert_int_eq(idd_bruteforce_check(bf, &other, now, NULL), 0);
    idd_bruteforce_merge(bf, other.pair, 3, now + 1000, now);
    idd_bruteforce_merge(bf, other.pair, 3, now + 5000, now);
    ck_assert_int_eq(idd_bruteforce_check(bf, &other, now + 2000, &retry), IDD_EDENIED);
    ck_assert_int_eq(retry, 3);

    /* A client's budget spent elsewhere refuses here too. */
    idd_bruteforce_merge(bf, other.client, 20, now + 600000, now);
    idd_bruteforce_key_t same_client;
    idd_bruteforce_key(bf, 1, "carol@example.com", "192.0.2.2", &same_client);
    ck_assert_int_eq(idd_bruteforce_check(bf, &same_client, now + 10000, NULL), IDD_EDENIED);
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
    tcase_add_test(tc, tenants_are_separate);
    tcase_add_test(tc, client_budget_across_logins);
    tcase_add_test(tc, ipv6_prefix_is_one_client);
    tcase_add_test(tc, login_budget_across_clients);
    tcase_add_test(tc, login_is_case_insensitive);
    tcase_add_test(tc, pairs_are_separate);
    tcase_add_test(tc, long_and_binary_logins);
    tcase_add_test(tc, settings_are_honoured);
    tcase_add_test(tc, bad_arguments_are_refused);
    tcase_add_test(tc, shared_key_names_counters_alike);
    tcase_add_test(tc, merge_takes_what_others_counted);
    suite_add_tcase(s, tc);

    TCase *table = tcase_create("table");
    tcase_set_timeout(table, 60);
    tcase_add_test(table, flood_of_made_up_logins_evicts_no_live_counter);
    tcase_add_test(table, full_table_judges_new_pairs_safely);
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
