/*
 * What the configuration suites share: a temporary folder per test, and loading a minimal
 * configuration (one tenant, one key, the pepper file named) followed by the text under test.
 * Include it once per suite; it defines static functions.
 */
#ifndef IDD_CONFIG_TEST_H
#define IDD_CONFIG_TEST_H

#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "identityd/config/config.h"
#include "identityd/core/common.h"

static char tmpdir[PATH_MAX];

static void setup(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "%s/idd-config-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown(void)
{
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
}

#define MINIMAL                                                                                    \
    "password:\n  pepper_file: pepper\n"                                                           \
    "tenants:\n  - id: 1\n    name: one\n    domains: [one.example]\n"                             \
    "keys:\n  - kid: k1\n    alg: ES256\n    file: k1.pem\n"

/* Loads MINIMAL followed by extra; returns the configuration, or NULL with err set. */
static idd_config_t *load(const char *extra, char *err, size_t errlen)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/identityd.yaml", tmpdir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(MINIMAL, f);
    fputs(extra, f);
    ck_assert_int_eq(fclose(f), 0);
    idd_config_t *cfg = NULL;
    err[0] = '\0';
    int rc = idd_config_load(path, &cfg, err, errlen);
    ck_assert(rc == 0 ? cfg != NULL : cfg == NULL);
    return cfg;
}

#endif
