/*
 * The bottom of the PostgreSQL engine: the handle, the one table of statements the engine
 * runs, and the helpers every engine file uses to run them and to turn PostgreSQL's results
 * into IDD_E* codes (pg.c runs them, pg_stmt.c holds the table). Private to src/store/.
 *
 * The engine's files sit in this order, each using only those below it:
 *   pg.c              opens and closes a connection, the ops table, the helpers below and
 *                     the migrations (migrations/pg, embedded as idd_pg_migrations)
 *   pg_user.c         tenants and users (a user change ends the user's sessions)
 *   pg_session.c      sessions, counts and the change version;  pg_apikey.c  API keys
 *   pg_signing.c      signing keys identityd rotates itself;  pg_tfa.c  two-factor bindings
 *   pg_stmt.c         the statements
 *
 * Every statement is prepared (PQprepare) the first time a connection needs it, with its
 * parameter types given, and run with PQexecPrepared: integers and digests travel in binary
 * (no formatting), text as it is; results come back as text. A connection that broke makes
 * the call fail with IDD_EBUSY, and the next call resets it (PQreset) and prepares again.
 */
#ifndef IDD_STORE_PG_STMT_H
#define IDD_STORE_PG_STMT_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "identityd/core/backoff.h"
#include "identityd/store/store.h"

#define PG_USER_COLUMNS                                                                            \
    "id, tenant_id, email, first_name, last_name, role, status, password, auth_version, "          \
    "created, updated, password_change_required"
#define PG_SESSION_COLUMNS                                                                         \
    "id, tenant_id, user_id, token_digest, created, expires, last_seen, ip, user_agent, "          \
    "active, browser_session, auth_version"
#define PG_APIKEY_COLUMNS                                                                          \
    "id, tenant_id, create_by, name, key_digest, key_postfix, permissions, create_on, "            \
    "coalesce(expires_at, 0), coalesce(last_used, 0), is_active, deactivated, "                    \
    "coalesce(deactivated_by, '')"

enum pg_stmt_id {
    PS_TENANT_ENSURE,
    PS_TENANT_GET,
    PS_USER_BY_EMAIL,
    PS_USER_BY_ID,
    PS_USER_INSERT,
    PS_USER_LOCK,
    PS_USER_SET_STATUS,
    PS_USER_SET_PASSWORD,
    PS_USER_SET_PASSWORD_CHANGE,
    PS_USER_UPGRADE_PASSWORD,
    PS_USER_LIST_ALL,
    PS_USER_LIST_TENANT,
    PS_SESSION_CREATE,
    PS_SESSION_BY_DIGEST,
    PS_SESSION_BY_ID,
    PS_SESSION_TOUCH,
    PS_SESSION_END,
    PS_SESSION_END_USER,
    PS_SESSION_LIST_USER,
    PS_SESSION_CAP,
    PS_SESSION_PRUNE,
    PS_SESSION_COUNT_LIVE,
    PS_APIKEY_CREATE,
    PS_APIKEY_BY_DIGEST,
    PS_APIKEY_BY_ID,
    PS_APIKEY_LIST_TENANT,
    PS_APIKEY_LIST_CREATOR,
    PS_APIKEY_UPDATE,
    PS_APIKEY_DELETE,
    PS_APIKEY_TOUCH,
    PS_APIKEY_COUNT_CREATOR,
    PS_APIKEY_DEACTIVATE,
    PS_APIKEY_ACTIVATE,
    PS_APIKEY_PRUNE,
    PS_APIKEY_COUNT,
    PS_SKEY_LIST,
    PS_SKEY_INSERT,
    PS_SKEY_DEMOTE,
    PS_SKEY_PROMOTE,
    PS_SKEY_RETIRE,
    PS_TFA_GET,
    PS_TFA_CREATE,
    PS_TFA_ACTIVATE,
    PS_TFA_ACCEPT_STEP,
    PS_TFA_SET_CODES,
    PS_TFA_DELETE,
    PS_TENANT_TFA_GET,
    PS_TENANT_TFA_LOCK,
    PS_TENANT_TFA_SET,
    PS_SESSION_END_TENANT,
    PS_STORE_CHANGES,
    PS_BF_KEY_INSERT,
    PS_BF_KEY_GET,
    PS_BF_COUNT,
    PS_BF_SINCE,
    PS_BF_PRUNE,
    PS_COUNT
};

/* One statement: its name on the server, its SQL, and one letter per parameter ($1 is
 * types[0]): 'i' bigint (binary), 't' text, 'b' bytea (binary). */
