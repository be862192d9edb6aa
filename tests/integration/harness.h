/*
 * Shared plumbing for the integration suites: temporary folders, running identityctl,
 * starting the real identityd on an ephemeral loopback port with a fresh database and key,
 * and a small libcurl client. Functions abort the test (ck_abort) on setup failures, so a
 * suite never runs against a half-made environment.
 */
#ifndef IDD_TEST_HARNESS_H
#define IDD_TEST_HARNESS_H

#include <stddef.h>
#include <sys/types.h>

#define TH_PATH 512

/* Path of identityd / identityctl under test (from the environment ctest sets). */
const char *th_bin(void);
const char *th_ctl(void);

/* Writes text to path with mode; aborts on failure. */
void th_write_file(const char *path, const char *text, mode_t mode);
/* Reads a whole file (malloc'd, NUL-terminated) or returns NULL. */
char *th_read_file(const char *path);

/* Runs argv[0] with argv, feeding stdin_text (may be NULL), capturing stdout/stderr into
 * malloc'd strings (out/err may be NULL). Returns the exit status, or -1 when killed. */
int th_run(const char *const argv[], const char *stdin_text, char **out, char **err);

/* A test environment: a mkdtemp folder with a pepper, an ES256 key made by identityctl,
 * and identityd.yaml listening on 127.0.0.1:0. */
typedef struct th_env {
    char dir[128];      /* mkdtemp under /tmp: short, so paths below always fit */
    char config[TH_PATH];
    char db[TH_PATH];
} th_env_t;

/* Settings the next th_env_init writes into the config (defaults: 2 threads, 1000 PBKDF2
 * iterations so that tests run fast). */
extern int th_threads;
extern unsigned th_password_iterations;

/* Creates the folder and files. extra_yaml is appended to the config's top level (may be
 * NULL); keys_yaml replaces the default `keys:` section when not NULL. */
void th_env_init(th_env_t *env, const char *extra_yaml, const char *keys_yaml);
/* Removes the folder. */
void th_env_dispose(th_env_t *env);
/* Adds a user through identityctl (`user add`), password on stdin; returns the exit status. */
int th_add_user(const th_env_t *env, const char *email, const char *password, const char *first,
                const char *last, const char *role);

/* A running identityd. */
typedef struct th_server {
    pid_t pid;
    int port;
    char base[64];      /* "http://127.0.0.1:PORT" */
    char log[TH_PATH];  /* its stderr */
} th_server_t;

/* Starts identityd -c config and waits until it logs the port it listens on. */
void th_server_start(th_server_t *s, const th_env_t *env);
/* SIGTERM, then waits; returns identityd's exit status (-1 when it had to be killed). */
int th_server_stop(th_server_t *s);

typedef struct th_response {
    long status;
    char *body;
    size_t body_len;
    char *headers;      /* raw response header block, lowercase names kept as sent */
    long http_version;  /* CURL_HTTP_VERSION_* actually used */
} th_response_t;

/* Performs a request. headers is a NULL-terminated list of "Name: value" (may be NULL);
 * body may be NULL. flags: TH_HTTP2 for h2c prior knowledge. Returns 0 or aborts. */
#define TH_HTTP2 1
void th_http(th_response_t *r, const char *method, const char *url, const char *const headers[],
             const char *body, size_t body_len, int flags);
void th_response_dispose(th_response_t *r);
/* The value of header name (case-insensitive) in r->headers, malloc'd, or NULL. */
char *th_header(const th_response_t *r, const char *name);

/* "Authorization: Basic base64(user:password)" (malloc'd). */
char *th_basic(const char *user, const char *password);

#endif
