/*
 * Loads identityd's YAML configuration (libyaml's document API) into one idd_config_t: the
 * top-level table, the trusted_proxies: and tenants: lists, and the rules that need the whole
 * file. The engine that walks the tables is table.c; the listen: list and metrics_listen,
 * the keys: list and the oidc: section, with rules of their own, are listen.c, keys.c and
 * oidc.c. Relative paths resolve against
 * the realpath of the config file's folder, so the default database, "identity.db", sits
 * next to the config file.
 */
#include "identityd/config/config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <yaml.h>

#include "identityd/core/cidr.h"
#include "identityd/core/common.h"
#include "identityd/core/log.h"
#include "identityd/core/tz.h"
#include "sections.h"
#include "table.h"

_Static_assert(sizeof(idd_log_level_t) == sizeof(int), "enums are stored as int");

/* ---- trusted_proxies ----------------------------------------------------------------- */

static int add_proxy(loader_t *L, int line, const char *text, void *base, const char *name)
{
    idd_config_t *cfg = base;
    idd_cidr_t net;
    if (idd_cidr_parse(text, &net) != 0)
        return tbl_fail(L, line,
                        "%s: '%.80s' is not an address or network (a.b.c.d[/n] or an IPv6 "
                        "address[/n])",
                        name, text);
    *TBL_APPEND(cfg->trusted_proxies, cfg->n_trusted_proxies) = net;
    return 0;
}

static int parse_proxies(loader_t *L, yaml_node_t *node, void *base, const char *name)
{
    return tbl_each_string(L, node, base, name, add_proxy);
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
    const idd_config_t *cfg = CONFIG_STATE(L)->cfg;
    idd_tenant_config_t *t = base;
    char *d = idd_xstrdup(text);
    int rc = 0;
    if (!valid_domain(d))
        rc =
            tbl_fail(L, line, "%s: '%.80s' is not a host name or address (no port, scheme or path)",
                     name, text);
    /* t is the last tenant of cfg, so this also catches a repeat within t itself. */
    for (size_t i = 0; rc == 0 && i < cfg->n_tenants; i++)
        for (size_t j = 0; rc == 0 && j < cfg->tenants[i].n_domains; j++)
            if (strcmp(cfg->tenants[i].domains[j], d) == 0)
                rc = tbl_fail(L, line, "%s: '%s' is already a domain of the tenant at line %d",
                              name, d, cfg->tenants[i].line);
    if (rc != 0) {
        free(d);
        return rc;
    }
    *TBL_APPEND(t->domains, t->n_domains) = d;
    return 0;
}

static int parse_domains(loader_t *L, yaml_node_t *node, void *base, const char *name)
{
    idd_tenant_config_t *t = base;
    int rc = tbl_each_string(L, node, base, name, add_domain);
    if (rc == 0 && t->n_domains == 0)
        rc = tbl_fail(L, tbl_line(node), "%s: at least one domain is required", name);
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
        tbl_parse_integer(p + 1, &port) != 0)
        return 0;
    return port >= 1 && port <= 65535;
}

static int add_origin(loader_t *L, int line, const char *text, void *base, const char *name)
{
    idd_tenant_config_t *t = base;
    char *o = idd_xstrdup(text);
    if (!valid_origin(o)) {
        free(o);
        return tbl_fail(L, line,
                        "%s: '%.80s' is not an origin: expected http(s)://host[:port] with "
                        "no path or trailing slash",
                        name, text);
    }
    *TBL_APPEND(t->origins, t->n_origins) = o;
    return 0;
}

static int parse_origins(loader_t *L, yaml_node_t *node, void *base, const char *name)
{
    return tbl_each_string(L, node, base, name, add_origin);
}

