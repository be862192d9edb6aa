/*
 * The engine-neutral interface of the store: choosing an engine from a location string and
 * closing a handle through its engine. Everything else reaches the engine through the ops
 * table of the handle (the inline functions of store.h). This file sits above the engines
 * (engines.h) and nothing in an engine calls back into it.
 */
#include "identityd/store/store.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "identityd/core/common.h"
#include "identityd/core/ct.h"
#include "identityd/core/log.h"
#include "identityd/core/secretfile.h"
#include "store/engines.h"

/* Returns the length of a URI-style scheme ("postgres" in "postgres://...") at the start of
 * location, or 0 when location does not start with one and is therefore a plain path. A
 * scheme needs at least two characters so that nothing resembling a drive letter counts. */
static size_t scheme_length(const char *location)
{
    size_t n = 0;
    if (!((location[0] >= 'a' && location[0] <= 'z') || (location[0] >= 'A' && location[0] <= 'Z')))
        return 0;
    for (n = 1; location[n] != '\0' && location[n] != ':'; n++) {
        char c = location[n];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '+' || c == '-' || c == '.';
        if (!ok)
            return 0;
    }
    if (location[n] != ':' || n < 2)
        return 0;
    return n;
}

/* A PostgreSQL location: a postgresql:// or postgres:// URI, or a libpq key/value string
 * (its first word a lowercase keyword followed by '='), which no SQLite path resembles
 * closely enough to matter: a file named "host=x" is written sqlite:host=x. */
static int is_postgres(const char *location, size_t scheme)
{
    if (scheme > 0)
        return (scheme == 10 && strncmp(location, "postgresql", 10) == 0) ||
               (scheme == 8 && strncmp(location, "postgres", 8) == 0);
    const char *p = location + strspn(location, " \t");
    size_t word = strspn(p, "abcdefghijklmnopqrstuvwxyz_");
    return word > 0 && p[word + strspn(p + word, " \t")] == '=';
}

/* A PostgreSQL location libpq can parse and that carries no password: the password comes
 * only from database_password_file (the configuration refuses such a location first; this
 * keeps every other caller to the rule). Neither the location nor libpq's message, which
 * may quote it, is logged. */
static int check_conninfo(const char *location)
{
    char *why = NULL;
    PQconninfoOption *opts = PQconninfoParse(location, &why);
    int has_password = 0;

    PQfreemem(why);
    if (opts == NULL) {
        idd_log_error("store: the PostgreSQL location is not a connection string libpq can read");
        return IDD_EINVAL;
    }
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++)
        if (strcmp(o->keyword, "password") == 0 && o->val != NULL)
            has_password = 1;
    PQconninfoFree(opts);
    if (has_password) {
        idd_log_error("store: the PostgreSQL location carries a password; use "
                      "database_password_file");
        return IDD_EINVAL;
    }
    return 0;
}

/* The password in database_password_file: the rules of every secret file, trailing
 * whitespace (the editor's newline) dropped, no NUL inside. */
#define PASSWORD_MAX 1024
static int read_password(const char *path, char **out)
{
    char err[256];
    char *text = NULL;
    size_t len = 0;
    int rc = idd_secretfile_read(path, PASSWORD_MAX, &text, &len, err, sizeof err);

    *out = NULL;
    if (rc != 0) {
        idd_log_error("store: database_password_file: %s", err);
        return IDD_ESTORE;
    }
    len = idd_secretfile_trim(text, len);
    if (len == 0 || memchr(text, '\0', len) != NULL) {
        idd_log_error("store: database_password_file: %s holds no password, or a NUL byte", path);
        idd_wipe(text, len);
        free(text);
        return IDD_ESTORE;
    }
    text[len] = '\0';
    *out = text;
    return 0;
}

int idd_store_open_secret(const char *location, const char *password_file, idd_store_t **out)
{
    int rc = IDD_EINVAL;
    const char *path = location;
    size_t scheme;

    *out = NULL;
    if (location == NULL || location[0] == '\0')
        goto done;
    scheme = scheme_length(location);
    if (is_postgres(location, scheme)) {
        char *password = NULL;
        rc = check_conninfo(location);
        if (rc != 0)
            goto done;
        if (password_file != NULL) {
            rc = read_password(password_file, &password);
            if (rc != 0)
                goto done;
        }
        rc = idd_store_pg_open(location, password, out);
        if (password != NULL) {
            idd_wipe(password, strlen(password));
            free(password);
        }
        goto done;
    }
    if (password_file != NULL) {
        idd_log_error("store: database_password_file is only used with PostgreSQL");
        goto done;
    }
    if (scheme > 0) {
        if (scheme != 6 || strncmp(location, "sqlite", 6) != 0) {
            /* Only the scheme is logged: a connection string may carry a password. */
            idd_log_error("store: unsupported store engine \"%.*s\"", (int)scheme, location);
            goto done;
        }
        path = location + scheme + 1;
        if (path[0] == '\0')
            goto done;
    }
    rc = idd_store_sqlite_open(path, out);

done:
    return rc;
}

const char *idd_store_file(const char *location)
{
    size_t scheme = location != NULL ? scheme_length(location) : 0;
    if (location == NULL || location[0] == '\0' || is_postgres(location, scheme))
        return NULL;
    if (scheme == 6 && strncmp(location, "sqlite", 6) == 0)
        return location + scheme + 1;
    return scheme > 0 ? NULL : location;
}

int idd_store_open(const char *location, idd_store_t **out)
{
    return idd_store_open_secret(location, NULL, out);
}

void idd_store_free(idd_store_t *s)
{
    if (s != NULL)
        s->ops->close(s);
}

static atomic_ulong store_errors;

void idd_store_note_error(void)
{
    atomic_fetch_add_explicit(&store_errors, 1, memory_order_relaxed);
}

unsigned long idd_store_errors(void)
{
    return atomic_load_explicit(&store_errors, memory_order_relaxed);
}

/* The process's epoch of credential changes: moved after every write of this process that can
 * end or narrow a credential (the wrappers of store.h), and by a cache that saw the store's
 * change version move (another process wrote). Release on the way up, acquire on the way in:
 * whoever reads a row after loading the epoch sees every write the epoch counted. */
static atomic_ulong store_epoch = 1;

void idd_store_note_change(void)
{
    atomic_fetch_add_explicit(&store_epoch, 1, memory_order_acq_rel);
}

unsigned long idd_store_epoch(void)
{
    return atomic_load_explicit(&store_epoch, memory_order_acquire);
}
