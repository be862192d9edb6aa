/*
 * The engine-neutral interface of the store: choosing an engine from a location string and
 * closing a handle through its engine. Everything else reaches the engine through the ops
 * table of the handle (the inline functions of store.h). This file sits above the engines
 * (engines.h) and nothing in an engine calls back into it.
 */
#include "identityd/store/store.h"

#include <stdatomic.h>
#include <string.h>

#include "identityd/core/common.h"
#include "identityd/core/log.h"
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
