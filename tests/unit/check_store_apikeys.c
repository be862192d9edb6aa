/*
 * Unit tests of the store through its public interface (store.h) against real SQLite files:
 * API keys (sqlite_apikey.c): their lifecycle, listing, batched touches and the JSON
 * column behind their permissions.
 * Set-up and shared helpers are in store_test.h.
 */
#include "store_test.h"

/* A key of user named name with the given permissions and expiry, whose digest and postfix
 * are derived from seed so that every seed gives different ones. */
static idd_apikey_t make_apikey(const idd_user_t *user, unsigned seed, const char *name,
                                const char *permissions, int64_t expires)
{
    idd_apikey_t k;
    memset(&k, 0, sizeof k);
    k.tenant_id = user->tenant_id;
    memcpy(k.created_by, user->id, sizeof k.created_by);
    snprintf(k.name, sizeof k.name, "%s", name);
    for (size_t i = 0; i < IDD_SESSION_DIGEST_LEN; i++)
        k.digest[i] = (unsigned char)(seed * 131u + i * 17u + 1u);
    snprintf(k.postfix, sizeof k.postfix, "%04x", seed & 0xffffu);
    snprintf(k.permissions, sizeof k.permissions, "%s", permissions);
    k.expires = expires;
    return k;
}

/* Creates a key and returns it as stored. */
static idd_apikey_t add_apikey(idd_store_t *s, idd_apikey_t k)
{
    ck_assert_int_eq(idd_store_apikey_create(s, &k), 0);
    return k;
}

static void assert_same_apikey(const idd_apikey_t *got, const idd_apikey_t *want)
{
    ck_assert_str_eq(got->id, want->id);
    ck_assert_int_eq(got->tenant_id, want->tenant_id);
    ck_assert_str_eq(got->created_by, want->created_by);
    ck_assert_str_eq(got->name, want->name);
    ck_assert_mem_eq(got->digest, want->digest, IDD_SESSION_DIGEST_LEN);
    ck_assert_str_eq(got->postfix, want->postfix);
    ck_assert_str_eq(got->permissions, want->permissions);
    ck_assert_int_eq(got->created, want->created);
    ck_assert_int_eq(got->expires, want->expires);
    ck_assert_int_eq(got->last_used, want->last_used);
    ck_assert_int_eq(got->active, want->active);
    ck_assert_int_eq(got->deactivated, want->deactivated);
    ck_assert_str_eq(got->deactivated_by, want->deactivated_by);
}

static idd_apikey_t fetch_apikey(idd_store_t *s, const char *id)
{
    idd_apikey_t k;
    ck_assert_int_eq(idd_store_apikey_by_id(s, id, &k), 0);
    return k;
}

/* Runs one query returning one text value on db_path through SQLite directly, and copies
 * the value into out ("NULL" for SQL NULL). */
static void raw_text(const char *sql, char *out, size_t size)
{
    ck_assert_msg(!store_test_pg(), "raw_text reaches SQLite: the test must SKIP_UNLESS_SQLITE");
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    ck_assert_int_eq(sqlite3_open(db_path, &db), SQLITE_OK);
    ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) == SQLITE_OK, "%s: %s", sql,
                  sqlite3_errmsg(db));
    ck_assert_int_eq(sqlite3_step(stmt), SQLITE_ROW);
    const unsigned char *text = sqlite3_column_text(stmt, 0);
    snprintf(out, size, "%s", text != NULL ? (const char *)text : "NULL");
    sqlite3_finalize(stmt);
    sqlite3_close(db);
}

START_TEST(test_apikey_create_and_lookup)
{
    idd_store_t *s = open_with_tenants();
    idd_user_t alice = add_user(s, 1, "alice@example.com");
    int64_t now = idd_now();
    idd_apikey_t full = make_apikey(&alice, 1, "CI pipeline", "", 0);
    idd_apikey_t scoped =
        make_apikey(&alice, 2, "Ünïcødé reader", "files:read accounts:write", now + 86400);
    idd_apikey_t found;

    /* A new key is active and unused whatever the caller left in those fields, and gets an id
     * and a creation time. */
    full.active = 0;
    full.last_used = 12345;
    ck_assert_int_eq(idd_store_apikey_create(s, &full), 0);
    ck_assert(is_guid_v4(full.id));
    ck_assert_int_ge(full.created, now);
    ck_assert_int_le(full.created, idd_now());
    ck_assert_int_eq(full.active, 1);
    ck_assert_int_eq(full.last_used, 0);

    /* A given creation time is kept. */
    scoped.created = now - 3600;
    ck_assert_int_eq(idd_store_apikey_create(s, &scoped), 0);
    ck_assert_int_eq(scoped.created, now - 3600);
    ck_assert_str_ne(scoped.id, full.id);

    ck_assert_int_eq(idd_store_apikey_by_digest(s, full.digest, &found), 0);
    assert_same_apikey(&found, &full);
    ck_assert_str_eq(found.permissions, "");
    ck_assert_int_eq(found.expires, 0);
    ck_assert_int_eq(idd_store_apikey_by_id(s, full.id, &found), 0);
    assert_same_apikey(&found, &full);

    ck_assert_int_eq(idd_store_apikey_by_digest(s, scoped.digest, &found), 0);
    assert_same_apikey(&found, &scoped);
    ck_assert_str_eq(found.permissions, "files:read accounts:write");
    ck_assert_str_eq(found.name, "Ünïcødé reader");
    ck_assert_int_eq(found.expires, now + 86400);
    ck_assert_int_eq(found.tenant_id, 1);
    ck_assert_str_eq(found.created_by, alice.id);
    ck_assert_str_eq(found.postfix, "0002");

    /* Lookups miss cleanly and leave no stale record behind. */
    idd_apikey_t ghost = make_apikey(&alice, 99, "ghost", "", 0);
    ck_assert_int_eq(idd_store_apikey_by_digest(s, ghost.digest, &found), IDD_ENOTFOUND);
    ck_assert_str_eq(found.id, "");
    ck_assert_str_eq(found.name, "");
    ck_assert_int_eq(idd_store_apikey_by_id(s, "00000000-0000-4000-8000-000000000000", &found),
                     IDD_ENOTFOUND);
    ck_assert_str_eq(found.id, "");
    ck_assert_int_eq(idd_store_apikey_by_id(s, "short", &found), IDD_ENOTFOUND);
    ck_assert_int_eq(idd_store_apikey_by_id(s, NULL, &found), IDD_ENOTFOUND);

    /* A given id is kept, if it is a lowercase GUID. */
    idd_apikey_t given = make_apikey(&alice, 3, "given", "rooms:read", 0);
    snprintf(given.id, sizeof given.id, "%s", "66faa6e4-f133-11ea-b126-00ffeec8b4ef");
    given = add_apikey(s, given);
    ck_assert_str_eq(given.id, "66faa6e4-f133-11ea-b126-00ffeec8b4ef");
    found = fetch_apikey(s, given.id);
    assert_same_apikey(&found, &given);

    /* Durable: a new connection finds the same rows. */
    idd_store_free(s);
    ck_assert_int_eq(idd_store_open(store_location, &s), 0);
    found = fetch_apikey(s, scoped.id);
    assert_same_apikey(&found, &scoped);
    found = fetch_apikey(s, full.id);
    assert_same_apikey(&found, &full);
    idd_store_free(s);
}
END_TEST

