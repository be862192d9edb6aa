/*
 * Moving a deployment from its SQLite file to an empty PostgreSQL database (`identityctl
 * store copy`): every table that holds deployment data, row for row with its ids, in one
 * target transaction that commits only once each table's row count on both sides agrees.
 *
 * The source is opened read-only and must already be at this program's schema version (it
 * is never migrated here: `identityctl migrate` on it first); the target is migrated to it
 * and must hold no data but tenant rows, which a migrate or a first start of identityd
 * leaves and which the source's tenants (with the salts every password depends on)
 * replace. Schema bookkeeping (SQLite's user_version and sqlite_sequence, PostgreSQL's
 * idd_schema) and the credential caches' change counter (store_changes) are not copied: the
 * target keeps its own, and its session id sequence is set past every id the source
 * handed out.
 */
#ifndef IDD_STORE_COPY_H
#define IDD_STORE_COPY_H

#include <stddef.h>
#include <stdint.h>

/* Called for each copied table once both counts are known, before the commit. */
typedef void (*idd_store_copy_count_fn)(const char *table, int64_t source, int64_t target,
                                        void *arg);

/* Copies the SQLite database at source (a path or "sqlite:PATH") into the PostgreSQL
 * database at target (a URI or key/value string without a password; password_file, a
 * secret file, holds it, or NULL). Returns 0 once committed, or an IDD_E* code with the
 * reason in err (naming the table and row of a value that does not convert, never the
 * value), the target left as it was: IDD_EINVAL for a location of the wrong kind,
 * IDD_ENOTFOUND for a missing source file, IDD_ESCHEMA for a source at another schema
 * version, IDD_EEXIST for a target that holds data, IDD_ESTORE for a failed read or write
 * or counts that differ. */
int idd_store_copy(const char *source, const char *target, const char *password_file,
                   idd_store_copy_count_fn count, void *arg, char *err, size_t errlen);

#endif
