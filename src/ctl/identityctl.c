/*
 * identityctl, the admin tool: migrates the database, manages users, their sign-in sessions
 * and their API keys, generates signing keys and verifies tokens, always through the same
 * library as identityd so that what it writes is exactly what the server reads. It assumes it
 * runs as the account that owns the database and key files, and it creates files readable by
 * that account only. This file holds main, the command line and the user, key and token
 * commands; the session and API key commands live in ctl_sessions.c and ctl_keys.c, the
 * two-factor ones in ctl_tfa.c, the helpers they share in ctl_common.c (see ctl.h).
 *
 * Exit status: 0 on success, 1 when the command was understood but failed (its reason on
 * stderr), 2 when the command line itself is malformed (unknown command or option, missing
 * argument, an option value that is not one, such as a bad --trusted-ips entry). Passwords are read
 * from stdin, never from argv where `ps` would show them, and neither passwords, client hashes nor
 * password records are ever printed; nor are session digests, which identify sessions by their id
 * instead. An API key is printed once, when it is created; afterwards only its last four characters
 * are.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <jansson.h>

#include "ctl.h"
#include "identityd/core/buf.h"
#include "identityd/core/common.h"
#include "identityd/core/utf8.h"
#include "identityd/config/config.h"
#include "identityd/core/ct.h"
#include "identityd/token/keyring.h"
#include "identityd/token/rotation.h"
#include "identityd/core/log.h"
#include "identityd/cred/password.h"
#include "identityd/store/store.h"
#include "identityd/token/verify.h"

#define DEFAULT_CONFIG "config/identityd.yaml"
#define PASSWORD_INPUT_MAX 1024
#define TOKEN_INPUT_MAX (16 * 1024)

/* The spellings of the options of ctl.h, by OPT_*; a command lists those it allows and
 * requires as bit sets (OPT_BIT). The options in OPT_FLAGS take no value: given, their entry
 * in values is the option itself. */
#define OPT_BIT(opt) (1u << (opt))
#define OPT_FLAGS OPT_BIT(OPT_ALL)
static const char *const option_names[OPT_COUNT] = {
    [OPT_FIRST] = "--first",
    [OPT_LAST] = "--last",
    [OPT_ROLE] = "--role",
    [OPT_TENANT] = "--tenant",
    [OPT_ALG] = "--alg",
    [OPT_OUT] = "--out",
    [OPT_ALL] = "--all",
    [OPT_NAME] = "--name",
    [OPT_PERMISSIONS] = "--permissions",
    [OPT_EXPIRES_DAYS] = "--expires-days",
    [OPT_DIR] = "--dir",
    [OPT_TRUSTED_IPS] = "--trusted-ips",
    [OPT_MANDATORY] = "--mandatory",
    [OPT_FROM] = "--from",
    [OPT_TO] = "--to",
    [OPT_TO_PASSWORD_FILE] = "--to-password-file",
};

typedef struct ctl_command ctl_command_t;
typedef int (*ctl_run_fn)(const idd_ctl_args_t *args, const idd_config_t *cfg, int variant);

