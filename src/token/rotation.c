/*
 * Key rotation by identityd itself (rotation.h): the schedule as a pure function of the rows
 * and the time, and the steps that carry it out through the store and the key files.
 */
#include "identityd/token/rotation.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "identityd/core/common.h"
#include "identityd/core/log.h"
#include "identityd/token/keyring.h"

idd_rot_action_t idd_rotation_plan(const idd_signing_key_t *keys, size_t n, int64_t now, int every,
                                   int wait, const idd_signing_key_t **subject, int64_t *when)
{
    const idd_signing_key_t *active = NULL, *pending = NULL;
    *subject = NULL;
    *when = 0;
    for (size_t i = 0; i < n; i++) {
        if (keys[i].state == IDD_SKEY_ACTIVE)
            active = &keys[i];
        else if (keys[i].state == IDD_SKEY_PENDING)
            pending = &keys[i];
        else if (keys[i].state == IDD_SKEY_DRAINING && keys[i].retire_at <= now) {
            *subject = &keys[i];
            return IDD_ROT_RETIRE;
        }
    }
    if (pending != NULL) {
        if (pending->activate_at > now)
            return IDD_ROT_NONE;
        *subject = pending;
        return IDD_ROT_ACTIVATE;
    }
    if (active == NULL)
        return IDD_ROT_BOOTSTRAP;
    /* The next key signs `every` after this one began, and is published `wait` before. */
    int64_t next = active->activated + every;
    if (now < next - wait)
        return IDD_ROT_NONE;
    *when = next > now + wait ? next : now + wait;
    return IDD_ROT_PREPARE;
}

/* ---- carrying it out ---- */

typedef struct rows {
    idd_signing_key_t *keys;
    size_t n;
} rows_t;

static int collect(const idd_signing_key_t *key, void *arg)
{
    rows_t *r = arg;
    if (r->n >= 1024) /* a database holding more rows than years of rotations: stop reading */
        return 1;
    r->keys = idd_xrealloc(r->keys, (r->n + 1) * sizeof(*r->keys));
    r->keys[r->n++] = *key;
    return 0;
}

static char *key_path(const idd_config_t *cfg, const char *kid)
{
    size_t len = strlen(cfg->rotation_dir) + strlen(kid) + 6;
    char *path = idd_xmalloc(len);
    snprintf(path, len, "%s/%s.pem", cfg->rotation_dir, kid);
    return path;
}

/* Makes a key file and its row: active at once (bootstrap) or pending until activate_at. */
static int make_key(idd_store_t *store, const idd_config_t *cfg, int64_t now, bool active,
                    int64_t activate_at)
{
    idd_signing_key_t k;
    memset(&k, 0, sizeof(k));
    if (idd_key_new_kid(cfg->rotation_alg, now, k.kid) != 0)
        return IDD_ECRYPTO;
    snprintf(k.alg, sizeof(k.alg), "%s", idd_alg_name(cfg->rotation_alg));
    k.state = active ? IDD_SKEY_ACTIVE : IDD_SKEY_PENDING;
    k.created = now;
    k.activate_at = active ? now : activate_at;
    k.activated = active ? now : 0;
    char *path = key_path(cfg, k.kid);
    char err[512] = "";
    int rc = idd_key_generate(cfg->rotation_alg, path, err, sizeof(err));
    if (rc != 0) {
        idd_log_error("rotation: cannot make a key: %s", err[0] ? err : idd_strerror(rc));
        free(path);
        return rc;
    }
    rc = idd_store_signing_key_insert(store, &k);
    if (rc == IDD_EEXIST) {
        /* Another instance made this step first: its key is the one. */
        unlink(path);
        rc = 0;
    } else if (rc != 0) {
        unlink(path);
        idd_log_error("rotation: cannot record key %s: %s", k.kid, idd_strerror(rc));
    } else if (active) {
        idd_log_info("rotation: made key %s (%s); it signs from now", k.kid, k.alg);
    } else {
        idd_log_info("rotation: made key %s (%s), published; it signs in %lld s", k.kid, k.alg,
                     (long long)(activate_at - now));
    }
    free(path);
    return rc;
}

