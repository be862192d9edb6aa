/*
 * Checking a login and its secret: the part Basic auth and POST /api/2.0/authentication
 * share. Brute-force accounting wraps the whole check (core/bruteforce.h): a blocked
 * (tenant, login, client) pair, or a client that has spent its budget across logins, is
 * refused before the password is even looked at, with the same answer whether or not the
 * account exists. A success clears nothing: failures age out of their windows, as in
 * DocSpace. A login that has spent its own budget (failures from many clients) is not
 * refused, which would lock its owner out: each further attempt waits
 * bruteforce.login_delay_ms on a timer of the request's own loop first, and at most
 * bruteforce.login_delay_waiting requests per loop wait at once (more are refused, 403).
 *
 * A failure costs the same whether or not the login exists: the same decoy-or-record
 * check, the same log line (a keyed reference of the login, never the user's id), the same
 * store work.
 *
 * The user row is read on the loop (a prepared point lookup). A plain password becomes
 * DocSpace's client hash through the KDF, which runs in the worker pool while the request
 * waits; a client hash sent by the caller needs only one HMAC and is checked inline. An
 * unknown user costs the same work as a wrong secret. A Basic credential that was verified
 * is remembered for at most basic_cache.ttl seconds under an HMAC of the credential, tied
 * to the user's auth_version: a password or status change, from any process, makes the
 * entry useless at once.
 *
 * Concurrent checks of one plain password for one login share one KDF ("single flight"):
 * the first runs it in the pool, and the others that arrive while it runs, on any loop,
 * park their requests and take its client hash when it is done. Each still checks that hash
 * against its own user's record and goes through check_finish, so every request is judged
 * and counted by brute force on its own, exactly as if it had run the KDF.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/timerfd.h>
#include <time.h>
#include <string.h>

#include "auth/record_upgrade.h"
#include "identityd/auth/auth.h"
#include "identityd/auth/credcache.h"
#include "identityd/auth/storeread.h"
#include "identityd/auth/bfshare.h"
#include "identityd/core/bruteforce.h"
#include "identityd/core/common.h"
#include "identityd/core/ct.h"
#include "identityd/core/log.h"
#include "identityd/cred/digest.h"
#include "identityd/cred/password.h"

#define PASSWORD_MAX 1024
#define TEST_CLOCK_HEADER "x-identityd-test-clock"

/* ---- the per-thread cache of verified Basic credentials ---- */

typedef struct cache_entry {
    unsigned char key[32];
    char user_id[IDD_GUID_LEN + 1];
    int64_t auth_version;
    int64_t expires_ms;
} cache_entry_t;

struct idd_basic_cache {
    size_t slots;
    cache_entry_t *entries;
};

struct idd_basic_cache *idd_basic_cache_new(size_t slots)
{
    struct idd_basic_cache *c = idd_xcalloc(1, sizeof(*c));
    c->slots = slots;
    c->entries = idd_xcalloc(slots, sizeof(cache_entry_t));
    return c;
}

void idd_basic_cache_free(struct idd_basic_cache *c)
{
    if (c == NULL)
        return;
    idd_wipe(c->entries, c->slots * sizeof(cache_entry_t));
    free(c->entries);
    free(c);
}

static cache_entry_t *cache_slot(struct idd_basic_cache *c, const unsigned char key[32])
{
    uint64_t h;
    memcpy(&h, key, sizeof(h));
    return &c->entries[h % c->slots];
}

/* HMAC-SHA256 under the pepper of tenant, lowercased login and password: the cache holds
 * nothing from which a password could be recovered without the pepper. */
static void cache_key(const idd_pepper_t *pepper, int64_t tenant_id, const char *login,
                      const char *password, size_t password_len, unsigned char out[32])
{
    unsigned char msg[8 + IDD_EMAIL_MAX + 1 + PASSWORD_MAX];
    size_t login_len = strlen(login), n = 0;
    for (int i = 0; i < 8; i++)
        msg[n++] = (unsigned char)((uint64_t)tenant_id >> (56 - 8 * i));
    for (size_t i = 0; i < login_len; i++)
        msg[n++] = (unsigned char)((login[i] >= 'A' && login[i] <= 'Z') ? login[i] + 32 : login[i]);
    msg[n++] = 0;
    memcpy(msg + n, password, password_len);
    n += password_len;
    /* On failure the key is all zeros: never stored, so never matched (see key_is_zero). */
    (void)idd_keyed_digest(pepper, NULL, msg, n, out);
    idd_wipe(msg, n);
}

