/*
 * Moving a deployment from SQLite to PostgreSQL (include/identityd/store/copy.h): a tool's
 * one-off job, so it reads the source file with its own read-only SQLite connection in one
 * read transaction (one snapshot, even while identityd writes the file), and writes the
 * target through the PostgreSQL engine's connection, after the engine's migrations, in one
 * transaction that holds every copied table locked against other writers.
 *
 * The tables below are the schema's (migrations/, migrations/pg/) column for column; the
 * copy first checks that the source has exactly these tables and columns, so a migration
 * that adds one without teaching this file fails the copy instead of losing data. Values go
 * over as they are typed in the schema: integers as binary int8 (int4 for PostgreSQL's
 * INTEGER columns, range-checked), text as text (well-formed UTF-8 without NUL, which
 * PostgreSQL requires), bytes as bytea; anything else is an error naming the table, the row
 * (its key) and the column, never the value, which may be a secret.
 */
#include <endian.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "identityd/core/common.h"
#include "identityd/core/utf8.h"
#include "identityd/store/copy.h"
#include "identityd/store/store.h"
#include "store/pg_stmt.h"

#define MAX_COLS 13
#define OID_BYTEA 17
#define OID_INT8 20
#define OID_INT4 23
#define OID_TEXT 25

/* A column: 'i' an integer (BIGINT), 'n' an integer PostgreSQL keeps as INTEGER, 't' text,
 * 'b' bytes; in capitals when NULL is allowed. */
typedef struct col {
    const char *name;
    char type;
} col_t;

/* A table: its first column is the key that names a row in messages; serial, the identity
 * column whose sequence must move past the copied ids (NULL: none). */
typedef struct table {
    const char *name;
    const char *serial;
    col_t cols[MAX_COLS + 1];
} table_t;

/* Parents before children, so every foreign key finds its row. */
static const table_t tables[] = {
    {"tenants", NULL, {{"id", 'i'}, {"name", 't'}, {"password_salt", 't'}, {"created", 'i'}}},
    {"users",
     NULL,
     {{"id", 't'},
      {"tenant_id", 'i'},
      {"email", 't'},
      {"first_name", 't'},
      {"last_name", 't'},
      {"role", 't'},
      {"status", 't'},
      {"password", 't'},
      {"auth_version", 'i'},
      {"created", 'i'},
      {"updated", 'i'},
      {"password_change_required", 'n'}}},
    {"login_events",
     "id",
     {{"id", 'i'},
      {"tenant_id", 'i'},
      {"user_id", 't'},
      {"token_digest", 'b'},
      {"created", 'i'},
      {"expires", 'i'},
      {"last_seen", 'i'},
      {"ip", 't'},
      {"user_agent", 't'},
      {"active", 'n'},
      {"browser_session", 'n'},
      {"auth_version", 'i'}}},
    {"api_keys",
     NULL,
     {{"id", 't'},
      {"tenant_id", 'i'},
      {"create_by", 't'},
      {"name", 't'},
      {"key_digest", 'b'},
      {"key_postfix", 't'},
      {"permissions", 't'},
      {"create_on", 'i'},
      {"expires_at", 'I'},
      {"last_used", 'I'},
      {"is_active", 'n'},
      {"deactivated", 'n'},
      {"deactivated_by", 'T'}}},
    {"signing_keys",
     NULL,
     {{"kid", 't'},
      {"alg", 't'},
      {"state", 't'},
      {"created", 'i'},
      {"activate_at", 'i'},
      {"activated", 'i'},
      {"retire_at", 'i'}}},
    {"user_tfa",
     NULL,
     {{"user_id", 't'},
      {"secret", 'T'},
      {"salt", 'I'},
      {"codes", 'T'},
      {"last_step", 'i'},
      {"created", 'i'},
      {"updated", 'i'}}},
    {"tenant_tfa",
     NULL,
     {{"tenant_id", 'i'},
      {"enabled", 'n'},
      {"trusted_ips", 't'},
      {"mandatory_users", 't'},
      {"updated", 'i'}}},
};

/* The source's tables that are not copied: the credential caches' change counter (the
 * target has its own), the brute-force counters of failed sign-ins (live for minutes, and
 * named under a key the target draws for itself) with that key, and SQLite's own
 * bookkeeping (sqlite_sequence is read for the session ids). */
