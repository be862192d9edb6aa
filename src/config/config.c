/*
 * Loads identityd's YAML configuration (libyaml's document API) into one idd_config_t.
 *
 * Scalar keys are rows of a table (entry_t): a dotted name ("token.ttl"), a type, bounds, a
 * textual default, flags (SENSITIVE, REQUIRED) and an optional validator, in the manner of
 * Redis's config.c. A new section is a few new rows. Lists (listen, tenants, keys,
 * trusted_proxies) are rows of type T_LIST with a small dedicated parser; list items that are
 * maps (a tenant, a key) are again loaded through a table of their own. So is the oidc:
 * section, whose rows would crowd the top-level table and whose rules across keys (the
 * authority's scheme against allow_http, introspection credentials) apply only when the
 * section is present; without it its fields still hold their defaults. The first error
 * stops the load and is reported as "FILE:LINE: message"; values marked SENSITIVE are never
 * echoed. Relative paths resolve against the realpath of the config file's folder, so the
 * default database, "identity.db", sits next to the config file.
 */
#include "identityd/config/config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <yaml.h>

#include "identityd/core/common.h"
#include "identityd/core/ct.h"
#include "identityd/core/jwa.h"

#define MAX_CONFIG_BYTES (1024 * 1024) /* a config larger than this is surely a mistake */
#define MAX_ENTRIES 32                 /* rows per table (seen[] arrays are this long) */
#define MAX_NAME 128                   /* longest dotted name a table can hold */

typedef enum { T_INT, T_INT64, T_UINT, T_SIZE, T_BOOL, T_STRING, T_PATH, T_ENUM, T_LIST } ctype_t;

enum {
    F_SENSITIVE = 1, /* never echoed in errors; wiped on free */
    F_REQUIRED = 2,  /* no default: the key must be present */
};

