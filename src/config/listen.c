/*
 * The addresses identityd serves on: the listen: list (each item "host:port" or a table with
 * TLS files) and metrics_listen, with the rules between them (sections.h).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "identityd/config/config.h"
#include "identityd/core/common.h"
#include "sections.h"
#include "table.h"

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
        tbl_parse_integer(colon + 1, &port) != 0 || port > 65535)
        return "the port must be a number from 0 to 65535";
    l->port = (uint16_t)port;
    return NULL;
}

/* Parses text into l (host, port); refuses a repeat of an address already in cfg. */
static int set_listen_address(loader_t *L, const idd_config_t *cfg, int line, const char *text,
                              idd_listen_t *l, const char *name)
{
    const char *why = parse_listen_text(text, l);
    if (why == not_numeric)
        return tbl_fail(L, line, "%s: '%s' in '%.80s' is not a numeric IPv4 or IPv6 address", name,
                        l->host, text);
    if (why != NULL)
        return tbl_fail(L, line, "%s: '%.80s': %s", name, text, why);
    /* With SO_REUSEPORT a repeated address would bind twice without complaint. */
    for (size_t i = 0; i < cfg->n_listen; i++)
        if (&cfg->listen[i] != l && l->port != 0 && l->port == cfg->listen[i].port &&
            strcmp(l->host, cfg->listen[i].host) == 0)
            return tbl_fail(L, line, "%s: '%s' is listed twice", name, text);
    return 0;
}

/* A listen item that is a mapping: { address: "host:port", tls: { cert_file, key_file,
 * min_version } }. */
static const char *const tls_version_names[] = {"TLSv1.2", "TLSv1.3", NULL};
#define LISTEN(f) offsetof(idd_listen_t, f)
enum { LI_ADDRESS, LI_CERT, LI_KEY, LI_MIN };
/* One row per key; clang-format would put one field per line. */
/* clang-format off */
static const entry_t listen_entries[] = {
    [LI_ADDRESS] = {.name = "address", .type = T_STRING, .flags = F_REQUIRED,
                    .offset = LISTEN(address)},
    [LI_CERT] = {.name = "tls.cert_file", .type = T_PATH, .offset = LISTEN(tls_cert_file),
                 .line_offset = LISTEN(tls_cert_line)},
    [LI_KEY] = {.name = "tls.key_file", .type = T_PATH, .offset = LISTEN(tls_key_file),
                .line_offset = LISTEN(tls_key_line)},
    [LI_MIN] = {.name = "tls.min_version", .type = T_ENUM, .dflt = "TLSv1.2",
                .offset = LISTEN(tls_min_version), .names = tls_version_names},
};
/* clang-format on */

static int add_listen_map(loader_t *L, yaml_node_t *item, idd_config_t *cfg, const char *name)
{
    int line = tbl_line(item);
    idd_listen_t *l = TBL_APPEND(cfg->listen, cfg->n_listen);
    l->line = line;
    char shown[64];
    int seen[TBL_MAX_ENTRIES];
    snprintf(shown, sizeof(shown), "%s[%zu].", name, cfg->n_listen - 1);
    int rc = tbl_load(L, listen_entries, IDD_ARRAY_LEN(listen_entries), l, item, shown, line, seen);
    if (rc != 0)
        return rc;
    rc = set_listen_address(L, cfg, seen[LI_ADDRESS], l->address, l, name);
    if (rc != 0)
        return rc;
    int tls_line = tbl_key_line(L, item, "tls");
    if (tls_line == 0)
        return 0;
    if (l->tls_cert_file == NULL || l->tls_key_file == NULL)
        return tbl_fail(L, tls_line, "%stls: both cert_file and key_file are required", shown);
    l->tls = true;
    return 0;
}

int config_listen_parse(loader_t *L, yaml_node_t *node, void *base, const char *name)
{
    idd_config_t *cfg = base;
    CONFIG_STATE(L)->listen_seen = 1;
    yaml_node_item_t *it, *end;
    int rc = tbl_list(L, node, name, &it, &end);
    for (; rc == 0 && it < end; it++) {
        yaml_node_t *item = tbl_node(L, *it);
        if (item->type == YAML_MAPPING_NODE) {
            rc = add_listen_map(L, item, cfg, name);
            continue;
        }
        const char *text;
        rc = tbl_scalar(L, item, name, &text);
        if (rc != 0)
            break;
        idd_listen_t *l = TBL_APPEND(cfg->listen, cfg->n_listen);
        l->line = tbl_line(item);
        rc = set_listen_address(L, cfg, l->line, text, l, name);
    }
    if (rc == 0 && cfg->n_listen == 0)
        rc = tbl_fail(L, tbl_line(node), "%s: at least one address is required", name);
    return rc;
}

/* ---- metrics and logs ------------------------------------------------------------------ */

/* metrics_listen: "host:port", one address on which /metrics alone is served. */
int config_metrics_listen_parse(loader_t *L, yaml_node_t *node, void *base, const char *name)
{
    idd_config_t *cfg = base;
    const char *text = NULL;
    int rc = tbl_scalar(L, node, name, &text);
    if (rc != 0)
        return rc;
    idd_listen_t l = {.line = tbl_line(node)};
    const char *why = parse_listen_text(text, &l);
    if (why == not_numeric)
        return tbl_fail(L, l.line, "%s: '%s' in '%.80s' is not a numeric IPv4 or IPv6 address",
                        name, l.host, text);
    if (why != NULL)
        return tbl_fail(L, l.line, "%s: '%.80s': %s", name, text, why);
    cfg->metrics_listen = l;
    cfg->metrics_listen_set = true;
    return 0;
}

/* log_level (kept from before the log: section) and log.level set the same thing: both at
 * once is a mistake. And /metrics cannot share an address with the API. */
int config_metrics_check(loader_t *L, const idd_config_t *cfg, int log_level_line,
                         int log_dot_level_line)
{
    if (log_level_line != 0 && log_dot_level_line != 0)
        return tbl_fail(L, log_dot_level_line,
                        "log.level: log_level is set too (line %d); keep only log.level",
                        log_level_line);
    if (!cfg->metrics_listen_set)
        return 0;
    for (size_t i = 0; i < cfg->n_listen; i++)
        if (cfg->metrics_listen.port != 0 && cfg->metrics_listen.port == cfg->listen[i].port &&
            strcmp(cfg->metrics_listen.host, cfg->listen[i].host) == 0)
            return tbl_fail(L, cfg->metrics_listen.line,
                            "metrics_listen: %s port %u is a listen: address too (line %d)",
                            cfg->metrics_listen.host, cfg->metrics_listen.port,
                            cfg->listen[i].line);
    return 0;
}

void config_listen_default(idd_config_t *cfg)
{
    cfg->listen = idd_xcalloc(1, sizeof(*cfg->listen));
    parse_listen_text("127.0.0.1:8092", &cfg->listen[0]);
    cfg->n_listen = 1;
}

void config_listen_free(idd_listen_t *listen, size_t n)
{
    for (size_t i = 0; i < n; i++)
        tbl_free(listen_entries, IDD_ARRAY_LEN(listen_entries), &listen[i]);
    free(listen);
}
