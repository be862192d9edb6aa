/*
 * Integration test plumbing (see harness.h). Everything here talks to the real programs:
 * identityctl builds the environment, identityd serves it, libcurl is the client.
 */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "identityd/core/b64.h"
#include "identityd/core/jwa.h"
#include "identityd/jose/jwks.h"

#include "../pg_test.h"

bool th_store_pg(void)
{
    return pg_test_enabled() != 0;
}

const char *th_getenv(const char *name)
{
    const char *v = getenv(name);
    if (v == NULL || *v == '\0')
        ck_abort_msg("environment variable %s is not set (run the suite through ctest; the "
                     "interop suites also need node and `npm ci` in tests/interop)",
                     name);
    return v;
}

const char *th_bin(void)
{
    return th_getenv("IDD_BIN");
}
const char *th_ctl(void)
{
    return th_getenv("IDD_CTL");
}

/* Servers that th_server_stop found dead, hung or reporting a sanitizer error, in this
 * process. Check runs each test in a child, whose callers assert on th_server_stop; servers
 * of unchecked fixtures are stopped in the runner itself, where nothing may fail a test, so
 * th_run_suite fails the whole suite for them instead. */
static int server_failures;

int th_run_suite(Suite *suite)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    SRunner *sr = srunner_create(suite);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    curl_global_cleanup();
    if (server_failures > 0)
        fprintf(stderr, "%d identityd process(es) stopped by a fixture exited badly (see above)\n",
                server_failures);
    return failed == 0 && server_failures == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

char *th_strf(const char *fmt, ...)
{
    char *s = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    ck_assert(n >= 0);
    return s;
}

double th_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

json_t *th_json_parse(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    ck_assert_msg(j != NULL, "not JSON (%s): %s", e.text, text);
    return j;
}

time_t th_parse_iso(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    ck_assert_ptr_nonnull(s);
    const char *end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
    ck_assert_msg(end != NULL && *end == '\0' && strlen(s) == 20, "not YYYY-MM-DDTHH:MM:SSZ: %s",
                  s);
    return timegm(&tm);
}

void th_pbkdf2_hex(const char *password, const char *salt, unsigned iterations, char out[65])
{
    unsigned char dk[32];
    ck_assert(PKCS5_PBKDF2_HMAC(password, (int)strlen(password), (const unsigned char *)salt,
                                (int)strlen(salt), (int)iterations, EVP_sha256(), 32, dk) == 1);
    for (int i = 0; i < 32; i++)
        sprintf(out + 2 * i, "%02x", dk[i]);
}

void th_write_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
    size_t len = strlen(text);
    ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
    ck_assert_int_eq(fchmod(fd, mode), 0);
    close(fd);
}

/* A whole file (malloc'd, NUL-terminated) and its length in *lenp, or NULL. */
static char *read_all(const char *path, size_t *lenp)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 4096, len = 0;
    char *data = malloc(cap);
    size_t n;
    while ((n = fread(data + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len < 2) {
            cap *= 2;
            data = realloc(data, cap);
        }
    }
    fclose(f);
    data[len] = '\0';
    *lenp = len;
    return data;
}

char *th_read_file(const char *path)
{
    size_t len;
    return read_all(path, &len);
}

bool th_file_contains(const char *path, const void *needle, size_t len)
{
    size_t n = 0;
    char *data = read_all(path, &n);
    bool found = data != NULL && memmem(data, n, needle, len) != NULL;
    free(data);
    return found;
}

/* Makes room for at least 4 KiB more in the malloc'd string *dst (NUL-terminated). */
static void grow(char **dst, size_t *len, size_t *cap)
{
    if (*cap - *len < 4096) {
        *cap = *cap * 2 + 4096;
        *dst = realloc(*dst, *cap);
        ck_assert_ptr_nonnull(*dst);
    }
    (*dst)[*len] = '\0';
}

/* Reads what fd has into the malloc'd string *dst; false at EOF (or a read error). */
static bool drain(int fd, char **dst, size_t *len, size_t *cap)
{
    grow(dst, len, cap);
    ssize_t n = read(fd, *dst + *len, *cap - *len - 1);
    if (n < 0 && errno == EINTR)
        return true;
    if (n > 0)
        *len += (size_t)n;
    (*dst)[*len] = '\0';
    return n > 0;
}

