/*
 * identityctl, the admin tool: migrates the database, manages users and their sign-in
 * sessions, generates signing keys and verifies tokens, always through the same library as
 * identityd so that what it writes
 * is exactly what the server reads. It assumes it runs as the account that owns the database
 * and key files, and it creates files readable by that account only.
 *
 * Exit status: 0 on success, 1 when the command was understood but failed (its reason on
 * stderr), 2 when the command line itself is malformed (unknown command or option, missing
 * argument). Passwords are read from stdin, never from argv where `ps` would show them, and
 * neither passwords, client hashes nor password records are ever printed; nor are session
 * digests, which identify sessions by their id instead.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <jansson.h>

#include "identityd/buf.h"
#include "identityd/common.h"
#include "identityd/config.h"
#include "identityd/ct.h"
#include "identityd/keyring.h"
#include "identityd/log.h"
#include "identityd/password.h"
#include "identityd/store.h"
#include "identityd/verify.h"

#define DEFAULT_CONFIG "config/identityd.yaml"
#define PASSWORD_INPUT_MAX 1024
#define TOKEN_INPUT_MAX (16 * 1024)

/* Options a command may take, as indexes into option_names and ctl_args_t.values; a
 * command lists those it allows and requires as bit sets (OPT_BIT). The options in
 * OPT_FLAGS take no value: given, their entry in values is the option itself. */
enum { OPT_FIRST, OPT_LAST, OPT_ROLE, OPT_TENANT, OPT_ALG, OPT_OUT, OPT_ALL, OPT_COUNT };
#define OPT_BIT(opt) (1u << (opt))
#define OPT_FLAGS OPT_BIT(OPT_ALL)
static const char *const option_names[OPT_COUNT] = {"--first", "--last", "--role", "--tenant",
                                                    "--alg",   "--out",  "--all"};

/* The parsed command line. Every string is borrowed from argv. */
typedef struct ctl_args {
    const char *config_path; /* -c / --config, or NULL */
    bool help;
    const char *values[OPT_COUNT]; /* option values by OPT_*, NULL when not given */
    const char *positional[1];     /* EMAIL or ID, for the commands that take one */
    size_t n_positional;
} ctl_args_t;

typedef struct ctl_command ctl_command_t;
typedef int (*ctl_run_fn)(const ctl_args_t *args, const idd_config_t *cfg, int variant);

struct ctl_command {
    const char *word;    /* "migrate", "user", "key", "token" */
    const char *sub;     /* second word, or NULL */
    unsigned allowed;    /* OPT_BIT()s accepted */
    unsigned required;   /* OPT_BIT()s that must be given */
    size_t n_positional; /* exact number of operands (0 or 1) */
    const char *operand; /* what the operand is, for "missing ..." (NULL without one) */
    bool needs_config;
    ctl_run_fn run;
    int variant; /* passed to run: the target status of enable/disable */
};

static void print_usage(FILE *out)
{
    fputs("usage: identityctl [-c FILE] COMMAND [ARGS]\n"
          "\n"
          "commands:\n"
          "  migrate                     apply database migrations, create configured tenants\n"
          "  user add EMAIL --first F --last L [--role admin|user|guest] [--tenant N]\n"
          "                              add a user; the password is read from stdin\n"
          "  user list [--tenant N]      list users (flag pwchange: must change the password)\n"
          "  user disable EMAIL [--tenant N]\n"
          "  user enable EMAIL [--tenant N]\n"
          "  user passwd EMAIL [--tenant N]\n"
          "                              set a new password, read from stdin\n"
          "  session list EMAIL [--tenant N]\n"
          "                              list the user's active, unexpired sessions\n"
          "  session revoke ID           end one session\n"
          "  session revoke --all EMAIL [--tenant N]\n"
          "                              end every session of the user\n"
          "  key generate --alg ES256|RS256|EdDSA --out FILE\n"
          "                              write a new private key (PEM, mode 0600)\n"
          "  token verify                verify a token read from stdin, print its claims\n"
          "\n"
          "options:\n"
          "  -c, --config FILE   configuration (default: $IDENTITYD_CONFIG, else " DEFAULT_CONFIG
          ")\n"
          "  -h, --help          show this help\n",
          out);
}

/* Reports a malformed command line; the caller exits with status 2. */
static int usage_error(const char *fmt, const char *what)
{
    fputs("identityctl: ", stderr);
    fprintf(stderr, fmt, what);
    fputs("\nusage: identityctl [-c FILE] COMMAND [ARGS] (identityctl --help for details)\n",
          stderr);
    return 2;
}

/* Returns true when s[0..len) is valid UTF-8, which jansson checks when it builds a string.
 * Names and emails end up in JWT claims, whose JSON must be valid UTF-8. */
