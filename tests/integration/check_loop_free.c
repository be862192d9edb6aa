/*
 * The event loop never waits on PostgreSQL: with `threads: 1`, a request whose store write
 * is held up by a lock another connection keeps (LOCK TABLE ... IN ACCESS EXCLUSIVE MODE)
 * must not hold up a warm request on the same loop (/healthz, and a credential the cache
 * already has); once the lock goes, the held-up request completes as it would have.
 *
 * PostgreSQL only (pg/integration/check_loop_free): SQLite is a local file whose writes run
 * on the loop by design, so under SQLite every test says why it skips. Nothing here waits
 * on a clock: the held-up request is known to wait when PostgreSQL lists its ungranted lock,
 * and the warm answer is read while that lock is still held.
 */
#include <check.h>
#include <curl/curl.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define AUTH_PATH "/api/2.0/authentication"
#define LOGOUT_PATH "/api/2.0/authentication/logout"
#define KEYS_PATH "/api/2.0/keys"
#define SELF_PATH "/api/2.0/people/@self"
#define CONN_PATH "/api/2.0/security/activeconnections"
#define ADMIN "admin@example.com"
#define ADMIN_PASSWORD "correct horse"

/* Generous: a warm request on a free loop answers in milliseconds even on a loaded machine;
 * on a loop stuck behind the lock it never would (the lock is held until it answers). */
#define WARM_TIMEOUT_S 30L

static th_env_t env;
static th_server_t srv;
static char *session_token; /* the admin's, cached by the server */
static char *api_key;       /* the admin's, cached by the server */

#define SKIP_UNLESS_PG()                                                                           \
    do {                                                                                           \
        if (!th_store_pg()) {                                                                      \
            fprintf(stderr,                                                                        \
                    "%s:%d: SKIP %s under SQLite: its store work runs on the loop by design; "     \
                    "this suite needs IDD_TEST_STORE=pg\n",                                        \
                    __FILE__, __LINE__, __func__);                                                 \
            return;                                                                                \
        }                                                                                          \
    } while (0)

/* ---- plumbing --------------------------------------------------------------------------- */

static json_t *ok_response(const th_response_t *r, const char *what)
{
    ck_assert_msg(r->status == 200, "%s: status %ld: %s", what, r->status, r->body ? r->body : "");
    json_t *j = th_json_parse(r->body);
    ck_assert_msg(j != NULL, "%s: not JSON: %s", what, r->body);
    return j;
}

static void call(th_response_t *r, const char *method, const char *path, const char *header,
                 const char *body)
{
    const char *h[3] = {"Content-Type: application/json", header, NULL};
    char *u = th_url(&srv, path);
    th_http(r, method, u, h, body, body ? strlen(body) : 0, 0);
    free(u);
}

static char *auth_header(const char *token)
{
    return th_strf("Authorization: Bearer %s", token);
}

/* One server of one loop, a signed-in admin with an API key, both in the credential cache. */
static void start(void)
{
    th_threads = 1;
    th_env_init(&env, NULL, NULL);
    ck_assert_int_eq(th_add_user(&env, ADMIN, ADMIN_PASSWORD, "Ada", "Admin", "admin"), 0);
    th_server_start(&srv, &env);

    th_response_t r;
    call(&r, "POST", AUTH_PATH, NULL,
         "{\"userName\":\"" ADMIN "\",\"password\":\"" ADMIN_PASSWORD "\"}");
    json_t *j = ok_response(&r, "sign-in");
    session_token =
        strdup(json_string_value(json_object_get(json_object_get(j, "response"), "token")));
    json_decref(j);
    th_response_dispose(&r);

    char *h = auth_header(session_token);
    call(&r, "POST", KEYS_PATH, h, "{\"name\":\"warm\"}");
    j = ok_response(&r, "key creation");
    api_key = strdup(json_string_value(json_object_get(json_object_get(j, "response"), "key")));
    json_decref(j);
    th_response_dispose(&r);
    free(h);

    /* Once the server has seen every change so far, one use of each puts it in the cache,
     * and nothing moves the cache's epoch until a test's own request is through. */
    th_wait_changes_seen(&srv, &env);
    const char *creds[] = {session_token, api_key};
    for (size_t i = 0; i < 2; i++) {
        h = auth_header(creds[i]);
        call(&r, "GET", SELF_PATH, h, NULL);
        ck_assert_msg(r.status == 200, "warming a credential: %ld", r.status);
        th_response_dispose(&r);
        free(h);
    }
}

