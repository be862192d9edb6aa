/*
 * The bottom of the SQLite engine: the handle, the one table of statements the engine runs,
 * and the helpers every engine file uses to run them and to turn SQLite results into IDD_E*
 * codes (sqlite_stmt.c). Private to src/store/: callers see only store.h.
 *
 * The engine's files sit in this order, each using only those below it:
 *   sqlite.c          opens and closes a connection; the engine's ops table
 *   sqlite_user.c     tenants and users (a user change ends the user's sessions)
 *   sqlite_session.c  sessions;  sqlite_apikey.c  API keys;  sqlite_migrate.c  migrations;
 *   sqlite_signing.c  signing keys identityd rotates itself
 *   sqlite_tfa.c      users' two-factor bindings
 *   sqlite_stmt.c     this header: the statements and the helpers
 * store.c, the engine-neutral interface, sits above them all; records.c (role and status
 * names) below them all.
 *
 * The statement ids and the handle type carry no idd_ prefix because they have no linkage
 * and never leave these files; the functions do, since the library links them.
 */
#ifndef IDD_STORE_SQLITE_STMT_H
#define IDD_STORE_SQLITE_STMT_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "identityd/store/store.h"

/* The columns each reader expects, in its order: read_user() (sqlite_user.c),
 * read_session() (sqlite_session.c) and read_apikey() (sqlite_apikey.c). */
#define USER_COLUMNS                                                                               \
    "id, tenant_id, email, first_name, last_name, role, status, password, auth_version, "          \
    "created, updated, password_change_required"
#define SESSION_COLUMNS                                                                            \
    "id, tenant_id, user_id, token_digest, created, expires, last_seen, ip, user_agent, "          \
    "active, browser_session, auth_version"
#define APIKEY_COLUMNS                                                                             \
    "id, tenant_id, create_by, name, key_digest, key_postfix, permissions, create_on, "            \
    "expires_at, last_used, is_active, deactivated, deactivated_by"

/* Every statement the engine runs through the cache; their SQL is in sqlite_stmt.c. */
enum stmt_id {
    ST_USER_VERSION,
    ST_FOREIGN_KEYS,
    ST_TENANT_ENSURE,
    ST_TENANT_GET,
    ST_USER_BY_EMAIL,
    ST_USER_BY_ID,
    ST_USER_INSERT,
    ST_USER_SET_STATUS,
    ST_USER_SET_PASSWORD,
    ST_USER_SET_PASSWORD_CHANGE,
    ST_USER_UPGRADE_PASSWORD,
    ST_USER_LIST_ALL,
    ST_USER_LIST_TENANT,
    ST_SESSION_CREATE,
    ST_SESSION_BY_DIGEST,
    ST_SESSION_BY_ID,
    ST_SESSION_TOUCH,
    ST_SESSION_END,
    ST_SESSION_END_USER,
    ST_SESSION_LIST_USER,
    ST_SESSION_CAP,
    ST_SESSION_PRUNE,
    ST_SESSION_COUNT_LIVE,
    ST_APIKEY_CREATE,
    ST_APIKEY_BY_DIGEST,
    ST_APIKEY_BY_ID,
    ST_APIKEY_LIST_TENANT,
    ST_APIKEY_LIST_CREATOR,
    ST_APIKEY_UPDATE,
    ST_APIKEY_DELETE,
    ST_APIKEY_TOUCH,
    ST_APIKEY_COUNT_CREATOR,
    ST_APIKEY_DEACTIVATE,
    ST_APIKEY_ACTIVATE,
    ST_APIKEY_PRUNE,
    ST_APIKEY_COUNT,
    ST_SKEY_LIST,
    ST_SKEY_INSERT,
    ST_SKEY_DEMOTE,
    ST_SKEY_PROMOTE,
    ST_SKEY_RETIRE,
    ST_TFA_GET,
    ST_TFA_CREATE,
    ST_TFA_ACTIVATE,
    ST_TFA_ACCEPT_STEP,
    ST_TFA_SET_CODES,
    ST_TFA_DELETE,
    ST_TENANT_TFA_GET,
    ST_TENANT_TFA_SET,
    ST_STORE_CHANGES,
    ST_SESSION_END_TENANT,
    ST_TENANT_TFA_ENABLED,
    ST_BF_KEY_INSERT,
    ST_BF_KEY_GET,
    ST_BF_COUNT,
    ST_BF_SINCE,
    ST_BF_PRUNE,
    ST_COUNT
};

typedef struct sqlite_store {
    idd_store_t base; /* first, so that an idd_store_t * is a sqlite_store_t * */
    sqlite3 *db;
    sqlite3_stmt
        *stmts[ST_COUNT]; /* prepared on first use, finalized by idd_sqlite_stmts_finalize */
} sqlite_store_t;

static inline sqlite_store_t *to_sqlite(idd_store_t *s)
{
    return (sqlite_store_t *)s;
}

/* One value to bind to a statement parameter, by position (?1 is params[0]). The pointers
 * are bound SQLITE_STATIC: they must stay valid until the statement is put back. */
