/*
 * What identityd acknowledged survives a crash, and the admin tool and the server share the
 * SQLite file without either failing on the other's lock.
 *
 * kill_9_keeps_acknowledged_writes: cycles of a real identityd under load (sign-ins, Basic
 * requests, API keys made, used and deleted, logouts) while identityctl adds users, each
 * cycle ended by SIGKILL at a seeded random moment. After each kill the file must pass
 * `PRAGMA integrity_check`, hold every user identityctl said it added, and hold between the
 * acknowledged and the acknowledged-plus-unanswered number of sessions and keys (a write
 * whose answer never came is all or nothing). After each restart every acknowledged session
 * and key works, every acknowledged logout and deletion is refused with 401, and an
 * unanswered one is either, and then stays what it was found to be. The seed is printed;
 * IDD_DURABILITY_SEED=N replays the same kill moments and choices of operations.
 *
 * ctl_writes_never_busy: identityctl writes in a loop (user add, passwd, disable, enable,
 * session revoke, apikey create and revoke) while clients hammer the server's writes; no
 * client gets a 5xx and identityctl never fails or says the database is locked.
 *
 * Both look at the SQLite file or SQLite's locking, so they skip under the pg/ twin.
 */
#include <check.h>
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define AUTH_PATH "/api/2.0/authentication"
#define LOGOUT_PATH "/api/2.0/authentication/logout"
#define TOKEN_PATH "/api/2.0/security/oauth2/token"
#define KEYS_PATH "/api/2.0/keys"

#define CYCLES 14
#define CLIENTS 3
/* A client holding this many live sessions (or keys) ends one rather than making one, so
 * that what each restart checks stays bounded. */
#define LIVE_CAP 12
#define MAX_ITEMS 32768
#define MAX_CTL_USERS 1024

/* No pruning during the test (an ended session's row must stay to be counted), brute-force
 * limits no deliberate request here comes near, and a queue wait no loaded machine reaches
 * (a 503 for load would read as a refused write). */
#define EXTRA_YAML                                                                                 \
    "prune: { interval: 86400 }\n"                                                                 \
    "bruteforce: { attempts: 1000, client_attempts: 1000000 }\n"                                   \
    "queue: { max_wait_ms: 120000 }\n"

static th_env_t env;
static th_server_t srv;

/* ---- a seeded generator, one state per thread ------------------------------------------- */

static uint64_t next_rand(uint64_t *s)
{
    /* splitmix64 */
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t test_seed(void)
{
    const char *e = getenv("IDD_DURABILITY_SEED");
    uint64_t seed = e != NULL && *e != '\0' ? strtoull(e, NULL, 10)
                                            : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 16);
    fprintf(stderr, "durability: seed %" PRIu64 " (IDD_DURABILITY_SEED=%" PRIu64 " replays it)\n",
            seed, seed);
    return seed;
}

/* ---- one request, without assertions (client threads must not fail the test directly) -- */

typedef struct reply {
    long status; /* 0: no answer (the server died, or never accepted) */
    char *body;
    size_t len;
} reply_t;

static size_t sink(char *data, size_t size, size_t n, void *arg)
{
    reply_t *r = arg;
    char *grown = realloc(r->body, r->len + size * n + 1);
    if (grown == NULL)
        return 0;
    r->body = grown;
    memcpy(r->body + r->len, data, size * n);
    r->len += size * n;
    r->body[r->len] = '\0';
    return size * n;
}

static void request(reply_t *r, const char *method, const char *path, const char *header,
                    const char *body)
{
    memset(r, 0, sizeof(*r));
    char url[160];
    snprintf(url, sizeof(url), "%s%s", srv.base, path);
    CURL *c = curl_easy_init();
    if (c == NULL)
        return;
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    if (header != NULL)
        h = curl_slist_append(h, header);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    }
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    else
        r->status = 0;
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
}

static void reply_free(reply_t *r)
{
    free(r->body);
    r->body = NULL;
}

