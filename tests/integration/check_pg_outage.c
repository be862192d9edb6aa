/*
 * Losing PostgreSQL under load (README "When PostgreSQL is lost"): identityd runs on a
 * PostgreSQL server of this suite's own (tests/scripts/pg.sh, so that stopping it disturbs
 * no other pg/ suite), clients keep a steady load of mixed requests, and the server is
 * stopped (fast mode, then immediate mode), kept down, and started again; then frozen
 * (SIGSTOP: what a silent host looks like, every connect and query left unanswered) and
 * continued. Registered only as pg/integration/check_pg_outage, without the pg fixture: the
 * server here is its own.
 *
 * What is asserted: identityd never exits; every request is answered (none waits past
 * ANSWER_BOUND_S); while the server is down /readyz is 503, and once the credential cache's
 * change check has failed (the cache is then emptied until it can check again, so warm
 * credentials too need the database) every credential, warm or cold, and every sign-in gets
 * 503 with the error envelope and Retry-After; once the server is back, /readyz turns 200
 * and cold credentials (a key never used, a session, a sign-in) work again, all without
 * restarting identityd. Every wait polls for the state it expects, bounded; the outage lasts
 * until the clients have seen enough of it, not a fixed time.
 */
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define TOKEN_PATH "/api/2.0/security/oauth2/token"
#define AUTH_PATH "/api/2.0/authentication"
#define SELF_PATH "/api/2.0/people/@self"
#define KEYS_PATH "/api/2.0/keys"

#define CLIENTS 3
#define COLD_KEYS 12
#define ANSWER_BOUND_S                                                                             \
    25.0 /* a stuck loop-side write (8 s), then a probe (8 s and a 3 s connect) */
#define RECOVER_BOUND_S 60.0
#define DOWN_ANSWERS 40 /* requests answered while down (confirmed) before the server returns */

/* ---- the suite's own PostgreSQL server (unchecked fixture: runs in the runner) ----------- */

static char pg_dir[64];
static char pg_file[128];

static int pg_sh(const char *cmd, const char *arg, char *out, size_t outlen)
{
    char line[512];
    snprintf(line, sizeof line, "bash '%s/tests/scripts/pg.sh' %s '%s' %s",
             getenv("IDD_SOURCE_DIR"), cmd, pg_dir, arg != NULL ? arg : "");
    FILE *p = popen(line, "r");
    if (p == NULL)
        return -1;
    if (out != NULL && fgets(out, (int)outlen, p) == NULL)
        out[0] = '\0';
    char drain[256];
    while (fgets(drain, sizeof drain, p) != NULL)
        ;
    int st = pclose(p);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static void pg_server_start(void)
{
    char conninfo[512];
    snprintf(pg_dir, sizeof pg_dir, "/tmp/idd-pgout-XXXXXX");
    if (getenv("IDD_SOURCE_DIR") == NULL || mkdtemp(pg_dir) == NULL ||
        pg_sh("start", NULL, conninfo, sizeof conninfo) != 0 || conninfo[0] == '\0') {
        fprintf(stderr, "check_pg_outage: could not start a PostgreSQL server in %s\n", pg_dir);
        abort();
    }
    snprintf(pg_file, sizeof pg_file, "%s.conninfo", pg_dir);
    FILE *f = fopen(pg_file, "w");
    if (f == NULL || fputs(conninfo, f) < 0 || fclose(f) != 0)
        abort();
    /* What tests/pg_test.h reads: th_env_init makes the test's database on this server. */
    setenv("IDD_TEST_PG_FILE", pg_file, 1);
    setenv("IDD_TEST_STORE", "pg", 1);
}

static void pg_server_stop(void)
{
    if (pg_dir[0] != '\0' && pg_sh("stop", NULL, NULL, 0) != 0)
        fprintf(stderr, "check_pg_outage: could not stop the server in %s\n", pg_dir);
    if (pg_file[0] != '\0')
        unlink(pg_file);
}

/* ---- the environment ------------------------------------------------------------------------ */

static th_env_t env;
static th_server_t srv;

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

/* One request; returns the status (0: no answer); *well_formed_503 (may be NULL) tells
 * whether it was a 503 with the error envelope and Retry-After; *took its seconds. */
static long request(CURL *c, const char *method, const char *path, const char *auth,
                    const char *body, bool *well_formed_503, double *took)
{
    char *url = th_url(&srv, path);
    struct curl_slist *h = NULL;
    if (auth != NULL)
        h = curl_slist_append(h, auth);
    if (body != NULL)
        h = curl_slist_append(h, "Content-Type: application/json");
    char *resp = NULL, *head = NULL;
    size_t resp_len = 0, head_len = 0;
    FILE *rb = open_memstream(&resp, &resp_len), *hb = open_memstream(&head, &head_len);
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    if (body != NULL)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, rb);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, hb);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)((ANSWER_BOUND_S + 10) * 1000));
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    double t0 = th_now();
    long status = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    *took = th_now() - t0;
    fclose(rb);
    fclose(hb);
    if (well_formed_503 != NULL) {
        bool ok = false;
        json_t *j = status == 503 && resp != NULL ? json_loads(resp, 0, NULL) : NULL;
        if (j != NULL) {
            json_t *e = json_object_get(j, "error");
            ok = json_integer_value(json_object_get(j, "statusCode")) == 503 &&
                 json_integer_value(json_object_get(j, "status")) == 1 &&
                 json_is_string(json_object_get(e, "message")) &&
                 strcasestr(head != NULL ? head : "", "\nretry-after: ") != NULL;
            json_decref(j);
        }
        *well_formed_503 = ok;
    }
    free(resp);
    free(head);
    curl_slist_free_all(h);
    free(url);
    return status;
}