static bool utf8_valid(const char *s, size_t len)
{
    json_t *probe = json_stringn(s, len);
    json_decref(probe);
    return probe != NULL;
}

static bool has_control(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p < 0x20 || *p == 0x7f)
            return true;
    }
    return false;
}

/* Checks the shape of an address, not its deliverability: one '@' with something on both
 * sides, no whitespace or control characters, at most IDD_EMAIL_MAX bytes. */
static int check_email(const char *email)
{
    size_t len = strlen(email);
    const char *at = strchr(email, '@');
    if (len == 0 || len > IDD_EMAIL_MAX || at == NULL || at == email || at[1] == '\0' ||
        strchr(at + 1, '@') != NULL || strchr(email, ' ') != NULL || has_control(email) ||
        !utf8_valid(email, len)) {
        fprintf(stderr,
                "identityctl: invalid email address (one '@', no spaces or control "
                "characters, at most %d bytes)\n",
                IDD_EMAIL_MAX);
        return IDD_EINVAL;
    }
    return 0;
}

static int check_name(const char *what, const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > IDD_NAME_MAX || has_control(name) || !utf8_valid(name, len)) {
        fprintf(stderr,
                "identityctl: invalid %s name (1 to %d bytes of UTF-8, no control "
                "characters)\n",
                what, IDD_NAME_MAX);
        return IDD_EINVAL;
    }
    return 0;
}

/* Resolves --tenant (or the first configured tenant) to a configured tenant id. */
static int resolve_tenant(const ctl_args_t *args, const idd_config_t *cfg, int64_t *out)
{
    const char *text = args->values[OPT_TENANT];
    if (text == NULL) {
        if (cfg->n_tenants == 0) {
            fprintf(stderr, "identityctl: %s configures no tenant\n", cfg->path);
            return IDD_ECONFIG;
        }
        *out = cfg->tenants[0].id;
        return 0;
    }
    char *end = NULL;
    errno = 0;
    long long id = strtoll(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || id < 1) {
        fprintf(stderr, "identityctl: --tenant expects a tenant id, not \"%s\"\n", text);
        return IDD_EINVAL;
    }
    if (idd_config_tenant_by_id(cfg, (int64_t)id) == NULL) {
        fprintf(stderr, "identityctl: tenant %lld is not configured in %s\n", id, cfg->path);
        return IDD_ENOTFOUND;
    }
    *out = (int64_t)id;
    return 0;
}

/* Reads stdin with read(2) into buf (cap bytes) until EOF, a newline when stop_at_newline, or
 * the buffer is full; stdio is avoided so no copy of a secret stays in a FILE buffer. Returns
 * the byte count, or -1 on a read error. */
static ssize_t read_stdin(char *buf, size_t cap, bool stop_at_newline)
{
    size_t len = 0;
    while (len < cap) {
        ssize_t n = read(STDIN_FILENO, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        len += (size_t)n;
        if (stop_at_newline && memchr(buf + len - (size_t)n, '\n', (size_t)n) != NULL)
            break;
    }
    return (ssize_t)len;
}

/* Reads one password line from stdin into buf (PASSWORD_INPUT_MAX + 1 bytes), without the
 * line ending. On a terminal it prompts and turns echo off. Returns 0 or IDD_EINVAL/IDD_EIO
 * after printing why; buf is wiped on failure. */
static int read_password(char *buf, size_t *len_out)
{
    int rc = IDD_EINVAL;
    /* Room for the longest password plus "\r\n" and one byte to notice an overlong line. */
    char line[PASSWORD_INPUT_MAX + 3];
    struct termios saved;
    bool restore = false;
    ssize_t n;
    size_t len;
    char *nl;

    if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0) {
        struct termios quiet = saved;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        fputs("password: ", stderr);
        restore = tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0;
    }
    n = read_stdin(line, sizeof(line), true);
    if (restore) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
        fputc('\n', stderr);
    }
    if (n < 0) {
        fprintf(stderr, "identityctl: reading the password from stdin: %s\n", strerror(errno));
        rc = IDD_EIO;
        goto done;
    }
    /* Only the first line counts; anything after it is ignored. */
    nl = memchr(line, '\n', (size_t)n);
    len = nl != NULL ? (size_t)(nl - line) : (size_t)n;
    if (len > 0 && line[len - 1] == '\r')
        len--;
    if (len == 0) {
        fputs("identityctl: empty password (give it as one line on stdin)\n", stderr);
        goto done;
    }
    if (len > PASSWORD_INPUT_MAX) {
        fprintf(stderr, "identityctl: password longer than %d bytes\n", PASSWORD_INPUT_MAX);
        goto done;
    }
    if (memchr(line, '\0', len) != NULL) {
        fputs("identityctl: password contains a NUL byte\n", stderr);
        goto done;
    }
    memcpy(buf, line, len);
    buf[len] = '\0';
    *len_out = len;
    rc = 0;

