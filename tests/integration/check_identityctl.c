/*
 * Integration tests of identityctl: every case runs the real binary in a fresh environment
 * (harness.h) and checks what it printed, its exit status and, where it wrote something,
 * what the database or key file really holds. Sessions are made directly through the
 * library's store, as a sign-in would make them. The database is read back with the library's
 * own store and password functions, and password records are checked against client hashes
 * computed here from the pepper the harness writes, as API keys are looked up by a digest
 * computed here from the printed key and that pepper, so a CLI that stored the wrong thing
 * cannot pass by agreeing with itself.
 */
#include <check.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "identityd/cred/apikey.h"
#include "identityd/core/b64.h"
#include "identityd/core/buf.h"
#include "identityd/core/common.h"
#include "identityd/config/config.h"
#include "identityd/token/keyring.h"
#include "identityd/cred/password.h"
#include "identityd/cred/totp.h"
#include "identityd/core/cidr.h"
#include "identityd/token/signer.h"
#include "identityd/store/store.h"

/* The pepper file th_env_init writes, without its trailing newline (harness.c). */
#define TEST_PEPPER "0123456789abcdef0123456789abcdef-test-pepper"
/* password.iterations in the harness's identityd.yaml. */
#define TEST_ITERATIONS 1000u

/* Runs identityctl with "-c env->config" (when env is not NULL) and the NULL-terminated
 * arguments that follow; stdin_text may be NULL. out/err receive malloc'd output. */
static int ctl(const th_env_t *env, const char *stdin_text, char **out, char **err, ...)
{
    const char *argv[32];
    size_t n = 0;
    argv[n++] = th_ctl();
    if (env != NULL) {
        argv[n++] = "-c";
        argv[n++] = env->config;
    }
    va_list ap;
    va_start(ap, err);
    for (const char *a = va_arg(ap, const char *); a != NULL; a = va_arg(ap, const char *)) {
        ck_assert_uint_lt(n, IDD_ARRAY_LEN(argv) - 1);
        argv[n++] = a;
    }
    va_end(ap);
    argv[n] = NULL;
    char *o = NULL, *e = NULL;
    int rc = th_run(argv, stdin_text, &o, &e);
    if (out != NULL)
        *out = o;
    else
        free(o);
    if (err != NULL)
        *err = e;
    else
        free(e);
    return rc;
}

/* A row of `user list`, split into its columns. */
typedef struct list_row {
    char id[64];
    long long tenant;
    char email[300];
    char name[300];
    char role[16];
    char status[16];
    int pwchange; /* the FLAGS column says the password must be changed */
} list_row_t;

/* Finds the row of email in a `user list` output; returns 1 when found. */
static int find_row(const char *listing, const char *email, list_row_t *row)
{
    char *copy = strdup(listing);
    int found = 0;
    for (char *save = NULL, *line = strtok_r(copy, "\n", &save); line != NULL && !found;
         line = strtok_r(NULL, "\n", &save)) {
        char *words[16];
        size_t n = 0;
        for (char *s2 = NULL, *w = strtok_r(line, " ", &s2); w != NULL && n < 16;
             w = strtok_r(NULL, " ", &s2))
            words[n++] = w;
        if (n < 5 || strcmp(words[2], email) != 0)
            continue;
        memset(row, 0, sizeof(*row));
        if (strcmp(words[n - 1], "pwchange") == 0) {
            row->pwchange = 1;
            n--;
        }
        snprintf(row->id, sizeof(row->id), "%s", words[0]);
        row->tenant = atoll(words[1]);
        snprintf(row->email, sizeof(row->email), "%s", words[2]);
        for (size_t i = 3; i + 2 < n; i++) {
            size_t used = strlen(row->name);
            snprintf(row->name + used, sizeof(row->name) - used, "%s%s", i > 3 ? " " : "",
                     words[i]);
        }
        snprintf(row->role, sizeof(row->role), "%s", words[n - 2]);
        snprintf(row->status, sizeof(row->status), "%s", words[n - 1]);
        found = 1;
    }
    free(copy);
    return found;
}

/* Counts the data rows (everything but the header) of a `user list` output. */
static int count_rows(const char *listing)
{
    int lines = 0;
    for (const char *p = listing; *p != '\0'; p++)
        lines += *p == '\n';
    return lines - 1;
}

static char *must_list(const th_env_t *env, const char *tenant)
{
    char *out = NULL, *err = NULL;
    int rc = tenant != NULL ? ctl(env, NULL, &out, &err, "user", "list", "--tenant", tenant, NULL)
                            : ctl(env, NULL, &out, &err, "user", "list", NULL);
    ck_assert_msg(rc == 0, "user list failed (%d): %s", rc, err);
    ck_assert_str_eq(err, "");
    free(err);
    return out;
}

static int add_user(const th_env_t *env, const char *stdin_text, char **out, char **err,
                    const char *email, const char *tenant)
{
    if (tenant != NULL)
        return ctl(env, stdin_text, out, err, "user", "add", email, "--first", "Ada", "--last",
                   "Lovelace", "--tenant", tenant, NULL);
    return ctl(env, stdin_text, out, err, "user", "add", email, "--first", "Ada", "--last",
               "Lovelace", NULL);
}

static idd_store_t *open_db(const th_env_t *env)
{
    idd_store_t *store = NULL;
    ck_assert_int_eq(idd_store_open(env->db, &store), 0);
    return store;
}

static void fetch_user(const th_env_t *env, int64_t tenant, const char *email, idd_user_t *user)
{
    idd_store_t *store = open_db(env);
    int rc = idd_store_user_by_email(store, tenant, email, user);
    ck_assert_msg(rc == 0, "%s not in tenant %lld: %d", email, (long long)tenant, rc);
    idd_store_free(store);
}

/* Checks the stored record of email against password[0..len), hashed here with the tenant's
 * salt from the database and the harness's pepper. Returns idd_password_record_check's code. */
static int check_password(const th_env_t *env, int64_t tenant, const char *email,
                          const char *password, size_t len)
{
    idd_store_t *store = open_db(env);
    idd_tenant_t t;
    idd_user_t user;
    ck_assert_int_eq(idd_store_tenant_get(store, tenant, &t), 0);
    ck_assert_int_eq(idd_store_user_by_email(store, tenant, email, &user), 0);
    idd_store_free(store);

    char client_hash[IDD_CLIENT_HASH_HEX_LEN + 1];
    ck_assert_int_eq(idd_password_client_hash(password, len, t.password_salt, TEST_ITERATIONS,
                                              client_hash, NULL),
                     0);
    idd_pepper_t pepper;
    memset(&pepper, 0, sizeof(pepper));
    pepper.len = strlen(TEST_PEPPER);
    memcpy(pepper.bytes, TEST_PEPPER, pepper.len);
    unsigned iterations = 0;
    ck_assert_int_eq(idd_password_record_iterations(user.password, &iterations), 0);
    ck_assert_uint_eq(iterations, TEST_ITERATIONS);
    return idd_password_record_check(&pepper, user.password, client_hash);
}

static void migrate(const th_env_t *env)
{
    char *err = NULL;
    int rc = ctl(env, NULL, NULL, &err, "migrate", NULL);
    ck_assert_msg(rc == 0, "migrate failed: %s", err);
    free(err);
}

START_TEST(test_migrate_fresh_then_noop)
{
    TH_SKIP_UNLESS_SQLITE("checks that migrate makes the SQLite file, owner-only");
    th_env_t env;
    th_env_init(&env, NULL, NULL);
    struct stat st;
    ck_assert_int_ne(stat(env.db, &st), 0);

    char *out = NULL, *err = NULL, expect[64];
    int latest = idd_store_latest_version();
    ck_assert_int_ge(latest, 1);
    ck_assert_int_eq(ctl(&env, NULL, &out, &err, "migrate", NULL), 0);
    snprintf(expect, sizeof(expect), "schema version 0 -> %d", latest);
    ck_assert_msg(strstr(out, expect) != NULL, "first migrate printed: %s", out);
    ck_assert_int_eq(stat(env.db, &st), 0);
    /* The database holds password records: nobody but its owner may read it. */
    ck_assert_int_eq(st.st_mode & 077, 0);
    free(out);
    free(err);

    ck_assert_int_eq(ctl(&env, NULL, &out, &err, "migrate", NULL), 0);
    snprintf(expect, sizeof(expect), "schema version %d -> %d", latest, latest);
    ck_assert_msg(strstr(out, expect) != NULL, "second migrate printed: %s", out);
    free(out);
    free(err);

    /* Both configured tenants exist, each with its own salt. */
    idd_store_t *store = open_db(&env);
    idd_tenant_t t1, t2;
    int version = 0;
    ck_assert_int_eq(idd_store_schema_version(store, &version), 0);
    ck_assert_int_eq(version, latest);
    ck_assert_int_eq(idd_store_tenant_get(store, 1, &t1), 0);
    ck_assert_int_eq(idd_store_tenant_get(store, 2, &t2), 0);
    ck_assert_str_eq(t1.name, "default");
    ck_assert_str_eq(t2.name, "second");
    ck_assert_uint_gt(strlen(t1.password_salt), 0);
    ck_assert_str_ne(t1.password_salt, t2.password_salt);
    idd_store_free(store);
    th_env_dispose(&env);
}
END_TEST

START_TEST(test_user_add_then_list)
{
    th_env_t env;
    th_env_init(&env, NULL, NULL);
    char *out = NULL, *err = NULL;
    /* No migrate first: user add must prepare a fresh database itself. */
    int rc = ctl(&env, "correct horse\n", &out, &err, "user", "add", "alice@example.com", "--first",
                 "Alice", "--last", "Liddell", "--role", "admin", NULL);
    ck_assert_msg(rc == 0, "user add: %s", err);
    char id[64];
    ck_assert_int_eq(sscanf(out, "%63s", id), 1);
    ck_assert_uint_eq(strlen(id), IDD_GUID_LEN);
    ck_assert_int_eq(id[8], '-');
    free(out);
    free(err);
    ck_assert_int_eq(add_user(&env, "pw-bob\n", NULL, NULL, "bob@example.com", "2"), 0);

    char *listing = must_list(&env, NULL);
    list_row_t row;
    ck_assert_msg(find_row(listing, "alice@example.com", &row), "no alice in: %s", listing);
    ck_assert_str_eq(row.id, id);
    ck_assert_int_eq(row.tenant, 1);
    ck_assert_str_eq(row.name, "Alice Liddell");
    ck_assert_str_eq(row.role, "admin");
    ck_assert_str_eq(row.status, "active");
    ck_assert_msg(find_row(listing, "bob@example.com", &row), "no bob in: %s", listing);
    ck_assert_int_eq(row.tenant, 2);
    ck_assert_str_eq(row.role, "user"); /* the default role */
    ck_assert_int_eq(count_rows(listing), 2);
    free(listing);

    listing = must_list(&env, "2");
    ck_assert(find_row(listing, "bob@example.com", &row));
    ck_assert(!find_row(listing, "alice@example.com", &row));
    free(listing);

    idd_user_t user;
    fetch_user(&env, 1, "alice@example.com", &user);
    ck_assert_str_eq(user.id, id);
    ck_assert_int_eq(user.role, IDD_ROLE_ADMIN);
    ck_assert_str_eq(user.first_name, "Alice");
    ck_assert_int_eq(check_password(&env, 1, "alice@example.com", "correct horse", 13), 0);
    th_env_dispose(&env);
}
END_TEST

START_TEST(test_user_add_duplicate_any_case)
{
    th_env_t env;
    th_env_init(&env, NULL, NULL);
    ck_assert_int_eq(add_user(&env, "pw-one\n", NULL, NULL, "Carol@Example.com", NULL), 0);
    char *out = NULL, *err = NULL;
    ck_assert_int_eq(add_user(&env, "pw-two\n", &out, &err, "carol@example.COM", NULL), 1);
    ck_assert_msg(strstr(err, "identityctl: user carol@example.COM already exists in tenant 1"),
                  "stderr: %s", err);
    ck_assert_str_eq(out, "");
    free(out);
    free(err);
    /* The first password still works: the duplicate did not overwrite anything. */
    ck_assert_int_eq(check_password(&env, 1, "carol@example.com", "pw-one", 6), 0);
    /* The same address is a different user in another tenant. */
    ck_assert_int_eq(add_user(&env, "pw-three\n", NULL, NULL, "carol@example.com", "2"), 0);
    char *listing = must_list(&env, NULL);
    ck_assert_int_eq(count_rows(listing), 2);
    free(listing);
    th_env_dispose(&env);
}
END_TEST

START_TEST(test_user_add_unknown_tenant)
{
    th_env_t env;
    th_env_init(&env, NULL, NULL);
    migrate(&env);
    const char *tenants[] = {"9", "0", "-1", "abc", "1x"};
    for (size_t i = 0; i < IDD_ARRAY_LEN(tenants); i++) {
        char *err = NULL;
        int rc = add_user(&env, "pw\n", NULL, &err, "dave@example.com", tenants[i]);
        ck_assert_msg(rc == 1, "--tenant %s: exit %d, %s", tenants[i], rc, err);
        ck_assert_msg(strstr(err, tenants[i]) != NULL, "--tenant %s: %s", tenants[i], err);
        free(err);
    }
    char *listing = must_list(&env, NULL);
    ck_assert_int_eq(count_rows(listing), 0);
    free(listing);
    th_env_dispose(&env);
}
END_TEST