struct ctl_command {
    const char *word;    /* "migrate", "user", "tenant", "session", "apikey", "key", "token" */
    const char *sub;     /* second word, or NULL */
    unsigned allowed;    /* OPT_BIT()s accepted */
    unsigned required;   /* OPT_BIT()s that must be given */
    size_t n_positional; /* number of operands taken (0 or 1) */
    const char *operand; /* what the operand is, for "missing ..." (NULL without one) */
    bool needs_config;
    ctl_run_fn run;
    int variant;           /* passed to run: the target status of enable/disable */
    bool operand_optional; /* the operand may be left out */
    const char *verb;      /* third word ("user tfa reset"), or NULL */
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
          "  user tfa reset EMAIL [--tenant N]\n"
          "                              unlink the user's two-factor app and end their\n"
          "                              sessions: the next sign-in links an app again\n"
          "  tenant tfa on [--trusted-ips LIST] [--mandatory EMAILS] [--tenant N]\n"
          "                              turn two-factor sign-in on (from off, it ends every\n"
          "                              session of the tenant); each option replaces its\n"
          "                              stored list: LIST of addresses, a-b ranges and CIDR\n"
          "                              networks, EMAILS of users challenged even from a\n"
          "                              trusted address (comma-separated; \"\" empties it)\n"
          "  tenant tfa off [--tenant N]\n"
          "                              turn it off (the lists are kept)\n"
          "  tenant tfa show [--tenant N]\n"
          "                              print whether it is on, and the lists\n"
          "  session list EMAIL [--tenant N]\n"
          "                              list the user's active, unexpired sessions\n"
          "  session revoke ID           end one session\n"
          "  session revoke --all EMAIL [--tenant N]\n"
          "                              end every session of the user\n"
          "  apikey create EMAIL --name N [--permissions P,...] [--expires-days D] [--tenant N]\n"
          "                              create an API key acting as the user and print it;\n"
          "                              it is shown this once (name: 1 to 30 characters;\n"
          "                              no permissions: full access; D: 1 to 365)\n"
          "  apikey list [EMAIL] [--tenant N]\n"
          "                              list the tenant's API keys, or one user's\n"
          "  apikey revoke ID            deactivate an API key\n"
          "  key generate --alg ES256|RS256|EdDSA --out FILE\n"
          "                              write a new private key (PEM, mode 0600)\n"
          "  key rotate --dir DIR --alg ES256|RS256|EdDSA\n"
          "                              write a new key into DIR and print the keys: line\n"
          "                              that introduces it (state published)\n"
          "  reload                      ask the running identityd (pid_file) to reload its\n"
          "                              configuration and keys (SIGHUP)\n"
          "  token verify                verify a token read from stdin, print its claims\n",
          out);
    idd_ctl_store_usage(out);
    fputs("\n"
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

static int check_name(const char *what, const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > IDD_NAME_MAX || !idd_utf8_is_plain_text(name, len)) {
        fprintf(stderr,
                "identityctl: invalid %s name (1 to %d bytes of UTF-8, no control "
                "characters)\n",
                what, IDD_NAME_MAX);
        return IDD_EINVAL;
    }
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
                                  client_hash, NULL);
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

static int cmd_migrate(const idd_ctl_args_t *args, const idd_config_t *cfg, int variant)
{
    (void)args;
    (void)variant;
    idd_store_t *store = NULL;
    int from = 0, to = 0;
    int rc = idd_ctl_open_store(cfg, true, &store, &from, &to);
    if (rc == 0)
        printf("schema version %d -> %d%s\n", from, to, from == to ? " (up to date)" : "");
    idd_store_free(store);
    return rc;
}