static int key_is_zero(const unsigned char key[32])
{
    unsigned char acc = 0;
    for (int i = 0; i < 32; i++)
        acc |= key[i];
    return acc == 0;
}

/* ---- the check ---- */

struct flight;

typedef struct signin_check {
    /* inputs, copied so the worker never touches request memory */
    char login[IDD_EMAIL_MAX + 1];
    char password[PASSWORD_MAX + 1]; /* secret */
    size_t password_len;
    char client_hash[IDD_CLIENT_HASH_HEX_LEN + 1]; /* secret: given, or computed by the KDF */
    bool have_client_hash;
    bool remember;
    idd_cred_kind_t via;
    char salt[IDD_SALT_MAX + 1];
    unsigned iterations;                      /* the record's */
    unsigned pad_iterations;                  /* extra KDF rounds that equalise the cost (below) */
    char record[IDD_PASSWORD_RECORD_MAX + 1]; /* the user's record, or the decoy; secret */
    const idd_pepper_t *pepper;
    idd_app_t *app; /* for the KDF work counter */
    /* output */
    int verdict; /* 0 match, IDD_EDENIED, other IDD_E* */
    /* context for the completion */
    bool user_found;
    idd_user_t user;
    unsigned char key[32];
    idd_auth_done_fn done;
    idd_bruteforce_key_t bf_key; /* the counters this sign-in is judged and counted under */
    int64_t began_ns;            /* CLOCK_MONOTONIC when the check proper began */
    /* single flight (below): under flights_lock until the flight lands */
    struct flight *flight;            /* the leader's own flight, until it lands */
    struct signin_check *next_waiter; /* in the flight's list of waiters */
    idd_http_parked_t *parked;        /* a waiter's parked request */
    int flight_rc;                    /* a waiter's outcome: 0, the KDF's error, or FLIGHT_LOST */
} signin_check_t;

/* ---- single flight: one KDF for concurrent checks of one password ---- */

/* A flight lives in a small table shared by every loop, only while its KDF runs. It is found
 * by the key of the Basic cache (cache_key: tenant, login, password, under the pepper) and
 * joined only by a check of the same salt and rounds, so its client hash is the one the
 * joining check would compute. Both bounds only cost speed: a check that finds the table
 * full, or its flight with FLIGHT_WAITERS waiting, runs its own KDF as before. */
#define FLIGHTS 64
#define FLIGHT_WAITERS 256
#define FLIGHT_LOST 1 /* the leader's KDF never ran (client left, queue full, shutdown) */

typedef struct flight {
    bool used;
    unsigned char key[32];
    char salt[IDD_SALT_MAX + 1];
    unsigned iterations;
    size_t n_waiters;
    signin_check_t *waiters;
} flight_t;

static pthread_mutex_t flights_lock = PTHREAD_MUTEX_INITIALIZER;
static flight_t flights[FLIGHTS];

static void flight_resume(void *owner, void *arg);
static void check_release(void *arg);

/* A waiter's parked request is done with (resumed, or its client left). */
static void waiter_release(void *arg)
{
    signin_check_t *c = arg;
    atomic_fetch_sub_explicit(&c->app->kdf_waiting, 1, memory_order_relaxed);
    check_release(c);
}

/* Joins the flight of c's credential as a waiter (its request parked) and returns true, or
 * becomes the leader of a new flight (c->flight set) and returns false; neither when the
 * flight is full or the table is: c then runs its own KDF. On the loop. */