/* How long th_run lets a command run: far beyond any identityctl call on a loaded sanitizer
 * build; a command still running then is killed and reported, rather than hang the suite. */
#define RUN_LIMIT_S 300

int th_run(const char *const argv[], const char *stdin_text, char **out, char **err)
{
    int in_pipe[2], out_pipe[2], err_pipe[2];
    /* The child may exit before reading its stdin; a write then must not kill the test. */
    signal(SIGPIPE, SIG_IGN);
    /* Close-on-exec, so that a process another thread starts meanwhile holds no end of
     * these (its copy of a write end would keep this reader from ever seeing EOF). */
    ck_assert(pipe2(in_pipe, O_CLOEXEC) == 0 && pipe2(out_pipe, O_CLOEXEC) == 0 &&
              pipe2(err_pipe, O_CLOEXEC) == 0);
    /* posix_spawn rather than fork: the child runs no code of this (possibly threaded and
     * sanitized) process between its start and the exec. dup2 clears close-on-exec. */
    posix_spawn_file_actions_t fa;
    ck_assert(posix_spawn_file_actions_init(&fa) == 0);
    ck_assert(posix_spawn_file_actions_adddup2(&fa, in_pipe[0], 0) == 0);
    ck_assert(posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1) == 0);
    ck_assert(posix_spawn_file_actions_adddup2(&fa, err_pipe[1], 2) == 0);
    pid_t pid;
    int spawned = posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    ck_assert_msg(spawned == 0, "posix_spawn %s: %s", argv[0], strerror(spawned));
    close(in_pipe[0]);
    close(out_pipe[1]);
    close(err_pipe[1]);
    if (stdin_text != NULL) {
        ssize_t w = write(in_pipe[1], stdin_text, strlen(stdin_text));
        (void)w;
    }
    close(in_pipe[1]);
    char *obuf = NULL, *ebuf = NULL;
    size_t olen = 0, ocap = 0, elen = 0, ecap = 0;
    grow(&obuf, &olen, &ocap); /* both allocated even when the command says nothing */
    grow(&ebuf, &elen, &ecap);
    struct pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
    int open_fds = 2;
    double give_up = th_now() + RUN_LIMIT_S;
    bool hung = false;
    while (open_fds > 0) {
        int left_ms = (int)((give_up - th_now()) * 1000);
        if (left_ms <= 0) {
            hung = true;
            break;
        }
        int n = poll(fds, 2, left_ms);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            bool more = i == 0 ? drain(fds[i].fd, &obuf, &olen, &ocap)
                               : drain(fds[i].fd, &ebuf, &elen, &ecap);
            if (!more) {
                close(fds[i].fd);
                fds[i].fd = -1;
                open_fds--;
            }
        }
    }
    for (int i = 0; i < 2; i++)
        if (fds[i].fd >= 0)
            close(fds[i].fd);
    if (hung) {
        kill(pid, SIGKILL);
        fprintf(stderr, "th_run: %s did not finish in %d s and was killed; its stderr: %s\n",
                argv[0], RUN_LIMIT_S, ebuf);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (out != NULL)
        *out = obuf;
    else
        free(obuf);
    if (err != NULL)
        *err = ebuf;
    else
        free(ebuf);
    return !hung && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int th_threads = 2;
unsigned th_password_iterations = 1000;
int th_token_ttl = 300;
unsigned th_nofile_soft, th_nofile_hard;

void th_env_init(th_env_t *env, const char *extra_yaml, const char *keys_yaml)
{
    snprintf(env->dir, sizeof(env->dir), "/tmp/identityd-test-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(env->dir));
    snprintf(env->config, sizeof(env->config), "%s/identityd.yaml", env->dir);
    snprintf(env->db, sizeof(env->db), "%s/identity.db", env->dir);
    env->pg_db[0] = '\0';
    if (th_store_pg())
        pg_test_create(env->pg_db, sizeof(env->pg_db), env->db, sizeof(env->db));

    char path[TH_PATH + 32];
    snprintf(path, sizeof(path), "%s/pepper", env->dir);
    th_write_file(path, "0123456789abcdef0123456789abcdef-test-pepper\n", 0600);

    snprintf(path, sizeof(path), "%s/es256.pem", env->dir);
    const char *gen[] = {th_ctl(), "key", "generate", "--alg", "ES256", "--out", path, NULL};
    char *err = NULL;
    int rc = th_run(gen, NULL, NULL, &err);
    ck_assert_msg(rc == 0, "identityctl key generate failed: %s", err);
    free(err);

    th_env_write_config(env, extra_yaml, keys_yaml);
}

const char *th_tenants_yaml;

void th_env_write_config(const th_env_t *env, const char *extra_yaml, const char *keys_yaml)
{
    size_t cap = 4096 + (extra_yaml ? strlen(extra_yaml) : 0) + (keys_yaml ? strlen(keys_yaml) : 0);
    char *yaml = malloc(cap);
    /* The SQLite file beside the config, or the conninfo of the test's PostgreSQL database
     * (quoted: pg.sh allows no quote or backslash in its folder). */
    char database[TH_PATH + 8];
    if (env->pg_db[0] != '\0')
        snprintf(database, sizeof(database), "\"%s\"", env->db);
    else
        snprintf(database, sizeof(database), "identity.db");
    snprintf(yaml, cap,
             "listen: [\"127.0.0.1:0\"]\n"
             "threads: %d\n"
             "database: %s\n"
             "workers: 2\n"
             "token: { ttl: %d }\n"
             "password: { iterations: %u, pepper_file: pepper }\n"
             "%s"
             "%s\n%s\n",
             th_threads, database, th_token_ttl, th_password_iterations,
             th_tenants_yaml ? th_tenants_yaml : TH_TENANTS_YAML,
             keys_yaml
                 ? keys_yaml
                 : "keys:\n  - { kid: test-es256, alg: ES256, file: es256.pem, state: active }",
             extra_yaml ? extra_yaml : "");
    /* Written aside and renamed, as an editor or a deployment would: a reload never reads a
     * half-written file. */
    char tmp[TH_PATH + 8];
    snprintf(tmp, sizeof(tmp), "%s.new", env->config);
    th_write_file(tmp, yaml, 0644);
    ck_assert_int_eq(rename(tmp, env->config), 0);
    free(yaml);
}

void th_env_dispose(th_env_t *env)
{
    char cmd[TH_PATH + 16];
    if (strncmp(env->dir, "/tmp/identityd-test-", 20) != 0)
        return;
    pg_test_drop(env->pg_db);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", env->dir);
    int rc = system(cmd);
    (void)rc;
}

int th_add_user(const th_env_t *env, const char *email, const char *password, const char *first,
                const char *last, const char *role)
{
    const char *argv[] = {th_ctl(), "-c",     env->config, "user",   "add", email, "--first",
                          first,    "--last", last,        "--role", role,  NULL};
    char line[1024];
    snprintf(line, sizeof(line), "%s\n", password);
    char *err = NULL;
    int rc = th_run(argv, line, NULL, &err);
    if (rc != 0)
        fprintf(stderr, "identityctl user add %s: %s\n", email, err);
    free(err);
    return rc;
}

char *th_user_guid(const th_env_t *env, const char *email)
{
    const char *argv[] = {th_ctl(), "-c", env->config, "user", "list", NULL};
    char *out = NULL, *err = NULL, *save = NULL, *guid = NULL;
    ck_assert_msg(th_run(argv, NULL, &out, &err) == 0, "identityctl user list: %s", err);
    for (char *line = strtok_r(out, "\n", &save); line != NULL && guid == NULL;
         line = strtok_r(NULL, "\n", &save)) {
        char id[64], tenant[16], mail[256];
        if (sscanf(line, "%63s %15s %255s", id, tenant, mail) == 3 && strcmp(mail, email) == 0)
            guid = strdup(id);
    }
    ck_assert_msg(guid != NULL && strlen(guid) == 36, "no user %s in: %s", email, out);
    free(out);
    free(err);
    return guid;
}

void th_user_row(const th_env_t *env, int64_t tenant, const char *email, idd_user_t *u)
{
    idd_store_t *s = NULL;
    ck_assert_int_eq(idd_store_open(env->db, &s), 0);
    ck_assert_int_eq(idd_store_user_by_email(s, tenant, email, u), 0);
    idd_store_free(s);
}

void th_sql(const th_env_t *env, const char *statement)
{
    if (env->pg_db[0] != '\0') {
        /* Another writer on the test's PostgreSQL database. */
        PGconn *c = PQconnectdb(env->db);
        ck_assert_msg(PQstatus(c) == CONNECTION_OK, "%s", PQerrorMessage(c));
        PGresult *r = PQexec(c, statement);
        ExecStatusType st = PQresultStatus(r);
        ck_assert_msg(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK, "%s: %s", statement,
                      PQerrorMessage(c));
        PQclear(r);
        PQfinish(c);
        return;
    }
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open_v2(env->db, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    char *err = NULL;
    int rc = sqlite3_exec(db, statement, NULL, NULL, &err);
    ck_assert_msg(rc == SQLITE_OK, "%s: %s", statement, err ? err : "?");
    sqlite3_close(db);
}

int64_t th_store_changes(const th_env_t *env)
{
    if (env->pg_db[0] != '\0') {
        /* Through the store's interface: its change version, as identityd reads it. */
        idd_store_t *s = NULL;
        int64_t version = 0;
        ck_assert_int_eq(idd_store_open(env->db, &s), 0);
        ck_assert_int_eq(idd_store_changes(s, &version), 0);
        idd_store_free(s);
        return version;
    }
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    ck_assert_int_eq(sqlite3_open_v2(env->db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    ck_assert_int_eq(
        sqlite3_prepare_v2(db, "SELECT version FROM store_changes WHERE id = 1", -1, &st, NULL),
        SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

double th_metric(const th_server_t *s, const char *series)
{
    th_response_t r;
    th_get(&r, s, "/metrics", NULL);
    ck_assert_int_eq(r.status, 200);
    char *key = th_strf("\n%s ", series);
    const char *line = strstr(r.body, key);
    ck_assert_msg(line != NULL, "no %s in /metrics", series);
    double v = strtod(line + strlen(key), NULL);
    free(key);
    th_response_dispose(&r);
    return v;
}

void th_wait_changes_seen(const th_server_t *s, const th_env_t *env)
{
    int64_t want = th_store_changes(env);
    double give_up = th_now() + 60;
    while (th_metric(s, "identityd_credcache_change_version") < (double)want) {
        ck_assert_msg(th_now() < give_up, "identityd never saw change version %lld",
                      (long long)want);
        usleep(20 * 1000);
    }
}

/* What a sanitizer prints first when it reports (TSan, ASan and LSan, UBSan). */
static const char *const sanitizer_marks[] = {"WARNING: ThreadSanitizer", "ERROR: AddressSanitizer",
                                              "ERROR: LeakSanitizer", "runtime error:"};

/* Servers started and not yet stopped (by this process or, for a test, by the runner that
 * forked it), by pid and log, so that a request that fails can say whether a server died
 * reporting. Copies, not pointers: a test's th_server_t may live on its stack. */
#define MAX_LIVE 8
static struct {
    pid_t pid;
    char log[TH_PATH];
} live[MAX_LIVE];

static void live_set(const th_server_t *s, bool on)
{
    for (int i = 0; i < MAX_LIVE; i++) {
        if (on ? live[i].pid == 0 : live[i].pid == s->pid) {
            live[i].pid = on ? s->pid : 0;
            if (on)
                memcpy(live[i].log, s->log, sizeof(live[i].log));
            return;
        }
    }
}

/* The start of the first sanitizer report in log, or NULL. */
static const char *find_report(const char *log)
{
    const char *report = NULL;
    for (size_t i = 0; log != NULL && i < sizeof(sanitizer_marks) / sizeof(sanitizer_marks[0]);
         i++) {
        const char *p = strstr(log, sanitizer_marks[i]);
        if (p != NULL && (report == NULL || p < report))
            report = p;
    }
    return report;
}

/* Prints the sanitizer report of every live server that has one (a request to it failed:
 * with halt_on_error the report is why). */
static void print_live_reports(void)
{
    for (int i = 0; i < MAX_LIVE; i++) {
        char *log = live[i].pid != 0 ? th_read_file(live[i].log) : NULL;
        const char *report = find_report(log);
        if (report != NULL)
            fprintf(stderr,
                    "identityd (pid %d) reported a sanitizer error; its log from the "
                    "report on:\n%s\n",
                    (int)live[i].pid, report);
        free(log);
    }
}

void th_server_start(th_server_t *s, const th_env_t *env)
{
    th_server_start_as(s, env, "identityd");
}

void th_server_start_as(th_server_t *s, const th_env_t *env, const char *name)
{
    memset(s, 0, sizeof(*s));
    snprintf(s->log, sizeof(s->log), "%s/%s.log", env->dir, name);
    /* A restart in the same folder must not read the previous server's port. */
    unlink(s->log);
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        int fd = open(s->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 2);
        dup2(fd, 1);
        if (th_nofile_hard > 0) {
            struct rlimit rl = {th_nofile_soft > 0 ? th_nofile_soft : th_nofile_hard,
                                th_nofile_hard};
            if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
                _exit(126);
        }
        execl(th_bin(), th_bin(), "-c", env->config, (char *)NULL);
        _exit(127);
    }
    s->pid = pid;
    /* identityd logs "listening on http://HOST:PORT" once every listener is bound. */
    /* Bounded generously: a sanitized identityd beside other suites on a loaded machine, or
     * one recovering a WAL after kill -9, may take many seconds to start. */
    for (double until = th_now() + 60; s->port == 0 && th_now() < until;) {
        char *log = th_read_file(s->log);
        const char *p = log ? strstr(log, "listening on http://127.0.0.1:") : NULL;
        if (p != NULL)
            s->port = atoi(p + strlen("listening on http://127.0.0.1:"));
        free(log);
        int status;
        if (s->port == 0 && waitpid(pid, &status, WNOHANG) == pid) {
            char *text = th_read_file(s->log);
            ck_abort_msg("identityd exited during start: %s", text ? text : "");
        }
        if (s->port == 0)
            usleep(10000);
    }
    ck_assert_msg(s->port > 0, "identityd did not report its port");
    live_set(s, true);
    snprintf(s->base, sizeof(s->base), "http://127.0.0.1:%d", s->port);
}

/* After identityd stopped with rc: a sanitizer report in its log, or any exit but a clean 0,
 * is a failure. The log goes to stderr (the test's output under ctest) before the caller's
 * folder, and so the log, is removed. Returns rc, or 1 when rc was 0 but a report was found
 * (a sanitizer that was told not to change the exit status). */
static int server_verdict(const th_server_t *s, int rc)
{
    char *log = th_read_file(s->log);
    const char *report = find_report(log);
    if (report != NULL || rc != 0) {
        const char *from = report;
        if (from == NULL && log != NULL)
            from = strlen(log) > 8192 ? log + strlen(log) - 8192 : log;
        fprintf(stderr,
                "identityd (pid %d) stopped with status %d (-1: a signal)%s; its log%s:\n%s\n",
                (int)s->pid, rc, report != NULL ? " and a sanitizer report" : "",
                report != NULL ? " from the report on" : "", from != NULL ? from : "(unreadable)");
        server_failures++;
        if (rc == 0)
            rc = 1;
    }
    free(log);
    return rc;
}

int th_server_stop(th_server_t *s)
{
    if (s->pid <= 0)
        return -1;
    kill(s->pid, SIGTERM);
    int status = 0, rc = -1;
    bool reaped = false;
    /* Sanitizer builds stop slower than plain ones: allow 30 s before SIGKILL. */
    for (int i = 0; i < 3000 && !reaped; i++) {
        if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
            reaped = true;
            rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        } else {
            usleep(10000);
        }
    }
    if (!reaped) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, &status, 0);
    }
    rc = server_verdict(s, rc);
    live_set(s, false);
    s->pid = 0;
    return rc;
}

void th_server_kill(th_server_t *s)
{
    if (s->pid <= 0)
        return;
    kill(s->pid, SIGKILL);
    int status;
    waitpid(s->pid, &status, 0);
    live_set(s, false);
    s->pid = 0;
}

/* What libcurl hands over (body or header block), NUL-terminated as it grows. */
typedef struct body_sink {
    char *data;
    size_t len;
} body_sink_t;

static size_t collect_body(char *data, size_t size, size_t n, void *arg)
{
    body_sink_t *b = arg;
    b->data = realloc(b->data, b->len + size * n + 1);
    memcpy(b->data + b->len, data, size * n);
    b->len += size * n;
    b->data[b->len] = '\0';
    return size * n;
}

void th_http(th_response_t *r, const char *method, const char *url, const char *const headers[],
             const char *body, size_t body_len, int flags)
{
    memset(r, 0, sizeof(*r));
    CURL *curl = curl_easy_init();
    ck_assert_ptr_nonnull(curl);
    struct curl_slist *list = NULL;
    for (size_t i = 0; headers != NULL && headers[i] != NULL; i++)
        list = curl_slist_append(list, headers[i]);
    body_sink_t sink = {NULL, 0}, head = {NULL, 0};
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, collect_body);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &head);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    if (body != NULL) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    }
    if (flags & TH_HTTP2)
        curl_easy_setopt(curl, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
    CURLcode rc = curl_easy_perform(curl);
    if (rc != CURLE_OK)
        print_live_reports();
    ck_assert_msg(rc == CURLE_OK, "%s %s: %s", method, url, curl_easy_strerror(rc));
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_getinfo(curl, CURLINFO_HTTP_VERSION, &r->http_version);
    r->body = sink.data ? sink.data : strdup("");
    r->body_len = sink.len;
    r->headers = head.data ? head.data : strdup("");
    curl_slist_free_all(list);
    curl_easy_cleanup(curl);
}

void th_response_dispose(th_response_t *r)
{
    free(r->body);
    free(r->headers);
    memset(r, 0, sizeof(*r));
}

char *th_header(const th_response_t *r, const char *name)
{
    size_t nlen = strlen(name);
    for (const char *line = r->headers; line && *line;) {
        const char *end = strstr(line, "\r\n");
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (len > nlen && line[nlen] == ':' && strncasecmp(line, name, nlen) == 0) {
            const char *v = line + nlen + 1;
            while (*v == ' ')
                v++;
            return strndup(v, (size_t)(line + len - v));
        }
        line = end ? end + 2 : NULL;
    }
    return NULL;
}

char *th_url(const th_server_t *s, const char *path)
{
    return th_strf("%s%s", s->base, path);
}

void th_get(th_response_t *r, const th_server_t *s, const char *path, const char *header)
{
    th_send(r, s, "GET", path, header, NULL);
}

void th_send(th_response_t *r, const th_server_t *s, const char *method, const char *path,
             const char *header, const char *json_body)
{
    const char *h[3];
    size_t n = 0;
    if (header != NULL)
        h[n++] = header;
    if (json_body != NULL)
        h[n++] = "Content-Type: application/json";
    h[n] = NULL;
    char *u = th_url(s, path);
    th_http(r, method, u, h, json_body, json_body ? strlen(json_body) : 0, 0);
    free(u);
}

char *th_basic(const char *user, const char *password)
{
    char plain[1024];
    int n = snprintf(plain, sizeof(plain), "%s:%s", user, password);
    char *enc = malloc(IDD_B64_LEN((size_t)n) + 1);
    idd_b64_encode(enc, plain, (size_t)n);
    char *h = th_strf("Authorization: Basic %s", enc);
    free(enc);
    return h;
}

char *th_bearer(const char *token)
{
    return th_strf("Authorization: Bearer %s", token);
}

void th_assert_json_content_type(const th_response_t *r)
{
    char *ct = th_header(r, "content-type");
    ck_assert_ptr_nonnull(ct);
    ck_assert_msg(strncmp(ct, "application/json", 16) == 0, "content-type %s", ct);
    free(ct);
}

void th_assert_error_envelope(const th_response_t *r, long status)
{
    ck_assert_msg(r->status == status, "expected %ld, got %ld: %s", status, r->status, r->body);
    json_t *j = th_json_parse(r->body);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "status")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "statusCode")), status);
    json_t *msg = json_object_get(json_object_get(j, "error"), "message");
    ck_assert_msg(json_is_string(msg) && json_string_length(msg) > 0, "no error.message: %s",
                  r->body);
    json_decref(j);
    th_assert_json_content_type(r);
}

