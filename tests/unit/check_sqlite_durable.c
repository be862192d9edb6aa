/*
 * A write the SQLite engine reports done is on the disk, not only in the operating system's
 * cache: each commit syncs the write-ahead log (synchronous=FULL), so that an acknowledged
 * logout, key deletion or sign-in survives a power loss or a kernel crash, not only a killed
 * process (tests/integration/check_durability.c covers that one).
 *
 * The test puts a VFS of its own in front of SQLite's default one, counting the syncs of each
 * kind of file, and opens the store through the library as identityd and identityctl do.
 */
#include <check.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "identityd/core/common.h"
#include "identityd/store/store.h"

/* ---- a VFS that counts syncs, by the kind of file --------------------------------------- */

static sqlite3_vfs *base_vfs;
static sqlite3_vfs counting_vfs;
static int wal_syncs, db_syncs;

typedef struct counted_file {
    sqlite3_file file;  /* its methods: counted_io */
    int flags;          /* SQLITE_OPEN_MAIN_DB, SQLITE_OPEN_WAL, ... */
    sqlite3_file *real; /* the base VFS's file, allocated right after this struct */
} counted_file_t;

#define REAL(f) (((counted_file_t *)(f))->real)

static int c_close(sqlite3_file *f)
{
    int rc = REAL(f)->pMethods->xClose(REAL(f));
    return rc;
}
static int c_read(sqlite3_file *f, void *b, int n, sqlite3_int64 o)
{
    return REAL(f)->pMethods->xRead(REAL(f), b, n, o);
}
static int c_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 o)
{
    return REAL(f)->pMethods->xWrite(REAL(f), b, n, o);
}
static int c_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    return REAL(f)->pMethods->xTruncate(REAL(f), size);
}
static int c_sync(sqlite3_file *f, int flags)
{
    const counted_file_t *cf = (const counted_file_t *)f;
    if (cf->flags & SQLITE_OPEN_WAL)
        wal_syncs++;
    else if (cf->flags & SQLITE_OPEN_MAIN_DB)
        db_syncs++;
    return REAL(f)->pMethods->xSync(REAL(f), flags);
}
static int c_size(sqlite3_file *f, sqlite3_int64 *size)
{
    return REAL(f)->pMethods->xFileSize(REAL(f), size);
}
static int c_lock(sqlite3_file *f, int l)
{
    return REAL(f)->pMethods->xLock(REAL(f), l);
}
static int c_unlock(sqlite3_file *f, int l)
{
    return REAL(f)->pMethods->xUnlock(REAL(f), l);
}
static int c_check(sqlite3_file *f, int *out)
{
    return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}
static int c_fcntl(sqlite3_file *f, int op, void *arg)
{
    return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}
static int c_sector(sqlite3_file *f)
{
    return REAL(f)->pMethods->xSectorSize(REAL(f));
}
static int c_chars(sqlite3_file *f)
{
    return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}
static int c_shm_map(sqlite3_file *f, int pg, int sz, int ext, void volatile **pp)
{
    return REAL(f)->pMethods->xShmMap(REAL(f), pg, sz, ext, pp);
}
static int c_shm_lock(sqlite3_file *f, int off, int n, int flags)
{
    return REAL(f)->pMethods->xShmLock(REAL(f), off, n, flags);
}
static void c_shm_barrier(sqlite3_file *f)
{
    REAL(f)->pMethods->xShmBarrier(REAL(f));
}
static int c_shm_unmap(sqlite3_file *f, int del)
{
    return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}

/* Version 2: WAL needs the shared-memory methods; nothing here uses mmap (version 3). */
static const sqlite3_io_methods counted_io = {
    .iVersion = 2,
    .xClose = c_close,
    .xRead = c_read,
    .xWrite = c_write,
    .xTruncate = c_truncate,
    .xSync = c_sync,
    .xFileSize = c_size,
    .xLock = c_lock,
    .xUnlock = c_unlock,
    .xCheckReservedLock = c_check,
    .xFileControl = c_fcntl,
    .xSectorSize = c_sector,
    .xDeviceCharacteristics = c_chars,
    .xShmMap = c_shm_map,
    .xShmLock = c_shm_lock,
    .xShmBarrier = c_shm_barrier,
    .xShmUnmap = c_shm_unmap,
};

static int c_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out_flags)
{
    (void)vfs;
    counted_file_t *cf = (counted_file_t *)f;
    cf->flags = flags;
    cf->real = (sqlite3_file *)(cf + 1);
    int rc = base_vfs->xOpen(base_vfs, name, cf->real, flags, out_flags);
    /* A file the base VFS failed to open has no methods, and SQLite then calls no xClose. */
    cf->file.pMethods = rc == SQLITE_OK && cf->real->pMethods != NULL ? &counted_io : NULL;
    return rc;
}

