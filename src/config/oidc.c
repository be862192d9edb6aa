/*
 * The oidc: section of identityd's configuration: the external OAuth2/OpenID authority whose
 * tokens are accepted. Its rows would crowd the top-level table, and its rules across keys
 * (the authority's scheme against allow_http, introspection credentials, timeouts) apply
 * only when the section is present; without it its fields still hold their defaults.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "identityd/config/config.h"
#include "identityd/core/jwa.h"
#include "sections.h"
#include "table.h"

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
    if (strlen(a) > IDD_OIDC_AUTHORITY_MAX)
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
        return tbl_fail(L, line,
                        "%s: '%.64s' is never accepted for external tokens (only RS256, ES256, "
                        "PS256, EdDSA)",
                        name, text);
    return tbl_fail(L, line, "%s: '%.64s' is not one of RS256, ES256, PS256, EdDSA", name, text);
}

static int parse_algorithms(loader_t *L, yaml_node_t *node, void *base, const char *name)
{
    idd_oidc_config_t *o = base;
    o->algorithms = 0; /* written in the file: the list replaces the default */
    int rc = tbl_each_string(L, node, base, name, add_algorithm);
    if (rc == 0 && o->algorithms == 0)
        rc = tbl_fail(L, tbl_line(node), "%s: at least one algorithm is required", name);
    return rc;
}

static int add_audience(loader_t *L, int line, const char *text, void *base, const char *name)
{
    idd_oidc_config_t *o = base;
    if (*text == '\0')
        return tbl_fail(L, line, "%s: an audience must not be empty", name);
    *TBL_APPEND(o->audience, o->n_audience) = idd_xstrdup(text);
    return 0;
}

static int parse_audience(loader_t *L, yaml_node_t *node, void *base, const char *name)
{
    return tbl_each_string(L, node, base, name, add_audience);
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
                     .offset = OIDC(client_id), .check = tbl_check_no_control},
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
_Static_assert(IDD_ARRAY_LEN(oidc_entries) <= TBL_MAX_ENTRIES, "seen[] too short");

int config_oidc_defaults(loader_t *L, idd_oidc_config_t *o)
{
    o->algorithms = OIDC_ALGORITHMS_DEFAULT;
    return tbl_defaults(L, oidc_entries, IDD_ARRAY_LEN(oidc_entries), o);
}

/* The oidc: section, present in the file: its rows, then the rules across them. */
int config_oidc_parse(loader_t *L, yaml_node_t *node, void *base, const char *name)
{
    idd_oidc_config_t *o = &((idd_config_t *)base)->oidc;
    int seen[TBL_MAX_ENTRIES];
    o->enabled = true;
    o->line = tbl_key_line(L, yaml_document_get_root_node(L->doc), name);
    o->algorithms = OIDC_ALGORITHMS_DEFAULT;
    int rc =
        tbl_load(L, oidc_entries, IDD_ARRAY_LEN(oidc_entries), o, node, "oidc.", o->line, seen);
    if (rc != 0)
        return rc;

    const char *problem = authority_problem(o->authority, o->allow_http);
    if (problem != NULL)
        return tbl_fail(L, seen[O_AUTHORITY], "oidc.authority: '%.80s' %s", o->authority, problem);
    /* "https://idp.example/" and "https://idp.example" name the same authority; keeping one
     * spelling lets callers append "/.well-known/..." without doubling the slash. */
    size_t len = strlen(o->authority);
    if (o->authority[len - 1] == '/')
        o->authority[len - 1] = '\0';

    if (o->introspection_enabled && (o->client_id == NULL || o->client_secret_file == NULL)) {
        int line = tbl_key_line(L, node, "introspection");
        return tbl_fail(L, line ? line : o->line,
                        "missing required key 'oidc.introspection.%s' (introspection is enabled; "
                        "set oidc.introspection.enabled: false to accept only JWTs)",
                        o->client_id == NULL ? "client_id" : "client_secret_file");
    }
    if (o->connect_timeout > o->total_timeout)
        return tbl_fail(L, seen[O_CONNECT] ? seen[O_CONNECT] : seen[O_TOTAL],
                        "oidc.timeouts.connect (%d) must not exceed oidc.timeouts.total (%d): the "
                        "total includes the connection",
                        o->connect_timeout, o->total_timeout);
    return 0;
}

void config_oidc_reconcile(const idd_oidc_config_t *running, idd_oidc_config_t *next,
                           tbl_note_fn note, void *arg)
{
    tbl_reconcile(oidc_entries, IDD_ARRAY_LEN(oidc_entries), running, next, "oidc.", note, arg);
}

void config_oidc_free(idd_oidc_config_t *o)
{
    tbl_free(oidc_entries, IDD_ARRAY_LEN(oidc_entries), o);
    for (size_t i = 0; i < o->n_audience; i++)
        free(o->audience[i]);
    free(o->audience);
    o->audience = NULL;
    o->n_audience = 0;
}
