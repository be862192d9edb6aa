/*
 * The engine-neutral half of the store: choosing an engine from a location string, closing
 * a handle through its engine, and the names of roles and user statuses as the schema and
 * the configuration spell them. Callers reach the engine only through idd_store_ops_t.
 */
#include "identityd/store/store.h"

#include <stdio.h>
#include <string.h>

#include "identityd/core/common.h"
#include "identityd/core/log.h"
#include "store/migrations.h"
#include "store/sqlite_internal.h"

static const char *const role_names[] = {
    [IDD_ROLE_USER] = "user",
    [IDD_ROLE_ADMIN] = "admin",
    [IDD_ROLE_GUEST] = "guest",
};

static const char *const status_names[] = {
    [IDD_USER_ACTIVE] = "active",
    [IDD_USER_DISABLED] = "disabled",
};

int idd_role_parse(const char *name, idd_role_t *out)
{
    if (name == NULL)
        return IDD_EINVAL;
    for (size_t i = 0; i < IDD_ARRAY_LEN(role_names); i++) {
        if (strcmp(name, role_names[i]) == 0) {
            *out = (idd_role_t)i;
            return 0;
        }
    }
    return IDD_EINVAL;
}

const char *idd_role_name(idd_role_t role)
{
    if ((unsigned)role >= IDD_ARRAY_LEN(role_names))
        return NULL;
    return role_names[role];
}

int idd_user_status_parse(const char *name, idd_user_status_t *out)
{
    if (name == NULL)
        return IDD_EINVAL;
    for (size_t i = 0; i < IDD_ARRAY_LEN(status_names); i++) {
        if (strcmp(name, status_names[i]) == 0) {
            *out = (idd_user_status_t)i;
            return 0;
        }
    }
    return IDD_EINVAL;
}

const char *idd_user_status_name(idd_user_status_t status)
{
    if ((unsigned)status >= IDD_ARRAY_LEN(status_names))
        return NULL;
    return status_names[status];
}

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

int idd_store_open(const char *location, idd_store_t **out)
{
    int rc = IDD_EINVAL;
    const char *path = location;
    size_t scheme;

    *out = NULL;
    if (location == NULL || location[0] == '\0')
        goto done;
    scheme = scheme_length(location);
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

void idd_store_free(idd_store_t *s)
{
    if (s != NULL)
        s->ops->close(s);
}

int idd_store_latest_version(void)
{
    int latest = 0;
    for (size_t i = 0; i < idd_migrations_count; i++) {
        if (idd_migrations[i].number > latest)
            latest = idd_migrations[i].number;
    }
    return latest;
}

void idd_user_display_name(const idd_user_t *user, char *out, size_t len)
{
    const char *gap = user->first_name[0] != '\0' && user->last_name[0] != '\0' ? " " : "";
    snprintf(out, len, "%s%s%s", user->first_name, gap, user->last_name);
}
