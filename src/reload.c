/*
 * Generations as identityd makes them: one loaded from the configuration file and what it
 * names, at start and on each reload; the database readied for it; the SIGHUP reload that
 * checks a whole new one and publishes it, or changes nothing; and the idle hook through
 * which key rotation takes its steps between signals. Main thread only (reload.h).
 */
#include "reload.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "identityd/auth/auth.h"
#include "identityd/core/common.h"
#include "identityd/core/log.h"
#include "identityd/store/store.h"
#include "identityd/token/keyring.h"
#include "identityd/token/rotation.h"

/* Opens the database, applies migrations and records the configured tenants, keeping each
 * tenant's row (its password salt) in g->tenants. */
int idd_gen_prepare_store(idd_gen_t *g, char *err, size_t errlen)
{
    const idd_config_t *cfg = g->cfg;
    idd_store_t *store = NULL;
    int from = 0, to = 0;
    int rc = idd_store_open_secret(cfg->database, cfg->database_password_file, &store);
    if (rc != 0) {
        snprintf(err, errlen, "%s: cannot open database %s", cfg->path, cfg->database);
        goto done;
    }
    rc = idd_store_migrate(store, &from, &to);
    if (rc != 0) {
        snprintf(err, errlen, "%s: database %s: %s", cfg->path, cfg->database, idd_strerror(rc));
        goto done;
    }
    if (from != to)
        idd_log_info("database schema migrated from version %d to %d", from, to);
    g->tenants = idd_xcalloc(cfg->n_tenants, sizeof(idd_tenant_t));
    for (size_t i = 0; i < cfg->n_tenants; i++) {
        rc = idd_store_tenant_ensure(store, cfg->tenants[i].id, cfg->tenants[i].name);
        if (rc == 0)
            rc = idd_store_tenant_get(store, cfg->tenants[i].id, &g->tenants[i]);
        if (rc != 0) {
            snprintf(err, errlen, "%s:%d: tenant %lld: %s", cfg->path, cfg->tenants[i].line,
                     (long long)cfg->tenants[i].id, idd_strerror(rc));
            goto done;
        }
    }
done:
    idd_store_free(store);
    return rc;
}

void idd_listeners_make(const idd_config_t *cfg, idd_listeners_t *out)
{
    out->n = cfg->n_listen;
    out->listen = idd_xcalloc(out->n, sizeof(*out->listen));
    out->tls = idd_xcalloc(out->n, sizeof(*out->tls));
    out->origins = idd_xcalloc(out->n, sizeof(*out->origins));
    for (size_t i = 0; i < out->n; i++) {
        const idd_listen_t *l = &cfg->listen[i];
        char(*o)[512] = out->origins[i];
        snprintf(o[0], sizeof(o[0]), "%s:%d", cfg->path, l->line);
        out->listen[i] = (idd_http_listen_t){l->host, l->port, o[0], NULL};
        if (!l->tls)
            continue;
        snprintf(o[1], sizeof(o[1]), "%s:%d", cfg->path, l->tls_cert_line);
        snprintf(o[2], sizeof(o[2]), "%s:%d", cfg->path, l->tls_key_line);
        out->tls[i] = (idd_http_tls_t){
            .cert_file = l->tls_cert_file,
            .key_file = l->tls_key_file,
            .min_version = l->tls_min_version == IDD_TLS_V1_3 ? IDD_HTTP_TLS_1_3 : IDD_HTTP_TLS_1_2,
            .cert_origin = o[1],
            .key_origin = o[2],
        };
        out->listen[i].tls = &out->tls[i];
    }
}

void idd_listeners_free(idd_listeners_t *h)
{
    free(h->listen);
    free(h->tls);
    free(h->origins);
    memset(h, 0, sizeof(*h));
}

/* ---- generations: what a reload replaces ---- */

static void free_oidc(struct idd_oidc *o)
{
    idd_oidc_free(o);
}