typedef struct pg_stmt {
    const char *name;
    const char *sql;
    const char *types;
    const char *what; /* the name its failures are logged under */
} pg_stmt_t;

extern const pg_stmt_t idd_pg_stmts[PS_COUNT];

#define PG_MAX_PARAMS 12

typedef struct pg_store {
    idd_store_t base; /* first, so that an idd_store_t * is a pg_store_t * */
    PGconn *conn;
    int broken;                       /* reset the connection before the next call */
    int in_tx;                        /* inside idd_pg_transaction: never reset meanwhile */
    int unbounded;                    /* migrations: no client-side bound on a query */
    int64_t bound_ms;                 /* the longest wait for a query's answer */
    idd_backoff_t reconnect;          /* when a broken connection may be reset again */
    unsigned char prepared[PS_COUNT]; /* prepared on this connection */
    unsigned listing;                 /* PG_LISTING_* bits: the listings whose visitor runs now */
} pg_store_t;

/* A visitor may use the handle, but not start the listing it is visiting again: that gets
 * IDD_EBUSY, as with SQLite (whose statement would be reset under the outer visit), so that
 * code written against one engine behaves the same on the other. */
enum { PG_LISTING_USERS = 1, PG_LISTING_SESSIONS = 2, PG_LISTING_APIKEYS = 4 };

static inline pg_store_t *to_pg(idd_store_t *s)
{
    return (pg_store_t *)s;
}

/* One value for a statement parameter, by position; pointers must stay valid for the call. */
typedef struct pg_param {
    enum { PGP_INT64, PGP_TEXT, PGP_BYTEA, PGP_NULL } type;
    int64_t num;
    const void *ptr;
    int len; /* bytes of a bytea */
} pg_param_t;

#define PG_INT64(v) ((pg_param_t){.type = PGP_INT64, .num = (v)})
#define PG_TEXT(p) ((pg_param_t){.type = PGP_TEXT, .ptr = (p)})
#define PG_BYTEA(p, n) ((pg_param_t){.type = PGP_BYTEA, .ptr = (p), .len = (n)})
#define PG_NULL ((pg_param_t){.type = PGP_NULL})

/* Runs statement id with params[0..n). 0 with *res the result (PQclear it), or an IDD_E*
 * code with *res NULL: IDD_EEXIST for a unique violation (23505), IDD_ENOTFOUND for a foreign
 * key (23503), IDD_EINVAL for a CHECK or NOT NULL, IDD_EBUSY when the server cannot be
 * reached or the connection broke, IDD_EAGAIN_PG for a serialization failure or a deadlock
 * (the transaction helpers retry it), IDD_ESTORE otherwise (logged, without values). */
#define IDD_EAGAIN_PG (-1000)
int idd_pg_run(pg_store_t *ps, enum pg_stmt_id id, const pg_param_t *params, size_t n,
               PGresult **res);

/* Reads row 0 of a result into a record of the caller's type. */
typedef int (*idd_pg_read_fn)(PGresult *res, int row, void *record);

/* Runs id and reads its first row into out (size bytes) through read: IDD_ENOTFOUND when
 * there is none; any failure leaves out wiped. */
int idd_pg_lookup(pg_store_t *ps, enum pg_stmt_id id, const pg_param_t *params, size_t n,
                  idd_pg_read_fn read, void *out, size_t size);

/* Runs a write; *changes (may be NULL) receives the rows it matched. */
int idd_pg_write(pg_store_t *ps, enum pg_stmt_id id, const pg_param_t *params, size_t n,
                 int *changes);

/* The one integer of a statement answering one row and column (count(*)). */
int idd_pg_query_int(pg_store_t *ps, enum pg_stmt_id id, const pg_param_t *params, size_t n,
                     int64_t *out);

/* Column helpers: copy a text value into a char[size] field (IDD_ESTORE for NULL or one
 * that does not fit); an integer (0 for NULL); a bytea of exactly len bytes (IDD_ESTORE
 * otherwise). */
int idd_pg_copy(PGresult *res, int row, int col, char *dst, size_t size);
int64_t idd_pg_int(PGresult *res, int row, int col);
int idd_pg_bytea(PGresult *res, int row, int col, unsigned char *dst, size_t len);

/* A transaction: body runs between BEGIN and COMMIT at READ COMMITTED (bodies lock the rows
 * they decide on with SELECT ... FOR UPDATE), and the whole is retried a few times on a
 * serialization failure or a deadlock. Any other failure rolls back and is returned. */
typedef int (*idd_pg_body_fn)(pg_store_t *ps, void *arg);
int idd_pg_transaction(pg_store_t *ps, const char *what, idd_pg_body_fn body, void *arg);

#endif