typedef struct sqlite_param {
    enum { PARAM_INT64, PARAM_TEXT, PARAM_BLOB, PARAM_NULL } type;
    int64_t num;
    const void *ptr;
    int len; /* bytes of text or blob; -1: text up to its NUL */
} sqlite_param_t;

#define SQL_INT64(v) ((sqlite_param_t){.type = PARAM_INT64, .num = (v)})
#define SQL_TEXT(p, n) ((sqlite_param_t){.type = PARAM_TEXT, .ptr = (p), .len = (n)})
#define SQL_BLOB(p, n) ((sqlite_param_t){.type = PARAM_BLOB, .ptr = (p), .len = (n)})
#define SQL_NULL ((sqlite_param_t){.type = PARAM_NULL})

/* Logs an engine failure with SQLite's message, which names tables, columns and constraints
 * but never the values bound to a statement, so no secret reaches the log. */
void idd_sqlite_log(sqlite3 *db, const char *what);

/* Turns a failed step into an IDD_E* code: IDD_EEXIST for a unique or primary key
 * violation, IDD_ENOTFOUND for a foreign key, IDD_EINVAL for a CHECK or NOT NULL,
 * IDD_EUNAVAIL when the file system refuses the database's files (disk full, read-only, an
 * I/O error: a warning, logged at most once a second), IDD_ESTORE otherwise (logged). */
int idd_sqlite_step_error(sqlite_store_t *ss, int src, const char *what);

/* The name a statement's failures are logged under ("user_by_id"). */
const char *idd_sqlite_stmt_what(enum stmt_id id);

/* Hands out the cached statement id, preparing it from the table on first use. IDD_EBUSY
 * when that statement is still mid-step, which means the handle was re-entered from a
 * listing's visitor; IDD_ESTORE when it does not prepare. */
int idd_sqlite_stmt_get(sqlite_store_t *ss, enum stmt_id id, sqlite3_stmt **out);

/* Binds params[0..n) to ?1..?n. IDD_ESTORE (logged) when SQLite refuses one. */
int idd_sqlite_bind(sqlite_store_t *ss, sqlite3_stmt *stmt, const sqlite_param_t *params, size_t n);

/* Returns a statement to the cache: ends its read or write and drops its bindings, so no
 * pointer to the caller's memory (SQLITE_STATIC) outlives the call. NULL is a no-op. */
void idd_sqlite_stmt_put(sqlite3_stmt *stmt);

/* Finalizes every prepared statement of the handle (at close). */
void idd_sqlite_stmts_finalize(sqlite_store_t *ss);

/* Copies a TEXT column into a char[size] field; IDD_ESTORE (logged) for NULL or a value that
 * does not fit, which only a writer bypassing the schema's limits could have stored. */
int idd_sqlite_column_copy(sqlite_store_t *ss, sqlite3_stmt *stmt, int col, char *dst, size_t size);

/* Reads the current row of a statement into a record of the caller's type. */
typedef int (*idd_sqlite_read_fn)(sqlite_store_t *ss, sqlite3_stmt *stmt, void *record);

/* Steps stmt once: 1 when a row was read into record, 0 when there are no more rows, or a
 * negative IDD_E* code (a failed step, or read's own error). */
int idd_sqlite_next(sqlite_store_t *ss, sqlite3_stmt *stmt, const char *what,
                    idd_sqlite_read_fn read, void *record);

/* Looks up one row: gets statement id, binds params[0..n), steps once, reads the row into
 * out (size bytes) through read and puts the statement back. IDD_ENOTFOUND when there is no
 * row; any failure leaves out zeroed rather than half-written. */
int idd_sqlite_lookup(sqlite_store_t *ss, enum stmt_id id, const sqlite_param_t *params, size_t n,
                      idd_sqlite_read_fn read, void *out, size_t size);

/* Runs a write statement: gets statement id, binds params[0..n), steps it to the end and puts
 * it back. *changes (may be NULL) receives the number of rows it changed. */
int idd_sqlite_write(sqlite_store_t *ss, enum stmt_id id, const sqlite_param_t *params, size_t n,
                     int *changes);

/* Reads the one integer a statement with one row and column answers (count(*)), after binding
 * params[0..n). */
int idd_sqlite_query_int(sqlite_store_t *ss, enum stmt_id id, const sqlite_param_t *params,
                         size_t n, int64_t *out);

/* Reads the one integer a pragma statement (ST_USER_VERSION, ST_FOREIGN_KEYS) answers. */
int idd_sqlite_pragma_int(sqlite_store_t *ss, enum stmt_id id, int64_t *out);

/* Runs SQL that returns nothing (transaction control), outside the statement cache; logs and
 * returns IDD_ESTORE when it fails (IDD_EUNAVAIL as idd_sqlite_step_error says). */
int idd_sqlite_exec(sqlite_store_t *ss, const char *sql, const char *what);

/* Rolls back the open transaction, if any. */
void idd_sqlite_rollback(sqlite_store_t *ss);

#endif