/* The rotation rows the current generation was made from ("kid:state,..." of the keys not
 * retired): main thread only. */
static char rotation_seen[4096];

/* Reads the configuration at path and everything it names (keys, the authority's settings)
 * into a new generation, not yet holding the tenants' rows. With rotation, the steps due are
 * taken first (not under -t, which changes nothing) and the keys it made are added. Returns
 * 0, or an IDD_E* code with "FILE:LINE: why" in err. */
int idd_gen_load(const char *path, bool test_only,
                 int (*before_secrets)(idd_config_t *, char *, size_t), idd_gen_t **out, char *err,
                 size_t errlen)
{
    idd_gen_t *g = idd_xcalloc(1, sizeof(*g));
    atomic_init(&g->refs, 1);
    g->id = 1;
    g->oidc_free = free_oidc;
    char print[sizeof(rotation_seen)];
    int rc = idd_config_load(path, &g->cfg, err, errlen);
    if (rc == 0 && before_secrets != NULL)
        rc = before_secrets(g->cfg, err, errlen);
    if (rc == 0)
        rc = idd_rotation_load(g->cfg, test_only, idd_now(), print, sizeof(print), err, errlen);
    if (rc == 0)
        rc = idd_keyring_load(g->cfg, &g->keyring, err, errlen);
    if (rc == 0 && !test_only && idd_keyring_active(g->keyring) == NULL) {
        snprintf(err, errlen, "%s: no key signs", g->cfg->path);
        rc = IDD_ECONFIG;
    }
    size_t mk_len;
    if (rc == 0 && g->cfg->tfa_secret == IDD_TFA_SECRET_DOCSPACE &&
        idd_keyring_machine_key(g->keyring, &mk_len) == NULL) {
        snprintf(err, errlen,
                 "%s: tfa.secret: docspace derives secrets from the machine key, and no HS256 "
                 "key has one",
                 g->cfg->path);
        rc = IDD_ECONFIG;
    }
    if (rc == 0)
        rc = idd_oidc_new(g->cfg, g->keyring, &g->oidc, err, errlen);
    if (rc != 0) {
        idd_gen_release(g);
        g = NULL;
    } else if (!test_only) {
        memcpy(rotation_seen, print, sizeof(print));
    }
    *out = g;
    return rc;
}

static const char *state_name(idd_key_state_t s)
{
    return s == IDD_KEY_ACTIVE ? "active" : s == IDD_KEY_PUBLISHED ? "published" : "retired";
}

static const idd_key_config_t *key_by_kid(const idd_config_t *cfg, const char *kid)
{
    for (size_t i = 0; i < cfg->n_keys; i++)
        if (strcmp(cfg->keys[i].kid, kid) == 0)
            return &cfg->keys[i];
    return NULL;
}

/* One line per key whose state a reload changes: consumers' caches depend on these. */
static void log_key_changes(const idd_config_t *was, const idd_config_t *now)
{
    for (size_t i = 0; i < now->n_keys; i++) {
        const idd_key_config_t *k = &now->keys[i], *o = key_by_kid(was, k->kid);
        if (o == NULL)
            idd_log_info("key %s (%s): added as %s", k->kid, idd_alg_name(k->alg),
                         state_name(k->state));
        else if (o->state != k->state)
            idd_log_info("key %s (%s): %s -> %s", k->kid, idd_alg_name(k->alg),
                         state_name(o->state), state_name(k->state));
    }
    for (size_t i = 0; i < was->n_keys; i++)
        if (key_by_kid(now, was->keys[i].kid) == NULL)
            idd_log_info("key %s (%s): removed from the configuration", was->keys[i].kid,
                         idd_alg_name(was->keys[i].alg));
}

/* What a reload keeps of the running configuration: the running one, and what the file
 * changed (main thread only). */
static struct {
    const idd_config_t *running;
    char changed[1024], kept[1024];
} reconcile_ctx;

/* Before a reload reads anything the new file names: keys that apply only at start get their
 * running values back (the database rotation reads, among them). */
