/*
 * Unit tests of src/config/ (the table engine and identityd's tables): YAML files written
 * into a fresh mkdtemp folder and loaded.
 * Error cases mark the line they expect the error on with "#<" so the expected line number
 * is computed from the text, not counted by hand.
 */
#include <check.h>
#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "identityd/core/common.h"
#include "identityd/config/config.h"
#include "identityd/core/jwa.h"

static char tmpdir[PATH_MAX];
static char realdir[PATH_MAX];

static void setup(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "%s/idd-config-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    ck_assert_ptr_nonnull(realpath(tmpdir, realdir));
}

static void teardown(void)
{
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
}

/* Writes text to tmpdir/name; path receives the file's path. */
static void write_file(const char *name, const char *text, char *path, size_t len)
{
    snprintf(path, len, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fputs(text, f) >= 0, 1);
    ck_assert_int_eq(fclose(f), 0);
}

/* The 1-based line of the first "#<" marker in text, or 0. */
static int marked_line(const char *text)
{
    const char *m = strstr(text, "#<");
    if (m == NULL)
        return 0;
    int line = 1;
    for (const char *p = text; p < m; p++)
        line += *p == '\n';
    return line;
}

static idd_config_t *load_ok(const char *text)
{
    char path[PATH_MAX + 32], err[512] = "";
    write_file("identityd.yaml", text, path, sizeof(path));
    idd_config_t *cfg = NULL;
    int rc = idd_config_load(path, &cfg, err, sizeof(err));
    ck_assert_msg(rc == 0, "load failed: %s", err);
    ck_assert_ptr_nonnull(cfg);
    return cfg;
}

/* Loads text expecting IDD_ECONFIG; err receives the message. */
static void load_bad(const char *text, char *err, size_t errlen)
{
    char path[PATH_MAX + 32];
    write_file("identityd.yaml", text, path, sizeof(path));
    idd_config_t *cfg = (idd_config_t *)&cfg; /* must be reset to NULL */
    int rc = idd_config_load(path, &cfg, err, errlen);
    ck_assert_msg(rc == IDD_ECONFIG, "expected IDD_ECONFIG, got %d (%s)", rc, err);
    ck_assert_ptr_null(cfg);
}

#define PEPPER "password:\n  pepper_file: pepper\n"
#define TENANT1 "tenants:\n  - id: 1\n    name: one\n    domains: [one.example]\n"
#define KEY1 "keys:\n  - kid: k1\n    alg: ES256\n    file: k1.pem\n"
#define MINIMAL PEPPER TENANT1 KEY1
/* The smallest oidc: section that loads: introspection is on by default and needs a client. */
#define OIDC_HEAD "oidc:\n  authority: https://idp.example\n"
#define OIDC_CLIENT "  introspection:\n    client_id: identityd\n    client_secret_file: secret\n"
#define OIDC_MINIMAL OIDC_HEAD OIDC_CLIENT

START_TEST(full_config_is_loaded)
{
    idd_config_t *cfg =
        load_ok("listen: [\"127.0.0.1:0\", \"[::1]:9443\"]\n"
                "threads: 0\n"
                "database: db/identity.db\n"
                "workers: 8\n"
                "token: {ttl: 600}\n"
                "password:\n  iterations: 200000\n  pepper_file: /etc/identityd/pepper\n"
                "basic_cache:\n  ttl: 0\n"
                "tenants:\n"
                "  - id: 7\n    name: Seven\n    domains: [Seven.Example.COM, seven.local]\n"
                "    origins: [\"HTTPS://Seven.Example.com\", \"http://[::1]:8080\"]\n"
                "  - id: 9\n    name: nine\n    domains: [\"::1\"]\n"
                "trusted_proxies: [10.0.0.0/8, \"::1\"]\n"
                "keys:\n"
                "  - {kid: es, alg: ES256, file: keys/es.pem}\n"
                "  - {kid: rs, alg: RS256, file: keys/rs.pem, state: published}\n"
                "  - {kid: ed, alg: EdDSA, file: keys/ed.pem, state: published}\n"
                "  - {kid: hs, alg: HS256, machine_key: m4chine, state: published}\n"
                "  - {kid: hs2, alg: HS256, machine_key_file: mk, state: published}\n"
                "log_level: debug\n"
                "limits: {max_header_bytes: 2048, max_body_bytes: 1048576}\n"
                "session: {ttl: 3600, browser_ttl: 60}\n"
                "bruteforce:\n  attempts: 1000\n  window: 86400\n  block: 1\n"
                "  slots: 1048576\n");
    char want[PATH_MAX + 64];

    ck_assert_str_eq(cfg->dir, realdir);
    ck_assert_ptr_nonnull(strstr(cfg->path, "identityd.yaml"));
    ck_assert_uint_eq(cfg->n_listen, 2);
    ck_assert_str_eq(cfg->listen[0].host, "127.0.0.1");
    ck_assert_uint_eq(cfg->listen[0].port, 0);
    ck_assert_int_eq(cfg->listen[0].line, 1);
    ck_assert_str_eq(cfg->listen[1].host, "::1");
    ck_assert_uint_eq(cfg->listen[1].port, 9443);
    ck_assert_int_ge(cfg->threads, 1);
    snprintf(want, sizeof(want), "%s/db/identity.db", realdir);
    ck_assert_str_eq(cfg->database, want);
    ck_assert_int_eq(cfg->workers, 8);
    ck_assert_int_eq(cfg->token_ttl, 600);
    ck_assert_uint_eq(cfg->password_iterations, 200000);
    ck_assert_str_eq(cfg->pepper_file, "/etc/identityd/pepper");
    ck_assert_int_eq(cfg->basic_cache_ttl, 0);

    ck_assert_uint_eq(cfg->n_tenants, 2);
    const idd_tenant_config_t *t = &cfg->tenants[0];
    ck_assert_int_eq(t->id, 7);
    ck_assert_str_eq(t->name, "Seven");
    ck_assert_uint_eq(t->n_domains, 2);
    ck_assert_str_eq(t->domains[0], "seven.example.com");
    ck_assert_str_eq(t->domains[1], "seven.local");
    ck_assert_uint_eq(t->n_origins, 2);
    ck_assert_str_eq(t->origins[0], "https://seven.example.com");
    ck_assert_str_eq(t->origins[1], "http://[::1]:8080");
    ck_assert_int_eq(t->line, 12);
    ck_assert_int_eq(cfg->tenants[1].id, 9);
    ck_assert_uint_eq(cfg->tenants[1].n_origins, 0);
    ck_assert_ptr_null(cfg->tenants[1].origins);

    ck_assert_uint_eq(cfg->n_trusted_proxies, 2);
    ck_assert_int_eq(cfg->trusted_proxies[0].family, AF_INET);
    ck_assert_uint_eq(cfg->trusted_proxies[0].prefix, 8);
    ck_assert_int_eq(cfg->trusted_proxies[1].family, AF_INET6);
    ck_assert_uint_eq(cfg->trusted_proxies[1].prefix, 128);

    ck_assert_uint_eq(cfg->n_keys, 5);
    ck_assert_str_eq(cfg->keys[0].kid, "es");
    ck_assert_int_eq(cfg->keys[0].alg, IDD_ALG_ES256);
    ck_assert_int_eq(cfg->keys[0].state, IDD_KEY_ACTIVE);
    snprintf(want, sizeof(want), "%s/keys/es.pem", realdir);
    ck_assert_str_eq(cfg->keys[0].file, want);
    ck_assert_int_eq(cfg->keys[0].line, 21);
    ck_assert_int_eq(cfg->keys[1].alg, IDD_ALG_RS256);
    ck_assert_int_eq(cfg->keys[1].state, IDD_KEY_PUBLISHED);
    ck_assert_int_eq(cfg->keys[2].alg, IDD_ALG_EDDSA);
    ck_assert_int_eq(cfg->keys[3].alg, IDD_ALG_HS256);
    ck_assert_ptr_null(cfg->keys[3].file);
    ck_assert_str_eq(cfg->keys[3].machine_key, "m4chine");
    snprintf(want, sizeof(want), "%s/mk", realdir);
    ck_assert_str_eq(cfg->keys[4].machine_key_file, want);
    ck_assert_ptr_null(cfg->keys[4].machine_key);

    ck_assert_int_eq(cfg->log_level, IDD_LOG_DEBUG);
    ck_assert_uint_eq(cfg->max_header_bytes, 2048);
    ck_assert_uint_eq(cfg->max_body_bytes, 1048576);
    ck_assert_int_eq(cfg->session_ttl, 3600);
    ck_assert_int_eq(cfg->session_browser_ttl, 60);
    ck_assert_int_eq(cfg->bruteforce_attempts, 1000);
    ck_assert_int_eq(cfg->bruteforce_window, 86400);
    ck_assert_int_eq(cfg->bruteforce_block, 1);
    ck_assert_int_eq(cfg->bruteforce_slots, 1048576);
    idd_config_free(cfg);
}
END_TEST