void th_assert_error_message(const th_response_t *r, const char *message)
{
    json_t *j = th_json_parse(r->body);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "error"), "message")),
                     message);
    json_decref(j);
}

unsigned char *th_b64url_decode(const char *seg, size_t len, size_t *n)
{
    unsigned char *buf = malloc(IDD_B64_DECODED_MAX(len) + 1);
    size_t got = 0;
    ck_assert_msg(idd_b64url_decode(buf, &got, seg, len) == 0, "not base64url: %.*s", (int)len,
                  seg);
    buf[got] = '\0';
    if (n != NULL)
        *n = got;
    return buf;
}

json_t *th_b64url_json(const char *seg, size_t len)
{
    unsigned char *buf = th_b64url_decode(seg, len, NULL);
    json_t *j = th_json_parse((char *)buf);
    free(buf);
    return j;
}

json_t *th_jwt_part(const char *token, int index)
{
    ck_assert(index == 0 || index == 1);
    ck_assert_ptr_nonnull(token);
    const char *d1 = strchr(token, '.');
    const char *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    ck_assert_msg(d1 != NULL && d2 != NULL, "not a compact JWS: %s", token);
    return index == 0 ? th_b64url_json(token, (size_t)(d1 - token))
                      : th_b64url_json(d1 + 1, (size_t)(d2 - d1 - 1));
}

