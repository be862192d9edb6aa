/*
 * Unit tests of the store through its public interface (store.h) against real SQLite files:
 * sessions (sqlite_session.c): their lifecycle and listing, and their ending together
 * with a status or password change of their user.
 * Set-up and shared helpers are in store_test.h.
 */
#include <signal.h>
#include <sys/resource.h>

#include "store_test.h"

static void assert_same_session(const idd_session_t *got, const idd_session_t *want)
{
    ck_assert_int_eq(got->id, want->id);
    ck_assert_int_eq(got->tenant_id, want->tenant_id);
    ck_assert_str_eq(got->user_id, want->user_id);
    ck_assert_mem_eq(got->digest, want->digest, IDD_SESSION_DIGEST_LEN);
    ck_assert_int_eq(got->created, want->created);
    ck_assert_int_eq(got->expires, want->expires);
    ck_assert_int_eq(got->last_seen, want->last_seen);
    ck_assert_str_eq(got->ip, want->ip);
    ck_assert_str_eq(got->user_agent, want->user_agent);
    ck_assert_int_eq(got->active, want->active);
    ck_assert_int_eq(got->browser_session, want->browser_session);
    ck_assert_int_eq(got->auth_version, want->auth_version);
}

START_TEST(test_session_create_and_lookup)
{
    idd_store_t *s = open_with_tenants();
    idd_user_t alice = add_user(s, 1, "alice@example.com");
    idd_user_t bob = add_user(s, 2, "bob@example.com");
    int64_t now = idd_now();
    idd_session_t x = make_session(&alice, 1, now);
    idd_session_t found;

    x.active = 0; /* ignored: a new session is always active */
    x.browser_session = 1;
    add_session(s, &x);
    ck_assert_int_eq(x.active, 1);

    ck_assert_int_eq(idd_store_session_by_digest(s, x.digest, &found), 0);
    assert_same_session(&found, &x);
    ck_assert_int_eq(found.browser_session, 1);
    ck_assert_int_eq(idd_store_session_by_id(s, x.id, &found), 0);
    assert_same_session(&found, &x);

    /* A second session of the same user is a separate row with a later id. */
    idd_session_t y = make_session(&alice, 2, now);
    add_session(s, &y);
    ck_assert_int_gt(y.id, x.id);
    ck_assert_int_eq(idd_store_session_by_digest(s, y.digest, &found), 0);
    ck_assert_int_eq(found.id, y.id);
    ck_assert_int_eq(found.browser_session, 0);

    /* Lookups miss cleanly and leave no stale record behind. */
    idd_session_t ghost = make_session(&alice, 99, now);
    ck_assert_int_eq(idd_store_session_by_digest(s, ghost.digest, &found), IDD_ENOTFOUND);
    ck_assert_int_eq(found.id, 0);
    ck_assert_str_eq(found.user_id, "");
    ck_assert_int_eq(idd_store_session_by_id(s, y.id + 100, &found), IDD_ENOTFOUND);
    ck_assert_int_eq(found.id, 0);

    /* One digest is one session, whoever it would belong to: the digest is what a request is
     * looked up by, so a second row with it would make the lookup ambiguous. */
    idd_session_t dup = make_session(&bob, 1, now);
    ck_assert_int_eq(idd_store_session_create(s, &dup), IDD_EEXIST);
    ck_assert_int_eq(dup.id, 0);
    ck_assert_int_eq(idd_store_session_by_digest(s, x.digest, &found), 0);
    ck_assert_str_eq(found.user_id, alice.id);

    /* A session needs its user, in the tenant it names. */
    idd_session_t nobody = make_session(&alice, 3, now);
    snprintf(nobody.user_id, sizeof nobody.user_id, "%s", "00000000-0000-4000-8000-000000000000");
    ck_assert_int_eq(idd_store_session_create(s, &nobody), IDD_ENOTFOUND);
    idd_session_t wrong_tenant = make_session(&alice, 4, now);
    wrong_tenant.tenant_id = 2;
    ck_assert_int_eq(idd_store_session_create(s, &wrong_tenant), IDD_ENOTFOUND);
    ck_assert_int_eq(idd_store_session_by_digest(s, wrong_tenant.digest, &found), IDD_ENOTFOUND);
    idd_session_t short_id = make_session(&alice, 5, now);
    snprintf(short_id.user_id, sizeof short_id.user_id, "%s", "short");
    ck_assert_int_eq(idd_store_session_create(s, &short_id), IDD_ENOTFOUND);

    /* Durable: a new connection finds the same row. */
    idd_store_free(s);
    ck_assert_int_eq(idd_store_open(store_location, &s), 0);
    ck_assert_int_eq(idd_store_session_by_id(s, x.id, &found), 0);
    assert_same_session(&found, &x);
    idd_store_free(s);
}
END_TEST

