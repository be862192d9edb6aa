/*
 * Shared plumbing for the integration suites: temporary folders, running identityctl,
 * starting the real identityd on an ephemeral loopback port with a fresh database and key,
 * and a small libcurl client. Functions abort the test (ck_abort) on setup failures, so a
 * suite never runs against a half-made environment.
 */
#ifndef IDD_TEST_HARNESS_H
#define IDD_TEST_HARNESS_H

#include <check.h>
#include <pthread.h>
#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "identityd/store/store.h"

#define TH_PATH 512

/* ---- basics ------------------------------------------------------------------------------ */

/* The value of environment variable name (IDD_NODE, IDD_INTEROP_DIR, ...); aborts the test
 * when it is unset or empty, since the suite then does not run under ctest. */
const char *th_getenv(const char *name);
/* Path of identityd / identityctl under test (from the environment ctest sets). */
const char *th_bin(void);
const char *th_ctl(void);

/* Runs one suite with libcurl initialised, as every integration and interop main() does;
 * returns the process exit status (EXIT_SUCCESS when every test passed and no identityd
 * stopped by this process, i.e. by an unchecked fixture, exited badly: see th_server_stop). */
int th_run_suite(Suite *suite);

/* printf into a malloc'd string (header lines, paths, bodies); aborts on failure. */
char *th_strf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Seconds on CLOCK_MONOTONIC, for measuring how long something took. */
double th_now(void);
/* Parses text as JSON (the caller decrefs); fails the test, quoting text, when it is not. */
json_t *th_json_parse(const char *text);
/* Parses "YYYY-MM-DDTHH:MM:SSZ" (exactly that form, as the API writes times) to a time_t;
 * fails the test on anything else. */
time_t th_parse_iso(const char *s);
/* Lowercase hex of PBKDF2-HMAC-SHA256(password, salt, iterations), 32 bytes: the client hash
 * DocSpace's web client sends as passwordHash. */
void th_pbkdf2_hex(const char *password, const char *salt, unsigned iterations, char out[65]);

/* Writes text to path with mode; aborts on failure. */
void th_write_file(const char *path, const char *text, mode_t mode);
/* Reads a whole file (malloc'd, NUL-terminated) or returns NULL. */
char *th_read_file(const char *path);
/* Whether the file holds the len bytes at needle anywhere (false when it cannot be read). */
bool th_file_contains(const char *path, const void *needle, size_t len);

/* Runs argv[0] with argv, feeding stdin_text (may be NULL), capturing stdout/stderr into
 * malloc'd strings (out/err may be NULL). Returns the exit status, or -1 when killed. */
int th_run(const char *const argv[], const char *stdin_text, char **out, char **err);

/* A test environment: a mkdtemp folder with a pepper, an ES256 key made by identityctl,
 * and identityd.yaml listening on 127.0.0.1:0. */
typedef struct th_env {
    char dir[128]; /* mkdtemp under /tmp: short, so paths below always fit */
    char config[TH_PATH];
    /* The store's location: the SQLite file in dir, or under IDD_TEST_STORE=pg the
     * conninfo of the database th_env_init made (pg_db) on the pg/ tests' server. */
    char db[TH_PATH];
    char pg_db[64];
} th_env_t;

/* Whether the suite runs against PostgreSQL (IDD_TEST_STORE=pg; tests/pg_test.h). */
bool th_store_pg(void);

/* For a test that reaches under the store into the SQLite file (its bytes, its -wal file):
 * under PostgreSQL it says so on stderr and ends the test, before it starts anything. */
#define TH_SKIP_UNLESS_SQLITE(why)                                                                 \
    do {                                                                                           \
        if (th_store_pg()) {                                                                       \
            fprintf(stderr, "%s:%d: SKIP %s under IDD_TEST_STORE=pg: %s\n", __FILE__, __LINE__,    \
                    __func__, why);                                                                \
            return;                                                                                \
        }                                                                                          \
    } while (0)

/* Settings the next th_env_init writes into the config (defaults: 2 threads, 1000 PBKDF2
 * iterations so that tests run fast). */
extern int th_threads;
extern unsigned th_password_iterations;
extern int th_token_ttl; /* token.ttl, 300 */
/* When above 0, th_server_start runs identityd with RLIMIT_NOFILE soft and hard limits of
 * these values (th_nofile_soft 0: the same as hard). */
extern unsigned th_nofile_soft, th_nofile_hard;

/* The tenants: section th_env_init writes, unless th_tenants_yaml is set: tenant 1
 * "default" (localhost, 127.0.0.1, ::1) and tenant 2 "second" (second.test). */