done:
    idd_wipe(line, sizeof(line));
    return rc;
}

/* Opens the database. With prepare, migrates it (versions to from and to when not NULL) and
 * ensures every configured tenant, so a fresh file works; without, the database must already
 * exist at the current schema, because those commands should not create or change it. */
static int open_store(const idd_config_t *cfg, bool prepare, idd_store_t **out, int *from, int *to)
{
    int rc = IDD_ESTORE;
    idd_store_t *store = NULL;
    const char *path = cfg->database;
    int version = 0;

    *out = NULL;
    if (strncmp(path, "sqlite:", 7) == 0)
        path += 7;
    if (!prepare && access(path, F_OK) != 0) {
        fprintf(stderr, "identityctl: database %s does not exist; run 'identityctl migrate'\n",
                path);
        rc = IDD_ENOTFOUND;
        goto done;
    }
    /* The database holds password records: only its owner may read it. */
    umask(077);
    rc = idd_store_open(cfg->database, &store);
    if (rc != 0) {
        fprintf(stderr, "identityctl: cannot open database %s: %s\n", path, idd_strerror(rc));
        goto done;
    }
    if (prepare) {
        rc = idd_store_migrate(store, from, to);
        for (size_t i = 0; rc == 0 && i < cfg->n_tenants; i++)
            rc = idd_store_tenant_ensure(store, cfg->tenants[i].id, cfg->tenants[i].name);
    } else {
        rc = idd_store_schema_version(store, &version);
        if (rc == 0 && version != idd_store_latest_version()) {
            fprintf(stderr,
                    "identityctl: database %s is at schema version %d, this identityctl "
                    "expects %d; run 'identityctl migrate'\n",
                    path, version, idd_store_latest_version());
            rc = IDD_ESCHEMA;
            goto done;
        }
    }
    if (rc != 0) {
        fprintf(stderr, "identityctl: database %s: %s\n", path, idd_strerror(rc));
        goto done;
    }
    *out = store;
    store = NULL;

done:
    idd_store_free(store);
    return rc;
}

/* Opens the existing database and looks up EMAIL (the first operand) in the tenant of
 * --tenant or the default one. On success *store is open (the caller frees it). */
static int lookup_user(const ctl_args_t *args, const idd_config_t *cfg, idd_store_t **store,
                       idd_user_t *user)
{
    const char *email = args->positional[0];
    int64_t tenant_id = 0;
    int rc = check_email(email);
    if (rc == 0)
        rc = resolve_tenant(args, cfg, &tenant_id);
    if (rc == 0)
        rc = open_store(cfg, false, store, NULL, NULL);
    if (rc != 0)
        return rc;
    rc = idd_store_user_by_email(*store, tenant_id, email, user);
    if (rc == IDD_ENOTFOUND)
        fprintf(stderr, "identityctl: no user %s in tenant %lld\n", email, (long long)tenant_id);
    else if (rc != 0)
        fprintf(stderr, "identityctl: looking up %s: %s\n", email, idd_strerror(rc));
    return rc;
}

/* Turns a password into the stored record: the client hash with the tenant's salt and the
 * configured iterations, then the keyed record under the pepper. record needs
 * IDD_PASSWORD_RECORD_MAX + 1 bytes. */
static int make_record(idd_store_t *store, const idd_config_t *cfg, int64_t tenant_id,
                       const char *password, size_t len, char *record)
{
    int rc = IDD_ECRYPTO;
    idd_tenant_t tenant;
    idd_pepper_t pepper;
    char client_hash[IDD_CLIENT_HASH_HEX_LEN + 1];
    char err[256] = "";

    memset(&pepper, 0, sizeof(pepper));
    rc = idd_store_tenant_get(store, tenant_id, &tenant);
    if (rc != 0) {
        fprintf(stderr, "identityctl: tenant %lld: %s\n", (long long)tenant_id, idd_strerror(rc));
        goto done;
    }
    rc = idd_pepper_load(cfg->pepper_file, &pepper, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "identityctl: %s\n", err[0] ? err : idd_strerror(rc));
        goto done;
    }
    rc = idd_password_client_hash(password, len, tenant.password_salt, cfg->password_iterations,
                                  client_hash);
    if (rc == 0)
        rc = idd_password_record_make(&pepper, client_hash, cfg->password_iterations, record,
                                      IDD_PASSWORD_RECORD_MAX + 1);
    if (rc != 0)
        fprintf(stderr, "identityctl: hashing the password: %s\n", idd_strerror(rc));