START_TEST(test_user_add_refuses_bad_fields)
{
    th_env_t env;
    th_env_init(&env, NULL, NULL);
    migrate(&env);
    char long_email[300], long_name[200];
    memset(long_email, 'a', sizeof(long_email));
    memcpy(long_email + 255 - 12, "@example.com", 13); /* 255 bytes */
    memset(long_name, 'n', 129);
    long_name[129] = '\0';
    const char *emails[] = {"no-at-sign",
                            "two@@example.com",
                            "a@b@c",
                            "@example.com",
                            "eve@",
                            "has space@example.com",
                            "tab\t@example.com",
                            "nl@exa\nmple.com",
                            "bad\xff@example.com",
                            "c1\xc2\x9b@example.com",
                            long_email,
                            ""};
    for (size_t i = 0; i < IDD_ARRAY_LEN(emails); i++) {
        char *err = NULL;
        int rc = add_user(&env, "pw\n", NULL, &err, emails[i], NULL);
        ck_assert_msg(rc == 1 || rc == 2, "email #%zu accepted (%d)", i, rc);
        ck_assert_str_ne(err, "");
        free(err);
    }
    struct {
        const char *first, *last, *role;
    } bad[] = {{"", "Last", "user"},
               {"First", "", "user"},
               {long_name, "Last", "user"},
               {"Fi\x01rst", "Last", "user"},
               {"First", "La\x7fst", "user"},
               {"First", "\xc3(", "user"},
               /* C1 controls (here CSI, U+009B) are obeyed by terminals too */
               {"Fi\xc2\x9brst", "Last", "user"},
               {"First", "La\xc2\x85st", "user"},
               {"First", "Last", "root"},
               {"First", "Last", "Admin"}};
    for (size_t i = 0; i < IDD_ARRAY_LEN(bad); i++) {
        int rc = ctl(&env, "pw\n", NULL, NULL, "user", "add", "frank@example.com", "--first",
                     bad[i].first, "--last", bad[i].last, "--role", bad[i].role, NULL);
        ck_assert_msg(rc == 1 || rc == 2, "fields #%zu accepted (%d)", i, rc);
    }
    char *listing = must_list(&env, NULL);
    ck_assert_int_eq(count_rows(listing), 0);
    free(listing);

    /* The limits themselves are allowed: 254-byte address, 128-byte UTF-8 names. */
    memset(long_email, 'a', 254 - 12);
    memcpy(long_email + 254 - 12, "@example.com", 13);
    long_name[128] = '\0';
    ck_assert_int_eq(ctl(&env, "pw\n", NULL, NULL, "user", "add", long_email, "--first", long_name,
                         "--last", "Ünïcødé", "--role", "guest", NULL),
                     0);
    listing = must_list(&env, NULL);
    list_row_t row;
    ck_assert(find_row(listing, long_email, &row));
    ck_assert_str_eq(row.role, "guest");
    free(listing);
    th_env_dispose(&env);
}
END_TEST

START_TEST(test_user_add_password_input)
{
    th_env_t env;
    th_env_init(&env, NULL, NULL);
    migrate(&env);
    char *too_long = malloc(1100), *longest = malloc(1100);
    memset(too_long, 'p', 1025);
    strcpy(too_long + 1025, "\n");
    memset(longest, 'q', 1024);
    strcpy(longest + 1024, "\r\n");
    const char *refused[] = {NULL, "", "\n", "\r\n", too_long};
    for (size_t i = 0; i < IDD_ARRAY_LEN(refused); i++) {
        char *err = NULL;
        int rc = add_user(&env, refused[i], NULL, &err, "gina@example.com", NULL);
        ck_assert_msg(rc == 1, "password #%zu: exit %d", i, rc);
        ck_assert_msg(strstr(err, "password") != NULL, "password #%zu: %s", i, err);
        free(err);
    }
    char *listing = must_list(&env, NULL);
    ck_assert_int_eq(count_rows(listing), 0);
    free(listing);

    /* The line ending is not part of the password, whichever it is, and only the first line
     * is read. */
    ck_assert_int_eq(add_user(&env, longest, NULL, NULL, "long@example.com", NULL), 0);
    longest[1024] = '\0';
    ck_assert_int_eq(check_password(&env, 1, "long@example.com", longest, 1024), 0);
    ck_assert_int_eq(add_user(&env, "crlf-pw\r\n", NULL, NULL, "crlf@example.com", NULL), 0);
    ck_assert_int_eq(check_password(&env, 1, "crlf@example.com", "crlf-pw", 7), 0);
    ck_assert_int_eq(check_password(&env, 1, "crlf@example.com", "crlf-pw\r", 8), IDD_EDENIED);
    ck_assert_int_eq(add_user(&env, "first line\nsecond\n", NULL, NULL, "two@example.com", NULL),
                     0);
    ck_assert_int_eq(check_password(&env, 1, "two@example.com", "first line", 10), 0);
    ck_assert_int_eq(add_user(&env, "no newline", NULL, NULL, "nonl@example.com", NULL), 0);
    ck_assert_int_eq(check_password(&env, 1, "nonl@example.com", "no newline", 10), 0);
    free(too_long);
    free(longest);
    th_env_dispose(&env);
}
END_TEST

START_TEST(test_user_disable_enable)
{
    th_env_t env;
    th_env_init(&env, NULL, NULL);
    ck_assert_int_eq(add_user(&env, "pw\n", NULL, NULL, "hank@example.com", NULL), 0);
    ck_assert_int_eq(add_user(&env, "pw\n", NULL, NULL, "hank@example.com", "2"), 0);
    idd_user_t before, after;
    fetch_user(&env, 1, "hank@example.com", &before);

    char *err = NULL;
    ck_assert_int_eq(ctl(&env, NULL, NULL, &err, "user", "disable", "HANK@example.com", NULL), 0);
    free(err);
    char *listing = must_list(&env, "1");
    list_row_t row;
    ck_assert(find_row(listing, "hank@example.com", &row));
    ck_assert_str_eq(row.status, "disabled");
    free(listing);
    fetch_user(&env, 1, "hank@example.com", &after);
    ck_assert_int_eq(after.status, IDD_USER_DISABLED);
    /* Sessions issued before the change must be recognisable as stale. */
    ck_assert_int_gt(after.auth_version, before.auth_version);
    /* Only the addressed tenant's user changed. */
    fetch_user(&env, 2, "hank@example.com", &after);
    ck_assert_int_eq(after.status, IDD_USER_ACTIVE);

    ck_assert_int_eq(ctl(&env, NULL, NULL, NULL, "user", "enable", "hank@example.com", NULL), 0);
    listing = must_list(&env, "1");
    ck_assert(find_row(listing, "hank@example.com", &row));
    ck_assert_str_eq(row.status, "active");
    free(listing);

    ck_assert_int_eq(
        ctl(&env, NULL, NULL, NULL, "user", "disable", "hank@example.com", "--tenant", "2", NULL),
        0);
    fetch_user(&env, 2, "hank@example.com", &after);
    ck_assert_int_eq(after.status, IDD_USER_DISABLED);
    fetch_user(&env, 1, "hank@example.com", &after);
    ck_assert_int_eq(after.status, IDD_USER_ACTIVE);
    th_env_dispose(&env);
}
END_TEST

START_TEST(test_unknown_user)
{
    th_env_t env;
    th_env_init(&env, NULL, NULL);
    ck_assert_int_eq(add_user(&env, "pw\n", NULL, NULL, "ivy@example.com", NULL), 0);
    const char *cmds[] = {"disable", "enable", "passwd"};
    for (size_t i = 0; i < IDD_ARRAY_LEN(cmds); i++) {
        char *err = NULL;
        int rc = ctl(&env, "new-pw\n", NULL, &err, "user", cmds[i], "ghost@example.com", NULL);
        ck_assert_msg(rc == 1, "%s: exit %d", cmds[i], rc);
        ck_assert_msg(strstr(err, "ghost@example.com") != NULL, "%s: %s", cmds[i], err);
        free(err);
        /* ivy exists in tenant 1 only. */
        rc = ctl(&env, "new-pw\n", NULL, NULL, "user", cmds[i], "ivy@example.com", "--tenant", "2",
                 NULL);
        ck_assert_int_eq(rc, 1);
    }
    ck_assert_int_eq(check_password(&env, 1, "ivy@example.com", "pw", 2), 0);
    th_env_dispose(&env);
}
END_TEST

START_TEST(test_user_passwd)
{
    th_env_t env;
    th_env_init(&env, NULL, NULL);
    ck_assert_int_eq(add_user(&env, "old-password\n", NULL, NULL, "jack@example.com", NULL), 0);
    idd_user_t before, after;
    fetch_user(&env, 1, "jack@example.com", &before);
    ck_assert_int_eq(check_password(&env, 1, "jack@example.com", "old-password", 12), 0);

    /* An empty new password is refused and leaves the old one in place. */
    ck_assert_int_eq(ctl(&env, "\n", NULL, NULL, "user", "passwd", "jack@example.com", NULL), 1);
    ck_assert_int_eq(check_password(&env, 1, "jack@example.com", "old-password", 12), 0);

    char *out = NULL, *err = NULL;
    int rc = ctl(&env, "new-password\n", &out, &err, "user", "passwd", "jack@example.com", NULL);
    ck_assert_msg(rc == 0, "passwd: %s", err);
    ck_assert_ptr_null(strstr(out, "$idd"));
    ck_assert_ptr_null(strstr(out, "new-password"));
    free(out);
    free(err);
    fetch_user(&env, 1, "jack@example.com", &after);
    ck_assert_str_ne(after.password, before.password);
    ck_assert_int_gt(after.auth_version, before.auth_version);
    ck_assert_int_eq(check_password(&env, 1, "jack@example.com", "new-password", 12), 0);
    ck_assert_int_eq(check_password(&env, 1, "jack@example.com", "old-password", 12), IDD_EDENIED);
    th_env_dispose(&env);
}
END_TEST

START_TEST(test_no_secret_in_output)
{
    th_env_t env;
    th_env_init(&env, NULL, NULL);
    const char *secret = "Tr0ub4dor&3-very-secret";
    char line[64], *out = NULL, *err = NULL;
    snprintf(line, sizeof(line), "%s\n", secret);
    ck_assert_int_eq(add_user(&env, line, &out, &err, "kim@example.com", NULL), 0);
    ck_assert_ptr_null(strstr(out, secret));
    ck_assert_ptr_null(strstr(err, secret));
    ck_assert_ptr_null(strstr(out, "$idd"));
    free(out);
    free(err);
    char *listing = must_list(&env, NULL);
    ck_assert_ptr_null(strstr(listing, "$idd"));
    ck_assert_ptr_null(strstr(listing, secret));
    free(listing);
    th_env_dispose(&env);
}
END_TEST

START_TEST(test_key_generate)
{
    th_env_t env;
    th_env_init(&env, NULL, NULL);
    /* key generate needs no configuration, even when the configured one is missing. */
    setenv("IDENTITYD_CONFIG", "/nonexistent/identityd.yaml", 1);
    static const struct {
        const char *alg;
        int type;
        int bits;
    } cases[] = {{"ES256", EVP_PKEY_EC, 256},
                 {"RS256", EVP_PKEY_RSA, 3072},
                 {"EdDSA", EVP_PKEY_ED25519, 256}};
    for (size_t i = 0; i < IDD_ARRAY_LEN(cases); i++) {
        char path[TH_PATH + 32];
        snprintf(path, sizeof(path), "%s/new-%s.pem", env.dir, cases[i].alg);
        char *err = NULL;
        int rc = ctl(NULL, NULL, NULL, &err, "key", "generate", "--alg", cases[i].alg, "--out",
                     path, NULL);
        ck_assert_msg(rc == 0, "%s: %s", cases[i].alg, err);
        free(err);
        struct stat st;
        ck_assert_int_eq(stat(path, &st), 0);
        ck_assert_int_eq(st.st_mode & 0777, 0600);

        char *pem = th_read_file(path);
        ck_assert_ptr_nonnull(strstr(pem, "-----BEGIN PRIVATE KEY-----"));
        FILE *f = fopen(path, "r");
        EVP_PKEY *pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
        fclose(f);
        ck_assert_msg(pkey != NULL, "%s: OpenSSL cannot read the PEM", cases[i].alg);
        ck_assert_int_eq(EVP_PKEY_get_base_id(pkey), cases[i].type);
        ck_assert_int_eq(EVP_PKEY_get_bits(pkey), cases[i].bits);
        if (cases[i].type == EVP_PKEY_EC) {
            char group[64] = "";
            ck_assert_int_eq(EVP_PKEY_get_group_name(pkey, group, sizeof(group), NULL), 1);
            ck_assert_str_eq(group, "prime256v1");
        }
        EVP_PKEY_free(pkey);

        /* An existing key is never overwritten: losing a signing key is not undoable. */
        rc = ctl(NULL, NULL, NULL, &err, "key", "generate", "--alg", cases[i].alg, "--out", path,
                 NULL);
        ck_assert_int_eq(rc, 1);
        ck_assert_str_ne(err, "");
        free(err);
        char *again = th_read_file(path);
        ck_assert_str_eq(again, pem);
        free(again);
        free(pem);
    }
    char path[TH_PATH + 32];
    snprintf(path, sizeof(path), "%s/hs.pem", env.dir);
    ck_assert_int_eq(
        ctl(NULL, NULL, NULL, NULL, "key", "generate", "--alg", "HS256", "--out", path, NULL), 1);
    ck_assert_int_eq(
        ctl(NULL, NULL, NULL, NULL, "key", "generate", "--alg", "es256", "--out", path, NULL), 1);
    ck_assert_int_ne(access(path, F_OK), 0);
    ck_assert_int_eq(ctl(NULL, NULL, NULL, NULL, "key", "generate", "--alg", "ES256", "--out",
                         "/nonexistent-dir/k.pem", NULL),
                     1);
    th_env_dispose(&env);
}
END_TEST

START_TEST(test_bad_config_names_line)
{
    th_env_t env;
    th_env_init(&env, NULL, NULL);
    char *yaml = th_read_file(env.config);
    int lines = 0;
    for (const char *p = yaml; *p != '\0'; p++)
        lines += *p == '\n';
    size_t cap = strlen(yaml) + 64;
    char *bad = malloc(cap);
    snprintf(bad, cap, "%sno_such_key: 1\n", yaml);
    th_write_file(env.config, bad, 0644);

    const char *cmds[][3] = {
        {"migrate", NULL, NULL}, {"user", "list", NULL}, {"token", "verify", NULL}};
    char expect[64];
    snprintf(expect, sizeof(expect), "identityd.yaml:%d:", lines + 1);
    for (size_t i = 0; i < IDD_ARRAY_LEN(cmds); i++) {
        char *err = NULL;
        int rc = ctl(&env, "x\n", NULL, &err, cmds[i][0], cmds[i][1], NULL);
        ck_assert_msg(rc == 1, "%s: exit %d", cmds[i][0], rc);
        ck_assert_msg(strstr(err, expect) != NULL, "%s: expected %s in: %s", cmds[i][0], expect,
                      err);
        free(err);
    }
    /* No database was made (a SQLite file; a PostgreSQL database exists from the start). */
    struct stat st;
    if (!th_store_pg())
        ck_assert_int_ne(stat(env.db, &st), 0);
    free(bad);
    free(yaml);
    th_env_dispose(&env);
}
END_TEST