int idd_rotation_run(idd_store_t *store, const idd_config_t *cfg, int64_t now)
{
    /* Each step changes one row, so a handful of rounds reach a settled state. */
    for (int round = 0; round < 4; round++) {
        rows_t r = {NULL, 0};
        int rc = idd_store_signing_key_list(store, collect, &r);
        const idd_signing_key_t *subject = NULL;
        int64_t when = 0;
        idd_rot_action_t step = rc == 0 ? idd_rotation_plan(r.keys, r.n, now, cfg->rotation_every,
                                                            cfg->jwks_max_age, &subject, &when)
                                        : IDD_ROT_NONE;
        char kid[IDD_KID_MAX + 1] = "";
        if (subject != NULL)
            snprintf(kid, sizeof(kid), "%s", subject->kid);
        free(r.keys);
        if (rc != 0) {
            idd_log_error("rotation: cannot read the signing keys: %s", idd_strerror(rc));
            return rc;
        }
        int n = 0;
        switch (step) {
        case IDD_ROT_NONE:
            return 0;
        case IDD_ROT_BOOTSTRAP:
            rc = make_key(store, cfg, now, true, now);
            break;
        case IDD_ROT_PREPARE:
            rc = make_key(store, cfg, now, false, when);
            break;
        case IDD_ROT_ACTIVATE:
            rc = idd_store_signing_key_activate(store, kid, now, now + cfg->token_ttl);
            if (rc == 0)
                idd_log_info("rotation: key %s signs from now; the key before it stays in the "
                             "JWKS for %d s",
                             kid, cfg->token_ttl);
            else if (rc == IDD_ENOTFOUND)
                rc = 0; /* another instance activated it */
            break;
        case IDD_ROT_RETIRE:
            rc = idd_store_signing_key_retire(store, now, &n);
            if (rc == 0 && n > 0)
                idd_log_info("rotation: key %s retired: its last token has expired", kid);
            break;
        }
        if (rc != 0)
            return rc;
    }
    return 0;
}

int idd_rotation_keys(idd_store_t *store, idd_config_t *cfg, char *print, size_t print_len)
{
    rows_t r = {NULL, 0};
    int rc = idd_store_signing_key_list(store, collect, &r);
    size_t used = 0;
    print[0] = '\0';
    for (size_t i = 0; rc == 0 && i < r.n; i++) {
        const idd_signing_key_t *k = &r.keys[i];
        if (k->state == IDD_SKEY_RETIRED)
            continue; /* only a handful of rows are not: the print stays short */
        if (used + 1 < print_len)
            used += (size_t)snprintf(print + used, print_len - used, "%s:%d,", k->kid, k->state);
        if (cfg == NULL)
            continue;
        idd_alg_t alg;
        if (idd_alg_parse(k->alg, IDD_JWA_SIGNING, &alg) != 0) {
            rc = IDD_ESTORE;
            break;
        }
        cfg->keys = idd_xrealloc(cfg->keys, (cfg->n_keys + 1) * sizeof(*cfg->keys));
        idd_key_config_t *kc = &cfg->keys[cfg->n_keys++];
        memset(kc, 0, sizeof(*kc));
        kc->kid = idd_xstrdup(k->kid);
        kc->alg = alg;
        kc->file = key_path(cfg, k->kid);
        kc->state = k->state == IDD_SKEY_ACTIVE ? IDD_KEY_ACTIVE : IDD_KEY_PUBLISHED;
        kc->line = cfg->rotation_line;
        kc->file_line = cfg->rotation_line;
    }
    free(r.keys);
    return rc;
}

int idd_rotation_load(idd_config_t *cfg, bool read_only, int64_t now, char *print, size_t print_len,
                      char *err, size_t errlen)
{
    idd_store_t *store = NULL;
    int version = 0;
    print[0] = '\0';
    if (cfg->rotation_every == 0)
        return 0;
    const char *file = idd_store_file(cfg->database);
    if (read_only && file != NULL && access(file, F_OK) != 0)
        return 0; /* made at the first start, with the first key */
    int rc = idd_store_open_secret(cfg->database, cfg->database_password_file, &store);
    if (rc == 0 && read_only) {
        rc = idd_store_schema_version(store, &version);
        if (rc == 0 && version < IDD_SIGNING_KEYS_SCHEMA) {
            idd_store_free(store);
            return 0;
        }
    } else if (rc == 0) {
        rc = idd_store_migrate(store, NULL, NULL);
        if (rc == 0)
            rc = idd_rotation_run(store, cfg, now);
    }
    if (rc == 0)
        rc = idd_rotation_keys(store, cfg, print, print_len);
    if (rc != 0)
        snprintf(err, errlen, "%s:%d: rotation: the signing keys in %s: %s", cfg->path,
                 cfg->rotation_line, cfg->database, idd_strerror(rc));
    idd_store_free(store);
    return rc;
}