START_TEST(defaults_are_applied)
{
    idd_config_t *cfg = load_ok(MINIMAL);
    char want[PATH_MAX + 64];
    ck_assert_uint_eq(cfg->n_listen, 1);
    ck_assert_str_eq(cfg->listen[0].host, "127.0.0.1");
    ck_assert_uint_eq(cfg->listen[0].port, 8092);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    ck_assert_int_eq(cfg->threads, cores < 1 ? 1 : (int)cores);
    snprintf(want, sizeof(want), "%s/identity.db", realdir);
    ck_assert_str_eq(cfg->database, want);
    snprintf(want, sizeof(want), "%s/pepper", realdir);
    ck_assert_str_eq(cfg->pepper_file, want);
    ck_assert_int_eq(cfg->workers, 2);
    ck_assert_int_eq(cfg->token_ttl, 300);
    ck_assert_uint_eq(cfg->password_iterations, 100000);
    ck_assert_int_eq(cfg->basic_cache_ttl, 60);
    ck_assert_uint_eq(cfg->n_trusted_proxies, 0);
    ck_assert_int_eq(cfg->log_level, IDD_LOG_INFO);
    ck_assert_uint_eq(cfg->max_header_bytes, 16384);
    ck_assert_uint_eq(cfg->max_body_bytes, 65536);
    ck_assert_int_eq(cfg->session_ttl, 2592000);
    ck_assert_int_eq(cfg->session_browser_ttl, 43200);
    ck_assert_int_eq(cfg->bruteforce_attempts, 5);
    ck_assert_int_eq(cfg->bruteforce_window, 60);
    ck_assert_int_eq(cfg->bruteforce_block, 60);
    ck_assert_int_eq(cfg->bruteforce_slots, 65536);
    ck_assert_int_eq(cfg->keys[0].state, IDD_KEY_ACTIVE);
    ck_assert_uint_eq(cfg->tenants[0].n_origins, 0);
    idd_config_free(cfg);
}
END_TEST

START_TEST(explicit_threads_are_kept)
{
    idd_config_t *cfg = load_ok("threads: 3\n" MINIMAL);
    ck_assert_int_eq(cfg->threads, 3);
    idd_config_free(cfg);
}
END_TEST

/* The number of the line that follows text (which ends with a newline). */
static int line_after(const char *text)
{
    int line = 1;
    for (const char *p = text; *p; p++)
        line += *p == '\n';
    return line;
}

START_TEST(oidc_absent_is_disabled)
{
    idd_config_t *cfg = load_ok(MINIMAL);
    const idd_oidc_config_t *o = &cfg->oidc;
    ck_assert(!o->enabled);
    ck_assert_ptr_null(o->authority);
    ck_assert_ptr_null(o->client_id);
    ck_assert_ptr_null(o->client_secret_file);
    ck_assert_uint_eq(o->n_audience, 0);
    ck_assert_int_eq(o->line, 0);
    /* The numbers still hold their defaults, so no reader ever sees a zero timeout. */
    ck_assert_uint_eq(o->algorithms, IDD_JWA_ES256 | IDD_JWA_RS256);
    ck_assert_int_eq(o->connect_timeout, 2);
    ck_assert_int_eq(o->total_timeout, 5);
    ck_assert_int_eq(o->jwks_max_age, 3600);
    ck_assert(!o->allow_http);
    idd_config_free(cfg);
}
END_TEST

START_TEST(oidc_defaults_are_applied)
{
    idd_config_t *cfg = load_ok(MINIMAL OIDC_MINIMAL);
    const idd_oidc_config_t *o = &cfg->oidc;
    char want[PATH_MAX + 64];
    ck_assert(o->enabled);
    ck_assert_int_eq(o->line, line_after(MINIMAL));
    ck_assert_str_eq(o->authority, "https://idp.example");
    ck_assert_uint_eq(o->algorithms, IDD_JWA_ES256 | IDD_JWA_RS256);
    ck_assert_uint_eq(o->n_audience, 0);
    ck_assert_ptr_null(o->audience);
    ck_assert_int_eq(o->clock_skew, 120);
    ck_assert_str_eq(o->user_claim, "sub");
    ck_assert(o->introspection_enabled);
    ck_assert(o->introspection_jwt);
    ck_assert_str_eq(o->client_id, "identityd");
    snprintf(want, sizeof(want), "%s/secret", realdir);
    ck_assert_str_eq(o->client_secret_file, want);
    ck_assert_int_eq(o->cache_ttl, 60);
    ck_assert_int_eq(o->negative_ttl, 5);
    ck_assert_int_eq(o->jwks_min_refresh, 30);
    ck_assert_int_eq(o->jwks_max_age, 3600);
    ck_assert_int_eq(o->connect_timeout, 2);
    ck_assert_int_eq(o->total_timeout, 5);
    ck_assert(!o->allow_http);
    idd_config_free(cfg);
}
END_TEST

START_TEST(oidc_full_section_is_loaded)
{
    idd_config_t *cfg =
        load_ok(MINIMAL "oidc:\n"
                        "  allow_http: true\n"
                        "  user_claim: email\n"
                        "  authority: http://127.0.0.1:9000/realms/dev/\n"
                        "  algorithms: [PS256, EdDSA, RS256]\n"
                        "  audience:\n    - docspace\n    - \"https://docs.example.com\"\n"
                        "  clock_skew: 0\n"
                        "  introspection:\n    enabled: false\n    jwt: false\n"
                        "    client_id: \"id:x\"\n    client_secret_file: /etc/identityd/oidc\n"
                        "    cache_ttl: 3600\n    negative_ttl: 0\n"
                        "  jwks: {min_refresh: 3600, max_age: 86400}\n"
                        "  timeouts:\n    connect: 60\n    total: 120\n");
    const idd_oidc_config_t *o = &cfg->oidc;
    ck_assert(o->enabled);
    ck_assert(o->allow_http);
    ck_assert_str_eq(o->user_claim, "email");
    ck_assert_str_eq(o->authority, "http://127.0.0.1:9000/realms/dev");
    ck_assert_uint_eq(o->algorithms, IDD_JWA_PS256 | IDD_JWA_EDDSA | IDD_JWA_RS256);
    ck_assert_uint_eq(o->n_audience, 2);
    ck_assert_str_eq(o->audience[0], "docspace");
    ck_assert_str_eq(o->audience[1], "https://docs.example.com");
    ck_assert_int_eq(o->clock_skew, 0);
    ck_assert(!o->introspection_enabled);
    ck_assert(!o->introspection_jwt);
    ck_assert_str_eq(o->client_id, "id:x");
    ck_assert_str_eq(o->client_secret_file, "/etc/identityd/oidc");
    ck_assert_int_eq(o->cache_ttl, 3600);
    ck_assert_int_eq(o->negative_ttl, 0);
    ck_assert_int_eq(o->jwks_min_refresh, 3600);
    ck_assert_int_eq(o->jwks_max_age, 86400);
    ck_assert_int_eq(o->connect_timeout, 60);
    ck_assert_int_eq(o->total_timeout, 120);
    ck_assert_int_eq(o->line, line_after(MINIMAL));
    idd_config_free(cfg);
}
END_TEST

