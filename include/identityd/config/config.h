/*
 * identityd's configuration: a YAML file turned into one typed, validated struct. Every key
 * has a type, bounds and a default in a row of a table, walked by one engine
 * (src/config/table.c): the top level and each tenant (src/config/config.c), each key
 * (src/config/keys.c) and the oidc: section (src/config/oidc.c) have a table of their own,
 * and lists of strings (listen, trusted_proxies, domains, origins, oidc.algorithms,
 * oidc.audience) have a small parser per item. An unknown key, a value of the wrong type or
 * out of bounds stops the load with "FILE:LINE: what is wrong". Relative paths are resolved
 * against the folder of the config file itself. Keys that name a secret file also keep the
 * line they were written on, so that whoever reads the file can report its problems as
 * "FILE:LINE: ..." too.
 */
#ifndef IDENTITYD_CONFIG_H
#define IDENTITYD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "identityd/core/cidr.h"
#include "identityd/core/jwa.h"
#include "identityd/core/log.h"
#include "identityd/core/tz.h"

/* What a configured key is used for: `active` signs (exactly one) and is in the JWKS,
 * `published` is only in the JWKS (a key about to sign, or one whose tokens may still be
 * live), `retired` is neither: a record that may stay in the file, whose file is not read. */
typedef enum { IDD_KEY_ACTIVE = 0, IDD_KEY_PUBLISHED, IDD_KEY_RETIRED } idd_key_state_t;

/* The lowest TLS version a TLS listener accepts (listen[].tls.min_version). */
typedef enum { IDD_TLS_V1_2 = 0, IDD_TLS_V1_3 } idd_tls_version_t;

typedef struct idd_listen {
    char host[64]; /* numeric address as written, without brackets ("127.0.0.1", "::1") */
    uint16_t port; /* 0 asks the kernel for an ephemeral port */
    int line;
    /* A mapping item ({address, tls: {...}}) may carry TLS: then tls is true and both files
     * are set (resolved paths). Whether the files are usable is checked by whoever builds
     * the TLS contexts (the HTTP layer), at load and at each reload. */
    char *address; /* the mapping's address text (parsed into host and port) */
    bool tls;
    char *tls_cert_file; /* PEM: the certificate, then any intermediates */
    char *tls_key_file;  /* PEM private key: a secret file (owner-only mode) */
    int tls_min_version; /* idd_tls_version_t; default TLSv1.2 */
    int tls_cert_line;   /* of `cert_file:` */
    int tls_key_line;    /* of `key_file:` */
} idd_listen_t;

typedef struct idd_tenant_config {
    int64_t id; /* >= 1 */
    char *name;
    char **domains; /* host names (lowercase, no port) served as this tenant */
    size_t n_domains;
    char **origins; /* "scheme://host[:port]" values accepted in ?origin= */
    size_t n_origins;
    char *timezone; /* IANA zone name of the tenant's dates; default "UTC" */
    idd_tz_t *tz;   /* that zone, read from zoneinfo once at load */
    int line;
} idd_tenant_config_t;

typedef struct idd_key_config {
    char *kid;
    idd_alg_t alg;          /* one of IDD_JWA_SIGNING */
    char *file;             /* PEM private key (ES256, RS256, EdDSA); resolved path */
    char *machine_key;      /* HS256: DocSpace's core:machinekey, inline (secret) */
    char *machine_key_file; /* HS256: the same, read from a file (resolved path) */
    idd_key_state_t state;
    int line;                  /* where the list item starts */
    int file_line;             /* of the `file:` key, 0 when absent */
    int machine_key_file_line; /* of the `machine_key_file:` key, 0 when absent */
} idd_key_config_t;

/* The longest oidc.authority accepted; the discovery and JWKS URLs are built on it. */
#define IDD_OIDC_AUTHORITY_MAX 2048

