/*
 * The SQLite engine of the store (include/identityd/store.h): the connection, the statement
 * cache, the migrations that build the schema, tenants and users. The session operations
 * live in sqlite_session.c and the API key operations in sqlite_apikey.c; the files share
 * sqlite_internal.h.
 *
 * A handle is one connection used by one thread at a time, so the connection is opened
 * without SQLite's own mutexes. Every process and thread shares the database file through
 * WAL: readers never block the single writer, and busy_timeout makes a writer wait for
 * another rather than fail at once. Each statement is prepared the first time it is needed
 * and kept for the life of the handle; after every use it is reset, because a statement left
 * mid-step holds a read transaction open and would pin an old snapshot and block
 * checkpoints.
 *
 * Records cross this boundary as fixed-size structs. A value that would not fit its field is
 * refused on the way in (IDD_ETOOBIG), and the schema repeats the limits, so a read never has
 * to truncate; if one still meets an oversized value it reports IDD_ESTORE rather than return
 * a shortened email or password record.
 *
 * Migrations (store/migrations.h) are applied one per BEGIN IMMEDIATE transaction, which
 * takes the write lock before reading PRAGMA user_version: of two processes starting
 * together, the second waits and then finds the work done.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "identityd/core/common.h"
#include "identityd/core/ct.h"
#include "identityd/core/log.h"
#include "identityd/store/store.h"
#include "store/migrations.h"
#include "store/sqlite_internal.h"

#define BUSY_TIMEOUT_MS 5000
#define SALT_BYTES 32 /* hex-encoded into the 64 characters of IDD_SALT_MAX */

/* The order read_user() expects. */
#define USER_COLUMNS                                                                               \
    "id, tenant_id, email, first_name, last_name, role, status, password, auth_version, "          \
    "created, updated, password_change_required"

static const char *const stmt_sql[ST_COUNT] = {
    /* The salt is only used when the row is new; an existing tenant keeps its salt, since
     * every client hash of its users was derived from it. The name is only written when it
     * changed, so an unchanged configuration does not rewrite the row at every start. */
    [ST_TENANT_ENSURE] = "INSERT INTO tenants (id, name, password_salt, created) "
                         "VALUES (?1, ?2, ?3, ?4) "
                         "ON CONFLICT (id) DO UPDATE SET name = excluded.name "
                         "WHERE tenants.name IS NOT excluded.name",
    [ST_TENANT_GET] = "SELECT id, name, password_salt, created FROM tenants WHERE id = ?1",
    /* email carries COLLATE NOCASE in the schema, so this comparison and the unique index
     * (tenant_id, email) it uses are both case-insensitive. */
    [ST_USER_BY_EMAIL] = "SELECT " USER_COLUMNS " FROM users WHERE tenant_id = ?1 AND email = ?2",
    [ST_USER_BY_ID] = "SELECT " USER_COLUMNS " FROM users WHERE id = ?1",
    [ST_USER_INSERT] = "INSERT INTO users (" USER_COLUMNS ") "
                       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 1, ?9, ?9, 0)",
    [ST_USER_SET_STATUS] = "UPDATE users SET status = ?2, auth_version = auth_version + 1, "
                           "updated = ?3 WHERE id = ?1",
    /* A new password is the change that logoutallchangepassword asked for. */
    [ST_USER_SET_PASSWORD] = "UPDATE users SET password = ?2, auth_version = auth_version + 1, "
                             "password_change_required = 0, updated = ?3 WHERE id = ?1",
    [ST_USER_SET_PASSWORD_CHANGE] =
        "UPDATE users SET password_change_required = ?2, updated = ?3 WHERE id = ?1",
    [ST_USER_LIST_ALL] = "SELECT " USER_COLUMNS " FROM users ORDER BY tenant_id, email",
    [ST_USER_LIST_TENANT] =
        "SELECT " USER_COLUMNS " FROM users WHERE tenant_id = ?1 ORDER BY tenant_id, email",
};

