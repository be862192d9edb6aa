/*
 * What the files of the SQLite engine share: the handle, the statement cache and the helpers
 * that turn SQLite results into IDD_E* codes. sqlite.c holds the connection, migrations,
 * tenants and users; sqlite_session.c holds the login events; sqlite_apikey.c the API keys.
 * Private to src/store/: nothing outside the engine includes this, callers see only store.h.
 *
 * The statement ids and the handle type carry no idd_ prefix because they have no linkage
 * and never leave these files; the functions do, since the library links them.
 */
#ifndef IDD_STORE_SQLITE_INTERNAL_H
#define IDD_STORE_SQLITE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "identityd/store/store.h"

/* Every cached statement of the engine. Each file prepares only its own ids, from its own
 * table of SQL; the handle keeps them in one array so that close finalizes them all. */
enum stmt_id {
    /* sqlite.c */
    ST_TENANT_ENSURE,
    ST_TENANT_GET,
    ST_USER_BY_EMAIL,
    ST_USER_BY_ID,
    ST_USER_INSERT,
    ST_USER_SET_STATUS,
    ST_USER_SET_PASSWORD,
    ST_USER_SET_PASSWORD_CHANGE,
    ST_USER_LIST_ALL,
    ST_USER_LIST_TENANT,
    /* sqlite_session.c */
    ST_SESSION_CREATE,
    ST_SESSION_BY_DIGEST,
    ST_SESSION_BY_ID,
    ST_SESSION_TOUCH,
    ST_SESSION_END,
    ST_SESSION_END_USER,
    ST_SESSION_LIST_USER,
    /* sqlite_apikey.c */
    ST_APIKEY_CREATE,
    ST_APIKEY_BY_DIGEST,
    ST_APIKEY_BY_ID,
    ST_APIKEY_LIST_TENANT,
    ST_APIKEY_LIST_CREATOR,
    ST_APIKEY_UPDATE,
    ST_APIKEY_DELETE,
    ST_APIKEY_TOUCH,
    ST_COUNT
};

typedef struct sqlite_store {
    idd_store_t base; /* first, so that an idd_store_t * is a sqlite_store_t * */
    sqlite3 *db;
    sqlite3_stmt *stmts[ST_COUNT]; /* prepared on first use, finalized by close */
} sqlite_store_t;

static inline sqlite_store_t *to_sqlite(idd_store_t *s)
{
    return (sqlite_store_t *)s;
}

/* Logs an engine failure with SQLite's message, which names tables, columns and constraints
 * but never the values bound to a statement, so no secret reaches the log. */
void idd_sqlite_log(sqlite3 *db, const char *what);

/* Turns a failed step into an IDD_E* code: IDD_EEXIST for a unique or primary key
 * violation, IDD_ENOTFOUND for a foreign key, IDD_EINVAL for a CHECK or NOT NULL, IDD_ESTORE
 * otherwise (logged). */
int idd_sqlite_step_error(sqlite_store_t *ss, int src, const char *what);

/* Hands out the cached statement id, preparing it from sql on first use (sql is only read
 * then). IDD_EBUSY when that statement is still mid-step, which means the handle was
 * re-entered from a listing's visitor; IDD_ESTORE when it does not prepare. */
int idd_sqlite_stmt_get(sqlite_store_t *ss, enum stmt_id id, const char *sql, sqlite3_stmt **out);

/* Returns a statement to the cache: ends its read or write and drops its bindings, so no
 * pointer to the caller's memory (SQLITE_STATIC) outlives the call. NULL is a no-op. */
void idd_sqlite_stmt_put(sqlite3_stmt *stmt);

/* The length of a NUL-terminated string held in a char[size] field, or IDD_ETOOBIG when the
 * field holds no terminator. */
int idd_sqlite_field_length(const char *field, size_t size, size_t *len);

/* Copies a TEXT column into a char[size] field; IDD_ESTORE (logged) for NULL or a value that
 * does not fit, which only a writer bypassing the schema's limits could have stored. */
