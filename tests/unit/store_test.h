/*
 * What the unit suites of the store (check_store_*.c, check_credcache.c) share: a fresh
 * store per test at store_location, stores opened and migrated there, records to insert,
 * and a way to reach under the interface with SQLite directly (to fake a newer schema, or to
 * write a row the C code would refuse). Each suite is its own program, so everything here is
 * static; the functions are inline so that a suite not using one of them does not warn.
 *
 * The engine comes from IDD_TEST_STORE: unset (or "sqlite"), store_location is db_path, a
 * file in a fresh mkdtemp folder; "pg", it is the conninfo of a database made for the test
 * (idd_t_<runner's pid>_<random>) on the server whose admin conninfo IDD_TEST_PG_FILE holds
 * (ctest's pg/ tests: tests/scripts/pg.sh), dropped by teardown; what a failed test left
 * (Check's child exits at the failed assertion, before teardown) is dropped when the runner
 * exits. A test that reaches under the interface into SQLite begins with
 * SKIP_UNLESS_SQLITE(why), which says on stderr that it was skipped, and why.
 */
#ifndef IDD_TESTS_UNIT_STORE_TEST_H
#define IDD_TESTS_UNIT_STORE_TEST_H

#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "identityd/core/common.h"
#include "identityd/core/log.h"
#include "identityd/store/store.h"

#include "../pg_test.h"

#define DIR_TEMPLATE "/tmp/check_store.XXXXXX"
#define RECORD_A "$idd1$1000$vkuqioKSr1iNsYTo58Dkl0UkX_-2yQcVzfW3FYhiIqM"
#define RECORD_B "$idd1$100000$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

static char test_dir[sizeof DIR_TEMPLATE];
static char db_path[sizeof DIR_TEMPLATE + 16];
/* What the suites open: db_path, or the conninfo of the test's PostgreSQL database. */
static char store_location[1024];
static char pg_db[64];
/* Whether the suite runs against PostgreSQL (IDD_TEST_STORE=pg) rather than SQLite. */
static inline int store_test_pg(void)
{
    return pg_test_enabled();
}

/* For a test that reaches under the store interface into SQLite: under PostgreSQL it says
 * so on stderr and ends the test (Check has no skipped state: it counts as passed). */
#define SKIP_UNLESS_SQLITE(why)                                                                    \
    do {                                                                                           \
        if (store_test_pg()) {                                                                     \
            fprintf(stderr, "%s:%d: SKIP %s under IDD_TEST_STORE=pg: %s\n", __FILE__, __LINE__,    \
                    __func__, why);                                                                \
            return;                                                                                \
        }                                                                                          \
    } while (0)

static inline void setup(void)
{
    memcpy(test_dir, DIR_TEMPLATE, sizeof DIR_TEMPLATE);
    ck_assert_ptr_nonnull(mkdtemp(test_dir));
    snprintf(db_path, sizeof db_path, "%s/id.db", test_dir);
    snprintf(store_location, sizeof store_location, "%s", db_path);
    pg_db[0] = '\0';
    if (store_test_pg()) {
        /* A database of the test's own, named after the runner so that it can drop what
         * a failed test left. */
        pg_test_create(pg_db, sizeof pg_db, store_location, sizeof store_location);
    }
    /* Applied migrations are logged at info level: keep the output to errors (some tests
     * provoke them on purpose), unless IDD_TEST_LOG asks for everything. */
    idd_log_set_level(getenv("IDD_TEST_LOG") != NULL ? IDD_LOG_DEBUG : IDD_LOG_ERROR);
}

static inline void teardown(void)
{
    DIR *d = opendir(test_dir);
    struct dirent *e;
    char path[sizeof test_dir + 300];

    pg_test_drop(pg_db);
    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", test_dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(test_dir);
}

/* Opens store_location and brings it to the latest schema. */
static inline idd_store_t *open_migrated(void)
{
    idd_store_t *s = NULL;
    ck_assert_int_eq(idd_store_open(store_location, &s), 0);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(idd_store_migrate(s, NULL, NULL), 0);
    return s;
}