static bool flight_join(idd_request_t *r, signin_check_t *c)
{
    flight_t *free_slot = NULL;
    bool joined = false;
    if (key_is_zero(c->key))
        return false;
    pthread_mutex_lock(&flights_lock);
    for (size_t i = 0; i < FLIGHTS; i++) {
        flight_t *f = &flights[i];
        if (!f->used) {
            if (free_slot == NULL)
                free_slot = f;
            continue;
        }
        if (!idd_ct_equal(f->key, c->key, 32))
            continue;
        if (f->iterations == c->iterations && strcmp(f->salt, c->salt) == 0 &&
            f->n_waiters < FLIGHT_WAITERS) {
            c->parked = idd_http_park(r->req, r, c, flight_resume, waiter_release);
            c->next_waiter = f->waiters;
            f->waiters = c;
            f->n_waiters++;
            atomic_fetch_add_explicit(&r->app->kdf_waiting, 1, memory_order_relaxed);
            joined = true;
        }
        free_slot = NULL; /* one flight per credential */
        break;
    }
    if (!joined && free_slot != NULL) {
        free_slot->used = true;
        memcpy(free_slot->key, c->key, 32);
        memcpy(free_slot->salt, c->salt, sizeof(free_slot->salt));
        free_slot->iterations = c->iterations;
        c->flight = free_slot;
    }
    pthread_mutex_unlock(&flights_lock);
    return joined;
}

/* The leader's KDF is done (rc, and its client hash in leader->client_hash) or never ran
 * (FLIGHT_LOST): every waiter takes the outcome and is woken on its own loop, and the slot
 * is free again. On a worker or on the leader's loop. */
static void flight_land(signin_check_t *leader, int rc)
{
    flight_t *f = leader->flight;
    leader->flight = NULL;
    pthread_mutex_lock(&flights_lock);
    signin_check_t *w = f->waiters;
    idd_wipe(f, sizeof(*f));
    pthread_mutex_unlock(&flights_lock);
    /* Out of the table, the waiters are this thread's alone until each is woken; a woken
     * one may be freed at once by its loop, so its successor is read first. */
    while (w != NULL) {
        signin_check_t *next = w->next_waiter;
        w->next_waiter = NULL;
        w->flight_rc = rc;
        if (rc == 0)
            memcpy(w->client_hash, leader->client_hash, sizeof(w->client_hash));
        idd_http_wake(w->parked);
        w = next;
    }
}

/* The slow part when a plain password was given; the cheap part otherwise. */
static void check_secret(void *arg)
{
    signin_check_t *c = arg;
    int rc = 0;
    if (!c->have_client_hash) {
        rc = idd_password_client_hash(c->password, c->password_len, c->salt, c->iterations,
                                      c->client_hash, c->app->kdf_pacer);
        if (c->pad_iterations > 0) {
            char burn[IDD_CLIENT_HASH_HEX_LEN + 1];
            idd_password_client_hash(c->password, c->password_len, c->salt, c->pad_iterations, burn,
                                     c->app->kdf_pacer);
            idd_wipe(burn, sizeof(burn));
        }
        atomic_fetch_add(&c->app->kdf_iterations,
                         (unsigned long long)c->iterations + c->pad_iterations);
        /* After the padding, so that waiters learn no more from the time than the leader. */
        if (c->flight != NULL)
            flight_land(c, rc);
    }
    if (rc == 0)
        rc = idd_password_record_check(c->pepper, c->record, c->client_hash);
    c->verdict = rc;
}

static void check_release(void *arg)
{
    signin_check_t *c = arg;
    if (c->flight != NULL) /* a leader whose KDF never ran: its waiters run their own */
        flight_land(c, FLIGHT_LOST);
    idd_wipe(arg, sizeof(signin_check_t));
    free(arg);
}

static void grant(idd_request_t *r, const idd_user_t *user, idd_cred_kind_t via,
                  idd_auth_done_fn done)
{
    idd_principal_t *p = h2o_mem_alloc_pool(&r->req->pool, sizeof(*p));
    memset(p, 0, sizeof(*p));
    p->user = *user;
    idd_wipe(p->user.password, sizeof(p->user.password));
    p->via = via;
    snprintf(p->scopes, sizeof(p->scopes), "%s", IDD_SCOPE_ALL_WRITE);
    done(r, IDD_AUTH_OK, p);
}