#define TH_TENANTS_YAML                                                                            \
    "tenants:\n"                                                                                   \
    "  - { id: 1, name: default, domains: [localhost, 127.0.0.1, \"::1\"],"                        \
    " origins: [\"https://docs.example.com\"] }\n"                                                 \
    "  - { id: 2, name: second, domains: [second.test] }\n"
extern const char *th_tenants_yaml;

/* Creates the folder and files. extra_yaml is appended to the config's top level (may be
 * NULL); keys_yaml replaces the default `keys:` section when not NULL. */
void th_env_init(th_env_t *env, const char *extra_yaml, const char *keys_yaml);
/* (Re)writes the environment's identityd.yaml as th_env_init does, with the current
 * th_threads and th_password_iterations: for reload tests. */
void th_env_write_config(const th_env_t *env, const char *extra_yaml, const char *keys_yaml);
/* Removes the folder. */
void th_env_dispose(th_env_t *env);
/* Adds a user through identityctl (`user add`), password on stdin; returns the exit status. */
int th_add_user(const th_env_t *env, const char *email, const char *password, const char *first,
                const char *last, const char *role);
/* The user's id (GUID, malloc'd) as `identityctl user list` shows it; fails the test when no
 * row has this email. */
char *th_user_guid(const th_env_t *env, const char *email);
/* The user's row, read from the environment's database through the store library; fails the
 * test when there is none. */
void th_user_row(const th_env_t *env, int64_t tenant, const char *email, idd_user_t *u);
/* Runs SQL on the environment's database with the sqlite3 API (never through the server). */
void th_sql(const th_env_t *env, const char *statement);

/* The store's change version (migrations/0008) as the database holds it now. */
int64_t th_store_changes(const th_env_t *env);

/* A running identityd. */
typedef struct th_server {
    pid_t pid;
    int port;
    char base[64];     /* "http://127.0.0.1:PORT" */
    char log[TH_PATH]; /* its stderr */
} th_server_t;

/* Starts identityd -c config and waits until it logs the port it listens on. */
void th_server_start(th_server_t *s, const th_env_t *env);
/* The same, logging to name.log in the environment's folder (th_server_start: "identityd"):
 * for several servers on one environment. */
void th_server_start_as(th_server_t *s, const th_env_t *env, const char *name);
/* SIGTERM, then waits; returns identityd's exit status (-1 when it died from a signal or had
 * to be killed). Anything but a clean 0, or a sanitizer report in its log even with exit 0
 * (then 1 is returned), also prints the log to stderr and is counted: callers in a test or
 * checked fixture assert on the result; for unchecked fixtures (run in the runner process,
 * where no assertion may fail) th_run_suite fails the whole suite instead. */
int th_server_stop(th_server_t *s);
/* SIGKILL, as a crash or the OOM killer would end it, and reaps it: nothing of identityd's
 * own shutdown runs. For the tests of what survives a crash. */
void th_server_kill(th_server_t *s);

typedef struct th_response {
    long status;
    char *body;
    size_t body_len;
    char *headers;     /* raw response header block, lowercase names kept as sent */
    long http_version; /* CURL_HTTP_VERSION_* actually used */
} th_response_t;

/* Performs a request. headers is a NULL-terminated list of "Name: value" (may be NULL);
 * body may be NULL. flags: TH_HTTP2 for h2c prior knowledge. Returns 0 or aborts. */
#define TH_HTTP2 1
void th_http(th_response_t *r, const char *method, const char *url, const char *const headers[],
             const char *body, size_t body_len, int flags);
void th_response_dispose(th_response_t *r);
/* The value of header name (case-insensitive) in r->headers, malloc'd, or NULL. */
char *th_header(const th_response_t *r, const char *name);

/* base + path of a running server (malloc'd). */
char *th_url(const th_server_t *s, const char *path);
/* GET path on s with one extra header line (may be NULL); the caller disposes r. */
void th_get(th_response_t *r, const th_server_t *s, const char *path, const char *header);
/* method path on s, with one header line (or NULL) and a JSON body (or NULL: none). */
void th_send(th_response_t *r, const th_server_t *s, const char *method, const char *path,
             const char *header, const char *json_body);

/* "Authorization: Basic base64(user:password)" (malloc'd). */
char *th_basic(const char *user, const char *password);
/* "Authorization: Bearer token" (malloc'd). */
char *th_bearer(const char *token);

/* The value of one series of s's /metrics, named with its labels as printed
 * (`identityd_credcache_lookups_total{kind="apikey",result="hit"}`); fails the test when
 * it is missing. */