// NOLINTNEXTLINE(readability-non-const-parameter): idd_gen_load's hook signature
static int reconcile_before_secrets(idd_config_t *next, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    idd_config_reconcile(reconcile_ctx.running, next, reconcile_ctx.changed,
                         sizeof(reconcile_ctx.changed), reconcile_ctx.kept,
                         sizeof(reconcile_ctx.kept));
    return 0;
}

/* SIGHUP: reads the configuration file again with everything it names, checks all of it, and
 * only then publishes it; loops move to it before their next request, requests in flight
 * finish with what they started with. Anything wrong leaves the running configuration
 * serving, and the log says why. Keys that only apply at start keep their running values. */
static void reload_because(idd_app_t *app, const char *why)
{
    /* The app's own hold keeps the current generation alive: only this thread replaces it. */
    idd_gen_t *cur = atomic_load(&app->gen);
    char err[1024] = "";
    idd_gen_t *g = NULL;
    idd_log_info("%s: reloading %s", why, cur->cfg->path);
    reconcile_ctx.running = cur->cfg;
    reconcile_ctx.changed[0] = reconcile_ctx.kept[0] = '\0';
    int rc = idd_gen_load(cur->cfg->path, false, reconcile_before_secrets, &g, err, sizeof(err));
    const char *changed = reconcile_ctx.changed, *kept = reconcile_ctx.kept;
    if (rc == 0)
        rc = idd_gen_prepare_store(g, err, sizeof(err));
    if (rc == 0) {
        /* Certificates last: once swapped, new handshakes use them, so nothing after this
         * may refuse the reload. */
        idd_listeners_t h;
        idd_listeners_make(g->cfg, &h);
        rc = idd_http_tls_reload(h.listen, h.n, err, sizeof(err));
        idd_listeners_free(&h);
    }
    if (rc != 0) {
        atomic_fetch_add(&app->reload_failures, 1);
        idd_log_error("reload refused, configuration %lu keeps serving: %s", cur->id, err);
        idd_gen_release(g);
        return;
    }
    g->id = cur->id + 1;
    if (kept[0] != '\0')
        idd_log_warn("reload: %s changed in the file but only take effect at a restart: the "
                     "running values stay",
                     kept);
    log_key_changes(cur->cfg, g->cfg);
    idd_log_set_level(g->cfg->log_level);
    idd_log_set_format(g->cfg->log_format);
    const idd_key_t *active = idd_keyring_active(g->keyring);
    idd_log_info("configuration %lu serving: signing with %s key %s; changed: %s", g->id,
                 idd_alg_name(active->alg), active->kid, changed[0] ? changed : "no setting");
    idd_app_publish(app, g);
    atomic_fetch_add(&app->reloads, 1);
}

void idd_reload_hook(void *p)
{
    reload_because(p, "SIGHUP");
}

/* Between signals: with rotation, takes the steps due and, when the keys' rows are no longer
 * those the current generation was made from (a step here, or another instance's), reloads.
 * Returns how long to wait until the next check, in ms, or -1 (no rotation: signals only). */
int idd_reload_idle_hook(void *p)
{
    idd_app_t *app = p;
    const idd_config_t *cfg = atomic_load(&app->gen)->cfg;
    if (cfg->rotation_every == 0)
        return -1;
    idd_store_t *store = NULL;
    char print[sizeof(rotation_seen)] = "";
    int rc = idd_store_open_secret(cfg->database, cfg->database_password_file, &store);
    if (rc == 0)
        rc = idd_rotation_run(store, cfg, idd_now());
    if (rc == 0)
        rc = idd_rotation_keys(store, NULL, print, sizeof(print));
    idd_store_free(store);
    if (rc == 0 && strcmp(print, rotation_seen) != 0)
        reload_because(app, "rotation: the signing keys changed"); /* may replace cfg */
    return atomic_load(&app->gen)->cfg->rotation_check_interval * 1000;
}