static bool may_sign_in(const idd_user_t *user)
{
    return user->status == IDD_USER_ACTIVE && !user->password_change_required;
}

/* The brute-force clock: monotonic, plus, only with bruteforce.unsafe_test_clock, the whole
 * seconds a test put in X-Identityd-Test-Clock, so that tests see windows and blocks end
 * without waiting on real time. */
static int64_t bf_now(idd_request_t *r)
{
    int64_t now = idd_monotonic_ms();
    if (!r->gen->cfg->bruteforce_unsafe_test_clock)
        return now;
    ssize_t i = h2o_find_header_by_str(&r->req->headers, H2O_STRLIT(TEST_CLOCK_HEADER), -1);
    if (i == -1)
        return now;
    h2o_iovec_t v = r->req->headers.entries[i].value;
    int64_t offset = 0;
    for (size_t k = 0; k < v.len && k < 9 && v.base[k] >= '0' && v.base[k] <= '9'; k++)
        offset = offset * 10 + (v.base[k] - '0');
    return now + offset * 1000;
}

/* The one line every failed sign-in writes, whether or not the login exists: a keyed
 * reference of the login (stable while identityd runs, meaningless outside it), so that an
 * operator can follow one login's failures without the log holding logins or user ids. */
static void log_failure(const idd_request_t *r, const signin_check_t *c)
{
    idd_log_info("signin: failed for tenant %lld login #%016llx from %s", (long long)r->tenant->id,
                 (unsigned long long)c->bf_key.login[0], r->client_ip);
}

/* Back on the loop (owner is the request) with the verdict. */
static void deny_in_step(idd_request_t *r, int64_t began_ns, idd_auth_done_fn done);

/* A failure that found its pair blocked by parallel ones: answered as a block, with the
 * block's Retry-After. */
static void refuse_blocked(idd_request_t *r, signin_check_t *c)
{
    if (idd_bruteforce_check(r->app->bruteforce, &c->bf_key, bf_now(r), &r->retry_after) == 0 ||
        r->retry_after < 1)
        r->retry_after = 1;
    c->done(r, IDD_AUTH_BLOCKED, NULL);
}

static void check_finish(void *owner, void *arg)
{
    idd_request_t *r = owner;
    signin_check_t *c = arg;
    idd_app_t *app = r->app;
    /* Guesses sent in parallel all pass the first check before any KDF finishes. Asking
     * again before revealing a verdict means that once `attempts` of them have failed, the
     * rest answer 403 whatever their password was: no more than `attempts` verdicts per
     * block, while parallel requests with the right password are never held back. */
    if (idd_bruteforce_check(app->bruteforce, &c->bf_key, bf_now(r), &r->retry_after) != 0) {
        c->done(r, IDD_AUTH_BLOCKED, NULL);
        return;
    }
    if (c->verdict == 0 && c->user_found) {
        if (may_sign_in(&c->user)) {
            idd_signin_upgrade_record(app, r->thread->store, c->pepper, c->user.id, c->record,
                                      c->client_hash);
            int ttl = r->gen->cfg->basic_cache_ttl;
            if (c->remember && ttl > 0 && !key_is_zero(c->key)) {
                cache_entry_t *e = cache_slot(r->thread->auth->basic_cache, c->key);
                memcpy(e->key, c->key, 32);
                memcpy(e->user_id, c->user.id, sizeof(e->user_id));
                e->auth_version = c->user.auth_version;
                e->expires_ms = idd_monotonic_ms() + (int64_t)ttl * 1000;
            }
            grant(r, &c->user, c->via, c->done);
            return;
        }
        /* Only the right password gets here, so this line tells nothing an unknown login
         * could be compared with. */
        idd_log_info("signin: user %s may not sign in (%s)", c->user.id,
                     c->user.status != IDD_USER_ACTIVE ? "disabled" : "password change required");
        int spent = idd_bruteforce_fail(app->bruteforce, &c->bf_key, bf_now(r));
        idd_bfshare_fail(app, r->thread->store, &c->bf_key, bf_now(r));
        if (spent != 0) {
            refuse_blocked(r, c);
            return;
        }
        deny_in_step(r, c->began_ns, c->done);
        return;
    }
    if (c->verdict != 0 && c->verdict != IDD_EDENIED)
        idd_log_error("signin: password check failed: %s", idd_strerror(c->verdict));
    log_failure(r, c);
    int spent = idd_bruteforce_fail(app->bruteforce, &c->bf_key, bf_now(r));
    idd_bfshare_fail(app, r->thread->store, &c->bf_key, bf_now(r));
    if (spent != 0) {
        refuse_blocked(r, c);
        return;
    }
    deny_in_step(r, c->began_ns, c->done);
}

