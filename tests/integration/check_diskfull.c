/*
 * A full disk and a read-only database under a running identityd (README "Disk full and
 * read-only databases"), on SQLite: while the database cannot be written, every write a
 * client waits for (a sign-in's new session, an API key's creation, a logout) is answered
 * 503 with the error envelope and Retry-After; credentials whose rows are only read keep
 * getting tokens, warm (in the credential cache) and cold (read from the database now); once
 * the database can be written again the same writes succeed, without restarting identityd,
 * and the file passes PRAGMA integrity_check.
 *
 * The disk is "filled" without privileges: prlimit(2) lowers the running identityd's
 * RLIMIT_FSIZE to one byte, so every write to a regular file past its first byte fails
 * (EFBIG, or a short write that SQLite reports as SQLITE_FULL), exactly when asked; raising
 * the limit again is the space coming back. The kernel also sends SIGXFSZ with each such
 * write, whose default action ends the process: identityd must ignore it. (Its own log is a
 * regular file too, so what it logs meanwhile is lost, as on a real full disk.)
 *
 * A read-only database: changing a file's mode does nothing to a descriptor already open for
 * writing, so chmod cannot make a running identityd's database read-only. What can is the
 * immutable attribute (chattr +i, root only, on a file system that has it: ext4 then refuses
 * every write, EPERM, through descriptors already open), set on the database and its -wal
 * file (not its -shm file, which SQLite maps into memory: a refused write there would be a
 * SIGBUS). That variant skips, saying why, when it cannot set the attribute.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "harness.h"

#define TOKEN_PATH "/api/2.0/security/oauth2/token"
#define AUTH_PATH "/api/2.0/authentication"
#define LOGOUT_PATH "/api/2.0/authentication/logout"
#define KEYS_PATH "/api/2.0/keys"
#define RECOVER_BOUND_S 60.0

static th_env_t env;
static th_server_t srv;

static const char *signin_body = "{\"userName\":\"user@example.com\",\"password\":\"user pass\"}";

static bool alive(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    char *stat = th_read_file(path);
    const char *p = stat != NULL ? strrchr(stat, ')') : NULL;
    bool ok = p != NULL && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
    free(stat);
    return ok;
}

/* One request: its status; *out (may be NULL) the parsed body of a 200; *well_formed_503 (may
 * be NULL) whether it was a 503 with the error envelope and Retry-After. */
static long call(const char *method, const char *path, const char *auth, const char *body,
                 json_t **out, bool *well_formed_503)
{
    th_response_t r;
    th_send(&r, &srv, method, path, auth, body);
    long status = r.status;
    if (out != NULL)
        *out = status == 200 ? th_json_parse(r.body) : NULL;
    if (well_formed_503 != NULL) {
        bool ok = false;
        json_t *j = status == 503 && r.body != NULL ? json_loads(r.body, 0, NULL) : NULL;
        if (j != NULL) {
            json_t *e = json_object_get(j, "error");
            char *retry = th_header(&r, "retry-after");
            ok = json_integer_value(json_object_get(j, "statusCode")) == 503 &&
                 json_integer_value(json_object_get(j, "status")) == 1 &&
                 json_is_string(json_object_get(e, "message")) && retry != NULL && atoi(retry) >= 1;
            free(retry);
            json_decref(j);
        }
        *well_formed_503 = ok;
    }
    th_response_dispose(&r);
    return status;
}

static char *make_key(const char *owner)
{
    json_t *j = NULL;
    ck_assert_int_eq(call("POST", KEYS_PATH, owner, "{\"name\":\"k\"}", &j, NULL), 200);
    char *auth =
        th_bearer(json_string_value(json_object_get(json_object_get(j, "response"), "key")));
    json_decref(j);
    return auth;
}

static char *sign_in(void)
{
    json_t *j = NULL;
    ck_assert_int_eq(call("POST", AUTH_PATH, NULL, signin_body, &j, NULL), 200);
    char *h =
        th_bearer(json_string_value(json_object_get(json_object_get(j, "response"), "token")));
    json_decref(j);
    return h;
}

/* A write a client waits for, while the database cannot be written: 503, well formed. */
static void assert_write_refused(const char *method, const char *path, const char *auth,
                                 const char *body, const char *what)
{
    bool well_formed = false;
    long status = call(method, path, auth, body, NULL, &well_formed);
    ck_assert_msg(status == 503 && well_formed,
                  "%s while the database cannot be written: %ld, not 503 with the error "
                  "envelope and Retry-After",
                  what, status);
    ck_assert_msg(alive(srv.pid), "identityd exited after %s", what);
}

