/*
 * The suites' PostgreSQL databases (IDD_TEST_STORE=pg), shared by tests/unit/store_test.h
 * and tests/integration/harness.c: the admin conninfo tests/scripts/pg.sh printed, which
 * ctest's pg/start leaves in the file IDD_TEST_PG_FILE names; a database per test, named
 * idd_t_<runner's pid>_<random>, made and dropped through it; and, when the runner (the
 * process that started before Check forked any test) exits, the drop of what its failed
 * tests left (Check's child exits at a failed assertion, before any teardown). Everything
 * is static: each suite is its own program.
 */
#ifndef IDD_TESTS_PG_TEST_H
#define IDD_TESTS_PG_TEST_H

#include <check.h>
#include <libpq-fe.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

static pid_t runner_pid; /* the runner: the process that began before Check forked */

/* Whether the suite runs against PostgreSQL (IDD_TEST_STORE=pg) rather than SQLite. */
static inline int pg_test_enabled(void)
{
    const char *e = getenv("IDD_TEST_STORE");
    if (e == NULL || *e == '\0' || strcmp(e, "sqlite") == 0)
        return 0;
    if (strcmp(e, "pg") != 0) {
        fprintf(stderr, "IDD_TEST_STORE must be sqlite or pg, not %s\n", e);
        abort();
    }
    return 1;
}

static char pg_admin[900];
static pid_t runner_pid; /* the runner: the process that began before Check forked */

/* The admin conninfo pg/start wrote to IDD_TEST_PG_FILE, read once; NULL when missing. */
static inline const char *pg_admin_conninfo(char *err, size_t errlen)
{
    if (pg_admin[0] != '\0')
        return pg_admin;
    const char *file = getenv("IDD_TEST_PG_FILE");
    FILE *f = file != NULL && *file != '\0' ? fopen(file, "r") : NULL;
    if (f == NULL) {
        snprintf(err, errlen,
                 "IDD_TEST_STORE=pg needs IDD_TEST_PG_FILE, the file of a server's "
                 "conninfo (run the pg/ tests through ctest)");
        return NULL;
    }
    if (fgets(pg_admin, sizeof pg_admin, f) == NULL)
        pg_admin[0] = '\0';
    fclose(f);
    pg_admin[strcspn(pg_admin, "\r\n")] = '\0';
    if (pg_admin[0] == '\0') {
        snprintf(err, errlen, "%s holds no conninfo", file);
        return NULL;
    }
    return pg_admin;
}

/* Runs one statement on the server's admin database; 0, or -1 with the reason in err. */
static inline int pg_admin_exec(const char *sql, char *err, size_t errlen)
{
    const char *admin = pg_admin_conninfo(err, errlen);
    if (admin == NULL)
        return -1;
    PGconn *c = PQconnectdb(admin);
    int rc = -1;
    if (PQstatus(c) != CONNECTION_OK) {
        snprintf(err, errlen, "connecting to %s: %s", admin, PQerrorMessage(c));
    } else {
        PGresult *r = PQexec(c, sql);
        if (PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK)
            rc = 0;
        else
            snprintf(err, errlen, "%s: %s", sql, PQerrorMessage(c));
        PQclear(r);
    }
    PQfinish(c);
    return rc;
}

/* The admin conninfo with its database replaced by db: in the URI's path, or as a
 * dbname= keyword appended to a key=value conninfo. */
static inline void pg_conninfo_for(const char *admin, const char *db, char *out, size_t outlen)
{
    const char *scheme_end = strstr(admin, "://");
    const char *path = scheme_end != NULL ? strchr(scheme_end + 3, '/') : NULL;
    if (scheme_end == NULL) {
        snprintf(out, outlen, "%s dbname=%s", admin, db);
        return;
    }
    const char *query = strchr(scheme_end + 3, '?');
    if (path == NULL || (query != NULL && path > query))
        path = query != NULL ? query : admin + strlen(admin);
    int n = snprintf(out, outlen, "%.*s/%s%s", (int)(path - admin), admin, db,
                     query != NULL ? query : "");
    ck_assert_msg(n > 0 && (size_t)n < outlen, "conninfo too long: %s", admin);
}

/* The runner's pid, taken before Check forks any test. */
__attribute__((constructor)) static void pg_runner(void)
{
    runner_pid = getpid();
}

/* When the runner exits: drops the databases its tests left (a failed test's). */
__attribute__((destructor)) static void pg_sweep(void)
{
    char err[1200], sql[160];
    if (runner_pid == 0 || getpid() != runner_pid || !pg_test_enabled())
        return;
    const char *admin = pg_admin_conninfo(err, sizeof err);
    PGconn *c = admin != NULL ? PQconnectdb(admin) : NULL;
    if (c != NULL && PQstatus(c) == CONNECTION_OK) {
        snprintf(sql, sizeof sql,
                 "SELECT datname FROM pg_database WHERE datname LIKE 'idd\\_t\\_%ld\\_%%'",
                 (long)runner_pid);
        PGresult *r = PQexec(c, sql);
        int n = PQresultStatus(r) == PGRES_TUPLES_OK ? PQntuples(r) : 0;
        for (int i = 0; i < n; i++) {
            snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS \"%s\" WITH (FORCE)",
                     PQgetvalue(r, i, 0));
            PQclear(PQexec(c, sql));
        }
        if (n > 0)
            fprintf(stderr, "dropped %d database(s) that failed tests left\n", n);
        PQclear(r);
    }
    PQfinish(c);
}

/* Creates the database of one test; its name goes to db, its conninfo to location. */
static inline void pg_test_create(char *db, size_t dblen, char *location, size_t loclen)
{
    char err[1200], sql[128];
    uint32_t rnd;
    ck_assert_int_eq(getrandom(&rnd, sizeof rnd, 0), (ssize_t)sizeof rnd);
    snprintf(db, dblen, "idd_t_%ld_%08x", (long)runner_pid, (unsigned)rnd);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", db);
    ck_assert_msg(pg_admin_exec(sql, err, sizeof err) == 0, "%s", err);
    pg_conninfo_for(pg_admin, db, location, loclen);
}

/* Drops the database pg_test_create made (connections to it too), if any. */
static inline void pg_test_drop(char *db)
{
    char err[1200], sql[128];
    if (db[0] == '\0')
        return;
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", db);
    db[0] = '\0';
    ck_assert_msg(pg_admin_exec(sql, err, sizeof err) == 0, "%s", err);
}

#endif
