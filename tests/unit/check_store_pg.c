/*
 * Unit tests of the PostgreSQL engine (src/store/pg*.c) through the public interface
 * (store.h), against a real server: IDD_TEST_PG holds a libpq conninfo (URI or key/value)
 * of a role that may create databases. Each run creates a database of a random name and
 * drops it at the end. Without IDD_TEST_PG only the checks that need no server run (which
 * locations are refused), and the suite says that the rest was skipped.
 *
 * It checks the migrations (from empty, again as a no-op, and two processes at once), the
 * results and error codes the SQLite engine gives for users, sessions and API keys, the
 * change version seen through a second connection, and clean failures: a password file that
 * is refused, a server that cannot be reached, a connection that broke.
 */
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <openssl/rand.h>

#include "identityd/core/common.h"
#include "identityd/store/store.h"

static const char *admin_conninfo; /* IDD_TEST_PG */
static char run_prefix[32];        /* every database of this run starts with it */
static char dbname[64];            /* the database this run made */
static char conninfo[2048];        /* admin_conninfo with dbname replaced */

/* A key/value conninfo equal to base but for dbname: values quoted as libpq wants. */
static void conninfo_for(const char *base, const char *db, char *out, size_t len)
{
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(base, &err);
    size_t used = 0;

    ck_assert_msg(opts != NULL, "IDD_TEST_PG: %s", err != NULL ? err : "unparsable");
    out[0] = '\0';
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
        const char *v = strcmp(o->keyword, "dbname") == 0 ? db : o->val;
        if (v == NULL)
            continue;
        used += (size_t)snprintf(out + used, len - used, "%s='", o->keyword);
        for (const char *c = v; *c != '\0' && used + 3 < len; c++) {
            if (*c == '\'' || *c == '\\')
                out[used++] = '\\';
            out[used++] = *c;
        }
        used += (size_t)snprintf(out + used, len - used, "' ");
        ck_assert_uint_lt(used, len);
    }
    PQconninfoFree(opts);
}

static void admin_exec(const char *sql)
{
    PGconn *c = PQconnectdb(admin_conninfo);
    ck_assert_msg(PQstatus(c) == CONNECTION_OK, "IDD_TEST_PG: %s", PQerrorMessage(c));
    PGresult *r = PQexec(c, sql);
    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK,
                  "%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
}

static void random_name(const char *prefix, char *out, size_t len)
{
    unsigned char b[6];
    ck_assert_int_eq(RAND_bytes(b, sizeof b), 1);
    snprintf(out, len, "%s%02x%02x%02x%02x%02x%02x", prefix, b[0], b[1], b[2], b[3], b[4], b[5]);
}

static void create_database(const char *name)
{
    char sql[128];
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
    admin_exec(sql);
}

static void drop_database(const char *name)
{
    char sql[128];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
    admin_exec(sql);
}

static void setup_database(void)
{
    random_name(run_prefix, dbname, sizeof dbname);
    create_database(dbname);
    conninfo_for(admin_conninfo, dbname, conninfo, sizeof conninfo);
}

static void teardown_database(void)
{
    drop_database(dbname);
}

/* Run in the parent once the tests are done: a test that failed part-way (its process ends
 * at the failed assertion, before its teardown) leaves no database behind. */
static void drop_run_databases(void)
{
    char sql[128];
    PGconn *c = PQconnectdb(admin_conninfo);
    snprintf(sql, sizeof sql, "SELECT datname FROM pg_database WHERE datname LIKE '%s%%'",
             run_prefix);
    PGresult *r = PQstatus(c) == CONNECTION_OK ? PQexec(c, sql) : NULL;
    for (int i = 0; PQresultStatus(r) == PGRES_TUPLES_OK && i < PQntuples(r); i++) {
        char drop[128];
        snprintf(drop, sizeof drop, "DROP DATABASE IF EXISTS %s WITH (FORCE)", PQgetvalue(r, i, 0));
        PQclear(PQexec(c, drop));
    }
    PQclear(r);
    PQfinish(c);
}

