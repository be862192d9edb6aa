/*
 * The database: key (sections.h). A plain path or "sqlite:PATH" names an SQLite file and is
 * resolved against the config file's folder like every path; a PostgreSQL location (a
 * postgresql:// or postgres:// URI, or a "host=... dbname=..." key/value string) is kept as
 * written, after libpq has parsed it. A PostgreSQL password comes only from
 * database_password_file, a secret file: a location that carries one is refused, so that
 * the password never sits in a configuration file that is readable more widely, nor in
 * anything that prints the location.
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "identityd/config/config.h"
#include "identityd/core/common.h"
#include "identityd/core/ct.h"
#include "sections.h"
#include "table.h"

static int is_keyword_char(char c)
{
    return (c >= 'a' && c <= 'z') || c == '_';
}

bool config_database_is_postgres(const char *location)
{
    if (strncmp(location, "postgresql://", 13) == 0 || strncmp(location, "postgres://", 11) == 0)
        return true;
    /* key/value form: the first word is a lowercase keyword followed by '='. */
    const char *p = location;
    while (*p == ' ' || *p == '\t')
        p++;
    const char *start = p;
    while (is_keyword_char(*p))
        p++;
    if (p == start)
        return false;
    while (*p == ' ' || *p == '\t')
        p++;
    return *p == '=';
}

static char *resolve(const char *dir, const char *prefix, const char *path)
{
    size_t len = strlen(prefix) + strlen(dir) + 1 + strlen(path) + 1;
    char *out = idd_xmalloc(len);
    if (path[0] == '/')
        snprintf(out, len, "%s%s", prefix, path);
    else
        snprintf(out, len, "%s%s/%s", prefix, dir, path);
    return out;
}

/* Refuses a PostgreSQL location libpq cannot parse or that carries a password. Neither
 * message echoes the location or libpq's own message, which may quote a part of it. */
static int check_postgres(loader_t *L, const char *location, int line)
{
    char *why = NULL;
    PQconninfoOption *opts = PQconninfoParse(location, &why);
    if (opts == NULL) {
        PQfreemem(why);
        return tbl_fail(L, line,
                        "database: not a PostgreSQL connection string libpq can read (a "
                        "postgresql:// URI or \"host=... dbname=...\")");
    }
    int has_password = 0;
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++)
        if (strcmp(o->keyword, "password") == 0 && o->val != NULL)
            has_password = 1;
    PQconninfoFree(opts);
    if (has_password)
        return tbl_fail(L, line,
                        "database: the connection string carries a password; remove it and put "
                        "the password in database_password_file (a file of mode 0600)");
    return 0;
}

int config_database_finish(loader_t *L, idd_config_t *cfg, int line)
{
    const char *v = cfg->database;
    if (config_database_is_postgres(v))
        return check_postgres(L, v, line);
    if (cfg->database_password_file != NULL)
        return tbl_fail(L, cfg->database_password_file_line,
                        "database_password_file: only used with a PostgreSQL database");
    const char *prefix = "";
    if (strncmp(v, "sqlite:", 7) == 0) {
        prefix = "sqlite:";
        v += 7;
        if (v[0] == '\0')
            return tbl_fail(L, line, "database: sqlite: needs the path of the file");
    }
    char *path = resolve(L->dir, prefix, v);
    idd_wipe_free_str(cfg->database);
    cfg->database = path;
    return 0;
}
