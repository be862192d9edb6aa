/*
 * The PostgreSQL engine's bounded waits (src/store/pg.c), against the pg/ tests' server:
 * a connection that cannot be reset is not tried again on every call but after a backoff,
 * and comes back by itself once the server takes connections again; a statement stuck on a
 * lock ends at the default statement_timeout; a server that answers nothing (its backend
 * stopped) fails the call within the client-side bound, and the handle reconnects after.
 * Under SQLite there is nothing to test: each test says so and passes.
 *
 * Nothing here depends on how fast the machine is: the backoff test bounds the attempts by
 * the time the calls really took, and the waits poll for the state they expect.
 */
#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "identityd/core/backoff.h"
#include "identityd/core/common.h"
#include "identityd/core/log.h"
#include "identityd/store/store.h"

#include "store_test.h"

#define SKIP_UNLESS_PG()                                                                           \
    do {                                                                                           \
        if (!store_test_pg()) {                                                                    \
            fprintf(stderr, "%s: SKIP under SQLite: PostgreSQL's connections only\n", __func__);   \
            return;                                                                                \
        }                                                                                          \
    } while (0)

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void admin(const char *fmt, const char *db)
{
    char sql[256], err[1200];
    snprintf(sql, sizeof sql, fmt, db);
    ck_assert_msg(pg_admin_exec(sql, err, sizeof err) == 0, "%s", err);
}

/* Polls until the handle reads the change version again; fails after 30 s (the backoff's
 * longest wait is 5 s). */
static void wait_reconnected(idd_store_t *s)
{
    int64_t v = -1;
    int rc = -1;
    for (double t0 = now_ms(); now_ms() - t0 < 30000;) {
        rc = idd_store_changes(s, &v);
        if (rc == 0)
            break;
        ck_assert_int_eq(rc, IDD_EBUSY);
        usleep(20000);
    }
    ck_assert_msg(rc == 0, "the handle did not reconnect within 30 s");
}

/* The most attempts the backoff allows within elapsed ms: one at once, then one after each
 * wait (at least three quarters of its delay). */
static int attempts_allowed(double elapsed)
{
    int n = 1;
    double t = 0, delay = IDD_BACKOFF_FIRST_MS;
    for (;;) {
        t += delay * 0.75;
        if (t > elapsed)
            return n;
        n++;
        delay = delay * 2 > IDD_BACKOFF_MAX_MS ? IDD_BACKOFF_MAX_MS : delay * 2;
    }
}

START_TEST(test_reconnect_backs_off)
{
    SKIP_UNLESS_PG();
    enum { CALLS = 40 };
    idd_store_t *s = open_migrated();
    int64_t v = -1;
    ck_assert_int_eq(idd_store_changes(s, &v), 0);
    /* The server stays up but refuses this database: every reset attempt fails. */
    admin("ALTER DATABASE %s ALLOW_CONNECTIONS false", pg_db);
    admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '%s'", pg_db);

    /* Each failed attempt (and the break itself) logs one warning: count them. */
    fflush(stderr);
    int saved = dup(2);
    FILE *log = tmpfile();
    ck_assert_ptr_nonnull(log);
    dup2(fileno(log), 2);
    idd_log_set_level(IDD_LOG_WARN);
    int rcs[CALLS];
    double t0 = now_ms();
    for (int i = 0; i < CALLS; i++)
        rcs[i] = idd_store_changes(s, &v);
    double elapsed = now_ms() - t0;
    idd_log_set_level(IDD_LOG_ERROR);
    dup2(saved, 2);
    close(saved);

    int failures = 0;
    char line[1024];
    rewind(log);
    while (fgets(line, sizeof line, log) != NULL)
        if (strstr(line, "PostgreSQL connection failed") != NULL)
            failures++;
    fclose(log);
    for (int i = 0; i < CALLS; i++)
        ck_assert_int_eq(rcs[i], IDD_EBUSY);
    /* The break, then the reset attempts the backoff allowed in the time the calls took. */
    int allowed = 1 + attempts_allowed(elapsed);
    ck_assert_msg(failures >= 2 && failures <= allowed,
                  "%d failed connection attempts in %.0f ms of %d calls (at most %d allowed)",
                  failures, elapsed, CALLS, allowed);

    admin("ALTER DATABASE %s ALLOW_CONNECTIONS true", pg_db);
    wait_reconnected(s);
    ck_assert_int_eq(idd_store_tenant_ensure(s, 5, "five"), 0);
    idd_store_free(s);
}
END_TEST