static idd_store_t *open_migrated(void)
{
    idd_store_t *s = NULL;
    ck_assert_int_eq(idd_store_open(conninfo, &s), 0);
    ck_assert_int_eq(idd_store_migrate(s, NULL, NULL), 0);
    return s;
}

static idd_user_t add_user(idd_store_t *s, int64_t tenant, const char *email)
{
    idd_user_t u;
    memset(&u, 0, sizeof u);
    u.tenant_id = tenant;
    snprintf(u.email, sizeof u.email, "%s", email);
    snprintf(u.first_name, sizeof u.first_name, "First");
    snprintf(u.password, sizeof u.password, "$idd1$record");
    ck_assert_int_eq(idd_store_user_insert(s, &u), 0);
    return u;
}

static idd_session_t make_session(const idd_user_t *u, int64_t now)
{
    idd_session_t x;
    memset(&x, 0, sizeof x);
    x.tenant_id = u->tenant_id;
    snprintf(x.user_id, sizeof x.user_id, "%s", u->id);
    ck_assert_int_eq(RAND_bytes(x.digest, sizeof x.digest), 1);
    x.created = now;
    x.expires = now + 3600;
    x.last_seen = now;
    snprintf(x.ip, sizeof x.ip, "192.0.2.1");
    snprintf(x.user_agent, sizeof x.user_agent, "agent/1.0");
    x.auth_version = u->auth_version;
    return x;
}

START_TEST(test_migrate_from_empty_and_again)
{
    idd_store_t *s = NULL;
    int from = -1, to = -1, v = -1;
    int latest = idd_store_latest_version();

    ck_assert_int_eq(idd_store_open(conninfo, &s), 0);
    ck_assert_int_eq(idd_store_schema_version(s, &v), 0);
    ck_assert_int_eq(v, 0);
    ck_assert_int_eq(idd_store_migrate(s, &from, &to), 0);
    ck_assert_int_eq(from, 0);
    ck_assert_int_eq(to, latest);
    ck_assert_int_eq(idd_store_migrate(s, &from, &to), 0);
    ck_assert_int_eq(from, latest);
    ck_assert_int_eq(to, latest);
    ck_assert_int_eq(idd_store_schema_version(s, &v), 0);
    ck_assert_int_eq(v, latest);
    idd_store_free(s);
}
END_TEST

/* A database newer than the program is refused as SQLite refuses it. */
START_TEST(test_newer_schema_is_refused)
{
    idd_store_t *s = open_migrated();
    PGconn *c = PQconnectdb(conninfo);
    ck_assert_int_eq(PQstatus(c), CONNECTION_OK);
    PQclear(PQexec(c, "UPDATE idd_schema SET version = version + 1"));
    PQfinish(c);
    ck_assert_int_eq(idd_store_migrate(s, NULL, NULL), IDD_ESCHEMA);
    idd_store_free(s);
}
END_TEST

/* Two processes migrating one empty database at once: both succeed (the second waits on the
 * advisory lock, then finds the work done) and every migration is applied once. */
START_TEST(test_concurrent_migrate)
{
    char name[64], info[2048];
    pid_t pids[2];
    int latest = idd_store_latest_version();

    random_name(run_prefix, name, sizeof name);
    create_database(name);
    conninfo_for(admin_conninfo, name, info, sizeof info);
    for (int i = 0; i < 2; i++) {
        pids[i] = fork();
        ck_assert_int_ge(pids[i], 0);
        if (pids[i] == 0) {
            idd_store_t *s = NULL;
            int to = -1;
            int ok = idd_store_open(info, &s) == 0 && idd_store_migrate(s, NULL, &to) == 0 &&
                     to == latest;
            idd_store_free(s);
            _exit(ok ? 0 : 1);
        }
    }
    for (int i = 0; i < 2; i++) {
        int status = 0;
        ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "migration %d failed", i);
    }
    idd_store_t *s = NULL;
    int v = -1;
    ck_assert_int_eq(idd_store_open(info, &s), 0);
    ck_assert_int_eq(idd_store_schema_version(s, &v), 0);
    ck_assert_int_eq(v, latest);
    /* Applied once: the change counter's row was inserted by one migration only. */
    int64_t version = -1;
    ck_assert_int_eq(idd_store_changes(s, &version), 0);
    ck_assert_int_eq(version, 0);
    idd_store_free(s);
    drop_database(name);
}
END_TEST

