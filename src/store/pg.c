/*
 * The PostgreSQL engine of the store (include/identityd/store/store.h): the connection, the
 * helpers that run the statement table's statements and map PostgreSQL's errors to IDD_E*
 * codes, transactions, the migrations, and the engine's ops table (pg_stmt.h gives the
 * order of the engine's files).
 *
 * A handle is one connection (libpq, blocking) used by one thread at a time, as SQLite's.
 * The location is handed to libpq as it is (a URI or a key/value string); the password, when
 * there is one, comes from database_password_file through store.c, never from the location.
 * A connection that breaks (the server restarted, the network went away) fails the call it
 * broke under with IDD_EBUSY, and the next call resets it and prepares its statements again.
 * A reset that fails is not tried again before a backoff (core/backoff.h: 100 ms doubling to
 * 5 s): meanwhile every call fails at once with IDD_EBUSY, so that an outage costs a call one
 * fast failure, not one connection attempt.
 *
 * Nothing waits without bound. Unless the location sets them, a connection gets
 * connect_timeout 3 s, TCP keepalives (idle 10 s, then every 5 s, 3 probes) and
 * tcp_user_timeout 15 s (data sent but not acknowledged), and, unless the server's or the
 * location's settings give one, statement_timeout 5 s (a lock wait included); a statement
 * that meets it fails with IDD_EBUSY. Whatever those settings, every query waits here at most
 * QUERY_BOUND_MS, or the connection's statement_timeout and BOUND_MARGIN_MS when that is
 * longer, for its answer (a server that still acknowledges packets but answers nothing:
 * stopped, swapping); past it the connection is dropped as broken. Migrations alone, which
 * run at start and under identityctl, are not bounded.
 */
#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "identityd/core/common.h"
#include "identityd/core/ct.h"
#include "identityd/core/log.h"
#include "identityd/store/store.h"
#include "store/engines.h"
#include "store/migrations.h"
#include "store/pg_ops.h"
#include "store/pg_stmt.h"

/* Attempts of a transaction that meets serialization failures or deadlocks. */
#define TX_ATTEMPTS 4
/* Taken by every migration transaction (pg_advisory_xact_lock): "iddmigr1". */
#define MIGRATION_LOCK "7234316846101915441"

/* The longest wait for a query's answer, whatever the server's settings (see above). */
#define QUERY_BOUND_MS 8000
#define BOUND_MARGIN_MS 3000
/* statement_timeout when neither the server nor the location sets one. */
#define STATEMENT_TIMEOUT "5s"

#define OID_BYTEA 17
#define OID_INT8 20
#define OID_TEXT 25

/* Logs a failed result with PostgreSQL's primary message and SQLSTATE: the primary message
 * names tables and constraints but not values (those are in the detail, never logged). */
static void log_result(PGresult *res, const char *what)
{
    const char *msg = res != NULL ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    idd_log_error("store: %s: %s (SQLSTATE %s)", what, msg != NULL ? msg : "no message",
                  state != NULL ? state : "none");
}

/* The message of a failed connection, first line only. Not limited like the other lines of
 * an outage: each connection tries again only as its backoff allows, so these are few. */
static void log_connection(PGconn *conn, const char *what)
{
    const char *msg = conn != NULL ? PQerrorMessage(conn) : "out of memory";
    size_t n = strcspn(msg, "\n");
    idd_log_warn("store: %s: PostgreSQL connection failed: %.*s", what, (int)n, msg);
}

static int result_error(pg_store_t *ps, PGresult *res, const char *what)
{
    const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

    /* Class 08 is a connection exception, 57P a server shutting down or restarting. */
    if (PQstatus(ps->conn) != CONNECTION_OK || state == NULL || strncmp(state, "08", 2) == 0 ||
        strncmp(state, "57P", 3) == 0) {
        ps->broken = 1;
        log_connection(ps->conn, what);
        return IDD_EBUSY;
    }
    if (strcmp(state, "23505") == 0) {
        idd_log_debug("store: %s: duplicate", what);
        return IDD_EEXIST;
    }
    if (strcmp(state, "23503") == 0) {
        idd_log_debug("store: %s: no such parent row", what);
        return IDD_ENOTFOUND;
    }
    /* A statement cancelled by statement_timeout, or a lock not granted in time: the server
     * is there but could not answer now. */
    if (strcmp(state, "57014") == 0 || strcmp(state, "55P03") == 0) {
        idd_log_warn_limited("store: %s: timed out (SQLSTATE %s)", what, state);
        return IDD_EBUSY;
    }
    if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0) {
        idd_log_debug("store: %s: serialization failure or deadlock, retrying", what);
        return IDD_EAGAIN_PG;
    }
    log_result(res, what);
    if (strcmp(state, "23514") == 0 || strcmp(state, "23502") == 0)
        return IDD_EINVAL;
    return IDD_ESTORE;
}