START_TEST(test_config_path_selection)
{
    th_env_t env;
    th_env_init(&env, NULL, NULL);
    char *err = NULL;
    /* $IDENTITYD_CONFIG is used without -c. */
    setenv("IDENTITYD_CONFIG", env.config, 1);
    ck_assert_int_eq(ctl(NULL, NULL, NULL, &err, "migrate", NULL), 0);
    free(err);
    /* -c wins over the environment. */
    setenv("IDENTITYD_CONFIG", "/nonexistent/identityd.yaml", 1);
    ck_assert_int_eq(ctl(&env, NULL, NULL, &err, "migrate", NULL), 0);
    free(err);
    ck_assert_int_eq(ctl(NULL, NULL, NULL, &err, "migrate", NULL), 1);
    ck_assert_ptr_nonnull(strstr(err, "/nonexistent/identityd.yaml"));
    free(err);

    /* Without either, config/identityd.yaml under the current folder. */
    unsetenv("IDENTITYD_CONFIG");
    ck_assert_int_eq(chdir(env.dir), 0);
    ck_assert_int_eq(ctl(NULL, NULL, NULL, &err, "migrate", NULL), 1);
    ck_assert_ptr_nonnull(strstr(err, "config/identityd.yaml"));
    free(err);
    /* The rest follows the SQLite file's relative path. */
    if (th_store_pg()) {
        fprintf(stderr,
                "SKIP the rest of %s under IDD_TEST_STORE=pg: it checks where the SQLite "
                "file is made\n",
                __func__);
        th_env_dispose(&env);
        return;
    }
    ck_assert_int_eq(mkdir("config", 0700), 0);
    ck_assert_int_eq(symlink("../pepper", "config/pepper"), 0);
    ck_assert_int_eq(symlink("../es256.pem", "config/es256.pem"), 0);
    char *yaml = th_read_file(env.config);
    th_write_file("config/identityd.yaml", yaml, 0644);
    free(yaml);
    char *out = NULL;
    ck_assert_int_eq(ctl(NULL, NULL, &out, &err, "migrate", NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "schema version 0 ->"));
    free(out);
    free(err);
    /* Relative paths in the file are resolved against its own folder. */
    ck_assert_int_eq(access("config/identity.db", F_OK), 0);
    th_env_dispose(&env);
}
END_TEST

START_TEST(test_usage_errors)
{
    th_env_t env;
    th_env_init(&env, NULL, NULL);
    const char *ctl_path = th_ctl();
    const char *const cases[][8] = {
        {ctl_path, NULL},
        {ctl_path, "frobnicate", NULL},
        {ctl_path, "--bogus", "migrate", NULL},
        {ctl_path, "migrate", "--bogus", NULL},
        {ctl_path, "migrate", "extra", NULL},
        {ctl_path, "user", NULL},
        {ctl_path, "user", "remove", "a@b.c", NULL},
        {ctl_path, "user", "add", NULL},
        {ctl_path, "user", "add", "a@b.c", "--first", "A", NULL},
        {ctl_path, "user", "add", "a@b.c", "--first", "A", "--last", NULL},
        {ctl_path, "user", "list", "--role", "admin", NULL},
        {ctl_path, "key", "generate", "--alg", "ES256", NULL},
        {ctl_path, "token", NULL},
        {ctl_path, "-c", NULL},
        {ctl_path, "session", NULL},
        {ctl_path, "session", "kill", "1", NULL},
        {ctl_path, "session", "list", NULL},
        {ctl_path, "session", "revoke", NULL},
        {ctl_path, "session", "revoke", "--all", NULL},
        {ctl_path, "session", "revoke", "1", "2", NULL},
        {ctl_path, "session", "revoke", "--all=a@b.c", NULL},
        {ctl_path, "session", "revoke", "--all", "--all", "a@b.c", NULL},
        {ctl_path, "session", "list", "a@b.c", "--all", NULL},
        {ctl_path, "apikey", NULL},
        {ctl_path, "apikey", "delete", "x", NULL},
        {ctl_path, "apikey", "create", NULL},
        {ctl_path, "apikey", "create", "a@b.c", NULL},
        {ctl_path, "apikey", "create", "a@b.c", "--name", NULL},
        {ctl_path, "apikey", "create", "a@b.c", "--name", "n", "--all", NULL},
        {ctl_path, "apikey", "create", "a@b.c", "b@c.d", "--name", "n", NULL},
        {ctl_path, "apikey", "list", "a@b.c", "b@c.d", NULL},
        {ctl_path, "apikey", "list", "--name", "n", NULL},
        {ctl_path, "apikey", "revoke", NULL},
        {ctl_path, "apikey", "revoke", "id", "--tenant", "1", NULL},
    };
    for (size_t i = 0; i < IDD_ARRAY_LEN(cases); i++) {
        char *out = NULL, *err = NULL;
        int rc = th_run(cases[i], "pw\n", &out, &err);
        ck_assert_msg(rc == 2, "case %zu: exit %d", i, rc);
        ck_assert_msg(strstr(err, "usage:") != NULL, "case %zu: %s", i, err);
        ck_assert_str_eq(out, "");
        free(out);
        free(err);
    }
    const char *helps[][5] = {{ctl_path, "--help", NULL},
                              {ctl_path, "-h", NULL},
                              {ctl_path, "user", "add", "--help", NULL}};
    for (size_t i = 0; i < IDD_ARRAY_LEN(helps); i++) {
        char *out = NULL;
        ck_assert_int_eq(th_run(helps[i], NULL, &out, NULL), 0);
        ck_assert_ptr_nonnull(strstr(out, "usage: identityctl"));
        ck_assert_ptr_nonnull(strstr(out, "token verify"));
        ck_assert_ptr_nonnull(strstr(out, "session revoke --all EMAIL"));
        ck_assert_ptr_nonnull(strstr(out, "apikey create EMAIL --name N"));
        ck_assert_ptr_nonnull(strstr(out, "apikey revoke ID"));
        free(out);
    }
    /* No database was made (a SQLite file; a PostgreSQL database exists from the start). */
    struct stat st;
    if (!th_store_pg())
        ck_assert_int_ne(stat(env.db, &st), 0);
    th_env_dispose(&env);
}
END_TEST

/* Mints a token with env's configured key through the library's signer. */
static char *mint(const th_env_t *env, int64_t iat, int64_t exp)
{
    idd_config_t *cfg = NULL;
    idd_keyring_t *kr = NULL;
    char err[512] = "";
    ck_assert_msg(idd_config_load(env->config, &cfg, err, sizeof(err)) == 0, "%s", err);
    ck_assert_msg(idd_keyring_load(cfg, &kr, err, sizeof(err)) == 0, "%s", err);
    idd_signer_t *signer = idd_signer_new(kr);
    ck_assert_ptr_nonnull(signer);
    idd_claims_t claims = {
        .user_id = "0b7c5e2a-1d3f-4e5a-9b8c-7d6e5f4a3b2c",
        .first_name = "Lena",
        .last_name = "Müller",
        .email = "lena@example.com",
        .tenant_id = 1,
        .tenant_url = "http://localhost",
        .is_admin = true,
        .iat = iat,
        .exp = exp,
    };
    idd_buf_t out;
    idd_buf_init(&out);
    ck_assert_int_eq(idd_signer_mint(signer, &claims, &out), 0);
    char *token = strdup(out.data);
    idd_buf_dispose(&out);
    idd_signer_free(signer);
    idd_keyring_free(kr);
    idd_config_free(cfg);
    return token;
}

static int verify(const th_env_t *env, const char *input, char **out, char **err)
{
    return ctl(env, input, out, err, "token", "verify", NULL);
}

static void expect_rejected(const th_env_t *env, const char *input, const char *what)
{
    char *out = NULL, *err = NULL;
    int rc = verify(env, input, &out, &err);
    ck_assert_msg(rc == 1, "%s: exit %d, stdout %s", what, rc, out);
    ck_assert_msg(strcmp(out, "") == 0, "%s: printed claims: %s", what, out);
    ck_assert_msg(strcmp(err, "") != 0, "%s: no reason given", what);
    free(out);
    free(err);
}

START_TEST(test_token_verify_valid)
{
    th_env_t env;
    th_env_init(&env, NULL, NULL);
    int64_t now = idd_now();
    char *token = mint(&env, now, now + 300);
    char *input = malloc(strlen(token) + 16);
    sprintf(input, "  \n%s \r\n", token);
    char *out = NULL, *err = NULL;
    int rc = verify(&env, input, &out, &err);
    ck_assert_msg(rc == 0, "verify: %s", err);
    json_error_t jerr;
    json_t *doc = json_loads(out, 0, &jerr);
    ck_assert_msg(doc != NULL, "stdout is not JSON (%s): %s", jerr.text, out);
    ck_assert_str_eq(json_string_value(json_object_get(doc, "sub")),
                     "0b7c5e2a-1d3f-4e5a-9b8c-7d6e5f4a3b2c");
    ck_assert_str_eq(json_string_value(json_object_get(doc, "user_email")), "lena@example.com");
    ck_assert_str_eq(json_string_value(json_object_get(doc, "tenant_id")), "1");
    ck_assert_int_eq(json_integer_value(json_object_get(doc, "exp")), now + 300);
    /* Pretty-printed: one claim per line. */
    ck_assert_ptr_nonnull(strstr(out, "\n  \"sub\": "));
    json_decref(doc);
    free(out);
    free(err);
    free(input);
    free(token);
    th_env_dispose(&env);
}
END_TEST

START_TEST(test_token_verify_rejects)
{
    th_env_t env, other;
    th_env_init(&env, NULL, NULL);
    th_env_init(&other, NULL, NULL);
    int64_t now = idd_now();
    char *token = mint(&env, now, now + 300);
    char *dot1 = strchr(token, '.'), *dot2 = strrchr(token, '.');
    ck_assert(dot1 != NULL && dot2 > dot1);

    /* An attacker who edits the claims (here: another user's address) without the key must be
     * refused, both for a flipped byte and for a cleanly re-encoded payload. */
    char *flipped = strdup(token);
    char *c = flipped + (dot1 - token) + (dot2 - dot1) / 2;
    *c = *c == 'A' ? 'B' : 'A';
    expect_rejected(&env, flipped, "payload byte flipped");

    size_t plen = (size_t)(dot2 - dot1 - 1);
    char *payload = malloc(IDD_B64_DECODED_MAX(plen) + 1);
    size_t len = 0;
    ck_assert_int_eq(idd_b64url_decode(payload, &len, dot1 + 1, plen), 0);
    payload[len] = '\0';
    char *at = strstr(payload, "lena@example.com");
    ck_assert_ptr_nonnull(at);
    memcpy(at, "root", 4);
    char *forged = malloc(strlen(token) + 64);
    size_t head = (size_t)(dot1 - token) + 1;
    memcpy(forged, token, head);
    size_t enc = idd_b64url_encode(forged + head, payload, len);
    strcpy(forged + head + enc, dot2);
    expect_rejected(&env, forged, "payload re-encoded");

    char *badsig = strdup(token);
    c = badsig + (dot2 - token) + 5;
    *c = *c == 'A' ? 'B' : 'A';
    expect_rejected(&env, badsig, "signature altered");

    /* Same kid, someone else's key. */
    char *foreign = mint(&other, now, now + 300);
    expect_rejected(&env, foreign, "foreign key");
    char *expired = mint(&env, now - 400, now - 100);
    expect_rejected(&env, expired, "expired");
    expect_rejected(&env, "garbage", "garbage");
    expect_rejected(&env, "a.b.c", "three junk segments");
    expect_rejected(&env, "", "empty input");
    expect_rejected(&env, " \n\t", "whitespace only");
    char *huge = malloc(20 * 1024);
    memset(huge, 'A', 20 * 1024 - 1);
    huge[20 * 1024 - 1] = '\0';
    expect_rejected(&env, huge, "oversized input");

    free(huge);
    free(expired);
    free(foreign);
    free(badsig);
    free(forged);
    free(payload);
    free(flipped);
    free(token);
    th_env_dispose(&other);
    th_env_dispose(&env);
}
END_TEST

/* ---- sessions ---- */

/* Creates a session of email in tenant directly through the library store, as a sign-in
 * would, with a random digest; returns its id. */
static int64_t add_session(const th_env_t *env, int64_t tenant, const char *email, int64_t created,
                           int64_t expires, const char *ip, const char *agent)
{
    idd_store_t *store = open_db(env);
    idd_user_t user;
    idd_session_t session;

    ck_assert_int_eq(idd_store_user_by_email(store, tenant, email, &user), 0);
    memset(&session, 0, sizeof(session));
    session.tenant_id = tenant;
    memcpy(session.user_id, user.id, sizeof(session.user_id));
    ck_assert_int_eq(RAND_bytes(session.digest, sizeof(session.digest)), 1);
    session.created = created;
    session.expires = expires;
    session.last_seen = created;
    snprintf(session.ip, sizeof(session.ip), "%s", ip);
    snprintf(session.user_agent, sizeof(session.user_agent), "%s", agent);
    session.auth_version = user.auth_version;
    ck_assert_int_eq(idd_store_session_create(store, &session), 0);
    idd_store_free(store);
    return session.id;
}

static int session_active(const th_env_t *env, int64_t id)
{
    idd_store_t *store = open_db(env);
    idd_session_t session;
    ck_assert_int_eq(idd_store_session_by_id(store, id, &session), 0);
    idd_store_free(store);
    return session.active;
}