START_TEST(test_users)
{
    idd_store_t *s = open_migrated();
    idd_user_t found;
    idd_tenant_t t;

    ck_assert_int_eq(idd_store_tenant_ensure(s, 1, "one"), 0);
    ck_assert_int_eq(idd_store_tenant_ensure(s, 1, "one renamed"), 0);
    ck_assert_int_eq(idd_store_tenant_get(s, 1, &t), 0);
    ck_assert_str_eq(t.name, "one renamed");
    ck_assert_int_eq(strlen(t.password_salt), 64);
    ck_assert_int_eq(idd_store_tenant_ensure(s, 2, "two"), 0);

    idd_user_t alice = add_user(s, 1, "Alice@Example.com");
    ck_assert_int_eq(strlen(alice.id), IDD_GUID_LEN);
    ck_assert_int_eq(alice.auth_version, 1);
    ck_assert_int_eq(idd_store_user_by_email(s, 1, "alice@example.COM", &found), 0);
    ck_assert_str_eq(found.id, alice.id);
    ck_assert_str_eq(found.email, "Alice@Example.com"); /* kept as entered */
    ck_assert_str_eq(found.password, "$idd1$record");
    ck_assert_int_eq(found.role, IDD_ROLE_USER);
    ck_assert_int_eq(found.status, IDD_USER_ACTIVE);
    ck_assert_int_eq(idd_store_user_by_id(s, alice.id, &found), 0);
    ck_assert_str_eq(found.email, "Alice@Example.com");
    ck_assert_int_eq(idd_store_user_by_email(s, 2, "alice@example.com", &found), IDD_ENOTFOUND);
    ck_assert_str_eq(found.id, "");

    /* The same address in another case is a duplicate in its tenant only. */
    idd_user_t dup;
    memset(&dup, 0, sizeof dup);
    dup.tenant_id = 1;
    snprintf(dup.email, sizeof dup.email, "ALICE@example.com");
    snprintf(dup.password, sizeof dup.password, "$idd1$x");
    ck_assert_int_eq(idd_store_user_insert(s, &dup), IDD_EEXIST);
    dup.tenant_id = 2;
    ck_assert_int_eq(idd_store_user_insert(s, &dup), 0);
    /* An unknown tenant is a missing parent row. */
    memset(dup.id, 0, sizeof dup.id);
    dup.tenant_id = 99;
    ck_assert_int_eq(idd_store_user_insert(s, &dup), IDD_ENOTFOUND);

    /* A status change bumps auth_version. */
    ck_assert_int_eq(idd_store_user_set_status(s, alice.id, IDD_USER_DISABLED), 0);
    ck_assert_int_eq(idd_store_user_by_id(s, alice.id, &found), 0);
    ck_assert_int_eq(found.status, IDD_USER_DISABLED);
    ck_assert_int_eq(found.auth_version, 2);
    ck_assert_int_eq(
        idd_store_user_set_status(s, "00000000-0000-4000-8000-000000000000", IDD_USER_DISABLED),
        IDD_ENOTFOUND);
    idd_store_free(s);
}
END_TEST