done:
    idd_wipe(client_hash, sizeof(client_hash));
    idd_pepper_wipe(&pepper);
    return rc;
}

static int cmd_migrate(const ctl_args_t *args, const idd_config_t *cfg, int variant)
{
    idd_store_t *store = NULL;
    int from = 0, to = 0;
    int rc = open_store(cfg, true, &store, &from, &to);
    if (rc == 0)
        printf("schema version %d -> %d%s\n", from, to, from == to ? " (up to date)" : "");
    idd_store_free(store);
    return rc;
}

static int cmd_user_add(const ctl_args_t *args, const idd_config_t *cfg, int variant)
{
    int rc = IDD_EINVAL;
    idd_store_t *store = NULL;
    idd_user_t user, existing;
    char password[PASSWORD_INPUT_MAX + 1];
    size_t password_len = 0;
    const char *email = args->positional[0];
    const char *first = args->values[OPT_FIRST];
    const char *last = args->values[OPT_LAST];
    const char *role = args->values[OPT_ROLE];

    memset(&user, 0, sizeof(user));
    memset(&existing, 0, sizeof(existing));
    memset(password, 0, sizeof(password));
    /* Everything that can be checked without the password is checked before reading it. */
    rc = check_email(email);
    if (rc == 0)
        rc = check_name("first", first);
    if (rc == 0)
        rc = check_name("last", last);
    if (rc == 0)
        rc = resolve_tenant(args, cfg, &user.tenant_id);
    if (rc != 0)
        goto done;
    user.role = IDD_ROLE_USER;
    if (role != NULL && idd_role_parse(role, &user.role) != 0) {
        fprintf(stderr, "identityctl: unknown role \"%s\" (admin, user or guest)\n", role);
        rc = IDD_EINVAL;
        goto done;
    }
    user.status = IDD_USER_ACTIVE;
    snprintf(user.email, sizeof(user.email), "%s", email);
    snprintf(user.first_name, sizeof(user.first_name), "%s", first);
    snprintf(user.last_name, sizeof(user.last_name), "%s", last);

    rc = read_password(password, &password_len);
    if (rc != 0)
        goto done;
    rc = open_store(cfg, true, &store, NULL, NULL);
    if (rc != 0)
        goto done;
    /* A duplicate is refused before the deliberately slow hash; the insert still decides. */
    rc = idd_store_user_by_email(store, user.tenant_id, email, &existing);
    if (rc == 0) {
        rc = IDD_EEXIST;
        goto duplicate;
    }
    if (rc != IDD_ENOTFOUND) {
        fprintf(stderr, "identityctl: looking up %s: %s\n", email, idd_strerror(rc));
        goto done;
    }
    rc = make_record(store, cfg, user.tenant_id, password, password_len, user.password);
    if (rc != 0)
        goto done;
    rc = idd_store_user_insert(store, &user);
    if (rc == IDD_EEXIST)
        goto duplicate;
    if (rc != 0) {
        fprintf(stderr, "identityctl: adding %s: %s\n", email, idd_strerror(rc));
        goto done;
    }
    printf("%s\n", user.id);
    goto done;

duplicate:
    fprintf(stderr, "identityctl: user %s already exists in tenant %lld\n", email,
            (long long)user.tenant_id);
done:
    idd_wipe(password, sizeof(password));
    idd_wipe(&user, sizeof(user));
    idd_wipe(&existing, sizeof(existing));
    idd_store_free(store);
    return rc;
}

static int print_user_row(const idd_user_t *user, void *arg)
{
    char name[sizeof(user->first_name) + sizeof(user->last_name) + 1];
    const char *status = idd_user_status_name(user->status);
    snprintf(name, sizeof(name), "%s %s", user->first_name, user->last_name);
    printf("%-36s  %6lld  %-32s  %-28s  %-5s  ", user->id, (long long)user->tenant_id, user->email,
           name, idd_role_name(user->role));
    /* FLAGS is empty for most users: only pad STATUS when something follows it, so rows
     * carry no trailing blanks. */
    if (user->password_change_required)
        printf("%-8s  pwchange\n", status);
    else
        printf("%s\n", status);
    (*(size_t *)arg)++;
    return 0;
}

