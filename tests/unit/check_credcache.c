/*
 * The credential cache's table (auth/credcache.h): what is stored comes back, kinds do not
 * mix, an entry filled before the epoch moved is never served, memory stays bounded and a
 * full set gives up its oldest entry, many threads at once see whole entries only (run this
 * suite under the TSan build too), and the change check: it moves the epoch when another
 * connection ends or narrows a credential in the database, and not for touches.
 */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "identityd/auth/credcache.h"
#include "store_test.h"

static void key_of(unsigned n, unsigned char key[IDD_CREDCACHE_KEY_LEN])
{
    /* Spread like a digest: a cheap mix of n into every byte. */
    uint64_t x = (uint64_t)n * 0x9e3779b97f4a7c15u + 0x632be59bd9b4e019u;
    for (int i = 0; i < IDD_CREDCACHE_KEY_LEN; i++) {
        x ^= x >> 29;
        x *= 0xbf58476d1ce4e5b9u;
        key[i] = (unsigned char)(x >> 56);
    }
}

static idd_cc_cred_t cred_of(unsigned n)
{
    idd_cc_cred_t c;
    memset(&c, 0, sizeof(c));
    c.session_id = n;
    c.tenant_id = 1;
    c.expires = 4000000000;
    c.active = 1;
    c.auth_version = n * 3;
    snprintf(c.user.id, sizeof(c.user.id), "%036u", n);
    c.user.auth_version = n * 3;
    return c;
}

START_TEST(stores_and_finds)
{
    idd_credcache_t *c = idd_credcache_new(1024);
    unsigned char k[IDD_CREDCACHE_KEY_LEN];
    idd_cc_cred_t in = cred_of(7), out;
    key_of(7, k);
    ck_assert(!idd_credcache_get(c, IDD_CC_SESSION, k, &out));
    idd_credcache_put(c, IDD_CC_SESSION, k, &in, idd_store_epoch());
    ck_assert(idd_credcache_get(c, IDD_CC_SESSION, k, &out));
    ck_assert_int_eq(memcmp(&in, &out, sizeof(in)), 0);
    /* The same key under another kind is another entry. */
    ck_assert(!idd_credcache_get(c, IDD_CC_APIKEY, k, &out));
    /* A key differing in one byte is not found. */
    k[31] ^= 1;
    ck_assert(!idd_credcache_get(c, IDD_CC_SESSION, k, &out));
    k[31] ^= 1;
    /* last_seen moves forward in place, never back. */
    idd_credcache_seen(c, k, 100);
    ck_assert(idd_credcache_get(c, IDD_CC_SESSION, k, &out));
    ck_assert_int_eq(out.last_seen, 100);
    idd_credcache_seen(c, k, 50);
    ck_assert(idd_credcache_get(c, IDD_CC_SESSION, k, &out));
    ck_assert_int_eq(out.last_seen, 100);
    idd_credcache_free(c);
}
END_TEST

START_TEST(epoch_invalidates)
{
    idd_credcache_t *c = idd_credcache_new(1024);
    unsigned char k[IDD_CREDCACHE_KEY_LEN];
    idd_cc_cred_t in = cred_of(1), out;
    key_of(1, k);
    unsigned long before = idd_store_epoch();
    idd_credcache_put(c, IDD_CC_APIKEY, k, &in, before);
    ck_assert(idd_credcache_get(c, IDD_CC_APIKEY, k, &out));
    idd_store_note_change();
    ck_assert_uint_gt(idd_store_epoch(), before);
    ck_assert(!idd_credcache_get(c, IDD_CC_APIKEY, k, &out));
    /* A row read before the change (tagged with the old epoch) is not stored. */
    idd_credcache_put(c, IDD_CC_APIKEY, k, &in, before);
    ck_assert(!idd_credcache_get(c, IDD_CC_APIKEY, k, &out));
    idd_credcache_put(c, IDD_CC_APIKEY, k, &in, idd_store_epoch());
    ck_assert(idd_credcache_get(c, IDD_CC_APIKEY, k, &out));

    /* The tenants' two-factor settings follow the same epoch. */
    idd_tenant_tfa_t t, got;
    memset(&t, 0, sizeof(t));
    t.tenant_id = 5;
    t.enabled = 1;
    snprintf(t.trusted_ips, sizeof(t.trusted_ips), "10.0.0.0/8");
    ck_assert(!idd_credcache_tenant_tfa_get(c, 5, &got));
    idd_credcache_tenant_tfa_put(c, &t, idd_store_epoch());
    ck_assert(idd_credcache_tenant_tfa_get(c, 5, &got));
    ck_assert_str_eq(got.trusted_ips, "10.0.0.0/8");
    ck_assert(!idd_credcache_tenant_tfa_get(c, 5 + 64, &got)); /* same slot, other tenant */
    idd_store_note_change();
    ck_assert(!idd_credcache_tenant_tfa_get(c, 5, &got));
    idd_credcache_free(c);
}
END_TEST