START_TEST(test_sessions)
{
    idd_store_t *s = open_migrated();
    int64_t now = idd_now();
    idd_session_t found;
    int n = -1;

    ck_assert_int_eq(idd_store_tenant_ensure(s, 1, "one"), 0);
    idd_user_t alice = add_user(s, 1, "alice@example.com");
    idd_session_t x = make_session(&alice, now);
    ck_assert_int_eq(idd_store_session_create(s, &x), 0);
    ck_assert_int_gt(x.id, 0);
    ck_assert_int_eq(x.active, 1);
    ck_assert_int_eq(idd_store_session_by_digest(s, x.digest, &found), 0);
    ck_assert_int_eq(found.id, x.id);
    ck_assert_mem_eq(found.digest, x.digest, IDD_SESSION_DIGEST_LEN);
    ck_assert_str_eq(found.user_id, alice.id);
    ck_assert_str_eq(found.ip, "192.0.2.1");
    ck_assert_str_eq(found.user_agent, "agent/1.0");
    ck_assert_int_eq(found.expires, now + 3600);
    ck_assert_int_eq(found.active, 1);

    /* The same digest twice is a duplicate; an unknown user a missing parent. */
    idd_session_t again = x;
    ck_assert_int_eq(idd_store_session_create(s, &again), IDD_EEXIST);
    idd_session_t ghost = make_session(&alice, now);
    snprintf(ghost.user_id, sizeof ghost.user_id, "00000000-0000-4000-8000-000000000000");
    ck_assert_int_eq(idd_store_session_create(s, &ghost), IDD_ENOTFOUND);

    ck_assert_int_eq(idd_store_session_end(s, x.id), 0);
    ck_assert_int_eq(idd_store_session_by_digest(s, x.digest, &found), 0);
    ck_assert_int_eq(found.active, 0);
    ck_assert_int_eq(idd_store_session_end(s, x.id), 0); /* already ended: not an error */
    ck_assert_int_eq(idd_store_session_end(s, x.id + 1000), IDD_ENOTFOUND);

    idd_session_t y = make_session(&alice, now), z = make_session(&alice, now);
    ck_assert_int_eq(idd_store_session_create(s, &y), 0);
    ck_assert_int_eq(idd_store_session_create(s, &z), 0);
    ck_assert_int_gt(z.id, y.id);
    ck_assert_int_eq(idd_store_session_end_user(s, alice.id, 0, &n), 0);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(idd_store_session_by_id(s, z.id, &found), 0);
    ck_assert_int_eq(found.active, 0);

    /* The cap ends the oldest live sessions beyond it, in the same transaction. */
    idd_session_t c[3];
    for (int i = 0; i < 3; i++) {
        c[i] = make_session(&alice, now);
        ck_assert_int_eq(idd_store_session_create_capped(s, &c[i], 2, &n), 0);
        ck_assert_int_eq(n, i < 2 ? 0 : 1);
    }
    ck_assert_int_eq(idd_store_session_by_id(s, c[0].id, &found), 0);
    ck_assert_int_eq(found.active, 0);
    ck_assert_int_eq(idd_store_session_by_id(s, c[2].id, &found), 0);
    ck_assert_int_eq(found.active, 1);

    /* A password change ends every session of the user. */
    ck_assert_int_eq(idd_store_user_set_password(s, alice.id, "$idd1$new"), 0);
    ck_assert_int_eq(idd_store_session_by_id(s, c[2].id, &found), 0);
    ck_assert_int_eq(found.active, 0);
    idd_store_free(s);
}
END_TEST