static const char *const skipped[] = {"store_changes",   "bruteforce_counters", "bruteforce_key",
                                      "sqlite_sequence", "sqlite_stat1",        "sqlite_stat4"};

typedef struct copy {
    sqlite3 *src;
    PGconn *dst;
    char *err;
    size_t errlen;
} copy_t;

static int fail(copy_t *c, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(copy_t *c, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, c->errlen, fmt, ap);
    va_end(ap);
    return rc;
}

static size_t n_cols(const table_t *t)
{
    size_t n = 0;
    while (n < MAX_COLS && t->cols[n].name != NULL)
        n++;
    return n;
}

/* ---- the source ------------------------------------------------------------------------ */

static int src_fail(copy_t *c, const char *what)
{
    return fail(c, IDD_ESTORE, "reading the source (%s): %s", what, sqlite3_errmsg(c->src));
}

static int src_int(copy_t *c, const char *sql, const char *arg, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(c->src, sql, -1, &st, NULL);
    if (rc == SQLITE_OK && arg != NULL)
        rc = sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    *out = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : src_fail(c, sql);
}

static const table_t *table_named(const char *name)
{
    for (size_t i = 0; i < IDD_ARRAY_LEN(tables); i++)
        if (strcmp(tables[i].name, name) == 0)
            return &tables[i];
    return NULL;
}

/* The source's tables and columns are exactly the ones this file knows, or are skipped. */
static int check_source_schema(copy_t *c)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(c->src,
                                "SELECT m.name, p.name FROM sqlite_schema AS m, "
                                "pragma_table_info(m.name) AS p WHERE m.type = 'table'",
                                -1, &st, NULL);
    size_t seen[IDD_ARRAY_LEN(tables)] = {0};

    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        const char *column = (const char *)sqlite3_column_text(st, 1);
        const table_t *t = name != NULL ? table_named(name) : NULL;
        bool skip = false, known = false;
        for (size_t i = 0; name != NULL && i < IDD_ARRAY_LEN(skipped); i++)
            skip = skip || strcmp(skipped[i], name) == 0;
        if (skip) {
            rc = SQLITE_OK;
            continue;
        }
        for (size_t i = 0; t != NULL && column != NULL && i < n_cols(t); i++)
            known = known || strcmp(t->cols[i].name, column) == 0;
        if (!known) {
            int out = fail(c, IDD_ESCHEMA,
                           "the source has %s %s.%s, which this identityctl does not copy: "
                           "use the identityctl of the identityd that made it",
                           t == NULL ? "a table" : "a column", name != NULL ? name : "?",
                           column != NULL ? column : "?");
            sqlite3_finalize(st);
            return out;
        }
        seen[t - tables]++;
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return src_fail(c, "its schema");
    for (size_t i = 0; i < IDD_ARRAY_LEN(tables); i++)
        if (seen[i] != n_cols(&tables[i]))
            return fail(c, IDD_ESCHEMA, "the source's table %s lacks columns of this schema",
                        tables[i].name);
    return 0;
}