static void end_session(const th_env_t *env, int64_t id)
{
    idd_store_t *store = open_db(env);
    ck_assert_int_eq(idd_store_session_end(store, id), 0);
    idd_store_free(store);
}

/* A row of `session list`, split into its columns. */
typedef struct session_row {
    long long id;
    char created[32];
    char expires[32];
    char last_seen[32];
    char ip[64];
    char agent[300];
} session_row_t;

/* Parses the data rows of a `session list` output into rows (at most cap); returns how
 * many there were. The user agent is the rest of the line after the IP. */
static int parse_sessions(const char *listing, session_row_t *rows, int cap)
{
    const char *line = strchr(listing, '\n'); /* skip the header */
    int n = 0;

    ck_assert_ptr_nonnull(line);
    for (line++; *line != '\0'; n++) {
        const char *eol = strchr(line, '\n');
        ck_assert_ptr_nonnull(eol);
        if (n < cap) {
            session_row_t *r = &rows[n];
            int used = 0;
            memset(r, 0, sizeof(*r));
            ck_assert_int_eq(sscanf(line, "%lld %31s %31s %31s %63s %n", &r->id, r->created,
                                    r->expires, r->last_seen, r->ip, &used),
                             5);
            ck_assert_int_gt(used, 0);
            snprintf(r->agent, sizeof(r->agent), "%.*s", (int)(eol - (line + used)), line + used);
        }
        line = eol + 1;
    }
    return n;
}

static char *must_list_sessions(const th_env_t *env, const char *email, const char *tenant)
{
    char *out = NULL, *err = NULL;
    int rc = tenant != NULL
                 ? ctl(env, NULL, &out, &err, "session", "list", email, "--tenant", tenant, NULL)
                 : ctl(env, NULL, &out, &err, "session", "list", email, NULL);
    ck_assert_msg(rc == 0, "session list %s failed (%d): %s", email, rc, err);
    ck_assert_str_eq(err, "");
    free(err);
    return out;
}

START_TEST(test_session_list)
{
    th_env_t env;
    th_env_init(&env, NULL, NULL);
    ck_assert_int_eq(add_user(&env, "pw\n", NULL, NULL, "alice@example.com", NULL), 0);
    ck_assert_int_eq(add_user(&env, "pw\n", NULL, NULL, "bob@example.com", NULL), 0);
    ck_assert_int_eq(add_user(&env, "pw\n", NULL, NULL, "alice@example.com", "2"), 0);
    ck_assert_int_eq(add_user(&env, "pw\n", NULL, NULL, "carol@example.com", NULL), 0);
    int64_t now = idd_now();
    int64_t oldest = add_session(&env, 1, "alice@example.com", now - 300, now + 3600, "192.0.2.10",
                                 "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0");
    int64_t newest = add_session(&env, 1, "alice@example.com", now - 60, now + 7200, "2001:db8::1",
                                 "curl/8.5.0");
    /* The user agent is whatever the client sent: here terminal escapes that would retitle
     * the administrator's window and clear the screen if printed raw. */
    /* SQLite keeps any bytes; PostgreSQL only well-formed UTF-8, where the C1 CSI is c2 9b. */
    int64_t hostile = add_session(&env, 1, "alice@example.com", now - 120, now + 3600, "",
                                  th_store_pg() ? "evil\x1b]0;pwned\x07\x1b[2J\xc2\x9b"
                                                  "1m"
                                                : "evil\x1b]0;pwned\x07\x1b[2J\x9b"
                                                  "1m");
    int64_t ended =
        add_session(&env, 1, "alice@example.com", now - 30, now + 3600, "192.0.2.11", "ended/1.0");
    int64_t expired = add_session(&env, 1, "alice@example.com", now - 7200, now - 10, "192.0.2.12",
                                  "expired/1.0");
    int64_t bobs =
        add_session(&env, 1, "bob@example.com", now - 10, now + 3600, "192.0.2.13", "bob/1.0");
    int64_t other_tenant =
        add_session(&env, 2, "alice@example.com", now - 10, now + 3600, "192.0.2.14", "t2/1.0");
    end_session(&env, ended);

    char *listing = must_list_sessions(&env, "Alice@Example.com", NULL);
    ck_assert_msg(strncmp(listing, "ID ", 3) == 0, "no header: %s", listing);
    ck_assert_ptr_nonnull(strstr(listing, "LAST SEEN"));
    ck_assert_ptr_null(strchr(listing, '\x1b'));
    ck_assert_ptr_null(strchr(listing, '\x07'));
    ck_assert_ptr_null(strchr(listing, '\x9b'));
    session_row_t rows[8];
    ck_assert_int_eq(parse_sessions(listing, rows, 8), 3);
    /* Newest first; the ended, expired, other users' and other tenants' sessions are not
     * shown. */
    ck_assert_int_eq(rows[0].id, newest);
    ck_assert_int_eq(rows[1].id, hostile);
    ck_assert_int_eq(rows[2].id, oldest);
    char when[21];
    idd_format_iso8601(now - 300, when);
    ck_assert_str_eq(rows[2].created, when);
    ck_assert_str_eq(rows[2].last_seen, when);
    idd_format_iso8601(now + 3600, when);
    ck_assert_str_eq(rows[2].expires, when);
    ck_assert_str_eq(rows[2].ip, "192.0.2.10");
    ck_assert_str_eq(rows[2].agent, "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0");
    ck_assert_str_eq(rows[0].ip, "2001:db8::1");
    ck_assert_str_eq(rows[0].agent, "curl/8.5.0");
    ck_assert_str_eq(rows[1].ip, "-");
    /* Every byte outside printable ASCII is a '?': the two of the C1 character too. */
    ck_assert_str_eq(rows[1].agent,
                     th_store_pg() ? "evil?]0;pwned??[2J??1m" : "evil?]0;pwned??[2J?1m");
    (void)expired;
    (void)bobs;
    free(listing);

    listing = must_list_sessions(&env, "alice@example.com", "2");
    ck_assert_int_eq(parse_sessions(listing, rows, 8), 1);
    ck_assert_int_eq(rows[0].id, other_tenant);
    free(listing);

    /* A user without sessions gets the header alone. */
    listing = must_list_sessions(&env, "carol@example.com", NULL);
    ck_assert_int_eq(count_rows(listing), 0);
    free(listing);

    char *out = NULL, *err = NULL;
    ck_assert_int_eq(ctl(&env, NULL, &out, &err, "session", "list", "ghost@example.com", NULL), 1);
    ck_assert_msg(strstr(err, "ghost@example.com") != NULL, "stderr: %s", err);
    ck_assert_str_eq(out, "");
    free(out);
    free(err);
    ck_assert_int_eq(
        ctl(&env, NULL, NULL, NULL, "session", "list", "carol@example.com", "--tenant", "2", NULL),
        1);
    th_env_dispose(&env);
}
END_TEST

START_TEST(test_session_revoke)
{
    th_env_t env;
    th_env_init(&env, NULL, NULL);
    ck_assert_int_eq(add_user(&env, "pw\n", NULL, NULL, "alice@example.com", NULL), 0);
    ck_assert_int_eq(add_user(&env, "pw\n", NULL, NULL, "bob@example.com", NULL), 0);
    int64_t now = idd_now();
    int64_t a[3];
    for (int i = 0; i < 3; i++)
        a[i] = add_session(&env, 1, "alice@example.com", now - 100 + i, now + 3600, "192.0.2.1",
                           "test/1.0");
    int64_t b = add_session(&env, 1, "bob@example.com", now, now + 3600, "192.0.2.2", "test/1.0");
    char id[32], *out = NULL, *err = NULL, expect[96];

    /* One session, by the id `session list` shows. */
    snprintf(id, sizeof(id), "%lld", (long long)a[0]);
    ck_assert_int_eq(ctl(&env, NULL, &out, &err, "session", "revoke", id, NULL), 0);
    snprintf(expect, sizeof(expect), "revoked session %s\n", id);
    ck_assert_str_eq(out, expect);
    free(out);
    free(err);
    ck_assert_int_eq(session_active(&env, a[0]), 0);
    ck_assert_int_eq(session_active(&env, a[1]), 1);
    ck_assert_int_eq(session_active(&env, a[2]), 1);
    ck_assert_int_eq(session_active(&env, b), 1);
    char *listing = must_list_sessions(&env, "alice@example.com", NULL);
    ck_assert_int_eq(count_rows(listing), 2);
    free(listing);

    /* Revoking it again changes nothing and says so. */
    ck_assert_int_eq(ctl(&env, NULL, &out, &err, "session", "revoke", id, NULL), 0);
    ck_assert_msg(strstr(out, "already ended") != NULL, "stdout: %s", out);
    free(out);
    free(err);

    /* Unknown and malformed ids fail without touching anything. */
    ck_assert_int_eq(ctl(&env, NULL, &out, &err, "session", "revoke", "999999", NULL), 1);
    ck_assert_msg(strstr(err, "no session 999999") != NULL, "stderr: %s", err);
    ck_assert_str_eq(out, "");
    free(out);
    free(err);
    const char *bad_ids[] = {"abc", "0", "12x", "99999999999999999999999"};
    for (size_t i = 0; i < IDD_ARRAY_LEN(bad_ids); i++) {
        ck_assert_int_eq(ctl(&env, NULL, NULL, &err, "session", "revoke", bad_ids[i], NULL), 1);
        ck_assert_msg(strstr(err, bad_ids[i]) != NULL, "%s: %s", bad_ids[i], err);
        free(err);
    }
    /* --tenant belongs to --all EMAIL; with an id it is refused rather than ignored. */
    snprintf(id, sizeof(id), "%lld", (long long)a[1]);
    ck_assert_int_eq(ctl(&env, NULL, NULL, NULL, "session", "revoke", id, "--tenant", "1", NULL),
                     1);
    ck_assert_int_eq(session_active(&env, a[1]), 1);

    /* Everything else of the user, and only of that user. */
    ck_assert_int_eq(
        ctl(&env, NULL, &out, &err, "session", "revoke", "--all", "ALICE@example.com", NULL), 0);
    ck_assert_str_eq(out, "revoked 2 sessions of alice@example.com\n");
    free(out);
    free(err);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(session_active(&env, a[i]), 0);
    ck_assert_int_eq(session_active(&env, b), 1);
    listing = must_list_sessions(&env, "alice@example.com", NULL);
    ck_assert_int_eq(count_rows(listing), 0);
    free(listing);

    ck_assert_int_eq(
        ctl(&env, NULL, &out, &err, "session", "revoke", "alice@example.com", "--all", NULL), 0);
    ck_assert_str_eq(out, "revoked 0 sessions of alice@example.com\n");
    free(out);
    free(err);
    ck_assert_int_eq(ctl(&env, NULL, &out, &err, "session", "revoke", "--all", "bob@example.com",
                         "--tenant", "1", NULL),
                     0);
    ck_assert_str_eq(out, "revoked 1 session of bob@example.com\n");
    free(out);
    free(err);
    ck_assert_int_eq(session_active(&env, b), 0);

    /* Unknown users, including a known address in a tenant where it does not exist. */
    ck_assert_int_eq(
        ctl(&env, NULL, &out, &err, "session", "revoke", "--all", "ghost@example.com", NULL), 1);
    ck_assert_msg(strstr(err, "ghost@example.com") != NULL, "stderr: %s", err);
    ck_assert_str_eq(out, "");
    free(out);
    free(err);
    ck_assert_int_eq(ctl(&env, NULL, NULL, NULL, "session", "revoke", "--all", "bob@example.com",
                         "--tenant", "2", NULL),
                     1);
    th_env_dispose(&env);
}
END_TEST

START_TEST(test_user_list_pwchange)
{
    th_env_t env;
    th_env_init(&env, NULL, NULL);
    ck_assert_int_eq(add_user(&env, "old-pw\n", NULL, NULL, "alice@example.com", NULL), 0);
    ck_assert_int_eq(add_user(&env, "pw\n", NULL, NULL, "bob@example.com", NULL), 0);
    int64_t now = idd_now();
    int64_t session =
        add_session(&env, 1, "alice@example.com", now, now + 3600, "192.0.2.1", "test/1.0");
    idd_user_t alice;
    fetch_user(&env, 1, "alice@example.com", &alice);
    idd_store_t *store = open_db(&env);
    ck_assert_int_eq(idd_store_user_set_password_change(store, alice.id, 1), 0);
    idd_store_free(store);

    char *listing = must_list(&env, NULL);
    list_row_t row;
    ck_assert_ptr_nonnull(strstr(listing, "FLAGS"));
    ck_assert(find_row(listing, "alice@example.com", &row));
    ck_assert_str_eq(row.status, "active");
    ck_assert_int_eq(row.pwchange, 1);
    ck_assert(find_row(listing, "bob@example.com", &row));
    ck_assert_str_eq(row.status, "active");
    ck_assert_int_eq(row.pwchange, 0);
    free(listing);

    /* Setting the password meets the demand, and ends the sessions made with the old one. */
    ck_assert_int_eq(ctl(&env, "new-pw\n", NULL, NULL, "user", "passwd", "alice@example.com", NULL),
                     0);
    listing = must_list(&env, NULL);
    ck_assert(find_row(listing, "alice@example.com", &row));
    ck_assert_int_eq(row.pwchange, 0);
    ck_assert_ptr_null(strstr(listing, "pwchange"));
    free(listing);
    ck_assert_int_eq(session_active(&env, session), 0);

    /* Disabling a user ends that user's sessions too. */
    int64_t bobs = add_session(&env, 1, "bob@example.com", now, now + 3600, "192.0.2.2", "t/1");
    ck_assert_int_eq(ctl(&env, NULL, NULL, NULL, "user", "disable", "bob@example.com", NULL), 0);
    ck_assert_int_eq(session_active(&env, bobs), 0);
    th_env_dispose(&env);
}
END_TEST

/* ---- API keys ---- */

