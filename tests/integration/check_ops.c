/*
 * Operating identityd: liveness and readiness, the drain after SIGTERM (readiness turns 503
 * for requests still arriving on open connections, in-flight requests finish, and after
 * shutdown_timeout the process exits 0 anyway, saying how many it abandoned, with the
 * pending API key uses written), and the drop of privileges when started as root.
 *
 * "In flight" is a Basic password check made slow on purpose (many PBKDF2 iterations); the
 * tests wait for the state they need (a worker hashing, the server draining) instead of
 * sleeping for a guessed time.
 */
#include <check.h>
#include <dirent.h>
#include <curl/curl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define TOKEN_PATH "/api/2.0/security/oauth2/token"

static th_env_t env;
static th_server_t srv;

static void start(const char *extra_yaml)
{
    th_env_init(&env, extra_yaml, NULL);
    ck_assert_int_eq(th_add_user(&env, "slow@example.com", "pw", "Slow", "Hash", "user"), 0);
    th_server_start(&srv, &env);
}

static void setup(void)
{
    start(NULL);
}

static void teardown(void)
{
    int rc = srv.pid > 0 ? th_server_stop(&srv) : 0;
    th_env_dispose(&env);
    ck_assert_int_eq(rc, 0);
}

/* ---- liveness and readiness ---- */

START_TEST(healthz_and_readyz)
{
    th_response_t r;
    th_get(&r, &srv, "/healthz", NULL);
    ck_assert_int_eq(r.status, 200);
    th_assert_json_content_type(&r);
    ck_assert_str_eq(r.body, "{\"status\":\"ok\"}");
    th_response_dispose(&r);

    th_get(&r, &srv, "/readyz", NULL);
    ck_assert_int_eq(r.status, 200);
    th_assert_json_content_type(&r);
    json_t *doc = th_json_parse(r.body);
    ck_assert_str_eq(json_string_value(json_object_get(doc, "status")), "ok");
    json_t *checks = json_object_get(doc, "checks");
    ck_assert_str_eq(json_string_value(json_object_get(checks, "database")), "ok");
    ck_assert_str_eq(json_string_value(json_object_get(checks, "signing_key")), "ok");
    ck_assert_str_eq(json_string_value(json_object_get(checks, "draining")), "ok");
    json_decref(doc);
    th_response_dispose(&r);

    /* Not bound to a tenant: an unknown host gets them too; /health is as it was. */
    th_get(&r, &srv, "/readyz", "Host: nobody.test");
    ck_assert_int_eq(r.status, 200);
    th_response_dispose(&r);
    th_get(&r, &srv, "/healthz", "Host: nobody.test");
    ck_assert_int_eq(r.status, 200);
    th_response_dispose(&r);
    th_get(&r, &srv, "/health", NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "{\"status\":\"ok\"}");
    th_response_dispose(&r);
}
END_TEST

/* ---- the drain ---- */

/* Starts a Basic token request as login on multi and returns its handle. */
static CURL *start_basic(CURLM *multi, const char *login, struct curl_slist **headers)
{
    char *basic = th_basic(login, "pw");
    *headers = curl_slist_append(NULL, basic);
    free(basic);
    char *url = th_url(&srv, TOKEN_PATH);
    CURL *easy = th_multi_add(multi, url, *headers, NULL, 120);
    free(url);
    return easy;
}

/* An easy handle for GETs on one kept-alive HTTP/1.1 connection. */
static CURL *keepalive_handle(th_response_t *body)
{
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, th_curl_discard);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    return c;
}

/* GET path on c; returns the status (0: no answer) and the number of connections curl had
 * to open for it. */
static long keepalive_get(CURL *c, const char *path, long *new_connections)
{
    char *url = th_url(&srv, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    long status = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, new_connections);
    free(url);
    return status;
}

/* The KDF threads are named and run as batch work (policy 3, SCHED_BATCH), so that a flood
 * of password checks never delays a loop woken by a request; the outbound threads and the
 * loops keep the process's policy. None runs at another nice value. */