void idd_sqlite_log(sqlite3 *db, const char *what)
{
    idd_log_error("store: %s: %s (%d)", what, sqlite3_errmsg(db), sqlite3_extended_errcode(db));
}

/* Duplicates and a missing parent row (tenant, user) are ordinary outcomes the caller
 * reports, so they are not logged as errors. */
int idd_sqlite_step_error(sqlite_store_t *ss, int src, const char *what)
{
    switch (src) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
        idd_log_debug("store: %s: %s", what, sqlite3_errmsg(ss->db));
        return IDD_EEXIST;
    case SQLITE_CONSTRAINT_FOREIGNKEY:
        idd_log_debug("store: %s: %s", what, sqlite3_errmsg(ss->db));
        return IDD_ENOTFOUND;
    case SQLITE_CONSTRAINT_CHECK:
    case SQLITE_CONSTRAINT_NOTNULL:
        idd_sqlite_log(ss->db, what);
        return IDD_EINVAL;
    default:
        idd_sqlite_log(ss->db, what);
        return IDD_ESTORE;
    }
}

/* A statement that is still mid-step means this handle was re-entered (a listing's visitor
 * listing again): refuse rather than reset the outer loop under its feet. */
int idd_sqlite_stmt_get(sqlite_store_t *ss, enum stmt_id id, const char *sql, sqlite3_stmt **out)
{
    *out = NULL;
    if (ss->stmts[id] == NULL) {
        if (sqlite3_prepare_v3(ss->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &ss->stmts[id], NULL) !=
            SQLITE_OK) {
            idd_sqlite_log(ss->db, "prepare");
            ss->stmts[id] = NULL;
            return IDD_ESTORE;
        }
    } else if (sqlite3_stmt_busy(ss->stmts[id])) {
        idd_log_error("store: statement %d is in use: handle re-entered", (int)id);
        return IDD_EBUSY;
    }
    *out = ss->stmts[id];
    return 0;
}

/* The cached statement id of this file, prepared from stmt_sql. */
static int stmt_get(sqlite_store_t *ss, enum stmt_id id, sqlite3_stmt **out)
{
    return idd_sqlite_stmt_get(ss, id, stmt_sql[id], out);
}

/* Reset as well as unbound: a statement left mid-step holds a read transaction open. */
void idd_sqlite_stmt_put(sqlite3_stmt *stmt)
{
    if (stmt == NULL)
        return;
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
}

int idd_sqlite_field_length(const char *field, size_t size, size_t *len)
{
    size_t n = strnlen(field, size);
    if (n == size)
        return IDD_ETOOBIG;
    *len = n;
    return 0;
}

/* Copies a TEXT column into a char[size] field. A value that does not fit means another
 * writer bypassed the schema's limits: refuse it rather than truncate. */
int idd_sqlite_column_copy(sqlite_store_t *ss, sqlite3_stmt *stmt, int col, char *dst, size_t size)
{
    const unsigned char *text = sqlite3_column_text(stmt, col);
    int n = sqlite3_column_bytes(stmt, col);

    if (text == NULL) {
        if (sqlite3_errcode(ss->db) == SQLITE_NOMEM)
            idd_sqlite_log(ss->db, "read column");
        else
            idd_log_error("store: column %s is NULL", sqlite3_column_name(stmt, col));
        return IDD_ESTORE;
    }
    if (n < 0 || (size_t)n >= size) {
        idd_log_error("store: column %s holds %d bytes, more than its field",
                      sqlite3_column_name(stmt, col), n);
        return IDD_ESTORE;
    }
    memcpy(dst, text, (size_t)n);
    dst[n] = '\0';
    return 0;
}

int idd_sqlite_next(sqlite_store_t *ss, sqlite3_stmt *stmt, const char *what, idd_sqlite_read_fn read,
                    void *record)
{
    int src = sqlite3_step(stmt);
    if (src == SQLITE_DONE)
        return 0;
    if (src != SQLITE_ROW)
        return idd_sqlite_step_error(ss, src, what);
    int rc = read(ss, stmt, record);
    return rc == 0 ? 1 : rc;
}