/* Runs `apikey create EMAIL --name NAME` with the options that are not NULL. */
static int create_key(const th_env_t *env, const char *email, const char *name,
                      const char *permissions, const char *days, const char *tenant, char **out,
                      char **err)
{
    const char *argv[20];
    size_t n = 0;
    argv[n++] = th_ctl();
    argv[n++] = "-c";
    argv[n++] = env->config;
    argv[n++] = "apikey";
    argv[n++] = "create";
    argv[n++] = email;
    argv[n++] = "--name";
    argv[n++] = name;
    if (permissions != NULL) {
        argv[n++] = "--permissions";
        argv[n++] = permissions;
    }
    if (days != NULL) {
        argv[n++] = "--expires-days";
        argv[n++] = days;
    }
    if (tenant != NULL) {
        argv[n++] = "--tenant";
        argv[n++] = tenant;
    }
    argv[n] = NULL;
    char *o = NULL, *e = NULL;
    int rc = th_run(argv, NULL, &o, &e);
    if (out != NULL)
        *out = o;
    else
        free(o);
    if (err != NULL)
        *err = e;
    else
        free(e);
    return rc;
}

/* Creates a key that must succeed and returns it (malloc'd, without the newline), after
 * checking that stdout held it alone. */
static char *must_create_key(const th_env_t *env, const char *email, const char *name,
                             const char *permissions, const char *days, const char *tenant)
{
    char *out = NULL, *err = NULL;
    int rc = create_key(env, email, name, permissions, days, tenant, &out, &err);
    ck_assert_msg(rc == 0, "apikey create %s: exit %d: %s", email, rc, err);
    size_t len = strlen(out);
    ck_assert_msg(len == IDD_APIKEY_LEN + 1 && out[IDD_APIKEY_LEN] == '\n',
                  "stdout is not one key line: \"%s\"", out);
    out[IDD_APIKEY_LEN] = '\0';
    ck_assert_msg(idd_apikey_well_formed(out, IDD_APIKEY_LEN), "not a key: %s", out);
    free(err);
    return out;
}

/* The digest the store must hold for key: computed here from the pepper the harness wrote,
 * not by asking identityctl. */
static void test_key_digest(const char *pepper_text, const char *key,
                            unsigned char out[IDD_SESSION_DIGEST_LEN])
{
    idd_pepper_t pepper;
    memset(&pepper, 0, sizeof(pepper));
    pepper.len = strlen(pepper_text);
    memcpy(pepper.bytes, pepper_text, pepper.len);
    ck_assert_int_eq(idd_apikey_digest(&pepper, key, strlen(key), out), 0);
}

/* The stored record of key, found by its digest; returns the store's answer. */
static int stored_key(const th_env_t *env, const char *key, idd_apikey_t *record)
{
    unsigned char digest[IDD_SESSION_DIGEST_LEN];
    test_key_digest(TEST_PEPPER, key, digest);
    idd_store_t *store = open_db(env);
    int rc = idd_store_apikey_by_digest(store, digest, record);
    idd_store_free(store);
    return rc;
}

static int count_key(const idd_apikey_t *key, void *arg)
{
    (void)key;
    (*(int *)arg)++;
    return 0;
}

/* Counts the API keys of a tenant in the database. */
static int count_keys(const th_env_t *env, int64_t tenant)
{
    idd_store_t *store = open_db(env);
    int count = 0;
    ck_assert_int_eq(idd_store_apikey_list(store, tenant, NULL, count_key, &count), 0);
    idd_store_free(store);
    return count;
}

/* Whether the bytes of needle appear anywhere in the file at path (absent files hold
 * nothing). */
static int file_contains(const char *path, const char *needle)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return 0;
    size_t cap = 1 << 16, len = 0, n;
    char *data = malloc(cap);
    while ((n = fread(data + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap) {
            cap *= 2;
            data = realloc(data, cap);
        }
    }
    fclose(f);
    int found = memmem(data, len, needle, strlen(needle)) != NULL;
    free(data);
    return found;
}

START_TEST(test_apikey_create)
{
    th_env_t env;
    th_env_init(&env, NULL, NULL);
    ck_assert_int_eq(add_user(&env, "pw\n", NULL, NULL, "alice@example.com", NULL), 0);
    ck_assert_int_eq(add_user(&env, "pw\n", NULL, NULL, "bob@example.com", "2"), 0);
    idd_user_t alice, bob;
    fetch_user(&env, 1, "alice@example.com", &alice);
    fetch_user(&env, 2, "bob@example.com", &bob);

    /* The key goes to stdout alone, so that a script can capture it; the note that it is
     * shown once goes to stderr and names it only by its last four characters. */
    char *out = NULL, *err = NULL;
    int64_t before = idd_now();
    int rc = create_key(&env, "Alice@Example.com", "CI pipeline",
                        "files:read, accounts:write,files:read", "30", NULL, &out, &err);
    int64_t after = idd_now();
    ck_assert_msg(rc == 0, "apikey create: %s", err);
    ck_assert_uint_eq(strlen(out), IDD_APIKEY_LEN + 1);
    ck_assert_int_eq(out[IDD_APIKEY_LEN], '\n');
    out[IDD_APIKEY_LEN] = '\0';
    ck_assert_msg(idd_apikey_well_formed(out, IDD_APIKEY_LEN), "not a key: %s", out);
    char masked[16];
    snprintf(masked, sizeof(masked), "sk-***%s", out + IDD_APIKEY_LEN - 4);
    ck_assert_msg(strstr(err, "once") != NULL, "no shown-once note: %s", err);
    ck_assert_msg(strstr(err, masked) != NULL, "stderr does not name %s: %s", masked, err);
    ck_assert_ptr_null(strstr(err, out + 3));

    /* The store holds the digest under the configured pepper, and what the command line
     * asked for: duplicates collapsed in the order given, 30 days from now. */
    idd_apikey_t k;
    ck_assert_int_eq(stored_key(&env, out, &k), 0);
    ck_assert_int_eq(k.tenant_id, 1);
    ck_assert_str_eq(k.created_by, alice.id);
    ck_assert_str_eq(k.name, "CI pipeline");
    ck_assert_str_eq(k.postfix, out + IDD_APIKEY_LEN - 4);
    ck_assert_str_eq(k.permissions, "files:read accounts:write");
    ck_assert_int_ge(k.created, before);
    ck_assert_int_le(k.created, after);
    ck_assert_int_eq(k.expires, k.created + 30 * 86400);
    ck_assert_int_eq(k.last_used, 0);
    ck_assert_int_eq(k.active, 1);
    ck_assert_msg(strstr(err, k.id) != NULL, "stderr does not give the id: %s", err);

    /* The digest is keyed: under another pepper the key finds nothing, so the store did not
     * keep a plain hash anyone could compute. */
    unsigned char digest[IDD_SESSION_DIGEST_LEN];
    idd_apikey_t none;
    test_key_digest("another-pepper-of-at-least-32-bytes!!", out, digest);
    idd_store_t *store = open_db(&env);
    ck_assert_int_eq(idd_store_apikey_by_digest(store, digest, &none), IDD_ENOTFOUND);
    idd_store_free(store);

    /* The key itself is nowhere in the database files. */
    /* (A SQLite file's bytes; under PostgreSQL the store's lookup above is the check.) */
    char path[TH_PATH + 8];
    if (!th_store_pg()) {
        ck_assert(!file_contains(env.db, out));
        ck_assert(!file_contains(env.db, out + 3));
        snprintf(path, sizeof(path), "%s-wal", env.db);
        ck_assert(!file_contains(path, out + 3));
    }

    /* Without options: full access that never expires; every key is new. */
    char *plain = must_create_key(&env, "alice@example.com", "Ünïcødé ключ", NULL, NULL, NULL);
    ck_assert_str_ne(plain, out);
    ck_assert_int_eq(stored_key(&env, plain, &k), 0);
    ck_assert_str_eq(k.name, "Ünïcødé ключ");
    ck_assert_str_eq(k.permissions, "");
    ck_assert_int_eq(k.expires, 0);
    ck_assert_str_eq(k.created_by, alice.id);

    /* --tenant finds the user there, and the key belongs to that tenant. */
    char *bobs = must_create_key(&env, "bob@example.com", "b", "*", "1", "2");
    ck_assert_int_eq(stored_key(&env, bobs, &k), 0);
    ck_assert_int_eq(k.tenant_id, 2);
    ck_assert_str_eq(k.created_by, bob.id);
    ck_assert_str_eq(k.permissions, "*");
    ck_assert_int_eq(k.expires, k.created + 86400);
    ck_assert_int_eq(count_keys(&env, 1), 2);
    ck_assert_int_eq(count_keys(&env, 2), 1);

    /* The limits themselves are allowed: 30 characters of four bytes, 365 days. */
    char *longest = must_create_key(&env, "alice@example.com", "🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑",
                                    NULL, "365", NULL);
    ck_assert_int_eq(stored_key(&env, longest, &k), 0);
    ck_assert_uint_eq(strlen(k.name), 120);
    ck_assert_int_eq(k.expires, k.created + 365 * 86400);

    free(longest);
    free(bobs);
    free(plain);
    free(out);
    free(err);
    th_env_dispose(&env);
}
END_TEST

START_TEST(test_apikey_create_refuses)
{
    th_env_t env;
    th_env_init(&env, NULL, NULL);
    ck_assert_int_eq(add_user(&env, "pw\n", NULL, NULL, "alice@example.com", NULL), 0);
    ck_assert_int_eq(ctl(&env, "pw\n", NULL, NULL, "user", "add", "gus@example.com", "--first",
                         "Gus", "--last", "Guest", "--role", "guest", NULL),
                     0);
    ck_assert_int_eq(add_user(&env, "pw\n", NULL, NULL, "dora@example.com", NULL), 0);
    ck_assert_int_eq(ctl(&env, NULL, NULL, NULL, "user", "disable", "dora@example.com", NULL), 0);
    static const struct {
        const char *email, *name, *permissions, *days, *tenant;
        const char *says; /* what stderr must mention */
    } bad[] = {
        {"alice@example.com", "", NULL, NULL, NULL, "name must be 1 to 30 characters"},
        {"alice@example.com", "   ", NULL, NULL, NULL, "name must not be blank"},
        /* No-break and ideographic spaces are blank too. */
        {"alice@example.com", "\xc2\xa0\xe3\x80\x80", NULL, NULL, NULL, "name must not be blank"},
        {"alice@example.com", "1234567890123456789012345678901", NULL, NULL, NULL,
         "name must be 1 to 30 characters"},
        {"alice@example.com", "ééééééééééééééééééééééééééééééé", NULL, NULL, NULL,
         "name must be 1 to 30 characters"},
        {"alice@example.com", "tab\tname", NULL, NULL, NULL,
         "name must not contain control characters"},
        {"alice@example.com", "bell\x07", NULL, NULL, NULL,
         "name must not contain control characters"},
        {"alice@example.com", "del\x7f", NULL, NULL, NULL,
         "name must not contain control characters"},
        {"alice@example.com",
         "csi\xc2\x9b"
         "2J",
         NULL, NULL, NULL, "name must not contain control characters"},
        {"alice@example.com", "bad\xff", NULL, NULL, NULL, "name must be UTF-8 text"},
        {"alice@example.com", "overlong\xc0\xaf", NULL, NULL, NULL, "name must be UTF-8 text"},
        {"alice@example.com", "k", "files:nope", NULL, NULL, "unknown permission \"files:nope\""},
        {"alice@example.com", "k", "FILES:READ", NULL, NULL, "unknown permission \"FILES:READ\""},
        {"alice@example.com", "k", "files", NULL, NULL, "unknown permission \"files\""},
        {"alice@example.com", "k", "files:read,,rooms:read", NULL, NULL, "empty"},
        {"alice@example.com", "k", "", NULL, NULL, "empty"},
        {"alice@example.com", "k", "files:read,", NULL, NULL, "empty"},
        {"alice@example.com", "k", NULL, "0", NULL, "expiry must be 1 to 365 days"},
        {"alice@example.com", "k", NULL, "366", NULL, "expiry must be 1 to 365 days"},
        {"alice@example.com", "k", NULL, "-1", NULL, "expiry must be 1 to 365 days"},
        {"alice@example.com", "k", NULL, "30x", NULL, "expires-days"},
        {"alice@example.com", "k", NULL, "", NULL, "expires-days"},
        /* Past what strtoll holds: still a number of days out of range. */
        {"alice@example.com", "k", NULL, "99999999999999999999", NULL,
         "expiry must be 1 to 365 days"},
        {"ghost@example.com", "k", NULL, NULL, NULL, "ghost@example.com"},
        {"alice@example.com", "k", NULL, NULL, "2", "alice@example.com"},
        {"alice@example.com", "k", NULL, NULL, "9", "9"},
        {"not-an-address", "k", NULL, NULL, NULL, "email"},
        /* DocSpace gives guests no keys; a disabled user's key would wake with the user. */
        {"gus@example.com", "k", NULL, NULL, NULL, "guest"},
        {"dora@example.com", "k", NULL, NULL, NULL, "disabled"},
    };
    for (size_t i = 0; i < IDD_ARRAY_LEN(bad); i++) {
        char *out = NULL, *err = NULL;
        int rc = create_key(&env, bad[i].email, bad[i].name, bad[i].permissions, bad[i].days,
                            bad[i].tenant, &out, &err);
        ck_assert_msg(rc == 1, "case %zu: exit %d, stdout %s", i, rc, out);
        ck_assert_msg(strcmp(out, "") == 0, "case %zu printed: %s", i, out);
        ck_assert_msg(strstr(err, bad[i].says) != NULL, "case %zu: no \"%s\" in: %s", i,
                      bad[i].says, err);
        free(out);
        free(err);
    }
    ck_assert_int_eq(count_keys(&env, 1), 0);
    ck_assert_int_eq(count_keys(&env, 2), 0);
    th_env_dispose(&env);
}
END_TEST

/* A row of `apikey list`, split into its columns. */
typedef struct key_row {
    char id[64];
    char owner[300];
    char name[300];
    char key[32];
    char permissions[300];
    char created[32];
    char expires[32];
    char last_used[32];
    char active[8];
} key_row_t;

