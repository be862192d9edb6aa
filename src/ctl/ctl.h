/*
 * What the files of identityctl share: the parsed command line, and the helpers its commands
 * use to check operands, open the database and find a user. identityctl.c holds main, the
 * parser, and the migrate, user, key and token commands; ctl_common.c the helpers;
 * ctl_sessions.c and ctl_keys.c the session and API key commands; ctl_tfa.c the two-factor
 * ones.
 *
 * These files are built into identityctl alone, never into the server's library: identityd
 * cannot call them, and a test that needs a rule of theirs finds it in the layer it belongs
 * to (cred, store, ...). Their functions carry the idd_ctl_ prefix all the same. They print
 * to stdout and stderr as the tool does, and follow its exit-status rule: a command returns 0
 * or a negative IDD_E* code after printing why (main turns that into status 1), or
 * IDD_CTL_EXIT_USAGE when an option's value is malformed (status 2, as for a malformed command
 * line). The option
 * constants carry no prefix because they have no linkage and are only used by these files.
 * Include it as "ctl.h", from the same folder.
 */
#ifndef IDD_CTL_H
#define IDD_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "identityd/config/config.h"
#include "identityd/store/store.h"

/* Options a command may take, as indexes into idd_ctl_args_t.values (identityctl.c keeps
 * their spellings and which command takes which). */
enum {
    OPT_FIRST,
    OPT_LAST,
    OPT_ROLE,
    OPT_TENANT,
    OPT_ALG,
    OPT_OUT,
    OPT_ALL,
    OPT_NAME,
    OPT_PERMISSIONS,
    OPT_EXPIRES_DAYS,
    OPT_DIR,
    OPT_TRUSTED_IPS,
    OPT_MANDATORY,
    OPT_FROM,
    OPT_TO,
    OPT_TO_PASSWORD_FILE,
    OPT_COUNT
};

/* What a command returns, after printing why, when an option's value is malformed: main
 * exits with status 2. Positive, so never an IDD_E* code. */
#define IDD_CTL_EXIT_USAGE 2

/* The variants of `tenant tfa`. */
enum { IDD_CTL_TFA_ON, IDD_CTL_TFA_OFF, IDD_CTL_TFA_SHOW };

/* The parsed command line. Every string is borrowed from argv. */
typedef struct idd_ctl_args {
    const char *config_path; /* -c / --config, or NULL */
    bool help;
    const char *values[OPT_COUNT]; /* option values by OPT_*, NULL when not given */
    const char *positional[1];     /* EMAIL or ID, for the commands that take one */
    size_t n_positional;
} idd_ctl_args_t;

/* ---- ctl_common.c ---- */

/* Checks the shape of an address (not its deliverability); prints why and returns
 * IDD_EINVAL when it is wrong. */
int idd_ctl_check_email(const char *email);

/* Resolves --tenant (or the first configured tenant) to a configured tenant id; prints why
 * and returns IDD_EINVAL, IDD_ENOTFOUND or IDD_ECONFIG when it cannot. */
int idd_ctl_resolve_tenant(const idd_ctl_args_t *args, const idd_config_t *cfg, int64_t *out);

/* Opens the configured database into *out (the caller frees it). With prepare, migrates it
 * (versions to from and to when not NULL) and ensures every configured tenant, so a fresh
 * file works; without, the file must already exist at the current schema. Prints why and
 * returns an IDD_E* code on failure, with *out NULL. */
int idd_ctl_open_store(const idd_config_t *cfg, bool prepare, idd_store_t **out, int *from,
                       int *to);

/* Opens the existing database and looks up EMAIL (the first operand) in the tenant of
 * --tenant or the default one. On success *store is open (the caller frees it) and user
 * filled (it holds the password record: the caller wipes it). On failure it prints why;
 * *store may still be open and must be freed. */
int idd_ctl_lookup_user(const idd_ctl_args_t *args, const idd_config_t *cfg, idd_store_t **store,
                        idd_user_t *user);

/* Copies text into out (size bytes) for display on a terminal, with every byte outside
 * printable ASCII shown as '?', and an empty text as "-" to keep the columns. For values a
 * client chose, such as a user agent, where an escape sequence printed raw could rewrite or
 * hide what the administrator sees. */
void idd_ctl_printable(const char *text, char *out, size_t size);

/* ---- the commands: each takes the parsed arguments, the loaded configuration and the
 * command table's variant, and returns 0 or an IDD_E* code after printing why ---- */

/* ctl_sessions.c: session list EMAIL, session revoke ID | --all EMAIL. */
int idd_ctl_session_list(const idd_ctl_args_t *args, const idd_config_t *cfg, int variant);
int idd_ctl_session_revoke(const idd_ctl_args_t *args, const idd_config_t *cfg, int variant);

/* ctl_keys.c: apikey create EMAIL, apikey list [EMAIL], apikey revoke ID. */
int idd_ctl_apikey_create(const idd_ctl_args_t *args, const idd_config_t *cfg, int variant);
int idd_ctl_apikey_list(const idd_ctl_args_t *args, const idd_config_t *cfg, int variant);
int idd_ctl_apikey_revoke(const idd_ctl_args_t *args, const idd_config_t *cfg, int variant);

/* ctl_signing.c: key rotate --dir DIR --alg ALG (a new key file and the keys: line that
 * introduces it), reload (SIGHUP to the identityd named by pid_file). */
int idd_ctl_key_rotate(const idd_ctl_args_t *args, const idd_config_t *cfg, int variant);
int idd_ctl_reload(const idd_ctl_args_t *args, const idd_config_t *cfg, int variant);

/* ctl_tfa.c: user tfa reset EMAIL (unlink the app, end the user's sessions), tenant tfa
 * on|off|show (variant: IDD_CTL_TFA_*) with --trusted-ips LIST and --mandatory EMAILS. */
int idd_ctl_user_tfa_reset(const idd_ctl_args_t *args, const idd_config_t *cfg, int variant);
int idd_ctl_tenant_tfa(const idd_ctl_args_t *args, const idd_config_t *cfg, int variant);

/* ctl_store.c: store copy --from sqlite:PATH --to POSTGRES [--to-password-file FILE] (an
 * SQLite deployment into an empty PostgreSQL database, every table, counts verified), and
 * its lines of the help text. */
int idd_ctl_store_copy(const idd_ctl_args_t *args, const idd_config_t *cfg, int variant);
void idd_ctl_store_usage(FILE *out);

#endif