START_TEST(test_session_field_limits)
{
    SKIP_UNLESS_SQLITE(
        "writes rows past the C checks through SQLite to test its CHECK constraints");
    /* IP and user agent come from the request, so the caller cuts them to fit; a field
     * without its terminator would be read past its end and is refused instead. */
    idd_store_t *s = open_with_tenants();
    idd_user_t alice = add_user(s, 1, "alice@example.com");
    int64_t now = idd_now();
    idd_session_t x, found;

    x = make_session(&alice, 1, now);
    memset(x.ip, '1', sizeof x.ip);
    ck_assert_int_eq(idd_store_session_create(s, &x), IDD_ETOOBIG);
    x = make_session(&alice, 1, now);
    memset(x.user_agent, 'u', sizeof x.user_agent);
    ck_assert_int_eq(idd_store_session_create(s, &x), IDD_ETOOBIG);
    x = make_session(&alice, 1, now);
    memset(x.user_id, 'a', sizeof x.user_id);
    ck_assert_int_eq(idd_store_session_create(s, &x), IDD_ETOOBIG);
    x = make_session(&alice, 1, now);
    x.auth_version = 0;
    ck_assert_int_eq(idd_store_session_create(s, &x), IDD_EINVAL);
    x = make_session(&alice, 1, now);
    x.tenant_id = 0;
    ck_assert_int_eq(idd_store_session_create(s, &x), IDD_EINVAL);
    ck_assert_int_eq(idd_store_session_by_digest(s, x.digest, &found), IDD_ENOTFOUND);

    /* The largest values that fit are stored and read back whole; empty ones too. */
    x = make_session(&alice, 1, now);
    memset(x.ip, 'f', IDD_IP_MAX);
    x.ip[IDD_IP_MAX] = '\0';
    memset(x.user_agent, 'u', IDD_USER_AGENT_MAX);
    x.user_agent[IDD_USER_AGENT_MAX] = '\0';
    add_session(s, &x);
    ck_assert_int_eq(idd_store_session_by_id(s, x.id, &found), 0);
    ck_assert_uint_eq(strlen(found.ip), IDD_IP_MAX);
    ck_assert_uint_eq(strlen(found.user_agent), IDD_USER_AGENT_MAX);
    x = make_session(&alice, 2, now);
    x.ip[0] = '\0';
    x.user_agent[0] = '\0';
    add_session(s, &x);
    ck_assert_int_eq(idd_store_session_by_id(s, x.id, &found), 0);
    ck_assert_str_eq(found.ip, "");
    ck_assert_str_eq(found.user_agent, "");
    idd_store_free(s);

    /* The schema repeats the limits for writers that bypass the C code. */
    char sql[512];
    snprintf(sql, sizeof sql,
             "INSERT INTO login_events (tenant_id, user_id, token_digest, created, expires,"
             " last_seen, auth_version) VALUES (1, '%s', zeroblob(31), 0, 0, 0, 1)",
             alice.id);
    ck_assert_int_ne(raw_exec(sql), SQLITE_OK);
    snprintf(sql, sizeof sql,
             "INSERT INTO login_events (tenant_id, user_id, token_digest, created, expires,"
             " last_seen, user_agent, auth_version) VALUES (1, '%s', zeroblob(32), 0, 0, 0,"
             " printf('%%.256c', 'u'), 1)",
             alice.id);
    ck_assert_int_ne(raw_exec(sql), SQLITE_OK);
    snprintf(sql, sizeof sql,
             "INSERT INTO login_events (tenant_id, user_id, token_digest, created, expires,"
             " last_seen, ip, auth_version) VALUES (1, '%s', zeroblob(32), 0, 0, 0,"
             " printf('%%.46c', '1'), 1)",
             alice.id);
    ck_assert_int_ne(raw_exec(sql), SQLITE_OK);
    /* Within the limits the same statement is accepted, so the length was the reason. */
    snprintf(sql, sizeof sql,
             "INSERT INTO login_events (tenant_id, user_id, token_digest, created, expires,"
             " last_seen, ip, auth_version) VALUES (1, '%s', zeroblob(32), 0, 0, 0,"
             " printf('%%.45c', '1'), 1)",
             alice.id);
    ck_assert_int_eq(raw_exec(sql), SQLITE_OK);
}
END_TEST

START_TEST(test_session_touch)
{
    idd_store_t *s = open_with_tenants();
    idd_user_t alice = add_user(s, 1, "alice@example.com");
    int64_t now = idd_now();
    idd_session_t x = make_session(&alice, 1, now - 600);
    idd_session_t other = make_session(&alice, 2, now - 600);
    idd_session_t found;

    add_session(s, &x);
    add_session(s, &other);
    ck_assert_int_eq(idd_store_session_touch(s, x.id, now), 0);
    ck_assert_int_eq(idd_store_session_by_id(s, x.id, &found), 0);
    ck_assert_int_eq(found.last_seen, now);
    /* Only that session moved, and nothing else of it changed. */
    ck_assert_int_eq(found.created, now - 600);
    ck_assert_int_eq(found.expires, now + 3000);
    ck_assert_int_eq(found.active, 1);
    ck_assert_int_eq(idd_store_session_by_id(s, other.id, &found), 0);
    ck_assert_int_eq(found.last_seen, now - 600);

    /* A late, coalesced write of an older time does not move last_seen back. */
    ck_assert_int_eq(idd_store_session_touch(s, x.id, now - 300), 0);
    ck_assert_int_eq(idd_store_session_by_id(s, x.id, &found), 0);
    ck_assert_int_eq(found.last_seen, now);

    ck_assert_int_eq(idd_store_session_touch(s, other.id + 100, now), IDD_ENOTFOUND);
    idd_store_free(s);
}
END_TEST