/* Parses the data rows of an `apikey list` output into rows (at most cap); returns how
 * many there were. The name is everything between the owner and the masked key, its words
 * joined by one space. */
static int parse_keys(const char *listing, key_row_t *rows, int cap)
{
    const char *line = strchr(listing, '\n');
    int n = 0;

    ck_assert_ptr_nonnull(line);
    ck_assert_msg(strncmp(listing, "ID ", 3) == 0, "no header: %s", listing);
    for (line++; *line != '\0'; n++) {
        const char *eol = strchr(line, '\n');
        ck_assert_ptr_nonnull(eol);
        if (n < cap) {
            char *copy = strndup(line, (size_t)(eol - line));
            char *words[32];
            size_t w = 0;
            for (char *save = NULL, *t = strtok_r(copy, " ", &save); t != NULL && w < 32;
                 t = strtok_r(NULL, " ", &save))
                words[w++] = t;
            ck_assert_uint_ge(w, 9);
            key_row_t *r = &rows[n];
            memset(r, 0, sizeof(*r));
            snprintf(r->id, sizeof(r->id), "%s", words[0]);
            snprintf(r->owner, sizeof(r->owner), "%s", words[1]);
            for (size_t i = 2; i + 6 < w; i++) {
                size_t used = strlen(r->name);
                snprintf(r->name + used, sizeof(r->name) - used, "%s%s", i > 2 ? " " : "",
                         words[i]);
            }
            snprintf(r->key, sizeof(r->key), "%s", words[w - 6]);
            snprintf(r->permissions, sizeof(r->permissions), "%s", words[w - 5]);
            snprintf(r->created, sizeof(r->created), "%s", words[w - 4]);
            snprintf(r->expires, sizeof(r->expires), "%s", words[w - 3]);
            snprintf(r->last_used, sizeof(r->last_used), "%s", words[w - 2]);
            snprintf(r->active, sizeof(r->active), "%s", words[w - 1]);
            free(copy);
        }
        line = eol + 1;
    }
    return n;
}

/* The row of id among rows, or NULL. */
static const key_row_t *find_key(const key_row_t *rows, int n, const char *id)
{
    for (int i = 0; i < n; i++)
        if (strcmp(rows[i].id, id) == 0)
            return &rows[i];
    return NULL;
}

/* Runs `apikey list` with the arguments that are not NULL; it must succeed quietly. */
static char *must_list_keys(const th_env_t *env, const char *email, const char *tenant)
{
    const char *argv[10];
    size_t n = 0;
    argv[n++] = th_ctl();
    argv[n++] = "-c";
    argv[n++] = env->config;
    argv[n++] = "apikey";
    argv[n++] = "list";
    if (email != NULL)
        argv[n++] = email;
    if (tenant != NULL) {
        argv[n++] = "--tenant";
        argv[n++] = tenant;
    }
    argv[n] = NULL;
    char *out = NULL, *err = NULL;
    int rc = th_run(argv, NULL, &out, &err);
    ck_assert_msg(rc == 0, "apikey list failed (%d): %s", rc, err);
    ck_assert_str_eq(err, "");
    free(err);
    return out;
}

START_TEST(test_apikey_list)
{
    th_env_t env;
    th_env_init(&env, NULL, NULL);
    ck_assert_int_eq(add_user(&env, "pw\n", NULL, NULL, "alice@example.com", NULL), 0);
    ck_assert_int_eq(add_user(&env, "pw\n", NULL, NULL, "bob@example.com", NULL), 0);
    ck_assert_int_eq(add_user(&env, "pw\n", NULL, NULL, "carol@example.com", "2"), 0);
    char *a1 = must_create_key(&env, "alice@example.com", "deploy bot", "files:read,accounts:write",
                               "7", NULL);
    char *a2 = must_create_key(&env, "alice@example.com", "full", NULL, NULL, NULL);
    char *b1 = must_create_key(&env, "bob@example.com", "Bob's", "rooms:read", NULL, NULL);
    char *c1 = must_create_key(&env, "carol@example.com", "carol", NULL, NULL, "2");
    idd_apikey_t ka1, ka2, kb1, kc1;
    ck_assert_int_eq(stored_key(&env, a1, &ka1), 0);
    ck_assert_int_eq(stored_key(&env, a2, &ka2), 0);
    ck_assert_int_eq(stored_key(&env, b1, &kb1), 0);
    ck_assert_int_eq(stored_key(&env, c1, &kc1), 0);

    /* A use recorded by the server shows in the listing. */
    int64_t used = idd_now() - 60;
    char ids[1][IDD_GUID_LEN + 1];
    memcpy(ids[0], ka2.id, sizeof(ids[0]));
    idd_store_t *store = open_db(&env);
    ck_assert_int_eq(idd_store_apikey_touch(store, (const char(*)[IDD_GUID_LEN + 1]) ids, &used, 1),
                     0);
    idd_store_free(store);

    /* The default tenant's keys, each with its owner and shown by its last four characters
     * only: the full key is never printed again. */
    char *listing = must_list_keys(&env, NULL, NULL);
    const char *keys[] = {a1, a2, b1, c1};
    for (size_t i = 0; i < IDD_ARRAY_LEN(keys); i++) {
        ck_assert_msg(strstr(listing, keys[i] + 3) == NULL, "key %zu printed: %s", i, listing);
        ck_assert_ptr_null(strstr(listing, keys[i] + 3 + 32));
    }
    ck_assert_ptr_nonnull(strstr(listing, "LAST USED"));
    key_row_t rows[8];
    ck_assert_int_eq(parse_keys(listing, rows, 8), 3);
    const key_row_t *r = find_key(rows, 3, ka1.id);
    ck_assert_ptr_nonnull(r);
    char expect[64];
    snprintf(expect, sizeof(expect), "sk-***%s", a1 + IDD_APIKEY_LEN - 4);
    ck_assert_str_eq(r->key, expect);
    ck_assert_str_eq(r->owner, "alice@example.com");
    ck_assert_str_eq(r->name, "deploy bot");
    ck_assert_str_eq(r->permissions, "files:read,accounts:write");
    char when[21];
    idd_format_iso8601(ka1.created, when);
    ck_assert_str_eq(r->created, when);
    idd_format_iso8601(ka1.expires, when);
    ck_assert_str_eq(r->expires, when);
    ck_assert_str_eq(r->last_used, "never");
    ck_assert_str_eq(r->active, "yes");
    r = find_key(rows, 3, ka2.id);
    ck_assert_ptr_nonnull(r);
    ck_assert_str_eq(r->permissions, "*");
    ck_assert_str_eq(r->expires, "never");
    idd_format_iso8601(used, when);
    ck_assert_str_eq(r->last_used, when);
    r = find_key(rows, 3, kb1.id);
    ck_assert_ptr_nonnull(r);
    ck_assert_str_eq(r->owner, "bob@example.com");
    ck_assert_str_eq(r->name, "Bob's");
    snprintf(expect, sizeof(expect), "sk-***%s", b1 + IDD_APIKEY_LEN - 4);
    ck_assert_str_eq(r->key, expect);
    ck_assert_ptr_null(find_key(rows, 3, kc1.id));
    free(listing);

    /* One user's keys, and another tenant's. */
    listing = must_list_keys(&env, "ALICE@example.com", NULL);
    ck_assert_int_eq(parse_keys(listing, rows, 8), 2);
    ck_assert_ptr_nonnull(find_key(rows, 2, ka1.id));
    ck_assert_ptr_nonnull(find_key(rows, 2, ka2.id));
    free(listing);
    listing = must_list_keys(&env, NULL, "2");
    ck_assert_int_eq(parse_keys(listing, rows, 8), 1);
    ck_assert_str_eq(rows[0].id, kc1.id);
    ck_assert_str_eq(rows[0].owner, "carol@example.com");
    free(listing);
    listing = must_list_keys(&env, "carol@example.com", "2");
    ck_assert_int_eq(parse_keys(listing, rows, 8), 1);
    free(listing);

    /* A name made through the API is whatever the client sent: here terminal escapes that
     * would retitle the administrator's window and clear the screen if printed raw. */
    store = open_db(&env);
    ck_assert_int_eq(idd_store_apikey_update(store, kb1.id,
                                             "evil\x1b]0;pwned\x07\x1b[2J\xc2\x9b"
                                             "1m",
                                             NULL),
                     0);
    idd_store_free(store);
    listing = must_list_keys(&env, "bob@example.com", NULL);
    ck_assert_ptr_null(strchr(listing, '\x1b'));
    ck_assert_ptr_null(strchr(listing, '\x07'));
    ck_assert_ptr_null(strstr(listing, "\xc2\x9b"));
    ck_assert_int_eq(parse_keys(listing, rows, 8), 1);
    ck_assert_str_eq(rows[0].name, "evil?]0;pwned??[2J?1m");
    free(listing);

    /* Unknown users fail; a user without keys gets the header alone. */
    char *out = NULL, *err = NULL;
    ck_assert_int_eq(ctl(&env, NULL, &out, &err, "apikey", "list", "ghost@example.com", NULL), 1);
    ck_assert_msg(strstr(err, "ghost@example.com") != NULL, "stderr: %s", err);
    ck_assert_str_eq(out, "");
    free(out);
    free(err);
    ck_assert_int_eq(add_user(&env, "pw\n", NULL, NULL, "dan@example.com", NULL), 0);
    listing = must_list_keys(&env, "dan@example.com", NULL);
    ck_assert_int_eq(count_rows(listing), 0);
    free(listing);

    free(a1);
    free(a2);
    free(b1);
    free(c1);
    th_env_dispose(&env);
}
END_TEST

START_TEST(test_apikey_revoke)
{
    th_env_t env;
    th_env_init(&env, NULL, NULL);
    ck_assert_int_eq(add_user(&env, "pw\n", NULL, NULL, "alice@example.com", NULL), 0);
    char *key = must_create_key(&env, "alice@example.com", "doomed", NULL, NULL, NULL);
    char *other = must_create_key(&env, "alice@example.com", "spared", NULL, NULL, NULL);
    idd_apikey_t k, o;
    ck_assert_int_eq(stored_key(&env, key, &k), 0);
    ck_assert_int_eq(stored_key(&env, other, &o), 0);
    char *out = NULL, *err = NULL, expect[128];

    /* Revoking keeps the row, inactive, so the key is recognised as revoked if it comes
     * back; the other key is untouched. */
    ck_assert_int_eq(ctl(&env, NULL, &out, &err, "apikey", "revoke", k.id, NULL), 0);
    snprintf(expect, sizeof(expect), "revoked API key %s (sk-***%s)\n", k.id,
             key + IDD_APIKEY_LEN - 4);
    ck_assert_str_eq(out, expect);
    free(out);
    free(err);
    idd_apikey_t now;
    ck_assert_int_eq(stored_key(&env, key, &now), 0);
    ck_assert_int_eq(now.active, 0);
    ck_assert_str_eq(now.name, "doomed");
    ck_assert_int_eq(stored_key(&env, other, &now), 0);
    ck_assert_int_eq(now.active, 1);
    char *listing = must_list_keys(&env, NULL, NULL);
    key_row_t rows[4];
    ck_assert_int_eq(parse_keys(listing, rows, 4), 2);
    ck_assert_str_eq(find_key(rows, 2, k.id)->active, "revoked");
    ck_assert_str_eq(find_key(rows, 2, o.id)->active, "yes");
    free(listing);

    /* Again: nothing changes, and it says so. */
    ck_assert_int_eq(ctl(&env, NULL, &out, &err, "apikey", "revoke", k.id, NULL), 0);
    ck_assert_msg(strstr(out, "already") != NULL, "stdout: %s", out);
    free(out);
    free(err);

    /* The id is taken in either case, as people copy GUIDs from other tools. */
    char upper[IDD_GUID_LEN + 1];
    for (size_t i = 0; i <= IDD_GUID_LEN; i++)
        upper[i] = (char)(o.id[i] >= 'a' && o.id[i] <= 'f' ? o.id[i] - 'a' + 'A' : o.id[i]);
    ck_assert_int_eq(ctl(&env, NULL, NULL, NULL, "apikey", "revoke", upper, NULL), 0);
    ck_assert_int_eq(stored_key(&env, other, &now), 0);
    ck_assert_int_eq(now.active, 0);

    /* Unknown and malformed ids fail and change nothing. */
    ck_assert_int_eq(ctl(&env, NULL, &out, &err, "apikey", "revoke",
                         "00000000-0000-4000-8000-000000000000", NULL),
                     1);
    ck_assert_msg(strstr(err, "no API key 00000000-0000-4000-8000-000000000000") != NULL,
                  "stderr: %s", err);
    ck_assert_str_eq(out, "");
    free(out);
    free(err);
    const char *bad_ids[] = {"abc", "1", "00000000000040008000000000000000",
                             "00000000-0000-4000-8000-00000000000g", k.id + 1};
    for (size_t i = 0; i < IDD_ARRAY_LEN(bad_ids); i++) {
        ck_assert_int_eq(ctl(&env, NULL, &out, &err, "apikey", "revoke", bad_ids[i], NULL), 1);
        ck_assert_msg(strstr(err, bad_ids[i]) != NULL, "%s: %s", bad_ids[i], err);
        ck_assert_str_eq(out, "");
        free(out);
        free(err);
    }
    free(key);
    free(other);
    th_env_dispose(&env);
}
END_TEST

/* ---- two-factor sign-in ---- */

/* Links an authenticator app to email in tenant through the library's store, as the first
 * step of an activation would: a random secret, sealed under the harness's pepper. */