static int cmd_user_list(const ctl_args_t *args, const idd_config_t *cfg, int variant)
{
    int rc = IDD_EINVAL;
    idd_store_t *store = NULL;
    int64_t tenant_id = 0; /* every tenant */
    size_t count = 0;

    if (args->values[OPT_TENANT] != NULL) {
        rc = resolve_tenant(args, cfg, &tenant_id);
        if (rc != 0)
            goto done;
    }
    rc = open_store(cfg, false, &store, NULL, NULL);
    if (rc != 0)
        goto done;
    printf("%-36s  %6s  %-32s  %-28s  %-5s  %-8s  %s\n", "ID", "TENANT", "EMAIL", "NAME", "ROLE",
           "STATUS", "FLAGS");
    rc = idd_store_user_list(store, tenant_id, print_user_row, &count);
    if (rc != 0)
        fprintf(stderr, "identityctl: listing users: %s\n", idd_strerror(rc));

done:
    idd_store_free(store);
    return rc;
}

/* user disable / user enable: variant is the idd_user_status_t to set. */
static int cmd_user_status(const ctl_args_t *args, const idd_config_t *cfg, int variant)
{
    idd_user_status_t status = (idd_user_status_t)variant;
    int rc = IDD_EINVAL;
    idd_store_t *store = NULL;
    idd_user_t user;

    memset(&user, 0, sizeof(user));
    rc = lookup_user(args, cfg, &store, &user);
    if (rc != 0)
        goto done;
    /* Changing the status bumps auth_version, which ends the user's sessions: do it only
     * when the status actually changes. */
    if (user.status != status) {
        rc = idd_store_user_set_status(store, user.id, status);
        if (rc != 0) {
            fprintf(stderr, "identityctl: updating %s: %s\n", user.email, idd_strerror(rc));
            goto done;
        }
    }
    printf("%s %s (%s)\n", status == IDD_USER_DISABLED ? "disabled" : "enabled", user.email,
           user.id);

done:
    idd_wipe(&user, sizeof(user));
    idd_store_free(store);
    return rc;
}

static int cmd_user_passwd(const ctl_args_t *args, const idd_config_t *cfg, int variant)
{
    int rc = IDD_EINVAL;
    idd_store_t *store = NULL;
    idd_user_t user;
    char password[PASSWORD_INPUT_MAX + 1];
    size_t password_len = 0;
    char record[IDD_PASSWORD_RECORD_MAX + 1];

    memset(&user, 0, sizeof(user));
    memset(password, 0, sizeof(password));
    memset(record, 0, sizeof(record));
    rc = lookup_user(args, cfg, &store, &user);
    if (rc == 0)
        rc = read_password(password, &password_len);
    if (rc == 0)
        rc = make_record(store, cfg, user.tenant_id, password, password_len, record);
    if (rc != 0)
        goto done;
    rc = idd_store_user_set_password(store, user.id, record);
    if (rc != 0) {
        fprintf(stderr, "identityctl: updating %s: %s\n", user.email, idd_strerror(rc));
        goto done;
    }
    printf("password changed for %s (%s)\n", user.email, user.id);

done:
    idd_wipe(password, sizeof(password));
    idd_wipe(record, sizeof(record));
    idd_wipe(&user, sizeof(user));
    idd_store_free(store);
    return rc;
}

/* Copies text into out (size bytes) for display on a terminal, with every byte outside
 * printable ASCII shown as '?'. The user agent comes from whoever signed in: printed raw, an
 * escape sequence in it could rewrite or hide what the administrator sees. User agents are
 * ASCII in practice, so little is lost. An empty text becomes "-" to keep the columns. */