/* A statement waiting on a lock another session holds ends at the default statement_timeout
 * (5 s) with IDD_EBUSY, and the connection stays usable. */
START_TEST(test_lock_wait_ends_at_statement_timeout)
{
    SKIP_UNLESS_PG();
    idd_store_t *s = open_migrated();
    int64_t v = -1;
    ck_assert_int_eq(idd_store_changes(s, &v), 0);
    PGconn *locker = PQconnectdb(store_location);
    ck_assert_msg(PQstatus(locker) == CONNECTION_OK, "%s", PQerrorMessage(locker));
    PGresult *r = PQexec(locker, "BEGIN; LOCK TABLE store_changes IN ACCESS EXCLUSIVE MODE");
    ck_assert_int_eq(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);

    int rc = idd_store_changes(s, &v);
    PQclear(PQexec(locker, "ROLLBACK"));
    PQfinish(locker);
    ck_assert_int_eq(rc, IDD_EBUSY);
    ck_assert_int_eq(idd_store_changes(s, &v), 0);
    idd_store_free(s);
}
END_TEST

/* How long a call may wait before it counts as a hang: more than four times the bound (8 s). */
#define HANG_S 35

typedef struct call {
    idd_store_t *s;
    atomic_int done;
    int rc;
} call_t;

static void *changes_call(void *arg)
{
    call_t *c = arg;
    int64_t v;
    c->rc = idd_store_changes(c->s, &v);
    atomic_store(&c->done, 1);
    return NULL;
}

/* The backend of the handle's connection is stopped (SIGSTOP): the server's kernel still
 * acknowledges every packet, so neither keepalives nor statement_timeout end the wait;
 * the client-side bound (8 s) does, and the handle reconnects once the server answers. */
START_TEST(test_unanswered_query_is_bounded)
{
    SKIP_UNLESS_PG();
    idd_store_t *s = open_migrated();
    int64_t v = -1;
    ck_assert_int_eq(idd_store_changes(s, &v), 0);
    PGconn *a = PQconnectdb(store_location);
    ck_assert_msg(PQstatus(a) == CONNECTION_OK, "%s", PQerrorMessage(a));
    PGresult *r = PQexec(a, "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                            "AND application_name = 'identityd'");
    ck_assert_int_eq(PQresultStatus(r), PGRES_TUPLES_OK);
    ck_assert_int_eq(PQntuples(r), 1);
    pid_t backend = (pid_t)atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    PQfinish(a);
    ck_assert_int_gt(backend, 0);

    call_t c = {.s = s};
    /* A watchdog process continues the backend whatever becomes of this one (a timeout
     * killing the test): a stopped backend would hold up the server's stop for good. */
    pid_t watchdog = fork();
    ck_assert_int_ge(watchdog, 0);
    if (watchdog == 0) {
        sleep(HANG_S + 10);
        kill(backend, SIGCONT);
        _exit(0);
    }
    ck_assert_int_eq(kill(backend, SIGSTOP), 0);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, changes_call, &c), 0);
    for (double t0 = now_ms(); !atomic_load(&c.done) && now_ms() - t0 < HANG_S * 1000.0;)
        usleep(20000);
    int returned = atomic_load(&c.done);
    kill(backend, SIGCONT);
    kill(watchdog, SIGKILL);
    waitpid(watchdog, NULL, 0);
    pthread_join(t, NULL);
    ck_assert_msg(returned, "a query to a stopped backend was still waiting after %d s", HANG_S);
    ck_assert_int_eq(c.rc, IDD_EBUSY);
    wait_reconnected(s);
    idd_store_free(s);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("store_reconnect");
    TCase *tc = tcase_create("reconnect");
    tcase_set_timeout(tc, 60); /* each test; the hang test's own limit is HANG_S */
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_reconnect_backs_off);
    tcase_add_test(tc, test_lock_wait_ends_at_statement_timeout);
    tcase_add_test(tc, test_unanswered_query_is_bounded);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(make_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