/* Opens a migrated store holding tenants 1 and 2. */
static inline idd_store_t *open_with_tenants(void)
{
    idd_store_t *s = open_migrated();
    ck_assert_int_eq(idd_store_tenant_ensure(s, 1, "one"), 0);
    ck_assert_int_eq(idd_store_tenant_ensure(s, 2, "two"), 0);
    return s;
}

static inline idd_user_t make_user(int64_t tenant_id, const char *email)
{
    idd_user_t u;
    memset(&u, 0, sizeof u);
    u.tenant_id = tenant_id;
    snprintf(u.email, sizeof u.email, "%s", email);
    snprintf(u.first_name, sizeof u.first_name, "Alice");
    snprintf(u.last_name, sizeof u.last_name, "Liddell");
    u.role = IDD_ROLE_ADMIN;
    u.status = IDD_USER_ACTIVE;
    snprintf(u.password, sizeof u.password, "%s", RECORD_A);
    return u;
}

/* Runs one SQL statement on db_path through SQLite directly, bypassing the store. A test
 * using it skips under PostgreSQL (SKIP_UNLESS_SQLITE); one that does not fails here. */
static inline int raw_exec(const char *sql)
{
    ck_assert_msg(!store_test_pg(), "raw_exec reaches SQLite: the test must SKIP_UNLESS_SQLITE");
    sqlite3 *db = NULL;
    int rc = sqlite3_open(db_path, &db);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    sqlite3_close(db);
    return rc;
}

static inline int is_hex_lower(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* A random GUID as the store makes them: 8-4-4-4-12 lowercase hex, version 4, RFC 4122
 * variant (10xx in the first bits of the fourth group). */
static inline int is_guid_v4(const char *s)
{
    if (strlen(s) != IDD_GUID_LEN)
        return 0;
    for (size_t i = 0; i < IDD_GUID_LEN; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return 0;
        } else if (!is_hex_lower(s[i])) {
            return 0;
        }
    }
    return s[14] == '4' && strchr("89ab", s[19]) != NULL;
}

typedef struct listing {
    int count;
    int stop_after; /* 0: never */
    int64_t tenant[8];
    char email[8][IDD_EMAIL_MAX + 1];
} listing_t;

static inline int collect(const idd_user_t *user, void *arg)
{
    listing_t *l = arg;
    if (l->count < 8) {
        l->tenant[l->count] = user->tenant_id;
        snprintf(l->email[l->count], sizeof l->email[0], "%s", user->email);
    }
    l->count++;
    return l->stop_after != 0 && l->count >= l->stop_after;
}

/* A session of user created at `created`, valid for an hour, whose digest is derived from
 * seed so that every seed gives a different one. */
static inline idd_session_t make_session(const idd_user_t *user, unsigned seed, int64_t created)
{
    idd_session_t x;
    memset(&x, 0, sizeof x);
    x.tenant_id = user->tenant_id;
    memcpy(x.user_id, user->id, sizeof x.user_id);
    for (size_t i = 0; i < IDD_SESSION_DIGEST_LEN; i++)
        x.digest[i] = (unsigned char)(seed * 31u + i * 7u);
    x.created = created;
    x.expires = created + 3600;
    x.last_seen = created;
    snprintf(x.ip, sizeof x.ip, "192.0.2.%u", seed % 250);
    snprintf(x.user_agent, sizeof x.user_agent, "Mozilla/5.0 (X11; Linux) test/%u", seed);
    x.auth_version = user->auth_version;
    return x;
}

/* Inserts a user and returns it as stored. */
static inline idd_user_t add_user(idd_store_t *s, int64_t tenant_id, const char *email)
{
    idd_user_t u = make_user(tenant_id, email);
    ck_assert_int_eq(idd_store_user_insert(s, &u), 0);
    return u;
}

/* Creates a session and returns its id. */
static inline int64_t add_session(idd_store_t *s, idd_session_t *x)
{
    ck_assert_int_eq(idd_store_session_create(s, x), 0);
    ck_assert_int_gt(x->id, 0);
    return x->id;
}

static inline int session_active(idd_store_t *s, int64_t id)
{
    idd_session_t found;
    ck_assert_int_eq(idd_store_session_by_id(s, id, &found), 0);
    return found.active;
}

#endif
