/*
 * The configuration table engine (table.h): typed, bounded keys with defaults, loaded from a
 * YAML mapping into a struct, every error reported as "FILE:LINE: message".
 */
#include "table.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "identityd/core/common.h"
#include "identityd/core/ct.h"

#define TBL_MAX_FILE_BYTES (1024 * 1024) /* a config larger than this is surely a mistake */

static const char *const bool_names[] = {"false", "true", NULL}; /* T_BOOL is this enum */

int tbl_fail(loader_t *L, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    idd_verrorf_at(L->err, L->errlen, L->path, line, fmt, ap);
    va_end(ap);
    return IDD_ECONFIG;
}

int tbl_line(const yaml_node_t *node)
{
    return (int)node->start_mark.line + 1;
}

yaml_node_t *tbl_node(loader_t *L, int index)
{
    return yaml_document_get_node(L->doc, index);
}

const char *tbl_text(const yaml_node_t *node)
{
    return (const char *)node->data.scalar.value;
}

/* An empty value (`key:`), `~` or `null`, written without quotes. */
int tbl_is_null(const yaml_node_t *node)
{
    if (node->type != YAML_SCALAR_NODE || node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    const char *v = tbl_text(node);
    return *v == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 || strcmp(v, "Null") == 0 ||
           strcmp(v, "NULL") == 0;
}

const char *tbl_kind(const yaml_node_t *node)
{
    return node->type == YAML_SEQUENCE_NODE  ? "a list"
           : node->type == YAML_MAPPING_NODE ? "a mapping"
                                             : "a scalar";
}

/* A scalar's text, refusing embedded NULs ("\0" in a double-quoted string). */
int tbl_scalar(loader_t *L, yaml_node_t *node, const char *name, const char **out)
{
    /* Each failure returns IDD_ECONFIG itself: *out is set exactly when 0 is returned. */
    if (node->type != YAML_SCALAR_NODE) {
        (void)tbl_fail(L, tbl_line(node), "%s: expected a scalar, got %s", name, tbl_kind(node));
        return IDD_ECONFIG;
    }
    if (strlen(tbl_text(node)) != node->data.scalar.length) {
        (void)tbl_fail(L, tbl_line(node), "%s: contains a NUL byte", name);
        return IDD_ECONFIG;
    }
    *out = tbl_text(node);
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
int tbl_parse_integer(const char *v, long long *out)
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
        return tbl_fail(L, line, "%s: %s", name, problem);
    return tbl_fail(L, line, "%s: '%.64s' %s", name, v, problem);
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
        if (tbl_parse_integer(v, &n) != 0)
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
    case T_SECONDS: {
        size_t len = strlen(v);
        long long unit = 1;
        char digits[24];
        if (len > 0 && strchr("smhd", v[len - 1]) != NULL) {
            unit = v[len - 1] == 's'   ? 1
                   : v[len - 1] == 'm' ? 60
                   : v[len - 1] == 'h' ? 3600
                                       : 86400;
            len--;
        }
        if (len == 0 || len >= sizeof(digits) || v[0] == '-' || v[0] == '+')
            return bad_value(L, line, e, name, v, "is not a duration (e.g. 45s, 90m, 12h, 30d)");
        memcpy(digits, v, len);
        digits[len] = '\0';
        /* Ten digits at most keep n * unit far from overflowing. */
        if (len > 10 || tbl_parse_integer(digits, &n) != 0)
            return bad_value(L, line, e, name, v, "is not a duration (e.g. 45s, 90m, 12h, 30d)");
        n *= unit;
        if (n < e->min || n > e->max) {
            snprintf(why, sizeof(why), "is out of range (%llds..%llds)", e->min, e->max);
            return bad_value(L, line, e, name, v, why);
        }
        *(int *)field = (int)n;
        return 0;
    }
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
            return tbl_fail(L, line, "%s: must not be empty", name);
        if (e->check != NULL && (problem = e->check(v)) != NULL)
            return bad_value(L, line, e, name, v, problem);
        free_string(e, *(char **)field);
        *(char **)field = e->type == T_PATH ? resolve_path(L->dir, v) : idd_xstrdup(v);
        return 0;
    case T_LIST:
        break;
    }
    return tbl_fail(L, line, "%s: internal error: no setter", name);
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
/* Recursion: one level per section of the key table ("a.b." under "a."), each name longer
 * than its parent's and all shorter than TBL_MAX_NAME, so the depth is bounded by the table,
 * not by the file. */
// NOLINTNEXTLINE(misc-no-recursion): bounded by the key table's sections, as above
static int walk_map(loader_t *L, const entry_t *tab, size_t n, void *base, int *seen, int *near,
                    yaml_node_t *map, const char *rel, const char *shown)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = tbl_node(L, p->key), *v = tbl_node(L, p->value);
        if (k->type != YAML_SCALAR_NODE)
            return tbl_fail(L, tbl_line(k), "keys must be plain names, not %s", tbl_kind(k));
        const char *key = tbl_text(k);
        for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
            yaml_node_t *other = tbl_node(L, q->key);
            if (other->type == YAML_SCALAR_NODE && strcmp(tbl_text(other), key) == 0)
                return tbl_fail(L, tbl_line(k), "duplicate key '%s%s%.64s' (first at line %d)",
                                shown, rel, key, tbl_line(other));
        }
        char full[TBL_MAX_NAME], name[TBL_MAX_NAME + 32];
        size_t klen = strlen(key);
        if (klen == 0 || klen != k->data.scalar.length || strlen(rel) + klen >= sizeof(full))
            return tbl_fail(L, tbl_line(k), "unknown key '%s%s%.64s'", shown, rel, key);
        /* Lengths are checked just above; memcpy says so to the compiler too. */
        size_t rlen = strlen(rel);
        memcpy(full, rel, rlen);
        memcpy(full + rlen, key, klen + 1);
        snprintf(name, sizeof(name), "%s%s", shown, full);

        size_t i = 0;
        int section = 0, rc = 0;
        const entry_t *e = find_entry(tab, n, full, &i, &section);
        if (e != NULL) {
            seen[i] = tbl_line(k);
            if (e->line_offset != 0)
                *(int *)((char *)base + e->line_offset) = tbl_line(k);
            if (e->type == T_LIST) {
                rc = e->list(L, v, base, name);
            } else {
                const char *text = NULL;
                rc = tbl_scalar(L, v, name, &text);
                if (rc == 0)
                    rc = set_value(L, e, base, text, tbl_line(v), name);
            }
        } else if (section) {
            if (tbl_is_null(v))
                continue;
            if (v->type != YAML_MAPPING_NODE)
                return tbl_fail(L, tbl_line(v), "%s: expected a mapping, got %s", name,
                                tbl_kind(v));
            char sub[TBL_MAX_NAME + 1];
            snprintf(sub, sizeof(sub), "%s.", full);
            for (size_t j = 0; j < n; j++)
                if (strncmp(tab[j].name, sub, strlen(sub)) == 0)
                    near[j] = tbl_line(k);
            // NOLINTNEXTLINE(misc-no-recursion): one level per section, as walk_map says
            rc = walk_map(L, tab, n, base, seen, near, v, sub, shown);
        } else {
            rc = tbl_fail(L, tbl_line(k), "unknown key '%s'", name);
        }
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Sets every row that has a default to it. */
int tbl_defaults(loader_t *L, const entry_t *tab, size_t n, void *base)
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
int tbl_load(loader_t *L, const entry_t *tab, size_t n, void *base, yaml_node_t *node,
             const char *shown, int line, int *seen)
{
    int near[TBL_MAX_ENTRIES] = {0};
    memset(seen, 0, sizeof(int) * n);
    int rc = tbl_defaults(L, tab, n, base);
    if (rc != 0)
        return rc;
    if (node != NULL && !tbl_is_null(node)) {
        if (node->type != YAML_MAPPING_NODE)
            return tbl_fail(L, tbl_line(node), "%.*s: expected a mapping, got %s",
                            (int)(strlen(shown) ? strlen(shown) - 1 : 0), shown, tbl_kind(node));
        rc = walk_map(L, tab, n, base, seen, near, node, "", shown);
        if (rc != 0)
            return rc;
    }
    for (size_t i = 0; i < n; i++)
        if ((tab[i].flags & F_REQUIRED) && seen[i] == 0)
            return tbl_fail(L, near[i] ? near[i] : line, "missing required key '%s%s'", shown,
                            tab[i].name);
    return 0;
}