/* Waits for the answer to the query just sent, at most the handle's bound (none while it is
 * unbounded), and returns its result as PQexec would: the first error, else the last result.
 * NULL when the connection failed or the wait ran out; the handle is then broken. */
static PGresult *await_result(pg_store_t *ps, const char *what)
{
    PGconn *c = ps->conn;
    const int64_t deadline = idd_monotonic_ms() + ps->bound_ms;
    PGresult *keep = NULL;

    for (;;) {
        while (!ps->unbounded && PQisBusy(c)) {
            int64_t left = deadline - idd_monotonic_ms();
            if (left <= 0) {
                idd_log_warn_limited(
                    "store: %s: no answer from PostgreSQL within %d ms; dropping the "
                    "connection",
                    what, (int)ps->bound_ms);
                PQclear(keep);
                ps->broken = 1;
                return NULL;
            }
            struct pollfd p = {.fd = PQsocket(c), .events = POLLIN};
            int n = p.fd < 0 ? -1 : poll(&p, 1, (int)left);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 || (n > 0 && !PQconsumeInput(c)) || PQstatus(c) != CONNECTION_OK) {
                PQclear(keep);
                ps->broken = 1; /* the caller's result_error logs why */
                return NULL;
            }
        }
        PGresult *r = PQgetResult(c);
        if (r == NULL)
            return keep;
        ExecStatusType st = PQresultStatus(keep);
        if (keep != NULL && st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
            PQclear(r); /* the first error is the one to report */
            continue;
        }
        PQclear(keep);
        keep = r;
    }
}

/* Unless the server (postgresql.conf, the role or the database) or the location (options=
 * -c statement_timeout=..., 0 included) sets a statement_timeout, sets STATEMENT_TIMEOUT for
 * the session. */
static int session_setup(pg_store_t *ps)
{
    PGresult *res = NULL;
    int rc = 0;
    ps->bound_ms = QUERY_BOUND_MS;
    if (PQsendQuery(ps->conn, "SELECT set_config('statement_timeout', '" STATEMENT_TIMEOUT
                              "', false) FROM pg_settings WHERE name = 'statement_timeout' "
                              "AND source = 'default'; "
                              "SELECT setting FROM pg_settings WHERE name = 'statement_timeout'"))
        res = await_result(ps, "connection setup");
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        rc = result_error(ps, res, "connection setup");
    } else {
        /* The setting is in milliseconds; a longer one than the bound lengthens it. */
        int64_t ms = idd_pg_int(res, 0, 0);
        if (ms > 0 && ms < INT64_MAX / 2 && ms + BOUND_MARGIN_MS > ps->bound_ms)
            ps->bound_ms = ms + BOUND_MARGIN_MS;
    }
    PQclear(res);
    return rc;
}

/* Makes sure the connection is usable: after a failure, resets it (the server forgot every
 * prepared statement, so they are prepared again), unless the backoff of a failed reset
 * still runs (then IDD_EBUSY at once) or a transaction is open (a new connection would run
 * the rest of its statements outside of it). */
static int ensure(pg_store_t *ps, const char *what)
{
    if (!ps->broken && PQstatus(ps->conn) == CONNECTION_OK)
        return 0;
    int64_t now = idd_monotonic_ms();
    if (ps->in_tx || !idd_backoff_ready(&ps->reconnect, now))
        return IDD_EBUSY;
    memset(ps->prepared, 0, sizeof ps->prepared);
    PQreset(ps->conn);
    if (PQstatus(ps->conn) != CONNECTION_OK || session_setup(ps) != 0) {
        ps->broken = 1;
        log_connection(ps->conn, what);
        int64_t wait = idd_backoff_failed(&ps->reconnect, idd_monotonic_ms(),
                                          (uint32_t)(uintptr_t)ps ^ (uint32_t)now);
        idd_log_info("store: the next attempt to reach PostgreSQL in %lld ms", (long long)wait);
        return IDD_EBUSY;
    }
    ps->broken = 0;
    idd_backoff_reset(&ps->reconnect);
    idd_log_info("store: reconnected to PostgreSQL");
    return 0;
}