#define TENANT(f) offsetof(idd_tenant_config_t, f)
enum { TN_ID, TN_NAME, TN_DOMAINS, TN_ORIGINS, TN_TIMEZONE };
/* One row per key; clang-format would put one field per line. */
/* clang-format off */
static const entry_t tenant_entries[] = {
    [TN_ID] = {.name = "id", .type = T_INT64, .flags = F_REQUIRED, .min = 1, .max = LLONG_MAX,
               .offset = TENANT(id)},
    {.name = "name", .type = T_STRING, .flags = F_REQUIRED, .offset = TENANT(name)},
    {.name = "domains", .type = T_LIST, .flags = F_REQUIRED, .list = parse_domains},
    {.name = "origins", .type = T_LIST, .list = parse_origins},
    [TN_TIMEZONE] = {.name = "timezone", .type = T_STRING, .dflt = "UTC", .offset = TENANT(timezone)},
};
/* clang-format on */

static int parse_tenants(loader_t *L, yaml_node_t *node, void *base, const char *name)
{
    idd_config_t *cfg = base;
    yaml_node_item_t *it, *end;
    int rc = tbl_list(L, node, name, &it, &end);
    for (; rc == 0 && it < end; it++) {
        yaml_node_t *item = tbl_node(L, *it);
        idd_tenant_config_t *t = TBL_APPEND(cfg->tenants, cfg->n_tenants);
        t->line = tbl_line(item);
        char shown[64];
        int seen[TBL_MAX_ENTRIES];
        snprintf(shown, sizeof(shown), "%s[%zu].", name, cfg->n_tenants - 1);
        rc = tbl_load(L, tenant_entries, IDD_ARRAY_LEN(tenant_entries), t, item, shown, t->line,
                      seen);
        for (size_t i = 0; rc == 0 && i + 1 < cfg->n_tenants; i++)
            if (cfg->tenants[i].id == t->id)
                rc = tbl_fail(L, seen[TN_ID], "%sid: tenant id %lld is already used at line %d",
                              shown, (long long)t->id, cfg->tenants[i].line);
        if (rc == 0) {
            /* The zone is read here, once per load: formatting a date later reads no file. */
            char why[256];
            if (idd_tz_load(t->timezone, &t->tz, why, sizeof(why)) != 0)
                rc = tbl_fail(L, seen[TN_TIMEZONE] ? seen[TN_TIMEZONE] : t->line, "%stimezone: %s",
                              shown, why);
        }
    }
    return rc;
}

/* ---- the top level --------------------------------------------------------------------- */

/* A user or group name as the system's databases hold them (or a numeric id): no path,
 * separator, space or control character, at most 32 bytes. */
static const char *check_account(const char *v)
{
    size_t n = strlen(v);
    if (n > 32)
        return "is longer than 32 bytes";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.' || (c == '$' && i == n - 1)))
            return "is not a user or group name";
    }
    return NULL;
}

const char *const idd_tfa_secret_names[] = {"random", "docspace", NULL};

