/*
 * identityd's generations as the program makes them (reload.c): loading one from the
 * configuration file with everything it names, readying the database for it, the SIGHUP
 * reload that publishes a new one, and the idle hook that takes key rotation's steps between
 * signals. Also the configuration's listeners as the HTTP layer takes them, which the start
 * and a reload of TLS certificates both build. main.c's alone: not part of the library.
 */
#ifndef IDD_RELOAD_H
#define IDD_RELOAD_H

#include <stdbool.h>
#include <stddef.h>

#include "identityd/app/app.h"
#include "identityd/config/config.h"
#include "identityd/http/server.h"

/* The configuration's listeners as the HTTP layer takes them (pointing into cfg, which must
 * outlive them). A reload of TLS certificates builds these from the new configuration and
 * passes them to idd_http_tls_reload. */
typedef struct idd_listeners {
    idd_http_listen_t *listen;
    idd_http_tls_t *tls;
    char (*origins)[3][512]; /* the item's, cert_file's and key_file's "FILE:LINE" */
    size_t n;
} idd_listeners_t;

void idd_listeners_make(const idd_config_t *cfg, idd_listeners_t *out);
void idd_listeners_free(idd_listeners_t *h);

/* Reads the configuration at path and everything it names (keys, the authority's settings)
 * into a new generation, not yet holding the tenants' rows. before_secrets, if given, runs
 * once the file is read and before any secret it names is. With rotation, the steps due are
 * taken first (not under -t, which changes nothing) and the keys it made are added. Returns
 * 0, or an IDD_E* code with "FILE:LINE: why" in err. Main thread only. */
int idd_gen_load(const char *path, bool test_only,
                 int (*before_secrets)(idd_config_t *, char *, size_t), idd_gen_t **out, char *err,
                 size_t errlen);

/* Opens the database, applies migrations and records the configured tenants, keeping each
 * tenant's row (its password salt) in g->tenants. Returns 0, or an IDD_E* code with err. */
int idd_gen_prepare_store(idd_gen_t *g, char *err, size_t errlen);

/* The HTTP layer's reload hook (SIGHUP) and idle hook (between signals); p is the app. */
void idd_reload_hook(void *p);
int idd_reload_idle_hook(void *p);

#endif