static int prepare(pg_store_t *ps, enum pg_stmt_id id, size_t n)
{
    const pg_stmt_t *st = &idd_pg_stmts[id];
    Oid types[PG_MAX_PARAMS];

    for (size_t i = 0; i < n; i++)
        types[i] = st->types[i] == 'i' ? OID_INT8 : st->types[i] == 'b' ? OID_BYTEA : OID_TEXT;
    PGresult *res = PQsendPrepare(ps->conn, st->name, st->sql, (int)n, types)
                        ? await_result(ps, st->what)
                        : NULL;
    int rc = 0;
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        rc = result_error(ps, res, st->what);
    PQclear(res);
    if (rc == 0)
        ps->prepared[id] = 1;
    return rc;
}

int idd_pg_run(pg_store_t *ps, enum pg_stmt_id id, const pg_param_t *params, size_t n,
               PGresult **res)
{
    const pg_stmt_t *st = &idd_pg_stmts[id];
    const char *values[PG_MAX_PARAMS];
    int lengths[PG_MAX_PARAMS];
    int formats[PG_MAX_PARAMS];
    uint64_t ints[PG_MAX_PARAMS];
    int rc;

    *res = NULL;
    if (n > PG_MAX_PARAMS || strlen(st->types) != n) {
        idd_log_error("store: %s: %zu parameters for %s", st->what, n, st->types);
        return IDD_ESTORE;
    }
    rc = ensure(ps, st->what);
    if (rc == 0 && !ps->prepared[id])
        rc = prepare(ps, id, n);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        const pg_param_t *p = &params[i];
        lengths[i] = 0;
        formats[i] = 0;
        switch (p->type) {
        case PGP_INT64:
            ints[i] = htobe64((uint64_t)p->num);
            values[i] = (const char *)&ints[i];
            lengths[i] = 8;
            formats[i] = 1;
            break;
        case PGP_BYTEA:
            values[i] = p->ptr;
            lengths[i] = p->len;
            formats[i] = 1;
            break;
        case PGP_TEXT:
            values[i] = p->ptr;
            break;
        default:
            values[i] = NULL;
            break;
        }
    }
    PGresult *r = PQsendQueryPrepared(ps->conn, st->name, (int)n, values, lengths, formats, 0)
                      ? await_result(ps, st->what)
                      : NULL;
    ExecStatusType status = PQresultStatus(r);
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
        *res = r;
        return 0;
    }
    rc = result_error(ps, r, st->what);
    PQclear(r);
    return rc;
}

int idd_pg_lookup(pg_store_t *ps, enum pg_stmt_id id, const pg_param_t *params, size_t n,
                  idd_pg_read_fn read, void *out, size_t size)
{
    PGresult *res = NULL;
    int rc = idd_pg_run(ps, id, params, n, &res);

    if (rc == 0)
        rc = PQntuples(res) > 0 ? read(res, 0, out) : IDD_ENOTFOUND;
    PQclear(res);
    if (rc != 0)
        idd_wipe(out, size);
    return rc;
}

int idd_pg_write(pg_store_t *ps, enum pg_stmt_id id, const pg_param_t *params, size_t n,
                 int *changes)
{
    PGresult *res = NULL;
    int rc = idd_pg_run(ps, id, params, n, &res);

    if (changes != NULL)
        *changes = rc == 0 ? (int)strtol(PQcmdTuples(res), NULL, 10) : 0; /* "" for none */
    PQclear(res);
    return rc;
}

static int read_int(PGresult *res, int row, void *record)
{
    *(int64_t *)record = idd_pg_int(res, row, 0);
    return 0;
}

int idd_pg_query_int(pg_store_t *ps, enum pg_stmt_id id, const pg_param_t *params, size_t n,
                     int64_t *out)
{
    int rc = idd_pg_lookup(ps, id, params, n, read_int, out, sizeof *out);
    if (rc == IDD_ENOTFOUND) {
        idd_log_error("store: %s: no row", idd_pg_stmts[id].what);
        rc = IDD_ESTORE;
    }
    return rc;
}