static void printable(const char *text, char *out, size_t size)
{
    size_t n = 0;
    for (; text[n] != '\0' && n + 1 < size; n++) {
        unsigned char c = (unsigned char)text[n];
        out[n] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    out[n] = '\0';
    if (n == 0)
        snprintf(out, size, "-");
}

static int print_session_row(const idd_session_t *session, void *arg)
{
    char created[21], expires[21], last_seen[21];
    char ip[IDD_IP_MAX + 1], agent[IDD_USER_AGENT_MAX + 1];

    idd_format_iso8601(session->created, created);
    idd_format_iso8601(session->expires, expires);
    idd_format_iso8601(session->last_seen, last_seen);
    printable(session->ip, ip, sizeof(ip));
    printable(session->user_agent, agent, sizeof(agent));
    printf("%-10lld  %-20s  %-20s  %-20s  %-15s  %s\n", (long long)session->id, created, expires,
           last_seen, ip, agent);
    (*(size_t *)arg)++;
    return 0;
}

static int cmd_session_list(const ctl_args_t *args, const idd_config_t *cfg, int variant)
{
    int rc = IDD_EINVAL;
    idd_store_t *store = NULL;
    idd_user_t user;
    size_t count = 0;

    memset(&user, 0, sizeof(user));
    rc = lookup_user(args, cfg, &store, &user);
    if (rc != 0)
        goto done;
    printf("%-10s  %-20s  %-20s  %-20s  %-15s  %s\n", "ID", "CREATED", "EXPIRES", "LAST SEEN", "IP",
           "USER AGENT");
    rc = idd_store_session_list_user(store, user.id, idd_now(), print_session_row, &count);
    if (rc != 0)
        fprintf(stderr, "identityctl: listing sessions of %s: %s\n", user.email, idd_strerror(rc));

done:
    idd_wipe(&user, sizeof(user));
    idd_store_free(store);
    return rc;
}

/* session revoke ID: ends one session, found by the id `session list` shows. */
static int revoke_one(const ctl_args_t *args, const idd_config_t *cfg)
{
    const char *text = args->positional[0];
    int rc = IDD_EINVAL;
    idd_store_t *store = NULL;
    idd_session_t session;
    char *end = NULL;
    long long id;

    memset(&session, 0, sizeof(session));
    errno = 0;
    id = strtoll(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || id < 1) {
        fprintf(stderr, "identityctl: a session id is a positive number, not \"%s\"\n", text);
        goto done;
    }
    rc = open_store(cfg, false, &store, NULL, NULL);
    if (rc != 0)
        goto done;
    /* Looked up first so that an already ended session is reported as such rather than as
     * revoked now. */
    rc = idd_store_session_by_id(store, (int64_t)id, &session);
    if (rc == 0 && session.active)
        rc = idd_store_session_end(store, (int64_t)id);
    if (rc == IDD_ENOTFOUND) {
        fprintf(stderr, "identityctl: no session %lld\n", id);
        goto done;
    }
    if (rc != 0) {
        fprintf(stderr, "identityctl: revoking session %lld: %s\n", id, idd_strerror(rc));
        goto done;
    }
    if (session.active)
        printf("revoked session %lld\n", id);
    else
        printf("session %lld had already ended: nothing revoked\n", id);

done:
    idd_wipe(&session, sizeof(session));
    idd_store_free(store);
    return rc;
}

/* session revoke --all EMAIL: ends every active session of the user. */
static int revoke_all(const ctl_args_t *args, const idd_config_t *cfg)
{
    int rc = IDD_EINVAL;
    idd_store_t *store = NULL;
    idd_user_t user;
    int count = 0;

    memset(&user, 0, sizeof(user));
    rc = lookup_user(args, cfg, &store, &user);
    if (rc != 0)
        goto done;
    rc = idd_store_session_end_user(store, user.id, 0, &count);
    if (rc != 0) {
        fprintf(stderr, "identityctl: revoking the sessions of %s: %s\n", user.email,
                idd_strerror(rc));
        goto done;
    }
    printf("revoked %d session%s of %s\n", count, count == 1 ? "" : "s", user.email);

done:
    idd_wipe(&user, sizeof(user));
    idd_store_free(store);
    return rc;
}

static int cmd_session_revoke(const ctl_args_t *args, const idd_config_t *cfg, int variant)
{
    if (args->values[OPT_ALL] != NULL)
        return revoke_all(args, cfg);
    /* Session ids are unique across tenants, so --tenant could only mislead here. */
    if (args->values[OPT_TENANT] != NULL) {
        fputs("identityctl: --tenant goes with --all EMAIL, not with a session id\n", stderr);
        return IDD_EINVAL;
    }
    return revoke_one(args, cfg);
}

static int cmd_key_generate(const ctl_args_t *args, const idd_config_t *cfg, int variant)
{
    int rc = IDD_EINVAL;
    const char *alg_name = args->values[OPT_ALG];
    const char *path = args->values[OPT_OUT];
    idd_alg_t alg;
    char err[512] = "";

    /* HS256 keys are DocSpace machine keys, configured rather than generated. */
    if (idd_alg_parse(alg_name, &alg) != 0 || alg == IDD_ALG_HS256) {
        fprintf(stderr, "identityctl: --alg must be ES256, RS256 or EdDSA, not \"%s\"\n", alg_name);
        goto done;
    }
    rc = idd_key_generate(alg, path, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "identityctl: %s\n", err[0] ? err : idd_strerror(rc));
        goto done;
    }
    printf("wrote %s private key to %s\n", idd_alg_name(alg), path);

done:
    return rc;
}