static void signin_continue(idd_request_t *r, signin_check_t *c);

/* Whether the Basic credential being checked was verified a moment ago on this thread (its
 * user is checked again in signin_continue): its owner is not kept waiting by a hot login. */
static bool cached_credential(idd_request_t *r, const signin_check_t *c)
{
    if (!c->remember || key_is_zero(c->key))
        return false;
    const cache_entry_t *e = cache_slot(r->thread->auth->basic_cache, c->key);
    return e->expires_ms > idd_monotonic_ms() && idd_ct_equal(e->key, c->key, 32);
}

/* Whether the user row read for a remembered credential matches what this loop verified. */
static bool basic_cache_hit(idd_request_t *r, const signin_check_t *c)
{
    const cache_entry_t *e = cache_slot(r->thread->auth->basic_cache, c->key);
    return c->user_found && may_sign_in(&c->user) && e->expires_ms > idd_monotonic_ms() &&
           idd_ct_equal(e->key, c->key, 32) && strcmp(e->user_id, c->user.id) == 0 &&
           e->auth_version == c->user.auth_version;
}

/* ---- failures answered at a fixed step after the check began ---- */

/* A failed sign-in is not answered as soon as its check is done, but at the first multiple
 * of FAIL_QUANTUM_NS after the moment the check began (idd_auth_signin, before any work that
 * depends on whether the login exists), on an absolute timer of the loop. So what a known
 * login costs more than an unknown one (its row read and copied, its record parsed) moves the
 * answer only when it crosses a step, a few microseconds in milliseconds: the client's clock
 * sees the step, not the work. The timer is absolute, so neither how long the check took
 * nor when the loop next waits shifts the answer. An entry lives in the request's pool and
 * leaves the list when the client does. */
#define FAIL_QUANTUM_NS INT64_C(5000000)

typedef struct signin_failure {
    h2o_linklist_t link; /* in idd_auth_thread_t.fail_pending, by deadline */
    int64_t deadline_ns;
    idd_request_t *r;
    idd_auth_done_fn done;
} signin_failure_t;

static int64_t monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void arm(idd_auth_thread_t *a)
{
    struct itimerspec when;
    memset(&when, 0, sizeof(when));
    if (!h2o_linklist_is_empty(&a->fail_pending)) {
        signin_failure_t *first =
            H2O_STRUCT_FROM_MEMBER(signin_failure_t, link, a->fail_pending.next);
        when.it_value.tv_sec = (time_t)(first->deadline_ns / 1000000000);
        when.it_value.tv_nsec = (long)(first->deadline_ns % 1000000000);
    }
    timerfd_settime(a->fail_fd, TFD_TIMER_ABSTIME, &when, NULL);
}

static void failures_due(h2o_socket_t *sock, const char *err)
{
    idd_auth_thread_t *a = sock->data;
    h2o_buffer_consume(&sock->input, sock->input->size);
    if (err != NULL)
        return;
    int64_t now = monotonic_ns();
    while (!h2o_linklist_is_empty(&a->fail_pending)) {
        signin_failure_t *f = H2O_STRUCT_FROM_MEMBER(signin_failure_t, link, a->fail_pending.next);
        if (f->deadline_ns > now)
            break;
        h2o_linklist_unlink(&f->link);
        f->done(f->r, IDD_AUTH_DENY, NULL);
    }
    arm(a);
}