/* ---- the clients ----------------------------------------------------------------------------- */

enum kind { K_WARM_KEY, K_COLD_KEY, K_SESSION, K_SIGNIN, K_READYZ, K_KINDS };
static const char *const kind_names[K_KINDS] = {"warm API key", "cold API key", "session",
                                                "sign-in", "/readyz"};

static char *admin_basic, *warm_key, *session, *cold_keys[COLD_KEYS];
static const char *signin_body = "{\"userName\":\"user@example.com\",\"password\":\"user pass\"}";

/* When the outage is confirmed (down_from) and when the server is asked to come back
 * (down_until), on th_now's clock; 0 while unset. */
static _Atomic double down_from, down_until;
static atomic_bool stop_clients;

typedef struct client {
    pthread_t tid;
    int index;
    pthread_mutex_t lock; /* guards the counts below */
    int answered, down_answered;
    int unanswered, too_slow, down_wrong;
    char first_problem[256];
} client_t;

static void problem(client_t *cl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(client_t *cl, const char *fmt, ...)
{
    if (cl->first_problem[0] != '\0')
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cl->first_problem, sizeof cl->first_problem, fmt, ap);
    va_end(ap);
}

static void *client_run(void *arg)
{
    client_t *cl = arg;
    CURL *c = curl_easy_init();
    for (unsigned n = (unsigned)cl->index; !atomic_load(&stop_clients); n++) {
        enum kind k = (enum kind)(n % K_KINDS);
        const char *path = TOKEN_PATH, *auth = NULL, *method = "GET", *body = NULL;
        switch (k) {
        case K_WARM_KEY:
            auth = warm_key;
            break;
        case K_COLD_KEY:
            auth = cold_keys[(n / K_KINDS) % COLD_KEYS];
            break;
        case K_SESSION:
            path = SELF_PATH;
            auth = session;
            break;
        case K_SIGNIN:
            path = AUTH_PATH;
            method = "POST";
            body = signin_body;
            break;
        default:
            path = "/readyz";
            break;
        }
        double sent = th_now();
        bool well_formed = false;
        double took = 0;
        long status = request(c, method, path, auth, body, &well_formed, &took);
        double from = atomic_load(&down_from), until = atomic_load(&down_until);
        bool down = from > 0 && sent >= from && (until == 0 || sent + took <= until);
        pthread_mutex_lock(&cl->lock);
        cl->answered++;
        if (status == 0) {
            cl->unanswered++;
            problem(cl, "%s: no answer (status %ld) after %.1f s", kind_names[k], status, took);
        } else if (took > ANSWER_BOUND_S) {
            cl->too_slow++;
            problem(cl, "%s: answered %ld only after %.1f s", kind_names[k], status, took);
        }
        if (down && status != 0) {
            cl->down_answered++;
            /* /readyz answers its checks, not the error envelope. */
            if (status != 503 || (k != K_READYZ && !well_formed)) {
                cl->down_wrong++;
                problem(cl,
                        "%s while PostgreSQL was down: %ld (after %.1f s), not 503 with the "
                        "error envelope and Retry-After",
                        kind_names[k], status, took);
            }
        }
        pthread_mutex_unlock(&cl->lock);
    }
    curl_easy_cleanup(c);
    return NULL;
}

