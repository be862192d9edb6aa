/*
 * store copy: moves a deployment from its SQLite file to an empty PostgreSQL database
 * (include/identityd/store/copy.h does the work). The target's password comes from
 * --to-password-file, else from the configuration's database_password_file, never from the
 * command line: a --to that carries one is refused.
 */
#include <stdio.h>

#include "ctl.h"
#include "identityd/core/common.h"
#include "identityd/store/copy.h"

void idd_ctl_store_usage(FILE *out)
{
    fputs("  store copy --from sqlite:PATH --to POSTGRES [--to-password-file FILE]\n"
          "                              copy an SQLite deployment into an empty PostgreSQL\n"
          "                              database (a postgresql:// URI or \"host=... dbname=...\"\n"
          "                              without a password: FILE, else database_password_file\n"
          "                              of the configuration, holds it), in one transaction:\n"
          "                              tenants and their salts, users, sessions (login_events),\n"
          "                              api_keys, signing_keys, user_tfa, tenant_tfa, with\n"
          "                              their ids; it prints each table's row count on both\n"
          "                              sides and commits only when they agree. The source is\n"
          "                              only read and must be at this schema version (else\n"
          "                              'identityctl migrate' it first); the target is migrated\n"
          "                              and may hold tenant rows only, which are replaced. Not\n"
          "                              copied: schema bookkeeping, store_changes (the\n"
          "                              credential caches' change counter) and the\n"
          "                              brute-force counters with their key\n",
          out);
}

static void print_count(const char *table, int64_t source, int64_t target, void *arg)
{
    (void)arg;
    printf("%s %lld \xe2\x86\x92 %lld%s\n", table, (long long)source, (long long)target,
           source == target ? "" : "  DIFFERS");
}

int idd_ctl_store_copy(const idd_ctl_args_t *args, const idd_config_t *cfg, int variant)
{
    (void)variant;
    const char *password_file = args->values[OPT_TO_PASSWORD_FILE];
    char err[1024];

    if (password_file == NULL && cfg != NULL)
        password_file = cfg->database_password_file;
    int rc = idd_store_copy(args->values[OPT_FROM], args->values[OPT_TO], password_file,
                            print_count, NULL, err, sizeof err);
    if (rc != 0) {
        (void)fflush(stdout); /* the counts printed so far, before the error */
        fprintf(stderr, "identityctl: store copy: %s\n", err[0] != '\0' ? err : idd_strerror(rc));
        return rc;
    }
    puts("copied: every count agrees; point database: at the target and start identityd");
    return 0;
}