START_TEST(bounded_and_evicts_oldest)
{
    idd_credcache_t *c = idd_credcache_new(256);
    size_t n = idd_credcache_entries(c);
    ck_assert_uint_ge(n, 256);
    ck_assert_uint_lt(n, 256 + 64 * 4);
    unsigned long e = idd_store_epoch();
    unsigned char k[IDD_CREDCACHE_KEY_LEN];
    idd_cc_cred_t in, out;
    const unsigned total = 20000;
    for (unsigned i = 0; i < total; i++) {
        key_of(i, k);
        in = cred_of(i);
        idd_credcache_put(c, IDD_CC_SESSION, k, &in, e);
    }
    /* No more entries than the table holds; every one found is the one stored under it; and
     * the newest of each set are kept: the last inserted key is always there. */
    size_t found = 0;
    for (unsigned i = 0; i < total; i++) {
        key_of(i, k);
        if (idd_credcache_get(c, IDD_CC_SESSION, k, &out)) {
            found++;
            ck_assert_int_eq(out.session_id, i);
        }
    }
    ck_assert_uint_le(found, n);
    ck_assert_uint_gt(found, n / 2); /* the shards and sets are all used */
    key_of(total - 1, k);
    ck_assert(idd_credcache_get(c, IDD_CC_SESSION, k, &out));
    /* Memory is what was taken at start. */
    ck_assert_uint_ge(idd_credcache_bytes(c), n * sizeof(idd_cc_cred_t));
    idd_credcache_free(c);
}
END_TEST

/* ---- many threads ---- */

#define THREADS 8
#define ROUNDS 20000

static idd_credcache_t *shared;
static atomic_int torn;

static void *worker(void *arg)
{
    unsigned id = (unsigned)(uintptr_t)arg;
    unsigned char k[IDD_CREDCACHE_KEY_LEN];
    idd_cc_cred_t in, out;
    for (unsigned i = 0; i < ROUNDS; i++) {
        unsigned n = (i * 7 + id) % 3000;
        key_of(n, k);
        if (idd_credcache_get(shared, IDD_CC_SESSION, k, &out)) {
            /* A whole entry, the one of this key. */
            if (out.session_id != n || out.auth_version != n * 3 || out.user.auth_version != n * 3)
                atomic_fetch_add(&torn, 1);
        } else {
            unsigned long e = idd_store_epoch();
            in = cred_of(n);
            idd_credcache_put(shared, IDD_CC_SESSION, k, &in, e);
        }
        if (i % 997 == 0)
            idd_store_note_change();
        if (i % 101 == 0)
            idd_credcache_seen(shared, k, i);
    }
    return NULL;
}

START_TEST(threads_see_whole_entries)
{
    shared = idd_credcache_new(1024);
    atomic_store(&torn, 0);
    pthread_t t[THREADS];
    for (uintptr_t i = 0; i < THREADS; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, worker, (void *)i), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    ck_assert_int_eq(atomic_load(&torn), 0);
    idd_credcache_free(shared);
}
END_TEST

/* ---- the change check against a real database ---- */