typedef struct session_listing {
    int count;
    int stop_after; /* 0: never */
    int64_t id[8];
    idd_store_t *s; /* when set, the visitor re-enters the store through it */
    int nested_rc;
    int end_rc;
} session_listing_t;

static int collect_session(const idd_session_t *session, void *arg)
{
    session_listing_t *l = arg;
    if (l->count < 8)
        l->id[l->count] = session->id;
    l->count++;
    return l->stop_after != 0 && l->count >= l->stop_after;
}

START_TEST(test_session_end)
{
    idd_store_t *s = open_with_tenants();
    idd_user_t alice = add_user(s, 1, "alice@example.com");
    int64_t now = idd_now();
    idd_session_t x = make_session(&alice, 1, now);
    idd_session_t keep = make_session(&alice, 2, now);
    idd_session_t found;
    session_listing_t l;

    add_session(s, &x);
    add_session(s, &keep);
    ck_assert_int_eq(idd_store_session_end(s, x.id), 0);

    /* The ended session is still found by its digest, marked inactive, so a token presented
     * after logout is recognised as ended rather than unknown. */
    ck_assert_int_eq(idd_store_session_by_digest(s, x.digest, &found), 0);
    ck_assert_int_eq(found.id, x.id);
    ck_assert_int_eq(found.active, 0);
    ck_assert_int_eq(session_active(s, keep.id), 1);

    memset(&l, 0, sizeof l);
    ck_assert_int_eq(idd_store_session_list_user(s, alice.id, now, collect_session, &l), 0);
    ck_assert_int_eq(l.count, 1);
    ck_assert_int_eq(l.id[0], keep.id);

    /* Ending it again is not an error; ending what never existed is. */
    ck_assert_int_eq(idd_store_session_end(s, x.id), 0);
    ck_assert_int_eq(session_active(s, x.id), 0);
    ck_assert_int_eq(idd_store_session_end(s, keep.id + 100), IDD_ENOTFOUND);
    ck_assert_int_eq(idd_store_session_end(s, 0), IDD_ENOTFOUND);
    ck_assert_int_eq(session_active(s, keep.id), 1);
    idd_store_free(s);
}
END_TEST

START_TEST(test_session_end_user)
{
    idd_store_t *s = open_with_tenants();
    idd_user_t alice = add_user(s, 1, "alice@example.com");
    idd_user_t bob = add_user(s, 1, "bob@example.com");
    int64_t now = idd_now();
    idd_session_t a[4];
    idd_session_t b = make_session(&bob, 10, now);
    int count = -1;

    for (unsigned i = 0; i < 4; i++) {
        a[i] = make_session(&alice, i + 1, now);
        add_session(s, &a[i]);
    }
    add_session(s, &b);
    ck_assert_int_eq(idd_store_session_end(s, a[3].id), 0);

    /* "Log out everywhere else": every other active session ends; the count leaves out the
     * kept one and the one that had already ended. */
    ck_assert_int_eq(idd_store_session_end_user(s, alice.id, a[1].id, &count), 0);
    ck_assert_int_eq(count, 2);
    ck_assert_int_eq(session_active(s, a[0].id), 0);
    ck_assert_int_eq(session_active(s, a[1].id), 1);
    ck_assert_int_eq(session_active(s, a[2].id), 0);
    ck_assert_int_eq(session_active(s, a[3].id), 0);
    /* Another user's session is untouched. */
    ck_assert_int_eq(session_active(s, b.id), 1);

    count = -1;
    ck_assert_int_eq(idd_store_session_end_user(s, alice.id, a[1].id, &count), 0);
    ck_assert_int_eq(count, 0);
    count = -1;
    ck_assert_int_eq(idd_store_session_end_user(s, alice.id, 0, &count), 0);
    ck_assert_int_eq(count, 1);
    ck_assert_int_eq(session_active(s, a[1].id), 0);
    ck_assert_int_eq(session_active(s, b.id), 1);

    /* The count is optional, and a user without sessions has none to end. */
    ck_assert_int_eq(idd_store_session_end_user(s, bob.id, 0, NULL), 0);
    ck_assert_int_eq(session_active(s, b.id), 0);
    count = -1;
    ck_assert_int_eq(
        idd_store_session_end_user(s, "00000000-0000-4000-8000-000000000000", 0, &count), 0);
    ck_assert_int_eq(count, 0);
    idd_store_free(s);
}
END_TEST

static int list_sessions_again(const idd_session_t *session, void *arg)
{
    session_listing_t *l = arg;
    session_listing_t inner;

    memset(&inner, 0, sizeof inner);
    l->nested_rc = idd_store_session_list_user(l->s, session->user_id, 0, collect_session, &inner);
    l->end_rc = idd_store_session_end(l->s, session->id);
    return collect_session(session, arg);
}