int idd_sqlite_lookup(sqlite_store_t *ss, sqlite3_stmt *stmt, const char *what, idd_sqlite_read_fn read,
                      void *scratch, void *out, size_t size)
{
    int rc = idd_sqlite_next(ss, stmt, what, read, scratch);
    if (rc == 1) {
        memcpy(out, scratch, size);
        rc = 0;
    } else if (rc == 0) {
        rc = IDD_ENOTFOUND;
    }
    idd_wipe(scratch, size);
    return rc;
}

/* Reads the current row of a USER_COLUMNS statement into out. */
static int read_user(sqlite_store_t *ss, sqlite3_stmt *stmt, void *record)
{
    idd_user_t *out = record;
    char role[16];
    char status[16];
    const struct {
        int col;
        char *dst;
        size_t size;
    } texts[] = {
        {0, out->id, sizeof out->id},
        {2, out->email, sizeof out->email},
        {3, out->first_name, sizeof out->first_name},
        {4, out->last_name, sizeof out->last_name},
        {5, role, sizeof role},
        {6, status, sizeof status},
        {7, out->password, sizeof out->password},
    };

    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < IDD_ARRAY_LEN(texts); i++) {
        int rc = idd_sqlite_column_copy(ss, stmt, texts[i].col, texts[i].dst, texts[i].size);
        if (rc != 0)
            return rc;
    }
    if (idd_role_parse(role, &out->role) != 0 || idd_user_status_parse(status, &out->status) != 0) {
        idd_log_error("store: user %s has an unknown role or status", out->id);
        return IDD_ESTORE;
    }
    out->tenant_id = sqlite3_column_int64(stmt, 1);
    out->auth_version = sqlite3_column_int64(stmt, 8);
    out->created = sqlite3_column_int64(stmt, 9);
    out->updated = sqlite3_column_int64(stmt, 10);
    out->password_change_required = sqlite3_column_int(stmt, 11) != 0;
    return 0;
}

/* Fills out with lowercase hex of n random bytes (out holds 2n + 1). */
static int random_hex(char *out, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    unsigned char bytes[32];

    if (n > sizeof bytes || RAND_bytes(bytes, (int)n) != 1) {
        idd_log_error("store: RAND_bytes failed");
        return IDD_ECRYPTO;
    }
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 0x0f];
    }
    out[2 * n] = '\0';
    idd_wipe(bytes, sizeof bytes);
    return 0;
}

/* Writes a random (version 4, RFC 4122 variant) GUID in lowercase with hyphens. */
int idd_sqlite_guid_new(char out[IDD_GUID_LEN + 1])
{
    unsigned char b[16];
    if (RAND_bytes(b, sizeof b) != 1) {
        idd_log_error("store: RAND_bytes failed");
        return IDD_ECRYPTO;
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, IDD_GUID_LEN + 1,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
    return 0;
}

/* Whether s is a GUID as the store keeps them: 8-4-4-4-12 lowercase hex digits. Any version
 * is accepted, since users imported from DocSpace bring their own ids. */
int idd_sqlite_guid_valid(const char *s, size_t len)
{
    if (len != IDD_GUID_LEN)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-')
                return 0;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return 0;
        }
    }
    return 1;
}