size_t th_curl_discard(char *data, size_t size, size_t n, void *arg)
{
    (void)data;
    (void)arg;
    return size * n;
}

CURL *th_multi_add(CURLM *multi, const char *url, struct curl_slist *headers, const char *body,
                   long timeout_s)
{
    CURL *easy = curl_easy_init();
    ck_assert_ptr_nonnull(easy);
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
    if (body != NULL)
        curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT, timeout_s);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, th_curl_discard);
    curl_multi_add_handle(multi, easy);
    return easy;
}

void th_multi_run(CURLM *multi)
{
    int running = 1;
    while (running) {
        curl_multi_perform(multi, &running);
        if (running)
            curl_multi_poll(multi, NULL, 0, 1000, NULL);
    }
}

long th_multi_finish(CURLM *multi, CURL *easy)
{
    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    curl_multi_remove_handle(multi, easy);
    curl_easy_cleanup(easy);
    return status;
}

json_t *th_read_ready_json(int fd, int timeout_ms, const char *who, const char *log_path)
{
    char line[512];
    size_t len = 0;
    const char *why = NULL;
    double deadline = th_now() + timeout_ms / 1000.0;
    while (why == NULL && memchr(line, '\n', len) == NULL) {
        double left = deadline - th_now();
        struct pollfd p = {fd, POLLIN, 0};
        if (left <= 0)
            why = "did not say it was ready in time";
        else if (len >= sizeof(line) - 1)
            why = "printed too long a line";
        else if (poll(&p, 1, (int)(left * 1000) + 1) > 0) {
            ssize_t n = read(fd, line + len, sizeof(line) - 1 - len);
            if (n <= 0)
                why = "exited before it was ready";
            else
                len += (size_t)n;
        }
    }
    line[len] = '\0';
    if (why != NULL) {
        char *log = log_path != NULL ? th_read_file(log_path) : NULL;
        ck_abort_msg("%s %s (printed \"%s\"): %s", who, why, line,
                     log != NULL ? log : "see its stderr above");
    }
    return th_json_parse(line);
}