static void failure_dispose(void *p)
{
    signin_failure_t *f = p;
    if (h2o_linklist_is_linked(&f->link))
        h2o_linklist_unlink(&f->link);
}

static void deny_in_step(idd_request_t *r, int64_t began_ns, idd_auth_done_fn done)
{
    idd_auth_thread_t *a = r->thread->auth;
    int64_t took = monotonic_ns() - began_ns;
    signin_failure_t *f = h2o_mem_alloc_shared(&r->req->pool, sizeof(*f), failure_dispose);
    memset(f, 0, sizeof(*f));
    f->deadline_ns = began_ns + (took / FAIL_QUANTUM_NS + 1) * FAIL_QUANTUM_NS;
    f->r = r;
    f->done = done;
    /* Deadlines mostly arrive in order: walk back from the last. */
    h2o_linklist_t *at = a->fail_pending.prev;
    while (at != &a->fail_pending &&
           H2O_STRUCT_FROM_MEMBER(signin_failure_t, link, at)->deadline_ns > f->deadline_ns)
        at = at->prev;
    h2o_linklist_insert(at->next, &f->link);
    if (a->fail_pending.next == &f->link)
        arm(a);
}

int idd_signin_thread_init(idd_auth_thread_t *a, h2o_loop_t *loop)
{
    h2o_linklist_init_anchor(&a->fail_pending);
    a->fail_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (a->fail_fd < 0)
        return IDD_EIO;
    a->fail_sock = h2o_evloop_socket_create(loop, a->fail_fd, 0);
    a->fail_sock->data = a;
    h2o_socket_read_start(a->fail_sock, failures_due);
    return 0;
}

void idd_signin_thread_dispose(idd_auth_thread_t *a)
{
    if (a->fail_sock != NULL)
        h2o_socket_close(a->fail_sock); /* closes fail_fd */
    a->fail_sock = NULL;
}

/* ---- the delay of a hot login ---- */

/* Lives in the request's pool while the request waits: when h2o disposes of the request
 * (the client left) the timer is unlinked and the check released. */
typedef struct signin_delay {
    h2o_timeout_entry_t entry;
    idd_request_t *r;
    signin_check_t *c; /* NULL once the timer fired */
    idd_auth_thread_t *a;
} signin_delay_t;

static void delay_fired(h2o_timeout_entry_t *entry)
{
    signin_delay_t *d = H2O_STRUCT_FROM_MEMBER(signin_delay_t, entry, entry);
    signin_check_t *c = d->c;
    d->c = NULL;
    d->a->delay_waiting--;
    signin_continue(d->r, c);
}

static void delay_dispose(void *p)
{
    signin_delay_t *d = p;
    if (d->c == NULL)
        return;
    if (h2o_timeout_is_linked(&d->entry))
        h2o_timeout_unlink(&d->entry);
    d->a->delay_waiting--;
    check_release(d->c);
    d->c = NULL;
}

/* ---- the sign-in ---- */