START_TEST(kdf_threads_are_batch_work)
{
    char *dir = th_strf("/proc/%d/task", (int)srv.pid);
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int kdf = 0, out = 0, others = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char *comm_path = th_strf("%s/%s/comm", dir, e->d_name);
        char *stat_path = th_strf("%s/%s/stat", dir, e->d_name);
        char *comm = th_read_file(comm_path);
        char *stat = th_read_file(stat_path);
        /* fields 19 (nice) and 41 (policy) of stat, counted after the ")" closing comm */
        const char *p = strrchr(stat, ')');
        long nice = 0, policy = -1;
        ck_assert_ptr_nonnull(p);
        for (int field = 2; field <= 41 && p != NULL; field++) {
            p = strchr(p + 1, ' ');
            if (p != NULL && field == 18)
                nice = strtol(p + 1, NULL, 10);
            if (p != NULL && field == 40)
                policy = strtol(p + 1, NULL, 10);
        }
        ck_assert_int_eq(nice, 0);
        if (strncmp(comm, "identityd-kdf", 13) == 0) {
            kdf++;
            ck_assert_int_eq(policy, 3);
        } else if (strncmp(comm, "identityd-out", 13) == 0) {
            out++;
            ck_assert_int_eq(policy, 0);
        } else {
            others++;
            ck_assert_msg(policy == 0, "thread %s (%s) runs under policy %ld", e->d_name, comm,
                          policy);
        }
        free(comm);
        free(stat);
        free(comm_path);
        free(stat_path);
    }
    closedir(d);
    free(dir);
    ck_assert_int_gt(kdf, 0);
    ck_assert_int_gt(out, 0);
    ck_assert_int_gt(others, 0);
}
END_TEST

static void setup_drain(void)
{
    th_threads = 1;
    /* The most allowed, several seconds per check: the drain must outlast the polling below
     * by far, however loaded the machine. */
    th_password_iterations = 10000000;
    start("basic_cache: { ttl: 0 }\nshutdown_timeout: 300\n");
}

/* After SIGTERM, a request arriving on a connection opened before it is still answered, and
 * /readyz says 503 (draining) while the check in flight finishes; then the process exits 0. */
START_TEST(readyz_503_while_draining)
{
    CURL *ka = keepalive_handle(NULL);
    long connects = 0;
    ck_assert_int_eq(keepalive_get(ka, "/readyz", &connects), 200);
    ck_assert_int_eq(connects, 1);

    CURLM *multi = curl_multi_init();
    struct curl_slist *headers = NULL;
    CURL *slow = start_basic(multi, "slow@example.com", &headers);
    th_pump_until_hashing(multi, &srv);
    ck_assert_int_eq(th_kdf_gauge(&srv, "identityd_worker_running"), 1);
    ck_assert_int_eq(kill(srv.pid, SIGTERM), 0);

    /* Until the loop has taken the signal, /readyz still says 200 and keeps the connection;
     * the first answer after it is 503 on that same connection. */
    long status = 200;
    double give_up = th_now() + 60;
    while (status == 200 && th_now() < give_up) {
        status = keepalive_get(ka, "/readyz", &connects);
        ck_assert_msg(connects == 0, "a new connection was opened (status %ld)", status);
        if (status == 200)
            usleep(10000);
    }
    ck_assert_int_eq(status, 503);

    /* The check in flight still gets its answer, and the process exits cleanly. */
    th_multi_run(multi);
    long slow_status = 0;
    curl_easy_getinfo(slow, CURLINFO_RESPONSE_CODE, &slow_status);
    ck_assert_int_eq(slow_status, 200);
    ck_assert_int_eq(th_server_stop(&srv), 0);
    char *log = th_read_file(srv.log);
    ck_assert_ptr_null(strstr(log, "abandoning"));
    free(log);

    curl_multi_remove_handle(multi, slow);
    curl_easy_cleanup(slow);
    curl_slist_free_all(headers);
    curl_multi_cleanup(multi);
    curl_easy_cleanup(ka);
}
END_TEST