START_TEST(test_session_list_user)
{
    idd_store_t *s = open_with_tenants();
    idd_user_t alice = add_user(s, 1, "alice@example.com");
    idd_user_t bob = add_user(s, 1, "bob@example.com");
    int64_t now = idd_now();
    idd_session_t oldest = make_session(&alice, 1, now - 50);
    idd_session_t tie_first = make_session(&alice, 2, now - 10);
    idd_session_t tie_second = make_session(&alice, 3, now - 10);
    idd_session_t middle = make_session(&alice, 4, now - 30);
    idd_session_t ended = make_session(&alice, 5, now - 5);
    idd_session_t expired = make_session(&alice, 6, now - 7200);
    idd_session_t expiring_now = make_session(&alice, 7, now - 3600);
    idd_session_t bobs = make_session(&bob, 8, now);
    session_listing_t l;

    /* Inserted out of order, so only the ORDER BY can put them right. */
    add_session(s, &middle);
    add_session(s, &tie_first);
    add_session(s, &oldest);
    add_session(s, &tie_second);
    add_session(s, &ended);
    add_session(s, &expired);
    add_session(s, &expiring_now); /* expires == now: no longer valid */
    add_session(s, &bobs);
    ck_assert_int_eq(idd_store_session_end(s, ended.id), 0);

    /* Newest first; of two created in the same second, the later id first. */
    memset(&l, 0, sizeof l);
    ck_assert_int_eq(idd_store_session_list_user(s, alice.id, now, collect_session, &l), 0);
    ck_assert_int_eq(l.count, 4);
    ck_assert_int_eq(l.id[0], tie_second.id);
    ck_assert_int_eq(l.id[1], tie_first.id);
    ck_assert_int_eq(l.id[2], middle.id);
    ck_assert_int_eq(l.id[3], oldest.id);

    /* "now" is the caller's: an hour earlier the expired ones were still valid. */
    memset(&l, 0, sizeof l);
    ck_assert_int_eq(idd_store_session_list_user(s, alice.id, now - 3601, collect_session, &l), 0);
    ck_assert_int_eq(l.count, 6);

    memset(&l, 0, sizeof l);
    l.stop_after = 2;
    ck_assert_int_eq(idd_store_session_list_user(s, alice.id, now, collect_session, &l), 0);
    ck_assert_int_eq(l.count, 2);

    memset(&l, 0, sizeof l);
    ck_assert_int_eq(idd_store_session_list_user(s, bob.id, now, collect_session, &l), 0);
    ck_assert_int_eq(l.count, 1);
    ck_assert_int_eq(l.id[0], bobs.id);
    memset(&l, 0, sizeof l);
    ck_assert_int_eq(idd_store_session_list_user(s, "00000000-0000-4000-8000-000000000000", now,
                                                 collect_session, &l),
                     0);
    ck_assert_int_eq(l.count, 0);

    /* A visitor may end sessions through the same handle but not list again, which would
     * reset the outer statement under it. */
    memset(&l, 0, sizeof l);
    l.s = s;
    l.nested_rc = -100;
    l.end_rc = -100;
    ck_assert_int_eq(idd_store_session_list_user(s, bob.id, now, list_sessions_again, &l), 0);
    ck_assert_int_eq(l.nested_rc, IDD_EBUSY);
    ck_assert_int_eq(l.end_rc, 0);
    ck_assert_int_eq(session_active(s, bobs.id), 0);
    idd_store_free(s);
}
END_TEST

START_TEST(test_set_status_ends_sessions)
{
    /* A disabled user must not stay signed in anywhere: disabling ends every session at
     * once, and re-enabling does not bring them back. */
    idd_store_t *s = open_with_tenants();
    idd_user_t alice = add_user(s, 1, "alice@example.com");
    idd_user_t bob = add_user(s, 1, "bob@example.com");
    int64_t now = idd_now();
    idd_session_t a1 = make_session(&alice, 1, now);
    idd_session_t a2 = make_session(&alice, 2, now);
    idd_session_t b = make_session(&bob, 3, now);
    idd_user_t found;

    add_session(s, &a1);
    add_session(s, &a2);
    add_session(s, &b);
    ck_assert_int_eq(idd_store_user_set_status(s, alice.id, IDD_USER_DISABLED), 0);
    ck_assert_int_eq(session_active(s, a1.id), 0);
    ck_assert_int_eq(session_active(s, a2.id), 0);
    ck_assert_int_eq(session_active(s, b.id), 1);
    ck_assert_int_eq(idd_store_user_by_id(s, alice.id, &found), 0);
    ck_assert_int_eq(found.status, IDD_USER_DISABLED);
    ck_assert_int_eq(found.auth_version, 2);

    ck_assert_int_eq(idd_store_user_set_status(s, alice.id, IDD_USER_ACTIVE), 0);
    ck_assert_int_eq(session_active(s, a1.id), 0);
    ck_assert_int_eq(session_active(s, a2.id), 0);

    /* A refused change leaves the sessions alone. */
    ck_assert_int_eq(idd_store_user_set_status(s, bob.id, (idd_user_status_t)9), IDD_EINVAL);
    ck_assert_int_eq(session_active(s, b.id), 1);
    idd_store_free(s);
}
END_TEST

typedef struct disabler {
    idd_store_t *s;
    int rc;
} disabler_t;

static int disable_visited(const idd_user_t *user, void *arg)
{
    disabler_t *d = arg;
    int rc = idd_store_user_set_status(d->s, user->id, IDD_USER_DISABLED);
    if (rc != 0)
        d->rc = rc;
    return 0;
}