void idd_auth_signin(idd_request_t *r, const idd_signin_t *in, idd_auth_done_fn done)
{
    idd_app_t *app = r->app;
    size_t login_len = strlen(in->login);
    if (login_len == 0 || login_len > IDD_EMAIL_MAX || in->password_len > PASSWORD_MAX ||
        (in->client_hash != NULL && strlen(in->client_hash) != IDD_CLIENT_HASH_HEX_LEN)) {
        done(r, IDD_AUTH_DENY, NULL);
        return;
    }

    signin_check_t *c = idd_xcalloc(1, sizeof(*c));
    memcpy(c->login, in->login, login_len + 1);
    if (in->client_hash != NULL) {
        memcpy(c->client_hash, in->client_hash, IDD_CLIENT_HASH_HEX_LEN + 1);
        c->have_client_hash = true;
    } else {
        memcpy(c->password, in->password, in->password_len);
        c->password_len = in->password_len;
    }
    c->remember = in->remember && !c->have_client_hash && r->gen->cfg->basic_cache_ttl > 0;
    c->via = in->via;
    c->pepper = &app->pepper;
    c->app = app;
    c->done = done;
    idd_bruteforce_key(app->bruteforce, r->tenant->id, c->login, r->client_ip, &c->bf_key);
    /* A blocked pair or a spent client is refused before anything else, so that it never
     * takes one of the places where attempts on a hot login wait. */
    if (idd_bruteforce_check(app->bruteforce, &c->bf_key, bf_now(r), &r->retry_after) != 0) {
        check_release(c);
        done(r, IDD_AUTH_BLOCKED, NULL);
        return;
    }
    if (!c->have_client_hash) /* the Basic cache's key, and the single flight's */
        cache_key(&app->pepper, r->tenant->id, c->login, c->password, c->password_len, c->key);

    idd_auth_thread_t *a = r->thread->auth;
    if (a->delay_ms > 0 && !cached_credential(r, c) &&
        idd_bruteforce_login_hot(app->bruteforce, &c->bf_key, bf_now(r))) {
        if (a->delay_waiting >= a->delay_max_waiting) {
            /* No place left to wait. A client with failures on record is refused; one
             * without (the owner, most likely) goes on undelayed: a flood of guesses must
             * not lock the owner out, and each fresh client gets one such attempt. */
            if (idd_bruteforce_client_clean(app->bruteforce, &c->bf_key, bf_now(r))) {
                signin_continue(r, c);
                return;
            }
            check_release(c);
            r->retry_after = (a->delay_ms + 999) / 1000;
            done(r, IDD_AUTH_BLOCKED, NULL);
            return;
        }
        signin_delay_t *d = h2o_mem_alloc_shared(&r->req->pool, sizeof(*d), delay_dispose);
        memset(d, 0, sizeof(*d));
        d->entry.cb = delay_fired;
        d->r = r;
        d->c = c;
        d->a = a;
        a->delay_waiting++;
        h2o_timeout_link(r->req->conn->ctx->loop, &a->delay_timeout, &d->entry);
        return;
    }
    signin_continue(r, c);
}

/* The check proper, now or after a hot login's delay. */
/* The user lookup of a sign-in, on the loop or off it (auth/storeread.h). */
typedef struct lookup {
    signin_check_t *c; /* NULL once the resume took it over */
    unsigned long epoch;
    int64_t tenant_id;
} lookup_t;
static int user_lookup(idd_store_t *store, void *arg);
static void user_lookup_release(void *arg);
static void user_looked_up(idd_request_t *r, void *arg, int rc);

static void signin_continue(idd_request_t *r, signin_check_t *c)
{
    idd_app_t *app = r->app;
    idd_auth_done_fn done = c->done;
    c->began_ns = monotonic_ns();
    if (idd_bruteforce_check(app->bruteforce, &c->bf_key, bf_now(r), &r->retry_after) != 0) {
        check_release(c);
        done(r, IDD_AUTH_BLOCKED, NULL);
        return;
    }
    snprintf(c->salt, sizeof(c->salt), "%s", r->tenant_row->password_salt);

    /* A Basic credential this loop verified a moment ago needs its user row only to see
     * that the user may still sign in: the shared credential cache keeps that row (without
     * its password record) under the credential's key, emptied by any change to users. */
    idd_credcache_t *cache = r->app->credcache;
    if (cache != NULL && cached_credential(r, c)) {
        idd_cc_cred_t e;
        bool found = idd_credcache_get(cache, IDD_CC_BASIC, c->key, &e);
        if (found) {
            idd_cc_user_to(&c->user, &e.user);
            c->user_found = true;
        }
        if (found && basic_cache_hit(r, c)) {
            if (r->thread->metrics != NULL) {
                idd_metrics_add(&r->thread->metrics->credcache[IDD_CC_BASIC][0], 1);
                idd_metrics_add(&r->thread->metrics->credential_cache[0], 1);
            }
            grant(r, &c->user, c->via, done);
            check_release(c);
            return;
        }
        c->user_found = false;
    }
    if (cache != NULL && c->remember && r->thread->metrics != NULL)
        idd_metrics_add(&r->thread->metrics->credcache[IDD_CC_BASIC][1], 1);
    lookup_t *l = idd_xcalloc(1, sizeof(*l));
    l->c = c;
    l->epoch = idd_store_epoch(); /* before the read: see credcache.h */
    l->tenant_id = r->tenant->id;
    idd_store_read(r, user_lookup, user_looked_up, l, user_lookup_release);
}