static int open_source(copy_t *c, const char *source)
{
    const char *path = idd_store_file(source);
    int64_t version = 0;
    int latest = idd_store_latest_version();
    int rc;

    if (path == NULL)
        return fail(c, IDD_EINVAL, "--from must be an SQLite file (sqlite:PATH or a path)");
    /* Opened read-only, so a mistyped path is not created as an empty database. */
    if (access(path, F_OK) != 0)
        return fail(c, IDD_ENOTFOUND, "source %s: %s", path, strerror(errno));
    if (sqlite3_open_v2(path, &c->src, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK)
        return fail(c, IDD_ESTORE, "cannot open source %s: %s", path,
                    c->src != NULL ? sqlite3_errmsg(c->src) : "out of memory");
    sqlite3_busy_timeout(c->src, 5000);
    /* As the engine's own connections: the file's schema is data, its triggers, views and
     * CHECKs call nothing that is not innocuous. */
    sqlite3_db_config(c->src, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL);
    sqlite3_db_config(c->src, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, (int *)NULL);
    /* One read transaction for everything below: the rows and their counts are one
     * snapshot, whatever identityd writes meanwhile. */
    if (sqlite3_exec(c->src, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        return src_fail(c, "begin");
    rc = src_int(c, "PRAGMA user_version", NULL, &version);
    if (rc != 0)
        return rc;
    if (version != latest)
        return fail(c, IDD_ESCHEMA,
                    "source %s is at schema version %lld, this identityctl copies version %d: %s",
                    path, (long long)version, latest,
                    version < latest ? "run 'identityctl migrate' on it first (with database: "
                                       "naming it); the copy never changes its source"
                                     : "use a newer identityctl");
    return check_source_schema(c);
}

/* ---- the target ------------------------------------------------------------------------ */

static int dst_fail(copy_t *c, PGresult *res, const char *what)
{
    const char *msg = res != NULL ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    /* The primary message names tables and constraints, not values (those are in the
     * detail, which is left out). */
    if (msg == NULL) {
        msg = PQerrorMessage(c->dst);
        return fail(c, IDD_ESTORE, "%s: %.*s", what, (int)strcspn(msg, "\n"), msg);
    }
    return fail(c, IDD_ESTORE, "%s: %s (SQLSTATE %s)", what, msg, state != NULL ? state : "none");
}

/* Runs sql (with text parameters) on the target; *out, when not NULL, receives the first
 * column of the first row as an integer. */
static int dst_exec(copy_t *c, const char *sql, int n, const char *const *params, int64_t *out)
{
    PGresult *res = PQexecParams(c->dst, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType status = PQresultStatus(res);
    int rc = 0;

    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
        rc = dst_fail(c, res, sql);
    else if (out != NULL)
        *out = PQntuples(res) > 0 && !PQgetisnull(res, 0, 0)
                   ? strtoll(PQgetvalue(res, 0, 0), NULL, 10)
                   : 0;
    PQclear(res);
    return rc;
}

/* The target must hold no data: tenant rows alone are allowed (a migrate or a first start
 * of identityd makes the configured tenants, with salts of their own) and are replaced by
 * the source's, whose salts the copied passwords depend on. */
static int check_target_empty(copy_t *c)
{
    char sql[128];
    int64_t n = 0;
    for (size_t i = 1; i < IDD_ARRAY_LEN(tables); i++) { /* every table but tenants, the first */
        snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", tables[i].name);
        int rc = dst_exec(c, sql, 0, NULL, &n);
        if (rc != 0)
            return rc;
        if (n > 0)
            return fail(c, IDD_EEXIST,
                        "the target is not empty (%lld rows in %s): copy into a new database",
                        (long long)n, tables[i].name);
    }
    return dst_exec(c, "DELETE FROM tenants", 0, NULL, NULL);
}

/* ---- the rows -------------------------------------------------------------------------- */

/* The row's key for a message: an id, a GUID or a kid, shown as printable ASCII. */
static void row_name(sqlite3_stmt *st, char *out, size_t size)
{
    if (sqlite3_column_type(st, 0) == SQLITE_INTEGER) {
        snprintf(out, size, "%lld", (long long)sqlite3_column_int64(st, 0));
        return;
    }
    const unsigned char *text = sqlite3_column_text(st, 0);
    size_t n = 0;
    for (; text != NULL && text[n] != '\0' && n + 1 < size && n < 64; n++)
        out[n] = (char)(text[n] >= 0x20 && text[n] < 0x7f ? text[n] : '?');
    out[n] = '\0';
}

static bool utf8_ok(const char *s, size_t len)
{
    uint32_t cp;
    for (size_t i = 0; i < len;) {
        size_t n = idd_utf8_decode(s + i, len - i, &cp);
        if (n == 0 || cp == 0)
            return false;
        i += n;
    }
    return true;
}

typedef struct row {
    const char *values[MAX_COLS];
    int lengths[MAX_COLS], formats[MAX_COLS];
    uint64_t ints[MAX_COLS];
} row_t;

/* Fills r with column i of the current row; NULL, or why the value does not convert. */
static const char *convert(sqlite3_stmt *st, int i, const col_t *col, row_t *r)
{
    int type = sqlite3_column_type(st, i);
    char want = (char)(col->type >= 'A' && col->type <= 'Z' ? col->type - 'A' + 'a' : col->type);
    r->values[i] = NULL;
    r->lengths[i] = 0;
    r->formats[i] = 1;
    if (type == SQLITE_NULL)
        return want != col->type ? NULL : "is NULL";
    switch (want) {
    case 'i':
    case 'n': {
        if (type != SQLITE_INTEGER)
            return "is not an integer";
        int64_t v = sqlite3_column_int64(st, i);
        if (want == 'n') {
            if (v < INT32_MIN || v > INT32_MAX)
                return "does not fit PostgreSQL's INTEGER";
            uint32_t be = htobe32((uint32_t)(int32_t)v);
            memcpy(&r->ints[i], &be, sizeof be);
            r->lengths[i] = 4;
        } else {
            r->ints[i] = htobe64((uint64_t)v);
            r->lengths[i] = 8;
        }
        r->values[i] = (const char *)&r->ints[i];
        return NULL;
    }
    case 't': {
        if (type != SQLITE_TEXT)
            return "is not text";
        const char *text = (const char *)sqlite3_column_text(st, i);
        int len = sqlite3_column_bytes(st, i);
        if (text == NULL || !utf8_ok(text, (size_t)len))
            return "is not UTF-8 text without NUL bytes";
        r->values[i] = text;
        r->formats[i] = 0;
        return NULL;
    }
    default:
        if (type != SQLITE_BLOB)
            return "is not bytes";
        r->values[i] = sqlite3_column_blob(st, i);
        r->lengths[i] = sqlite3_column_bytes(st, i);
        if (r->values[i] == NULL) /* an empty blob */
            r->values[i] = "";
        return NULL;
    }
}

static int copy_rows(copy_t *c, const table_t *t)
{
    size_t n = n_cols(t);
    char cols[480], select[640], insert[768], params[160], name[80];
    Oid types[MAX_COLS];
    size_t cl = 0, pl = 0;
    sqlite3_stmt *st = NULL;
    row_t r;
    int rc;

    for (size_t i = 0; i < n; i++) {
        const char *sep = i > 0 ? ", " : "";
        cl += (size_t)snprintf(cols + cl, sizeof cols - cl, "%s%s", sep, t->cols[i].name);
        pl += (size_t)snprintf(params + pl, sizeof params - pl, "%s$%zu", sep, i + 1);
        char type = t->cols[i].type;
        types[i] = type == 'i' || type == 'I' ? OID_INT8
                   : type == 'n'              ? OID_INT4
                   : type == 'b'              ? OID_BYTEA
                                              : OID_TEXT;
    }
    snprintf(select, sizeof select, "SELECT %s FROM %s ORDER BY 1", cols, t->name);
    snprintf(insert, sizeof insert, "INSERT INTO %s (%s) VALUES (%s)", t->name, cols, params);

    PGresult *res = PQprepare(c->dst, "", insert, (int)n, types);
    rc = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : dst_fail(c, res, insert);
    PQclear(res);
    if (rc != 0)
        return rc;
    if (sqlite3_prepare_v2(c->src, select, -1, &st, NULL) != SQLITE_OK)
        return src_fail(c, t->name);
    int step = SQLITE_DONE;
    while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
        for (size_t i = 0; rc == 0 && i < n; i++) {
            const char *why = convert(st, (int)i, &t->cols[i], &r);
            if (why != NULL) {
                row_name(st, name, sizeof name);
                rc = fail(c, IDD_ESTORE, "%s row %s: column %s %s", t->name, name, t->cols[i].name,
                          why);
            }
        }
        if (rc != 0)
            break;
        res = PQexecPrepared(c->dst, "", (int)n, r.values, r.lengths, r.formats, 0);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            char what[160];
            row_name(st, name, sizeof name);
            snprintf(what, sizeof what, "%s row %s: the target refused it", t->name, name);
            rc = dst_fail(c, res, what);
        }
        PQclear(res);
    }
    if (rc == 0 && step != SQLITE_DONE)
        rc = src_fail(c, t->name);
    sqlite3_finalize(st);
    return rc;
}

/* An identity column's sequence continues past every id the source handed out: its largest
 * row, or AUTOINCREMENT's record of ids already used by rows since deleted. */
static int move_sequence(copy_t *c, const table_t *t)
{
    char sql[128], value[24];
    int64_t top = 0, used = 0;
    snprintf(sql, sizeof sql, "SELECT max(%s) FROM %s", t->serial, t->name);
    int rc = src_int(c, sql, NULL, &top);
    if (rc == 0)
        rc = src_int(c, "SELECT seq FROM sqlite_sequence WHERE name = ?1", t->name, &used);
    if (rc != 0 || (top < 1 && used < 1))
        return rc;
    snprintf(value, sizeof value, "%lld", (long long)(used > top ? used : top));
    const char *params[] = {t->name, t->serial, value};
    return dst_exec(c, "SELECT setval(pg_get_serial_sequence($1, $2), $3::bigint)", 3, params,
                    NULL);
}

/* Counts each table on both sides, reports every pair, then fails on any difference. */
static int verify(copy_t *c, idd_store_copy_count_fn count, void *arg)
{
    char sql[128];
    const char *differs = NULL;
    for (size_t i = 0; i < IDD_ARRAY_LEN(tables); i++) {
        int64_t a = 0, b = 0;
        snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", tables[i].name);
        int rc = src_int(c, sql, NULL, &a);
        if (rc == 0)
            rc = dst_exec(c, sql, 0, NULL, &b);
        if (rc != 0)
            return rc;
        if (count != NULL)
            count(tables[i].name, a, b, arg);
        if (a != b && differs == NULL)
            differs = tables[i].name;
    }
    if (differs != NULL)
        return fail(c, IDD_ESTORE, "the row counts of %s differ: nothing was copied", differs);
    return 0;
}

static int copy_all(copy_t *c, idd_store_copy_count_fn count, void *arg)
{
    char lock[256];
    size_t len = (size_t)snprintf(lock, sizeof lock, "LOCK TABLE ");
    for (size_t i = 0; i < IDD_ARRAY_LEN(tables); i++)
        len += (size_t)snprintf(lock + len, sizeof lock - len, "%s%s", i > 0 ? ", " : "",
                                tables[i].name);
    snprintf(lock + len, sizeof lock - len, " IN EXCLUSIVE MODE");

    int rc = dst_exec(c, "BEGIN", 0, NULL, NULL);
    /* Readers go on; another writer (an identityd already started on the target) waits
     * until the commit, or this gives up rather than waiting for ever. */
    if (rc == 0)
        rc = dst_exec(c, "SET LOCAL lock_timeout = '30s'", 0, NULL, NULL);
    if (rc == 0)
        rc = dst_exec(c, lock, 0, NULL, NULL);
    if (rc == 0)
        rc = check_target_empty(c);
    for (size_t i = 0; rc == 0 && i < IDD_ARRAY_LEN(tables); i++) {
        rc = copy_rows(c, &tables[i]);
        if (rc == 0 && tables[i].serial != NULL)
            rc = move_sequence(c, &tables[i]);
    }
    if (rc == 0)
        rc = verify(c, count, arg);
    if (rc == 0)
        rc = dst_exec(c, "COMMIT", 0, NULL, NULL);
    if (rc != 0 && PQtransactionStatus(c->dst) != PQTRANS_IDLE) {
        PQclear(PQexec(c->dst, "ROLLBACK"));
        size_t at = strlen(c->err);
        snprintf(c->err + at, c->errlen - at, "; rolled back, the target is as it was");
    }
    return rc;
}

int idd_store_copy(const char *source, const char *target, const char *password_file,
                   idd_store_copy_count_fn count, void *arg, char *err, size_t errlen)
{
    copy_t c = {.err = err, .errlen = errlen};
    idd_store_t *store = NULL;
    int rc;

    err[0] = '\0';
    rc = open_source(&c, source);
    if (rc != 0)
        goto done;
    if (target == NULL || idd_store_file(target) != NULL) {
        rc = fail(&c, IDD_EINVAL,
                  "--to must be a PostgreSQL database (a postgresql:// URI or \"host=... "
                  "dbname=...\")");
        goto done;
    }
    rc = idd_store_open_secret(target, password_file, &store);
    if (rc != 0) {
        rc = fail(&c, rc, "cannot open the target: %s (the reason is logged above)",
                  idd_strerror(rc));
        goto done;
    }
    rc = idd_store_migrate(store, NULL, NULL);
    if (rc != 0) {
        rc = fail(&c, rc, "migrating the target: %s", idd_strerror(rc));
        goto done;
    }
    c.dst = to_pg(store)->conn;
    rc = copy_all(&c, count, arg);

done:
    if (c.src != NULL) {
        sqlite3_exec(c.src, "ROLLBACK", NULL, NULL, NULL);
        sqlite3_close(c.src);
    }
    idd_store_free(store);
    return rc;
}