static void stop(void)
{
    ck_assert_int_eq(th_server_stop(&srv), 0);
    th_env_dispose(&env);
    free(session_token);
    free(api_key);
    session_token = api_key = NULL;
}

/* A second connection to the test's database that holds table locked in a transaction. */
static PGconn *lock_table(const char *table)
{
    PGconn *c = PQconnectdb(env.db);
    ck_assert_msg(PQstatus(c) == CONNECTION_OK, "%s", PQerrorMessage(c));
    char *sql = th_strf("BEGIN; LOCK TABLE %s IN ACCESS EXCLUSIVE MODE", table);
    PGresult *res = PQexec(c, sql);
    ck_assert_msg(PQresultStatus(res) == PGRES_COMMAND_OK, "%s: %s", sql, PQerrorMessage(c));
    PQclear(res);
    free(sql);
    return c;
}

static void unlock_table(PGconn *c)
{
    PGresult *res = PQexec(c, "COMMIT");
    ck_assert_msg(PQresultStatus(res) == PGRES_COMMAND_OK, "COMMIT: %s", PQerrorMessage(c));
    PQclear(res);
    PQfinish(c);
}

/* How many lock requests of other sessions on this database wait ungranted. */
static long lock_waiters(PGconn *c)
{
    PGresult *res = PQexec(c, "SELECT count(*) FROM pg_locks l JOIN pg_database d"
                              " ON d.oid = l.database"
                              " WHERE NOT l.granted AND d.datname = current_database()"
                              " AND l.pid <> pg_backend_pid()");
    ck_assert_msg(PQresultStatus(res) == PGRES_TUPLES_OK, "pg_locks: %s", PQerrorMessage(c));
    long n = strtol(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return n;
}

/* A request sent in the background, its answer kept. */
typedef struct held {
    CURLM *multi;
    CURL *easy;
    struct curl_slist *headers;
    char *body;
    char *answer;
    size_t answer_len;
    long status;
} held_t;

static size_t keep_answer(char *data, size_t size, size_t n, void *arg)
{
    held_t *h = arg;
    char *more = realloc(h->answer, h->answer_len + size * n + 1);
    ck_assert_ptr_nonnull(more);
    h->answer = more;
    memcpy(h->answer + h->answer_len, data, size * n);
    h->answer_len += size * n;
    h->answer[h->answer_len] = '\0';
    return size * n;
}

/* POSTs body to path, or PUTs it when put; GETs path when body is NULL. */
static void held_send(held_t *h, bool put, const char *path, const char *header, const char *body)
{
    memset(h, 0, sizeof(*h));
    h->multi = curl_multi_init();
    h->easy = curl_easy_init();
    ck_assert_ptr_nonnull(h->easy);
    h->headers = curl_slist_append(NULL, "Content-Type: application/json");
    if (header != NULL)
        h->headers = curl_slist_append(h->headers, header);
    char *u = th_url(&srv, path);
    curl_easy_setopt(h->easy, CURLOPT_URL, u);
    curl_easy_setopt(h->easy, CURLOPT_HTTPHEADER, h->headers);
    if (body != NULL) {
        h->body = strdup(body);
        curl_easy_setopt(h->easy, CURLOPT_POSTFIELDS, h->body);
        if (put)
            curl_easy_setopt(h->easy, CURLOPT_CUSTOMREQUEST, "PUT");
    }
    curl_easy_setopt(h->easy, CURLOPT_TIMEOUT, 120L);
    curl_easy_setopt(h->easy, CURLOPT_WRITEFUNCTION, keep_answer);
    curl_easy_setopt(h->easy, CURLOPT_WRITEDATA, h);
    curl_multi_add_handle(h->multi, h->easy);
    free(u);
}

static void held_start(held_t *h, const char *path, const char *header, const char *body)
{
    held_send(h, false, path, header, body);
}

/* Whether the request has its answer (driving it a step first). */
static bool held_done(held_t *h)
{
    int running = 0;
    curl_multi_perform(h->multi, &running);
    return running == 0;
}

/* Sends until the server's store work waits on lock_conn's lock, as PostgreSQL shows. */
static void held_wait_blocked(held_t *h, PGconn *lock_conn)
{
    double give_up = th_now() + 60;
    while (lock_waiters(lock_conn) == 0) {
        ck_assert_msg(!held_done(h), "the request was answered while the table was locked: %s",
                      h->answer ? h->answer : "(no body)");
        ck_assert_msg(th_now() < give_up, "the request never waited on the lock");
        curl_multi_poll(h->multi, NULL, 0, 10, NULL);
    }
}

/* Drives the request to its end; returns its answer parsed (the caller decrefs). */
static json_t *held_finish(held_t *h, const char *what)
{
    th_multi_run(h->multi);
    curl_easy_getinfo(h->easy, CURLINFO_RESPONSE_CODE, &h->status);
    ck_assert_msg(h->status == 200, "%s: status %ld: %s", what, h->status,
                  h->answer ? h->answer : "");
    json_t *j = th_json_parse(h->answer);
    ck_assert_msg(j != NULL, "%s: not JSON: %s", what, h->answer);
    curl_multi_remove_handle(h->multi, h->easy);
    curl_easy_cleanup(h->easy);
    curl_multi_cleanup(h->multi);
    curl_slist_free_all(h->headers);
    free(h->body);
    free(h->answer);
    return j;
}

/* GET path on its own connection; 200 within WARM_TIMEOUT_S, else the test fails. */
static void warm_get(const char *path, const char *header, const char *what)
{
    CURL *c = curl_easy_init();
    ck_assert_ptr_nonnull(c);
    struct curl_slist *hs = header ? curl_slist_append(NULL, header) : NULL;
    char *u = th_url(&srv, path);
    curl_easy_setopt(c, CURLOPT_URL, u);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hs);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, WARM_TIMEOUT_S);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, th_curl_discard);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    ck_assert_msg(rc == CURLE_OK && status == 200,
                  "%s got no answer while another request of its loop waited on the store "
                  "(%s, status %ld): the loop is blocked",
                  what, curl_easy_strerror(rc), status);
    curl_easy_cleanup(c);
    curl_slist_free_all(hs);
    free(u);
}