START_TEST(test_status_change_from_user_list)
{
    /* The user_list visitor may update users through the same handle; the update's own
     * write transaction must work while the listing's read is still open. */
    idd_store_t *s = open_with_tenants();
    idd_user_t alice = add_user(s, 1, "alice@example.com");
    idd_user_t bob = add_user(s, 1, "bob@example.com");
    idd_session_t a1 = make_session(&alice, 1, idd_now());
    idd_session_t b1 = make_session(&bob, 2, idd_now());
    disabler_t d = {s, 0};
    idd_user_t found;

    add_session(s, &a1);
    add_session(s, &b1);
    ck_assert_int_eq(idd_store_user_list(s, 1, disable_visited, &d), 0);
    ck_assert_int_eq(d.rc, 0);
    ck_assert_int_eq(idd_store_user_by_id(s, alice.id, &found), 0);
    ck_assert_int_eq(found.status, IDD_USER_DISABLED);
    ck_assert_int_eq(idd_store_user_by_id(s, bob.id, &found), 0);
    ck_assert_int_eq(found.status, IDD_USER_DISABLED);
    ck_assert_int_eq(session_active(s, a1.id), 0);
    ck_assert_int_eq(session_active(s, b1.id), 0);
    idd_store_free(s);

    /* Committed, not merely visible to this connection. */
    ck_assert_int_eq(idd_store_open(store_location, &s), 0);
    ck_assert_int_eq(idd_store_user_by_id(s, bob.id, &found), 0);
    ck_assert_int_eq(found.status, IDD_USER_DISABLED);
    ck_assert_int_eq(session_active(s, b1.id), 0);
    idd_store_free(s);
}
END_TEST

START_TEST(test_set_password_ends_sessions)
{
    /* A new password is what a user sets after suspecting a stolen one: every session made
     * with the old password ends with it, and the demand for a change is met. */
    idd_store_t *s = open_with_tenants();
    idd_user_t alice = add_user(s, 1, "alice@example.com");
    idd_user_t bob = add_user(s, 1, "bob@example.com");
    int64_t now = idd_now();
    idd_session_t a1 = make_session(&alice, 1, now);
    idd_session_t a2 = make_session(&alice, 2, now);
    idd_session_t b = make_session(&bob, 3, now);
    idd_user_t found;
    char long_record[IDD_PASSWORD_RECORD_MAX + 2];

    add_session(s, &a1);
    add_session(s, &a2);
    add_session(s, &b);
    ck_assert_int_eq(idd_store_user_set_password_change(s, alice.id, 1), 0);

    /* Refused changes end nothing and keep the flag. */
    memset(long_record, 'r', sizeof long_record - 1);
    long_record[sizeof long_record - 1] = '\0';
    ck_assert_int_eq(idd_store_user_set_password(s, alice.id, long_record), IDD_ETOOBIG);
    ck_assert_int_eq(idd_store_user_set_password(s, alice.id, ""), IDD_EINVAL);
    ck_assert_int_eq(
        idd_store_user_set_password(s, "00000000-0000-4000-8000-000000000000", RECORD_B),
        IDD_ENOTFOUND);
    ck_assert_int_eq(session_active(s, a1.id), 1);
    ck_assert_int_eq(idd_store_user_by_id(s, alice.id, &found), 0);
    ck_assert_int_eq(found.password_change_required, 1);

    ck_assert_int_eq(idd_store_user_set_password(s, alice.id, RECORD_B), 0);
    ck_assert_int_eq(session_active(s, a1.id), 0);
    ck_assert_int_eq(session_active(s, a2.id), 0);
    ck_assert_int_eq(session_active(s, b.id), 1);
    ck_assert_int_eq(idd_store_user_by_id(s, alice.id, &found), 0);
    ck_assert_str_eq(found.password, RECORD_B);
    ck_assert_int_eq(found.password_change_required, 0);
    ck_assert_int_eq(found.auth_version, 2);
    idd_store_free(s);
}
END_TEST

START_TEST(test_user_change_is_atomic)
{
    SKIP_UNLESS_SQLITE("makes a write fail with a SQLite trigger");
    /* The password and the end of the sessions are one transaction: if ending the sessions
     * fails, the new password must not stay behind with the old sessions still alive (nor
     * the other way round). A trigger makes every session update fail. */
    idd_store_t *s = open_with_tenants();
    idd_user_t alice = add_user(s, 1, "alice@example.com");
    idd_session_t a1 = make_session(&alice, 1, idd_now());
    idd_user_t found;

    add_session(s, &a1);
    ck_assert_int_eq(raw_exec("CREATE TRIGGER no_end BEFORE UPDATE ON login_events"
                              " BEGIN SELECT RAISE(ABORT, 'sessions are frozen'); END"),
                     SQLITE_OK);
    ck_assert_int_ne(idd_store_user_set_password(s, alice.id, RECORD_B), 0);
    ck_assert_int_ne(idd_store_user_set_status(s, alice.id, IDD_USER_DISABLED), 0);
    ck_assert_int_eq(idd_store_user_by_id(s, alice.id, &found), 0);
    ck_assert_str_eq(found.password, RECORD_A);
    ck_assert_int_eq(found.status, IDD_USER_ACTIVE);
    ck_assert_int_eq(found.auth_version, 1);
    ck_assert_int_eq(session_active(s, a1.id), 1);

    /* No transaction was left open: once the obstacle is gone the same handle succeeds. */
    ck_assert_int_eq(raw_exec("DROP TRIGGER no_end"), SQLITE_OK);
    ck_assert_int_eq(idd_store_user_set_password(s, alice.id, RECORD_B), 0);
    ck_assert_int_eq(session_active(s, a1.id), 0);
    idd_store_free(s);
}
END_TEST