#define CFG(f) offsetof(idd_config_t, f)
/* One row per key; clang-format would put one field per line. */
/* clang-format off */
static const entry_t config_entries[] = {
    {.name = "listen", .type = T_LIST, .list = config_listen_parse},
    {.name = "threads", .flags = F_RESTART, .type = T_INT, .min = 0, .max = 256, .dflt = "0", .offset = CFG(threads)},
    /* A path or sqlite:PATH (resolved by database.c), or a PostgreSQL location kept as written. */
    {.name = "database", .flags = F_RESTART | F_SENSITIVE, .type = T_STRING, .dflt = "identity.db", .offset = CFG(database)},
    /* The PostgreSQL password, a secret file (never inline in database:). */
    {.name = "database_password_file", .flags = F_RESTART, .type = T_PATH, .offset = CFG(database_password_file),
     .line_offset = CFG(database_password_file_line)},
    {.name = "workers", .flags = F_RESTART, .type = T_INT, .min = 1, .max = 64, .dflt = "2", .offset = CFG(workers)},
    {.name = "token.ttl", .type = T_INT, .min = 30, .max = 86400, .dflt = "300",
     .offset = CFG(token_ttl)},
    {.name = "password.iterations", .type = T_UINT, .min = 1000, .max = 10000000,
     .dflt = "100000", .offset = CFG(password_iterations)},
    {.name = "password.busy_percent", .flags = F_RESTART, .type = T_INT, .min = 1, .max = 100, .dflt = "15", .offset = CFG(password_busy_percent)},
    {.name = "password.pepper_file", .type = T_PATH, .flags = F_REQUIRED | F_RESTART,
     .offset = CFG(pepper_file), .line_offset = CFG(pepper_file_line)},
    {.name = "basic_cache.ttl", .type = T_INT, .min = 0, .max = 60, .dflt = "60",
     .offset = CFG(basic_cache_ttl)},
    {.name = "cache.entries", .flags = F_RESTART, .type = T_INT, .min = 256, .max = 1048576,
     .dflt = "16384", .offset = CFG(cache_entries)},
    {.name = "cache.check_interval_ms", .flags = F_RESTART, .type = T_INT, .min = 10, .max = 1000,
     .dflt = "250", .offset = CFG(cache_check_interval_ms)},
    {.name = "tenants", .type = T_LIST, .list = parse_tenants},
    {.name = "trusted_proxies", .type = T_LIST, .list = parse_proxies},
    {.name = "keys", .type = T_LIST, .list = config_keys_parse},
    {.name = "log_level", .type = T_ENUM, .dflt = "info", .offset = CFG(log_level),
     .names = idd_log_level_names},
    {.name = "limits.max_header_bytes", .type = T_SIZE, .min = 1024, .max = 1048576,
     .dflt = "16384", .offset = CFG(max_header_bytes)},
    {.name = "limits.max_body_bytes", .flags = F_RESTART, .type = T_SIZE, .min = 1024, .max = 1048576,
     .dflt = "65536", .offset = CFG(max_body_bytes)},
    {.name = "session.ttl", .type = T_INT, .min = 60, .max = 31536000, .dflt = "2592000",
     .offset = CFG(session_ttl)},
    {.name = "session.browser_ttl", .type = T_INT, .min = 60, .max = 31536000, .dflt = "43200",
     .offset = CFG(session_browser_ttl)},
    {.name = "bruteforce.attempts", .flags = F_RESTART, .type = T_INT, .min = 1, .max = 1000, .dflt = "5",
     .offset = CFG(bruteforce_attempts)},
    {.name = "bruteforce.window", .flags = F_RESTART, .type = T_INT, .min = 1, .max = 86400, .dflt = "60",
     .offset = CFG(bruteforce_window)},
    {.name = "bruteforce.block", .flags = F_RESTART, .type = T_INT, .min = 1, .max = 86400, .dflt = "60",
     .offset = CFG(bruteforce_block)},
    /* The table is rounded up to a power of two; 2^20 entries are 32 MiB. */
    {.name = "bruteforce.slots", .flags = F_RESTART, .type = T_INT, .min = 64, .max = 1048576, .dflt = "65536",
     .offset = CFG(bruteforce_slots)},
    /* Budgets across logins (per client) and across clients (per login). */
    {.name = "bruteforce.client_attempts", .flags = F_RESTART, .type = T_INT, .min = 1, .max = 1000000, .dflt = "20",
     .offset = CFG(bruteforce_client_attempts)},
    {.name = "bruteforce.client_window", .flags = F_RESTART, .type = T_INT, .min = 1, .max = 86400, .dflt = "600",
     .offset = CFG(bruteforce_client_window)},
    {.name = "bruteforce.login_attempts", .flags = F_RESTART, .type = T_INT, .min = 1, .max = 1000000, .dflt = "100",
     .offset = CFG(bruteforce_login_attempts)},
    {.name = "bruteforce.login_window", .flags = F_RESTART, .type = T_INT, .min = 1, .max = 86400, .dflt = "600",
     .offset = CFG(bruteforce_login_window)},
    {.name = "bruteforce.login_delay_ms", .flags = F_RESTART, .type = T_INT, .min = 0, .max = 10000, .dflt = "1000",
     .offset = CFG(bruteforce_login_delay_ms)},
    {.name = "bruteforce.login_delay_waiting", .flags = F_RESTART, .type = T_INT, .min = 1, .max = 100000,
     .dflt = "64", .offset = CFG(bruteforce_login_delay_waiting)},
    {.name = "bruteforce.ipv6_prefix", .flags = F_RESTART, .type = T_INT, .min = 32, .max = 128, .dflt = "64",
     .offset = CFG(bruteforce_ipv6_prefix)},
    /* Lets a request header move the brute-force clock forward: for tests, never production. */
    {.name = "bruteforce.unsafe_test_clock", .flags = F_RESTART, .type = T_BOOL, .dflt = "false",
     .offset = CFG(bruteforce_unsafe_test_clock)},
    /* Per-user caps and the background pruning of the sessions and API keys tables. */
    {.name = "sessions.max_per_user", .type = T_INT, .min = 1, .max = 100000, .dflt = "100",
     .offset = CFG(sessions_max_per_user)},
    {.name = "apikeys.max_per_user", .type = T_INT, .min = 1, .max = 10000, .dflt = "50",
     .offset = CFG(apikeys_max_per_user)},
    {.name = "prune.interval", .flags = F_RESTART, .type = T_INT, .min = 1, .max = 86400, .dflt = "60",
     .offset = CFG(prune_interval)},
    {.name = "prune.batch", .type = T_INT, .min = 10, .max = 100000, .dflt = "500",
     .offset = CFG(prune_batch)},
    /* Queues and connections: what one client may hold. */
    {.name = "http2", .flags = F_RESTART, .type = T_BOOL, .dflt = "true", .offset = CFG(http2)},
    {.name = "max_connections", .flags = F_RESTART, .type = T_INT, .min = 0, .max = 1000000, .dflt = "4096",
     .offset = CFG(max_connections)},
    {.name = "http2_max_resets", .flags = F_RESTART, .type = T_INT, .min = 1, .max = 100000, .dflt = "100",
     .offset = CFG(http2_max_resets)},
    {.name = "queue.per_connection", .flags = F_RESTART, .type = T_INT, .min = 1, .max = 1000, .dflt = "4",
     .offset = CFG(queue_per_connection)},
    {.name = "queue.per_client", .flags = F_RESTART, .type = T_INT, .min = 1, .max = 100000, .dflt = "16",
     .offset = CFG(queue_per_client)},
    {.name = "queue.max_wait_ms", .flags = F_RESTART, .type = T_INT, .min = 10, .max = 600000, .dflt = "2000",
     .offset = CFG(queue_max_wait_ms)},
    /* A section with a table of its own (oidc_entries), loaded by its parser like a list. */
    {.name = "oidc", .type = T_LIST, .list = config_oidc_parse},
    /* A core dump holds the pepper and private keys: off unless asked for. */
    /* Where identityd writes its pid while it serves, for `identityctl reload`. */
    {.name = "pid_file", .flags = F_RESTART, .type = T_PATH, .offset = CFG(pid_file)},
    /* The sign-in page's files (login.html, login.js, login.css), read once at start. */
    {.name = "web_dir", .flags = F_RESTART, .type = T_PATH, .offset = CFG(web_dir)},
    {.name = "core_dumps", .flags = F_RESTART, .type = T_BOOL, .dflt = "false", .offset = CFG(core_dumps)},
    /* Signing keys identityd makes, publishes, activates and retires itself. */
    {.name = "rotation.every", .type = T_SECONDS, .min = 0, .max = 315360000, .dflt = "0",
     .offset = CFG(rotation_every), .line_offset = CFG(rotation_line)},
    {.name = "rotation.alg", .type = T_ENUM, .dflt = "ES256", .offset = CFG(rotation_alg),
     .names = idd_alg_names, .max = IDD_ALG_SIGNING_LAST},
    {.name = "rotation.dir", .type = T_PATH, .offset = CFG(rotation_dir)},
    {.name = "rotation.check_interval", .type = T_SECONDS, .min = 1, .max = 3600, .dflt = "60",
     .offset = CFG(rotation_check_interval)},
    /* Two-factor sign-in: the code window, how secrets are made, the attempt limit. */
    {.name = "tfa.window", .type = T_INT, .min = 0, .max = 10, .dflt = "1", .offset = CFG(tfa_window)},
    {.name = "tfa.secret", .type = T_ENUM, .dflt = "random", .offset = CFG(tfa_secret),
     .names = idd_tfa_secret_names},
    {.name = "tfa.attempts", .flags = F_RESTART, .type = T_INT, .min = 1, .max = 1000, .dflt = "5",
     .offset = CFG(tfa_attempts)},
    {.name = "tfa.attempts_window", .flags = F_RESTART, .type = T_SECONDS, .min = 1, .max = 86400,
     .dflt = "60", .offset = CFG(tfa_attempts_window)},
    {.name = "tfa.slots", .flags = F_RESTART, .type = T_INT, .min = 64, .max = 1048576, .dflt = "4096",
     .offset = CFG(tfa_slots)},
    /* Operating: caching of the well-known documents, shutdown, the user to run as. */
    {.name = "jwks.max_age", .type = T_INT, .min = 0, .max = 86400, .dflt = "300",
     .offset = CFG(jwks_max_age)},
    {.name = "shutdown_timeout", .type = T_INT, .min = 1, .max = 3600, .dflt = "10",
     .offset = CFG(shutdown_timeout)},
    {.name = "user", .flags = F_RESTART, .type = T_STRING, .check = check_account, .offset = CFG(user),
     .line_offset = CFG(user_line)},
    {.name = "group", .flags = F_RESTART, .type = T_STRING, .check = check_account, .offset = CFG(group),
     .line_offset = CFG(group_line)},
    /* Metrics and logs: the log: section (log_level above is its older spelling of
     * log.level) and the listener /metrics may have to itself. */
    {.name = "log.level", .type = T_ENUM, .offset = CFG(log_level), .names = idd_log_level_names},
    {.name = "log.format", .type = T_ENUM, .dflt = "text", .offset = CFG(log_format),
     .names = idd_log_format_names},
    {.name = "log.access", .type = T_BOOL, .dflt = "false", .offset = CFG(log_access)},
    {.name = "metrics_listen", .type = T_LIST, .list = config_metrics_listen_parse},
};
/* clang-format on */
_Static_assert(IDD_ARRAY_LEN(config_entries) <= TBL_MAX_ENTRIES, "seen[] too short");

