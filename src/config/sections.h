/*
 * What the files of src/config/ share beyond the table engine (table.h): the state of one
 * load of identityd's configuration, and the sections that live in files of their own
 * (listen.c, database.c, keys.c, oidc.c), loaded from the top-level table of config.c like lists.
 */
#ifndef IDENTITYD_CONFIG_SECTIONS_H
#define IDENTITYD_CONFIG_SECTIONS_H

#include "identityd/config/config.h"
#include "table.h"

/* loader_t.app of a configuration load. */
typedef struct config_state {
    idd_config_t *cfg;
    int keys_line;   /* line of the `keys:` value, for "no active key" */
    int listen_seen; /* `listen:` was written, even if empty */
} config_state_t;

#define CONFIG_STATE(L) ((config_state_t *)(L)->app)

/* listen: the API's addresses; metrics_listen: /metrics alone. */
int config_listen_parse(loader_t *L, yaml_node_t *node, void *base, const char *name);
int config_metrics_listen_parse(loader_t *L, yaml_node_t *node, void *base, const char *name);
/* The listen address of a file without listen: (127.0.0.1:8092). */
void config_listen_default(idd_config_t *cfg);
/* Frees n listen items (their strings) and the array. */
void config_listen_free(idd_listen_t *listen, size_t n);
/* log_level and log.level both set; metrics_listen repeating a listen: address. */
int config_metrics_check(loader_t *L, const idd_config_t *cfg, int log_level_line,
                         int log_dot_level_line);

/* database: whether a location names a PostgreSQL database (a postgresql:// or postgres://
 * URI, or a key/value string); and, once the file is loaded, resolving an SQLite path and
 * refusing a PostgreSQL location libpq cannot parse or that carries a password. line: the
 * database: key's (0 when it was not written). */
bool config_database_is_postgres(const char *location);
int config_database_finish(loader_t *L, idd_config_t *cfg, int line);

/* keys: the list of signing keys, each a table, and the rules across them. */
int config_keys_parse(loader_t *L, yaml_node_t *node, void *base, const char *name);
void config_keys_free(idd_config_t *cfg);

/* oidc: the section's table and its rules across keys. */
int config_oidc_parse(loader_t *L, yaml_node_t *node, void *base, const char *name);
/* The defaults of the whole section, for a file without one (enabled stays false). */
int config_oidc_defaults(loader_t *L, idd_oidc_config_t *o);
void config_oidc_free(idd_oidc_config_t *o);
/* tbl_reconcile over the section's table; its lists are compared by the caller. */
void config_oidc_reconcile(const idd_oidc_config_t *running, idd_oidc_config_t *next,
                           tbl_note_fn note, void *arg);

#endif