/* The section's booleans are neighbours in the struct: setting one must not touch another. */
START_TEST(oidc_booleans_do_not_overlap)
{
    idd_config_t *cfg = load_ok(MINIMAL OIDC_MINIMAL "    jwt: false\n  allow_http: true\n");
    ck_assert(cfg->oidc.enabled);
    ck_assert(cfg->oidc.introspection_enabled);
    ck_assert(!cfg->oidc.introspection_jwt);
    ck_assert(cfg->oidc.allow_http);
    idd_config_free(cfg);
    cfg = load_ok(MINIMAL OIDC_HEAD "  introspection:\n    enabled: false\n    jwt: true\n");
    ck_assert(cfg->oidc.enabled);
    ck_assert(!cfg->oidc.introspection_enabled);
    ck_assert(cfg->oidc.introspection_jwt);
    ck_assert(!cfg->oidc.allow_http);
    ck_assert_ptr_null(cfg->oidc.client_id);
    idd_config_free(cfg);
    /* Written in this order, an int-sized store of `enabled` would zero `jwt` after it. */
    cfg = load_ok(MINIMAL OIDC_HEAD "  introspection:\n    jwt: true\n    enabled: false\n");
    ck_assert(!cfg->oidc.introspection_enabled);
    ck_assert(cfg->oidc.introspection_jwt);
    idd_config_free(cfg);
}
END_TEST

START_TEST(oidc_authority_trailing_slash_is_stripped)
{
    static const struct {
        const char *written, *kept;
    } cases[] = {
        {"https://idp.example/", "https://idp.example"},
        {"https://idp.example/realms/docspace/", "https://idp.example/realms/docspace"},
        {"https://idp.example/realms/docspace", "https://idp.example/realms/docspace"},
        {"https://idp.example:8443", "https://idp.example:8443"},
        {"https://idp.example//", "https://idp.example/"}, /* one slash, not all of them */
    };
    for (size_t i = 0; i < IDD_ARRAY_LEN(cases); i++) {
        char yaml[512];
        snprintf(yaml, sizeof(yaml), MINIMAL "oidc:\n  authority: \"%s\"\n" OIDC_CLIENT,
                 cases[i].written);
        idd_config_t *cfg = load_ok(yaml);
        ck_assert_str_eq(cfg->oidc.authority, cases[i].kept);
        idd_config_free(cfg);
    }
}
END_TEST

/* allow_http is read before the authority is judged, wherever it is written. */
START_TEST(oidc_http_authority_needs_allow_http)
{
    idd_config_t *cfg = load_ok(MINIMAL "oidc:\n  authority: http://127.0.0.1:9000/\n" OIDC_CLIENT
                                        "  allow_http: true\n");
    ck_assert_str_eq(cfg->oidc.authority, "http://127.0.0.1:9000");
    ck_assert(cfg->oidc.allow_http);
    idd_config_free(cfg);
    /* allow_http does not make https:// wrong. */
    cfg = load_ok(MINIMAL OIDC_MINIMAL "  allow_http: true\n");
    ck_assert_str_eq(cfg->oidc.authority, "https://idp.example");
    idd_config_free(cfg);
}
END_TEST

START_TEST(oidc_every_algorithm_name)
{
    static const struct {
        const char *name;
        unsigned bit;
    } algs[] = {{"RS256", IDD_JWA_RS256},
                {"ES256", IDD_JWA_ES256},
                {"PS256", IDD_JWA_PS256},
                {"EdDSA", IDD_JWA_EDDSA}};
    for (size_t i = 0; i < IDD_ARRAY_LEN(algs); i++) {
        char yaml[512];
        snprintf(yaml, sizeof(yaml), MINIMAL OIDC_MINIMAL "  algorithms: [%s]\n", algs[i].name);
        idd_config_t *cfg = load_ok(yaml);
        ck_assert_uint_eq(cfg->oidc.algorithms, algs[i].bit);
        idd_config_free(cfg);
    }
}
END_TEST