int idd_pg_copy(PGresult *res, int row, int col, char *dst, size_t size)
{
    if (PQgetisnull(res, row, col)) {
        idd_log_error("store: column %s is NULL", PQfname(res, col));
        return IDD_ESTORE;
    }
    size_t n = (size_t)PQgetlength(res, row, col);
    if (n >= size) {
        idd_log_error("store: column %s holds %zu bytes, more than its field", PQfname(res, col),
                      n);
        return IDD_ESTORE;
    }
    memcpy(dst, PQgetvalue(res, row, col), n);
    dst[n] = '\0';
    return 0;
}

int64_t idd_pg_int(PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col))
        return 0;
    return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* A bytea in text results is "\x" and two hex digits a byte (bytea_output = hex, the
 * default since PostgreSQL 9.0). */
int idd_pg_bytea(PGresult *res, int row, int col, unsigned char *dst, size_t len)
{
    const char *v = PQgetvalue(res, row, col);
    if (PQgetisnull(res, row, col) || (size_t)PQgetlength(res, row, col) != 2 + 2 * len ||
        v[0] != '\\' || v[1] != 'x')
        goto bad;
    for (size_t i = 0; i < len; i++) {
        int hi = hex_value(v[2 + 2 * i]), lo = hex_value(v[3 + 2 * i]);
        if (hi < 0 || lo < 0)
            goto bad;
        dst[i] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
bad:
    idd_log_error("store: column %s is not a %zu-byte value", PQfname(res, col), len);
    return IDD_ESTORE;
}

/* Runs SQL outside the statement table (transaction control, migrations); *res (may be
 * NULL) receives the result of a query. */
static int simple(pg_store_t *ps, const char *sql, const char *what, PGresult **res)
{
    if (res != NULL)
        *res = NULL;
    PGresult *r = PQsendQuery(ps->conn, sql) ? await_result(ps, what) : NULL;
    ExecStatusType status = PQresultStatus(r);
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
        if (res != NULL)
            *res = r;
        else
            PQclear(r);
        return 0;
    }
    int rc = result_error(ps, r, what);
    PQclear(r);
    return rc;
}

static void rollback(pg_store_t *ps)
{
    PGTransactionStatusType t = PQtransactionStatus(ps->conn);
    if ((t == PQTRANS_INTRANS || t == PQTRANS_INERROR) && PQsendQuery(ps->conn, "ROLLBACK"))
        PQclear(await_result(ps, "rollback"));
}

int idd_pg_transaction(pg_store_t *ps, const char *what, idd_pg_body_fn body, void *arg)
{
    for (int attempt = 1;; attempt++) {
        int rc = ensure(ps, what);
        if (rc == 0)
            rc = simple(ps, "BEGIN", what, NULL);
        if (rc == 0) {
            ps->in_tx = 1;
            rc = body(ps, arg);
            if (rc == 0)
                rc = simple(ps, "COMMIT", what, NULL);
            ps->in_tx = 0;
        }
        if (rc != 0 && !ps->broken)
            rollback(ps);
        if (rc != IDD_EAGAIN_PG)
            return rc;
        if (attempt == TX_ATTEMPTS) {
            idd_log_warn("store: %s: still conflicting after %d attempts", what, attempt);
            return IDD_EBUSY;
        }
    }
}

/* ---- migrations ------------------------------------------------------------------------ */

/* The applied version is kept in a one-row table that the migration transaction makes (the
 * counterpart of SQLite's PRAGMA user_version); a database without it is version 0. */
static int read_version(pg_store_t *ps, int *version)
{
    PGresult *res = NULL;
    int rc = simple(ps, "SELECT to_regclass('idd_schema') IS NOT NULL", "schema_version", &res);
    int exists = rc == 0 && PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;

    PQclear(res);
    *version = 0;
    if (rc != 0 || !exists)
        return rc;
    rc = simple(ps, "SELECT version FROM idd_schema WHERE id = 1", "schema_version", &res);
    if (rc == 0 && PQntuples(res) == 1)
        *version = (int)idd_pg_int(res, 0, 0);
    PQclear(res);
    return rc;
}

static int pg_schema_version(idd_store_t *s, int *version)
{
    pg_store_t *ps = to_pg(s);
    int rc = ensure(ps, "schema_version");
    return rc != 0 ? rc : read_version(ps, version);
}

