/*
 * The helpers identityctl's commands share (see ctl.h): checking an address, resolving
 * --tenant against the configuration, opening the database the way a command needs it, and
 * finding the user a command names. They print their reasons to stderr, since they only
 * run inside the tool.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl.h"
#include "identityd/core/common.h"
#include "identityd/core/utf8.h"

/* Returns true when s[0..len) is valid UTF-8, which jansson checks when it builds a string.
 * Names and emails end up in JWT claims, whose JSON must be valid UTF-8. */
/* Checks the shape of an address, not its deliverability: one '@' with something on both
 * sides, no whitespace or control characters, at most IDD_EMAIL_MAX bytes. */
int idd_ctl_check_email(const char *email)
{
    size_t len = strlen(email);
    const char *at = strchr(email, '@');
    if (len == 0 || len > IDD_EMAIL_MAX || at == NULL || at == email || at[1] == '\0' ||
        strchr(at + 1, '@') != NULL || strchr(email, ' ') != NULL ||
        !idd_utf8_is_plain_text(email, len)) {
        fprintf(stderr,
                "identityctl: invalid email address (one '@', no spaces or control "
                "characters, at most %d bytes)\n",
                IDD_EMAIL_MAX);
        return IDD_EINVAL;
    }
    return 0;
}

/* Resolves --tenant (or the first configured tenant) to a configured tenant id. */
int idd_ctl_resolve_tenant(const idd_ctl_args_t *args, const idd_config_t *cfg, int64_t *out)
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

/* Opens the database. With prepare, migrates it (versions to from and to when not NULL) and
 * ensures every configured tenant, so a fresh file works; without, the database must already
 * exist at the current schema, because those commands should not create or change it. */
int idd_ctl_open_store(const idd_config_t *cfg, bool prepare, idd_store_t **out, int *from, int *to)
{
    int rc = IDD_ESTORE;
    idd_store_t *store = NULL;
    const char *file = idd_store_file(cfg->database);
    const char *path = file != NULL ? file : cfg->database;
    int version = 0;

    *out = NULL;
    /* A PostgreSQL database is checked by its schema version below. */
    if (!prepare && file != NULL && access(file, F_OK) != 0) {
        fprintf(stderr, "identityctl: database %s does not exist; run 'identityctl migrate'\n",
                path);
        rc = IDD_ENOTFOUND;
        goto done;
    }
    /* The database holds password records: only its owner may read it. */
    umask(077);
    rc = idd_store_open_secret(cfg->database, cfg->database_password_file, &store);
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
int idd_ctl_lookup_user(const idd_ctl_args_t *args, const idd_config_t *cfg, idd_store_t **store,
                        idd_user_t *user)
{
    const char *email = args->positional[0];
    int64_t tenant_id = 0;
    int rc = idd_ctl_check_email(email);
    if (rc == 0)
        rc = idd_ctl_resolve_tenant(args, cfg, &tenant_id);
    if (rc == 0)
        rc = idd_ctl_open_store(cfg, false, store, NULL, NULL);
    if (rc != 0)
        return rc;
    rc = idd_store_user_by_email(*store, tenant_id, email, user);
    if (rc == IDD_ENOTFOUND)
        fprintf(stderr, "identityctl: no user %s in tenant %lld\n", email, (long long)tenant_id);
    else if (rc != 0)
        fprintf(stderr, "identityctl: looking up %s: %s\n", email, idd_strerror(rc));
    return rc;
}

/* Copies text into out (size bytes) for display on a terminal, with every byte outside
 * printable ASCII shown as '?'. The user agent comes from whoever signed in: printed raw, an
 * escape sequence in it could rewrite or hide what the administrator sees. User agents are
 * ASCII in practice, so little is lost. An empty text becomes "-" to keep the columns. */
void idd_ctl_printable(const char *text, char *out, size_t size)
{
    size_t n = 0;
    for (; text[n] != '\0' && n + 1 < size; n++) {
        unsigned char c = (unsigned char)text[n];
        out[n] = (char)(c >= 0x20 && c < 0x7f ? c : '?');
    }
    out[n] = '\0';
    if (n == 0)
        snprintf(out, size, "-");
}
