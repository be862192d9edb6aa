/*
 * The migrations compiled into the programs (generated from the migrations folder by the build),
 * in ascending order of number. Private to the store engines.
 */
#ifndef IDD_STORE_MIGRATIONS_H
#define IDD_STORE_MIGRATIONS_H

#include <stddef.h>

typedef struct idd_migration {
    int number;       /* NNNN of NNNN_name.sql; the schema version after applying it */
    const char *name; /* file name without .sql */
    const char *sql;  /* the whole file */
} idd_migration_t;

extern const idd_migration_t idd_migrations[];
extern const size_t idd_migrations_count;

/* The PostgreSQL engine's (migrations/pg): the same numbers, each leaving the same schema in
 * PostgreSQL's dialect. */
extern const idd_migration_t idd_pg_migrations[];
extern const size_t idd_pg_migrations_count;

#endif