/* Every number once, ascending, the last the program's latest (the SQLite migrations'). */
static int migrations_match(int latest)
{
    for (size_t i = 0; i < idd_pg_migrations_count; i++) {
        if (idd_pg_migrations[i].number <= 0 ||
            (i > 0 && idd_pg_migrations[i].number <= idd_pg_migrations[i - 1].number)) {
            idd_log_error("store: migration pg/%s is out of order", idd_pg_migrations[i].name);
            return 0;
        }
    }
    if (idd_pg_migrations_count == 0 ||
        idd_pg_migrations[idd_pg_migrations_count - 1].number != latest) {
        idd_log_error("store: the PostgreSQL migrations do not reach version %d", latest);
        return 0;
    }
    return 1;
}

typedef struct migrate_step {
    int latest, before, after;
} migrate_step_t;

/* One transaction: the lock, then the version read under it, then the next migration. Of two
 * instances starting together the second waits on the lock and then finds the work done. */
static int migrate_body(pg_store_t *ps, void *arg)
{
    migrate_step_t *m = arg;
    const idd_migration_t *next = NULL;
    char sql[96];
    /* A migration may take long, or wait long for another instance's: no statement_timeout
     * (the handle is unbounded meanwhile too, pg_migrate). */
    int rc = simple(ps, "SET LOCAL statement_timeout = 0", "migration", NULL);
    if (rc == 0)
        rc = simple(ps, "SELECT pg_advisory_xact_lock(" MIGRATION_LOCK ")", "migration lock", NULL);

    if (rc == 0)
        rc = simple(ps,
                    "CREATE TABLE IF NOT EXISTS idd_schema (id INTEGER PRIMARY KEY CHECK (id = 1), "
                    "version INTEGER NOT NULL)",
                    "migration", NULL);
    if (rc == 0)
        rc = simple(ps, "INSERT INTO idd_schema (id, version) VALUES (1, 0) ON CONFLICT DO NOTHING",
                    "migration", NULL);
    if (rc == 0)
        rc = read_version(ps, &m->before);
    if (rc != 0)
        return rc;
    m->after = m->before;
    if (m->before > m->latest) {
        idd_log_error("store: the database schema is version %d, newer than this program's %d; "
                      "upgrade identityd",
                      m->before, m->latest);
        return IDD_ESCHEMA;
    }
    for (size_t i = 0; i < idd_pg_migrations_count && next == NULL; i++)
        if (idd_pg_migrations[i].number > m->before)
            next = &idd_pg_migrations[i];
    if (next == NULL)
        return 0;
    rc = simple(ps, next->sql, next->name, NULL);
    if (rc != 0)
        return rc;
    if (PQtransactionStatus(ps->conn) != PQTRANS_INTRANS) {
        idd_log_error("store: migration pg/%s must not begin or end transactions", next->name);
        return IDD_ESTORE;
    }
    snprintf(sql, sizeof sql, "UPDATE idd_schema SET version = %d WHERE id = 1", next->number);
    rc = simple(ps, sql, "migration", NULL);
    if (rc == 0)
        m->after = next->number;
    return rc;
}

static int pg_migrate(idd_store_t *s, int *from, int *to)
{
    pg_store_t *ps = to_pg(s);
    migrate_step_t m = {.latest = idd_store_latest_version()};
    int first = -1;
    int rc;

    if (!migrations_match(m.latest))
        return IDD_ESTORE;
    do {
        ps->unbounded = 1;
        rc = idd_pg_transaction(ps, "migration", migrate_body, &m);
        ps->unbounded = 0;
        if (rc != 0)
            return rc;
        if (first < 0)
            first = m.before;
        if (m.after != m.before)
            idd_log_info("store: applied PostgreSQL migration %d", m.after);
    } while (m.after != m.before);
    if (from != NULL)
        *from = first;
    if (to != NULL)
        *to = m.after;
    return 0;
}

/* Commits here cost no loop a wait (they run on the store pool), and the server decides
 * their durability: nothing to change. */
static int pg_set_lazy(idd_store_t *s, int lazy)
{
    (void)s;
    (void)lazy;
    return 0;
}

/* ---- the handle ------------------------------------------------------------------------ */

static void pg_close(idd_store_t *s)
{
    pg_store_t *ps = to_pg(s);
    if (ps->conn != NULL)
        PQfinish(ps->conn);
    free(ps);
}