/* Each case: a whole file, the line "#<" marks (0: no line), and a part of the message. */
static const struct bad_case {
    const char *what, *yaml, *message;
} bad_cases[] = {
    {"unknown top-level key", MINIMAL "foo: 1 #<\n", "unknown key 'foo'"},
    {"unknown nested key", "token:\n  ttl: 300\n  tll: 30 #<\n" MINIMAL, "unknown key 'token.tll'"},
    {"unknown key in a tenant",
     PEPPER KEY1 "tenants:\n  - id: 1\n    name: a\n"
                 "    domains: [a]\n    colour: red #<\n",
     "unknown key 'tenants[0].colour'"},
    {"string where an integer goes", MINIMAL "token:\n  ttl: soon #<\n",
     "token.ttl: 'soon' is not an integer"},
    {"list where an integer goes", MINIMAL "workers: [1, 2] #<\n", "workers: expected a scalar"},
    {"scalar where a section goes", MINIMAL "token: 300 #<\n", "token: expected a mapping"},
    {"token.ttl below its minimum", "token:\n  ttl: 5 #<\n" MINIMAL,
     "token.ttl: '5' is out of range (30..86400)"},
    {"threads above its maximum", MINIMAL "threads: 257 #<\n",
     "threads: '257' is out of range (0..256)"},
    {"integer overflow", MINIMAL "workers: 99999999999999999999999 #<\n", "is not an integer"},
    {"bad log level", MINIMAL "log_level: verbose #<\n",
     "'verbose' is not one of error, warn, info, debug"},
    {"listen host that is a name",
     "listen:\n  - \"127.0.0.1:1\"\n  - \"localhost:8092\" #<\n" MINIMAL,
     "'localhost' in 'localhost:8092' is not a numeric IPv4 or IPv6 address"},
    {"listen IPv6 without brackets", "listen: [\"::1:8092\"] #<\n" MINIMAL, "brackets"},
    {"listen port too large", "listen: [\"127.0.0.1:65536\"] #<\n" MINIMAL, "port"},
    {"listen without port", "listen: [\"127.0.0.1\"] #<\n" MINIMAL, "host:port"},
    {"empty listen", "listen: [] #<\n" MINIMAL, "at least one address"},
    {"listen tls without key_file",
     "listen:\n  - address: \"127.0.0.1:1\"\n    tls: #<\n      cert_file: s.pem\n" MINIMAL,
     "listen[0].tls: both cert_file and key_file are required"},
    {"listen tls bad min_version",
     "listen:\n  - { address: \"127.0.0.1:1\", tls: { cert_file: s.pem, key_file: s.key,"
     " min_version: TLSv1.1 } } #<\n" MINIMAL,
     "listen[0].tls.min_version: 'TLSv1.1' is not one of TLSv1.2, TLSv1.3"},
    {"listen mapping without address", "listen:\n  - { tls: { cert_file: s.pem } } #<\n" MINIMAL,
     "listen[0].address"},
    {"listen tls unknown key",
     "listen:\n  - address: \"127.0.0.1:1\"\n    tls:\n      cert_file: s.pem\n"
     "      key_file: s.key\n      ciphers: ALL #<\n" MINIMAL,
     "unknown key 'listen[0].tls.ciphers'"},
    {"listen mapping repeats an address",
     "listen:\n  - \"127.0.0.1:8443\"\n  - { address: \"127.0.0.1:8443\" } #<\n" MINIMAL,
     "is listed twice"},
    {"duplicate tenant id",
     PEPPER KEY1 TENANT1 "  - id: 1 #<\n    name: again\n"
                         "    domains: [two.example]\n",
     "tenant id 1 is already used at line"},
    {"domain of two tenants",
     PEPPER KEY1 TENANT1 "  - id: 2\n    name: two\n"
                         "    domains: [ONE.example] #<\n",
     "'one.example' is already a domain"},
    {"tenant without domains", PEPPER KEY1 "tenants:\n  - id: 1 #<\n    name: a\n",
     "missing required key 'tenants[0].domains'"},
    {"origin with a trailing slash",
     PEPPER KEY1 TENANT1 "    origins:\n"
                         "      - https://one.example/ #<\n",
     "is not an origin"},
    {"origin with another scheme", PEPPER KEY1 TENANT1 "    origins: [ftp://one.example] #<\n",
     "is not an origin"},
    {"tenant id zero", PEPPER KEY1 "tenants:\n  - id: 0 #<\n    name: a\n    domains: [a]\n",
     "tenants[0].id: '0' is out of range"},
    {"no tenants", PEPPER KEY1, "at least one tenant is required"},
    {"missing pepper file", "password: #<\n  iterations: 100000\n" TENANT1 KEY1,
     "missing required key 'password.pepper_file'"},
    {"duplicate kid",
     PEPPER TENANT1 KEY1 "  - kid: k1 #<\n    alg: RS256\n    file: r.pem\n"
                         "    state: published\n",
     "kid: 'k1' is already used"},
    {"two active keys",
     PEPPER TENANT1 KEY1 "  - kid: k2\n    alg: EdDSA\n    file: e.pem\n"
                         "    state: active #<\n",
     "a second active key"},
    {"no active key",
     PEPPER TENANT1 "keys:\n  - kid: k1 #<\n    alg: ES256\n    file: k.pem\n"
                    "    state: published\n",
     "no key is active"},
    {"no keys", PEPPER TENANT1 "keys: [] #<\n", "at least one key is required"},
    {"HS256 with a file",
     PEPPER TENANT1 "keys:\n  - kid: hs\n    alg: HS256\n"
                    "    machine_key_file: mk\n    file: hs.pem #<\n",
     "HS256"},
    {"HS256 with both machine keys",
     PEPPER TENANT1 "keys:\n  - kid: hs\n    alg: HS256\n"
                    "    machine_key: abc\n    machine_key_file: mk #<\n",
     "not both"},
    {"HS256 with no machine key", PEPPER TENANT1 "keys:\n  - kid: hs #<\n    alg: HS256\n",
     "needs machine_key or machine_key_file"},
    {"ES256 without a file", PEPPER TENANT1 "keys:\n  - kid: es #<\n    alg: ES256\n",
     "needs 'file'"},
    {"lowercase alg", PEPPER TENANT1 "keys:\n  - kid: es\n    alg: es256 #<\n    file: f\n",
     "'es256' is not one of HS256, ES256, RS256, EdDSA"},
    /* PS256 is in the table of names, but only for external tokens: identityd never signs with it.
     */
    {"PS256 key", PEPPER TENANT1 "keys:\n  - kid: ps\n    alg: PS256 #<\n    file: f\n",
     "'PS256' is not one of HS256, ES256, RS256, EdDSA"},
    {"bad kid", PEPPER TENANT1 "keys:\n  - kid: \"a b\" #<\n    alg: ES256\n    file: f\n",
     "not a valid kid"},
    {"bad trusted proxy", MINIMAL "trusted_proxies: [10.0.0.0/33] #<\n",
     "'10.0.0.0/33' is not an address or network"},
    {"session.ttl below its minimum", MINIMAL "session:\n  ttl: 59 #<\n",
     "session.ttl: '59' is out of range (60..31536000)"},
    {"session.ttl above its maximum", "session:\n  ttl: 31536001 #<\n" MINIMAL,
     "session.ttl: '31536001' is out of range (60..31536000)"},
    {"session.browser_ttl below its minimum",
     MINIMAL "session:\n  ttl: 3600\n  browser_ttl: 0 #<\n",
     "session.browser_ttl: '0' is out of range (60..31536000)"},
    {"session.browser_ttl that is not a number", MINIMAL "session: {browser_ttl: 12h} #<\n",
     "session.browser_ttl: '12h' is not an integer"},
    {"bruteforce.attempts zero", MINIMAL "bruteforce:\n  attempts: 0 #<\n",
     "bruteforce.attempts: '0' is out of range (1..1000)"},
    {"bruteforce.attempts above its maximum", MINIMAL "bruteforce:\n  attempts: 1001 #<\n",
     "bruteforce.attempts: '1001' is out of range (1..1000)"},
    {"bruteforce.window zero", "bruteforce:\n  attempts: 5\n  window: 0 #<\n" MINIMAL,
     "bruteforce.window: '0' is out of range (1..86400)"},
    {"bruteforce.window above a day", MINIMAL "bruteforce:\n  window: 86401 #<\n",
     "bruteforce.window: '86401' is out of range (1..86400)"},
    {"bruteforce.block negative", MINIMAL "bruteforce:\n  block: -60 #<\n",
     "bruteforce.block: '-60' is out of range (1..86400)"},
    {"bruteforce.block above a day", MINIMAL "bruteforce:\n  block: 86401 #<\n",
     "bruteforce.block: '86401' is out of range (1..86400)"},
    {"bruteforce.slots below its minimum", MINIMAL "bruteforce:\n  slots: 63 #<\n",
     "bruteforce.slots: '63' is out of range (64..1048576)"},
    {"bruteforce.slots above its maximum", MINIMAL "bruteforce:\n  slots: 1048577 #<\n",
     "bruteforce.slots: '1048577' is out of range (64..1048576)"},
    {"unknown bruteforce key", MINIMAL "bruteforce:\n  attempts: 5\n  tries: 3 #<\n",
     "unknown key 'bruteforce.tries'"},
    {"duplicate key", MINIMAL "workers: 2\nworkers: 3 #<\n", "duplicate key 'workers'"},
    {"YAML syntax error", MINIMAL "workers: 2: 3 #<\n", "YAML syntax error"},
    {"YAML undefined alias", MINIMAL "workers: *nope #<\n", "YAML syntax error"},
    {"top level is a list", "- a #<\n- b\n", "top level must be a mapping"},
    {"two documents", MINIMAL "---\nworkers: 3 #<\n", "only one YAML document"},
    /* oidc: every bound, every refusal, each naming its line. */
    {"oidc.clock_skew above its maximum", MINIMAL OIDC_MINIMAL "  clock_skew: 601 #<\n",
     "oidc.clock_skew: '601' is out of range (0..600)"},
    {"oidc.clock_skew negative", MINIMAL OIDC_MINIMAL "  clock_skew: -1 #<\n",
     "oidc.clock_skew: '-1' is out of range (0..600)"},
    {"oidc.introspection.cache_ttl above its maximum",
     MINIMAL OIDC_MINIMAL "    cache_ttl: 3601 #<\n",
     "oidc.introspection.cache_ttl: '3601' is out of range (0..3600)"},
    {"oidc.introspection.cache_ttl negative", MINIMAL OIDC_MINIMAL "    cache_ttl: -1 #<\n",
     "oidc.introspection.cache_ttl: '-1' is out of range (0..3600)"},
    {"oidc.introspection.negative_ttl above its maximum",
     MINIMAL OIDC_MINIMAL "    negative_ttl: 601 #<\n",
     "oidc.introspection.negative_ttl: '601' is out of range (0..600)"},
    {"oidc.introspection.negative_ttl negative", MINIMAL OIDC_MINIMAL "    negative_ttl: -5 #<\n",
     "oidc.introspection.negative_ttl: '-5' is out of range (0..600)"},
    {"cache_ttl belongs under introspection", MINIMAL OIDC_MINIMAL "  cache_ttl: 60 #<\n",
     "unknown key 'oidc.cache_ttl'"},
    {"oidc.jwks.min_refresh zero", MINIMAL OIDC_MINIMAL "  jwks:\n    min_refresh: 0 #<\n",
     "oidc.jwks.min_refresh: '0' is out of range (1..3600)"},
    {"oidc.jwks.min_refresh above its maximum",
     MINIMAL OIDC_MINIMAL "  jwks:\n    min_refresh: 3601 #<\n",
     "oidc.jwks.min_refresh: '3601' is out of range (1..3600)"},
    {"oidc.jwks.max_age below its minimum", MINIMAL OIDC_MINIMAL "  jwks: {max_age: 59} #<\n",
     "oidc.jwks.max_age: '59' is out of range (60..86400)"},
    {"oidc.jwks.max_age above its maximum", MINIMAL OIDC_MINIMAL "  jwks:\n    max_age: 86401 #<\n",
     "oidc.jwks.max_age: '86401' is out of range (60..86400)"},
    {"oidc.timeouts.connect zero", MINIMAL OIDC_MINIMAL "  timeouts:\n    connect: 0 #<\n",
     "oidc.timeouts.connect: '0' is out of range (1..60)"},
    {"oidc.timeouts.connect above its maximum",
     MINIMAL OIDC_MINIMAL "  timeouts:\n    connect: 61 #<\n    total: 120\n",
     "oidc.timeouts.connect: '61' is out of range (1..60)"},
    {"oidc.timeouts.total zero", MINIMAL OIDC_MINIMAL "  timeouts:\n    total: 0 #<\n",
     "oidc.timeouts.total: '0' is out of range (1..120)"},
    {"oidc.timeouts.total above its maximum",
     MINIMAL OIDC_MINIMAL "  timeouts:\n    total: 121 #<\n",
     "oidc.timeouts.total: '121' is out of range (1..120)"},
    {"oidc connect timeout longer than the total",
     MINIMAL OIDC_MINIMAL "  timeouts:\n    connect: 10 #<\n    total: 5\n",
     "oidc.timeouts.connect (10) must not exceed oidc.timeouts.total (5)"},
    {"oidc HS256 algorithm", MINIMAL OIDC_MINIMAL "  algorithms:\n    - ES256\n    - HS256 #<\n",
     "oidc.algorithms: 'HS256' is never accepted"},
    {"oidc HS512 algorithm", MINIMAL OIDC_MINIMAL "  algorithms: [HS512] #<\n",
     "oidc.algorithms: 'HS512' is never accepted"},
    {"oidc none algorithm", MINIMAL OIDC_MINIMAL "  algorithms:\n    - none #<\n    - RS256\n",
     "oidc.algorithms: 'none' is never accepted"},
    {"oidc unknown algorithm", MINIMAL OIDC_MINIMAL "  algorithms: [RS256, ES384] #<\n",
     "oidc.algorithms: 'ES384' is not one of RS256, ES256, PS256, EdDSA"},
    {"oidc lowercase algorithm", MINIMAL OIDC_MINIMAL "  algorithms: [rs256] #<\n",
     "'rs256' is not one of"},
    {"oidc empty algorithm list", MINIMAL OIDC_MINIMAL "  algorithms: [] #<\n",
     "oidc.algorithms: at least one algorithm is required"},
    {"oidc algorithms not a list", MINIMAL OIDC_MINIMAL "  algorithms: RS256 #<\n",
     "oidc.algorithms: expected a list"},
    {"oidc empty audience", MINIMAL OIDC_MINIMAL "  audience: [docspace, \"\"] #<\n",
     "oidc.audience: an audience must not be empty"},
    {"oidc http authority without allow_http",
     MINIMAL "oidc:\n  authority: http://127.0.0.1:9000 #<\n" OIDC_CLIENT,
     "oidc.authority: 'http://127.0.0.1:9000' is plain http://"},
    {"oidc http authority with allow_http false",
     MINIMAL "oidc:\n  allow_http: false\n  authority: http://idp.example #<\n" OIDC_CLIENT,
     "is plain http://"},
    {"oidc ftp authority", MINIMAL "oidc:\n  authority: ftp://idp.example #<\n" OIDC_CLIENT,
     "oidc.authority: 'ftp://idp.example' must start with https://"},
    {"oidc authority without a scheme", MINIMAL "oidc:\n  authority: idp.example #<\n" OIDC_CLIENT,
     "must start with https://"},
    {"oidc authority without a host", MINIMAL "oidc:\n  authority: https:// #<\n" OIDC_CLIENT,
     "has no host"},
    {"oidc authority of a lone slash", MINIMAL "oidc:\n  authority: https:/// #<\n" OIDC_CLIENT,
     "has no host"},
    {"oidc authority with a query",
     MINIMAL "oidc:\n  authority: https://idp.example/?tenant=1 #<\n" OIDC_CLIENT,
     "must not have a query or a fragment"},
    {"oidc authority with a space",
     MINIMAL "oidc:\n  authority: \"https://idp.example /x\" #<\n" OIDC_CLIENT, "contains a space"},
    {"oidc without an authority", MINIMAL "oidc: #<\n" OIDC_CLIENT,
     "missing required key 'oidc.authority'"},
    {"oidc section that is empty", MINIMAL "oidc: #<\n", "missing required key 'oidc.authority'"},
    {"oidc section that is a list", MINIMAL "oidc: [https://idp.example] #<\n",
     "oidc: expected a mapping"},
    {"oidc introspection without client_id",
     MINIMAL OIDC_HEAD "  introspection: #<\n    client_secret_file: secret\n",
     "missing required key 'oidc.introspection.client_id'"},
    {"oidc introspection without client_secret_file",
     MINIMAL OIDC_HEAD "  introspection: #<\n    enabled: true\n    client_id: identityd\n",
     "missing required key 'oidc.introspection.client_secret_file'"},
    {"oidc introspection on by default without a client",
     MINIMAL "oidc: #<\n"
             "  authority: https://idp.example\n",
     "missing required key 'oidc.introspection.client_id'"},
    {"oidc introspection.enabled not a boolean",
     MINIMAL OIDC_HEAD "  introspection:\n    enabled: yes #<\n    client_id: a\n"
                       "    client_secret_file: s\n",
     "oidc.introspection.enabled: 'yes' is not one of false, true"},
    {"oidc introspection.jwt not a boolean",
     MINIMAL OIDC_HEAD "  introspection:\n    client_id: a\n    client_secret_file: s\n"
                       "    jwt: maybe #<\n",
     "oidc.introspection.jwt: 'maybe' is not one of false, true"},
    {"oidc allow_http not a boolean", MINIMAL OIDC_MINIMAL "  allow_http: 1 #<\n",
     "oidc.allow_http: '1' is not one of false, true"},
    {"oidc bad user_claim", MINIMAL OIDC_MINIMAL "  user_claim: name #<\n",
     "oidc.user_claim: 'name' is not one of sub, email"},
    {"oidc client_id with a newline",
     MINIMAL OIDC_HEAD "  introspection:\n    client_id: \"a\\nb\" #<\n"
                       "    client_secret_file: s\n",
     "oidc.introspection.client_id"},
    {"oidc unknown key", MINIMAL OIDC_MINIMAL "  issuer: https://idp.example #<\n",
     "unknown key 'oidc.issuer'"},
    {"oidc unknown nested key", MINIMAL OIDC_MINIMAL "  jwks:\n    refresh: 5 #<\n",
     "unknown key 'oidc.jwks.refresh'"},
    {"oidc client_secret inline", MINIMAL OIDC_MINIMAL "  client_secret: s3cret #<\n",
     "unknown key 'oidc.client_secret'"},
};