int idd_sqlite_column_copy(sqlite_store_t *ss, sqlite3_stmt *stmt, int col, char *dst, size_t size);

/* Reads the current row of a statement into a record of the caller's type. */
typedef int (*idd_sqlite_read_fn)(sqlite_store_t *ss, sqlite3_stmt *stmt, void *record);

/* Steps stmt once: 1 when a row was read into record, 0 when there are no more rows, or a
 * negative IDD_E* code (a failed step, or read's own error). */
int idd_sqlite_next(sqlite_store_t *ss, sqlite3_stmt *stmt, const char *what, idd_sqlite_read_fn read,
                    void *record);

/* Runs a statement that yields at most one row and reads it into out (size bytes) through
 * scratch, a record of the same type: a failure leaves out zeroed rather than half-written,
 * and scratch, which may hold secrets, is wiped. IDD_ENOTFOUND when there is no row. */
int idd_sqlite_lookup(sqlite_store_t *ss, sqlite3_stmt *stmt, const char *what, idd_sqlite_read_fn read,
                      void *scratch, void *out, size_t size);

/* Runs SQL that returns nothing (transaction control), outside the statement cache; logs and
 * returns IDD_ESTORE when it fails. */
int idd_sqlite_exec(sqlite_store_t *ss, const char *sql, const char *what);

/* Rolls back the open transaction, if any. */
void idd_sqlite_rollback(sqlite_store_t *ss);

/* Writes a fresh random (version 4) GUID, lowercase with hyphens. Returns 0 or IDD_ECRYPTO. */
int idd_sqlite_guid_new(char out[IDD_GUID_LEN + 1]);

/* Whether s[0..len) is a GUID as the store keeps them: 8-4-4-4-12 lowercase hex digits. */
int idd_sqlite_guid_valid(const char *s, size_t len);

/* ---- sqlite_session.c: the session operations of idd_store_ops_t (see store.h) ---- */
int idd_sqlite_session_create(idd_store_t *s, idd_session_t *session);
int idd_sqlite_session_by_digest(idd_store_t *s, const unsigned char digest[IDD_SESSION_DIGEST_LEN],
                                 idd_session_t *out);
int idd_sqlite_session_by_id(idd_store_t *s, int64_t id, idd_session_t *out);
int idd_sqlite_session_touch(idd_store_t *s, int64_t id, int64_t when);
int idd_sqlite_session_end(idd_store_t *s, int64_t id);
/* Also called by the user updates of sqlite.c inside their own transaction. */
int idd_sqlite_session_end_user(idd_store_t *s, const char *user_id, int64_t except_id, int *count);
int idd_sqlite_session_list_user(idd_store_t *s, const char *user_id, int64_t now,
                                 idd_session_visit_fn visit, void *arg);

/* ---- sqlite_apikey.c: the API key operations of idd_store_ops_t (see store.h) ---- */
int idd_sqlite_apikey_create(idd_store_t *s, idd_apikey_t *key);
int idd_sqlite_apikey_by_digest(idd_store_t *s, const unsigned char digest[IDD_SESSION_DIGEST_LEN],
                                idd_apikey_t *out);
int idd_sqlite_apikey_by_id(idd_store_t *s, const char *id, idd_apikey_t *out);
int idd_sqlite_apikey_list(idd_store_t *s, int64_t tenant_id, const char *created_by,
                           idd_apikey_visit_fn visit, void *arg);
int idd_sqlite_apikey_update(idd_store_t *s, const char *id, const char *name,
                             const char *permissions, int active);
int idd_sqlite_apikey_delete(idd_store_t *s, const char *id);
int idd_sqlite_apikey_touch(idd_store_t *s, const char (*ids)[IDD_GUID_LEN + 1],
                            const int64_t *when, size_t n);

/* Opens the SQLite engine on path; called by idd_store_open (store.c). */
int idd_store_sqlite_open(const char *path, idd_store_t **out);

#endif