static void add_binding(const th_env_t *env, int64_t tenant, const char *email)
{
    idd_store_t *store = open_db(env);
    idd_user_t user;
    idd_pepper_t pepper;
    idd_totp_secret_t secret;
    idd_tfa_t tfa;

    ck_assert_int_eq(idd_store_user_by_email(store, tenant, email, &user), 0);
    memset(&pepper, 0, sizeof(pepper));
    pepper.len = strlen(TEST_PEPPER);
    memcpy(pepper.bytes, TEST_PEPPER, pepper.len);
    ck_assert_int_eq(idd_totp_secret_random(&secret), 0);
    memset(&tfa, 0, sizeof(tfa));
    memcpy(tfa.user_id, user.id, sizeof(tfa.user_id));
    ck_assert_int_eq(idd_tfa_seal_secret(&pepper, user.id, &secret, tfa.secret, sizeof(tfa.secret)),
                     0);
    ck_assert_int_eq(idd_store_tfa_create(store, &tfa, idd_now()), 0);
    idd_store_free(store);
}

/* Whether email in tenant has an app linked (a binding row). */
static int has_binding(const th_env_t *env, int64_t tenant, const char *email)
{
    idd_store_t *store = open_db(env);
    idd_user_t user;
    idd_tfa_t tfa;
    ck_assert_int_eq(idd_store_user_by_email(store, tenant, email, &user), 0);
    int rc = idd_store_tfa_get(store, user.id, &tfa);
    ck_assert_msg(rc == 0 || rc == IDD_ENOTFOUND, "tfa_get: %d", rc);
    idd_store_free(store);
    return rc == 0;
}

static void tenant_tfa(const th_env_t *env, int64_t tenant, idd_tenant_tfa_t *out)
{
    idd_store_t *store = open_db(env);
    ck_assert_int_eq(idd_store_tenant_tfa_get(store, tenant, out), 0);
    idd_store_free(store);
}

static void assert_same_tfa(const idd_tenant_tfa_t *a, const idd_tenant_tfa_t *b)
{
    ck_assert_int_eq(a->enabled, b->enabled);
    ck_assert_str_eq(a->trusted_ips, b->trusted_ips);
    ck_assert_str_eq(a->mandatory_users, b->mandatory_users);
    ck_assert_int_eq(a->updated, b->updated);
}

START_TEST(test_user_tfa_reset)
{
    th_env_t env;
    th_env_init(&env, NULL, NULL);
    ck_assert_int_eq(add_user(&env, "pw\n", NULL, NULL, "alice@example.com", NULL), 0);
    ck_assert_int_eq(add_user(&env, "pw\n", NULL, NULL, "bob@example.com", NULL), 0);
    ck_assert_int_eq(add_user(&env, "pw\n", NULL, NULL, "alice@example.com", "2"), 0);
    add_binding(&env, 1, "alice@example.com");
    add_binding(&env, 1, "bob@example.com");
    add_binding(&env, 2, "alice@example.com");
    int64_t now = idd_now();
    int64_t a1 =
        add_session(&env, 1, "alice@example.com", now - 60, now + 3600, "192.0.2.1", "a/1");
    int64_t a2 =
        add_session(&env, 1, "alice@example.com", now - 30, now + 3600, "192.0.2.1", "a/2");
    int64_t b1 = add_session(&env, 1, "bob@example.com", now - 30, now + 3600, "192.0.2.2", "b/1");
    int64_t t2 =
        add_session(&env, 2, "alice@example.com", now - 30, now + 3600, "192.0.2.3", "t/2");
    char *out = NULL, *err = NULL;

    ck_assert_int_eq(ctl(&env, NULL, &out, &err, "user", "tfa", "reset", "Alice@Example.com", NULL),
                     0);
    ck_assert_str_eq(out, "two-factor app unlinked for alice@example.com; 2 sessions ended\n");
    ck_assert_str_eq(err, "");
    free(out);
    free(err);
    ck_assert_int_eq(has_binding(&env, 1, "alice@example.com"), 0);
    ck_assert_int_eq(session_active(&env, a1), 0);
    ck_assert_int_eq(session_active(&env, a2), 0);
    /* Nobody else's app or sessions, in this tenant or another. */
    ck_assert_int_eq(has_binding(&env, 1, "bob@example.com"), 1);
    ck_assert_int_eq(has_binding(&env, 2, "alice@example.com"), 1);
    ck_assert_int_eq(session_active(&env, b1), 1);
    ck_assert_int_eq(session_active(&env, t2), 1);

    /* Again: no app linked is not an error, and a session made since is left alone. */
    int64_t a3 = add_session(&env, 1, "alice@example.com", now, now + 3600, "192.0.2.1", "a/3");
    ck_assert_int_eq(ctl(&env, NULL, &out, &err, "user", "tfa", "reset", "alice@example.com", NULL),
                     0);
    ck_assert_str_eq(out, "alice@example.com has no two-factor app linked\n");
    free(out);
    free(err);
    ck_assert_int_eq(session_active(&env, a3), 1);

    ck_assert_int_eq(ctl(&env, NULL, &out, &err, "user", "tfa", "reset", "bob@example.com",
                         "--tenant", "1", NULL),
                     0);
    ck_assert_str_eq(out, "two-factor app unlinked for bob@example.com; 1 session ended\n");
    free(out);
    free(err);
    ck_assert_int_eq(has_binding(&env, 1, "bob@example.com"), 0);
    ck_assert_int_eq(session_active(&env, b1), 0);

    ck_assert_int_eq(ctl(&env, NULL, &out, &err, "user", "tfa", "reset", "alice@example.com",
                         "--tenant", "2", NULL),
                     0);
    ck_assert_str_eq(out, "two-factor app unlinked for alice@example.com; 1 session ended\n");
    free(out);
    free(err);
    ck_assert_int_eq(session_active(&env, t2), 0);

    /* Unknown users fail as the other user commands do, and change nothing. */
    add_binding(&env, 1, "bob@example.com");
    ck_assert_int_eq(ctl(&env, NULL, &out, &err, "user", "tfa", "reset", "ghost@example.com", NULL),
                     1);
    ck_assert_str_eq(out, "");
    ck_assert_msg(strstr(err, "no user ghost@example.com in tenant 1") != NULL, "stderr: %s", err);
    free(out);
    free(err);
    ck_assert_int_eq(ctl(&env, NULL, NULL, NULL, "user", "tfa", "reset", "bob@example.com",
                         "--tenant", "2", NULL),
                     1);
    ck_assert_int_eq(ctl(&env, NULL, NULL, NULL, "user", "tfa", "reset", "not-an-address", NULL),
                     1);
    ck_assert_int_eq(has_binding(&env, 1, "bob@example.com"), 1);

    /* A malformed command line is status 2. */
    ck_assert_int_eq(ctl(&env, NULL, NULL, &err, "user", "tfa", NULL), 2);
    ck_assert_msg(strstr(err, "\"user tfa\" needs a subcommand") != NULL, "stderr: %s", err);
    free(err);
    ck_assert_int_eq(ctl(&env, NULL, NULL, &err, "user", "tfa", "rest", "bob@example.com", NULL),
                     2);
    ck_assert_msg(strstr(err, "unknown subcommand \"rest\"") != NULL, "stderr: %s", err);
    free(err);
    ck_assert_int_eq(ctl(&env, NULL, NULL, &err, "user", "tfa", "reset", NULL), 2);
    ck_assert_msg(strstr(err, "missing EMAIL") != NULL, "stderr: %s", err);
    free(err);
    ck_assert_int_eq(ctl(&env, NULL, NULL, NULL, "user", "tfa", "reset", "bob@example.com",
                         "--trusted-ips", "10.0.0.1", NULL),
                     2);
    ck_assert_int_eq(has_binding(&env, 1, "bob@example.com"), 1);

    /* The help names the commands, also when asked after the first two words. */
    ck_assert_int_eq(ctl(NULL, NULL, &out, NULL, "user", "tfa", "--help", NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "user tfa reset EMAIL"));
    ck_assert_ptr_nonnull(strstr(out, "tenant tfa on [--trusted-ips LIST] [--mandatory EMAILS]"));
    ck_assert_ptr_nonnull(strstr(out, "tenant tfa show"));
    free(out);
    th_env_dispose(&env);
}
END_TEST

/* The value after "label: " on its own line of a `tenant tfa show` output (malloc'd). */
static char *show_field(const char *listing, const char *label)
{
    size_t n = strlen(label);
    for (const char *line = listing; line != NULL && *line != '\0';) {
        if (strncmp(line, label, n) == 0 && line[n] == ':' && line[n + 1] == ' ')
            return strndup(line + n + 2, strcspn(line + n + 2, "\n"));
        line = strchr(line, '\n');
        line = line != NULL ? line + 1 : NULL;
    }
    ck_abort_msg("no %s in: %s", label, listing);
    return NULL;
}

static void assert_show(const th_env_t *env, const char *tenant, const char *enabled,
                        const char *ips, const char *mandatory)
{
    char *out = NULL, *err = NULL;
    int rc = tenant != NULL
                 ? ctl(env, NULL, &out, &err, "tenant", "tfa", "show", "--tenant", tenant, NULL)
                 : ctl(env, NULL, &out, &err, "tenant", "tfa", "show", NULL);
    ck_assert_msg(rc == 0, "show: %d %s", rc, err);
    ck_assert_str_eq(err, "");
    char *v = show_field(out, "two-factor sign-in");
    ck_assert_str_eq(v, enabled);
    free(v);
    v = show_field(out, "trusted ips");
    ck_assert_str_eq(v, ips);
    free(v);
    v = show_field(out, "mandatory users");
    ck_assert_str_eq(v, mandatory);
    free(v);
    free(out);
    free(err);
}

START_TEST(test_tenant_tfa_settings)
{
    th_env_t env;
    th_env_init(&env, NULL, NULL);
    ck_assert_int_eq(add_user(&env, "pw\n", NULL, NULL, "alice@example.com", NULL), 0);
    ck_assert_int_eq(add_user(&env, "pw\n", NULL, NULL, "bob@example.com", NULL), 0);
    ck_assert_int_eq(add_user(&env, "pw\n", NULL, NULL, "carol@example.com", "2"), 0);
    idd_user_t alice, bob, carol;
    fetch_user(&env, 1, "alice@example.com", &alice);
    fetch_user(&env, 1, "bob@example.com", &bob);
    fetch_user(&env, 2, "carol@example.com", &carol);
    idd_tenant_tfa_t before, after;
    char *out = NULL, *err = NULL;

    assert_show(&env, NULL, "off", "-", "-");
    ck_assert_int_eq(ctl(&env, NULL, &out, &err, "tenant", "tfa", "on", "--trusted-ips",
                         " 10.0.0.0/8 , 192.0.2.1-192.0.2.9,2001:db8::1", "--mandatory",
                         "bob@example.com, ALICE@example.com,bob@example.com", NULL),
                     0);
    ck_assert_str_eq(out, "two-factor sign-in turned on for tenant 1; 0 sessions ended\n");
    ck_assert_str_eq(err, "");
    free(out);
    free(err);
    tenant_tfa(&env, 1, &after);
    ck_assert_int_eq(after.enabled, 1);
    ck_assert_str_eq(after.trusted_ips, "10.0.0.0/8,192.0.2.1-192.0.2.9,2001:db8::1");
    char *ids = th_strf("%s,%s", bob.id, alice.id);
    ck_assert_str_eq(after.mandatory_users, ids);
    free(ids);
    assert_show(&env, "1", "on", "10.0.0.0/8,192.0.2.1-192.0.2.9,2001:db8::1",
                "bob@example.com,alice@example.com");
    /* The other tenant is untouched. */
    tenant_tfa(&env, 2, &before);
    ck_assert_int_eq(before.enabled, 0);
    assert_show(&env, "2", "off", "-", "-");

    /* off keeps the lists; on without options keeps them too. */
    ck_assert_int_eq(ctl(&env, NULL, &out, &err, "tenant", "tfa", "off", NULL), 0);
    ck_assert_str_eq(out, "two-factor sign-in turned off for tenant 1\n");
    free(out);
    free(err);
    assert_show(&env, NULL, "off", "10.0.0.0/8,192.0.2.1-192.0.2.9,2001:db8::1",
                "bob@example.com,alice@example.com");
    ck_assert_int_eq(ctl(&env, NULL, &out, &err, "tenant", "tfa", "on", NULL), 0);
    ck_assert_str_eq(out, "two-factor sign-in turned on for tenant 1; 0 sessions ended\n");
    free(out);
    free(err);
    assert_show(&env, NULL, "on", "10.0.0.0/8,192.0.2.1-192.0.2.9,2001:db8::1",
                "bob@example.com,alice@example.com");
    /* An empty option empties its list alone. */
    ck_assert_int_eq(ctl(&env, NULL, &out, &err, "tenant", "tfa", "on", "--trusted-ips", "", NULL),
                     0);
    ck_assert_str_eq(out, "two-factor sign-in was already on for tenant 1; 0 sessions ended\n");
    free(out);
    free(err);
    assert_show(&env, NULL, "on", "-", "bob@example.com,alice@example.com");
    ck_assert_int_eq(ctl(&env, NULL, NULL, NULL, "tenant", "tfa", "on", "--tenant", "2",
                         "--mandatory", "carol@example.com", "--trusted-ips", "::1", NULL),
                     0);
    assert_show(&env, "2", "on", "::1", "carol@example.com");
    tenant_tfa(&env, 2, &after);
    ck_assert_str_eq(after.mandatory_users, carol.id);

    /* Bad input: a clear error naming what is wrong, and nothing changes. */
    tenant_tfa(&env, 1, &before);
    const char *bad_ips[] = {"10.0.0.1,nonsense",    "10.0.0.0/33",        "192.0.2.9-192.0.2.1",
                             "10.0.0.1-2001:db8::1", "10.0.0.1,,10.0.0.2", "bad\x1b[2J"};
    const char *bad_names[] = {
        "\"nonsense\"", "\"10.0.0.0/33\"", "\"192.0.2.9-192.0.2.1\"", "\"10.0.0.1-2001:db8::1\"",
        "\"\"",         "\"bad?[2J\""};
    for (size_t i = 0; i < IDD_ARRAY_LEN(bad_ips); i++) {
        ck_assert_int_eq(
            ctl(&env, NULL, &out, &err, "tenant", "tfa", "on", "--trusted-ips", bad_ips[i], NULL),
            2);
        ck_assert_msg(strstr(err, bad_names[i]) != NULL, "%s: %s", bad_ips[i], err);
        ck_assert_str_eq(out, "");
        free(out);
        free(err);
    }
    /* More entries than a list may hold. */
    char many[IDD_IP_LIST_ENTRIES_MAX * 12 + 32] = "";
    for (int i = 0; i <= IDD_IP_LIST_ENTRIES_MAX; i++) {
        size_t used = strlen(many);
        snprintf(many + used, sizeof(many) - used, "%s10.0.%d.1", i > 0 ? "," : "", i);
    }
    ck_assert_int_eq(ctl(&env, NULL, NULL, &err, "tenant", "tfa", "on", "--trusted-ips", many,
                         "--tenant", "1", NULL),
                     2);
    ck_assert_msg(strstr(err, "more than 64 entries") != NULL, "stderr: %s", err);
    free(err);
    /* An unknown user, a user of another tenant, a malformed address. */
    const char *bad_users[] = {"alice@example.com,ghost@example.com", "carol@example.com",
                               "not-an-address"};
    const char *bad_user_names[] = {"ghost@example.com", "carol@example.com", "invalid email"};
    for (size_t i = 0; i < IDD_ARRAY_LEN(bad_users); i++) {
        ck_assert_int_eq(
            ctl(&env, NULL, &out, &err, "tenant", "tfa", "on", "--mandatory", bad_users[i], NULL),
            1);
        ck_assert_msg(strstr(err, bad_user_names[i]) != NULL, "%s: %s", bad_users[i], err);
        ck_assert_str_eq(out, "");
        free(out);
        free(err);
    }
    /* A good list with a bad one beside it is refused whole. */
    ck_assert_int_eq(ctl(&env, NULL, NULL, NULL, "tenant", "tfa", "on", "--mandatory",
                         "ghost@example.com", "--trusted-ips", "10.1.0.0/16", NULL),
                     1);
    ck_assert_int_eq(ctl(&env, NULL, NULL, NULL, "tenant", "tfa", "on", "--mandatory",
                         "alice@example.com", "--trusted-ips", "10.1.0.0/16,x", NULL),
                     2);
    /* Options that do not go with the command, and unknown tenants. */
    ck_assert_int_eq(
        ctl(&env, NULL, NULL, NULL, "tenant", "tfa", "off", "--trusted-ips", "10.0.0.1", NULL), 2);
    ck_assert_int_eq(
        ctl(&env, NULL, NULL, NULL, "tenant", "tfa", "show", "--mandatory", "a@example.com", NULL),
        2);
    ck_assert_int_eq(ctl(&env, NULL, NULL, &err, "tenant", "tfa", NULL), 2);
    ck_assert_msg(strstr(err, "\"tenant tfa\" needs a subcommand") != NULL, "stderr: %s", err);
    free(err);
    ck_assert_int_eq(ctl(&env, NULL, NULL, &err, "tenant", "tfa", "maybe", NULL), 2);
    ck_assert_msg(strstr(err, "unknown subcommand \"maybe\"") != NULL, "stderr: %s", err);
    free(err);
    ck_assert_int_eq(ctl(&env, NULL, NULL, NULL, "tenant", "tfa", "off", "--tenant", "9", NULL), 1);
    ck_assert_int_eq(ctl(&env, NULL, NULL, NULL, "tenant", "tfa", "off", "--tenant", "x", NULL), 1);
    tenant_tfa(&env, 1, &after);
    assert_same_tfa(&before, &after);
    th_env_dispose(&env);
}
END_TEST