START_TEST(test_apikey_duplicate_digest)
{
    /* The digest is what a request is looked up by: a second key with the same one would make
     * the lookup ambiguous, and could let one user's key act as another's. */
    idd_store_t *s = open_with_tenants();
    idd_user_t alice = add_user(s, 1, "alice@example.com");
    idd_user_t bob = add_user(s, 2, "bob@example.com");
    idd_apikey_t first = add_apikey(s, make_apikey(&alice, 1, "first", "", 0));
    idd_apikey_t dup = make_apikey(&bob, 1, "second", "files:read", 0);
    idd_apikey_t found;

    ck_assert_int_eq(idd_store_apikey_create(s, &dup), IDD_EEXIST);
    ck_assert_str_eq(dup.id, ""); /* nothing written back on failure */
    ck_assert_int_eq(dup.created, 0);
    ck_assert_int_eq(idd_store_apikey_by_digest(s, first.digest, &found), 0);
    assert_same_apikey(&found, &first);

    /* The same id twice is a duplicate too. */
    idd_apikey_t same_id = make_apikey(&alice, 2, "same id", "", 0);
    memcpy(same_id.id, first.id, sizeof same_id.id);
    ck_assert_int_eq(idd_store_apikey_create(s, &same_id), IDD_EEXIST);
    ck_assert_int_eq(idd_store_apikey_by_digest(s, same_id.digest, &found), IDD_ENOTFOUND);
    idd_store_free(s);
}
END_TEST

START_TEST(test_apikey_creator_in_tenant)
{
    /* A key acts as its creator in its tenant: a key naming tenant 1 but made for a user of
     * tenant 2 would carry that user into a tenant where they do not exist. */
    idd_store_t *s = open_with_tenants();
    idd_user_t alice = add_user(s, 1, "alice@example.com");
    idd_user_t bob = add_user(s, 2, "bob@example.com");
    idd_apikey_t k, found;

    k = make_apikey(&bob, 1, "cross-tenant", "", 0);
    k.tenant_id = 1;
    ck_assert_int_eq(idd_store_apikey_create(s, &k), IDD_ENOTFOUND);
    ck_assert_str_eq(k.id, "");
    ck_assert_int_eq(idd_store_apikey_by_digest(s, k.digest, &found), IDD_ENOTFOUND);

    k = make_apikey(&alice, 2, "nobody", "", 0);
    snprintf(k.created_by, sizeof k.created_by, "%s", "00000000-0000-4000-8000-000000000000");
    ck_assert_int_eq(idd_store_apikey_create(s, &k), IDD_ENOTFOUND);
    k = make_apikey(&alice, 3, "short creator", "", 0);
    snprintf(k.created_by, sizeof k.created_by, "%s", "short");
    ck_assert_int_eq(idd_store_apikey_create(s, &k), IDD_ENOTFOUND);
    k = make_apikey(&alice, 4, "unknown tenant", "", 0);
    k.tenant_id = 42;
    ck_assert_int_eq(idd_store_apikey_create(s, &k), IDD_ENOTFOUND);

    /* The same creator in the right tenant is fine. */
    k = make_apikey(&bob, 1, "right tenant", "", 0);
    ck_assert_int_eq(idd_store_apikey_create(s, &k), 0);
    ck_assert_int_eq(fetch_apikey(s, k.id).tenant_id, 2);
    idd_store_free(s);
}
END_TEST