static int down_answers(client_t *cls)
{
    int n = 0;
    for (int i = 0; i < CLIENTS; i++) {
        pthread_mutex_lock(&cls[i].lock);
        n += cls[i].down_answered;
        pthread_mutex_unlock(&cls[i].lock);
    }
    return n;
}

/* ---- plumbing -------------------------------------------------------------------------------- */

static long call(const char *method, const char *path, const char *auth, const char *body,
                 json_t **out)
{
    th_response_t r;
    th_send(&r, &srv, method, path, auth, body);
    long status = r.status;
    if (out != NULL)
        *out = status == 200 ? th_json_parse(r.body) : NULL;
    th_response_dispose(&r);
    return status;
}

static char *make_key(const char *owner)
{
    json_t *j = NULL;
    ck_assert_int_eq(call("POST", KEYS_PATH, owner, "{\"name\":\"k\"}", &j), 200);
    char *auth =
        th_bearer(json_string_value(json_object_get(json_object_get(j, "response"), "key")));
    json_decref(j);
    return auth;
}

static char *sign_in(void)
{
    json_t *j = NULL;
    ck_assert_int_eq(call("POST", AUTH_PATH, NULL, signin_body, &j), 200);
    char *h =
        th_bearer(json_string_value(json_object_get(json_object_get(j, "response"), "token")));
    json_decref(j);
    return h;
}

/* Polls until method path answers want (bounded); returns the seconds it took. */
static double wait_for(const char *method, const char *path, const char *auth, const char *body,
                       long want, const char *what)
{
    double t0 = th_now();
    long status = 0;
    while (th_now() - t0 < RECOVER_BOUND_S) {
        status = call(method, path, auth, body, NULL);
        if (status == want)
            return th_now() - t0;
        ck_assert_msg(alive(srv.pid), "identityd exited while waiting for %s", what);
        usleep(50000);
    }
    ck_abort_msg("%s: still %ld, not %ld, after %.0f s", what, status, want, RECOVER_BOUND_S);
    return 0;
}

/* The change check has failed since the outage began: its warning is in the log after
 * offset. */
static void wait_change_check_failed(size_t offset)
{
    double t0 = th_now();
    for (;;) {
        char *log = th_read_file(srv.log);
        bool seen = log != NULL && strlen(log) > offset &&
                    strstr(log + offset, "could not read the store's change version") != NULL;
        free(log);
        if (seen)
            return;
        ck_assert_msg(th_now() - t0 < RECOVER_BOUND_S,
                      "the change check never failed while PostgreSQL was down");
        ck_assert_msg(alive(srv.pid), "identityd exited while PostgreSQL was down");
        usleep(20000);
    }
}