START_TEST(test_apikeys)
{
    idd_store_t *s = open_migrated();
    idd_apikey_t found;

    ck_assert_int_eq(idd_store_tenant_ensure(s, 1, "one"), 0);
    idd_user_t alice = add_user(s, 1, "alice@example.com");
    idd_apikey_t k;
    memset(&k, 0, sizeof k);
    k.tenant_id = 1;
    snprintf(k.created_by, sizeof k.created_by, "%s", alice.id);
    snprintf(k.name, sizeof k.name, "ci");
    ck_assert_int_eq(RAND_bytes(k.digest, sizeof k.digest), 1);
    snprintf(k.postfix, sizeof k.postfix, "abcd");
    snprintf(k.permissions, sizeof k.permissions, "files:read rooms:write");
    ck_assert_int_eq(idd_store_apikey_create_capped(s, &k, 2), 0);
    ck_assert_int_eq(strlen(k.id), IDD_GUID_LEN);

    ck_assert_int_eq(idd_store_apikey_by_digest(s, k.digest, &found), 0);
    ck_assert_str_eq(found.id, k.id);
    ck_assert_str_eq(found.permissions, "files:read rooms:write");
    ck_assert_str_eq(found.created_by, alice.id);
    ck_assert_int_eq(found.active, 1);
    ck_assert_int_eq(found.expires, 0);
    ck_assert_int_eq(found.last_used, 0);

    /* A second key with the same digest is a duplicate; the cap refuses a third. */
    idd_apikey_t k2 = k;
    memset(k2.id, 0, sizeof k2.id);
    ck_assert_int_eq(idd_store_apikey_create(s, &k2), IDD_EEXIST);
    ck_assert_int_eq(RAND_bytes(k2.digest, sizeof k2.digest), 1);
    ck_assert_int_eq(idd_store_apikey_create_capped(s, &k2, 2), 0);
    idd_apikey_t k3 = k2;
    memset(k3.id, 0, sizeof k3.id);
    ck_assert_int_eq(RAND_bytes(k3.digest, sizeof k3.digest), 1);
    ck_assert_int_eq(idd_store_apikey_create_capped(s, &k3, 2), IDD_EDENIED);
    snprintf(k3.created_by, sizeof k3.created_by, "00000000-0000-4000-8000-000000000000");
    ck_assert_int_eq(idd_store_apikey_create(s, &k3), IDD_ENOTFOUND);

    /* Revoked is final. */
    ck_assert_int_eq(idd_store_apikey_set_active(s, k.id, 0, IDD_APIKEY_REVOKED, NULL), 0);
    ck_assert_int_eq(idd_store_apikey_by_digest(s, k.digest, &found), 0);
    ck_assert_int_eq(found.active, 0);
    ck_assert_int_eq(found.deactivated, IDD_APIKEY_REVOKED);
    ck_assert_str_eq(found.deactivated_by, "");
    ck_assert_int_eq(idd_store_apikey_set_active(s, k.id, 1, IDD_APIKEY_BY_ADMIN, NULL),
                     IDD_EDENIED);
    ck_assert_int_eq(idd_store_apikey_delete(s, k.id), 0);
    ck_assert_int_eq(idd_store_apikey_by_id(s, k.id, &found), IDD_ENOTFOUND);
    idd_store_free(s);
}
END_TEST

/* The change version moves after a write that ends a credential, made through another
 * connection, and not after a touch. */
START_TEST(test_changes_seen_across_connections)
{
    idd_store_t *reader = open_migrated();
    idd_store_t *writer = open_migrated();
    int64_t v0 = -1, v1 = -1, v2 = -1;

    ck_assert_int_eq(idd_store_tenant_ensure(writer, 1, "one"), 0);
    idd_user_t alice = add_user(writer, 1, "alice@example.com");
    idd_session_t x = make_session(&alice, idd_now());
    ck_assert_int_eq(idd_store_session_create(writer, &x), 0);

    ck_assert_int_eq(idd_store_changes(reader, &v0), 0);
    ck_assert_int_eq(idd_store_session_touch(writer, x.id, idd_now() + 60), 0);
    ck_assert_int_eq(idd_store_changes(reader, &v1), 0);
    ck_assert_int_eq(v1, v0);
    ck_assert_int_eq(idd_store_session_end(writer, x.id), 0);
    ck_assert_int_eq(idd_store_changes(reader, &v2), 0);
    ck_assert_int_gt(v2, v1);
    idd_store_free(reader);
    idd_store_free(writer);
}
END_TEST

static void write_file(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_int_eq(chmod(path, mode), 0);
}