static void setup_timeout(void)
{
    /* Two loops: the one without the slow check ends long before the other is given up on,
     * and the process must still exit with no thread left behind unjoined (ThreadSanitizer
     * reports such a thread, and fails the stop). */
    th_threads = 2;
    th_password_iterations = 10000000; /* the most allowed: several seconds per check */
    start("shutdown_timeout: 1\n");
}

/* An API key of the slow user, made by identityctl (a Basic request would pay the slow
 * user's whole KDF, minutes under the sanitizers) and used once; returns its id (malloc'd). */
static char *use_api_key(void)
{
    const char *argv[] = {th_ctl(),           "-c",     env.config, "apikey", "create",
                          "slow@example.com", "--name", "ops",      NULL};
    char *out = NULL, *err = NULL;
    ck_assert_msg(th_run(argv, NULL, &out, &err) == 0, "apikey create: %s", err);
    /* stdout: the key alone; stderr: "identityctl: created API key ID (...". */
    out[strcspn(out, "\n")] = '\0';
    const char *at = strstr(err, "created API key ");
    ck_assert_ptr_nonnull(at);
    at += strlen("created API key ");
    char *id = strndup(at, strcspn(at, " "));
    char *bearer = th_bearer(out);
    free(out);
    free(err);
    th_response_t r;
    th_get(&r, &srv, TOKEN_PATH, bearer);
    ck_assert_int_eq(r.status, 200);
    th_response_dispose(&r);
    free(bearer);
    return id;
}

/* A check that outlives shutdown_timeout is abandoned: the process exits 0 once the timeout
 * has passed, logging how many requests it gave up on, with the API key uses noted in
 * memory written to the database first. */
START_TEST(shutdown_timeout_abandons)
{
    char *key_id = use_api_key();
    ck_assert_int_eq(th_add_user(&env, "other@example.com", "pw", "Other", "User", "user"), 0);

    CURLM *multi = curl_multi_init();
    struct curl_slist *headers = NULL;
    CURL *slow = start_basic(multi, "other@example.com", &headers);
    th_pump_until_hashing(multi, &srv);
    ck_assert_int_eq(th_kdf_gauge(&srv, "identityd_worker_running"), 1);
    ck_assert_int_eq(th_server_stop(&srv), 0);
    char *log = th_read_file(srv.log);
    ck_assert_msg(strstr(log, "shutdown_timeout (1000 ms) passed: abandoning 1 request still "
                              "in flight") != NULL,
                  "%s", log);
    ck_assert_ptr_nonnull(strstr(log, "identityd stopped"));
    free(log);

    /* The client of the abandoned check gets no answer. */
    th_multi_run(multi);
    long status = -1;
    curl_easy_getinfo(slow, CURLINFO_RESPONSE_CODE, &status);
    ck_assert_int_eq(status, 0);

    /* The key's use reached the database. */
    idd_store_t *store = NULL;
    idd_apikey_t k;
    ck_assert_int_eq(idd_store_open(env.db, &store), 0);
    ck_assert_int_eq(idd_store_apikey_by_id(store, key_id, &k), 0);
    idd_store_free(store);
    ck_assert_int_gt(k.last_used, 0);
    free(key_id);

    curl_multi_remove_handle(multi, slow);
    curl_easy_cleanup(slow);
    curl_slist_free_all(headers);
    curl_multi_cleanup(multi);
}
END_TEST

/* ---- privilege drop ---- */

/* The nobody user and its group, as the system has them (aborts the test when missing). */
static void nobody(uid_t *uid, gid_t *gid)
{
    const struct passwd *pw = getpwnam("nobody");
    ck_assert_msg(pw != NULL, "no user nobody on this system");
    *uid = pw->pw_uid;
    *gid = pw->pw_gid;
}