/* A string member of the answer's "response" object (copied into out), or false. */
static bool response_member(const reply_t *r, const char *name, char *out, size_t cap)
{
    json_t *j = r->body != NULL ? json_loads(r->body, 0, NULL) : NULL;
    const char *v = json_string_value(json_object_get(json_object_get(j, "response"), name));
    bool ok = v != NULL && strlen(v) < cap;
    if (ok)
        snprintf(out, cap, "%s", v);
    json_decref(j);
    return ok;
}

/* ---- the ledger: what the server acknowledged ---------------------------------------------- */

typedef enum { ITEM_SESSION, ITEM_KEY } item_kind_t;
typedef enum {
    ST_LIVE,          /* made, and the answer came */
    ST_REVOKED,       /* logged out or deleted, and the answer came */
    ST_REVOKE_UNSURE, /* logout or deletion sent, no answer: either, found at the restart */
} item_state_t;

typedef struct item {
    item_kind_t kind;
    item_state_t state;
    int owner;       /* client index */
    int cycle;       /* the cycle that last changed it */
    char secret[96]; /* session token or API key */
    char id[64];     /* API key id */
} item_t;

static struct {
    pthread_mutex_t lock;
    item_t items[MAX_ITEMS];
    size_t n_items;
    /* This cycle's writes by kind, for the row counts after the kill: made, made without an
     * answer, revoked, revoked without an answer. */
    long made[2], made_unsure[2], revoked[2], revoked_unsure[2];
    char failure[512]; /* the first thing a thread saw go wrong */
    char ctl_users[MAX_CTL_USERS][64];
    size_t n_ctl_users;
} ledger = {.lock = PTHREAD_MUTEX_INITIALIZER};

static atomic_bool stop_clients;