/* Rules that need the whole file: defaults of lists, required lists, resolved threads. */
static int finish(loader_t *L)
{
    const config_state_t *S = CONFIG_STATE(L);
    idd_config_t *cfg = S->cfg;
    if (!cfg->oidc.enabled) {
        int rc = config_oidc_defaults(L, &cfg->oidc);
        if (rc != 0)
            return rc;
    }
    if (cfg->n_listen == 0 && !S->listen_seen) {
        config_listen_default(cfg);
    }
    if (cfg->threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        cfg->threads = n < 1 ? 1 : n > 256 ? 256 : (int)n;
    }
    if (cfg->group != NULL && cfg->user == NULL)
        return tbl_fail(L, cfg->group_line, "group: is only used with user: (the user to run as)");
    if (cfg->n_tenants == 0)
        return tbl_fail(L, 0, "at least one tenant is required (tenants: [{id, name, domains}])");
    if (cfg->rotation_every > 0) {
        /* identityd chooses the signing key itself; keys: may hold others to publish. */
        int line = cfg->rotation_line;
        if (cfg->rotation_dir == NULL)
            return tbl_fail(L, line,
                            "rotation.dir: required with rotation.every (the folder of "
                            "the keys identityd makes)");
        if (cfg->rotation_alg == IDD_ALG_HS256)
            return tbl_fail(L, line,
                            "rotation.alg: HS256 keys are DocSpace's machine key and "
                            "cannot be made: ES256, RS256 or EdDSA");
        if (cfg->rotation_every <= cfg->jwks_max_age + cfg->rotation_check_interval)
            return tbl_fail(L, line,
                            "rotation.every: must be longer than jwks.max_age (%d s) and "
                            "rotation.check_interval (%d s) together, the time consumers get "
                            "to fetch a new key before it signs",
                            cfg->jwks_max_age, cfg->rotation_check_interval);
        for (size_t i = 0; i < cfg->n_keys; i++)
            if (cfg->keys[i].state == IDD_KEY_ACTIVE)
                return tbl_fail(L, cfg->keys[i].line,
                                "key '%s': with rotation: identityd chooses the active key; "
                                "mark this one published (or retired)",
                                cfg->keys[i].kid);
        return 0;
    }
    if (cfg->n_keys == 0)
        return tbl_fail(L, S->keys_line, "at least one key is required (keys: [{kid, alg, ...}])");
    for (size_t i = 0; i < cfg->n_keys; i++)
        if (cfg->keys[i].state == IDD_KEY_ACTIVE)
            return 0;
    return tbl_fail(L, S->keys_line, "no key is active: exactly one key needs state 'active'");
}

