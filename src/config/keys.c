/*
 * The keys: list of identityd's configuration: each item is loaded through the key table,
 * then the rules across its fields (HS256 takes a machine key, the others a PEM file) and
 * across keys (a kid once, exactly one active key) are checked. The files named here are
 * read later, by the keyring (src/token/keyring.c).
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "identityd/config/config.h"
#include "identityd/core/jwa.h"
#include "sections.h"
#include "table.h"

_Static_assert(sizeof(idd_alg_t) == sizeof(int), "enums are stored as int");
_Static_assert(sizeof(idd_key_state_t) == sizeof(int), "enums are stored as int");

static const char *const state_names[] = {"active", "published", "retired", NULL};

static const char *check_kid(const char *v)
{
    static const char allowed[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-";
    size_t len = strlen(v);
    if (len > 64 || strspn(v, allowed) != len)
        return "is not a valid kid (1 to 64 of A-Z a-z 0-9 . _ -)";
    return NULL;
}

#define KEY(f) offsetof(idd_key_config_t, f)
enum { K_KID, K_ALG, K_FILE, K_MACHINE_KEY, K_MACHINE_KEY_FILE, K_STATE };
/* One row per key; clang-format would put one field per line. */
/* clang-format off */
static const entry_t key_entries[] = {
    [K_KID] = {.name = "kid", .type = T_STRING, .flags = F_REQUIRED, .offset = KEY(kid),
               .check = check_kid},
    /* Only the algorithms identityd signs with: the first names of the table. */
    [K_ALG] = {.name = "alg", .type = T_ENUM, .flags = F_REQUIRED, .offset = KEY(alg),
               .names = idd_alg_names, .max = IDD_ALG_SIGNING_LAST},
    [K_FILE] = {.name = "file", .type = T_PATH, .offset = KEY(file),
                .line_offset = KEY(file_line)},
    [K_MACHINE_KEY] = {.name = "machine_key", .type = T_STRING, .flags = F_SENSITIVE,
                       .offset = KEY(machine_key), .check = tbl_check_no_control},
    [K_MACHINE_KEY_FILE] = {.name = "machine_key_file", .type = T_PATH,
                            .offset = KEY(machine_key_file),
                            .line_offset = KEY(machine_key_file_line)},
    [K_STATE] = {.name = "state", .type = T_ENUM, .dflt = "active", .offset = KEY(state),
                 .names = state_names},
};
/* clang-format on */
_Static_assert(IDD_ARRAY_LEN(key_entries) <= TBL_MAX_ENTRIES, "seen[] too short");

/* Rules across the fields of one key, and across keys (unique kid, one active key). */
static int check_key(loader_t *L, const idd_key_config_t *k, const int *seen, const char *shown)
{
    const idd_config_t *cfg = CONFIG_STATE(L)->cfg;
    if (k->alg == IDD_ALG_HS256) {
        if (k->file != NULL)
            return tbl_fail(L, seen[K_FILE],
                            "%sfile: key '%s' is HS256, which takes machine_key "
                            "or machine_key_file instead",
                            shown, k->kid);
        if (k->machine_key != NULL && k->machine_key_file != NULL)
            return tbl_fail(L, seen[K_MACHINE_KEY_FILE],
                            "key '%s': give either machine_key or "
                            "machine_key_file, not both",
                            k->kid);
        if (k->machine_key == NULL && k->machine_key_file == NULL)
            return tbl_fail(L, k->line, "key '%s': HS256 needs machine_key or machine_key_file",
                            k->kid);
    } else {
        if (k->file == NULL)
            return tbl_fail(L, k->line, "key '%s': %s needs 'file' (a PEM private key)", k->kid,
                            idd_alg_name(k->alg));
        if (k->machine_key != NULL || k->machine_key_file != NULL)
            return tbl_fail(L, seen[k->machine_key ? K_MACHINE_KEY : K_MACHINE_KEY_FILE],
                            "key '%s': machine_key and machine_key_file are only for HS256",
                            k->kid);
    }
    for (size_t i = 0; i + 1 < cfg->n_keys; i++) {
        const idd_key_config_t *o = &cfg->keys[i];
        if (strcmp(o->kid, k->kid) == 0)
            return tbl_fail(L, seen[K_KID], "%skid: '%s' is already used at line %d", shown, k->kid,
                            o->line);
        if (o->state == IDD_KEY_ACTIVE && k->state == IDD_KEY_ACTIVE)
            return tbl_fail(L, seen[K_STATE] ? seen[K_STATE] : k->line,
                            "key '%s': a second active key ('%s' at line %d is active); exactly "
                            "one key signs, mark the others 'published'",
                            k->kid, o->kid, o->line);
    }
    return 0;
}

int config_keys_parse(loader_t *L, yaml_node_t *node, void *base, const char *name)
{
    idd_config_t *cfg = base;
    yaml_node_item_t *it, *end;
    int rc = tbl_list(L, node, name, &it, &end);
    CONFIG_STATE(L)->keys_line = tbl_line(node);
    for (; rc == 0 && it < end; it++) {
        yaml_node_t *item = tbl_node(L, *it);
        idd_key_config_t *k = TBL_APPEND(cfg->keys, cfg->n_keys);
        k->line = tbl_line(item);
        char shown[64];
        int seen[TBL_MAX_ENTRIES];
        snprintf(shown, sizeof(shown), "%s[%zu].", name, cfg->n_keys - 1);
        rc = tbl_load(L, key_entries, IDD_ARRAY_LEN(key_entries), k, item, shown, k->line, seen);
        if (rc == 0)
            rc = check_key(L, k, seen, shown);
    }
    return rc;
}

void config_keys_free(idd_config_t *cfg)
{
    for (size_t i = 0; i < cfg->n_keys; i++)
        tbl_free(key_entries, IDD_ARRAY_LEN(key_entries), &cfg->keys[i]);
    free(cfg->keys);
    cfg->keys = NULL;
    cfg->n_keys = 0;
}