/* While h waits on lock_conn's lock: the loop answers /healthz and a cached credential (one
 * whose table is not locked), and h still waits. */
static void assert_loop_free(held_t *h, PGconn *lock_conn, const char *cached_token)
{
    warm_get("/healthz", NULL, "/healthz");
    char *hd = auth_header(cached_token);
    warm_get(SELF_PATH, hd, "a cached credential");
    free(hd);
    ck_assert_msg(lock_waiters(lock_conn) > 0, "the held-up request stopped waiting");
    ck_assert_msg(!held_done(h), "the held-up request was answered under the lock: %s",
                  h->answer ? h->answer : "");
}

/* ---- tests ------------------------------------------------------------------------------ */

START_TEST(signin_session_write_leaves_the_loop)
{
    SKIP_UNLESS_PG();
    start();
    PGconn *lock = lock_table("login_events");
    held_t h;
    held_start(&h, AUTH_PATH, NULL,
               "{\"userName\":\"" ADMIN "\",\"password\":\"" ADMIN_PASSWORD "\"}");
    held_wait_blocked(&h, lock);
    assert_loop_free(&h, lock, api_key);
    unlock_table(lock);

    json_t *j = held_finish(&h, "the held-up sign-in");
    const char *token = json_string_value(json_object_get(json_object_get(j, "response"), "token"));
    ck_assert_ptr_nonnull(token);
    /* The session it started works. */
    char *hd = auth_header(token);
    th_response_t r;
    call(&r, "GET", SELF_PATH, hd, NULL);
    ck_assert_int_eq(r.status, 200);
    th_response_dispose(&r);
    free(hd);
    json_decref(j);
    stop();
}
END_TEST

START_TEST(logout_leaves_the_loop)
{
    SKIP_UNLESS_PG();
    start();
    PGconn *lock = lock_table("login_events");
    held_t h;
    char *hd = auth_header(session_token);
    held_start(&h, LOGOUT_PATH, hd, "{}");
    held_wait_blocked(&h, lock);
    assert_loop_free(&h, lock, api_key);
    unlock_table(lock);

    json_t *j = held_finish(&h, "the held-up logout");
    ck_assert_str_eq(json_string_value(json_object_get(j, "response")), "");
    json_decref(j);
    /* The session is over. */
    th_response_t r;
    call(&r, "GET", SELF_PATH, hd, NULL);
    ck_assert_int_eq(r.status, 401);
    th_response_dispose(&r);
    free(hd);
    stop();
}
END_TEST

