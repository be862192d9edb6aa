/*
 * The engines idd_store_open (store.c) can choose from: each opens a connection and returns
 * a handle whose ops table the engine-neutral interface dispatches through. Private to
 * src/store/.
 */
#ifndef IDD_STORE_ENGINES_H
#define IDD_STORE_ENGINES_H

#include "identityd/store/store.h"

/* Opens the SQLite engine on path (sqlite.c): 0 with *out set, or IDD_ESTORE with *out
 * NULL. */
int idd_store_sqlite_open(const char *path, idd_store_t **out);

/* Opens the PostgreSQL engine (pg.c) on conninfo, a libpq URI or key/value string, with
 * password (NULL: none; the caller wipes its copy): 0 with *out set, IDD_EINVAL for an empty
 * conninfo, or IDD_ESTORE (logged, without the password) with *out NULL when the server
 * cannot be reached or refuses the connection. */
int idd_store_pg_open(const char *conninfo, const char *password, idd_store_t **out);

#endif