/* The row of config_entries called name (one of ours: it exists). */
static size_t entry_index(const char *name)
{
    size_t i = 0;
    while (i + 1 < IDD_ARRAY_LEN(config_entries) && strcmp(config_entries[i].name, name) != 0)
        i++;
    return i;
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

    idd_config_t *cfg = idd_xcalloc(1, sizeof(*cfg));
    config_state_t state = {.cfg = cfg};
    yaml_document_t doc;
    loader_t L = {.path = path, .doc = &doc, .err = err, .errlen = errlen, .app = &state};
    int rc = tbl_read_document(&L, &doc);
    if (rc != 0) {
        idd_config_free(cfg);
        return rc;
    }
    cfg->path = idd_xstrdup(path);
    char *folder = folder_of(path);
    cfg->dir = realpath(folder, NULL);
    L.dir = cfg->dir;
    if (cfg->dir == NULL) {
        snprintf(err, errlen, "%s: cannot resolve folder '%s': %s", path, folder, strerror(errno));
        rc = IDD_EIO;
        goto done;
    }
    int seen[TBL_MAX_ENTRIES];
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root != NULL && !tbl_is_null(root) && root->type != YAML_MAPPING_NODE) {
        rc = tbl_fail(&L, tbl_line(root), "the top level must be a mapping of keys, not %s",
                      tbl_kind(root));
        goto done;
    }
    rc = tbl_load(&L, config_entries, IDD_ARRAY_LEN(config_entries), cfg, root, "", 0, seen);
    if (rc == 0)
        rc = finish(&L);
    if (rc == 0)
        rc = config_database_finish(&L, cfg, seen[entry_index("database")]);
    if (rc == 0)
        rc = config_metrics_check(&L, cfg, seen[entry_index("log_level")],
                                  seen[entry_index("log.level")]);