START_TEST(test_password_change_flag)
{
    idd_store_t *s = open_with_tenants();
    idd_user_t alice = add_user(s, 1, "alice@example.com");
    idd_session_t a1 = make_session(&alice, 1, idd_now());
    idd_user_t found;
    listing_t l;

    ck_assert_int_eq(idd_store_user_by_id(s, alice.id, &found), 0);
    ck_assert_int_eq(found.password_change_required, 0);
    add_session(s, &a1);

    ck_assert_int_eq(idd_store_user_set_password_change(s, alice.id, 1), 0);
    ck_assert_int_eq(idd_store_user_by_email(s, 1, "alice@example.com", &found), 0);
    ck_assert_int_eq(found.password_change_required, 1);
    /* Demanding a change neither makes sessions stale nor ends them by itself. */
    ck_assert_int_eq(found.auth_version, 1);
    ck_assert_int_eq(session_active(s, a1.id), 1);

    /* Any non-zero value means "required", stored as 1. */
    ck_assert_int_eq(idd_store_user_set_password_change(s, alice.id, 7), 0);
    ck_assert_int_eq(idd_store_user_by_id(s, alice.id, &found), 0);
    ck_assert_int_eq(found.password_change_required, 1);

    memset(&l, 0, sizeof l);
    ck_assert_int_eq(idd_store_user_list(s, 1, collect, &l), 0);
    ck_assert_int_eq(l.count, 1);

    ck_assert_int_eq(idd_store_user_set_password_change(s, alice.id, 0), 0);
    ck_assert_int_eq(idd_store_user_by_id(s, alice.id, &found), 0);
    ck_assert_int_eq(found.password_change_required, 0);
    ck_assert_int_eq(found.auth_version, 1);

    ck_assert_int_eq(
        idd_store_user_set_password_change(s, "00000000-0000-4000-8000-000000000000", 1),
        IDD_ENOTFOUND);
    ck_assert_int_eq(idd_store_user_set_password_change(s, "short", 1), IDD_ENOTFOUND);
    idd_store_free(s);
}
END_TEST

START_TEST(test_session_cap)
{
    SKIP_UNLESS_SQLITE("deletes a row through SQLite directly");
    /* A capped create ends the oldest live sessions beyond the cap in its own transaction:
     * expired and ended ones do not count, another user's are untouched. */
    idd_store_t *s = open_with_tenants();
    idd_user_t alice = add_user(s, 1, "alice@example.com");
    idd_user_t bob = add_user(s, 1, "bob@example.com");
    int64_t now = idd_now();
    int64_t ids[6];
    int ended = -1;

    idd_session_t old = make_session(&alice, 100, now - 7200); /* expired an hour ago */
    add_session(s, &old);
    idd_session_t logged_out = make_session(&alice, 101, now);
    add_session(s, &logged_out);
    ck_assert_int_eq(idd_store_session_end(s, logged_out.id), 0);
    idd_session_t other = make_session(&bob, 102, now);
    add_session(s, &other);
    for (unsigned i = 0; i < 3; i++) {
        idd_session_t x = make_session(&alice, i + 1, now);
        ck_assert_int_eq(idd_store_session_create_capped(s, &x, 3, &ended), 0);
        ck_assert_int_eq(ended, 0);
        ids[i] = x.id;
    }
    /* The fourth ends the first, the fifth the second. */
    for (unsigned i = 3; i < 5; i++) {
        idd_session_t x = make_session(&alice, i + 1, now);
        ck_assert_int_eq(idd_store_session_create_capped(s, &x, 3, &ended), 0);
        ck_assert_int_eq(ended, 1);
        ids[i] = x.id;
        ck_assert_int_eq(session_active(s, ids[i - 3]), 0);
        ck_assert_int_eq(session_active(s, ids[i - 2]), 1);
    }
    for (unsigned i = 2; i < 5; i++)
        ck_assert_int_eq(session_active(s, ids[i]), 1);
    ck_assert_int_eq(session_active(s, other.id), 1);
    ck_assert_int_eq(session_active(s, old.id), 1); /* expired, still marked active */

    /* A lower cap ends all but the newest at once. */
    idd_session_t x = make_session(&alice, 6, now);
    ck_assert_int_eq(idd_store_session_create_capped(s, &x, 1, &ended), 0);
    ck_assert_int_eq(ended, 3);
    ids[5] = x.id;
    for (unsigned i = 0; i < 5; i++)
        ck_assert_int_eq(session_active(s, ids[i]), 0);
    ck_assert_int_eq(session_active(s, ids[5]), 1);

    /* A refused insert ends nothing, and leaves no transaction open. */
    idd_session_t dup = make_session(&alice, 6, now);
    ck_assert_int_eq(idd_store_session_create_capped(s, &dup, 1, &ended), IDD_EEXIST);
    ck_assert_int_eq(ended, 0);
    ck_assert_int_eq(session_active(s, ids[5]), 1);
    idd_session_t nobody = make_session(&alice, 7, now);
    snprintf(nobody.user_id, sizeof nobody.user_id, "00000000-0000-4000-8000-000000000000");
    ck_assert_int_eq(idd_store_session_create_capped(s, &nobody, 1, &ended), IDD_ENOTFOUND);
    ck_assert_int_eq(session_active(s, ids[5]), 1);
    ck_assert_int_eq(raw_exec("DELETE FROM login_events WHERE id = 1"), SQLITE_OK);
    idd_session_t y = make_session(&alice, 8, now);
    ck_assert_int_eq(idd_store_session_create_capped(s, &y, -1, &ended), IDD_EINVAL);
    ck_assert_int_eq(idd_store_session_create_capped(s, &y, 0, NULL), 0);
    idd_store_free(s);
}
END_TEST