START_TEST(test_apikey_field_limits)
{
    /* A field without its terminator inside the struct would be read past its end, and a
     * value longer than the field would come back cut short: both are refused. */
    idd_store_t *s = open_with_tenants();
    idd_user_t alice = add_user(s, 1, "alice@example.com");
    idd_apikey_t k, found;

    k = make_apikey(&alice, 1, "x", "", 0);
    memset(k.name, 'n', sizeof k.name);
    ck_assert_int_eq(idd_store_apikey_create(s, &k), IDD_ETOOBIG);
    k = make_apikey(&alice, 1, "x", "", 0);
    memset(k.permissions, 'p', sizeof k.permissions);
    ck_assert_int_eq(idd_store_apikey_create(s, &k), IDD_ETOOBIG);
    k = make_apikey(&alice, 1, "x", "", 0);
    memset(k.postfix, 'a', sizeof k.postfix);
    ck_assert_int_eq(idd_store_apikey_create(s, &k), IDD_ETOOBIG);
    k = make_apikey(&alice, 1, "x", "", 0);
    memset(k.id, 'a', sizeof k.id);
    ck_assert_int_eq(idd_store_apikey_create(s, &k), IDD_ETOOBIG);
    k = make_apikey(&alice, 1, "x", "", 0);
    memset(k.created_by, 'a', sizeof k.created_by);
    ck_assert_int_eq(idd_store_apikey_create(s, &k), IDD_ETOOBIG);

    k = make_apikey(&alice, 1, "", "", 0);
    ck_assert_int_eq(idd_store_apikey_create(s, &k), IDD_EINVAL);
    k = make_apikey(&alice, 1, "x", "", 0);
    snprintf(k.postfix, sizeof k.postfix, "abc");
    ck_assert_int_eq(idd_store_apikey_create(s, &k), IDD_EINVAL);
    k = make_apikey(&alice, 1, "x", "", -5);
    ck_assert_int_eq(idd_store_apikey_create(s, &k), IDD_EINVAL);
    k = make_apikey(&alice, 1, "x", "", 0);
    k.tenant_id = 0;
    ck_assert_int_eq(idd_store_apikey_create(s, &k), IDD_EINVAL);
    k = make_apikey(&alice, 1, "x", "", 0);
    snprintf(k.id, sizeof k.id, "%s", "66FAA6E4-F133-11EA-B126-00FFEEC8B4EF");
    ck_assert_int_eq(idd_store_apikey_create(s, &k), IDD_EINVAL);
    /* A JSON document must be valid UTF-8. */
    k = make_apikey(&alice, 1, "x", "files:read bad\xff", 0);
    ck_assert_int_eq(idd_store_apikey_create(s, &k), IDD_EINVAL);
    ck_assert_int_eq(idd_store_apikey_by_digest(s, k.digest, &found), IDD_ENOTFOUND);

    /* The largest values that fit are stored and read back whole: 120 bytes of name (30
     * four-byte characters) and 511 bytes of permissions. */
    k = make_apikey(&alice, 2, "", "", 0);
    for (int i = 0; i < 30; i++)
        memcpy(k.name + 4 * i, "\xf0\x9f\x94\x91", 4); /* U+1F511 KEY */
    k.name[IDD_APIKEY_NAME_MAX] = '\0';
    memset(k.permissions, 'p', IDD_APIKEY_PERMISSIONS_MAX);
    for (size_t i = 10; i < IDD_APIKEY_PERMISSIONS_MAX; i += 11)
        k.permissions[i] = ' ';
    k.permissions[IDD_APIKEY_PERMISSIONS_MAX] = '\0';
    k = add_apikey(s, k);
    found = fetch_apikey(s, k.id);
    ck_assert_uint_eq(strlen(found.name), IDD_APIKEY_NAME_MAX);
    ck_assert_str_eq(found.name, k.name);
    ck_assert_uint_eq(strlen(found.permissions), IDD_APIKEY_PERMISSIONS_MAX);
    ck_assert_str_eq(found.permissions, k.permissions);

    /* Runs of spaces separate like one; the stored form is the canonical one. */
    k = add_apikey(s, make_apikey(&alice, 3, "spaces", "  files:read   rooms:write ", 0));
    ck_assert_str_eq(fetch_apikey(s, k.id).permissions, "files:read rooms:write");
    k = add_apikey(s, make_apikey(&alice, 4, "blank", "   ", 0));
    ck_assert_str_eq(fetch_apikey(s, k.id).permissions, "");
    idd_store_free(s);
}
END_TEST

START_TEST(test_apikey_schema_limits)
{
    SKIP_UNLESS_SQLITE(
        "writes rows past the C checks through SQLite to test its CHECK constraints");
    /* The schema repeats the limits for writers that bypass the C code, as far as a CHECK
     * can: each refused statement below differs from the accepted one at the end in one
     * value only, so the limit was the reason. */
    idd_store_t *s = open_with_tenants();
    idd_user_t alice = add_user(s, 1, "alice@example.com");
    idd_store_free(s);
    static const struct {
        const char *name, *digest, *postfix, *permissions, *expires, *active;
    } base = {"'n'", "zeroblob(32)", "'abcd'", "'[\"files:read\"]'", "NULL", "1"};
    const struct {
        const char *what, *value;
        int column;
    } bad[] = {
        {"name of 121 bytes", "printf('%.121c', 'n')", 0},
        {"empty name", "''", 0},
        {"name of 61 two-byte characters", "replace(printf('%.61c', 'x'), 'x', char(233))", 0},
        {"digest of 31 bytes", "zeroblob(31)", 1},
        {"digest as text", "printf('%.32c', 'd')", 1},
        {"postfix of 3", "'abc'", 2},
        {"permissions not an array", "'\"files:read\"'", 3},
        {"permissions an object", "'{\"files\":\"read\"}'", 3},
        {"permissions an array of numbers", "'[1,2]'", 3},
        {"permissions of 4097 bytes", "'[\"' || printf('%.4093c', 'p') || '\"]'", 3},
        {"expires 0 instead of NULL", "0", 4},
        {"active 2", "2", 5},
    };
    char sql[1024];
    for (size_t i = 0; i < IDD_ARRAY_LEN(bad) + 1; i++) {
        const char *v[6] = {base.name,        base.digest,  base.postfix,
                            base.permissions, base.expires, base.active};
        if (i < IDD_ARRAY_LEN(bad))
            v[bad[i].column] = bad[i].value;
        snprintf(sql, sizeof sql,
                 "INSERT INTO api_keys (id, tenant_id, create_by, name, key_digest, key_postfix,"
                 " permissions, create_on, expires_at, is_active) VALUES"
                 " ('00000000-0000-4000-8000-%012zu', 1, '%s', %s, %s, %s, %s, 1, %s, %s)",
                 i, alice.id, v[0], v[1], v[2], v[3], v[4], v[5]);
        if (i < IDD_ARRAY_LEN(bad))
            ck_assert_msg(raw_exec(sql) != SQLITE_OK, "accepted: %s", bad[i].what);
        else
            ck_assert_msg(raw_exec(sql) == SQLITE_OK, "refused: %s", sql);
    }
}
END_TEST