static size_t log_size(void)
{
    char *log = th_read_file(srv.log);
    size_t n = log != NULL ? strlen(log) : 0;
    free(log);
    return n;
}

/* ---- the test -------------------------------------------------------------------------------- */

/* A process that thaws the server after a while whatever becomes of the test (a stopped
 * server would hold up its own stop): its pid, or 0. */
static pid_t watchdog;

static void server_down(const char *how)
{
    if (strcmp(how, "freeze") != 0) {
        ck_assert_msg(pg_sh("down", how, NULL, 0) == 0, "pg.sh down %s failed", how);
        return;
    }
    watchdog = fork();
    ck_assert_int_ge(watchdog, 0);
    if (watchdog == 0) {
        sleep(150);
        (void)pg_sh("thaw", NULL, NULL, 0);
        _exit(0);
    }
    ck_assert_msg(pg_sh("freeze", NULL, NULL, 0) == 0, "pg.sh freeze failed");
}

static void server_up(const char *how)
{
    if (strcmp(how, "freeze") != 0) {
        ck_assert_msg(pg_sh("up", NULL, NULL, 0) == 0, "pg.sh up failed");
        return;
    }
    ck_assert_msg(pg_sh("thaw", NULL, NULL, 0) == 0, "pg.sh thaw failed");
    kill(watchdog, SIGKILL);
    waitpid(watchdog, NULL, 0);
    watchdog = 0;
}

/* One outage: how is pg_ctl's stop mode (fast, immediate: the server goes away, its socket
 * with it), or freeze (its processes stopped: connections and connects are accepted by the
 * kernel but never answered, as with a host that went silent). */
static void outage(const char *how, client_t *cls)
{
    /* The clients run at full speed before the outage: every kind answers 200 (readyz
     * included) at least once more, now, with all caches as they are. */
    wait_for("GET", "/readyz", NULL, NULL, 200, "/readyz before the outage");
    wait_for("GET", TOKEN_PATH, warm_key, NULL, 200, "the warm key before the outage");

    size_t offset = log_size();
    int before = down_answers(cls);
    server_down(how);
    /* Down: /readyz says so, and once the change check failed the cache holds nothing. */
    wait_for("GET", "/readyz", NULL, NULL, 503, "/readyz while PostgreSQL is down");
    wait_change_check_failed(offset);
    atomic_store(&down_until, 0.0);
    atomic_store(&down_from, th_now());
    /* Kept down until the clients have been answered enough times (bounded). */
    for (double t0 = th_now(); down_answers(cls) - before < DOWN_ANSWERS;) {
        ck_assert_msg(th_now() - t0 < RECOVER_BOUND_S,
                      "the clients were answered only %d times in %.0f s of outage",
                      down_answers(cls) - before, RECOVER_BOUND_S);
        ck_assert_msg(alive(srv.pid), "identityd exited while PostgreSQL was down");
        usleep(20000);
    }
    /* A sign-in and a key made now need the database too. */
    ck_assert_int_eq(call("POST", AUTH_PATH, NULL, signin_body, NULL), 503);
    ck_assert_int_eq(call("GET", TOKEN_PATH, warm_key, NULL, NULL), 503);

    atomic_store(&down_until, th_now());
    server_up(how);
    /* Back, without restarting identityd: readiness, then every kind of credential, cold
     * ones included (a key never used before; the session and the warm key, whose entries
     * the emptied cache lost). */
    wait_for("GET", "/readyz", NULL, NULL, 200, "/readyz after PostgreSQL returned");
    char *fresh = NULL;
    wait_for("GET", TOKEN_PATH, cold_keys[COLD_KEYS - 1], NULL, 200, "a cold key after");
    wait_for("GET", SELF_PATH, session, NULL, 200, "the session after");
    wait_for("GET", TOKEN_PATH, warm_key, NULL, 200, "the warm key after");
    wait_for("POST", AUTH_PATH, NULL, signin_body, 200, "a sign-in after");
    /* And writes: a new key, used at once. */
    for (double t0 = th_now(); fresh == NULL && th_now() - t0 < RECOVER_BOUND_S;) {
        json_t *j = NULL;
        if (call("POST", KEYS_PATH, admin_basic, "{\"name\":\"after\"}", &j) == 200)
            fresh = th_bearer(
                json_string_value(json_object_get(json_object_get(j, "response"), "key")));
        json_decref(j);
        if (fresh == NULL)
            usleep(50000);
    }
    ck_assert_msg(fresh != NULL, "no API key could be made after PostgreSQL returned");
    wait_for("GET", TOKEN_PATH, fresh, NULL, 200, "a key made after the outage");
    free(fresh);
    ck_assert_msg(alive(srv.pid), "identityd exited");
}