START_TEST(change_check_sees_other_writers)
{
    SKIP_UNLESS_SQLITE("another writer's changes through SQLite directly");
    idd_store_t *s = open_with_tenants();
    idd_user_t u = make_user(1, "alice@example.com");
    ck_assert_int_eq(idd_store_user_insert(s, &u), 0);
    idd_session_t x = make_session(&u, 1, idd_now());
    ck_assert_int_eq(idd_store_session_create(s, &x), 0);
    idd_credcache_t *c = idd_credcache_new(256);
    ck_assert_int_eq(idd_credcache_version(c), -1);
    ck_assert_int_eq(idd_credcache_check(c, s), 0);
    int64_t v0 = idd_credcache_version(c);
    ck_assert_int_ge(v0, 0);
    ck_assert_uint_eq(idd_credcache_checks(c), 1);

    /* Nothing changed: the epoch stays. */
    unsigned long e = idd_store_epoch();
    ck_assert_int_eq(idd_credcache_check(c, s), 0);
    ck_assert_uint_eq(idd_store_epoch(), e);

    /* Touches by another connection (as another process would) move nothing. */
    char sql[256];
    snprintf(sql, sizeof(sql), "UPDATE login_events SET last_seen = last_seen + 60 WHERE id = %lld",
             (long long)x.id);
    ck_assert_int_eq(raw_exec(sql), SQLITE_OK);
    ck_assert_int_eq(raw_exec("UPDATE users SET password = password"), SQLITE_OK);
    ck_assert_int_eq(idd_credcache_check(c, s), 0);
    ck_assert_uint_eq(idd_store_epoch(), e);
    ck_assert_int_eq(idd_credcache_version(c), v0);

    /* Each write that ends or narrows a credential, made outside this process's wrappers,
     * moves the version, and the next check moves the epoch. */
    const char *const writes[] = {
        "UPDATE users SET status = 'disabled'",
        "UPDATE users SET status = 'active'",
        "UPDATE users SET auth_version = auth_version + 1",
        "UPDATE users SET password_change_required = 1",
        "UPDATE login_events SET active = 0",
        "INSERT INTO tenant_tfa (tenant_id, enabled, updated) VALUES (1, 1, 1)",
        "UPDATE tenant_tfa SET enabled = 0",
        "DELETE FROM tenant_tfa",
    };
    for (size_t i = 0; i < sizeof(writes) / sizeof(writes[0]); i++) {
        e = idd_store_epoch();
        int64_t v = idd_credcache_version(c);
        ck_assert_msg(raw_exec(writes[i]) == SQLITE_OK, "%s", writes[i]);
        ck_assert_int_eq(idd_credcache_check(c, s), 0);
        ck_assert_msg(idd_credcache_version(c) > v, "version unmoved by %s", writes[i]);
        ck_assert_msg(idd_store_epoch() > e, "epoch unmoved by %s", writes[i]);
    }
    idd_credcache_free(c);
    idd_store_free(s);
}
END_TEST

/* The store's own writes that end or narrow a credential move the epoch at once, before any
 * check; reads and touches do not. */
START_TEST(local_writes_move_epoch)
{
    idd_store_t *s = open_with_tenants();
    idd_user_t u = make_user(1, "bob@example.com");
    ck_assert_int_eq(idd_store_user_insert(s, &u), 0);
    idd_session_t x = make_session(&u, 2, idd_now());
    ck_assert_int_eq(idd_store_session_create(s, &x), 0);
    unsigned long e = idd_store_epoch();
    ck_assert_int_eq(idd_store_session_touch(s, x.id, idd_now() + 60), 0);
    idd_user_t got;
    ck_assert_int_eq(idd_store_user_by_id(s, u.id, &got), 0);
    ck_assert_uint_eq(idd_store_epoch(), e);
    ck_assert_int_eq(idd_store_session_end(s, x.id), 0);
    ck_assert_uint_gt(idd_store_epoch(), e);
    e = idd_store_epoch();
    ck_assert_int_eq(idd_store_user_set_status(s, u.id, IDD_USER_DISABLED), 0);
    ck_assert_uint_gt(idd_store_epoch(), e);
    e = idd_store_epoch();
    ck_assert_int_eq(idd_store_user_set_password_change(s, u.id, 1), 0);
    ck_assert_uint_gt(idd_store_epoch(), e);
    idd_store_free(s);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("credcache");
    TCase *tc = tcase_create("table");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, stores_and_finds);
    tcase_add_test(tc, epoch_invalidates);
    tcase_add_test(tc, bounded_and_evicts_oldest);
    tcase_add_test(tc, threads_see_whole_entries);
    suite_add_tcase(s, tc);
    TCase *db = tcase_create("store");
    tcase_add_checked_fixture(db, setup, teardown);
    tcase_set_timeout(db, 60);
    tcase_add_test(db, change_check_sees_other_writers);
    tcase_add_test(db, local_writes_move_epoch);
    suite_add_tcase(s, db);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(make_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