static void fail_later(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail_later(const char *fmt, ...)
{
    pthread_mutex_lock(&ledger.lock);
    if (ledger.failure[0] == '\0') {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ledger.failure, sizeof(ledger.failure), fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&ledger.lock);
}

static void add_item(item_kind_t kind, int owner, int cycle, const char *secret, const char *id)
{
    pthread_mutex_lock(&ledger.lock);
    if (ledger.n_items < MAX_ITEMS) {
        item_t *it = &ledger.items[ledger.n_items++];
        *it = (item_t){.kind = kind, .state = ST_LIVE, .owner = owner, .cycle = cycle};
        snprintf(it->secret, sizeof(it->secret), "%s", secret);
        snprintf(it->id, sizeof(it->id), "%s", id != NULL ? id : "");
        ledger.made[kind]++;
    } else if (ledger.failure[0] == '\0') {
        snprintf(ledger.failure, sizeof(ledger.failure), "the ledger is full");
    }
    pthread_mutex_unlock(&ledger.lock);
}

/* A random live item of this owner and kind (its index), or -1; counts them into *live. */
static long pick_live(int owner, item_kind_t kind, uint64_t *rng, size_t *live)
{
    long found = -1;
    size_t seen = 0;
    pthread_mutex_lock(&ledger.lock);
    for (size_t i = 0; i < ledger.n_items; i++) {
        const item_t *it = &ledger.items[i];
        if (it->owner != owner || it->kind != kind || it->state != ST_LIVE)
            continue;
        seen++;
        if (next_rand(rng) % seen == 0) /* reservoir sampling */
            found = (long)i;
    }
    pthread_mutex_unlock(&ledger.lock);
    *live = seen;
    return found;
}

static void set_state(long i, item_state_t st, int cycle)
{
    pthread_mutex_lock(&ledger.lock);
    ledger.items[i].state = st;
    ledger.items[i].cycle = cycle;
    pthread_mutex_unlock(&ledger.lock);
}

/* ---- the clients ----------------------------------------------------------------------------- */

typedef struct client {
    pthread_t tid;
    int index;
    int cycle;
    uint64_t rng;
    char email[64], password[32];
    char basic[160];
    long ops;
} client_t;

static const char *const client_emails[CLIENTS] = {"c0@example.com", "c1@example.com",
                                                   "c2@example.com"};

/* Signs in; a 200 is a session the server must keep. */
static bool op_sign_in(client_t *c)
{
    char body[160], token[96];
    snprintf(body, sizeof(body), "{\"userName\":\"%s\",\"password\":\"%s\"}", c->email,
             c->password);
    reply_t r;
    request(&r, "POST", AUTH_PATH, NULL, body);
    bool alive = r.status != 0;
    if (r.status == 200 && response_member(&r, "token", token, sizeof(token))) {
        add_item(ITEM_SESSION, c->index, c->cycle, token, NULL);
    } else if (r.status == 0) {
        pthread_mutex_lock(&ledger.lock);
        ledger.made_unsure[ITEM_SESSION]++;
        pthread_mutex_unlock(&ledger.lock);
    } else {
        fail_later("sign-in of %s: %ld %s", c->email, r.status, r.body ? r.body : "");
    }
    reply_free(&r);
    return alive;
}

static bool op_create_key(client_t *c)
{
    char key[96], id[64];
    reply_t r;
    request(&r, "POST", KEYS_PATH, c->basic, "{\"name\":\"durable\"}");
    bool alive = r.status != 0;
    if (r.status == 200 && response_member(&r, "key", key, sizeof(key)) &&
        response_member(&r, "id", id, sizeof(id))) {
        add_item(ITEM_KEY, c->index, c->cycle, key, id);
    } else if (r.status == 0) {
        pthread_mutex_lock(&ledger.lock);
        ledger.made_unsure[ITEM_KEY]++;
        pthread_mutex_unlock(&ledger.lock);
    } else {
        fail_later("key create by %s: %ld %s", c->email, r.status, r.body ? r.body : "");
    }
    reply_free(&r);
    return alive;
}

/* Ends a live session (logout) or deletes a live key. */
static bool op_revoke(client_t *c, long i)
{
    item_t it;
    pthread_mutex_lock(&ledger.lock);
    it = ledger.items[i];
    pthread_mutex_unlock(&ledger.lock);
    reply_t r;
    if (it.kind == ITEM_SESSION) {
        char cookie[160];
        snprintf(cookie, sizeof(cookie), "Cookie: asc_auth_key=%s", it.secret);
        request(&r, "POST", LOGOUT_PATH, cookie, NULL);
    } else {
        char path[128];
        snprintf(path, sizeof(path), KEYS_PATH "/%s", it.id);
        request(&r, "DELETE", path, c->basic, NULL);
    }
    bool alive = r.status != 0;
    if (r.status == 200) {
        set_state(i, ST_REVOKED, c->cycle);
        pthread_mutex_lock(&ledger.lock);
        ledger.revoked[it.kind]++;
        pthread_mutex_unlock(&ledger.lock);
    } else if (r.status == 0) {
        set_state(i, ST_REVOKE_UNSURE, c->cycle);
        pthread_mutex_lock(&ledger.lock);
        ledger.revoked_unsure[it.kind]++;
        pthread_mutex_unlock(&ledger.lock);
    } else {
        fail_later("%s of a live %s: %ld %s", it.kind == ITEM_SESSION ? "logout" : "delete",
                   it.kind == ITEM_SESSION ? "session" : "key", r.status, r.body ? r.body : "");
    }
    reply_free(&r);
    return alive;
}

/* A request that writes nothing acknowledged: a token by Basic (possibly as a user
 * identityctl added), or by a live key (whose use is a write-behind touch). */
static bool op_token(client_t *c)
{
    char header[256];
    const char *what = header;
    long i = -1;
    size_t live;
    uint64_t pick = next_rand(&c->rng) % 3;
    if (pick == 1) {
        i = pick_live(c->index, ITEM_KEY, &c->rng, &live);
        if (i >= 0) {
            pthread_mutex_lock(&ledger.lock);
            snprintf(header, sizeof(header), "Authorization: Bearer %s", ledger.items[i].secret);
            pthread_mutex_unlock(&ledger.lock);
        }
    } else if (pick == 2) {
        pthread_mutex_lock(&ledger.lock);
        size_t n = ledger.n_ctl_users;
        char email[64] = "";
        if (n > 0)
            snprintf(email, sizeof(email), "%s", ledger.ctl_users[next_rand(&c->rng) % n]);
        pthread_mutex_unlock(&ledger.lock);
        if (email[0] != '\0') {
            char *b = th_basic(email, "ctl pass");
            snprintf(header, sizeof(header), "%s", b);
            free(b);
            i = 0;
        }
    }
    if (i < 0)
        what = c->basic;
    reply_t r;
    request(&r, "GET", TOKEN_PATH, what, NULL);
    bool alive = r.status != 0;
    if (r.status != 200 && r.status != 0)
        fail_later("token for a live credential (%.40s): %ld %s", what, r.status,
                   r.body ? r.body : "");
    reply_free(&r);
    return alive;
}

static void *client_main(void *arg)
{
    client_t *c = arg;
    while (!atomic_load(&stop_clients)) {
        size_t live_sessions, live_keys;
        long s = pick_live(c->index, ITEM_SESSION, &c->rng, &live_sessions);
        long k = pick_live(c->index, ITEM_KEY, &c->rng, &live_keys);
        uint64_t roll = next_rand(&c->rng) % 100;
        bool alive;
        if (roll < 25)
            alive = live_sessions >= LIVE_CAP && s >= 0 ? op_revoke(c, s) : op_sign_in(c);
        else if (roll < 45)
            alive = s >= 0 ? op_revoke(c, s) : op_sign_in(c);
        else if (roll < 65)
            alive = live_keys >= LIVE_CAP && k >= 0 ? op_revoke(c, k) : op_create_key(c);
        else if (roll < 80)
            alive = k >= 0 ? op_revoke(c, k) : op_create_key(c);
        else
            alive = op_token(c);
        c->ops++;
        if (!alive) {
            /* The server is gone: wait for the next cycle without spinning. */
            while (!atomic_load(&stop_clients))
                usleep(2000);
        }
    }
    return NULL;
}

/* identityctl adds users while the clients run; each exit 0 is a user the file must hold. */
typedef struct ctl_adder {
    pthread_t tid;
    int cycle;
    int added;
} ctl_adder_t;

static void *ctl_adder_main(void *arg)
{
    ctl_adder_t *a = arg;
    while (!atomic_load(&stop_clients)) {
        char email[64];
        snprintf(email, sizeof(email), "ctl-%d-%d@example.com", a->cycle, a->added);
        const char *argv[] = {th_ctl(), "-c",     env.config, "user",   "add",  email, "--first",
                              "Ctl",    "--last", "User",     "--role", "user", NULL};
        char *err = NULL;
        int rc = th_run(argv, "ctl pass\n", NULL, &err);
        if (rc != 0) {
            fail_later("identityctl user add %s: exit %d: %s", email, rc, err ? err : "");
            free(err);
            return NULL;
        }
        free(err);
        pthread_mutex_lock(&ledger.lock);
        if (ledger.n_ctl_users < MAX_CTL_USERS)
            snprintf(ledger.ctl_users[ledger.n_ctl_users++], 64, "%s", email);
        pthread_mutex_unlock(&ledger.lock);
        a->added++;
    }
    return NULL;
}

/* ---- what the file and the server say ------------------------------------------------------- */

static int64_t sql_count(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK, "%s: %s", sql,
                  sqlite3_errmsg(db));
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

/* With identityd dead: the file is sound, and its rows are what was acknowledged. */
static void check_file(int cycle, int64_t before[2])
{
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open_v2(env.db, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);

    sqlite3_stmt *st = NULL;
    ck_assert_int_eq(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    const char *verdict = (const char *)sqlite3_column_text(st, 0);
    ck_assert_msg(verdict != NULL && strcmp(verdict, "ok") == 0, "cycle %d: integrity_check: %s",
                  cycle, verdict ? verdict : "(null)");
    sqlite3_finalize(st);

    for (size_t i = 0; i < ledger.n_ctl_users; i++) {
        char *sql =
            sqlite3_mprintf("SELECT count(*) FROM users WHERE email = %Q", ledger.ctl_users[i]);
        ck_assert_msg(sql_count(db, sql) == 1, "cycle %d: user %s, added by identityctl, is gone",
                      cycle, ledger.ctl_users[i]);
        sqlite3_free(sql);
    }

    /* Live rows only: the pruner, which runs at each start, deletes ended sessions. */
    static const char *const count_sql[2] = {
        [ITEM_SESSION] = "SELECT count(*) FROM login_events WHERE active = 1",
        [ITEM_KEY] = "SELECT count(*) FROM api_keys"};
    static const char *const kind_name[2] = {
        [ITEM_SESSION] = "live sessions", [ITEM_KEY] = "API keys"};
    for (int k = 0; k < 2; k++) {
        int64_t rows = sql_count(db, count_sql[k]);
        int64_t lo = before[k] + ledger.made[k] - ledger.revoked[k] - ledger.revoked_unsure[k];
        int64_t hi = before[k] + ledger.made[k] + ledger.made_unsure[k] - ledger.revoked[k];
        ck_assert_msg(rows >= lo && rows <= hi,
                      "cycle %d: %" PRId64 " %s, expected between %" PRId64 " and %" PRId64
                      " (before %" PRId64 ", made %ld + %ld unanswered, revoked %ld + %ld "
                      "unanswered)",
                      cycle, rows, kind_name[k], lo, hi, before[k], ledger.made[k],
                      ledger.made_unsure[k], ledger.revoked[k], ledger.revoked_unsure[k]);
        before[k] = rows;
    }
    ck_assert_int_eq(sqlite3_close(db), SQLITE_OK);
}

/* The token endpoint's status for a session (by cookie) or a key (Bearer). */
static long credential_status(const item_t *it)
{
    char header[160];
    if (it->kind == ITEM_SESSION)
        snprintf(header, sizeof(header), "Cookie: asc_auth_key=%s", it->secret);
    else
        snprintf(header, sizeof(header), "Authorization: Bearer %s", it->secret);
    reply_t r;
    request(&r, "GET", TOKEN_PATH, header, NULL);
    long status = r.status;
    reply_free(&r);
    return status;
}

/* With identityd restarted: every live item works, every revoked one is refused, and an
 * unsure one is settled. Checks what the last cycle touched and every live item always;
 * older revoked items in a sample each cycle, and all of them at the end. */
static void check_server(int cycle, bool all, uint64_t *rng)
{
    size_t checked = 0;
    for (size_t i = 0; i < ledger.n_items; i++) {
        item_t *it = &ledger.items[i];
        bool recent = it->cycle >= cycle - 1;
        if (!all && !recent && it->state == ST_REVOKED && next_rand(rng) % 8 != 0)
            continue;
        long status = credential_status(it);
        const char *what = it->kind == ITEM_SESSION ? "session" : "key";
        checked++;
        switch (it->state) {
        case ST_LIVE:
            ck_assert_msg(status == 200,
                          "cycle %d: an acknowledged %s (made in cycle %d) answers %ld", cycle,
                          what, it->cycle, status);
            break;
        case ST_REVOKED:
            ck_assert_msg(status == 401,
                          "cycle %d: a %s acknowledged revoked in cycle %d answers %ld", cycle,
                          what, it->cycle, status);
            break;
        case ST_REVOKE_UNSURE:
            ck_assert_msg(status == 200 || status == 401,
                          "cycle %d: a %s whose revocation went unanswered answers %ld", cycle,
                          what, status);
            it->state = status == 200 ? ST_LIVE : ST_REVOKED;
            it->cycle = cycle;
            break;
        }
    }
    fprintf(stderr, "durability: cycle %d: %zu credentials checked after the restart\n", cycle,
            checked);
}

START_TEST(kill_9_keeps_acknowledged_writes)
{
    TH_SKIP_UNLESS_SQLITE("reads the SQLite file itself (integrity_check, row counts) after "
                          "each kill; PostgreSQL's durability is its server's");
    uint64_t seed = test_seed();
    uint64_t rng = seed;

    th_env_init(&env, EXTRA_YAML, NULL);
    client_t clients[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
        memset(&clients[i], 0, sizeof(clients[i]));
        clients[i].index = i;
        snprintf(clients[i].email, sizeof(clients[i].email), "%s", client_emails[i]);
        snprintf(clients[i].password, sizeof(clients[i].password), "pass %d", i);
        char *b = th_basic(clients[i].email, clients[i].password);
        snprintf(clients[i].basic, sizeof(clients[i].basic), "%s", b);
        free(b);
        ck_assert_int_eq(
            th_add_user(&env, clients[i].email, clients[i].password, "Client", "Durable", "user"),
            0);
    }

    int64_t rows[2] = {0, 0}; /* live sessions, API keys */
    long total_ops = 0;
    int total_ctl = 0;
    for (int cycle = 0; cycle < CYCLES; cycle++) {
        th_server_start(&srv, &env);
        check_server(cycle, false, &rng);

        memset(ledger.made, 0, sizeof(ledger.made));
        memset(ledger.made_unsure, 0, sizeof(ledger.made_unsure));
        memset(ledger.revoked, 0, sizeof(ledger.revoked));
        memset(ledger.revoked_unsure, 0, sizeof(ledger.revoked_unsure));
        atomic_store(&stop_clients, false);
        for (int i = 0; i < CLIENTS; i++) {
            clients[i].cycle = cycle;
            clients[i].rng = seed ^ ((uint64_t)(cycle * CLIENTS + i + 1) << 32);
            clients[i].ops = 0;
            ck_assert_int_eq(pthread_create(&clients[i].tid, NULL, client_main, &clients[i]), 0);
        }
        ctl_adder_t adder = {.cycle = cycle};
        ck_assert_int_eq(pthread_create(&adder.tid, NULL, ctl_adder_main, &adder), 0);

        /* The kill lands anywhere from the first requests to well into the load. */
        unsigned delay_ms = 100 + (unsigned)(next_rand(&rng) % 1400);
        usleep(delay_ms * 1000u);
        th_server_kill(&srv);
        atomic_store(&stop_clients, true);
        long ops = 0;
        for (int i = 0; i < CLIENTS; i++) {
            pthread_join(clients[i].tid, NULL);
            ops += clients[i].ops;
        }
        pthread_join(adder.tid, NULL);
        ck_assert_msg(ledger.failure[0] == '\0', "cycle %d: %s", cycle, ledger.failure);
        fprintf(stderr,
                "durability: cycle %d: killed after %u ms, %ld requests (sessions %ld+%ld "
                "unanswered, ended %ld+%ld; keys %ld+%ld, deleted %ld+%ld), %d users added by "
                "identityctl\n",
                cycle, delay_ms, ops, ledger.made[ITEM_SESSION], ledger.made_unsure[ITEM_SESSION],
                ledger.revoked[ITEM_SESSION], ledger.revoked_unsure[ITEM_SESSION],
                ledger.made[ITEM_KEY], ledger.made_unsure[ITEM_KEY], ledger.revoked[ITEM_KEY],
                ledger.revoked_unsure[ITEM_KEY], adder.added);
        total_ops += ops;
        total_ctl += adder.added;
        check_file(cycle, rows);
    }

    /* The last restart checks everything ever acknowledged. */
    th_server_start(&srv, &env);
    check_server(CYCLES, true, &rng);
    ck_assert_int_eq(th_server_stop(&srv), 0);
    fprintf(stderr, "durability: %d kills, %ld requests, %zu credentials, %d identityctl users\n",
            CYCLES, total_ops, ledger.n_items, total_ctl);
    ck_assert_int_gt(ledger.n_items, 0);
    th_env_dispose(&env);
}
END_TEST

/* ---- identityctl and the server writing at once ------------------------------------------ */

#define BUSY_CLIENTS 3
#define CTL_ROUNDS 25 /* of the 7 writes below each */

typedef struct hammer {
    pthread_t tid;
    char email[64], password[32], basic[160];
    long requests;
} hammer_t;

/* One write endpoint after another, as fast as the server answers: sign-in, key made and
 * deleted, logout. Anything but 200 is recorded (a busy database would be a 503). */
static void *hammer_main(void *arg)
{
    hammer_t *h = arg;
    while (!atomic_load(&stop_clients)) {
        char body[160], token[96], key[96], id[64], header[160];
        reply_t r;
        snprintf(body, sizeof(body), "{\"userName\":\"%s\",\"password\":\"%s\"}", h->email,
                 h->password);
        request(&r, "POST", AUTH_PATH, NULL, body);
        bool ok = r.status == 200 && response_member(&r, "token", token, sizeof(token));
        if (!ok)
            fail_later("sign-in of %s: %ld %s", h->email, r.status, r.body ? r.body : "");
        reply_free(&r);
        if (!ok)
            break;

        request(&r, "POST", KEYS_PATH, h->basic, "{\"name\":\"busy\"}");
        ok = r.status == 200 && response_member(&r, "key", key, sizeof(key)) &&
             response_member(&r, "id", id, sizeof(id));
        if (!ok)
            fail_later("key create by %s: %ld %s", h->email, r.status, r.body ? r.body : "");
        reply_free(&r);
        if (!ok)
            break;

        snprintf(header, sizeof(header), KEYS_PATH "/%s", id);
        request(&r, "DELETE", header, h->basic, NULL);
        if (r.status != 200)
            fail_later("key delete by %s: %ld %s", h->email, r.status, r.body ? r.body : "");
        ok = r.status == 200;
        reply_free(&r);

        snprintf(header, sizeof(header), "Cookie: asc_auth_key=%s", token);
        request(&r, "POST", LOGOUT_PATH, header, NULL);
        if (r.status != 200)
            fail_later("logout of %s: %ld %s", h->email, r.status, r.body ? r.body : "");
        ok = ok && r.status == 200;
        reply_free(&r);
        h->requests += 4;
        if (!ok)
            break;
    }
    return NULL;
}

/* Runs identityctl with the NULL-terminated arguments after -c CONFIG; asserts exit 0 and a
 * stderr without a word of a lock; returns its stderr (malloc'd) when err is not NULL. */
static void ctl_ok(const char *stdin_text, char **err, ...)
{
    const char *argv[16] = {th_ctl(), "-c", env.config};
    size_t n = 3;
    va_list ap;
    va_start(ap, err);
    for (const char *a = va_arg(ap, const char *); a != NULL; a = va_arg(ap, const char *)) {
        ck_assert_uint_lt(n, 15);
        argv[n++] = a;
    }
    va_end(ap);
    argv[n] = NULL;
    char *e = NULL;
    int rc = th_run(argv, stdin_text, NULL, &e);
    ck_assert_msg(rc == 0, "identityctl %s %s %s: exit %d: %s", argv[3], argv[4],
                  argv[5] ? argv[5] : "", rc, e);
    ck_assert_msg(strstr(e, "locked") == NULL && strstr(e, "busy") == NULL, "identityctl %s %s: %s",
                  argv[3], argv[4], e);
    if (err != NULL)
        *err = e;
    else
        free(e);
}

START_TEST(ctl_writes_never_busy)
{
    TH_SKIP_UNLESS_SQLITE("SQLITE_BUSY is SQLite's lock; PostgreSQL writers wait on row locks");
    th_env_init(&env, EXTRA_YAML, NULL);
    hammer_t hammers[BUSY_CLIENTS];
    for (int i = 0; i < BUSY_CLIENTS; i++) {
        memset(&hammers[i], 0, sizeof(hammers[i]));
        snprintf(hammers[i].email, sizeof(hammers[i].email), "h%d@example.com", i);
        snprintf(hammers[i].password, sizeof(hammers[i].password), "hammer %d", i);
        char *b = th_basic(hammers[i].email, hammers[i].password);
        snprintf(hammers[i].basic, sizeof(hammers[i].basic), "%s", b);
        free(b);
        ck_assert_int_eq(
            th_add_user(&env, hammers[i].email, hammers[i].password, "Ham", "Mer", "user"), 0);
    }
    ck_assert_int_eq(th_add_user(&env, "admin@example.com", "admin pass", "Ad", "Min", "admin"), 0);
    th_server_start(&srv, &env);
    ledger.failure[0] = '\0';
    atomic_store(&stop_clients, false);
    for (int i = 0; i < BUSY_CLIENTS; i++)
        ck_assert_int_eq(pthread_create(&hammers[i].tid, NULL, hammer_main, &hammers[i]), 0);

    double start = th_now();
    for (int round = 0; round < CTL_ROUNDS; round++) {
        char email[64], *err = NULL;
        snprintf(email, sizeof(email), "busy-%d@example.com", round);
        ctl_ok("ctl pass\n", NULL, "user", "add", email, "--first", "B", "--last", "Usy", NULL);
        ctl_ok("new pass\n", NULL, "user", "passwd", email, NULL);
        ctl_ok(NULL, NULL, "user", "disable", email, NULL);
        ctl_ok(NULL, NULL, "user", "enable", email, NULL);
        ctl_ok(NULL, NULL, "session", "revoke", "--all", hammers[round % BUSY_CLIENTS].email, NULL);
        ctl_ok(NULL, &err, "apikey", "create", "admin@example.com", "--name", "ctl", NULL);
        const char *p = strstr(err, "created API key ");
        ck_assert_msg(p != NULL, "apikey create said: %s", err);
        char id[64];
        ck_assert_int_eq(sscanf(p + strlen("created API key "), "%63[^ ]", id), 1);
        ctl_ok(NULL, NULL, "apikey", "revoke", id, NULL);
        free(err);
    }
    double took = th_now() - start;

    atomic_store(&stop_clients, true);
    long requests = 0;
    for (int i = 0; i < BUSY_CLIENTS; i++) {
        pthread_join(hammers[i].tid, NULL);
        requests += hammers[i].requests;
    }
    fprintf(stderr, "busy: %d identityctl writes in %.1f s beside %ld server writes\n",
            CTL_ROUNDS * 7, took, requests);
    ck_assert_msg(ledger.failure[0] == '\0', "a client: %s", ledger.failure);
    ck_assert_int_gt(requests, 0);
    ck_assert_int_eq(th_server_stop(&srv), 0);
    th_env_dispose(&env);
}
END_TEST

/* The wait for the lock is bounded: while another process holds SQLite's write lock past the
 * busy timeout (5 s), a sign-in is answered 503 in the error envelope, not left hanging, and
 * identityctl exits 1 saying so; once the lock is let go both write again. */
START_TEST(lock_held_past_the_bound)
{
    TH_SKIP_UNLESS_SQLITE("holds SQLite's write lock on the file");
    th_env_init(&env, EXTRA_YAML, NULL);
    ck_assert_int_eq(th_add_user(&env, "held@example.com", "held pass", "He", "Ld", "user"), 0);
    th_server_start(&srv, &env);
    const char *login = "{\"userName\":\"held@example.com\",\"password\":\"held pass\"}";
    const char *json[] = {"Content-Type: application/json", NULL};
    char *url = th_url(&srv, AUTH_PATH);

    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open_v2(env.db, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);

    th_response_t r;
    th_http(&r, "POST", url, json, login, strlen(login), 0);
    th_assert_error_envelope(&r, 503);
    th_response_dispose(&r);

    const char *argv[] = {th_ctl(),  "-c", env.config, "user", "add", "late@example.com",
                          "--first", "La", "--last",   "Te",   NULL};
    char *err = NULL;
    int rc = th_run(argv, "late pass\n", NULL, &err);
    ck_assert_msg(rc == 1, "identityctl user add under a held lock: exit %d: %s", rc, err);
    ck_assert_msg(strstr(err, "identityctl:") != NULL, "stderr: %s", err);
    fprintf(stderr, "busy: identityctl under a held lock said: %s", err);
    free(err);

    ck_assert_int_eq(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_close(db), SQLITE_OK);

    th_http(&r, "POST", url, json, login, strlen(login), 0);
    ck_assert_msg(r.status == 200, "sign-in after the lock: %ld %s", r.status, r.body);
    th_response_dispose(&r);
    rc = th_run(argv, "late pass\n", NULL, &err);
    ck_assert_msg(rc == 0, "identityctl user add after the lock: exit %d: %s", rc, err);
    free(err);
    free(url);
    ck_assert_int_eq(th_server_stop(&srv), 0);
    th_env_dispose(&env);
}
END_TEST

static Suite *durability_suite(void)
{
    Suite *s = suite_create("durability");
    TCase *tc = tcase_create("kill");
    tcase_set_timeout(tc, 840);
    tcase_add_test(tc, kill_9_keeps_acknowledged_writes);
    suite_add_tcase(s, tc);
    TCase *busy = tcase_create("busy");
    tcase_set_timeout(busy, 840);
    tcase_add_test(busy, ctl_writes_never_busy);
    tcase_add_test(busy, lock_held_past_the_bound);
    suite_add_tcase(s, busy);
    return s;
}

int main(void)
{
    return th_run_suite(durability_suite());
}