START_TEST(restart_under_load)
{
    th_threads = 2;
    th_env_init(&env, "cache:\n  check_interval_ms: 100\nsessions:\n  max_per_user: 100000\n",
                NULL);
    ck_assert_int_eq(
        th_add_user(&env, "admin@example.com", "correct horse", "Ada", "Admin", "admin"), 0);
    ck_assert_int_eq(th_add_user(&env, "user@example.com", "user pass", "Bob", "User", "user"), 0);
    th_server_start(&srv, &env);
    fprintf(stderr, "check_pg_outage: identityd logs to %s\n", srv.log);
    th_wait_changes_seen(&srv, &env);

    admin_basic = th_basic("admin@example.com", "correct horse");
    warm_key = make_key(admin_basic);
    for (int i = 0; i < COLD_KEYS; i++)
        cold_keys[i] = make_key(admin_basic);
    session = sign_in();
    ck_assert_int_eq(call("GET", TOKEN_PATH, warm_key, NULL, NULL), 200);

    client_t cls[CLIENTS];
    memset(cls, 0, sizeof cls);
    atomic_store(&stop_clients, false);
    for (int i = 0; i < CLIENTS; i++) {
        cls[i].index = i;
        pthread_mutex_init(&cls[i].lock, NULL);
        ck_assert_int_eq(pthread_create(&cls[i].tid, NULL, client_run, &cls[i]), 0);
    }

    outage("fast", cls);
    outage("immediate", cls);
    outage("freeze", cls);

    atomic_store(&stop_clients, true);
    int answered = 0, down = 0;
    for (int i = 0; i < CLIENTS; i++) {
        pthread_join(cls[i].tid, NULL);
        answered += cls[i].answered;
        down += cls[i].down_answered;
        ck_assert_msg(cls[i].unanswered == 0 && cls[i].too_slow == 0 && cls[i].down_wrong == 0,
                      "client %d: %d unanswered, %d slower than %.0f s, %d wrong while down; "
                      "first: %s",
                      i, cls[i].unanswered, cls[i].too_slow, ANSWER_BOUND_S, cls[i].down_wrong,
                      cls[i].first_problem);
    }
    fprintf(stderr, "check_pg_outage: %d requests answered, %d while PostgreSQL was down\n",
            answered, down);
    ck_assert_int_ge(down, 3 * DOWN_ANSWERS);
    ck_assert_msg(alive(srv.pid), "identityd exited");
    ck_assert_int_eq(th_server_stop(&srv), 0);
    free(admin_basic);
    free(warm_key);
    free(session);
    for (int i = 0; i < COLD_KEYS; i++)
        free(cold_keys[i]);
    th_env_dispose(&env);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("pg_outage");
    TCase *tc = tcase_create("outage");
    tcase_set_timeout(tc, 280);
    tcase_add_unchecked_fixture(tc, pg_server_start, pg_server_stop);
    tcase_add_test(tc, restart_under_load);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return th_run_suite(make_suite());
}