START_TEST(test_session_prune_and_count)
{
    /* Ended and expired sessions go, at most limit a call; live ones stay and are counted. */
    idd_store_t *s = open_with_tenants();
    idd_user_t alice = add_user(s, 1, "alice@example.com");
    idd_user_t bob = add_user(s, 1, "bob@example.com");
    int64_t now = idd_now();
    int64_t live = -1, keys = -1;
    int deleted = -1;
    idd_session_t found;

    idd_session_t expired = make_session(&alice, 1, now - 7200);
    add_session(s, &expired);
    idd_session_t ended = make_session(&alice, 2, now);
    add_session(s, &ended);
    ck_assert_int_eq(idd_store_session_end(s, ended.id), 0);
    idd_session_t ended_by_user = make_session(&bob, 3, now);
    add_session(s, &ended_by_user);
    ck_assert_int_eq(idd_store_session_end_user(s, bob.id, 0, NULL), 0);
    idd_session_t a = make_session(&alice, 4, now);
    add_session(s, &a);
    idd_session_t b = make_session(&bob, 5, now);
    add_session(s, &b);

    ck_assert_int_eq(idd_store_counts(s, now, &live, &keys), 0);
    ck_assert_int_eq(live, 2);
    ck_assert_int_eq(keys, 0);
    ck_assert_int_eq(idd_store_session_prune(s, now, 2, &deleted), 0);
    ck_assert_int_eq(deleted, 2);
    ck_assert_int_eq(idd_store_session_prune(s, now, 2, &deleted), 0);
    ck_assert_int_eq(deleted, 1);
    ck_assert_int_eq(idd_store_session_prune(s, now, 2, &deleted), 0);
    ck_assert_int_eq(deleted, 0);
    ck_assert_int_eq(idd_store_session_by_id(s, expired.id, &found), IDD_ENOTFOUND);
    ck_assert_int_eq(idd_store_session_by_id(s, ended.id, &found), IDD_ENOTFOUND);
    ck_assert_int_eq(idd_store_session_by_id(s, ended_by_user.id, &found), IDD_ENOTFOUND);
    ck_assert_int_eq(session_active(s, a.id), 1);
    ck_assert_int_eq(session_active(s, b.id), 1);
    ck_assert_int_eq(idd_store_counts(s, now, &live, &keys), 0);
    ck_assert_int_eq(live, 2);
    /* An hour on, both have expired: no longer counted, and pruned. */
    ck_assert_int_eq(idd_store_counts(s, now + 3600, &live, &keys), 0);
    ck_assert_int_eq(live, 0);
    ck_assert_int_eq(idd_store_session_prune(s, now + 3600, 10, &deleted), 0);
    ck_assert_int_eq(deleted, 2);
    ck_assert_int_eq(idd_store_session_prune(s, now, 0, &deleted), IDD_EINVAL);

    /* Ids are never reused after pruning (AUTOINCREMENT). */
    idd_session_t c = make_session(&alice, 6, now);
    add_session(s, &c);
    ck_assert_int_gt(c.id, b.id);
    idd_store_free(s);
}
END_TEST

/* Storing the same password a newer way (a record upgraded at sign-in) is not a password
 * change: sessions, auth_version, updated and the change flag stay as they were. */