/* The four ids of a "Uid:" or "Gid:" line of /proc/PID[/task/TID]/status. */
static void proc_ids(const char *status_path, const char *field, long ids[4])
{
    char *text = th_read_file(status_path);
    ck_assert_msg(text != NULL, "cannot read %s", status_path);
    char *key = th_strf("\n%s:", field);
    const char *line = strstr(text, key);
    ck_assert_msg(line != NULL, "no %s line in %s", field, status_path);
    ck_assert_int_eq(
        sscanf(line + strlen(key), "%ld %ld %ld %ld", &ids[0], &ids[1], &ids[2], &ids[3]), 4);
    free(key);
    free(text);
}

static void assert_all_ids(const char *status_path, long uid, long gid)
{
    long ids[4];
    proc_ids(status_path, "Uid", ids);
    for (int i = 0; i < 4; i++)
        ck_assert_msg(ids[i] == uid, "%s: Uid %ld, not %ld", status_path, ids[i], uid);
    proc_ids(status_path, "Gid", ids);
    for (int i = 0; i < 4; i++)
        ck_assert_msg(ids[i] == gid, "%s: Gid %ld, not %ld", status_path, ids[i], gid);
}

/* Root is needed to start as root and switch; elsewhere the test says why it did nothing. */
static bool as_root(void)
{
    if (geteuid() == 0)
        return true;
    printf("skipped: starting as root and dropping to a user needs root (uid %u)\n",
           (unsigned)geteuid());
    return false;
}

static void setup_drop(void)
{
    if (geteuid() != 0) {
        memset(&srv, 0, sizeof(srv));
        memset(&env, 0, sizeof(env));
        return;
    }
    th_env_init(&env, "user: nobody\n", NULL);
    ck_assert_int_eq(th_add_user(&env, "slow@example.com", "pw", "Slow", "Hash", "user"), 0);
    /* The folder belongs to the user; the database identityctl made as root is handed over
     * at start. */
    uid_t uid;
    gid_t gid;
    nobody(&uid, &gid);
    ck_assert_int_eq(chown(env.dir, uid, gid), 0);
    th_server_start(&srv, &env);
}

/* Started as root with user: nobody, every thread serves as nobody, with no way back, and
 * tokens are still issued (the password check runs on a worker thread). */
START_TEST(drops_to_user)
{
    TH_SKIP_UNLESS_SQLITE("identityd runs as another user here, and the test server's socket is "
                          "private to its own user");
    if (!as_root())
        return;
    uid_t uid;
    gid_t gid;
    nobody(&uid, &gid);
    /* The port is logged when bound, the switch comes right after: wait for it. */
    bool switched = false;
    for (double give_up = th_now() + 30; !switched && th_now() < give_up;) {
        char *log = th_read_file(srv.log);
        switched = log != NULL && strstr(log, "serving as user nobody") != NULL;
        free(log);
        if (!switched)
            usleep(10000);
    }
    ck_assert_msg(switched, "identityd never said it serves as nobody");
    char *path = th_strf("/proc/%d/status", (int)srv.pid);
    assert_all_ids(path, uid, gid);
    char *text = th_read_file(path);
    const char *groups = strstr(text, "\nGroups:");
    ck_assert_ptr_nonnull(groups);
    char *want = th_strf("\nGroups:\t%u \n", (unsigned)gid);
    ck_assert_msg(strncmp(groups, want, strlen(want)) == 0, "%.40s", groups);
    free(want);
    free(text);
    free(path);

    char *basic = th_basic("slow@example.com", "pw");
    th_response_t r;
    th_get(&r, &srv, TOKEN_PATH, basic);
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    th_response_dispose(&r);
    free(basic);

    /* Every thread, the loops and the workers included. */
    char *dir = th_strf("/proc/%d/task", (int)srv.pid);
    char *cmd = th_strf("ls %s", dir);
    FILE *ls = popen(cmd, "r");
    char tid[32];
    int n = 0;
    while (ls != NULL && fscanf(ls, "%31s", tid) == 1) {
        char *task = th_strf("%s/%s/status", dir, tid);
        assert_all_ids(task, uid, gid);
        free(task);
        n++;
    }
    if (ls != NULL)
        pclose(ls);
    ck_assert_int_ge(n, 3);
    free(cmd);
    free(dir);

    /* The database stays the user's, so the next start as that user finds it writable. */
    /* (A SQLite file; a PostgreSQL database belongs to its server.) */
    struct stat st;
    if (!th_store_pg()) {
        ck_assert_int_eq(stat(env.db, &st), 0);
        ck_assert_int_eq(st.st_uid, uid);
    }
    char *log = th_read_file(srv.log);
    ck_assert_ptr_nonnull(strstr(log, "serving as user nobody"));
    free(log);
}
END_TEST