START_TEST(errors_name_the_line)
{
    const struct bad_case *c = &bad_cases[_i];
    char err[512] = "", want[PATH_MAX + 64];
    load_bad(c->yaml, err, sizeof(err));
    int line = marked_line(c->yaml);
    if (line > 0)
        snprintf(want, sizeof(want), "%s/identityd.yaml:%d: ", tmpdir, line);
    else
        snprintf(want, sizeof(want), "%s/identityd.yaml: ", tmpdir);
    ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "%s: '%s' does not start with '%s'",
                  c->what, err, want);
    ck_assert_msg(strstr(err, c->message) != NULL, "%s: '%s' lacks '%s'", c->what, err, c->message);
}
END_TEST

/*
 * An operator pastes a config into a ticket or a CI log shows identityd's stderr: the error
 * text must never carry the machine key, or whoever reads it can mint DocSpace tokens. Each
 * case puts the secret where validation fails near it.
 */
START_TEST(sensitive_values_are_not_echoed)
{
    static const struct {
        const char *yaml, *message;
    } cases[] = {
        {PEPPER TENANT1 "keys:\n  - kid: es\n    alg: ES256\n    file: f\n"
                        "    machine_key: S3cr3t-M4chine-K3y\n",
         "only for HS256"},
        {PEPPER TENANT1 "keys:\n  - kid: hs\n    alg: HS256\n    machine_key: S3cr3t-M4chine-K3y\n"
                        "    machine_key_file: mk\n",
         "not both"},
        {PEPPER TENANT1 "keys:\n  - kid: hs\n    alg: HS256\n    machine_key: S3cr3t-M4chine-K3y\n"
                        "    file: f\n",
         "is HS256"},
        {PEPPER TENANT1 "keys:\n  - kid: hs\n    alg: HS256\n"
                        "    machine_key: [S3cr3t-M4chine-K3y]\n",
         "expected a scalar"},
        /* The value fails the key's own validation: the message must name the key only. */
        {PEPPER TENANT1 "keys:\n  - kid: hs\n    alg: HS256\n"
                        "    machine_key: \"S3cr3t-M4chine-K3y\\n\"\n",
         "keys[0].machine_key: contains a control character"},
        {PEPPER TENANT1 "keys:\n  - kid: hs\n    alg: HS256\n    machine_key: S3cr3t-M4chine-K3y\n"
                        "  - kid: hs\n    alg: HS256\n    machine_key: S3cr3t-M4chine-K3y\n"
                        "    state: published\n",
         "'hs' is already used"},
    };
    for (size_t i = 0; i < IDD_ARRAY_LEN(cases); i++) {
        char err[512] = "";
        load_bad(cases[i].yaml, err, sizeof(err));
        ck_assert_msg(strstr(err, "S3cr3t") == NULL, "case %zu echoes the secret: %s", i, err);
        ck_assert_msg(strstr(err, cases[i].message) != NULL, "case %zu: '%s' lacks '%s'", i, err,
                      cases[i].message);
    }
}
END_TEST