/* --mandatory is bounded by what the stored list holds (IDD_TENANT_TFA_LIST_MAX bytes of
 * ids): one user more than fits is refused, and nothing is written. */
START_TEST(test_tenant_tfa_mandatory_bound)
{
    th_env_t env;
    th_env_init(&env, NULL, NULL);
    migrate(&env);
    const int fit = (IDD_TENANT_TFA_LIST_MAX + 1) / (IDD_GUID_LEN + 1);
    idd_store_t *store = open_db(&env);
    idd_buf_t list;
    idd_buf_init(&list);
    for (int i = 0; i <= fit; i++) {
        idd_user_t user;
        memset(&user, 0, sizeof(user));
        user.tenant_id = 1;
        user.role = IDD_ROLE_USER;
        user.status = IDD_USER_ACTIVE;
        snprintf(user.email, sizeof(user.email), "user%d@example.com", i);
        snprintf(user.first_name, sizeof(user.first_name), "User");
        snprintf(user.last_name, sizeof(user.last_name), "%d", i);
        snprintf(user.password, sizeof(user.password), "unused");
        ck_assert_int_eq(idd_store_user_insert(store, &user), 0);
        if (i < fit) {
            if (i > 0)
                idd_buf_append(&list, ",", 1);
            idd_buf_append(&list, user.email, strlen(user.email));
        }
    }
    idd_store_free(store);
    idd_buf_append(&list, "", 1);
    char *out = NULL, *err = NULL;
    ck_assert_int_eq(
        ctl(&env, NULL, &out, &err, "tenant", "tfa", "on", "--mandatory", list.data, NULL), 0);
    free(out);
    free(err);
    idd_tenant_tfa_t before, after;
    tenant_tfa(&env, 1, &before);
    ck_assert_uint_eq(strlen(before.mandatory_users), (size_t)fit * (IDD_GUID_LEN + 1) - 1);

    char *more = th_strf("%s,user%d@example.com", list.data, fit);
    ck_assert_int_eq(ctl(&env, NULL, &out, &err, "tenant", "tfa", "off", NULL), 0);
    free(out);
    free(err);
    tenant_tfa(&env, 1, &before);
    ck_assert_int_eq(ctl(&env, NULL, &out, &err, "tenant", "tfa", "on", "--mandatory", more, NULL),
                     1);
    ck_assert_msg(strstr(err, "too many users") != NULL, "stderr: %s", err);
    ck_assert_str_eq(out, "");
    free(out);
    free(err);
    tenant_tfa(&env, 1, &after);
    assert_same_tfa(&before, &after);
    free(more);
    idd_buf_dispose(&list);
    th_env_dispose(&env);
}
END_TEST

/* Signs email in through the running server and returns the session token (malloc'd). */
static char *server_sign_in(const th_server_t *srv, const char *email, const char *password)
{
    th_response_t r;
    char *url = th_url(srv, "/api/2.0/authentication");
    char *body = th_strf("{\"userName\":\"%s\",\"password\":\"%s\"}", email, password);
    const char *headers[] = {"Content-Type: application/json", NULL};
    th_http(&r, "POST", url, headers, body, strlen(body), 0);
    ck_assert_msg(r.status == 200, "sign-in: %ld %s", r.status, r.body);
    json_t *j = th_json_parse(r.body);
    const char *token = json_string_value(json_object_get(json_object_get(j, "response"), "token"));
    ck_assert_msg(token != NULL, "no token: %s", r.body);
    char *copy = strdup(token);
    json_decref(j);
    th_response_dispose(&r);
    free(body);
    free(url);
    return copy;
}

/* What GET /api/2.0/authentication answers for the session token. */
static bool server_signed_in(const th_server_t *srv, const char *token)
{
    th_response_t r;
    char *cookie = th_strf("Cookie: asc_auth_key=%s", token);
    th_get(&r, srv, "/api/2.0/authentication", cookie);
    ck_assert_msg(r.status == 200, "GET authentication: %ld %s", r.status, r.body);
    json_t *j = th_json_parse(r.body);
    json_t *v = json_object_get(j, "response");
    ck_assert_msg(json_is_boolean(v), "not a boolean: %s", r.body);
    bool b = json_is_true(v);
    json_decref(j);
    th_response_dispose(&r);
    free(cookie);
    return b;
}

/* Turning two-factor sign-in on ends the tenant's sessions: the real server then refuses a
 * session it issued before, and only that tenant's. */
START_TEST(test_tenant_tfa_on_ends_sessions)
{
    th_env_t env;
    th_server_t srv;
    th_env_init(&env, NULL, NULL);
    ck_assert_int_eq(th_add_user(&env, "alice@example.com", "alice pass", "Alice", "A", "user"), 0);
    ck_assert_int_eq(add_user(&env, "pw\n", NULL, NULL, "carol@example.com", "2"), 0);
    int64_t now = idd_now();
    int64_t other = add_session(&env, 2, "carol@example.com", now, now + 3600, "192.0.2.1", "t/2");
    th_server_start(&srv, &env);
    char *token = server_sign_in(&srv, "alice@example.com", "alice pass");
    ck_assert(server_signed_in(&srv, token));

    char *out = NULL, *err = NULL;
    /* A refused command ends nothing. */
    ck_assert_int_eq(
        ctl(&env, NULL, NULL, NULL, "tenant", "tfa", "on", "--trusted-ips", "10.0.0.300", NULL), 2);
    ck_assert(server_signed_in(&srv, token));

    ck_assert_int_eq(ctl(&env, NULL, &out, &err, "tenant", "tfa", "on", NULL), 0);
    ck_assert_str_eq(out, "two-factor sign-in turned on for tenant 1; 1 session ended\n");
    free(out);
    free(err);
    th_wait_changes_seen(&srv, &env);
    ck_assert(!server_signed_in(&srv, token));
    ck_assert_int_eq(session_active(&env, other), 1);

    /* Already on: nothing more ends, and nothing is reported as ended. */
    ck_assert_int_eq(ctl(&env, NULL, &out, &err, "tenant", "tfa", "on", NULL), 0);
    ck_assert_str_eq(out, "two-factor sign-in was already on for tenant 1; 0 sessions ended\n");
    free(out);
    free(err);
    ck_assert_int_eq(session_active(&env, other), 1);
    free(token);
    ck_assert_int_eq(th_server_stop(&srv), 0);
    th_env_dispose(&env);
}
END_TEST

/* user tfa reset ends the user's sessions as the server sees them. */
START_TEST(test_user_tfa_reset_server)
{
    th_env_t env;
    th_server_t srv;
    th_env_init(&env, NULL, NULL);
    ck_assert_int_eq(th_add_user(&env, "alice@example.com", "alice pass", "Alice", "A", "user"), 0);
    ck_assert_int_eq(th_add_user(&env, "bob@example.com", "bob pass", "Bob", "B", "user"), 0);
    add_binding(&env, 1, "alice@example.com");
    th_server_start(&srv, &env);
    char *alice = server_sign_in(&srv, "alice@example.com", "alice pass");
    char *bob = server_sign_in(&srv, "bob@example.com", "bob pass");
    ck_assert(server_signed_in(&srv, alice));

    char *out = NULL, *err = NULL;
    ck_assert_int_eq(ctl(&env, NULL, &out, &err, "user", "tfa", "reset", "alice@example.com", NULL),
                     0);
    ck_assert_str_eq(out, "two-factor app unlinked for alice@example.com; 1 session ended\n");
    free(out);
    free(err);
    th_wait_changes_seen(&srv, &env);
    ck_assert(!server_signed_in(&srv, alice));
    ck_assert(server_signed_in(&srv, bob));
    ck_assert_int_eq(has_binding(&env, 1, "alice@example.com"), 0);
    free(alice);
    free(bob);
    ck_assert_int_eq(th_server_stop(&srv), 0);
    th_env_dispose(&env);
}
END_TEST

static Suite *identityctl_suite(void)
{
    Suite *s = suite_create("identityctl");
    TCase *users = tcase_create("users");
    tcase_set_timeout(users, 120);
    tcase_add_test(users, test_migrate_fresh_then_noop);
    tcase_add_test(users, test_user_add_then_list);
    tcase_add_test(users, test_user_add_duplicate_any_case);
    tcase_add_test(users, test_user_add_unknown_tenant);
    tcase_add_test(users, test_user_add_refuses_bad_fields);
    tcase_add_test(users, test_user_add_password_input);
    tcase_add_test(users, test_user_disable_enable);
    tcase_add_test(users, test_unknown_user);
    tcase_add_test(users, test_user_passwd);
    tcase_add_test(users, test_no_secret_in_output);
    suite_add_tcase(s, users);

    TCase *sessions = tcase_create("sessions");
    tcase_set_timeout(sessions, 120);
    tcase_add_test(sessions, test_session_list);
    tcase_add_test(sessions, test_session_revoke);
    tcase_add_test(sessions, test_user_list_pwchange);
    suite_add_tcase(s, sessions);

    TCase *apikeys = tcase_create("apikeys");
    tcase_set_timeout(apikeys, 120);
    tcase_add_test(apikeys, test_apikey_create);
    tcase_add_test(apikeys, test_apikey_create_refuses);
    tcase_add_test(apikeys, test_apikey_list);
    tcase_add_test(apikeys, test_apikey_revoke);
    suite_add_tcase(s, apikeys);

    TCase *cli = tcase_create("cli");
    tcase_set_timeout(cli, 120);
    tcase_add_test(cli, test_key_generate);
    tcase_add_test(cli, test_bad_config_names_line);
    tcase_add_test(cli, test_config_path_selection);
    tcase_add_test(cli, test_usage_errors);
    suite_add_tcase(s, cli);

    TCase *tokens = tcase_create("tokens");
    tcase_set_timeout(tokens, 120);
    tcase_add_test(tokens, test_token_verify_valid);
    tcase_add_test(tokens, test_token_verify_rejects);
    suite_add_tcase(s, tokens);

    TCase *tfa = tcase_create("tfa");
    tcase_set_timeout(tfa, 120);
    tcase_add_test(tfa, test_user_tfa_reset);
    tcase_add_test(tfa, test_tenant_tfa_settings);
    tcase_add_test(tfa, test_tenant_tfa_mandatory_bound);
    tcase_add_test(tfa, test_tenant_tfa_on_ends_sessions);
    tcase_add_test(tfa, test_user_tfa_reset_server);
    suite_add_tcase(s, tfa);
    return s;
}

int main(void)
{
    /* identityctl may exit before reading the stdin th_run feeds it (a refused command line);
     * the write must fail with EPIPE rather than kill the test. */
    signal(SIGPIPE, SIG_IGN);
    SRunner *runner = srunner_create(identityctl_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