/* Everything one load needs; errors go to err once (the first one wins). */
typedef struct loader {
    const char *path;
    const char *dir;
    yaml_document_t *doc;
    idd_config_t *cfg;
    char *err;
    size_t errlen;
    int keys_line;   /* line of the `keys:` value, for "no active key" */
    int listen_seen; /* `listen:` was written, even if empty */
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

_Static_assert(sizeof(idd_alg_t) == sizeof(int), "enums are stored as int");
_Static_assert(sizeof(idd_key_state_t) == sizeof(int), "enums are stored as int");
_Static_assert(sizeof(idd_log_level_t) == sizeof(int), "enums are stored as int");

static const char *const state_names[] = {"active", "published", NULL};
static const char *const bool_names[] = {"false", "true", NULL}; /* T_BOOL is this enum */

static int fail(loader_t *L, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(loader_t *L, int line, const char *fmt, ...)
{
    if (L->err == NULL || L->errlen == 0)
        return IDD_ECONFIG;
    int n = line > 0 ? snprintf(L->err, L->errlen, "%s:%d: ", L->path, line)
                     : snprintf(L->err, L->errlen, "%s: ", L->path);
    if (n >= 0 && (size_t)n < L->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(L->err + n, L->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return IDD_ECONFIG;
}

static int line_of(const yaml_node_t *node)
{
    return (int)node->start_mark.line + 1;
}

static yaml_node_t *node_at(loader_t *L, int index)
{
    return yaml_document_get_node(L->doc, index);
}

static const char *scalar_text(const yaml_node_t *node)
{
    return (const char *)node->data.scalar.value;
}

/* An empty value (`key:`), `~` or `null`, written without quotes. */
static int is_null(const yaml_node_t *node)
{
    if (node->type != YAML_SCALAR_NODE || node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    const char *v = scalar_text(node);
    return *v == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 || strcmp(v, "Null") == 0 ||
           strcmp(v, "NULL") == 0;
}

static const char *kind_of(const yaml_node_t *node)
{
    return node->type == YAML_SEQUENCE_NODE  ? "a list"
           : node->type == YAML_MAPPING_NODE ? "a mapping"
                                             : "a scalar";
}

/* A scalar's text, refusing embedded NULs ("\0" in a double-quoted string). */
static int scalar_value(loader_t *L, yaml_node_t *node, const char *name, const char **out)
{
    if (node->type != YAML_SCALAR_NODE)
        return fail(L, line_of(node), "%s: expected a scalar, got %s", name, kind_of(node));
    if (strlen(scalar_text(node)) != node->data.scalar.length)
        return fail(L, line_of(node), "%s: contains a NUL byte", name);
    *out = scalar_text(node);
    return 0;
}

static char *resolve_path(const char *dir, const char *value)
{
    if (value[0] == '/')
        return idd_xstrdup(value);
    size_t len = strlen(dir) + 1 + strlen(value) + 1;
    char *p = idd_xmalloc(len);
    snprintf(p, len, "%s/%s", dir, value);
    return p;
}

static void free_string(const entry_t *e, char *s)
{
    if (e->flags & F_SENSITIVE)
        idd_wipe_free_str(s);
    else
        free(s);
}

/* Strict decimal: optional sign, digits, nothing else. */
static int parse_integer(const char *v, long long *out)
{
    const char *digits = v + (*v == '-' || *v == '+');
    if (*digits == '\0' || strspn(digits, "0123456789") != strlen(digits))
        return -1;
    errno = 0;
    long long n = strtoll(v, NULL, 10);
    if (errno == ERANGE)
        return -1;
    *out = n;
    return 0;
}

/* The index of v among names (the first count, or all of them when count is 0), or -1. */
static int enum_index(const char *const *names, size_t count, const char *v)
{
    for (int i = 0; names[i] != NULL && (count == 0 || (size_t)i < count); i++)
        if (strcmp(names[i], v) == 0)
            return i;
    return -1;
}

/* "name: 'value' problem", or "name: problem" when the value is SENSITIVE. */
static int bad_value(loader_t *L, int line, const entry_t *e, const char *name, const char *v,
                     const char *problem)
{
    if (e->flags & F_SENSITIVE)
        return fail(L, line, "%s: %s", name, problem);
    return fail(L, line, "%s: '%.64s' %s", name, v, problem);
}

/* Stores the text v (from the file, or a default) into the field of e; line 0 for defaults. */
static int set_value(loader_t *L, const entry_t *e, void *base, const char *v, int line,
                     const char *name)
{
    void *field = (char *)base + e->offset;
    const char *const *names, *problem = NULL;
    char why[160];
    long long n = 0;
    size_t count = 0;
    int i = 0;

    switch (e->type) {
    case T_INT:
    case T_INT64:
    case T_UINT:
    case T_SIZE:
        if (parse_integer(v, &n) != 0)
            return bad_value(L, line, e, name, v, "is not an integer");
        if (n < e->min || n > e->max) {
            snprintf(why, sizeof(why), "is out of range (%lld..%lld)", e->min, e->max);
            return bad_value(L, line, e, name, v, why);
        }
        if (e->type == T_INT)
            *(int *)field = (int)n;
        else if (e->type == T_INT64)
            *(int64_t *)field = (int64_t)n;
        else if (e->type == T_UINT)
            *(unsigned *)field = (unsigned)n;
        else
            *(size_t *)field = (size_t)n;
        return 0;
    case T_BOOL:
    case T_ENUM:
        names = e->type == T_BOOL ? bool_names : e->names;
        count = e->max > 0 ? (size_t)e->max + 1 : 0;
        i = enum_index(names, count, v);
        if (i < 0) {
            size_t used = (size_t)snprintf(why, sizeof(why), "is not one of");
            for (size_t k = 0; names[k] != NULL && (count == 0 || k < count) && used < sizeof(why);
                 k++)
                used += (size_t)snprintf(why + used, sizeof(why) - used, "%s %s", k ? "," : "",
                                         names[k]);
            return bad_value(L, line, e, name, v, why);
        }
        /* Booleans are C bools (one byte), not ints: storing an int would spill over. */
        if (e->type == T_BOOL)
            *(bool *)field = i == 1;
        else
            *(int *)field = i;
        return 0;
    case T_STRING:
    case T_PATH:
        if (*v == '\0')
            return fail(L, line, "%s: must not be empty", name);
        if (e->check != NULL && (problem = e->check(v)) != NULL)
            return bad_value(L, line, e, name, v, problem);
        free_string(e, *(char **)field);
        *(char **)field = e->type == T_PATH ? resolve_path(L->dir, v) : idd_xstrdup(v);
        return 0;
    case T_LIST:
        break;
    }
    return fail(L, line, "%s: internal error: no setter", name);
}

/* The row called name (*index set), or NULL; *section tells whether rows live under "name."
 * (name is then a section such as "token"). */
static const entry_t *find_entry(const entry_t *tab, size_t n, const char *name, size_t *index,
                                 int *section)
{
    size_t len = strlen(name);
    *section = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(tab[i].name, name) == 0) {
            *index = i;
            return &tab[i];
        }
        *section |= strncmp(tab[i].name, name, len) == 0 && tab[i].name[len] == '.';
    }
    return NULL;
}

/*
 * Walks one mapping. rel is the dotted prefix inside the table ("" or "token."), shown is the
 * display prefix of the enclosing list item ("" or "keys[1]."). seen[i] receives the line
 * where row i was set; near[i] the line of the section that should have held it.
 */
static int walk_map(loader_t *L, const entry_t *tab, size_t n, void *base, int *seen, int *near,
                    yaml_node_t *map, const char *rel, const char *shown)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = node_at(L, p->key), *v = node_at(L, p->value);
        if (k->type != YAML_SCALAR_NODE)
            return fail(L, line_of(k), "keys must be plain names, not %s", kind_of(k));
        const char *key = scalar_text(k);
        for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
            yaml_node_t *other = node_at(L, q->key);
            if (other->type == YAML_SCALAR_NODE && strcmp(scalar_text(other), key) == 0)
                return fail(L, line_of(k), "duplicate key '%s%s%.64s' (first at line %d)", shown,
                            rel, key, line_of(other));
        }
        char full[MAX_NAME], name[MAX_NAME + 32];
        size_t klen = strlen(key);
        if (klen == 0 || klen != k->data.scalar.length || strlen(rel) + klen >= sizeof(full))
            return fail(L, line_of(k), "unknown key '%s%s%.64s'", shown, rel, key);
        /* Lengths are checked just above; memcpy says so to the compiler too. */
        size_t rlen = strlen(rel);
        memcpy(full, rel, rlen);
        memcpy(full + rlen, key, klen + 1);
        snprintf(name, sizeof(name), "%s%s", shown, full);

        size_t i = 0;
        int section = 0, rc = 0;
        const entry_t *e = find_entry(tab, n, full, &i, &section);
        if (e != NULL) {
            seen[i] = line_of(k);
            if (e->line_offset != 0)
                *(int *)((char *)base + e->line_offset) = line_of(k);
            if (e->type == T_LIST) {
                rc = e->list(L, v, base, name);
            } else {
                const char *text = NULL;
                rc = scalar_value(L, v, name, &text);
                if (rc == 0)
                    rc = set_value(L, e, base, text, line_of(v), name);
            }
        } else if (section) {
            if (is_null(v))
                continue;
            if (v->type != YAML_MAPPING_NODE)
                return fail(L, line_of(v), "%s: expected a mapping, got %s", name, kind_of(v));
            char sub[MAX_NAME + 1];
            snprintf(sub, sizeof(sub), "%s.", full);
            for (size_t j = 0; j < n; j++)
                if (strncmp(tab[j].name, sub, strlen(sub)) == 0)
                    near[j] = line_of(k);
            rc = walk_map(L, tab, n, base, seen, near, v, sub, shown);
        } else {
            rc = fail(L, line_of(k), "unknown key '%s'", name);
        }
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Sets every row that has a default to it. */
static int apply_defaults(loader_t *L, const entry_t *tab, size_t n, void *base)
{
    for (size_t i = 0; i < n; i++) {
        if (tab[i].dflt != NULL && tab[i].type != T_LIST) {
            int rc = set_value(L, &tab[i], base, tab[i].dflt, 0, tab[i].name);
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}

/* Applies defaults, loads node (a mapping, or null for "all defaults") and checks REQUIRED
 * rows. line is where a missing key is reported when its section is absent too. */
static int load_table(loader_t *L, const entry_t *tab, size_t n, void *base, yaml_node_t *node,
                      const char *shown, int line, int *seen)
{
    int near[MAX_ENTRIES] = {0};
    memset(seen, 0, sizeof(int) * n);
    int rc = apply_defaults(L, tab, n, base);
    if (rc != 0)
        return rc;
    if (node != NULL && !is_null(node)) {
        if (node->type != YAML_MAPPING_NODE)
            return fail(L, line_of(node), "%.*s: expected a mapping, got %s",
                        (int)(strlen(shown) ? strlen(shown) - 1 : 0), shown, kind_of(node));
        rc = walk_map(L, tab, n, base, seen, near, node, "", shown);
        if (rc != 0)
            return rc;
    }
    for (size_t i = 0; i < n; i++)
        if ((tab[i].flags & F_REQUIRED) && seen[i] == 0)
            return fail(L, near[i] ? near[i] : line, "missing required key '%s%s'", shown,
                        tab[i].name);
    return 0;
}

static void free_table(const entry_t *tab, size_t n, void *base)
{
    for (size_t i = 0; i < n; i++) {
        if (tab[i].type == T_STRING || tab[i].type == T_PATH) {
            char **slot = (char **)((char *)base + tab[i].offset);
            free_string(&tab[i], *slot);
            *slot = NULL;
        }
    }
}

/* Appends one zeroed element to the array arr of n elements; evaluates to its address. The
 * element joins the array before it is filled, so a failure frees it with the config. */
#define APPEND(arr, n)                                                                             \
    ((arr) = idd_xrealloc((arr), ((n) + 1) * sizeof(*(arr))),                                      \
     memset(&(arr)[(n)], 0, sizeof(*(arr))), &(arr)[(n)++])

/* The items of a list value, null counting as empty. */
static int expect_list(loader_t *L, yaml_node_t *node, const char *name, yaml_node_item_t **first,
                       yaml_node_item_t **end)
{
    *first = *end = NULL;
    if (is_null(node))
        return 0;
    if (node->type != YAML_SEQUENCE_NODE)
        return fail(L, line_of(node), "%s: expected a list, got %s", name, kind_of(node));
    *first = node->data.sequence.items.start;
    *end = node->data.sequence.items.top;
    return 0;
}

/* Handles one string of a list of strings. */
typedef int (*string_fn)(loader_t *L, int line, const char *text, void *base, const char *name);

static int each_string(loader_t *L, yaml_node_t *node, void *base, const char *name, string_fn each)
{
    yaml_node_item_t *it, *end;
    int rc = expect_list(L, node, name, &it, &end);
    for (; rc == 0 && it < end; it++) {
        yaml_node_t *item = node_at(L, *it);
        const char *text = NULL;
        rc = scalar_value(L, item, name, &text);
        if (rc == 0)
            rc = each(L, line_of(item), text, base, name);
    }
    return rc;
}

/* ---- listen and trusted_proxies -------------------------------------------------------- */

/* Returned by parse_listen_text when the host is not a numeric address (named by the caller). */
static const char not_numeric[] = "not a numeric address";

/* "a.b.c.d:port" or "[v6]:port" into l; returns a static reason or NULL. */
static const char *parse_listen_text(const char *text, idd_listen_t *l)
{
    const char *host = text, *colon;
    int v6 = text[0] == '[';
    if (v6) {
        const char *close = strchr(text, ']');
        if (close == NULL || close[1] != ':')
            return "expected [IPv6]:port";
        host = text + 1;
        colon = close + 1;
    } else {
        colon = strrchr(text, ':');
        if (colon == NULL)
            return "expected host:port";
        if (memchr(text, ':', (size_t)(colon - text)) != NULL)
            return "an IPv6 address must be written in brackets, as [::1]:8092";
    }
    size_t hlen = (size_t)(colon - host) - (v6 ? 1 : 0);
    if (hlen == 0 || hlen >= sizeof(l->host))
        return "expected host:port";
    memcpy(l->host, host, hlen);
    l->host[hlen] = '\0';
    unsigned char bin[16];
    if (inet_pton(v6 ? AF_INET6 : AF_INET, l->host, bin) != 1)
        return not_numeric;
    long long port = 0;
    if (strlen(colon + 1) > 5 || !isdigit((unsigned char)colon[1]) ||
        parse_integer(colon + 1, &port) != 0 || port > 65535)
        return "the port must be a number from 0 to 65535";
    l->port = (uint16_t)port;
    return NULL;
}

static int add_listen(loader_t *L, int line, const char *text, void *base, const char *name)
{
    idd_config_t *cfg = base;
    idd_listen_t l = {.line = line};
    const char *why = parse_listen_text(text, &l);
    if (why == not_numeric)
        return fail(L, line, "%s: '%s' in '%.80s' is not a numeric IPv4 or IPv6 address", name,
                    l.host, text);
    if (why != NULL)
        return fail(L, line, "%s: '%.80s': %s", name, text, why);
    /* With SO_REUSEPORT a repeated address would bind twice without complaint. */
    for (size_t i = 0; i < cfg->n_listen; i++)
        if (l.port != 0 && l.port == cfg->listen[i].port &&
            strcmp(l.host, cfg->listen[i].host) == 0)
            return fail(L, line, "%s: '%s' is listed twice", name, text);
    *APPEND(cfg->listen, cfg->n_listen) = l;
    return 0;
}

static int parse_listen(loader_t *L, yaml_node_t *node, void *base, const char *name)
{
    L->listen_seen = 1;
    int rc = each_string(L, node, base, name, add_listen);
    if (rc == 0 && L->cfg->n_listen == 0)
        rc = fail(L, line_of(node), "%s: at least one address is required", name);
    return rc;
}

static int add_proxy(loader_t *L, int line, const char *text, void *base, const char *name)
{
    idd_config_t *cfg = base;
    idd_cidr_t net;
    if (idd_cidr_parse(text, &net) != 0)
        return fail(L, line,
                    "%s: '%.80s' is not an address or network (a.b.c.d[/n] or an IPv6 "
                    "address[/n])",
                    name, text);
    *APPEND(cfg->trusted_proxies, cfg->n_trusted_proxies) = net;
    return 0;
}

static int parse_proxies(loader_t *L, yaml_node_t *node, void *base, const char *name)
{
    return each_string(L, node, base, name, add_proxy);
}

/* ---- tenants --------------------------------------------------------------------------- */

/* A host name (letters, digits, '.', '-', '_') or an IPv6 address; lowercased in place. */
static int valid_domain(char *d)
{
    size_t len = strlen(d);
    unsigned char bin[16];
    if (len == 0 || len > 253)
        return 0;
    for (char *p = d; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    if (strchr(d, ':') != NULL)
        return inet_pton(AF_INET6, d, bin) == 1;
    return strspn(d, "abcdefghijklmnopqrstuvwxyz0123456789.-_") == len;
}

static int add_domain(loader_t *L, int line, const char *text, void *base, const char *name)
{
    const idd_config_t *cfg = L->cfg;
    idd_tenant_config_t *t = base;
    char *d = idd_xstrdup(text);
    int rc = 0;
    if (!valid_domain(d))
        rc = fail(L, line, "%s: '%.80s' is not a host name or address (no port, scheme or path)",
                  name, text);
    /* t is the last tenant of cfg, so this also catches a repeat within t itself. */
    for (size_t i = 0; rc == 0 && i < cfg->n_tenants; i++)
        for (size_t j = 0; rc == 0 && j < cfg->tenants[i].n_domains; j++)
            if (strcmp(cfg->tenants[i].domains[j], d) == 0)
                rc = fail(L, line, "%s: '%s' is already a domain of the tenant at line %d", name, d,
                          cfg->tenants[i].line);
    if (rc != 0) {
        free(d);
        return rc;
    }
    *APPEND(t->domains, t->n_domains) = d;
    return 0;
}

static int parse_domains(loader_t *L, yaml_node_t *node, void *base, const char *name)
{
    idd_tenant_config_t *t = base;
    int rc = each_string(L, node, base, name, add_domain);
    if (rc == 0 && t->n_domains == 0)
        rc = fail(L, line_of(node), "%s: at least one domain is required", name);
    return rc;
}

/* Exactly "http(s)://host[:port]", lowercased in place; returns 1 when valid. */
static int valid_origin(char *o)
{
    for (char *p = o; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    const char *host = strncmp(o, "http://", 7) == 0    ? o + 7
                       : strncmp(o, "https://", 8) == 0 ? o + 8
                                                        : NULL;
    if (host == NULL)
        return 0;
    const char *p = host;
    if (*p == '[') {
        char addr[INET6_ADDRSTRLEN];
        unsigned char bin[16];
        size_t len = strcspn(p + 1, "]");
        if (p[1 + len] != ']' || len == 0 || len >= sizeof(addr))
            return 0;
        memcpy(addr, p + 1, len);
        addr[len] = '\0';
        if (inet_pton(AF_INET6, addr, bin) != 1)
            return 0;
        p += len + 2;
    } else {
        p += strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789.-_");
        if (p == host)
            return 0;
    }
    long long port = 0;
    if (*p == '\0')
        return 1;
    if (*p != ':' || strlen(p + 1) > 5 || !isdigit((unsigned char)p[1]) ||
        parse_integer(p + 1, &port) != 0)
        return 0;
    return port >= 1 && port <= 65535;
}

static int add_origin(loader_t *L, int line, const char *text, void *base, const char *name)
{
    idd_tenant_config_t *t = base;
    char *o = idd_xstrdup(text);
    if (!valid_origin(o)) {
        free(o);
        return fail(L, line,
                    "%s: '%.80s' is not an origin: expected http(s)://host[:port] with "
                    "no path or trailing slash",
                    name, text);
    }
    *APPEND(t->origins, t->n_origins) = o;
    return 0;
}

static int parse_origins(loader_t *L, yaml_node_t *node, void *base, const char *name)
{
    return each_string(L, node, base, name, add_origin);
}

#define TENANT(f) offsetof(idd_tenant_config_t, f)
enum { TN_ID };
/* One row per key; clang-format would put one field per line. */
/* clang-format off */
static const entry_t tenant_entries[] = {
    [TN_ID] = {.name = "id", .type = T_INT64, .flags = F_REQUIRED, .min = 1, .max = LLONG_MAX,
               .offset = TENANT(id)},
    {.name = "name", .type = T_STRING, .flags = F_REQUIRED, .offset = TENANT(name)},
    {.name = "domains", .type = T_LIST, .flags = F_REQUIRED, .list = parse_domains},
    {.name = "origins", .type = T_LIST, .list = parse_origins},
};
/* clang-format on */

static int parse_tenants(loader_t *L, yaml_node_t *node, void *base, const char *name)
{
    idd_config_t *cfg = base;
    yaml_node_item_t *it, *end;
    int rc = expect_list(L, node, name, &it, &end);
    for (; rc == 0 && it < end; it++) {
        yaml_node_t *item = node_at(L, *it);
        idd_tenant_config_t *t = APPEND(cfg->tenants, cfg->n_tenants);
        t->line = line_of(item);
        char shown[64];
        int seen[MAX_ENTRIES];
        snprintf(shown, sizeof(shown), "%s[%zu].", name, cfg->n_tenants - 1);
        rc = load_table(L, tenant_entries, IDD_ARRAY_LEN(tenant_entries), t, item, shown, t->line,
                        seen);
        for (size_t i = 0; rc == 0 && i + 1 < cfg->n_tenants; i++)
            if (cfg->tenants[i].id == t->id)
                rc = fail(L, seen[TN_ID], "%sid: tenant id %lld is already used at line %d", shown,
                          (long long)t->id, cfg->tenants[i].line);
    }
    return rc;
}

/* ---- keys ------------------------------------------------------------------------------ */

static const char *check_kid(const char *v)
{
    static const char allowed[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-";
    size_t len = strlen(v);
    if (len > 64 || strspn(v, allowed) != len)
        return "is not a valid kid (1 to 64 of A-Z a-z 0-9 . _ -)";
    return NULL;
}

/* A tab or newline inside a machine key is a paste accident, not part of DocSpace's key. */
static const char *check_secret(const char *v)
{
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return "contains a control character (tab, newline...)";
    return NULL;
}

#define KEY(f) offsetof(idd_key_config_t, f)
enum { K_KID, K_ALG, K_FILE, K_MACHINE_KEY, K_MACHINE_KEY_FILE, K_STATE };
/* One row per key; clang-format would put one field per line. */
/* clang-format off */
static const entry_t key_entries[] = {
    [K_KID] = {.name = "kid", .type = T_STRING, .flags = F_REQUIRED, .offset = KEY(kid),
               .check = check_kid},
    /* Only the algorithms identityd signs with: the first names of the table. */
    [K_ALG] = {.name = "alg", .type = T_ENUM, .flags = F_REQUIRED, .offset = KEY(alg),
               .names = idd_alg_names, .max = IDD_ALG_SIGNING_LAST},
    [K_FILE] = {.name = "file", .type = T_PATH, .offset = KEY(file),
                .line_offset = KEY(file_line)},
    [K_MACHINE_KEY] = {.name = "machine_key", .type = T_STRING, .flags = F_SENSITIVE,
                       .offset = KEY(machine_key), .check = check_secret},
    [K_MACHINE_KEY_FILE] = {.name = "machine_key_file", .type = T_PATH,
                            .offset = KEY(machine_key_file),
                            .line_offset = KEY(machine_key_file_line)},
    [K_STATE] = {.name = "state", .type = T_ENUM, .dflt = "active", .offset = KEY(state),
                 .names = state_names},
};
/* clang-format on */

/* Rules across the fields of one key, and across keys (unique kid, one active key). */
static int check_key(loader_t *L, const idd_key_config_t *k, const int *seen, const char *shown)
{
    const idd_config_t *cfg = L->cfg;
    if (k->alg == IDD_ALG_HS256) {
        if (k->file != NULL)
            return fail(L, seen[K_FILE],
                        "%sfile: key '%s' is HS256, which takes machine_key "
                        "or machine_key_file instead",
                        shown, k->kid);
        if (k->machine_key != NULL && k->machine_key_file != NULL)
            return fail(L, seen[K_MACHINE_KEY_FILE],
                        "key '%s': give either machine_key or "
                        "machine_key_file, not both",
                        k->kid);
        if (k->machine_key == NULL && k->machine_key_file == NULL)
            return fail(L, k->line, "key '%s': HS256 needs machine_key or machine_key_file",
                        k->kid);
    } else {
        if (k->file == NULL)
            return fail(L, k->line, "key '%s': %s needs 'file' (a PEM private key)", k->kid,
                        idd_alg_name(k->alg));
        if (k->machine_key != NULL || k->machine_key_file != NULL)
            return fail(L, seen[k->machine_key ? K_MACHINE_KEY : K_MACHINE_KEY_FILE],
                        "key '%s': machine_key and machine_key_file are only for HS256", k->kid);
    }
    for (size_t i = 0; i + 1 < cfg->n_keys; i++) {
        const idd_key_config_t *o = &cfg->keys[i];
        if (strcmp(o->kid, k->kid) == 0)
            return fail(L, seen[K_KID], "%skid: '%s' is already used at line %d", shown, k->kid,
                        o->line);
        if (o->state == IDD_KEY_ACTIVE && k->state == IDD_KEY_ACTIVE)
            return fail(L, seen[K_STATE] ? seen[K_STATE] : k->line,
                        "key '%s': a second active key ('%s' at line %d is active); exactly "
                        "one key signs, mark the others 'published'",
                        k->kid, o->kid, o->line);
    }
    return 0;
}

static int parse_keys(loader_t *L, yaml_node_t *node, void *base, const char *name)
{
    idd_config_t *cfg = base;
    yaml_node_item_t *it, *end;
    int rc = expect_list(L, node, name, &it, &end);
    L->keys_line = line_of(node);
    for (; rc == 0 && it < end; it++) {
        yaml_node_t *item = node_at(L, *it);
        idd_key_config_t *k = APPEND(cfg->keys, cfg->n_keys);
        k->line = line_of(item);
        char shown[64];
        int seen[MAX_ENTRIES];
        snprintf(shown, sizeof(shown), "%s[%zu].", name, cfg->n_keys - 1);
        rc = load_table(L, key_entries, IDD_ARRAY_LEN(key_entries), k, item, shown, k->line, seen);
        if (rc == 0)
            rc = check_key(L, k, seen, shown);
    }
    return rc;
}

/* ---- oidc ------------------------------------------------------------------------------ */

#define AUTHORITY_MAX 2048 /* discovery and JWKS URLs are built on it; URLs stay under 8 KiB */

/* The line of the key called name in map, or 0 when map is not a mapping holding it. */
static int key_line(loader_t *L, yaml_node_t *map, const char *name)
{
    if (map == NULL || map->type != YAML_MAPPING_NODE)
        return 0;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = node_at(L, p->key);
        if (k->type == YAML_SCALAR_NODE && strcmp(scalar_text(k), name) == 0)
            return line_of(k);
    }
    return 0;
}

static const char *check_user_claim(const char *v)
{
    if (strcmp(v, "sub") == 0 || strcmp(v, "email") == 0)
        return NULL;
    return "is not one of sub, email";
}

/*
 * What is wrong with an authority, or NULL. The scheme rule depends on allow_http, which may
 * come later in the file than the authority, so this runs once the section is loaded. The
 * authority is an issuer identifier (OpenID Connect Discovery §2): a URL without query or
 * fragment, to which "/.well-known/openid-configuration" is appended.
 */
static const char *authority_problem(const char *a, bool allow_http)
{
    const char *host = NULL;
    if (strncmp(a, "https://", 8) == 0)
        host = a + 8;
    else if (strncmp(a, "http://", 7) == 0 && allow_http)
        host = a + 7;
    else if (strncmp(a, "http://", 7) == 0)
        return "is plain http://: use https:// (http:// is accepted only with "
               "allow_http: true, for loopback tests)";
    else
        return "must start with https://";
    if (strlen(a) > AUTHORITY_MAX)
        return "is longer than 2048 characters";
    if (*host == '\0' || *host == '/')
        return "has no host";
    for (const unsigned char *p = (const unsigned char *)a; *p; p++)
        if (*p <= 0x20 || *p == 0x7f)
            return "contains a space or a control character";
    if (strpbrk(a, "?#") != NULL)
        return "must not have a query or a fragment";
    return NULL;
}

static int add_algorithm(loader_t *L, int line, const char *text, void *base, const char *name)
{
    idd_oidc_config_t *o = base;
    unsigned bit = idd_jwa_parse(text);
    if (bit != 0) {
        o->algorithms |= bit;
        return 0;
    }
    /* An HMAC "verified" with the authority's public key lets anyone who can read the JWKS
     * sign tokens; "none" has no signature at all. Neither can ever be allowed here. */
    if (strncmp(text, "HS", 2) == 0 || strcasecmp(text, "none") == 0)
        return fail(L, line,
                    "%s: '%.64s' is never accepted for external tokens (only RS256, ES256, "
                    "PS256, EdDSA)",
                    name, text);
    return fail(L, line, "%s: '%.64s' is not one of RS256, ES256, PS256, EdDSA", name, text);
}

static int parse_algorithms(loader_t *L, yaml_node_t *node, void *base, const char *name)
{
    idd_oidc_config_t *o = base;
    o->algorithms = 0; /* written in the file: the list replaces the default */
    int rc = each_string(L, node, base, name, add_algorithm);
    if (rc == 0 && o->algorithms == 0)
        rc = fail(L, line_of(node), "%s: at least one algorithm is required", name);
    return rc;
}

static int add_audience(loader_t *L, int line, const char *text, void *base, const char *name)
{
    idd_oidc_config_t *o = base;
    if (*text == '\0')
        return fail(L, line, "%s: an audience must not be empty", name);
    *APPEND(o->audience, o->n_audience) = idd_xstrdup(text);
    return 0;
}

static int parse_audience(loader_t *L, yaml_node_t *node, void *base, const char *name)
{
    return each_string(L, node, base, name, add_audience);
}

#define OIDC(f) offsetof(idd_oidc_config_t, f)
#define OIDC_ALGORITHMS_DEFAULT (IDD_JWA_ES256 | IDD_JWA_RS256)
enum {
    O_AUTHORITY,
    O_ALGORITHMS,
    O_AUDIENCE,
    O_CLOCK_SKEW,
    O_USER_CLAIM,
    O_INTROSPECTION_ENABLED,
    O_INTROSPECTION_JWT,
    O_CLIENT_ID,
    O_CLIENT_SECRET_FILE,
    O_CACHE_TTL,
    O_NEGATIVE_TTL,
    O_JWKS_MIN_REFRESH,
    O_JWKS_MAX_AGE,
    O_CONNECT,
    O_TOTAL,
    O_ALLOW_HTTP,
};
/* One row per key; clang-format would put one field per line. */
/* clang-format off */
static const entry_t oidc_entries[] = {
    [O_AUTHORITY] = {.name = "authority", .type = T_STRING, .flags = F_REQUIRED,
                     .offset = OIDC(authority)},
    [O_ALGORITHMS] = {.name = "algorithms", .type = T_LIST, .list = parse_algorithms},
    [O_AUDIENCE] = {.name = "audience", .type = T_LIST, .list = parse_audience},
    [O_CLOCK_SKEW] = {.name = "clock_skew", .type = T_INT, .min = 0, .max = 600, .dflt = "120",
                      .offset = OIDC(clock_skew)},
    [O_USER_CLAIM] = {.name = "user_claim", .type = T_STRING, .dflt = "sub",
                      .offset = OIDC(user_claim), .check = check_user_claim},
    [O_INTROSPECTION_ENABLED] = {.name = "introspection.enabled", .type = T_BOOL, .dflt = "true",
                                 .offset = OIDC(introspection_enabled)},
    [O_INTROSPECTION_JWT] = {.name = "introspection.jwt", .type = T_BOOL, .dflt = "true",
                             .offset = OIDC(introspection_jwt)},
    /* A tab or newline in a client id is the same paste accident as in a machine key. */
    [O_CLIENT_ID] = {.name = "introspection.client_id", .type = T_STRING,
                     .offset = OIDC(client_id), .check = check_secret},
    [O_CLIENT_SECRET_FILE] = {.name = "introspection.client_secret_file", .type = T_PATH,
                              .offset = OIDC(client_secret_file),
                              .line_offset = OIDC(client_secret_file_line)},
    [O_CACHE_TTL] = {.name = "introspection.cache_ttl", .type = T_INT, .min = 0, .max = 3600, .dflt = "60",
                     .offset = OIDC(cache_ttl)},
    [O_NEGATIVE_TTL] = {.name = "introspection.negative_ttl", .type = T_INT, .min = 0, .max = 600, .dflt = "5",
                        .offset = OIDC(negative_ttl)},
    [O_JWKS_MIN_REFRESH] = {.name = "jwks.min_refresh", .type = T_INT, .min = 1, .max = 3600,
                            .dflt = "30", .offset = OIDC(jwks_min_refresh)},
    [O_JWKS_MAX_AGE] = {.name = "jwks.max_age", .type = T_INT, .min = 60, .max = 86400,
                        .dflt = "3600", .offset = OIDC(jwks_max_age)},
    [O_CONNECT] = {.name = "timeouts.connect", .type = T_INT, .min = 1, .max = 60, .dflt = "2",
                   .offset = OIDC(connect_timeout)},
    [O_TOTAL] = {.name = "timeouts.total", .type = T_INT, .min = 1, .max = 120, .dflt = "5",
                 .offset = OIDC(total_timeout)},
    [O_ALLOW_HTTP] = {.name = "allow_http", .type = T_BOOL, .dflt = "false",
                      .offset = OIDC(allow_http)},
};
/* clang-format on */
_Static_assert(IDD_ARRAY_LEN(oidc_entries) <= MAX_ENTRIES, "seen[] too short");

/* The defaults of the whole section, for a file without one (enabled stays false). */
static int oidc_defaults(loader_t *L, idd_oidc_config_t *o)
{
    o->algorithms = OIDC_ALGORITHMS_DEFAULT;
    return apply_defaults(L, oidc_entries, IDD_ARRAY_LEN(oidc_entries), o);
}

/* The oidc: section, present in the file: its rows, then the rules across them. */
static int parse_oidc(loader_t *L, yaml_node_t *node, void *base, const char *name)
{
    idd_oidc_config_t *o = &((idd_config_t *)base)->oidc;
    int seen[MAX_ENTRIES];
    o->enabled = true;
    o->line = key_line(L, yaml_document_get_root_node(L->doc), name);
    o->algorithms = OIDC_ALGORITHMS_DEFAULT;
    int rc =
        load_table(L, oidc_entries, IDD_ARRAY_LEN(oidc_entries), o, node, "oidc.", o->line, seen);
    if (rc != 0)
        return rc;

    const char *problem = authority_problem(o->authority, o->allow_http);
    if (problem != NULL)
        return fail(L, seen[O_AUTHORITY], "oidc.authority: '%.80s' %s", o->authority, problem);
    /* "https://idp.example/" and "https://idp.example" name the same authority; keeping one
     * spelling lets callers append "/.well-known/..." without doubling the slash. */
    size_t len = strlen(o->authority);
    if (o->authority[len - 1] == '/')
        o->authority[len - 1] = '\0';

    if (o->introspection_enabled && (o->client_id == NULL || o->client_secret_file == NULL)) {
        int line = key_line(L, node, "introspection");
        return fail(L, line ? line : o->line,
                    "missing required key 'oidc.introspection.%s' (introspection is enabled; "
                    "set oidc.introspection.enabled: false to accept only JWTs)",
                    o->client_id == NULL ? "client_id" : "client_secret_file");
    }
    if (o->connect_timeout > o->total_timeout)
        return fail(L, seen[O_CONNECT] ? seen[O_CONNECT] : seen[O_TOTAL],
                    "oidc.timeouts.connect (%d) must not exceed oidc.timeouts.total (%d): the "
                    "total includes the connection",
                    o->connect_timeout, o->total_timeout);
    return 0;
}

/* ---- the top level --------------------------------------------------------------------- */

#define CFG(f) offsetof(idd_config_t, f)
/* One row per key; clang-format would put one field per line. */
/* clang-format off */
static const entry_t config_entries[] = {
    {.name = "listen", .type = T_LIST, .list = parse_listen},
    {.name = "threads", .type = T_INT, .min = 0, .max = 256, .dflt = "0", .offset = CFG(threads)},
    {.name = "database", .type = T_PATH, .dflt = "identity.db", .offset = CFG(database)},
    {.name = "workers", .type = T_INT, .min = 1, .max = 64, .dflt = "2", .offset = CFG(workers)},
    {.name = "token.ttl", .type = T_INT, .min = 30, .max = 86400, .dflt = "300",
     .offset = CFG(token_ttl)},
    {.name = "password.iterations", .type = T_UINT, .min = 1000, .max = 10000000,
     .dflt = "100000", .offset = CFG(password_iterations)},
    {.name = "password.pepper_file", .type = T_PATH, .flags = F_REQUIRED,
     .offset = CFG(pepper_file), .line_offset = CFG(pepper_file_line)},
    {.name = "basic_cache.ttl", .type = T_INT, .min = 0, .max = 60, .dflt = "60",
     .offset = CFG(basic_cache_ttl)},
    {.name = "tenants", .type = T_LIST, .list = parse_tenants},
    {.name = "trusted_proxies", .type = T_LIST, .list = parse_proxies},
    {.name = "keys", .type = T_LIST, .list = parse_keys},
    {.name = "log_level", .type = T_ENUM, .dflt = "info", .offset = CFG(log_level),
     .names = idd_log_level_names},
    {.name = "limits.max_header_bytes", .type = T_SIZE, .min = 1024, .max = 1048576,
     .dflt = "16384", .offset = CFG(max_header_bytes)},
    {.name = "limits.max_body_bytes", .type = T_SIZE, .min = 1024, .max = 1048576,
     .dflt = "65536", .offset = CFG(max_body_bytes)},
    {.name = "session.ttl", .type = T_INT, .min = 60, .max = 31536000, .dflt = "2592000",
     .offset = CFG(session_ttl)},
    {.name = "session.browser_ttl", .type = T_INT, .min = 60, .max = 31536000, .dflt = "43200",
     .offset = CFG(session_browser_ttl)},
    {.name = "bruteforce.attempts", .type = T_INT, .min = 1, .max = 1000, .dflt = "5",
     .offset = CFG(bruteforce_attempts)},
    {.name = "bruteforce.window", .type = T_INT, .min = 1, .max = 86400, .dflt = "60",
     .offset = CFG(bruteforce_window)},
    {.name = "bruteforce.block", .type = T_INT, .min = 1, .max = 86400, .dflt = "60",
     .offset = CFG(bruteforce_block)},
    /* The table is rounded up to a power of two; 2^20 entries are 32 MiB. */
    {.name = "bruteforce.slots", .type = T_INT, .min = 64, .max = 1048576, .dflt = "65536",
     .offset = CFG(bruteforce_slots)},
    /* A section with a table of its own (oidc_entries), loaded by its parser like a list. */
    {.name = "oidc", .type = T_LIST, .list = parse_oidc},
};
/* clang-format on */
_Static_assert(IDD_ARRAY_LEN(config_entries) <= MAX_ENTRIES, "seen[] too short");

/* Rules that need the whole file: defaults of lists, required lists, resolved threads. */
static int finish(loader_t *L)
{
    idd_config_t *cfg = L->cfg;
    if (!cfg->oidc.enabled) {
        int rc = oidc_defaults(L, &cfg->oidc);
        if (rc != 0)
            return rc;
    }
    if (cfg->n_listen == 0 && !L->listen_seen) {
        cfg->listen = idd_xcalloc(1, sizeof(*cfg->listen));
        parse_listen_text("127.0.0.1:8092", &cfg->listen[0]);
        cfg->n_listen = 1;
    }
    if (cfg->threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        cfg->threads = n < 1 ? 1 : n > 256 ? 256 : (int)n;
    }
    if (cfg->n_tenants == 0)
        return fail(L, 0, "at least one tenant is required (tenants: [{id, name, domains}])");
    if (cfg->n_keys == 0)
        return fail(L, L->keys_line, "at least one key is required (keys: [{kid, alg, ...}])");
    for (size_t i = 0; i < cfg->n_keys; i++)
        if (cfg->keys[i].state == IDD_KEY_ACTIVE)
            return 0;
    return fail(L, L->keys_line, "no key is active: exactly one key needs state 'active'");
}

/* Reads the whole file (bounded) into a NUL-terminated buffer. */
static int read_file(const char *path, char **out, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return IDD_EIO;
    }
    char *buf = idd_xmalloc(MAX_CONFIG_BYTES + 1);
    size_t n = fread(buf, 1, MAX_CONFIG_BYTES + 1, f);
    int unreadable = ferror(f) || n > MAX_CONFIG_BYTES;
    fclose(f);
    if (unreadable) {
        snprintf(err, errlen, "%s: cannot read it, or it is larger than %d bytes", path,
                 MAX_CONFIG_BYTES);
        free(buf);
        return IDD_EIO;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

static int yaml_error(loader_t *L, const yaml_parser_t *parser, const char *buf, size_t len)
{
    int line = (int)parser->problem_mark.line + 1;
    if (parser->error == YAML_READER_ERROR) {
        line = 1;
        for (size_t i = 0; i < parser->problem_offset && i < len; i++)
            line += buf[i] == '\n';
    }
    const char *problem = parser->problem ? parser->problem : "malformed document";
    if (parser->context != NULL)
        return fail(L, line, "YAML syntax error: %s (%s at line %d)", problem, parser->context,
                    (int)parser->context_mark.line + 1);
    return fail(L, line, "YAML syntax error: %s", problem);
}

static char *folder_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        return idd_xstrdup(".");
    if (slash == path)
        return idd_xstrdup("/");
    return idd_xstrndup(path, (size_t)(slash - path));
}

int idd_config_load(const char *path, idd_config_t **out, char *err, size_t errlen)
{
    char scratch[8];
    if (err == NULL || errlen == 0) {
        err = scratch;
        errlen = sizeof(scratch);
    }
    err[0] = '\0';
    *out = NULL;
    char *buf = NULL, *folder = NULL;
    size_t len = 0;
    int rc = read_file(path, &buf, &len, err, errlen);
    if (rc != 0)
        return rc;

    idd_config_t *cfg = idd_xcalloc(1, sizeof(*cfg));
    cfg->path = idd_xstrdup(path);
    folder = folder_of(path);
    cfg->dir = realpath(folder, NULL);
    yaml_parser_t parser;
    yaml_document_t doc;
    int have_parser = 0, have_doc = 0;
    loader_t L = {
        .path = path, .dir = cfg->dir, .doc = &doc, .cfg = cfg, .err = err, .errlen = errlen};
    rc = IDD_ECONFIG;
    if (cfg->dir == NULL) {
        snprintf(err, errlen, "%s: cannot resolve folder '%s': %s", path, folder, strerror(errno));
        rc = IDD_EIO;
        goto done;
    }
    if (!yaml_parser_initialize(&parser)) {
        fail(&L, 0, "cannot initialise the YAML parser");
        goto done;
    }
    have_parser = 1;
    yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
    if (!yaml_parser_load(&parser, &doc)) {
        yaml_error(&L, &parser, buf, len);
        goto done;
    }
    have_doc = 1;
    yaml_document_t extra;
    if (!yaml_parser_load(&parser, &extra)) {
        yaml_error(&L, &parser, buf, len);
        goto done;
    }
    yaml_node_t *extra_root = yaml_document_get_root_node(&extra);
    int extra_line = extra_root ? line_of(extra_root) : 0;
    yaml_document_delete(&extra);
    if (extra_line > 0) {
        fail(&L, extra_line, "only one YAML document is allowed");
        goto done;
    }

    int seen[MAX_ENTRIES];
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root != NULL && !is_null(root) && root->type != YAML_MAPPING_NODE) {
        fail(&L, line_of(root), "the top level must be a mapping of keys, not %s", kind_of(root));
        goto done;
    }
    rc = load_table(&L, config_entries, IDD_ARRAY_LEN(config_entries), cfg, root, "", 0, seen);
    if (rc == 0)
        rc = finish(&L);

done:
    if (have_doc)
        yaml_document_delete(&doc);
    if (have_parser)
        yaml_parser_delete(&parser);
    /* The file may hold secrets (an inline machine key). */
    idd_wipe(buf, len);
    free(buf);
    free(folder);
    if (rc != 0) {
        idd_config_free(cfg);
        return rc;
    }
    *out = cfg;
    return 0;
}

void idd_config_free(idd_config_t *cfg)
{
    if (cfg == NULL)
        return;
    free_table(config_entries, IDD_ARRAY_LEN(config_entries), cfg);
    for (size_t i = 0; i < cfg->n_tenants; i++) {
        idd_tenant_config_t *t = &cfg->tenants[i];
        free_table(tenant_entries, IDD_ARRAY_LEN(tenant_entries), t);
        for (size_t j = 0; j < t->n_domains; j++)
            free(t->domains[j]);
        for (size_t j = 0; j < t->n_origins; j++)
            free(t->origins[j]);
        free(t->domains);
        free(t->origins);
    }
    for (size_t i = 0; i < cfg->n_keys; i++)
        free_table(key_entries, IDD_ARRAY_LEN(key_entries), &cfg->keys[i]);
    free_table(oidc_entries, IDD_ARRAY_LEN(oidc_entries), &cfg->oidc);
    for (size_t i = 0; i < cfg->oidc.n_audience; i++)
        free(cfg->oidc.audience[i]);
    free(cfg->oidc.audience);
    free(cfg->tenants);
    free(cfg->keys);
    free(cfg->listen);
    free(cfg->trusted_proxies);
    free(cfg->path);
    free(cfg->dir);
    free(cfg);
}

/* ---- lookups --------------------------------------------------------------------------- */

const idd_tenant_config_t *idd_config_tenant_by_host(const idd_config_t *cfg, const char *host,
                                                     size_t len)
{
    if (cfg == NULL || host == NULL)
        return NULL;
    for (size_t i = 0; i < cfg->n_tenants; i++) {
        const idd_tenant_config_t *t = &cfg->tenants[i];
        for (size_t j = 0; j < t->n_domains; j++)
            if (strlen(t->domains[j]) == len && strncasecmp(t->domains[j], host, len) == 0)
                return t;
    }
    return NULL;
}

const idd_tenant_config_t *idd_config_tenant_by_id(const idd_config_t *cfg, int64_t id)
{
    for (size_t i = 0; cfg != NULL && i < cfg->n_tenants; i++)
        if (cfg->tenants[i].id == id)
            return &cfg->tenants[i];
    return NULL;
}