START_TEST(test_clean_failures)
{
    char dir[] = "/tmp/idd-pg-XXXXXX", path[PATH_MAX];
    idd_store_t *s = (idd_store_t *)&s;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    /* A password file others may read, or none at all, is refused before connecting. */
    snprintf(path, sizeof path, "%s/pw", dir);
    write_file(path, "secret\n", 0644);
    ck_assert_int_eq(idd_store_open_secret(conninfo, path, &s), IDD_ESTORE);
    ck_assert_ptr_null(s);
    snprintf(path, sizeof path, "%s/missing", dir);
    ck_assert_int_eq(idd_store_open_secret(conninfo, path, &s), IDD_ESTORE);
    /* A password file with SQLite is a mistake. */
    snprintf(path, sizeof path, "%s/pw", dir);
    chmod(path, 0600);
    ck_assert_int_eq(idd_store_open_secret("sqlite::memory:", path, &s), IDD_EINVAL);
    /* A server that is not there. */
    snprintf(path, sizeof path, "host=%s dbname=none connect_timeout=2", dir);
    ck_assert_int_eq(idd_store_open(path, &s), IDD_ESTORE);
    ck_assert_ptr_null(s);
    ck_assert_int_eq(idd_store_open("postgresql://127.0.0.1:1/none?connect_timeout=2", &s),
                     IDD_ESTORE);
    snprintf(path, sizeof path, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(path), 0);

    /* A connection that broke fails the call with IDD_EBUSY; the next one reconnects. */
    s = open_migrated();
    int64_t v = -1;
    ck_assert_int_eq(idd_store_changes(s, &v), 0);
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '%s'", dbname);
    admin_exec(sql);
    ck_assert_int_eq(idd_store_changes(s, &v), IDD_EBUSY);
    ck_assert_int_eq(idd_store_changes(s, &v), 0);
    ck_assert_int_eq(idd_store_tenant_ensure(s, 5, "five"), 0);
    idd_store_free(s);
}
END_TEST

/* Needs no server: which locations are files, and which PostgreSQL ones are refused. */
START_TEST(test_locations)
{
    idd_store_t *s = (idd_store_t *)&s;

    ck_assert_str_eq(idd_store_file("/var/lib/identityd/identity.db"),
                     "/var/lib/identityd/identity.db");
    ck_assert_str_eq(idd_store_file("sqlite:/srv/id.db"), "/srv/id.db");
    ck_assert_ptr_null(idd_store_file("postgresql://db.example/identity"));
    ck_assert_ptr_null(idd_store_file("postgres:///identity?host=/run/postgresql"));
    ck_assert_ptr_null(idd_store_file("host=db.example dbname=identity"));
    ck_assert_ptr_null(idd_store_file(""));
    /* A password in the location is refused before any connection, whatever its form. */
    ck_assert_int_eq(idd_store_open("postgresql://u:pw@127.0.0.1:1/x", &s), IDD_EINVAL);
    ck_assert_ptr_null(s);
    ck_assert_int_eq(idd_store_open("host=127.0.0.1 port=1 password=pw", &s), IDD_EINVAL);
    ck_assert_int_eq(idd_store_open("postgres://127.0.0.1:1/x?password=pw", &s), IDD_EINVAL);
    ck_assert_int_eq(idd_store_open("host='unterminated", &s), IDD_EINVAL);
}
END_TEST

static Suite *store_pg_suite(int with_server)
{
    Suite *s = suite_create("store_pg");
    TCase *local = tcase_create("locations");
    tcase_add_test(local, test_locations);
    suite_add_tcase(s, local);
    if (!with_server)
        return s;
    TCase *tc = tcase_create("pg");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup_database, teardown_database);
    tcase_add_unchecked_fixture(tc, NULL, drop_run_databases);
    tcase_add_test(tc, test_migrate_from_empty_and_again);
    tcase_add_test(tc, test_newer_schema_is_refused);
    tcase_add_test(tc, test_concurrent_migrate);
    tcase_add_test(tc, test_users);
    tcase_add_test(tc, test_sessions);
    tcase_add_test(tc, test_apikeys);
    tcase_add_test(tc, test_changes_seen_across_connections);
    tcase_add_test(tc, test_clean_failures);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    admin_conninfo = getenv("IDD_TEST_PG");
    int with_server = admin_conninfo != NULL && admin_conninfo[0] != '\0';
    if (!with_server)
        printf("check_store_pg: the tests against a server are SKIPPED: IDD_TEST_PG (a "
               "PostgreSQL conninfo) is not set\n");
    if (with_server) { /* "idd_test_" and 12 hex digits (no ck_assert outside a test) */
        unsigned char b[6];
        if (RAND_bytes(b, sizeof b) != 1)
            return EXIT_FAILURE;
        snprintf(run_prefix, sizeof run_prefix, "idd_test_%02x%02x%02x%02x%02x%02x", b[0], b[1],
                 b[2], b[3], b[4], b[5]);
    }
    SRunner *sr = srunner_create(store_pg_suite(with_server));
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