void tbl_free(const entry_t *tab, size_t n, void *base)
{
    for (size_t i = 0; i < n; i++) {
        if (tab[i].type == T_STRING || tab[i].type == T_PATH) {
            char **slot = (char **)((char *)base + tab[i].offset);
            free_string(&tab[i], *slot);
            *slot = NULL;
        }
    }
}

/* Bytes of a scalar field of type t (strings are compared by content, not here). */
static size_t scalar_size(ctype_t t)
{
    switch (t) {
    case T_INT:
    case T_SECONDS:
    case T_ENUM:
        return sizeof(int);
    case T_INT64:
        return sizeof(int64_t);
    case T_UINT:
        return sizeof(unsigned);
    case T_SIZE:
        return sizeof(size_t);
    case T_BOOL:
        return sizeof(bool);
    default:
        return 0;
    }
}

void tbl_reconcile(const entry_t *tab, size_t n, const void *running, void *next,
                   const char *prefix, tbl_note_fn note, void *arg)
{
    for (size_t i = 0; i < n; i++) {
        const entry_t *e = &tab[i];
        const char *was = (const char *)running + e->offset;
        char *now = (char *)next + e->offset;
        bool kept = (e->flags & F_RESTART) != 0;
        if (e->type == T_STRING || e->type == T_PATH) {
            const char *a = *(char *const *)was, *b = *(char **)now;
            if (a == b || (a != NULL && b != NULL && strcmp(a, b) == 0))
                continue;
            if (kept) {
                free_string(e, *(char **)now);
                *(char **)now = idd_xstrdup(a);
            }
        } else if (e->type != T_LIST) {
            size_t size = scalar_size(e->type);
            if (memcmp(was, now, size) == 0)
                continue;
            if (kept)
                memcpy(now, was, size);
        } else {
            continue;
        }
        note(arg, prefix, e, kept);
    }
}