static void assert_token(const char *auth, const char *what)
{
    long status = call("GET", TOKEN_PATH, auth, NULL, NULL, NULL);
    ck_assert_msg(status == 200, "%s while the database cannot be written: %ld, not 200", what,
                  status);
}

/* Polls until method path answers 200 (bounded): the database is writable again. */
static void wait_ok(const char *method, const char *path, const char *auth, const char *body,
                    const char *what)
{
    double t0 = th_now();
    long status = 0;
    while (th_now() - t0 < RECOVER_BOUND_S) {
        status = call(method, path, auth, body, NULL, NULL);
        if (status == 200)
            return;
        ck_assert_msg(alive(srv.pid), "identityd exited while waiting for %s", what);
        usleep(50000);
    }
    ck_abort_msg("%s after the database became writable: still %ld after %.0f s", what, status,
                 RECOVER_BOUND_S);
}

static void integrity_ok(void)
{
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open_v2(env.db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    ck_assert_int_eq(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    const char *res = (const char *)sqlite3_column_text(st, 0);
    ck_assert_msg(res != NULL && strcmp(res, "ok") == 0, "integrity_check: %s",
                  res != NULL ? res : "(null)");
    sqlite3_finalize(st);
    sqlite3_close(db);
}

typedef struct fixture {
    char *admin_basic, *warm_key, *cold_key, *session, *logout_session;
} fixture_t;

/* Starts identityd on a fresh environment, with credentials of every kind: a key used once
 * (warm), a key and a session never used (cold: their first use reads their rows), and a
 * session to log out. */
static void setup(fixture_t *f)
{
    th_threads = 2;
    th_env_init(&env, "cache:\n  check_interval_ms: 100\n", NULL);
    ck_assert_int_eq(
        th_add_user(&env, "admin@example.com", "correct horse", "Ada", "Admin", "admin"), 0);
    ck_assert_int_eq(th_add_user(&env, "user@example.com", "user pass", "Bob", "User", "user"), 0);
    th_server_start(&srv, &env);
    th_wait_changes_seen(&srv, &env);
    f->admin_basic = th_basic("admin@example.com", "correct horse");
    f->warm_key = make_key(f->admin_basic);
    f->cold_key = make_key(f->admin_basic);
    f->session = sign_in();
    f->logout_session = sign_in();
    ck_assert_int_eq(call("GET", TOKEN_PATH, f->warm_key, NULL, NULL, NULL), 200);
}

/* What the database refusing writes must look like to clients, then (restore) the database
 * writable again and the same writes succeeding. */
static size_t log_size(void)
{
    char *log = th_read_file(srv.log);
    size_t n = log != NULL ? strlen(log) : 0;
    free(log);
    return n;
}

/* What identityd logged since offset while the database refused writes: the store's warning,
 * and no error line (a failure that repeats with every request is a warning at most once a
 * second, not an error per request). */
static void assert_logged_once(size_t offset)
{
    char *log = th_read_file(srv.log);
    ck_assert_ptr_nonnull(log);
    const char *since = strlen(log) > offset ? log + offset : "";
    ck_assert_msg(strstr(since, "the database cannot be written now") != NULL,
                  "no warning that the database cannot be written in:\n%s", since);
    ck_assert_msg(strstr(since, "Z error ") == NULL,
                  "an error logged while the database could not be written:\n%s", since);
    free(log);
}

/* log_lost: the state also stops identityd's own log (a full disk), so it is not read. */
static void exercise(fixture_t *f, void (*block)(void), void (*restore)(void), bool log_lost)
{
    size_t offset = log_size();
    block();
    assert_write_refused("POST", AUTH_PATH, NULL, signin_body, "a sign-in");
    assert_write_refused("POST", KEYS_PATH, f->admin_basic, "{\"name\":\"during\"}",
                         "an API key's creation");
    assert_write_refused("POST", LOGOUT_PATH, f->logout_session, NULL, "a logout");
    assert_token(f->warm_key, "a warm API key");
    assert_token(f->cold_key, "a cold API key");
    assert_token(f->session, "a cold session");
    /* Refused again, after the reads: nothing in between made the database writable. */
    assert_write_refused("POST", AUTH_PATH, NULL, signin_body, "a second sign-in");
    ck_assert_msg(alive(srv.pid), "identityd exited while the database could not be written");
    if (!log_lost)
        assert_logged_once(offset);

    restore();
    wait_ok("POST", AUTH_PATH, NULL, signin_body, "a sign-in");
    char *fresh = make_key(f->admin_basic);
    ck_assert_int_eq(call("GET", TOKEN_PATH, fresh, NULL, NULL, NULL), 200);
    free(fresh);
    ck_assert_int_eq(call("POST", LOGOUT_PATH, f->logout_session, NULL, NULL, NULL), 200);
    /* The logout took: the session no longer gets tokens. */
    th_wait_changes_seen(&srv, &env);
    ck_assert_int_eq(call("GET", TOKEN_PATH, f->logout_session, NULL, NULL, NULL), 401);
    assert_token(f->warm_key, "the warm API key afterwards");
    ck_assert_msg(alive(srv.pid), "identityd exited");
    ck_assert_int_eq(th_server_stop(&srv), 0);
    integrity_ok();
}

static void teardown(fixture_t *f)
{
    free(f->admin_basic);
    free(f->warm_key);
    free(f->cold_key);
    free(f->session);
    free(f->logout_session);
    th_env_dispose(&env);
}

/* ---- disk full: RLIMIT_FSIZE ----------------------------------------------------------------- */

static struct rlimit fsize_before;

static void fill_disk(void)
{
    struct rlimit one;
    ck_assert_int_eq(prlimit(srv.pid, RLIMIT_FSIZE, NULL, &fsize_before), 0);
    one = fsize_before;
    one.rlim_cur = 1;
    ck_assert_msg(prlimit(srv.pid, RLIMIT_FSIZE, &one, NULL) == 0, "prlimit: %s", strerror(errno));
}

static void free_space(void)
{
    ck_assert_msg(prlimit(srv.pid, RLIMIT_FSIZE, &fsize_before, NULL) == 0, "prlimit: %s",
                  strerror(errno));
}

START_TEST(disk_full)
{
    TH_SKIP_UNLESS_SQLITE("a full disk under the SQLite file; PostgreSQL's is its server's");
    fixture_t f;
    setup(&f);
    exercise(&f, fill_disk, free_space, true);
    teardown(&f);
}
END_TEST

/* ---- read-only: the immutable attribute ------------------------------------------------------ */

static int chattr(const char *flag, const char *path)
{
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) {
            dup2(null, 1);
            dup2(null, 2);
        }
        execlp("chattr", "chattr", flag, path, (char *)NULL);
        _exit(127);
    }
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) != pid)
        return -1;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static char wal_path[TH_PATH + 8];