START_TEST(test_apikey_json_column)
{
    SKIP_UNLESS_SQLITE("writes and reads the JSON column through SQLite directly");
    /* The column holds a real JSON array, as DocSpace's does, so that other tools (and a
     * later migration) can read it with JSON functions; 0 for "never" is NULL. */
    idd_store_t *s = open_with_tenants();
    idd_user_t alice = add_user(s, 1, "alice@example.com");
    int64_t now = idd_now();
    idd_apikey_t scoped =
        add_apikey(s, make_apikey(&alice, 1, "scoped", "files:read accounts:write", now + 60));
    idd_apikey_t full = add_apikey(s, make_apikey(&alice, 2, "full", "", 0));
    char sql[512], text[256];

    snprintf(sql, sizeof sql,
             "SELECT json_valid(permissions) || json_type(permissions) || '|' ||"
             " json_array_length(permissions) || '|' || json_extract(permissions, '$[0]') ||"
             " '|' || json_extract(permissions, '$[1]') || '|' || json_type(permissions, '$[1]')"
             " FROM api_keys WHERE id = '%s'",
             scoped.id);
    raw_text(sql, text, sizeof text);
    ck_assert_str_eq(text, "1array|2|files:read|accounts:write|text");
    snprintf(sql, sizeof sql, "SELECT permissions FROM api_keys WHERE id = '%s'", scoped.id);
    raw_text(sql, text, sizeof text);
    ck_assert_str_eq(text, "[\"files:read\",\"accounts:write\"]");
    snprintf(sql, sizeof sql,
             "SELECT permissions || '|' || json_type(permissions) || '|' ||"
             " json_array_length(permissions) FROM api_keys WHERE id = '%s'",
             full.id);
    raw_text(sql, text, sizeof text);
    ck_assert_str_eq(text, "[]|array|0");

    /* expires and last_used of 0 are NULL in the table, not 0. */
    snprintf(sql, sizeof sql,
             "SELECT quote(expires_at) || '|' || quote(last_used) FROM api_keys WHERE id = '%s'",
             full.id);
    raw_text(sql, text, sizeof text);
    ck_assert_str_eq(text, "NULL|NULL");
    snprintf(sql, sizeof sql, "SELECT expires_at FROM api_keys WHERE id = '%s'", scoped.id);
    raw_text(sql, text, sizeof text);
    ck_assert_int_eq(atoll(text), now + 60);

    /* An update writes the array form too. */
    ck_assert_int_eq(idd_store_apikey_update(s, full.id, NULL, "rooms:read"), 0);
    snprintf(sql, sizeof sql, "SELECT permissions FROM api_keys WHERE id = '%s'", full.id);
    raw_text(sql, text, sizeof text);
    ck_assert_str_eq(text, "[\"rooms:read\"]");
    ck_assert_int_eq(idd_store_apikey_update(s, full.id, NULL, ""), 0);
    raw_text(sql, text, sizeof text);
    ck_assert_str_eq(text, "[]");

    /* A row a writer bypassing the store made, with an array the schema's check lets through
     * but the store never writes, is refused rather than guessed at: permissions decide what
     * a key may do, and "files:read rooms:write" as one element, or an invalid document, has
     * no safe reading. */
    static const char *const odd[] = {"'[\"files:read rooms:write\"]'", "'[\"\"]'",
                                      "'[\"a\",\"b\" \"c\"]'", "'[\"a\", 1, \"b\"]'"};
    for (size_t i = 0; i < IDD_ARRAY_LEN(odd); i++) {
        idd_apikey_t found;
        snprintf(sql, sizeof sql, "UPDATE api_keys SET permissions = %s WHERE id = '%s'", odd[i],
                 full.id);
        ck_assert_msg(raw_exec(sql) == SQLITE_OK, "%s", odd[i]);
        ck_assert_int_eq(idd_store_apikey_by_id(s, full.id, &found), IDD_ESTORE);
        ck_assert_str_eq(found.id, "");
        ck_assert_int_eq(idd_store_apikey_by_digest(s, full.digest, &found), IDD_ESTORE);
    }
    idd_store_free(s);
}
END_TEST

typedef struct apikey_listing {
    int count;
    int stop_after; /* 0: never */
    char id[8][IDD_GUID_LEN + 1];
    idd_store_t *s; /* when set, the visitor re-enters the store through it */
    int nested_rc;
    int update_rc;
} apikey_listing_t;

static int collect_apikey(const idd_apikey_t *key, void *arg)
{
    apikey_listing_t *l = arg;
    if (l->count < 8)
        memcpy(l->id[l->count], key->id, sizeof l->id[0]);
    l->count++;
    return l->stop_after != 0 && l->count >= l->stop_after;
}

static int list_apikeys_again(const idd_apikey_t *key, void *arg)
{
    apikey_listing_t *l = arg;
    apikey_listing_t inner;

    memset(&inner, 0, sizeof inner);
    l->nested_rc = idd_store_apikey_list(l->s, key->tenant_id, NULL, collect_apikey, &inner);
    l->update_rc = idd_store_apikey_set_active(l->s, key->id, 0, IDD_APIKEY_BY_OWNER, NULL);
    return collect_apikey(key, arg);
}