static int cmd_token_verify(const ctl_args_t *args, const idd_config_t *cfg, int variant)
{
    int rc = IDD_EINVAL;
    idd_keyring_t *keyring = NULL;
    idd_buf_t claims;
    json_t *doc = NULL;
    char *pretty = NULL;
    /* One spare byte tells an overlong token from one of exactly the maximum size. */
    char *token = idd_xmalloc(TOKEN_INPUT_MAX + 2);
    char err[512] = "";
    ssize_t n;
    size_t start = 0, end;

    idd_buf_init(&claims);
    n = read_stdin(token, TOKEN_INPUT_MAX + 1, false);
    if (n < 0) {
        fprintf(stderr, "identityctl: reading the token from stdin: %s\n", strerror(errno));
        rc = IDD_EIO;
        goto done;
    }
    end = (size_t)n;
    while (start < end && strchr(" \t\r\n", token[start]) != NULL)
        start++;
    while (end > start && strchr(" \t\r\n", token[end - 1]) != NULL)
        end--;
    if (end - start > TOKEN_INPUT_MAX) {
        fprintf(stderr, "identityctl: token longer than %d bytes\n", TOKEN_INPUT_MAX);
        goto done;
    }
    if (end == start || memchr(token + start, '\0', end - start) != NULL) {
        fputs("identityctl: no token on stdin\n", stderr);
        goto done;
    }
    token[end] = '\0';
    rc = idd_keyring_load(cfg, &keyring, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "identityctl: %s\n", err[0] ? err : idd_strerror(rc));
        goto done;
    }
    err[0] = '\0';
    rc = idd_verify_token(keyring, token + start, idd_now(), &claims, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "identityctl: invalid token: %s\n", err[0] ? err : idd_strerror(rc));
        goto done;
    }
    doc = json_loadb(claims.data, claims.len, 0, NULL);
    pretty = doc != NULL ? json_dumps(doc, JSON_INDENT(2)) : NULL;
    /* The signature is valid, so the claims are shown even if they fail to re-parse. */
    printf("%s\n", pretty != NULL ? pretty : claims.data != NULL ? claims.data : "");

done:
    free(pretty);
    json_decref(doc);
    idd_buf_dispose(&claims);
    idd_keyring_free(keyring);
    /* A valid token is a bearer credential until it expires. */
    idd_wipe(token, TOKEN_INPUT_MAX + 2);
    free(token);
    return rc;
}

static const ctl_command_t commands[] = {
    {"migrate", NULL, 0, 0, 0, NULL, true, cmd_migrate, 0},
    {"user", "add",
     OPT_BIT(OPT_FIRST) | OPT_BIT(OPT_LAST) | OPT_BIT(OPT_ROLE) | OPT_BIT(OPT_TENANT),
     OPT_BIT(OPT_FIRST) | OPT_BIT(OPT_LAST), 1, "EMAIL", true, cmd_user_add, 0},
    {"user", "list", OPT_BIT(OPT_TENANT), 0, 0, NULL, true, cmd_user_list, 0},
    {"user", "disable", OPT_BIT(OPT_TENANT), 0, 1, "EMAIL", true, cmd_user_status,
     IDD_USER_DISABLED},
    {"user", "enable", OPT_BIT(OPT_TENANT), 0, 1, "EMAIL", true, cmd_user_status, IDD_USER_ACTIVE},
    {"user", "passwd", OPT_BIT(OPT_TENANT), 0, 1, "EMAIL", true, cmd_user_passwd, 0},
    {"session", "list", OPT_BIT(OPT_TENANT), 0, 1, "EMAIL", true, cmd_session_list, 0},
    /* The operand is a session id, or with --all an email address. */
    {"session", "revoke", OPT_BIT(OPT_ALL) | OPT_BIT(OPT_TENANT), 0, 1, "ID (or --all EMAIL)", true,
     cmd_session_revoke, 0},
    {"key", "generate", OPT_BIT(OPT_ALG) | OPT_BIT(OPT_OUT), OPT_BIT(OPT_ALG) | OPT_BIT(OPT_OUT), 0,
     NULL, false, cmd_key_generate, 0},
    {"token", "verify", 0, 0, 0, NULL, true, cmd_token_verify, 0},
};

/* Parses argv[*i] when it is -c/--config/-h/--help (any position). Returns 1 when it was one
 * (advancing *i past a value), 0 when it is something else, 2 after a usage error. */
static int parse_common_option(int argc, char **argv, int *i, ctl_args_t *args)
{
    const char *arg = argv[*i];
    if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
        args->help = true;
        return 1;
    }
    if (strncmp(arg, "--config=", 9) == 0) {
        args->config_path = arg + 9;
        return 1;
    }
    if (strcmp(arg, "-c") == 0 || strcmp(arg, "--config") == 0) {
        if (*i + 1 >= argc)
            return usage_error("option %s needs a file", arg);
        args->config_path = argv[++*i];
        return 1;
    }
    return 0;
}