/* The external OAuth2/OpenID authority whose access tokens are accepted (oidc: section). */
typedef struct idd_oidc_config {
    bool enabled;        /* the section is present */
    char *authority;     /* issuer URL; discovery at {authority}/.well-known/openid-configuration */
    unsigned algorithms; /* IDD_JWA_* bits (core/jwa.h); default ES256 | RS256 */
    char **audience;     /* accepted "aud" values; none: the request's tenant_url */
    size_t n_audience;
    int clock_skew;             /* seconds, 0..600, default 120 */
    char *user_claim;           /* "sub" (the user's GUID, default) or "email" */
    bool introspection_enabled; /* default true */
    bool introspection_jwt;   /* also introspect JWTs after their signature checks; default true */
    char *client_id;          /* introspection client */
    char *client_secret_file; /* resolved path; its content is the secret */
    int client_secret_file_line; /* of the `client_secret_file:` key, 0 when absent */
    int cache_ttl;    /* introspection.cache_ttl: positive results, seconds, 0..3600, default 60 */
    int negative_ttl; /* introspection.negative_ttl: negative results, 0..600, default 5 */
    int jwks_min_refresh; /* seconds between refetches for an unknown kid, 1..3600, default 30 */
    int jwks_max_age;    /* longest a JWKS or discovery document is kept, 60..86400, default 3600 */
    int connect_timeout; /* seconds, 1..60, default 2 */
    int total_timeout;   /* seconds, 1..120, default 5 */
    bool allow_http;     /* plain http:// authority (loopback tests only); default false */
    int line;            /* where the section starts */
} idd_oidc_config_t;

/* tfa.secret: 160 random bits per user, sealed in the database (default), or DocSpace's
 * derivation from a per-user salt and the machine key, for tenants moved from DocSpace. */
typedef enum { IDD_TFA_SECRET_RANDOM = 0, IDD_TFA_SECRET_DOCSPACE } idd_tfa_secret_t;
extern const char *const idd_tfa_secret_names[];

typedef struct idd_config {
    char *path; /* the file loaded */
    char *dir;  /* its folder: base of relative paths */
    idd_listen_t *listen;
    size_t n_listen;
    int threads; /* event loops; 0 in the file means one per core (resolved) */
    /* The store's location: an SQLite file's resolved path (or sqlite:PATH, resolved), or a
     * PostgreSQL URI or key/value string, kept as written and without a password. */
    char *database;
    char *database_password_file; /* PostgreSQL's password: a secret file; NULL: none */
    int database_password_file_line;
    int workers;                  /* worker threads for KDF and outbound calls */
    int token_ttl;                /* seconds, token.ttl */
    unsigned password_iterations; /* PBKDF2 iterations of the client hash */
    int password_busy_percent;    /* the KDF's share of the loops' cores while they are busy */
    char *pepper_file;            /* resolved path */
    int pepper_file_line;         /* of the `pepper_file:` key */
    int basic_cache_ttl; /* seconds a verified Basic credential is remembered; 0 off; <= 60 */
    idd_tenant_config_t *tenants;
    size_t n_tenants;
    idd_cidr_t *trusted_proxies; /* addresses or networks (core/cidr.h) */
    size_t n_trusted_proxies;
    idd_key_config_t *keys;
    size_t n_keys;
    idd_log_level_t log_level;
    size_t max_header_bytes; /* request line + headers; larger gets 431 (16 KiB) */
    size_t max_body_bytes;   /* request body; larger gets 413 (64 KiB) */
    int session_ttl;         /* session.ttl: sign-in session lifetime, seconds (30 days) */
    int session_browser_ttl; /* session.browser_ttl: for `session: true` sign-ins (12 h) */
    int bruteforce_attempts; /* bruteforce.attempts: failures that start a block (5) */
    int bruteforce_window;   /* bruteforce.window: seconds the failures are counted over (60) */
    int bruteforce_block;    /* bruteforce.block: seconds a pair stays refused (60) */
    int bruteforce_slots;    /* bruteforce.slots: size of the shared counter table (65536) */
    /* Budgets across logins and across clients, and who counts as one client. */
    int bruteforce_client_attempts;     /* bruteforce.client_attempts (20) */
    int bruteforce_client_window;       /* bruteforce.client_window, seconds (600) */
    int bruteforce_login_attempts;      /* bruteforce.login_attempts (100) */
    int bruteforce_login_window;        /* bruteforce.login_window, seconds (600) */
    int bruteforce_login_delay_ms;      /* bruteforce.login_delay_ms (1000; 0: none) */
    int bruteforce_login_delay_waiting; /* bruteforce.login_delay_waiting, per thread (64) */
    int bruteforce_ipv6_prefix;         /* bruteforce.ipv6_prefix, bits (64) */
    bool bruteforce_unsafe_test_clock;  /* bruteforce.unsafe_test_clock: tests only (false) */
    /* Unbounded tables: per-user caps and background pruning. */
    int sessions_max_per_user; /* sessions.max_per_user: live sessions; more end the oldest (100) */
    int apikeys_max_per_user;  /* apikeys.max_per_user: keys a user may hold; more get 400 (50) */
    int prune_interval;        /* prune.interval: seconds between pruning runs (60) */
    int prune_batch;           /* prune.batch: most rows one run deletes from each table (500) */
    /* Queues and connections (README: "Queues, connections and what the HTTP library does
     * not defend"). */
    bool http2;               /* http2: h2c by prior knowledge or Upgrade (true) */
    int max_connections;      /* max_connections: per thread, beyond it closed at once (4096) */
    int http2_max_resets;     /* http2_max_resets: abandoned streams before a close (100) */
    int queue_per_connection; /* queue.per_connection: jobs per HTTP/2 connection (4) */
    int queue_per_client;     /* queue.per_client: jobs per client address or IPv6 /64 (16) */
    int queue_max_wait_ms;    /* queue.max_wait_ms: longest wait for a worker (2000) */
    idd_oidc_config_t oidc;
    /* core_dumps: leave core dumps possible; false (the default) turns them off, since a dump
     * holds the pepper and private keys */
    bool core_dumps;
    char *pid_file; /* pid_file: resolved path identityd writes its pid to; NULL: none */
    char *web_dir;  /* web_dir: the sign-in page's files; NULL: where they were installed */
    /* Signing keys identityd rotates itself (rotation:; app/rotation.c). */
    int rotation_every;          /* rotation.every: seconds a key signs; 0: no rotation */
    idd_alg_t rotation_alg;      /* rotation.alg: ES256 (default), RS256 or EdDSA */
    char *rotation_dir;          /* rotation.dir: resolved folder of the key files */
    int rotation_check_interval; /* rotation.check_interval: seconds between checks (60) */
    int rotation_line;           /* of the `rotation.every` key, 0 when absent */
    /* Two-factor sign-in with an authenticator app (tfa:; cred/totp.h, core/attempts.h). */
    int tfa_window;              /* tfa.window: TOTP steps accepted either side of now (1) */
    idd_tfa_secret_t tfa_secret; /* tfa.secret: how new users' secrets are made (random) */
    /* The credential cache (auth/credcache.h), both at start only. */
    int cache_entries;           /* cache.entries: entries shared by the loops (16384) */
    int cache_check_interval_ms; /* cache.check_interval_ms: between change checks (250) */
    int tfa_attempts;            /* tfa.attempts: code attempts per user before refusals (5) */
    int tfa_attempts_window;     /* tfa.attempts_window: seconds each attempt re-arms (60) */
    int tfa_slots;               /* tfa.slots: entries of the shared attempt table (4096) */
    /* Operating (README: "Operating"). */
    int jwks_max_age;     /* jwks.max_age: Cache-Control max-age of the JWKS and discovery (300) */
    int shutdown_timeout; /* shutdown_timeout: seconds in-flight requests get after SIGTERM (10) */
    char *user;     /* user: run as this user once the listeners are bound (NULL: as started) */
    char *group;    /* group: with user:, this group instead of the user's primary one */
    int user_line;  /* of the `user:` key, 0 when absent */
    int group_line; /* of the `group:` key, 0 when absent */
    /* Metrics and logs (README: "Metrics and logs"). log.level is log_level above. */
    idd_log_format_t log_format; /* log.format: text or json (text) */
    bool log_access;             /* log.access: one line per answered request (false) */
    bool metrics_listen_set;     /* metrics_listen is in the file */
    idd_listen_t metrics_listen; /* metrics_listen: /metrics only there, not on listen: */
} idd_config_t;

