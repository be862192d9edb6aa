/*
 * The configuration table engine, private to src/config/: a YAML mapping is loaded into a C
 * struct through a table of rows (entry_t), one per key. A row has a dotted name
 * ("token.ttl"), a type, bounds, a textual default parsed like a value from the file, flags
 * and an optional validator, in the manner of Redis's config.c. A new section is a few new
 * rows. A row of type T_LIST hands its value to a parser of its own (a list, or a section
 * with a table of its own). Every error is "FILE:LINE: message", the first one wins, and
 * values marked F_SENSITIVE are never echoed. The engine knows nothing of identityd's keys:
 * those are the tables of config.c, keys.c and oidc.c.
 */
#ifndef IDENTITYD_CONFIG_TABLE_H
#define IDENTITYD_CONFIG_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <yaml.h>

#include "identityd/core/common.h"

#define TBL_MAX_ENTRIES 64 /* rows per table (seen[] arrays are this long) */
#define TBL_MAX_NAME 128   /* longest dotted name a table can hold */

/* T_SECONDS: an int of seconds, written as a number or with a unit: 45s, 90m, 12h, 30d. */
typedef enum {
    T_INT,
    T_INT64,
    T_UINT,
    T_SIZE,
    T_SECONDS,
    T_BOOL,
    T_STRING,
    T_PATH,
    T_ENUM,
    T_LIST
} ctype_t;

enum {
    F_SENSITIVE = 1, /* never echoed in errors; wiped on free */
    F_REQUIRED = 2,  /* no default: the key must be present */
    F_RESTART = 4,   /* read once at start: a reload keeps the running value */
};

/* Everything one load needs; errors go to err once (the first one wins). */
typedef struct loader {
    const char *path; /* the file, as named in errors */
    const char *dir;  /* base of relative T_PATH values */
    yaml_document_t *doc;
    char *err;
    size_t errlen;
    void *app; /* the caller's own state, for its list parsers */
} loader_t;

/* Parses a T_LIST value into base; name is the display name ("tenants[0].domains"). */
typedef int (*list_fn)(loader_t *L, yaml_node_t *node, void *base, const char *name);
/* Extra validation of a string value: NULL when valid, else what is wrong with it ("is not a
 * valid kid"); the caller names the key and echoes the value unless it is SENSITIVE. */
typedef const char *(*check_fn)(const char *value);

typedef struct entry {
    const char *name;
    ctype_t type;
    unsigned flags;
    long long min, max;       /* integer types; T_ENUM: max > 0 accepts only names[0..max] */
    const char *dflt;         /* textual default, parsed like a value from the file */
    size_t offset;            /* of the field in the table's struct */
    const char *const *names; /* T_ENUM: NULL-terminated, index = stored value */
    list_fn list;             /* T_LIST */
    check_fn check;           /* T_STRING / T_PATH */
    size_t line_offset;       /* nonzero: an int field of the struct that receives the key's line */
} entry_t;

/* Called by tbl_reconcile for each row whose value differs; kept: it is F_RESTART and the
 * running value was put back. */
typedef void (*tbl_note_fn)(void *arg, const char *prefix, const entry_t *e, bool kept);

/* Compares every scalar row (T_LIST rows are the caller's) of two loaded structs of one
 * table: running (serving now) and next (just loaded for a reload). A differing F_RESTART
 * row gets running's value back in next (strings copied); every differing row is noted. */
void tbl_reconcile(const entry_t *tab, size_t n, const void *running, void *next,
                   const char *prefix, tbl_note_fn note, void *arg);

/* Reads L->path (at most 1 MiB) and parses it as exactly one YAML document into *doc (the
 * caller deletes it on success). Returns 0, IDD_EIO (cannot read) or IDD_ECONFIG (syntax). */
int tbl_read_document(loader_t *L, yaml_document_t *doc);

/* Applies the defaults of tab, loads node (a mapping, or null for "all defaults") into base
 * and checks REQUIRED rows. shown prefixes names in errors ("" or "keys[1]."); line is where
 * a missing key is reported when its section is absent too. seen[i] receives the line where
 * row i was set (0: not in the file). */
int tbl_load(loader_t *L, const entry_t *tab, size_t n, void *base, yaml_node_t *node,
             const char *shown, int line, int *seen);
/* Sets every row that has a default to it. */
int tbl_defaults(loader_t *L, const entry_t *tab, size_t n, void *base);
/* Frees (and wipes, when SENSITIVE) the strings of tab's rows in base. */
void tbl_free(const entry_t *tab, size_t n, void *base);

/* Records "FILE:LINE: message" (line 0: "FILE: message") unless an error is already there;
 * returns IDD_ECONFIG. */
int tbl_fail(loader_t *L, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Helpers for list parsers. */
int tbl_line(const yaml_node_t *node);
yaml_node_t *tbl_node(loader_t *L, int index);
const char *tbl_text(const yaml_node_t *node);
int tbl_is_null(const yaml_node_t *node);
const char *tbl_kind(const yaml_node_t *node);
/* A scalar's text, refusing other kinds of node and embedded NULs. */
int tbl_scalar(loader_t *L, yaml_node_t *node, const char *name, const char **out);
/* Strict decimal: optional sign, digits, nothing else. Returns 0 or -1. */
int tbl_parse_integer(const char *v, long long *out);
/* The line of the key called name in map, or 0 when map is not a mapping holding it. */
int tbl_key_line(loader_t *L, yaml_node_t *map, const char *name);
/* The items of a list value, null counting as empty. */
int tbl_list(loader_t *L, yaml_node_t *node, const char *name, yaml_node_item_t **first,
             yaml_node_item_t **end);

/* Handles one string of a list of strings. */
typedef int (*string_fn)(loader_t *L, int line, const char *text, void *base, const char *name);
/* Calls each for every string of a list value. */
int tbl_each_string(loader_t *L, yaml_node_t *node, void *base, const char *name, string_fn each);

/* A check_fn: a tab or newline in a secret or an identifier is a paste accident. */
const char *tbl_check_no_control(const char *v);

/* Appends one zeroed element to the array arr of n elements; evaluates to its address. The
 * element joins the array before it is filled, so a failure frees it with the config. */
#define TBL_APPEND(arr, n)                                                                         \
    ((arr) = idd_xrealloc((arr), ((n) + 1) * sizeof(*(arr))),                                      \
     memset(&(arr)[(n)], 0, sizeof(*(arr))), &(arr)[(n)++])

#endif