/* The rest goes straight to the base VFS (its own pointer as the first argument). */
static int c_delete(sqlite3_vfs *v, const char *n, int sync)
{
    (void)v;
    return base_vfs->xDelete(base_vfs, n, sync);
}
static int c_access(sqlite3_vfs *v, const char *n, int flags, int *out)
{
    (void)v;
    return base_vfs->xAccess(base_vfs, n, flags, out);
}
static int c_full(sqlite3_vfs *v, const char *n, int len, char *out)
{
    (void)v;
    return base_vfs->xFullPathname(base_vfs, n, len, out);
}
static int c_random(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    return base_vfs->xRandomness(base_vfs, n, out);
}
static int c_sleep(sqlite3_vfs *v, int us)
{
    (void)v;
    return base_vfs->xSleep(base_vfs, us);
}
static int c_time(sqlite3_vfs *v, double *out)
{
    (void)v;
    return base_vfs->xCurrentTime(base_vfs, out);
}
static int c_last_error(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    return base_vfs->xGetLastError(base_vfs, n, out);
}
static int c_time64(sqlite3_vfs *v, sqlite3_int64 *out)
{
    (void)v;
    return base_vfs->xCurrentTimeInt64(base_vfs, out);
}

static void install_counting_vfs(void)
{
    if (base_vfs != NULL)
        return;
    base_vfs = sqlite3_vfs_find(NULL);
    ck_assert_ptr_nonnull(base_vfs);
    counting_vfs = (sqlite3_vfs){
        .iVersion = 2,
        .szOsFile = (int)sizeof(counted_file_t) + base_vfs->szOsFile,
        .mxPathname = base_vfs->mxPathname,
        .zName = "idd-counting",
        .xOpen = c_open,
        .xDelete = c_delete,
        .xAccess = c_access,
        .xFullPathname = c_full,
        .xDlOpen = NULL,
        .xRandomness = c_random,
        .xSleep = c_sleep,
        .xCurrentTime = c_time,
        .xGetLastError = c_last_error,
        .xCurrentTimeInt64 = c_time64,
    };
    ck_assert_int_eq(sqlite3_vfs_register(&counting_vfs, 1), SQLITE_OK);
}

/* ---- the tests ------------------------------------------------------------------------------ */

static char dir[64];
static char path[128];

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/identityd-durable-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/identity.db", dir);
    install_counting_vfs();
}

static void teardown(void)
{
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    int rc = system(cmd);
    (void)rc;
}

/* Each commit the store makes syncs the log before the call returns, while the connection
 * stays open (SQLite's own checkpoint on close syncs whatever the setting, and proves
 * nothing). */
START_TEST(each_commit_syncs_the_log)
{
    idd_store_t *s = NULL;
    ck_assert_int_eq(idd_store_open(path, &s), 0);
    ck_assert_int_eq(idd_store_migrate(s, NULL, NULL), 0);
    for (int i = 1; i <= 5; i++) {
        char name[32];
        snprintf(name, sizeof(name), "tenant %d", i);
        wal_syncs = 0;
        ck_assert_int_eq(idd_store_tenant_ensure(s, 100 + i, name), 0);
        ck_assert_msg(wal_syncs >= 1, "commit %d returned with its log unsynced", i);
    }
    idd_store_free(s);
}
END_TEST

/* Work nobody waits for commits without waiting for the disk (lazy), and once lazy is off
 * again every commit syncs as before. */
START_TEST(lazy_commits_do_not_sync)
{
    idd_store_t *s = NULL;
    ck_assert_int_eq(idd_store_open(path, &s), 0);
    ck_assert_int_eq(idd_store_migrate(s, NULL, NULL), 0);
    ck_assert_int_eq(idd_store_set_lazy(s, 1), 0);
    for (int i = 1; i <= 3; i++) {
        char name[32];
        snprintf(name, sizeof(name), "lazy %d", i);
        wal_syncs = 0;
        ck_assert_int_eq(idd_store_tenant_ensure(s, 200 + i, name), 0);
        ck_assert_msg(wal_syncs == 0, "lazy commit %d synced the log", i);
    }
    ck_assert_int_eq(idd_store_set_lazy(s, 0), 0);
    wal_syncs = 0;
    ck_assert_int_eq(idd_store_tenant_ensure(s, 300, "durable again"), 0);
    ck_assert_int_ge(wal_syncs, 1);
    idd_store_free(s);
}
END_TEST

static Suite *durable_suite(void)
{
    Suite *s = suite_create("sqlite_durable");
    TCase *tc = tcase_create("sync");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, each_commit_syncs_the_log);
    tcase_add_test(tc, lazy_commits_do_not_sync);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(durable_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