static int cmd_user_add(const idd_ctl_args_t *args, const idd_config_t *cfg, int variant)
{
    (void)variant;
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
    rc = idd_ctl_check_email(email);
    if (rc == 0)
        rc = check_name("first", first);
    if (rc == 0)
        rc = check_name("last", last);
    if (rc == 0)
        rc = idd_ctl_resolve_tenant(args, cfg, &user.tenant_id);
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
    rc = idd_ctl_open_store(cfg, true, &store, NULL, NULL);
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

static int cmd_user_list(const idd_ctl_args_t *args, const idd_config_t *cfg, int variant)
{
    (void)variant;
    int rc = IDD_EINVAL;
    idd_store_t *store = NULL;
    int64_t tenant_id = 0; /* every tenant */
    size_t count = 0;

    if (args->values[OPT_TENANT] != NULL) {
        rc = idd_ctl_resolve_tenant(args, cfg, &tenant_id);
        if (rc != 0)
            goto done;
    }
    rc = idd_ctl_open_store(cfg, false, &store, NULL, NULL);
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
static int cmd_user_status(const idd_ctl_args_t *args, const idd_config_t *cfg, int variant)
{
    idd_user_status_t status = (idd_user_status_t)variant;
    int rc = IDD_EINVAL;
    idd_store_t *store = NULL;
    idd_user_t user;

    memset(&user, 0, sizeof(user));
    rc = idd_ctl_lookup_user(args, cfg, &store, &user);
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

static int cmd_user_passwd(const idd_ctl_args_t *args, const idd_config_t *cfg, int variant)
{
    (void)variant;
    int rc = IDD_EINVAL;
    idd_store_t *store = NULL;
    idd_user_t user;
    char password[PASSWORD_INPUT_MAX + 1];
    size_t password_len = 0;
    char record[IDD_PASSWORD_RECORD_MAX + 1];

    memset(&user, 0, sizeof(user));
    memset(password, 0, sizeof(password));
    memset(record, 0, sizeof(record));
    rc = idd_ctl_lookup_user(args, cfg, &store, &user);
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

static int cmd_key_generate(const idd_ctl_args_t *args, const idd_config_t *cfg, int variant)
{
    (void)cfg;
    (void)variant;
    int rc = IDD_EINVAL;
    const char *alg_name = args->values[OPT_ALG];
    const char *path = args->values[OPT_OUT];
    idd_alg_t alg;
    char err[512] = "";

    /* HS256 keys are DocSpace machine keys, configured rather than generated. */
    if (idd_alg_parse(alg_name, IDD_JWA_SIGNING & ~IDD_JWA_HS256, &alg) != 0) {
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

static int cmd_token_verify(const idd_ctl_args_t *args, const idd_config_t *cfg, int variant)
{
    (void)args;
    (void)variant;
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
    /* With rotation, the keys identityd made are in the database: read, never changed. The
     * configuration is this command's own copy, loaded for it alone. */
    char print[64];
    rc = idd_rotation_load((idd_config_t *)cfg, true, idd_now(), print, sizeof(print), err,
                           sizeof(err));
    if (rc == 0)
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
    {"migrate", NULL, 0, 0, 0, NULL, true, cmd_migrate, 0, false, NULL},
    {"user", "add",
     OPT_BIT(OPT_FIRST) | OPT_BIT(OPT_LAST) | OPT_BIT(OPT_ROLE) | OPT_BIT(OPT_TENANT),
     OPT_BIT(OPT_FIRST) | OPT_BIT(OPT_LAST), 1, "EMAIL", true, cmd_user_add, 0, false, NULL},
    {"user", "list", OPT_BIT(OPT_TENANT), 0, 0, NULL, true, cmd_user_list, 0, false, NULL},
    {"user", "disable", OPT_BIT(OPT_TENANT), 0, 1, "EMAIL", true, cmd_user_status,
     IDD_USER_DISABLED, false, NULL},
    {"user", "enable", OPT_BIT(OPT_TENANT), 0, 1, "EMAIL", true, cmd_user_status, IDD_USER_ACTIVE,
     false, NULL},
    {"user", "passwd", OPT_BIT(OPT_TENANT), 0, 1, "EMAIL", true, cmd_user_passwd, 0, false, NULL},
    {"user", "tfa", OPT_BIT(OPT_TENANT), 0, 1, "EMAIL", true, idd_ctl_user_tfa_reset, 0, false,
     "reset"},
    {"tenant", "tfa", OPT_BIT(OPT_TENANT) | OPT_BIT(OPT_TRUSTED_IPS) | OPT_BIT(OPT_MANDATORY), 0, 0,
     NULL, true, idd_ctl_tenant_tfa, IDD_CTL_TFA_ON, false, "on"},
    {"tenant", "tfa", OPT_BIT(OPT_TENANT), 0, 0, NULL, true, idd_ctl_tenant_tfa, IDD_CTL_TFA_OFF,
     false, "off"},
    {"tenant", "tfa", OPT_BIT(OPT_TENANT), 0, 0, NULL, true, idd_ctl_tenant_tfa, IDD_CTL_TFA_SHOW,
     false, "show"},
    {"session", "list", OPT_BIT(OPT_TENANT), 0, 1, "EMAIL", true, idd_ctl_session_list, 0, false,
     NULL},
    /* The operand is a session id, or with --all an email address. */
    {"session", "revoke", OPT_BIT(OPT_ALL) | OPT_BIT(OPT_TENANT), 0, 1, "ID (or --all EMAIL)", true,
     idd_ctl_session_revoke, 0, false, NULL},
    {"apikey", "create",
     OPT_BIT(OPT_NAME) | OPT_BIT(OPT_PERMISSIONS) | OPT_BIT(OPT_EXPIRES_DAYS) | OPT_BIT(OPT_TENANT),
     OPT_BIT(OPT_NAME), 1, "EMAIL", true, idd_ctl_apikey_create, 0, false, NULL},
    {"apikey", "list", OPT_BIT(OPT_TENANT), 0, 1, "EMAIL", true, idd_ctl_apikey_list, 0, true,
     NULL},
    {"apikey", "revoke", 0, 0, 1, "ID", true, idd_ctl_apikey_revoke, 0, false, NULL},
    {"key", "generate", OPT_BIT(OPT_ALG) | OPT_BIT(OPT_OUT), OPT_BIT(OPT_ALG) | OPT_BIT(OPT_OUT), 0,
     NULL, false, cmd_key_generate, 0, false, NULL},
    {"key", "rotate", OPT_BIT(OPT_ALG) | OPT_BIT(OPT_DIR), OPT_BIT(OPT_ALG) | OPT_BIT(OPT_DIR), 0,
     NULL, false, idd_ctl_key_rotate, 0, false, NULL},
    {"reload", NULL, 0, 0, 0, NULL, true, idd_ctl_reload, 0, false, NULL},
    {"token", "verify", 0, 0, 0, NULL, true, cmd_token_verify, 0, false, NULL},
    {"store", "copy", OPT_BIT(OPT_FROM) | OPT_BIT(OPT_TO) | OPT_BIT(OPT_TO_PASSWORD_FILE),
     OPT_BIT(OPT_FROM) | OPT_BIT(OPT_TO), 0, NULL, true, idd_ctl_store_copy, 0, false, NULL},
};

/* Parses argv[*i] when it is -c/--config/-h/--help (any position). Returns 1 when it was one
 * (advancing *i past a value), 0 when it is something else, 2 after a usage error. */
static int parse_common_option(int argc, char **argv, int *i, idd_ctl_args_t *args)
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
static int parse_rest(int argc, char **argv, int i, const ctl_command_t *cmd, idd_ctl_args_t *args)
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
    if (args->n_positional < cmd->n_positional && !cmd->operand_optional)
        return usage_error("missing %s", cmd->operand);
    for (size_t k = 0; k < OPT_COUNT; k++) {
        if ((cmd->required & OPT_BIT(k)) && args->values[k] == NULL)
            return usage_error("missing option %s", option_names[k]);
    }
    return 0;
}

int main(int argc, char **argv)
{
    idd_ctl_args_t args;
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
    const char *verb = i + 1 < argc ? argv[i + 1] : NULL;
    bool known_word = false, known_sub = false;
    for (size_t k = 0; k < IDD_ARRAY_LEN(commands) && cmd == NULL; k++) {
        if (strcmp(commands[k].word, word) != 0)
            continue;
        known_word = true;
        if (commands[k].sub == NULL) {
            cmd = &commands[k];
            continue;
        }
        if (sub == NULL || strcmp(commands[k].sub, sub) != 0)
            continue;
        known_sub = true;
        if (commands[k].verb == NULL || (verb != NULL && strcmp(commands[k].verb, verb) == 0))
            cmd = &commands[k];
    }
    if (cmd == NULL && known_sub) {
        /* Three-word commands: "user tfa" and "tenant tfa" name a group, not a command. */
        char group[64];
        snprintf(group, sizeof(group), "%s %s", word, sub);
        if (verb != NULL && (strcmp(verb, "-h") == 0 || strcmp(verb, "--help") == 0)) {
            print_usage(stdout);
            status = 0;
        } else if (verb == NULL || verb[0] == '-')
            status = usage_error("\"%s\" needs a subcommand", group);
        else
            status = usage_error("unknown subcommand \"%s\"", verb);
        goto done;
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
    if (cmd->verb != NULL)
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
    int rc = cmd->run(&args, cfg, cmd->variant);
    status = rc == 0 ? 0 : rc == IDD_CTL_EXIT_USAGE ? 2 : 1;

done:
    idd_config_free(cfg);
    if (fflush(stdout) != 0 && status == 0)
        status = 1;
    return status;
}