/* Parses the operands and options after the command words. Returns 0 or 2. */
static int parse_rest(int argc, char **argv, int i, const ctl_command_t *cmd, ctl_args_t *args)
{
    bool operands_only = false;
    for (; i < argc; i++) {
        const char *arg = argv[i];
        if (!operands_only && strcmp(arg, "--") == 0) {
            operands_only = true;
            continue;
        }
        if (operands_only || arg[0] != '-' || arg[1] == '\0') {
            if (args->n_positional >= cmd->n_positional)
                return usage_error("unexpected argument \"%s\"", arg);
            args->positional[args->n_positional++] = arg;
            continue;
        }
        int common = parse_common_option(argc, argv, &i, args);
        if (common == 2)
            return 2;
        if (common == 1)
            continue;
        const char *eq = strchr(arg, '=');
        size_t name_len = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
        size_t k = 0;
        while (k < OPT_COUNT &&
               !(strlen(option_names[k]) == name_len &&
                 strncmp(option_names[k], arg, name_len) == 0 && (cmd->allowed & OPT_BIT(k))))
            k++;
        if (k == OPT_COUNT)
            return usage_error("unknown option %s", arg);
        if (args->values[k] != NULL)
            return usage_error("option %s given twice", option_names[k]);
        if (OPT_FLAGS & OPT_BIT(k)) {
            if (eq != NULL)
                return usage_error("option %s takes no value", option_names[k]);
            args->values[k] = arg;
            continue;
        }
        if (eq == NULL && i + 1 >= argc)
            return usage_error("option %s needs a value", arg);
        args->values[k] = eq != NULL ? eq + 1 : argv[++i];
    }
    if (args->help)
        return 0;
    if (args->n_positional < cmd->n_positional)
        return usage_error("missing %s", cmd->operand);
    for (size_t k = 0; k < OPT_COUNT; k++) {
        if ((cmd->required & OPT_BIT(k)) && args->values[k] == NULL)
            return usage_error("missing option %s", option_names[k]);
    }
    return 0;
}

int main(int argc, char **argv)
{
    ctl_args_t args;
    const ctl_command_t *cmd = NULL;
    idd_config_t *cfg = NULL;
    char err[1024] = "";
    int status = 2;
    int i = 1;

    memset(&args, 0, sizeof(args));
    /* Library modules log to stderr; an admin tool shows only their warnings and errors. */
    idd_log_set_level(IDD_LOG_WARN);

    for (; i < argc && argv[i][0] == '-'; i++) {
        int common = parse_common_option(argc, argv, &i, &args);
        if (common == 2)
            goto done;
        if (common == 0) {
            status = usage_error("unknown option %s", argv[i]);
            goto done;
        }
    }
    if (i >= argc) {
        if (args.help) {
            print_usage(stdout);
            status = 0;
        } else {
            status = usage_error("%s", "missing command");
        }
        goto done;
    }
    const char *word = argv[i++];
    const char *sub = i < argc ? argv[i] : NULL;
    bool known_word = false;
    for (size_t k = 0; k < IDD_ARRAY_LEN(commands) && cmd == NULL; k++) {
        if (strcmp(commands[k].word, word) != 0)
            continue;
        known_word = true;
        if (commands[k].sub == NULL || (sub != NULL && strcmp(commands[k].sub, sub) == 0))
            cmd = &commands[k];
    }
    if (cmd == NULL) {
        if (known_word && sub != NULL && (strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0)) {
            print_usage(stdout);
            status = 0;
        } else if (!known_word)
            status = usage_error("unknown command \"%s\"", word);
        else if (sub == NULL || sub[0] == '-')
            status = usage_error("\"%s\" needs a subcommand", word);
        else
            status = usage_error("unknown subcommand \"%s\"", sub);
        goto done;
    }
    if (cmd->sub != NULL)
        i++;
    status = parse_rest(argc, argv, i, cmd, &args);
    if (status != 0)
        goto done;
    if (args.help) {
        print_usage(stdout);
        goto done;
    }

    status = 1;
    if (cmd->needs_config) {
        const char *path = args.config_path;
        if (path == NULL)
            path = getenv("IDENTITYD_CONFIG");
        if (path == NULL || path[0] == '\0')
            path = DEFAULT_CONFIG;
        int rc = idd_config_load(path, &cfg, err, sizeof(err));
        if (rc != 0) {
            fprintf(stderr, "identityctl: %s\n", err[0] ? err : idd_strerror(rc));
            goto done;
        }
    }
    status = cmd->run(&args, cfg, cmd->variant) == 0 ? 0 : 1;

done:
    idd_config_free(cfg);
    if (fflush(stdout) != 0 && status == 0)
        status = 1;
    return status;
}