START_TEST(apikey_creation_leaves_the_loop)
{
    SKIP_UNLESS_PG();
    start();
    PGconn *lock = lock_table("api_keys");
    held_t h;
    char *hd = auth_header(session_token);
    held_start(&h, KEYS_PATH, hd, "{\"name\":\"held\"}");
    free(hd);
    held_wait_blocked(&h, lock);
    assert_loop_free(&h, lock, session_token);
    unlock_table(lock);

    json_t *j = held_finish(&h, "the held-up key creation");
    json_t *resp = json_object_get(j, "response");
    ck_assert_str_eq(json_string_value(json_object_get(resp, "name")), "held");
    const char *key = json_string_value(json_object_get(resp, "key"));
    ck_assert_ptr_nonnull(key);
    ck_assert_int_eq(strncmp(key, "sk-", 3), 0);
    /* The key it made works. */
    hd = auth_header(key);
    th_response_t r;
    call(&r, "GET", SELF_PATH, hd, NULL);
    ck_assert_int_eq(r.status, 200);
    th_response_dispose(&r);
    free(hd);
    json_decref(j);
    stop();
}
END_TEST

START_TEST(sessions_listing_leaves_the_loop)
{
    SKIP_UNLESS_PG();
    start();
    PGconn *lock = lock_table("login_events");
    held_t h;
    char *hd = auth_header(session_token);
    held_send(&h, false, CONN_PATH, hd, NULL);
    free(hd);
    held_wait_blocked(&h, lock);
    assert_loop_free(&h, lock, api_key);
    unlock_table(lock);

    json_t *j = held_finish(&h, "the held-up listing");
    json_t *items = json_object_get(json_object_get(j, "response"), "items");
    ck_assert_int_eq(json_array_size(items), 1);
    json_decref(j);
    stop();
}
END_TEST

START_TEST(sessions_ending_leaves_the_loop)
{
    SKIP_UNLESS_PG();
    start();
    PGconn *lock = lock_table("login_events");
    held_t h;
    char *hd = auth_header(session_token);
    held_send(&h, true, CONN_PATH "/logoutallchangepassword", hd, "{}");
    held_wait_blocked(&h, lock);
    assert_loop_free(&h, lock, api_key);
    unlock_table(lock);

    json_t *j = held_finish(&h, "the held-up end of every session");
    ck_assert_str_eq(json_string_value(json_object_get(j, "response")),
                     "All sessions ended. A new password must be set before the next sign-in.");
    json_decref(j);
    th_response_t r;
    call(&r, "GET", SELF_PATH, hd, NULL);
    ck_assert_int_eq(r.status, 401);
    th_response_dispose(&r);
    free(hd);
    stop();
}
END_TEST

START_TEST(two_factor_step_leaves_the_loop)
{
    SKIP_UNLESS_PG();
    start();
    /* Two-factor sign-in on for the tenant (which ends the sessions), and the API key back
     * in the cache once the server has seen the change. */
    th_response_t r;
    char *hd = auth_header(api_key);
    call(&r, "PUT", "/api/2.0/settings/tfaapp", hd, "{\"type\":\"App\"}");
    ck_assert_msg(r.status == 200, "turning two-factor sign-in on: %ld %s", r.status, r.body);
    th_response_dispose(&r);
    th_wait_changes_seen(&srv, &env);
    call(&r, "GET", SELF_PATH, hd, NULL);
    ck_assert_int_eq(r.status, 200);
    th_response_dispose(&r);
    free(hd);

    PGconn *lock = lock_table("user_tfa");
    held_t h;
    held_start(&h, AUTH_PATH, NULL,
               "{\"userName\":\"" ADMIN "\",\"password\":\"" ADMIN_PASSWORD "\"}");
    held_wait_blocked(&h, lock);
    assert_loop_free(&h, lock, api_key);
    unlock_table(lock);

    json_t *j = held_finish(&h, "the held-up two-factor sign-in");
    json_t *resp = json_object_get(j, "response");
    ck_assert(json_is_true(json_object_get(resp, "tfa")));
    ck_assert_ptr_null(json_object_get(resp, "token"));
    ck_assert_ptr_nonnull(
        strstr(json_string_value(json_object_get(resp, "confirmUrl")), "/confirm/TfaActivation"));
    json_decref(j);
    stop();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("loop_free");
    TCase *tc = tcase_create("store work off the loop");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, signin_session_write_leaves_the_loop);
    tcase_add_test(tc, logout_leaves_the_loop);
    tcase_add_test(tc, apikey_creation_leaves_the_loop);
    tcase_add_test(tc, sessions_listing_leaves_the_loop);
    tcase_add_test(tc, sessions_ending_leaves_the_loop);
    tcase_add_test(tc, two_factor_step_leaves_the_loop);
    suite_add_tcase(s, tc);
    return th_run_suite(s);
}
