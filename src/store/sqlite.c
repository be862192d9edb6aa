/*
 * The SQLite engine of the store (include/identityd/store/store.h): opening and closing a
 * connection, and the engine's ops table, which gathers the operations of the engine's other
 * files (sqlite_ops.h): tenants and users, sessions, API keys and migrations. The statements
 * they run and the helpers they share are in sqlite_stmt.c.
 *
 * A handle is one connection used by one thread at a time, so the connection is opened
 * without SQLite's own mutexes. Every process and thread shares the database file through
 * WAL: readers never block the single writer, and busy_timeout makes a writer wait for
 * another rather than fail at once.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "identityd/core/common.h"
#include "identityd/core/log.h"
#include "identityd/store/store.h"
#include "store/engines.h"
#include "store/sqlite_ops.h"
#include "store/sqlite_stmt.h"

#define BUSY_TIMEOUT_MS 5000

static void sqlite_close(idd_store_t *s)
{
    sqlite_store_t *ss = to_sqlite(s);

    idd_sqlite_stmts_finalize(ss);
    if (ss->db != NULL && sqlite3_close(ss->db) != SQLITE_OK)
        idd_sqlite_log(ss->db, "close");
    free(ss);
}

/* Work nobody waits for (a session's last use, the brute-force counters, a record stored the
 * current way) need not cost its loop a disk sync: it survives a killed process under
 * NORMAL, and what a power loss could undo of it is harmless (an older last use, counters
 * counted again, the older record, which still verifies). */
static int sqlite_set_lazy(idd_store_t *s, int lazy)
{
    return idd_sqlite_exec(to_sqlite(s),
                           lazy ? "PRAGMA synchronous = NORMAL" : "PRAGMA synchronous = FULL",
                           "set synchronous");
}

static const idd_store_ops_t sqlite_ops = {
    .close = sqlite_close,
    .migrate = idd_sqlite_migrate,
    .schema_version = idd_sqlite_schema_version,
    .tenant_ensure = idd_sqlite_tenant_ensure,
    .tenant_get = idd_sqlite_tenant_get,
    .user_by_email = idd_sqlite_user_by_email,
    .user_by_id = idd_sqlite_user_by_id,
    .user_insert = idd_sqlite_user_insert,
    .user_set_status = idd_sqlite_user_set_status,
    .user_set_password = idd_sqlite_user_set_password,
    .user_list = idd_sqlite_user_list,
    .user_set_password_change = idd_sqlite_user_set_password_change,
    .user_upgrade_password = idd_sqlite_user_upgrade_password,
    .session_create = idd_sqlite_session_create,
    .session_by_digest = idd_sqlite_session_by_digest,
    .session_by_id = idd_sqlite_session_by_id,
    .session_touch = idd_sqlite_session_touch,
    .session_end = idd_sqlite_session_end,
    .session_end_user = idd_sqlite_session_end_user,
    .session_list_user = idd_sqlite_session_list_user,
    .session_prune = idd_sqlite_session_prune,
    .apikey_create = idd_sqlite_apikey_create,
    .apikey_by_digest = idd_sqlite_apikey_by_digest,
    .apikey_by_id = idd_sqlite_apikey_by_id,
    .apikey_list = idd_sqlite_apikey_list,
    .apikey_update = idd_sqlite_apikey_update,
    .apikey_set_active = idd_sqlite_apikey_set_active,
    .apikey_prune = idd_sqlite_apikey_prune,
    .counts = idd_sqlite_counts,
    .changes = idd_sqlite_changes,
    .apikey_delete = idd_sqlite_apikey_delete,
    .apikey_touch = idd_sqlite_apikey_touch,
    .signing_key_list = idd_sqlite_signing_key_list,
    .signing_key_insert = idd_sqlite_signing_key_insert,
    .signing_key_activate = idd_sqlite_signing_key_activate,
    .signing_key_retire = idd_sqlite_signing_key_retire,
    .tfa_get = idd_sqlite_tfa_get,
    .tfa_create = idd_sqlite_tfa_create,
    .tfa_activate = idd_sqlite_tfa_activate,
    .tfa_accept_step = idd_sqlite_tfa_accept_step,
    .tfa_set_codes = idd_sqlite_tfa_set_codes,
    .tfa_delete = idd_sqlite_tfa_delete,
    .tenant_tfa_get = idd_sqlite_tenant_tfa_get,
    .tenant_tfa_set = idd_sqlite_tenant_tfa_set,
    .bruteforce_key = idd_sqlite_bruteforce_key,
    .bruteforce_count = idd_sqlite_bruteforce_count,
    .bruteforce_since = idd_sqlite_bruteforce_since,
    .bruteforce_prune = idd_sqlite_bruteforce_prune,
    .set_lazy = sqlite_set_lazy,
};