static int user_lookup(idd_store_t *store, void *arg)
{
    lookup_t *l = arg;
    return idd_store_user_by_email(store, l->tenant_id, l->c->login, &l->c->user);
}

/* The check belongs to the lookup until its resume takes it over; when the request went away
 * first, the check is released with the lookup. */
static void user_lookup_release(void *arg)
{
    lookup_t *l = arg;
    if (l->c != NULL)
        check_release(l->c);
    free(l);
}

static void user_looked_up(idd_request_t *r, void *arg, int rc)
{
    lookup_t *l = arg;
    signin_check_t *c = l->c;
    unsigned long epoch = l->epoch;
    l->c = NULL;
    idd_auth_done_fn done = c->done;
    idd_credcache_t *cache = r->app->credcache;
    if (rc != 0 && rc != IDD_ENOTFOUND) {
        idd_log_error("signin: user lookup failed: %s", idd_strerror(rc));
        check_release(c);
        done(r, IDD_AUTH_ERROR, NULL);
        return;
    }
    c->user_found = rc == 0;

    if (c->remember) {
        bool hit = basic_cache_hit(r, c);
        if (r->thread->metrics != NULL)
            idd_metrics_add(&r->thread->metrics->credential_cache[hit ? 0 : 1], 1);
        if (hit) {
            if (cache != NULL) {
                idd_cc_cred_t e;
                memset(&e, 0, sizeof(e));
                idd_cc_user_from(&e.user, &c->user); /* without the password record */
                idd_credcache_put(cache, IDD_CC_BASIC, c->key, &e, epoch);
            }
            grant(r, &c->user, c->via, done);
            check_release(c);
            return;
        }
    }

    unsigned configured = r->gen->cfg->password_iterations;
    if (c->user_found && idd_password_record_iterations(c->user.password, &c->iterations) == 0) {
        snprintf(c->record, sizeof(c->record), "%s", c->user.password);
    } else {
        c->iterations = configured;
        /* A record no client hash matches, as costly to check as a real one. */
        (void)idd_password_record_decoy(c->iterations, c->record, sizeof(c->record));
    }
    /* An unknown user costs `configured` rounds. A record made before password.iterations
     * was raised costs fewer, which would tell known accounts apart by response time: the
     * difference is burnt on a throwaway hash. */
    c->pad_iterations = c->iterations < configured ? configured - c->iterations : 0;
    idd_wipe(c->user.password, sizeof(c->user.password));

    if (c->have_client_hash) {
        /* One HMAC: cheaper than a trip through the pool. */
        check_secret(c);
        check_finish(r, c);
        check_release(c);
        return;
    }
    if (flight_join(r, c))
        return;
    idd_http_offload(r->req, r->client_ip, r->app->workers, r, c, check_secret, check_finish,
                     check_release);
}

/* A waiter of a flight, back on its own loop with the flight's outcome. */
static void flight_resume(void *owner, void *arg)
{
    idd_request_t *r = owner;
    signin_check_t *c = arg;
    if (c->flight_rc != FLIGHT_LOST)
        atomic_fetch_add_explicit(&r->app->kdf_shared, 1, memory_order_relaxed);
    if (c->flight_rc == FLIGHT_LOST) {
        /* c belongs to the parked request, released after this returns: the check that now
         * runs as it would have without a flight gets a copy. */
        signin_check_t *own = idd_xcalloc(1, sizeof(*own));
        memcpy(own, c, sizeof(*own));
        own->parked = NULL;
        idd_http_offload(r->req, r->client_ip, r->app->workers, r, own, check_secret, check_finish,
                         check_release);
        return;
    }
    /* The leader's client hash, checked against this request's own record: one HMAC. */
    c->verdict = c->flight_rc != 0
                     ? c->flight_rc
                     : idd_password_record_check(c->pepper, c->record, c->client_hash);
    check_finish(r, c);
}