/* ---- a consumer that checks every token ----------------------------------------------- */

/* The served JWKS, or NULL when the server did not answer 200. */
static char *verifier_jwks(const th_server_t *srv)
{
    th_response_t r;
    th_get(&r, srv, "/.well-known/jwks.json", NULL);
    char *body = r.status == 200 ? strdup(r.body) : NULL;
    th_response_dispose(&r);
    return body;
}

static void verifier_fail(th_verifier_t *v, const char *what, const char *detail)
{
    pthread_mutex_lock(&v->lock);
    if (v->failures++ == 0)
        snprintf(v->first_failure, sizeof(v->first_failure), "%s: %s", what, detail);
    pthread_mutex_unlock(&v->lock);
}

static void verifier_saw(th_verifier_t *v, const char *kid)
{
    pthread_mutex_lock(&v->lock);
    size_t i = 0;
    while (i < v->n_kids && strcmp(v->kids[i], kid) != 0)
        i++;
    if (i == v->n_kids && i < TH_VERIFIER_KIDS)
        snprintf(v->kids[v->n_kids++], sizeof(v->kids[0]), "%s", kid);
    if (i < TH_VERIFIER_KIDS)
        snprintf(v->last_kid, sizeof(v->last_kid), "%s", kid);
    pthread_mutex_unlock(&v->lock);
}