START_TEST(test_apikey_list)
{
    idd_store_t *s = open_with_tenants();
    idd_user_t alice = add_user(s, 1, "alice@example.com");
    idd_user_t bob = add_user(s, 1, "bob@example.com");
    idd_user_t carol = add_user(s, 2, "carol@example.com");
    int64_t now = idd_now();
    idd_apikey_t k[6];
    static const struct {
        int user; /* 0 alice, 1 bob, 2 carol */
        int64_t age;
        const char *id;
    } rows[] = {
        {0, 50, "00000000-0000-4000-8000-000000000005"},
        {0, 10, "00000000-0000-4000-8000-000000000009"},
        {1, 30, "00000000-0000-4000-8000-000000000003"},
        {0, 10, "00000000-0000-4000-8000-000000000001"}, /* same second as k[1], smaller id */
        {2, 5, "00000000-0000-4000-8000-000000000002"},
        {1, 70, "00000000-0000-4000-8000-000000000007"},
    };
    const idd_user_t *users[] = {&alice, &bob, &carol};
    apikey_listing_t l;

    /* Inserted out of order, so only the ORDER BY can put them right. */
    for (size_t i = 0; i < IDD_ARRAY_LEN(rows); i++) {
        k[i] = make_apikey(users[rows[i].user], (unsigned)i + 1, "key", "", 0);
        k[i].created = now - rows[i].age;
        snprintf(k[i].id, sizeof k[i].id, "%s", rows[i].id);
        k[i] = add_apikey(s, k[i]);
    }
    ck_assert_int_eq(idd_store_apikey_set_active(s, k[2].id, 0, IDD_APIKEY_BY_OWNER, NULL), 0);

    /* The tenant's keys, inactive ones included: newest first, and of two created in the
     * same second the smaller id first. */
    memset(&l, 0, sizeof l);
    ck_assert_int_eq(idd_store_apikey_list(s, 1, NULL, collect_apikey, &l), 0);
    ck_assert_int_eq(l.count, 5);
    ck_assert_str_eq(l.id[0], k[3].id);
    ck_assert_str_eq(l.id[1], k[1].id);
    ck_assert_str_eq(l.id[2], k[2].id);
    ck_assert_str_eq(l.id[3], k[0].id);
    ck_assert_str_eq(l.id[4], k[5].id);

    /* One creator's keys, in the same order. */
    memset(&l, 0, sizeof l);
    ck_assert_int_eq(idd_store_apikey_list(s, 1, alice.id, collect_apikey, &l), 0);
    ck_assert_int_eq(l.count, 3);
    ck_assert_str_eq(l.id[0], k[3].id);
    ck_assert_str_eq(l.id[1], k[1].id);
    ck_assert_str_eq(l.id[2], k[0].id);
    memset(&l, 0, sizeof l);
    ck_assert_int_eq(idd_store_apikey_list(s, 1, bob.id, collect_apikey, &l), 0);
    ck_assert_int_eq(l.count, 2);
    ck_assert_str_eq(l.id[0], k[2].id);
    ck_assert_str_eq(l.id[1], k[5].id);

    /* Tenants are separate: carol's key is only in tenant 2, and listing her keys in
     * tenant 1 finds none. */
    memset(&l, 0, sizeof l);
    ck_assert_int_eq(idd_store_apikey_list(s, 2, NULL, collect_apikey, &l), 0);
    ck_assert_int_eq(l.count, 1);
    ck_assert_str_eq(l.id[0], k[4].id);
    memset(&l, 0, sizeof l);
    ck_assert_int_eq(idd_store_apikey_list(s, 1, carol.id, collect_apikey, &l), 0);
    ck_assert_int_eq(l.count, 0);
    memset(&l, 0, sizeof l);
    ck_assert_int_eq(idd_store_apikey_list(s, 77, NULL, collect_apikey, &l), 0);
    ck_assert_int_eq(l.count, 0);
    memset(&l, 0, sizeof l);
    ck_assert_int_eq(idd_store_apikey_list(s, 1, "short", collect_apikey, &l), 0);
    ck_assert_int_eq(l.count, 0);
    ck_assert_int_eq(idd_store_apikey_list(s, 1, NULL, NULL, NULL), IDD_EINVAL);

    /* A visitor may stop early; the next listing starts from the beginning. */
    memset(&l, 0, sizeof l);
    l.stop_after = 2;
    ck_assert_int_eq(idd_store_apikey_list(s, 1, NULL, collect_apikey, &l), 0);
    ck_assert_int_eq(l.count, 2);
    memset(&l, 0, sizeof l);
    ck_assert_int_eq(idd_store_apikey_list(s, 1, NULL, collect_apikey, &l), 0);
    ck_assert_int_eq(l.count, 5);

    /* A visitor may update keys through the same handle but not list again, which would
     * reset the outer statement under it. */
    memset(&l, 0, sizeof l);
    l.s = s;
    l.nested_rc = -100;
    l.update_rc = -100;
    ck_assert_int_eq(idd_store_apikey_list(s, 2, NULL, list_apikeys_again, &l), 0);
    ck_assert_int_eq(l.count, 1);
    ck_assert_int_eq(l.nested_rc, IDD_EBUSY);
    ck_assert_int_eq(l.update_rc, 0);
    ck_assert_int_eq(fetch_apikey(s, k[4].id).active, 0);
    idd_store_free(s);
}
END_TEST