/* Runs one statement that returns nothing, outside the statement cache. */
int idd_sqlite_exec(sqlite_store_t *ss, const char *sql, const char *what)
{
    if (sqlite3_exec(ss->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
        idd_sqlite_log(ss->db, what);
        return IDD_ESTORE;
    }
    return 0;
}

/* Runs a pragma that answers one row and returns the first column as an integer or copies
 * it as text (text may be NULL). */
static int pragma_query(sqlite_store_t *ss, const char *sql, int64_t *num, char *text,
                        size_t textlen)
{
    sqlite3_stmt *stmt = NULL;
    int rc = IDD_ESTORE;

    if (sqlite3_prepare_v2(ss->db, sql, -1, &stmt, NULL) != SQLITE_OK) {
        idd_sqlite_log(ss->db, sql);
        goto done;
    }
    if (sqlite3_step(stmt) != SQLITE_ROW) {
        idd_sqlite_log(ss->db, sql);
        goto done;
    }
    if (num != NULL)
        *num = sqlite3_column_int64(stmt, 0);
    if (text != NULL) {
        const unsigned char *value = sqlite3_column_text(stmt, 0);
        snprintf(text, textlen, "%s", value != NULL ? (const char *)value : "");
    }
    rc = 0;

done:
    sqlite3_finalize(stmt);
    return rc;
}

static int user_version(sqlite_store_t *ss, int *version)
{
    int64_t v = 0;
    int rc = pragma_query(ss, "PRAGMA user_version", &v, NULL, 0);
    if (rc == 0)
        *version = (int)v;
    return rc;
}

static int sqlite_schema_version(idd_store_t *s, int *version)
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

void idd_sqlite_rollback(sqlite_store_t *ss)
{
    if (!sqlite3_get_autocommit(ss->db))
        sqlite3_exec(ss->db, "ROLLBACK", NULL, NULL, NULL);
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

static int sqlite_migrate(idd_store_t *s, int *from, int *to)
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

static int sqlite_tenant_ensure(idd_store_t *s, int64_t id, const char *name)
{
    sqlite_store_t *ss = to_sqlite(s);
    sqlite3_stmt *stmt = NULL;
    char salt[2 * SALT_BYTES + 1];
    int rc = IDD_EINVAL;
    int src;

    if (id <= 0 || name == NULL)
        goto done;
    if (strlen(name) > IDD_NAME_MAX) {
        rc = IDD_ETOOBIG;
        goto done;
    }
    rc = random_hex(salt, SALT_BYTES);
    if (rc != 0)
        goto done;
    rc = stmt_get(ss, ST_TENANT_ENSURE, &stmt);
    if (rc != 0)
        goto done;
    sqlite3_bind_int64(stmt, 1, id);
    sqlite3_bind_text(stmt, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 3, salt, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 4, idd_now());
    src = sqlite3_step(stmt);
    rc = src == SQLITE_DONE ? 0 : idd_sqlite_step_error(ss, src, "tenant_ensure");

done:
    idd_sqlite_stmt_put(stmt);
    return rc;
}

static int sqlite_tenant_get(idd_store_t *s, int64_t id, idd_tenant_t *out)
{
    sqlite_store_t *ss = to_sqlite(s);
    sqlite3_stmt *stmt = NULL;
    idd_tenant_t tenant;
    int rc;
    int src;

    memset(&tenant, 0, sizeof tenant);
    rc = stmt_get(ss, ST_TENANT_GET, &stmt);
    if (rc != 0)
        goto done;
    sqlite3_bind_int64(stmt, 1, id);
    src = sqlite3_step(stmt);
    if (src == SQLITE_DONE) {
        rc = IDD_ENOTFOUND;
        goto done;
    }
    if (src != SQLITE_ROW) {
        rc = idd_sqlite_step_error(ss, src, "tenant_get");
        goto done;
    }
    tenant.id = sqlite3_column_int64(stmt, 0);
    tenant.created = sqlite3_column_int64(stmt, 3);
    rc = idd_sqlite_column_copy(ss, stmt, 1, tenant.name, sizeof tenant.name);
    if (rc != 0)
        goto done;
    rc = idd_sqlite_column_copy(ss, stmt, 2, tenant.password_salt, sizeof tenant.password_salt);
    if (rc != 0)
        goto done;
    *out = tenant;

done:
    idd_sqlite_stmt_put(stmt);
    if (rc != 0)
        memset(out, 0, sizeof *out);
    return rc;
}

static int sqlite_user_by_email(idd_store_t *s, int64_t tenant_id, const char *email,
                                idd_user_t *out)
{
    sqlite_store_t *ss = to_sqlite(s);
    sqlite3_stmt *stmt = NULL;
    idd_user_t scratch; /* wiped by idd_sqlite_lookup */
    int rc = IDD_ENOTFOUND;

    /* No stored address can be longer than the field, so a longer one matches nobody. */
    if (email == NULL || strlen(email) > IDD_EMAIL_MAX)
        goto done;
    rc = stmt_get(ss, ST_USER_BY_EMAIL, &stmt);
    if (rc != 0)
        goto done;
    sqlite3_bind_int64(stmt, 1, tenant_id);
    sqlite3_bind_text(stmt, 2, email, -1, SQLITE_STATIC);
    rc = idd_sqlite_lookup(ss, stmt, "user_by_email", read_user, &scratch, out, sizeof *out);

done:
    idd_sqlite_stmt_put(stmt);
    if (rc != 0)
        memset(out, 0, sizeof *out);
    return rc;
}

static int sqlite_user_by_id(idd_store_t *s, const char *id, idd_user_t *out)
{
    sqlite_store_t *ss = to_sqlite(s);
    sqlite3_stmt *stmt = NULL;
    idd_user_t scratch; /* wiped by idd_sqlite_lookup */
    int rc = IDD_ENOTFOUND;

    if (id == NULL || strlen(id) != IDD_GUID_LEN)
        goto done;
    rc = stmt_get(ss, ST_USER_BY_ID, &stmt);
    if (rc != 0)
        goto done;
    sqlite3_bind_text(stmt, 1, id, IDD_GUID_LEN, SQLITE_STATIC);
    rc = idd_sqlite_lookup(ss, stmt, "user_by_id", read_user, &scratch, out, sizeof *out);

done:
    idd_sqlite_stmt_put(stmt);
    if (rc != 0)
        memset(out, 0, sizeof *out);
    return rc;
}

/* Checks every field of a user about to be inserted. Each string field must be terminated
 * inside its array (IDD_ETOOBIG otherwise); email and password must not be empty, the role
 * and status must be known, a given id must be a lowercase GUID (IDD_EINVAL otherwise). */
static int user_validate(const idd_user_t *user)
{
    size_t id_len = 0, email_len = 0, first_len = 0, last_len = 0, password_len = 0;
    const struct {
        const char *field;
        size_t size;
        size_t *len;
    } texts[] = {
        {user->id, sizeof user->id, &id_len},
        {user->email, sizeof user->email, &email_len},
        {user->first_name, sizeof user->first_name, &first_len},
        {user->last_name, sizeof user->last_name, &last_len},
        {user->password, sizeof user->password, &password_len},
    };

    for (size_t i = 0; i < IDD_ARRAY_LEN(texts); i++) {
        int rc = idd_sqlite_field_length(texts[i].field, texts[i].size, texts[i].len);
        if (rc != 0)
            return rc;
    }
    if (email_len == 0 || password_len == 0 || user->tenant_id <= 0)
        return IDD_EINVAL;
    if (id_len != 0 && !idd_sqlite_guid_valid(user->id, id_len))
        return IDD_EINVAL;
    if (idd_role_name(user->role) == NULL || idd_user_status_name(user->status) == NULL)
        return IDD_EINVAL;
    return 0;
}

static int sqlite_user_insert(idd_store_t *s, idd_user_t *user)
{
    sqlite_store_t *ss = to_sqlite(s);
    sqlite3_stmt *stmt = NULL;
    char id[IDD_GUID_LEN + 1];
    int64_t now = idd_now();
    int rc;
    int src;

    rc = user_validate(user);

    if (rc != 0)
        goto done;
    if (user->id[0] != '\0') {
        memcpy(id, user->id, sizeof id);
    } else {
        rc = idd_sqlite_guid_new(id);
        if (rc != 0)
            goto done;
    }
    rc = stmt_get(ss, ST_USER_INSERT, &stmt);
    if (rc != 0)
        goto done;
    sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 2, user->tenant_id);
    sqlite3_bind_text(stmt, 3, user->email, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 4, user->first_name, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 5, user->last_name, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 6, idd_role_name(user->role), -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 7, idd_user_status_name(user->status), -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 8, user->password, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 9, now);
    src = sqlite3_step(stmt);
    if (src != SQLITE_DONE) {
        rc = idd_sqlite_step_error(ss, src, "user_insert");
        goto done;
    }
    memcpy(user->id, id, sizeof id);
    user->auth_version = 1;
    user->created = now;
    user->updated = now;
    rc = 0;

done:
    idd_sqlite_stmt_put(stmt);
    return rc;
}

/* Runs one UPDATE of a user keyed by id (?1): ?2 is the new value, text when text is not
 * NULL and num otherwise, and ?3 the time. IDD_ENOTFOUND unless it matched the user. */
static int user_update(sqlite_store_t *ss, enum stmt_id which, const char *id, const char *text,
                       int64_t num, const char *what)
{
    sqlite3_stmt *stmt = NULL;
    int rc = IDD_ENOTFOUND;
    int src;

    if (id == NULL || strlen(id) != IDD_GUID_LEN)
        goto done;
    rc = stmt_get(ss, which, &stmt);
    if (rc != 0)
        goto done;
    sqlite3_bind_text(stmt, 1, id, IDD_GUID_LEN, SQLITE_STATIC);
    if (text != NULL)
        sqlite3_bind_text(stmt, 2, text, -1, SQLITE_STATIC);
    else
        sqlite3_bind_int64(stmt, 2, num);
    sqlite3_bind_int64(stmt, 3, idd_now());
    src = sqlite3_step(stmt);
    if (src != SQLITE_DONE)
        rc = idd_sqlite_step_error(ss, src, what);
    else
        rc = sqlite3_changes(ss->db) == 1 ? 0 : IDD_ENOTFOUND;

done:
    idd_sqlite_stmt_put(stmt);
    return rc;
}

/* Runs a user update that bumps auth_version and ends every session of the user, in one
 * write transaction: no reader ever sees the new password or the disabled status next to a
 * session still marked active, and a crash cannot keep one change without the other. */
static int user_update_ending_sessions(sqlite_store_t *ss, enum stmt_id which, const char *id,
                                       const char *value, const char *what)
{
    int rc = IDD_ENOTFOUND;
    int began = 0;

    if (id == NULL || strlen(id) != IDD_GUID_LEN)
        goto done;
    /* IMMEDIATE takes the write lock up front, where busy_timeout still applies; a deferred
     * transaction could fail half-way instead when another writer holds it. */
    rc = idd_sqlite_exec(ss, "BEGIN IMMEDIATE", what);
    if (rc != 0)
        goto done;
    began = 1;
    rc = user_update(ss, which, id, value, 0, what);
    if (rc != 0)
        goto done;
    rc = idd_sqlite_session_end_user(&ss->base, id, 0, NULL);
    if (rc != 0)
        goto done;
    rc = idd_sqlite_exec(ss, "COMMIT", what);

done:
    /* Only a transaction begun here is rolled back. */
    if (rc != 0 && began)
        idd_sqlite_rollback(ss);
    return rc;
}

static int sqlite_user_set_status(idd_store_t *s, const char *id, idd_user_status_t status)
{
    const char *name = idd_user_status_name(status);
    if (name == NULL)
        return IDD_EINVAL;
    return user_update_ending_sessions(to_sqlite(s), ST_USER_SET_STATUS, id, name,
                                       "user_set_status");
}

static int sqlite_user_set_password(idd_store_t *s, const char *id, const char *record)
{
    if (record == NULL || record[0] == '\0')
        return IDD_EINVAL;
    if (strnlen(record, IDD_PASSWORD_RECORD_MAX + 1) > IDD_PASSWORD_RECORD_MAX)
        return IDD_ETOOBIG;
    return user_update_ending_sessions(to_sqlite(s), ST_USER_SET_PASSWORD, id, record,
                                       "user_set_password");
}

/* Leaves auth_version alone: requiring a new password does not by itself make the current
 * sessions stale (logoutallchangepassword ends them separately). */
static int sqlite_user_set_password_change(idd_store_t *s, const char *id, int required)
{
    return user_update(to_sqlite(s), ST_USER_SET_PASSWORD_CHANGE, id, NULL, required != 0,
                       "user_set_password_change");
}

/* The visitor runs while the list statement is mid-step. It may look users up or update
 * them through the same handle (other statements), but not list again: that is refused with
 * IDD_EBUSY. */
static int sqlite_user_list(idd_store_t *s, int64_t tenant_id, idd_user_visit_fn visit, void *arg)
{
    sqlite_store_t *ss = to_sqlite(s);
    sqlite3_stmt *stmt = NULL;
    idd_user_t user;
    int rc;

    memset(&user, 0, sizeof user);
    if (visit == NULL) {
        rc = IDD_EINVAL;
        goto done;
    }
    rc = stmt_get(ss, tenant_id != 0 ? ST_USER_LIST_TENANT : ST_USER_LIST_ALL, &stmt);
    if (rc != 0)
        goto done;
    if (tenant_id != 0)
        sqlite3_bind_int64(stmt, 1, tenant_id);
    for (;;) {
        rc = idd_sqlite_next(ss, stmt, "user_list", read_user, &user);
        if (rc != 1 || visit(&user, arg) != 0)
            break;
    }
    if (rc == 1)
        rc = 0;

done:
    idd_sqlite_stmt_put(stmt);
    idd_wipe(&user, sizeof user);
    return rc;
}

static void sqlite_close(idd_store_t *s)
{
    sqlite_store_t *ss = to_sqlite(s);

    for (size_t i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(ss->stmts[i]);
    if (ss->db != NULL && sqlite3_close(ss->db) != SQLITE_OK)
        idd_sqlite_log(ss->db, "close");
    free(ss);
}

static const idd_store_ops_t sqlite_ops = {
    .close = sqlite_close,
    .migrate = sqlite_migrate,
    .schema_version = sqlite_schema_version,
    .tenant_ensure = sqlite_tenant_ensure,
    .tenant_get = sqlite_tenant_get,
    .user_by_email = sqlite_user_by_email,
    .user_by_id = sqlite_user_by_id,
    .user_insert = sqlite_user_insert,
    .user_set_status = sqlite_user_set_status,
    .user_set_password = sqlite_user_set_password,
    .user_list = sqlite_user_list,
    .user_set_password_change = sqlite_user_set_password_change,
    .session_create = idd_sqlite_session_create,
    .session_by_digest = idd_sqlite_session_by_digest,
    .session_by_id = idd_sqlite_session_by_id,
    .session_touch = idd_sqlite_session_touch,
    .session_end = idd_sqlite_session_end,
    .session_end_user = idd_sqlite_session_end_user,
    .session_list_user = idd_sqlite_session_list_user,
    .apikey_create = idd_sqlite_apikey_create,
    .apikey_by_digest = idd_sqlite_apikey_by_digest,
    .apikey_by_id = idd_sqlite_apikey_by_id,
    .apikey_list = idd_sqlite_apikey_list,
    .apikey_update = idd_sqlite_apikey_update,
    .apikey_delete = idd_sqlite_apikey_delete,
    .apikey_touch = idd_sqlite_apikey_touch,
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
 * of an unknown tenant), WAL with synchronous=NORMAL (durable across a process crash, and a
 * power loss can lose only the last commits, never corrupt), and defensive mode, which
 * refuses statements that could corrupt the file (writable_schema and the like). */
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
    rc = pragma_query(ss, "PRAGMA foreign_keys", &fk, NULL, 0);
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
    return idd_sqlite_exec(ss, "PRAGMA synchronous = NORMAL", "set synchronous");
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