START_TEST(test_upgrade_password_keeps_sessions)
{
    idd_store_t *s = open_with_tenants();
    idd_user_t alice = add_user(s, 1, "alice@example.com");
    idd_session_t a1 = make_session(&alice, 1, idd_now());
    idd_user_t before, found;
    char long_record[IDD_PASSWORD_RECORD_MAX + 2];

    add_session(s, &a1);
    ck_assert_int_eq(idd_store_user_set_password_change(s, alice.id, 1), 0);
    ck_assert_int_eq(idd_store_user_by_id(s, alice.id, &before), 0);

    ck_assert_int_eq(idd_store_user_upgrade_password(s, alice.id, RECORD_A, RECORD_B), 0);
    ck_assert_int_eq(idd_store_user_by_id(s, alice.id, &found), 0);
    ck_assert_str_eq(found.password, RECORD_B);
    ck_assert_int_eq(found.auth_version, before.auth_version);
    ck_assert_int_eq(found.updated, before.updated);
    ck_assert_int_eq(found.password_change_required, 1);
    ck_assert_int_eq(session_active(s, a1.id), 1);

    /* Only the record that was checked is replaced: once it has changed (a second sign-in
     * racing the first, or a password change in between) nothing is written. */
    ck_assert_int_eq(idd_store_user_upgrade_password(s, alice.id, RECORD_A, RECORD_A),
                     IDD_ENOTFOUND);
    ck_assert_int_eq(idd_store_user_by_id(s, alice.id, &found), 0);
    ck_assert_str_eq(found.password, RECORD_B);

    ck_assert_int_eq(idd_store_user_upgrade_password(s, "00000000-0000-4000-8000-000000000000",
                                                     RECORD_B, RECORD_A),
                     IDD_ENOTFOUND);
    ck_assert_int_eq(idd_store_user_upgrade_password(s, "short", RECORD_B, RECORD_A),
                     IDD_ENOTFOUND);
    memset(long_record, 'r', sizeof long_record - 1);
    long_record[sizeof long_record - 1] = '\0';
    ck_assert_int_eq(idd_store_user_upgrade_password(s, alice.id, RECORD_B, long_record),
                     IDD_ETOOBIG);
    ck_assert_int_eq(idd_store_user_upgrade_password(s, alice.id, RECORD_B, ""), IDD_EINVAL);
    ck_assert_int_eq(idd_store_user_by_id(s, alice.id, &found), 0);
    ck_assert_str_eq(found.password, RECORD_B);
    ck_assert_int_eq(found.auth_version, before.auth_version);
    ck_assert_int_eq(session_active(s, a1.id), 1);
    idd_store_free(s);
}
END_TEST

/* A full disk: with the process's file size limit at one byte, every write to the database's
 * files fails (EFBIG, or a short write SQLite calls SQLITE_FULL). Writes then answer
 * IDD_EUNAVAIL (what the API answers 503), reads still work, and once the limit is lifted the
 * same connection writes again, leaving a sound file. No assertion runs while the limit
 * holds, since Check's own messages to its runner go through a file too. */
START_TEST(test_disk_full_is_unavailable)
{
    SKIP_UNLESS_SQLITE("a full disk under the SQLite file");
    idd_store_t *s = open_with_tenants();
    idd_user_t alice = add_user(s, 1, "alice@example.com");
    int64_t now = idd_now();
    idd_session_t x = make_session(&alice, 1, now);
    add_session(s, &x);
    idd_session_t y = make_session(&alice, 2, now), z = make_session(&alice, 3, now), found;
    int ended = 0;

    struct rlimit before, one;
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &before), 0);
    one = before;
    one.rlim_cur = 1;
    signal(SIGXFSZ, SIG_IGN);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &one), 0);
    int create = idd_store_session_create(s, &y);
    int capped = idd_store_session_create_capped(s, &z, 3, &ended);
    int end = idd_store_session_end(s, x.id);
    int read = idd_store_session_by_digest(s, x.digest, &found);
    int lifted = setrlimit(RLIMIT_FSIZE, &before);
    ck_assert_int_eq(lifted, 0);
    ck_assert_int_eq(create, IDD_EUNAVAIL);
    ck_assert_int_eq(capped, IDD_EUNAVAIL);
    ck_assert_int_eq(end, IDD_EUNAVAIL);
    ck_assert_int_eq(read, 0);
    ck_assert_int_eq(found.active, 1);

    ck_assert_int_eq(idd_store_session_create(s, &y), 0);
    ck_assert_int_eq(idd_store_session_create_capped(s, &z, 3, &ended), 0);
    ck_assert_int_eq(idd_store_session_end(s, x.id), 0);
    ck_assert_int_eq(idd_store_session_by_digest(s, x.digest, &found), 0);
    ck_assert_int_eq(found.active, 0);
    idd_store_free(s);

    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    ck_assert_int_eq(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    ck_assert_str_eq((const char *)sqlite3_column_text(st, 0), "ok");
    sqlite3_finalize(st);
    sqlite3_close(db);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("store_sessions");
    TCase *tc = tcase_create("sessions");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_session_create_and_lookup);
    tcase_add_test(tc, test_session_field_limits);
    tcase_add_test(tc, test_session_touch);
    tcase_add_test(tc, test_session_end);
    tcase_add_test(tc, test_session_end_user);
    tcase_add_test(tc, test_session_list_user);
    tcase_add_test(tc, test_set_status_ends_sessions);
    tcase_add_test(tc, test_status_change_from_user_list);
    tcase_add_test(tc, test_set_password_ends_sessions);
    tcase_add_test(tc, test_user_change_is_atomic);
    tcase_add_test(tc, test_password_change_flag);
    tcase_add_test(tc, test_session_cap);
    tcase_add_test(tc, test_session_prune_and_count);
    tcase_add_test(tc, test_upgrade_password_keeps_sessions);
    tcase_add_test(tc, test_disk_full_is_unavailable);
    suite_add_tcase(s, tc);
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