/* One round: the JWKS, then a token, checked against that JWKS. */
static void verifier_round(th_verifier_t *v)
{
    char *jwks_text = verifier_jwks(v->srv);
    idd_jwks_t jwks;
    if (jwks_text == NULL || idd_jwks_parse(jwks_text, strlen(jwks_text), &jwks) != 0) {
        verifier_fail(v, "no JWKS", jwks_text ? jwks_text : "(no 200)");
        free(jwks_text);
        return;
    }
    th_response_t r;
    th_get(&r, v->srv, "/api/2.0/security/oauth2/token", v->authorization);
    json_t *doc = r.status == 200 ? json_loads(r.body, 0, NULL) : NULL;
    const char *token = json_string_value(json_object_get(doc, "response"));
    if (token == NULL) {
        char status[32];
        snprintf(status, sizeof(status), "status %ld", r.status);
        verifier_fail(v, "no token", status);
    } else {
        const char *const audiences[] = {v->srv->base};
        idd_jwt_policy_t policy = {.algs = IDD_JWA_SIGNING & ~IDD_JWA_HS256,
                                   .issuer = v->srv->base,
                                   .audiences = audiences,
                                   .n_audiences = 1,
                                   .now = time(NULL),
                                   .skew = 60};
        idd_jwt_status_t st = idd_jwt_verify(token, strlen(token), &jwks, &policy, NULL);
        json_t *header = NULL, *claims = NULL;
        if (idd_jwt_decode(token, strlen(token), &header, &claims) == IDD_JWT_OK &&
            json_is_string(json_object_get(header, "kid")))
            verifier_saw(v, json_string_value(json_object_get(header, "kid")));
        if (st != IDD_JWT_OK)
            verifier_fail(v, "a token does not verify against the JWKS fetched before it",
                          idd_jwt_status_name(st));
        json_decref(header);
        json_decref(claims);
    }
    json_decref(doc);
    th_response_dispose(&r);
    idd_jwks_dispose(&jwks);
    free(jwks_text);
    pthread_mutex_lock(&v->lock);
    v->rounds++;
    pthread_mutex_unlock(&v->lock);
}