/* Loads and validates path. On success *out owns a new config (free with idd_config_free).
 * On failure returns IDD_ECONFIG (or IDD_EIO when the file cannot be read), *out is NULL and
 * err receives "FILE:LINE: message" (or "FILE: message" when no line applies). */
int idd_config_load(const char *path, idd_config_t **out, char *err, size_t errlen);

/* What a reload does with a new configuration next while running serves: every key that
 * only takes effect at start (listen, threads, database, workers, the pepper file, the
 * brute-force table, connection and queue limits, …) gets running's value back in next and
 * its name appended to kept ("name, name"); every other key whose value differs is named in
 * changed. The keys: list is compared by the keyring, which knows what each key became. */
void idd_config_reconcile(const idd_config_t *running, idd_config_t *next, char *changed,
                          size_t changed_len, char *kept, size_t kept_len);

/* Frees a config and wipes its secrets; NULL is a no-op. */
void idd_config_free(idd_config_t *cfg);

/* The tenant whose domains contain host (case-insensitive, host without port), or NULL. */
const idd_tenant_config_t *idd_config_tenant_by_host(const idd_config_t *cfg, const char *host,
                                                     size_t len);

/* The tenant with this id, or NULL. */
const idd_tenant_config_t *idd_config_tenant_by_id(const idd_config_t *cfg, int64_t id);

#endif