START_TEST(test_apikey_update)
{
    idd_store_t *s = open_with_tenants();
    idd_user_t alice = add_user(s, 1, "alice@example.com");
    int64_t now = idd_now();
    idd_apikey_t k = add_apikey(s, make_apikey(&alice, 1, "before", "files:read", now + 600));
    idd_apikey_t other = add_apikey(s, make_apikey(&alice, 2, "other", "rooms:read", 0));
    idd_apikey_t want = k, found;
    char long_name[IDD_APIKEY_NAME_MAX + 2];
    char long_permissions[IDD_APIKEY_PERMISSIONS_MAX + 2];

    /* Each change alone leaves everything else as it was. */
    ck_assert_int_eq(idd_store_apikey_update(s, k.id, "after", NULL), 0);
    snprintf(want.name, sizeof want.name, "after");
    found = fetch_apikey(s, k.id);
    assert_same_apikey(&found, &want);

    ck_assert_int_eq(idd_store_apikey_update(s, k.id, NULL, "accounts:read rooms:write"), 0);
    snprintf(want.permissions, sizeof want.permissions, "accounts:read rooms:write");
    found = fetch_apikey(s, k.id);
    assert_same_apikey(&found, &want);

    /* Nothing to change is not an error for a key that exists, and changes nothing. */
    ck_assert_int_eq(idd_store_apikey_update(s, k.id, NULL, NULL), 0);
    found = fetch_apikey(s, k.id);
    assert_same_apikey(&found, &want);

    /* Both at once, and "" takes the permissions back to full access. */
    ck_assert_int_eq(idd_store_apikey_update(s, k.id, "all three", ""), 0);
    snprintf(want.name, sizeof want.name, "all three");
    want.permissions[0] = '\0';
    found = fetch_apikey(s, k.id);
    assert_same_apikey(&found, &want);

    /* Refused changes change nothing. */
    memset(long_name, 'n', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    ck_assert_int_eq(idd_store_apikey_update(s, k.id, long_name, NULL), IDD_ETOOBIG);
    ck_assert_int_eq(idd_store_apikey_update(s, k.id, "", NULL), IDD_EINVAL);
    memset(long_permissions, 'p', sizeof long_permissions - 1);
    long_permissions[sizeof long_permissions - 1] = '\0';
    ck_assert_int_eq(idd_store_apikey_update(s, k.id, "x", long_permissions), IDD_ETOOBIG);
    ck_assert_int_eq(idd_store_apikey_update(s, k.id, "x", "bad\xc3("), IDD_EINVAL);
    found = fetch_apikey(s, k.id);
    assert_same_apikey(&found, &want);
    long_name[IDD_APIKEY_NAME_MAX] = '\0';
    ck_assert_int_eq(idd_store_apikey_update(s, k.id, long_name, NULL), 0);
    ck_assert_str_eq(fetch_apikey(s, k.id).name, long_name);

    ck_assert_int_eq(idd_store_apikey_update(s, "00000000-0000-4000-8000-000000000000", "x", NULL),
                     IDD_ENOTFOUND);
    ck_assert_int_eq(idd_store_apikey_update(s, "short", NULL, NULL), IDD_ENOTFOUND);
    ck_assert_int_eq(idd_store_apikey_update(s, NULL, NULL, NULL), IDD_ENOTFOUND);

    /* The other key was never touched. */
    found = fetch_apikey(s, other.id);
    assert_same_apikey(&found, &other);
    idd_store_free(s);
}
END_TEST

START_TEST(test_apikey_delete)
{
    idd_store_t *s = open_with_tenants();
    idd_user_t alice = add_user(s, 1, "alice@example.com");
    idd_apikey_t gone = add_apikey(s, make_apikey(&alice, 1, "gone", "files:read", 0));
    idd_apikey_t kept = add_apikey(s, make_apikey(&alice, 2, "kept", "", 0));
    idd_apikey_t found;
    apikey_listing_t l;

    ck_assert_int_eq(idd_store_apikey_delete(s, gone.id), 0);
    ck_assert_int_eq(idd_store_apikey_by_id(s, gone.id, &found), IDD_ENOTFOUND);
    ck_assert_int_eq(idd_store_apikey_by_digest(s, gone.digest, &found), IDD_ENOTFOUND);
    ck_assert_int_eq(idd_store_apikey_update(s, gone.id, NULL, NULL), IDD_ENOTFOUND);
    memset(&l, 0, sizeof l);
    ck_assert_int_eq(idd_store_apikey_list(s, 1, NULL, collect_apikey, &l), 0);
    ck_assert_int_eq(l.count, 1);
    ck_assert_str_eq(l.id[0], kept.id);
    found = fetch_apikey(s, kept.id);
    assert_same_apikey(&found, &kept);

    /* Deleting again, or what never existed, is an error. */
    ck_assert_int_eq(idd_store_apikey_delete(s, gone.id), IDD_ENOTFOUND);
    ck_assert_int_eq(idd_store_apikey_delete(s, "00000000-0000-4000-8000-000000000000"),
                     IDD_ENOTFOUND);
    ck_assert_int_eq(idd_store_apikey_delete(s, "short"), IDD_ENOTFOUND);
    idd_store_free(s);
}
END_TEST

START_TEST(test_apikey_touch)
{
    idd_store_t *s = open_with_tenants();
    idd_user_t alice = add_user(s, 1, "alice@example.com");
    int64_t now = idd_now();
    idd_apikey_t a = add_apikey(s, make_apikey(&alice, 1, "a", "", 0));
    idd_apikey_t b = add_apikey(s, make_apikey(&alice, 2, "b", "files:read", now + 600));
    idd_apikey_t c = add_apikey(s, make_apikey(&alice, 3, "c", "", 0));
    idd_apikey_t found, want;
    char ids[4][IDD_GUID_LEN + 1];
    int64_t when[4];

    /* Several keys in one call, with an id that names no key among them. */
    memcpy(ids[0], a.id, sizeof ids[0]);
    memcpy(ids[1], "00000000-0000-4000-8000-000000000000", sizeof ids[1]);
    memcpy(ids[2], b.id, sizeof ids[2]);
    when[0] = now - 100;
    when[1] = now;
    when[2] = now - 50;
    ck_assert_int_eq(idd_store_apikey_touch(s, (const char(*)[IDD_GUID_LEN + 1]) ids, when, 3), 0);
    ck_assert_int_eq(fetch_apikey(s, a.id).last_used, now - 100);
    ck_assert_int_eq(fetch_apikey(s, c.id).last_used, 0);
    /* Nothing else of the key changed. */
    want = b;
    want.last_used = now - 50;
    found = fetch_apikey(s, b.id);
    assert_same_apikey(&found, &want);

    /* A late batch carrying an older time does not move last_used back; a newer one moves it
     * forward, and the same key twice in one batch ends at the later time. */
    memcpy(ids[0], a.id, sizeof ids[0]);
    memcpy(ids[1], b.id, sizeof ids[1]);
    memcpy(ids[2], b.id, sizeof ids[2]);
    memcpy(ids[3], c.id, sizeof ids[3]);
    when[0] = now - 500;
    when[1] = now - 10;
    when[2] = now - 20;
    when[3] = now;
    ck_assert_int_eq(idd_store_apikey_touch(s, (const char(*)[IDD_GUID_LEN + 1]) ids, when, 4), 0);
    ck_assert_int_eq(fetch_apikey(s, a.id).last_used, now - 100);
    ck_assert_int_eq(fetch_apikey(s, b.id).last_used, now - 10);
    ck_assert_int_eq(fetch_apikey(s, c.id).last_used, now);

    /* An empty batch does nothing; a time that is not positive records no use. */
    ck_assert_int_eq(idd_store_apikey_touch(s, NULL, NULL, 0), 0);
    ck_assert_int_eq(idd_store_apikey_touch(s, NULL, when, 1), IDD_EINVAL);
    idd_apikey_t d = add_apikey(s, make_apikey(&alice, 4, "d", "", 0));
    memcpy(ids[0], d.id, sizeof ids[0]);
    when[0] = 0;
    ck_assert_int_eq(idd_store_apikey_touch(s, (const char(*)[IDD_GUID_LEN + 1]) ids, when, 1), 0);
    ck_assert_int_eq(fetch_apikey(s, d.id).last_used, 0);
    idd_store_free(s);
}
END_TEST

START_TEST(test_apikey_touch_is_atomic)
{
    SKIP_UNLESS_SQLITE("freezes a row with a SQLite trigger");
    /* A batch is one transaction: when one update in it fails, none of it stays behind, and
     * no transaction is left open on the handle. A trigger makes the update of one key
     * fail. */
    idd_store_t *s = open_with_tenants();
    idd_user_t alice = add_user(s, 1, "alice@example.com");
    int64_t now = idd_now();
    idd_apikey_t a = add_apikey(s, make_apikey(&alice, 1, "a", "", 0));
    idd_apikey_t b = add_apikey(s, make_apikey(&alice, 2, "b", "", 0));
    char ids[2][IDD_GUID_LEN + 1];
    int64_t when[2] = {now - 5, now};
    char sql[256];

    memcpy(ids[0], a.id, sizeof ids[0]);
    memcpy(ids[1], b.id, sizeof ids[1]);
    snprintf(sql, sizeof sql,
             "CREATE TRIGGER frozen BEFORE UPDATE ON api_keys WHEN old.id = '%s'"
             " BEGIN SELECT RAISE(ABORT, 'key b is frozen'); END",
             b.id);
    ck_assert_int_eq(raw_exec(sql), SQLITE_OK);
    ck_assert_int_ne(idd_store_apikey_touch(s, (const char(*)[IDD_GUID_LEN + 1]) ids, when, 2), 0);
    ck_assert_int_eq(fetch_apikey(s, a.id).last_used, 0);

    ck_assert_int_eq(raw_exec("DROP TRIGGER frozen"), SQLITE_OK);
    ck_assert_int_eq(idd_store_apikey_touch(s, (const char(*)[IDD_GUID_LEN + 1]) ids, when, 2), 0);
    ck_assert_int_eq(fetch_apikey(s, a.id).last_used, now - 5);
    ck_assert_int_eq(fetch_apikey(s, b.id).last_used, now);
    idd_store_free(s);

    /* Committed, not merely visible to this connection. */
    ck_assert_int_eq(idd_store_open(store_location, &s), 0);
    ck_assert_int_eq(fetch_apikey(s, b.id).last_used, now);
    idd_store_free(s);
}
END_TEST

START_TEST(test_apikey_cap)
{
    SKIP_UNLESS_SQLITE("deletes rows through SQLite directly");
    /* A capped create counts every key of the creator, inactive ones too, and refuses the
     * one too many with IDD_EDENIED, leaving no row; other users are not affected. */
    idd_store_t *s = open_with_tenants();
    idd_user_t alice = add_user(s, 1, "alice@example.com");
    idd_user_t bob = add_user(s, 1, "bob@example.com");
    idd_apikey_t k, found;
    apikey_listing_t l;

    for (unsigned i = 1; i <= 3; i++) {
        k = make_apikey(&alice, i, "a", "", 0);
        ck_assert_int_eq(idd_store_apikey_create_capped(s, &k, 3), 0);
        if (i == 1)
            ck_assert_int_eq(idd_store_apikey_set_active(s, k.id, 0, IDD_APIKEY_REVOKED, NULL), 0);
    }
    k = make_apikey(&alice, 4, "a", "", 0);
    ck_assert_int_eq(idd_store_apikey_create_capped(s, &k, 3), IDD_EDENIED);
    ck_assert_int_eq(idd_store_apikey_by_digest(s, k.digest, &found), IDD_ENOTFOUND);
    memset(&l, 0, sizeof l);
    ck_assert_int_eq(idd_store_apikey_list(s, 1, alice.id, collect_apikey, &l), 0);
    ck_assert_int_eq(l.count, 3);
    /* A larger cap, no cap, and another user's own count. */
    ck_assert_int_eq(idd_store_apikey_create_capped(s, &k, 4), 0);
    k = make_apikey(&alice, 5, "a", "", 0);
    ck_assert_int_eq(idd_store_apikey_create(s, &k), 0);
    k = make_apikey(&bob, 6, "b", "", 0);
    ck_assert_int_eq(idd_store_apikey_create_capped(s, &k, 1), 0);
    /* An unknown creator is still IDD_ENOTFOUND under a cap, and no transaction stays open. */
    k = make_apikey(&bob, 7, "b", "", 0);
    snprintf(k.created_by, sizeof k.created_by, "00000000-0000-4000-8000-000000000000");
    ck_assert_int_eq(idd_store_apikey_create_capped(s, &k, 1), IDD_ENOTFOUND);
    k = make_apikey(&bob, 8, "b", "", 0);
    ck_assert_int_eq(idd_store_apikey_create_capped(s, &k, 1), IDD_EDENIED);
    ck_assert_int_eq(raw_exec("DELETE FROM api_keys"), SQLITE_OK);
    ck_assert_int_eq(idd_store_apikey_create_capped(s, &k, 1), 0);
    idd_store_free(s);
}
END_TEST

START_TEST(test_apikey_set_active_rules)
{
    idd_store_t *s = open_with_tenants();
    idd_user_t alice = add_user(s, 1, "alice@example.com");
    idd_user_t admin = add_user(s, 1, "admin@example.com");
    idd_apikey_t k = add_apikey(s, make_apikey(&alice, 1, "k", "", 0));
    idd_apikey_t found;

    /* Owner off, owner on. */
    ck_assert_int_eq(idd_store_apikey_set_active(s, k.id, 0, IDD_APIKEY_BY_OWNER, alice.id), 0);
    found = fetch_apikey(s, k.id);
    ck_assert_int_eq(found.active, 0);
    ck_assert_int_eq(found.deactivated, IDD_APIKEY_BY_OWNER);
    ck_assert_str_eq(found.deactivated_by, alice.id);
    ck_assert_int_eq(idd_store_apikey_set_active(s, k.id, 1, IDD_APIKEY_BY_OWNER, alice.id), 0);
    found = fetch_apikey(s, k.id);
    ck_assert_int_eq(found.active, 1);
    ck_assert_int_eq(found.deactivated, IDD_APIKEY_LIVE);
    ck_assert_str_eq(found.deactivated_by, "");

    /* Admin off: the owner cannot lift it, nor lower it by deactivating again; the admin can. */
    ck_assert_int_eq(idd_store_apikey_set_active(s, k.id, 0, IDD_APIKEY_BY_ADMIN, admin.id), 0);
    ck_assert_int_eq(idd_store_apikey_set_active(s, k.id, 0, IDD_APIKEY_BY_OWNER, alice.id), 0);
    found = fetch_apikey(s, k.id);
    ck_assert_int_eq(found.deactivated, IDD_APIKEY_BY_ADMIN);
    ck_assert_str_eq(found.deactivated_by, admin.id);
    ck_assert_int_eq(idd_store_apikey_set_active(s, k.id, 1, IDD_APIKEY_BY_OWNER, alice.id),
                     IDD_EDENIED);
    ck_assert_int_eq(fetch_apikey(s, k.id).active, 0);
    ck_assert_int_eq(idd_store_apikey_set_active(s, k.id, 1, IDD_APIKEY_BY_ADMIN, admin.id), 0);
    ck_assert_int_eq(fetch_apikey(s, k.id).active, 1);

    /* An admin may lift an owner's deactivation. */
    ck_assert_int_eq(idd_store_apikey_set_active(s, k.id, 0, IDD_APIKEY_BY_OWNER, alice.id), 0);
    ck_assert_int_eq(idd_store_apikey_set_active(s, k.id, 1, IDD_APIKEY_BY_ADMIN, admin.id), 0);

    /* Revoked is final: nobody lifts it, and a later deactivation does not lower it. */
    ck_assert_int_eq(idd_store_apikey_set_active(s, k.id, 0, IDD_APIKEY_REVOKED, NULL), 0);
    ck_assert_int_eq(idd_store_apikey_set_active(s, k.id, 0, IDD_APIKEY_BY_OWNER, alice.id), 0);
    found = fetch_apikey(s, k.id);
    ck_assert_int_eq(found.deactivated, IDD_APIKEY_REVOKED);
    ck_assert_str_eq(found.deactivated_by, "");
    ck_assert_int_eq(idd_store_apikey_set_active(s, k.id, 1, IDD_APIKEY_BY_OWNER, alice.id),
                     IDD_EDENIED);
    ck_assert_int_eq(idd_store_apikey_set_active(s, k.id, 1, IDD_APIKEY_BY_ADMIN, admin.id),
                     IDD_EDENIED);
    ck_assert_int_eq(fetch_apikey(s, k.id).active, 0);
    /* Nor can the store be asked to lift it with a level above an admin's. */
    ck_assert_int_eq(idd_store_apikey_set_active(s, k.id, 1, IDD_APIKEY_REVOKED, NULL), IDD_EINVAL);
    ck_assert_int_eq(idd_store_apikey_set_active(s, k.id, 0, 0, NULL), IDD_EINVAL);
    ck_assert_int_eq(idd_store_apikey_set_active(s, k.id, 0, 4, NULL), IDD_EINVAL);
    ck_assert_int_eq(idd_store_apikey_set_active(s, k.id, 0, 1, "short"), IDD_EINVAL);
    ck_assert_int_eq(fetch_apikey(s, k.id).active, 0);

    ck_assert_int_eq(idd_store_apikey_set_active(s, "00000000-0000-4000-8000-000000000000", 0,
                                                 IDD_APIKEY_REVOKED, NULL),
                     IDD_ENOTFOUND);
    ck_assert_int_eq(idd_store_apikey_set_active(s, "00000000-0000-4000-8000-000000000000", 1,
                                                 IDD_APIKEY_BY_ADMIN, NULL),
                     IDD_ENOTFOUND);
    ck_assert_int_eq(idd_store_apikey_set_active(s, "short", 1, IDD_APIKEY_BY_ADMIN, NULL),
                     IDD_ENOTFOUND);
    idd_store_free(s);
}
END_TEST

START_TEST(test_apikey_prune_and_counts)
{
    /* Only expired keys go, at most limit per call; inactive keys that have not expired stay
     * (the listings show them). */
    idd_store_t *s = open_with_tenants();
    idd_user_t alice = add_user(s, 1, "alice@example.com");
    int64_t now = idd_now();
    int64_t live = -1, keys = -1;
    int deleted = -1;
    idd_apikey_t found;
    idd_apikey_t expired[3];

    for (unsigned i = 0; i < 3; i++)
        expired[i] = add_apikey(s, make_apikey(&alice, i + 1, "old", "", now - 10 - i));
    idd_apikey_t future = add_apikey(s, make_apikey(&alice, 10, "future", "", now + 600));
    idd_apikey_t never = add_apikey(s, make_apikey(&alice, 11, "never", "", 0));
    idd_apikey_t revoked = add_apikey(s, make_apikey(&alice, 12, "revoked", "", 0));
    ck_assert_int_eq(idd_store_apikey_set_active(s, revoked.id, 0, IDD_APIKEY_REVOKED, NULL), 0);
    ck_assert_int_eq(idd_store_counts(s, now, &live, &keys), 0);
    ck_assert_int_eq(keys, 6);
    ck_assert_int_eq(live, 0);

    ck_assert_int_eq(idd_store_apikey_prune(s, now, 2, &deleted), 0);
    ck_assert_int_eq(deleted, 2);
    ck_assert_int_eq(idd_store_apikey_prune(s, now, 2, &deleted), 0);
    ck_assert_int_eq(deleted, 1);
    ck_assert_int_eq(idd_store_apikey_prune(s, now, 2, &deleted), 0);
    ck_assert_int_eq(deleted, 0);
    for (unsigned i = 0; i < 3; i++)
        ck_assert_int_eq(idd_store_apikey_by_id(s, expired[i].id, &found), IDD_ENOTFOUND);
    fetch_apikey(s, future.id);
    fetch_apikey(s, never.id);
    ck_assert_int_eq(fetch_apikey(s, revoked.id).deactivated, IDD_APIKEY_REVOKED);
    ck_assert_int_eq(idd_store_counts(s, now, &live, &keys), 0);
    ck_assert_int_eq(keys, 3);
    ck_assert_int_eq(idd_store_apikey_prune(s, now, 0, &deleted), IDD_EINVAL);
    /* Once its time has come, the other one goes too. */
    ck_assert_int_eq(idd_store_apikey_prune(s, now + 600, 10, &deleted), 0);
    ck_assert_int_eq(deleted, 1);
    idd_store_free(s);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("store_apikeys");
    TCase *tc = tcase_create("apikeys");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_apikey_create_and_lookup);
    tcase_add_test(tc, test_apikey_duplicate_digest);
    tcase_add_test(tc, test_apikey_creator_in_tenant);
    tcase_add_test(tc, test_apikey_field_limits);
    tcase_add_test(tc, test_apikey_schema_limits);
    tcase_add_test(tc, test_apikey_json_column);
    tcase_add_test(tc, test_apikey_list);
    tcase_add_test(tc, test_apikey_update);
    tcase_add_test(tc, test_apikey_delete);
    tcase_add_test(tc, test_apikey_touch);
    tcase_add_test(tc, test_apikey_touch_is_atomic);
    tcase_add_test(tc, test_apikey_cap);
    tcase_add_test(tc, test_apikey_set_active_rules);
    tcase_add_test(tc, test_apikey_prune_and_counts);
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
