/*
 * The migrations of the SQLite engine: the schema is built by the numbered SQL files of
 * migrations/ compiled into the programs (store/migrations.h), and PRAGMA user_version holds
 * the number of the last one applied.
 *
 * Migrations are applied one per BEGIN IMMEDIATE transaction, which takes the write lock
 * before reading PRAGMA user_version: of two processes starting together, the second waits
 * and then finds the work done.
 */
#include <stdio.h>

#include "identityd/core/common.h"
#include "identityd/core/log.h"
#include "identityd/store/store.h"
#include "store/migrations.h"
#include "store/sqlite_ops.h"
#include "store/sqlite_stmt.h"

int idd_store_latest_version(void)
{
    int latest = 0;
    for (size_t i = 0; i < idd_migrations_count; i++) {
        if (idd_migrations[i].number > latest)
            latest = idd_migrations[i].number;
    }
    return latest;
}

static int user_version(sqlite_store_t *ss, int *version)
{
    int64_t v = 0;
    int rc = idd_sqlite_pragma_int(ss, ST_USER_VERSION, &v);
    if (rc == 0)
        *version = (int)v;
    return rc;
}

int idd_sqlite_schema_version(idd_store_t *s, int *version)
{
    return user_version(to_sqlite(s), version);
}

/* The migrations must be in strictly ascending order of number: that order is the order they
 * are applied in and the version each one leaves behind. The build sorts them; this catches
 * two files sharing a number. */
static int migrations_ordered(void)
{
    for (size_t i = 0; i < idd_migrations_count; i++) {
        if (idd_migrations[i].number <= 0 ||
            (i > 0 && idd_migrations[i].number <= idd_migrations[i - 1].number)) {
            idd_log_error("store: migration %s is out of order", idd_migrations[i].name);
            return 0;
        }
    }
    return 1;
}

/* Applies the first migration newer than the database, in its own write transaction.
 * *before receives the version found under the lock, *after the version left behind (equal
 * to *before when nothing was left to do). */
static int migrate_one(sqlite_store_t *ss, int latest, int *before, int *after)
{
    const idd_migration_t *next = NULL;
    char sql[64];
    int rc;

    /* The write lock is taken before the version is read, so it cannot change underneath. */
    rc = idd_sqlite_exec(ss, "BEGIN IMMEDIATE", "begin migration");
    if (rc != 0)
        goto done;
    rc = user_version(ss, before);
    if (rc != 0)
        goto done;
    *after = *before;
    if (*before > latest) {
        idd_log_error("store: the database schema is version %d, newer than this program's %d; "
                      "upgrade identityd",
                      *before, latest);
        rc = IDD_ESCHEMA;
        goto done;
    }
    for (size_t i = 0; i < idd_migrations_count && next == NULL; i++) {
        if (idd_migrations[i].number > *before)
            next = &idd_migrations[i];
    }
    if (next == NULL) {
        rc = idd_sqlite_exec(ss, "COMMIT", "commit");
        goto done;
    }
    if (sqlite3_exec(ss->db, next->sql, NULL, NULL, NULL) != SQLITE_OK) {
        idd_log_error("store: migration %s failed: %s", next->name, sqlite3_errmsg(ss->db));
        rc = IDD_ESTORE;
        goto done;
    }
    /* A migration that ends the transaction itself would leave part of it applied without
     * the version that says so. */
    if (sqlite3_get_autocommit(ss->db)) {
        idd_log_error("store: migration %s must not begin or end transactions", next->name);
        rc = IDD_ESTORE;
        goto done;
    }
    /* A pragma takes no bound parameters; the number is an int from the build. */
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", next->number);
    rc = idd_sqlite_exec(ss, sql, "set user_version");
    if (rc != 0)
        goto done;
    rc = idd_sqlite_exec(ss, "COMMIT", "commit migration");
    if (rc != 0)
        goto done;
    idd_log_info("store: applied migration %s", next->name);
    *after = next->number;

done:
    if (rc != 0)
        idd_sqlite_rollback(ss);
    return rc;
}

int idd_sqlite_migrate(idd_store_t *s, int *from, int *to)
{
    sqlite_store_t *ss = to_sqlite(s);
    int latest = idd_store_latest_version();
    int first = -1;
    int before = 0;
    int after = 0;
    int rc = IDD_ESTORE;

    if (!migrations_ordered())
        goto done;
    do {
        rc = migrate_one(ss, latest, &before, &after);
        if (rc != 0)
            goto done;
        if (first < 0)
            first = before;
    } while (after != before);

done:
    if (rc == 0) {
        if (from != NULL)
            *from = first;
        if (to != NULL)
            *to = after;
    }
    return rc;
}