START_TEST(missing_file_is_an_io_error)
{
    char path[PATH_MAX + 32], err[256] = "";
    snprintf(path, sizeof(path), "%s/absent.yaml", tmpdir);
    idd_config_t *cfg = (idd_config_t *)&cfg;
    ck_assert_int_eq(idd_config_load(path, &cfg, err, sizeof(err)), IDD_EIO);
    ck_assert_ptr_null(cfg);
    ck_assert_ptr_nonnull(strstr(err, "absent.yaml"));
}
END_TEST

START_TEST(relative_config_path_resolves_against_its_folder)
{
    char path[PATH_MAX + 32], err[256] = "", want[PATH_MAX + 64];
    char cwd[PATH_MAX];
    write_file("identityd.yaml", MINIMAL, path, sizeof(path));
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
    ck_assert_int_eq(chdir(tmpdir), 0);
    idd_config_t *cfg = NULL;
    int rc = idd_config_load("identityd.yaml", &cfg, err, sizeof(err));
    ck_assert_int_eq(chdir(cwd), 0);
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_str_eq(cfg->dir, realdir);
    snprintf(want, sizeof(want), "%s/k1.pem", realdir);
    ck_assert_str_eq(cfg->keys[0].file, want);
    idd_config_free(cfg);
}
END_TEST

START_TEST(tenant_lookup)
{
    idd_config_t *cfg =
        load_ok(PEPPER KEY1 "tenants:\n  - id: 1\n    name: one\n"
                            "    domains: [One.Example, localhost]\n"
                            "  - id: 5\n    name: five\n    domains: [five.example, \"::1\"]\n");
    /* Host header bytes are not NUL-terminated: the length alone bounds the compare. */
    const char header[] = "FIVE.example:8092";
    const idd_tenant_config_t *t = idd_config_tenant_by_host(cfg, header, 12);
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(t->id, 5);
    ck_assert_ptr_null(idd_config_tenant_by_host(cfg, header, 11));
    ck_assert_ptr_null(idd_config_tenant_by_host(cfg, header, sizeof(header) - 1));
    t = idd_config_tenant_by_host(cfg, "ONE.EXAMPLE", 11);
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(t->id, 1);
    ck_assert_int_eq(idd_config_tenant_by_host(cfg, "::1", 3)->id, 5);
    ck_assert_ptr_null(idd_config_tenant_by_host(cfg, "one.example.evil", 16));
    ck_assert_ptr_null(idd_config_tenant_by_host(cfg, "", 0));
    ck_assert_int_eq(idd_config_tenant_by_id(cfg, 5)->id, 5);
    ck_assert_str_eq(idd_config_tenant_by_id(cfg, 1)->name, "one");
    ck_assert_ptr_null(idd_config_tenant_by_id(cfg, 2));
    idd_config_free(cfg);
}
END_TEST

/* A listen item may be a mapping carrying TLS; plain strings keep working beside it. */
START_TEST(listen_tls_items_load)
{
    idd_config_t *cfg = load_ok("listen:\n"
                                "  - \"127.0.0.1:8092\"\n"
                                "  - { address: \"127.0.0.1:8443\", tls: { cert_file: s.pem,"
                                " key_file: /etc/s.key } }\n"
                                "  - address: \"[::1]:8444\"\n"
                                "    tls:\n"
                                "      cert_file: t.pem\n"
                                "      key_file: t.key\n"
                                "      min_version: TLSv1.3\n"
                                "  - address: \"127.0.0.1:8093\"\n" MINIMAL);
    ck_assert_uint_eq(cfg->n_listen, 4);
    ck_assert(!cfg->listen[0].tls);
    ck_assert_uint_eq(cfg->listen[0].port, 8092);
    ck_assert(cfg->listen[1].tls);
    ck_assert_str_eq(cfg->listen[1].host, "127.0.0.1");
    ck_assert_uint_eq(cfg->listen[1].port, 8443);
    char want[PATH_MAX + 16];
    snprintf(want, sizeof(want), "%s/s.pem", realdir);
    ck_assert_str_eq(cfg->listen[1].tls_cert_file, want);
    ck_assert_str_eq(cfg->listen[1].tls_key_file, "/etc/s.key");
    ck_assert_int_eq(cfg->listen[1].tls_min_version, IDD_TLS_V1_2);
    ck_assert_int_eq(cfg->listen[1].line, 3);
    ck_assert(cfg->listen[2].tls);
    ck_assert_str_eq(cfg->listen[2].host, "::1");
    ck_assert_uint_eq(cfg->listen[2].port, 8444);
    ck_assert_int_eq(cfg->listen[2].tls_min_version, IDD_TLS_V1_3);
    ck_assert_int_eq(cfg->listen[2].tls_cert_line, 6);
    ck_assert_int_eq(cfg->listen[2].tls_key_line, 7);
    ck_assert(!cfg->listen[3].tls);
    ck_assert_uint_eq(cfg->listen[3].port, 8093);
    idd_config_free(cfg);
}
END_TEST