double th_metric(const th_server_t *s, const char *series);
/* Waits until s has run a change check of its credential cache that saw the store as it is
 * now (identityd_credcache_change_version reached the database's version): from then on,
 * what another process (identityctl) ended or narrowed is refused. Fails after 60 s. */
void th_wait_changes_seen(const th_server_t *s, const th_env_t *env);

/* ---- what identityd answers ----------------------------------------------------------------- */

/* Asserts a Content-Type of application/json (parameters such as charset allowed). */
void th_assert_json_content_type(const th_response_t *r);
/* Asserts the HTTP status and the error envelope {"error":{"message":"..."},"status":1,
 * "statusCode":status}, with a non-empty message and a JSON Content-Type. What a suite checks
 * beyond that (the message's text, no "response" member) it asserts itself, next to this. */
void th_assert_error_envelope(const th_response_t *r, long status);
/* Asserts that error.message of the (error envelope) body is exactly message. */
void th_assert_error_message(const th_response_t *r, const char *message);

/* ---- JWTs ----------------------------------------------------------------------------------- */

/* Decodes len base64url characters at seg (malloc'd, NUL-terminated; *n receives the decoded
 * length, n may be NULL); fails the test when they are not base64url. */
unsigned char *th_b64url_decode(const char *seg, size_t len, size_t *n);
/* Decodes len base64url characters at seg and parses them as JSON (the caller decrefs). */
json_t *th_b64url_json(const char *seg, size_t len);
/* The decoded header (index 0) or claims (index 1) of a compact JWS (the caller decrefs);
 * fails the test when token has fewer than three parts. */
json_t *th_jwt_part(const char *token, int index);

/* ---- many requests at once (libcurl multi) --------------------------------------------------- */

/* A libcurl write callback that drops the body. */
size_t th_curl_discard(char *data, size_t size, size_t n, void *arg);
/* Adds a request to multi: GET url, or POST body when body is not NULL; headers may be NULL
 * and must outlive the request; the answer's body is dropped. Returns the easy handle. */
CURL *th_multi_add(CURLM *multi, const char *url, struct curl_slist *headers, const char *body,
                   long timeout_s);
/* Performs every request of multi until none is running. */
void th_multi_run(CURLM *multi);
/* The HTTP status of a finished request (0: no answer); removes it from multi and frees it. */
long th_multi_finish(CURLM *multi, CURL *easy);

/* ---- helper processes -------------------------------------------------------------------------
 */

/* Reads a child's stdout (fd) until a whole line has arrived, and returns that line parsed as
 * JSON: how the interop suites' node helpers say that they listen. Fails the test, naming who
 * and quoting log_path (may be NULL), when the child closes its stdout first or no line came
 * within timeout_ms. */
json_t *th_read_ready_json(int fd, int timeout_ms, const char *who, const char *log_path);

/* ---- the worker pools, as /metrics shows them -------------------------------------------- */

/* A gauge of the KDF pool from s's /metrics: "identityd_worker_jobs" (queued or running) or
 * "identityd_worker_running" (taken by a worker). */
int th_kdf_gauge(const th_server_t *s, const char *name);
/* Drives multi until a worker of s is hashing a password check; gives up after 60 s (the
 * test's own assertions then say what went wrong). */
void th_pump_until_hashing(CURLM *multi, const th_server_t *s);

/* ---- a consumer that checks every token -------------------------------------------------- */

#define TH_VERIFIER_KIDS 16

/* A thread that, without pause, fetches the JWKS of srv, then a token with Basic user and
 * password, and verifies the token against that JWKS (signature, iss and aud): what a
 * consumer caching nothing sees during a key rotation. */
typedef struct th_verifier {
    pthread_t tid;
    pthread_mutex_t lock; /* guards everything below */
    const th_server_t *srv;
    char *authorization;
    bool stop;
    int rounds, failures;
    char first_failure[512];
    char kids[TH_VERIFIER_KIDS][80]; /* distinct kids seen, in order */
    size_t n_kids;
    char last_kid[80];
} th_verifier_t;

void th_verifier_start(th_verifier_t *v, const th_server_t *srv, const char *user,
                       const char *password);
/* Rounds done so far; distinct kids seen (the last one into last, which may be NULL). */
int th_verifier_rounds(th_verifier_t *v);
size_t th_verifier_kids(th_verifier_t *v, char last[80]);
/* Waits until rounds more rounds are done (fails the test after 60 s). */
void th_verifier_wait(th_verifier_t *v, int rounds);
/* Stops the thread and fails the test if any round failed, quoting the first failure. */
void th_verifier_stop(th_verifier_t *v);

#endif