/* A database folder the user cannot write: identityd refuses to serve rather than run as
 * root or fail on the first write. */
START_TEST(refuses_unwritable_database)
{
    TH_SKIP_UNLESS_SQLITE("identityd runs as another user here, and the test server's socket is "
                          "private to its own user");
    if (!as_root())
        return;
    th_env_t e;
    th_env_init(&e, "user: nobody\n", NULL);
    char *out = NULL, *err = NULL;
    const char *argv[] = {th_bin(), "-c", e.config, NULL};
    int rc = th_run(argv, NULL, &out, &err);
    ck_assert_int_eq(rc, 1);
    ck_assert_msg(strstr(err, "must belong to that user") != NULL, "%s", err);
    free(out);
    free(err);
    th_env_dispose(&e);
}
END_TEST

/* Not root and not the configured user: a clear refusal before anything is read. The check
 * runs as nobody with user: daemon, from a folder nobody can read. */
START_TEST(refuses_other_user)
{
    if (!as_root())
        return;
    char dir[] = "/tmp/identityd-ops-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    ck_assert_int_eq(chmod(dir, 0755), 0);
    char *config = th_strf("%s/identityd.yaml", dir);
    th_write_file(config,
                  "user: daemon\n"
                  "password: { pepper_file: pepper }\n"
                  "tenants: [{ id: 1, name: t, domains: [localhost] }]\n"
                  "keys: [{ kid: k, alg: ES256, file: k.pem, state: active }]\n",
                  0644);
    const char *argv[] = {"/usr/bin/setpriv",
                          "--reuid=nobody",
                          "--regid=nogroup",
                          "--clear-groups",
                          th_bin(),
                          "-t",
                          "-c",
                          config,
                          NULL};
    char *err = NULL;
    int rc = th_run(argv, NULL, NULL, &err);
    ck_assert_int_eq(rc, 1);
    ck_assert_msg(strstr(err, "user: identityd runs as uid") != NULL &&
                      strstr(err, "not as daemon") != NULL,
                  "%s", err);
    free(err);
    unlink(config);
    free(config);
    rmdir(dir);
}
END_TEST

static Suite *ops_suite(void)
{
    Suite *s = suite_create("ops");
    TCase *tc = tcase_create("health");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, healthz_and_readyz);
    tcase_add_test(tc, kdf_threads_are_batch_work);
    suite_add_tcase(s, tc);

    tc = tcase_create("drain");
    tcase_add_checked_fixture(tc, setup_drain, teardown);
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, readyz_503_while_draining);
    suite_add_tcase(s, tc);

    tc = tcase_create("timeout");
    tcase_add_checked_fixture(tc, setup_timeout, teardown);
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, shutdown_timeout_abandons);
    suite_add_tcase(s, tc);

    tc = tcase_create("privileges");
    tcase_add_checked_fixture(tc, setup_drop, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, drops_to_user);
    tcase_add_test(tc, refuses_unwritable_database);
    tcase_add_test(tc, refuses_other_user);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return th_run_suite(ops_suite());
}