/* The shipped files must load, or `scripts/run` from a fresh clone breaks. */
static void load_source_config(const char *relative)
{
    const char *src = getenv("IDD_SOURCE_DIR");
    ck_assert_msg(src != NULL, "IDD_SOURCE_DIR is not set (ctest sets it)");
    char path[PATH_MAX], err[512] = "";
    snprintf(path, sizeof(path), "%s/%s", src, relative);
    idd_config_t *cfg = NULL;
    ck_assert_msg(idd_config_load(path, &cfg, err, sizeof(err)) == 0, "%s", err);
    ck_assert_uint_ge(cfg->n_tenants, 1);
    ck_assert_uint_ge(cfg->n_keys, 1);
    ck_assert_ptr_nonnull(idd_config_tenant_by_host(cfg, "localhost", 9));
    idd_config_free(cfg);
}

START_TEST(embedded_default_loads)
{
    load_source_config("config/identityd.yaml");
    const char *src = getenv("IDD_SOURCE_DIR");
    char path[PATH_MAX], err[512] = "";
    snprintf(path, sizeof(path), "%s/config/identityd.yaml", src);
    idd_config_t *cfg = NULL;
    ck_assert_int_eq(idd_config_load(path, &cfg, err, sizeof(err)), 0);
    ck_assert_str_eq(cfg->listen[0].host, "127.0.0.1");
    ck_assert_uint_eq(cfg->listen[0].port, 8092);
    ck_assert_str_eq(cfg->keys[0].kid, "dev-es256");
    ck_assert_int_eq(cfg->keys[0].alg, IDD_ALG_ES256);
    ck_assert_ptr_nonnull(strstr(cfg->database, "/var/identity.db"));
    ck_assert_ptr_nonnull(idd_config_tenant_by_host(cfg, "::1", 3));
    idd_config_free(cfg);
}
END_TEST

START_TEST(example_loads)
{
    load_source_config("config/identityd.example.yaml");
    /* The example writes out the defaults of these sections: it must agree with the table. */
    const char *src = getenv("IDD_SOURCE_DIR");
    char path[PATH_MAX], err[512] = "";
    snprintf(path, sizeof(path), "%s/config/identityd.example.yaml", src);
    idd_config_t *cfg = NULL;
    ck_assert_int_eq(idd_config_load(path, &cfg, err, sizeof(err)), 0);
    ck_assert_int_eq(cfg->session_ttl, 2592000);
    ck_assert_int_eq(cfg->session_browser_ttl, 43200);
    ck_assert_int_eq(cfg->bruteforce_attempts, 5);
    ck_assert_int_eq(cfg->bruteforce_window, 60);
    ck_assert_int_eq(cfg->bruteforce_block, 60);
    ck_assert_int_eq(cfg->bruteforce_slots, 65536);
    ck_assert_int_eq(cfg->jwks_max_age, 300);
    ck_assert_int_eq(cfg->shutdown_timeout, 10);
    ck_assert_ptr_null(cfg->user); /* commented out: run as started */
    ck_assert(!cfg->oidc.enabled); /* commented out: it needs a real authority */
    idd_config_free(cfg);
}
END_TEST

/* The example's oidc: section is commented out (it needs a real authority); uncommented, it
 * must load and mean what its comments say. */
START_TEST(example_oidc_section_loads_uncommented)
{
    const char *src = getenv("IDD_SOURCE_DIR");
    ck_assert_msg(src != NULL, "IDD_SOURCE_DIR is not set (ctest sets it)");
    char path[PATH_MAX], line[1024];
    snprintf(path, sizeof(path), "%s/config/identityd.example.yaml", src);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    size_t cap = 64 * 1024, len = 0;
    char *yaml = calloc(1, cap);
    len = (size_t)snprintf(yaml, cap, "%s", MINIMAL);
    int in_section = 0, lines = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (!in_section) {
            in_section = strcmp(line, "# oidc:\n") == 0;
            if (!in_section)
                continue;
        } else if (line[0] != '#') {
            break;
        }
        const char *text = strncmp(line, "# ", 2) == 0 ? line + 2 : line + 1;
        ck_assert_uint_lt(len + strlen(text), cap);
        len += (size_t)snprintf(yaml + len, cap - len, "%s", text);
        lines++;
    }
    fclose(f);
    ck_assert_msg(lines > 20, "no commented oidc: section found in the example");
    idd_config_t *cfg = load_ok(yaml);
    free(yaml);
    const idd_oidc_config_t *o = &cfg->oidc;
    ck_assert(o->enabled);
    ck_assert_ptr_nonnull(o->authority);
    ck_assert_int_eq(strncmp(o->authority, "https://", 8), 0);
    /* The example writes out the defaults. */
    ck_assert_uint_eq(o->algorithms, IDD_JWA_ES256 | IDD_JWA_RS256);
    ck_assert_int_eq(o->clock_skew, 120);
    ck_assert_str_eq(o->user_claim, "sub");
    ck_assert(o->introspection_enabled);
    ck_assert(o->introspection_jwt);
    ck_assert_ptr_nonnull(o->client_id);
    ck_assert_ptr_nonnull(o->client_secret_file);
    ck_assert_int_eq(o->cache_ttl, 60);
    ck_assert_int_eq(o->negative_ttl, 5);
    ck_assert_int_eq(o->jwks_min_refresh, 30);
    ck_assert_int_eq(o->jwks_max_age, 3600);
    ck_assert_int_eq(o->connect_timeout, 2);
    ck_assert_int_eq(o->total_timeout, 5);
    ck_assert(!o->allow_http);
    idd_config_free(cfg);
}
END_TEST

/* ---- operating: jwks.max_age, shutdown_timeout, user, group ---- */

START_TEST(operating_defaults_and_values)
{
    idd_config_t *cfg = load_ok(MINIMAL);
    ck_assert_int_eq(cfg->jwks_max_age, 300);
    ck_assert_int_eq(cfg->shutdown_timeout, 10);
    ck_assert_ptr_null(cfg->user);
    ck_assert_ptr_null(cfg->group);
    idd_config_free(cfg);

    cfg = load_ok("jwks: { max_age: 0 }\nshutdown_timeout: 3600\nuser: identityd\n"
                  "group: nogroup\n" MINIMAL);
    ck_assert_int_eq(cfg->jwks_max_age, 0);
    ck_assert_int_eq(cfg->shutdown_timeout, 3600);
    ck_assert_str_eq(cfg->user, "identityd");
    ck_assert_str_eq(cfg->group, "nogroup");
    ck_assert_int_eq(cfg->user_line, 3);
    idd_config_free(cfg);
}
END_TEST