/* A failed assertion ends the test's process (exit): the attribute must not outlive it, or
 * nobody could remove the environment's folder. */
static void clear_attributes(void)
{
    chattr("-i", wal_path);
    chattr("-i", env.db);
}

static void make_read_only(void)
{
    snprintf(wal_path, sizeof wal_path, "%s-wal", env.db);
    atexit(clear_attributes);
    ck_assert_msg(chattr("+i", env.db) == 0 && chattr("+i", wal_path) == 0,
                  "chattr +i failed on %s after a probe succeeded", env.db);
}

static void make_writable(void)
{
    ck_assert_int_eq(chattr("-i", wal_path), 0);
    ck_assert_int_eq(chattr("-i", env.db), 0);
}

START_TEST(read_only)
{
    TH_SKIP_UNLESS_SQLITE("a read-only SQLite file; PostgreSQL's is its server's");
    /* Whether this machine can set the attribute at all: root, chattr, a file system with
     * it. */
    char probe[TH_PATH];
    snprintf(probe, sizeof probe, "/tmp/idd-diskfull-probe-%d", (int)getpid());
    th_write_file(probe, "x", 0600);
    bool can = geteuid() == 0 && chattr("+i", probe) == 0;
    if (can)
        chattr("-i", probe);
    unlink(probe);
    if (!can) {
        fprintf(stderr,
                "%s:%d: SKIP read_only: the immutable attribute cannot be set here (needs root, "
                "chattr and a file system such as ext4); chmod would not do, since it leaves "
                "descriptors already open for writing as they are\n",
                __FILE__, __LINE__);
        return;
    }
    fixture_t f;
    setup(&f);
    exercise(&f, make_read_only, make_writable, false);
    teardown(&f);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("diskfull");
    TCase *tc = tcase_create("diskfull");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, disk_full);
    tcase_add_test(tc, read_only);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return th_run_suite(make_suite());
}