/* The items of a list value, null counting as empty. */
int tbl_list(loader_t *L, yaml_node_t *node, const char *name, yaml_node_item_t **first,
             yaml_node_item_t **end)
{
    *first = *end = NULL;
    if (tbl_is_null(node))
        return 0;
    if (node->type != YAML_SEQUENCE_NODE)
        return tbl_fail(L, tbl_line(node), "%s: expected a list, got %s", name, tbl_kind(node));
    *first = node->data.sequence.items.start;
    *end = node->data.sequence.items.top;
    return 0;
}

int tbl_each_string(loader_t *L, yaml_node_t *node, void *base, const char *name, string_fn each)
{
    yaml_node_item_t *it, *end;
    int rc = tbl_list(L, node, name, &it, &end);
    for (; rc == 0 && it < end; it++) {
        yaml_node_t *item = tbl_node(L, *it);
        const char *text = NULL;
        rc = tbl_scalar(L, item, name, &text);
        if (rc == 0)
            rc = each(L, tbl_line(item), text, base, name);
    }
    return rc;
}

/* The line of the key called name in map, or 0 when map is not a mapping holding it. */
int tbl_key_line(loader_t *L, yaml_node_t *map, const char *name)
{
    if (map == NULL || map->type != YAML_MAPPING_NODE)
        return 0;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = tbl_node(L, p->key);
        if (k->type == YAML_SCALAR_NODE && strcmp(tbl_text(k), name) == 0)
            return tbl_line(k);
    }
    return 0;
}

/* A tab or newline inside a machine key or a client id is a paste accident, not part of it. */
const char *tbl_check_no_control(const char *v)
{
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return "contains a control character (tab, newline...)";
    return NULL;
}

/* Reads the whole file (bounded) into a NUL-terminated buffer. */
static int read_file(const char *path, char **out, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return IDD_EIO;
    }
    char *buf = idd_xmalloc(TBL_MAX_FILE_BYTES + 1);
    size_t n = fread(buf, 1, TBL_MAX_FILE_BYTES + 1, f);
    int unreadable = ferror(f) || n > TBL_MAX_FILE_BYTES;
    (void)fclose(f); /* read-only: ferror above is what tells a failed read */
    if (unreadable) {
        snprintf(err, errlen, "%s: cannot read it, or it is larger than %d bytes", path,
                 TBL_MAX_FILE_BYTES);
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
        return tbl_fail(L, line, "YAML syntax error: %s (%s at line %d)", problem, parser->context,
                        (int)parser->context_mark.line + 1);
    return tbl_fail(L, line, "YAML syntax error: %s", problem);
}

int tbl_read_document(loader_t *L, yaml_document_t *doc)
{
    char *buf = NULL;
    size_t len = 0;
    yaml_parser_t parser;
    int rc = read_file(L->path, &buf, &len, L->err, L->errlen);
    if (rc != 0)
        return rc;
    rc = IDD_ECONFIG;
    if (!yaml_parser_initialize(&parser)) {
        tbl_fail(L, 0, "cannot initialise the YAML parser");
        goto wipe;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
    if (!yaml_parser_load(&parser, doc)) {
        yaml_error(L, &parser, buf, len);
        goto done;
    }
    yaml_document_t extra;
    if (!yaml_parser_load(&parser, &extra)) {
        yaml_error(L, &parser, buf, len);
        yaml_document_delete(doc);
        goto done;
    }
    yaml_node_t *extra_root = yaml_document_get_root_node(&extra);
    int extra_line = extra_root ? tbl_line(extra_root) : 0;
    yaml_document_delete(&extra);
    if (extra_line > 0) {
        tbl_fail(L, extra_line, "only one YAML document is allowed");
        yaml_document_delete(doc);
        goto done;
    }
    rc = 0;
done:
    yaml_parser_delete(&parser);
wipe:
    /* The file may hold secrets (an inline machine key); the document keeps its own copy. */
    idd_wipe(buf, len);
    free(buf);
    return rc;
}