static const struct {
    const char *yaml;
    const char *needle;
} operating_bad[] = {
    {"jwks: { max_age: -1 }\n", "jwks.max_age"},
    {"jwks: { max_age: 86401 }\n", "jwks.max_age"},
    {"shutdown_timeout: 0\n", "shutdown_timeout"},
    {"shutdown_timeout: 3601\n", "shutdown_timeout"},
    {"user: \"../etc\"\n", "user"},
    {"user: \"a b\"\n", "user"},
    {"user: \"\"\n", "user"},
    {"user: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n", "longer than 32"},
    {"group: staff\n", "group: is only used with user:"},
};

START_TEST(operating_refusals)
{
    char text[1024], err[512] = "";
    snprintf(text, sizeof(text), "%s%s", operating_bad[_i].yaml, MINIMAL);
    load_bad(text, err, sizeof(err));
    ck_assert_msg(strstr(err, operating_bad[_i].needle) != NULL, "%s: %s", operating_bad[_i].yaml,
                  err);
}
END_TEST

/* ---- rotation:, durations, retired keys ---- */

#define KEY1_PUBLISHED                                                                             \
    "keys:\n  - kid: k1\n    alg: ES256\n    file: k1.pem\n    state: published\n"

START_TEST(rotation_values_and_durations)
{
    idd_config_t *cfg = load_ok(MINIMAL);
    ck_assert_int_eq(cfg->rotation_every, 0); /* off unless asked */
    ck_assert_int_eq(cfg->rotation_check_interval, 60);
    idd_config_free(cfg);

    cfg = load_ok(
        "rotation: { every: 30d, alg: EdDSA, dir: keys, check_interval: 90s }\n" PEPPER TENANT1
            KEY1_PUBLISHED);
    ck_assert_int_eq(cfg->rotation_every, 30 * 86400);
    ck_assert_int_eq(cfg->rotation_alg, IDD_ALG_EDDSA);
    ck_assert_int_eq(cfg->rotation_check_interval, 90);
    ck_assert_ptr_nonnull(strstr(cfg->rotation_dir, "/keys"));
    ck_assert_int_eq(cfg->rotation_line, 1);
    idd_config_free(cfg);

    /* A plain number is seconds; m and h are minutes and hours. With rotation, keys: may be
     * empty: identityd makes the signing key. */
    cfg = load_ok("rotation: { every: 7200, dir: keys, check_interval: 2m }\n"
                  "keys: []\n" PEPPER TENANT1);
    ck_assert_int_eq(cfg->rotation_every, 7200);
    ck_assert_int_eq(cfg->rotation_check_interval, 120);
    ck_assert_int_eq(cfg->rotation_alg, IDD_ALG_ES256);
    idd_config_free(cfg);
    cfg = load_ok("rotation: { every: 12h, dir: keys }\n" PEPPER TENANT1 KEY1_PUBLISHED);
    ck_assert_int_eq(cfg->rotation_every, 12 * 3600);
    idd_config_free(cfg);

    /* A retired key is a record beside the active one. */
    cfg = load_ok(PEPPER TENANT1 "keys:\n  - { kid: old, alg: ES256, file: old.pem, state: "
                                 "retired }\n  - { kid: k1, alg: ES256, file: k1.pem }\n");
    ck_assert_int_eq(cfg->keys[0].state, IDD_KEY_RETIRED);
    idd_config_free(cfg);
}
END_TEST

static const struct {
    const char *yaml;
    const char *needle;
} rotation_bad[] = {
    /* identityd chooses the active key: none in the file may be. */
    {"rotation: { every: 30d, dir: keys }\n" PEPPER TENANT1 KEY1,
     "with rotation: identityd chooses the active key"},
    {"rotation: { every: 30d }\n" PEPPER TENANT1 KEY1_PUBLISHED, "rotation.dir: required"},
    {"rotation: { every: 30d, dir: k, alg: HS256 }\n" PEPPER TENANT1 KEY1_PUBLISHED,
     "HS256 keys are DocSpace's machine key"},
    /* Consumers need jwks.max_age (300 s) and a check (60 s) between publish and sign. */
    {"rotation: { every: 360, dir: k }\n" PEPPER TENANT1 KEY1_PUBLISHED,
     "must be longer than jwks.max_age"},
    {"rotation: { every: 30x, dir: k }\n" PEPPER TENANT1 KEY1_PUBLISHED, "is not a duration"},
    {"rotation: { every: -5m, dir: k }\n" PEPPER TENANT1 KEY1_PUBLISHED, "is not a duration"},
    {"rotation: { every: d, dir: k }\n" PEPPER TENANT1 KEY1_PUBLISHED, "is not a duration"},
    {"rotation: { every: 99999999999d, dir: k }\n" PEPPER TENANT1 KEY1_PUBLISHED,
     "is not a duration"},
    {"rotation: { every: 11y, dir: k }\n" PEPPER TENANT1 KEY1_PUBLISHED, "is not a duration"},
    {"rotation: { every: 3651d, dir: k }\n" PEPPER TENANT1 KEY1_PUBLISHED, "is out of range"},
    {"rotation: { every: 30d, dir: k, check_interval: 0 }\n" PEPPER TENANT1 KEY1_PUBLISHED,
     "rotation.check_interval"},
    {PEPPER TENANT1 "keys:\n  - { kid: k1, alg: ES256, file: k1.pem, state: gone }\n", "retired"},
};

START_TEST(rotation_refusals)
{
    char err[512] = "";
    load_bad(rotation_bad[_i].yaml, err, sizeof(err));
    ck_assert_msg(strstr(err, rotation_bad[_i].needle) != NULL, "%s: %s", rotation_bad[_i].yaml,
                  err);
    /* Every refusal names the file and a line. */
    ck_assert_msg(strstr(err, "identityd.yaml:") != NULL, "%s", err);
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("load");
    tcase_add_checked_fixture(tc, setup, teardown);
    /* Check's default is 4 s a test; a loaded machine under ThreadSanitizer needs more to
     * read a few files. */
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, full_config_is_loaded);
    tcase_add_test(tc, listen_tls_items_load);
    tcase_add_test(tc, defaults_are_applied);
    tcase_add_test(tc, explicit_threads_are_kept);
    tcase_add_loop_test(tc, errors_name_the_line, 0, (int)IDD_ARRAY_LEN(bad_cases));
    tcase_add_test(tc, sensitive_values_are_not_echoed);
    tcase_add_test(tc, missing_file_is_an_io_error);
    tcase_add_test(tc, relative_config_path_resolves_against_its_folder);
    tcase_add_test(tc, tenant_lookup);
    tcase_add_test(tc, oidc_absent_is_disabled);
    tcase_add_test(tc, oidc_defaults_are_applied);
    tcase_add_test(tc, oidc_full_section_is_loaded);
    tcase_add_test(tc, oidc_booleans_do_not_overlap);
    tcase_add_test(tc, oidc_authority_trailing_slash_is_stripped);
    tcase_add_test(tc, oidc_http_authority_needs_allow_http);
    tcase_add_test(tc, oidc_every_algorithm_name);
    tcase_add_test(tc, example_oidc_section_loads_uncommented); /* writes into tmpdir */
    tcase_add_test(tc, operating_defaults_and_values);
    tcase_add_loop_test(tc, operating_refusals, 0, (int)IDD_ARRAY_LEN(operating_bad));
    tcase_add_test(tc, rotation_values_and_durations);
    tcase_add_loop_test(tc, rotation_refusals, 0, (int)IDD_ARRAY_LEN(rotation_bad));
    suite_add_tcase(s, tc);

    TCase *pure = tcase_create("pure");
    tcase_add_test(pure, embedded_default_loads);
    tcase_add_test(pure, example_loads);
    suite_add_tcase(s, pure);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(config_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