/* Switches the file to WAL. Changing the journal mode needs an exclusive lock, and SQLite
 * may answer SQLITE_BUSY at once, without its busy handler, while another process opens a
 * fresh file at the same moment; so this waits and retries within the busy timeout. */
static int set_wal(sqlite_store_t *ss, char *mode, size_t modelen)
{
    const char *sql = "PRAGMA journal_mode = WAL";
    for (int waited_ms = 0;; waited_ms += 10) {
        sqlite3_stmt *stmt = NULL;
        int src = sqlite3_prepare_v2(ss->db, sql, -1, &stmt, NULL);
        if (src == SQLITE_OK)
            src = sqlite3_step(stmt);
        if (src == SQLITE_ROW) {
            const unsigned char *value = sqlite3_column_text(stmt, 0);
            snprintf(mode, modelen, "%s", value != NULL ? (const char *)value : "");
            sqlite3_finalize(stmt);
            return 0;
        }
        sqlite3_finalize(stmt);
        if ((src & 0xff) != SQLITE_BUSY || waited_ms >= BUSY_TIMEOUT_MS) {
            idd_sqlite_log(ss->db, sql);
            return IDD_ESTORE;
        }
        usleep(10000);
    }
}

/* Sets the connection up: extended result codes (to tell a duplicate from a missing tenant),
 * the busy wait, foreign keys (off by default in SQLite, and the only thing refusing a user
 * of an unknown tenant), WAL with synchronous=FULL, and defensive mode, which refuses
 * statements that could corrupt the file (writable_schema and the like).
 *
 * FULL syncs the log at each commit, before the call returns: what identityd or identityctl
 * acknowledged (a sign-in, a logout, a deleted key, a disabled user) survives a power loss or
 * a kernel crash, not only a killed process. NORMAL would sync only at checkpoints, and a
 * power loss could then roll back the last commits, bringing a revoked key or ended session
 * back. The price is one fdatasync per committed write, on the loop that made it (about 3 ms
 * on the test machine's virtual disk; less on disks with a protected write cache); reads
 * and the token path commit nothing. */
static int configure(sqlite_store_t *ss)
{
    char mode[16];
    int64_t fk = 0;
    int rc;

    sqlite3_extended_result_codes(ss->db, 1);
    sqlite3_busy_timeout(ss->db, BUSY_TIMEOUT_MS);
    sqlite3_db_config(ss->db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL);
    sqlite3_db_config(ss->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, (int *)NULL);
    rc = idd_sqlite_exec(ss, "PRAGMA foreign_keys = ON", "enable foreign keys");
    if (rc != 0)
        return rc;
    rc = idd_sqlite_pragma_int(ss, ST_FOREIGN_KEYS, &fk);
    if (rc != 0)
        return rc;
    if (fk != 1) {
        idd_log_error("store: this SQLite does not enforce foreign keys");
        return IDD_ESTORE;
    }
    rc = set_wal(ss, mode, sizeof mode);
    if (rc != 0)
        return rc;
    /* An in-memory database answers "memory"; anything else cannot share the file safely
     * between connections, but still works for one. */
    if (strcmp(mode, "wal") != 0)
        idd_log_warn("store: journal_mode is %s, not wal", mode);
    return idd_sqlite_exec(ss, "PRAGMA synchronous = FULL", "set synchronous");
}

/* The database holds password records, so a new file is created readable by its owner only
 * whatever the caller's umask (SQLite would create it 0644, and gives its -wal and -shm files
 * the database's mode). An existing file keeps the mode its administrator chose, and
 * ":memory:" is no file. Failures are left for sqlite3_open_v2 to report. */
static void create_private(const char *path)
{
    int fd;

    if (strcmp(path, ":memory:") == 0)
        return;
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd >= 0)
        close(fd);
}

int idd_store_sqlite_open(const char *path, idd_store_t **out)
{
    sqlite_store_t *ss = idd_xcalloc(1, sizeof *ss);
    int rc = IDD_ESTORE;

    *out = NULL;
    ss->base.ops = &sqlite_ops;
    create_private(path);
    if (sqlite3_open_v2(path, &ss->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        if (ss->db != NULL)
            idd_log_error("store: cannot open %s: %s", path, sqlite3_errmsg(ss->db));
        else
            idd_log_error("store: cannot open %s: out of memory", path);
        goto done;
    }
    rc = configure(ss);
    if (rc != 0)
        goto done;
    *out = &ss->base;
    rc = 0;

done:
    if (rc != 0)
        sqlite_close(&ss->base);
    return rc;
}