done:
    yaml_document_delete(&doc);
    free(folder);
    if (rc != 0) {
        idd_config_free(cfg);
        return rc;
    }
    *out = cfg;
    return 0;
}

/* ---- reload ---------------------------------------------------------------------------- */

typedef struct names {
    char *changed, *kept;
    size_t changed_len, kept_len;
} names_t;

static void add_name(char *out, size_t len, const char *prefix, const char *name)
{
    size_t used = strlen(out);
    if (used + 1 < len)
        snprintf(out + used, len - used, "%s%s%s", used > 0 ? ", " : "", prefix, name);
}

static void note_row(void *arg, const char *prefix, const entry_t *e, bool kept)
{
    names_t *n = arg;
    if (kept)
        add_name(n->kept, n->kept_len, prefix, e->name);
    else
        add_name(n->changed, n->changed_len, prefix, e->name);
}

static bool strings_equal(char *const *a, size_t na, char *const *b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (strcmp(a[i], b[i]) != 0)
            return false;
    return true;
}

static bool tenants_equal(const idd_config_t *a, const idd_config_t *b)
{
    if (a->n_tenants != b->n_tenants)
        return false;
    for (size_t i = 0; i < a->n_tenants; i++) {
        const idd_tenant_config_t *x = &a->tenants[i], *y = &b->tenants[i];
        if (x->id != y->id || strcmp(x->name, y->name) != 0 ||
            strcmp(x->timezone, y->timezone) != 0 ||
            !strings_equal(x->domains, x->n_domains, y->domains, y->n_domains) ||
            !strings_equal(x->origins, x->n_origins, y->origins, y->n_origins))
            return false;
    }
    return true;
}