static void *verifier_main(void *arg)
{
    th_verifier_t *v = arg;
    for (;;) {
        pthread_mutex_lock(&v->lock);
        bool stop = v->stop;
        pthread_mutex_unlock(&v->lock);
        if (stop)
            return NULL;
        verifier_round(v);
    }
}

void th_verifier_start(th_verifier_t *v, const th_server_t *srv, const char *user,
                       const char *password)
{
    memset(v, 0, sizeof(*v));
    pthread_mutex_init(&v->lock, NULL);
    v->srv = srv;
    v->authorization = th_basic(user, password);
    ck_assert_int_eq(pthread_create(&v->tid, NULL, verifier_main, v), 0);
}

int th_verifier_rounds(th_verifier_t *v)
{
    pthread_mutex_lock(&v->lock);
    int n = v->rounds;
    pthread_mutex_unlock(&v->lock);
    return n;
}

size_t th_verifier_kids(th_verifier_t *v, char last[80])
{
    pthread_mutex_lock(&v->lock);
    size_t n = v->n_kids;
    if (last != NULL)
        snprintf(last, 80, "%s", v->last_kid);
    pthread_mutex_unlock(&v->lock);
    return n;
}

void th_verifier_wait(th_verifier_t *v, int rounds)
{
    int target = th_verifier_rounds(v) + rounds;
    for (double end = th_now() + 60; th_verifier_rounds(v) < target && th_now() < end;)
        usleep(5000);
    ck_assert_int_ge(th_verifier_rounds(v), target);
}