static const idd_store_ops_t pg_ops = {
    .close = pg_close,
    .migrate = pg_migrate,
    .schema_version = pg_schema_version,
    .tenant_ensure = idd_pg_tenant_ensure,
    .tenant_get = idd_pg_tenant_get,
    .user_by_email = idd_pg_user_by_email,
    .user_by_id = idd_pg_user_by_id,
    .user_insert = idd_pg_user_insert,
    .user_set_status = idd_pg_user_set_status,
    .user_set_password = idd_pg_user_set_password,
    .user_list = idd_pg_user_list,
    .user_set_password_change = idd_pg_user_set_password_change,
    .user_upgrade_password = idd_pg_user_upgrade_password,
    .session_create = idd_pg_session_create,
    .session_by_digest = idd_pg_session_by_digest,
    .session_by_id = idd_pg_session_by_id,
    .session_touch = idd_pg_session_touch,
    .session_end = idd_pg_session_end,
    .session_end_user = idd_pg_session_end_user,
    .session_list_user = idd_pg_session_list_user,
    .session_prune = idd_pg_session_prune,
    .apikey_create = idd_pg_apikey_create,
    .apikey_by_digest = idd_pg_apikey_by_digest,
    .apikey_by_id = idd_pg_apikey_by_id,
    .apikey_list = idd_pg_apikey_list,
    .apikey_update = idd_pg_apikey_update,
    .apikey_set_active = idd_pg_apikey_set_active,
    .apikey_prune = idd_pg_apikey_prune,
    .counts = idd_pg_counts,
    .changes = idd_pg_changes,
    .apikey_delete = idd_pg_apikey_delete,
    .apikey_touch = idd_pg_apikey_touch,
    .signing_key_list = idd_pg_signing_key_list,
    .signing_key_insert = idd_pg_signing_key_insert,
    .signing_key_activate = idd_pg_signing_key_activate,
    .signing_key_retire = idd_pg_signing_key_retire,
    .tfa_get = idd_pg_tfa_get,
    .tfa_create = idd_pg_tfa_create,
    .tfa_activate = idd_pg_tfa_activate,
    .tfa_accept_step = idd_pg_tfa_accept_step,
    .tfa_set_codes = idd_pg_tfa_set_codes,
    .tfa_delete = idd_pg_tfa_delete,
    .tenant_tfa_get = idd_pg_tenant_tfa_get,
    .tenant_tfa_set = idd_pg_tenant_tfa_set,
    .bruteforce_key = idd_pg_bruteforce_key,
    .bruteforce_count = idd_pg_bruteforce_count,
    .bruteforce_since = idd_pg_bruteforce_since,
    .bruteforce_prune = idd_pg_bruteforce_prune,
    .set_lazy = pg_set_lazy,
};

/* Server notices ("relation ... already exists, skipping") are not failures: debug only. */
static void notice(void *arg, const char *message)
{
    (void)arg;
    idd_log_debug("store: PostgreSQL: %.*s", (int)strcspn(message, "\n"), message);
}

/* The keywords before dbname are defaults the location may override (libpq lets later
 * keywords win, and dbname expands the location in place): bounded waits (see the top of
 * this file), then the password last, so that nothing in the location replaces it. */
int idd_store_pg_open(const char *conninfo, const char *password, idd_store_t **out)
{
    const char *const keys[] = {"connect_timeout",
                                "keepalives",
                                "keepalives_idle",
                                "keepalives_interval",
                                "keepalives_count",
                                "tcp_user_timeout",
                                "application_name",
                                "client_encoding",
                                "dbname",
                                "password",
                                NULL};
    const char *const values[] = {"3",         "1",    "10",     "5",      "3", "15000",
                                  "identityd", "UTF8", conninfo, password, NULL};
    pg_store_t *ps;

    *out = NULL;
    if (conninfo == NULL || conninfo[0] == '\0')
        return IDD_EINVAL;
    ps = idd_xcalloc(1, sizeof *ps);
    ps->base.ops = &pg_ops;
    ps->conn = PQconnectdbParams(keys, values, 1);
    if (ps->conn == NULL || PQstatus(ps->conn) != CONNECTION_OK) {
        log_connection(ps->conn, "open");
        pg_close(&ps->base);
        return IDD_ESTORE;
    }
    PQsetNoticeProcessor(ps->conn, notice, NULL);
    if (session_setup(ps) != 0) {
        pg_close(&ps->base);
        return IDD_ESTORE;
    }
    *out = &ps->base;
    return 0;
}