static bool listen_equal(const idd_config_t *a, const idd_config_t *b)
{
    if (a->n_listen != b->n_listen)
        return false;
    for (size_t i = 0; i < a->n_listen; i++)
        if (strcmp(a->listen[i].host, b->listen[i].host) != 0 ||
            a->listen[i].port != b->listen[i].port || a->listen[i].tls != b->listen[i].tls)
            return false;
    return true;
}

void idd_config_reconcile(const idd_config_t *running, idd_config_t *next, char *changed,
                          size_t changed_len, char *kept, size_t kept_len)
{
    names_t n = {changed, kept, changed_len, kept_len};
    changed[0] = kept[0] = '\0';
    if (!listen_equal(running, next)) {
        /* The sockets are bound once: the running listeners stay what the config says, TLS
         * files included (certificates reload only onto the listeners as they are). */
        idd_listen_t *copy = idd_xcalloc(running->n_listen, sizeof(*copy));
        for (size_t i = 0; i < running->n_listen; i++) {
            copy[i] = running->listen[i];
            copy[i].address = idd_xstrdup(running->listen[i].address);
            copy[i].tls_cert_file = idd_xstrdup(running->listen[i].tls_cert_file);
            copy[i].tls_key_file = idd_xstrdup(running->listen[i].tls_key_file);
        }
        config_listen_free(next->listen, next->n_listen);
        next->listen = copy;
        next->n_listen = running->n_listen;
        add_name(kept, kept_len, "", "listen");
    }
    if (running->metrics_listen_set != next->metrics_listen_set ||
        (running->metrics_listen_set &&
         (strcmp(running->metrics_listen.host, next->metrics_listen.host) != 0 ||
          running->metrics_listen.port != next->metrics_listen.port))) {
        /* Its listener is bound once, like the others. The item owns no strings. */
        next->metrics_listen_set = running->metrics_listen_set;
        next->metrics_listen = running->metrics_listen;
        add_name(kept, kept_len, "", "metrics_listen");
    }
    tbl_reconcile(config_entries, IDD_ARRAY_LEN(config_entries), running, next, "", note_row, &n);
    if (!tenants_equal(running, next))
        add_name(changed, changed_len, "", "tenants");
    if (running->n_trusted_proxies != next->n_trusted_proxies ||
        (running->n_trusted_proxies > 0 &&
         memcmp(running->trusted_proxies, next->trusted_proxies,
                running->n_trusted_proxies * sizeof(idd_cidr_t)) != 0))
        add_name(changed, changed_len, "", "trusted_proxies");
    if (running->oidc.enabled != next->oidc.enabled ||
        !strings_equal(running->oidc.audience, running->oidc.n_audience, next->oidc.audience,
                       next->oidc.n_audience))
        add_name(changed, changed_len, "", "oidc");
    else if (next->oidc.enabled)
        config_oidc_reconcile(&running->oidc, &next->oidc, note_row, &n);
}

void idd_config_free(idd_config_t *cfg)
{
    if (cfg == NULL)
        return;
    tbl_free(config_entries, IDD_ARRAY_LEN(config_entries), cfg);
    for (size_t i = 0; i < cfg->n_tenants; i++) {
        idd_tenant_config_t *t = &cfg->tenants[i];
        tbl_free(tenant_entries, IDD_ARRAY_LEN(tenant_entries), t);
        for (size_t j = 0; j < t->n_domains; j++)
            free(t->domains[j]);
        for (size_t j = 0; j < t->n_origins; j++)
            free(t->origins[j]);
        free(t->domains);
        free(t->origins);
        idd_tz_free(t->tz);
    }
    config_keys_free(cfg);
    config_oidc_free(&cfg->oidc);
    free(cfg->tenants);
    config_listen_free(cfg->listen, cfg->n_listen);
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