void th_verifier_stop(th_verifier_t *v)
{
    pthread_mutex_lock(&v->lock);
    v->stop = true;
    pthread_mutex_unlock(&v->lock);
    pthread_join(v->tid, NULL);
    free(v->authorization);
    v->authorization = NULL;
    ck_assert_msg(v->failures == 0, "%d of %d rounds failed; the first: %s", v->failures, v->rounds,
                  v->first_failure);
}

/* ---- the worker pools, as /metrics shows them ------------------------------------------ */

int th_kdf_gauge(const th_server_t *s, const char *name)
{
    th_response_t r;
    th_get(&r, s, "/metrics", NULL);
    ck_assert_int_eq(r.status, 200);
    char *key = th_strf("%s{pool=\"kdf\"} ", name);
    const char *line = strstr(r.body, key);
    ck_assert_msg(line != NULL, "no %s in /metrics", key);
    int n = atoi(line + strlen(key));
    free(key);
    th_response_dispose(&r);
    return n;
}

void th_pump_until_hashing(CURLM *multi, const th_server_t *s)
{
    double give_up = th_now() + 60;
    while (th_now() < give_up) {
        int running = 0;
        curl_multi_perform(multi, &running);
        if (th_kdf_gauge(s, "identityd_worker_running") >= 1)
            return;
        curl_multi_poll(multi, NULL, 0, 10, NULL);
    }
}
