/*
 * Signing keys identityd rotates itself (rotation: in the configuration). The schedule, for a
 * key K that starts signing at time A, with every = rotation.every and wait = jwks.max_age:
 *   A + every - wait   the next key N is made and published (pending): in the JWKS, not
 *                      signing, so that consumers fetch it before it signs;
 *   A + every          N signs; K drains: still in the JWKS for token.ttl, since tokens it
 *                      signed are still live;
 *   A + every + ttl    K is retired.
 * The rows in the database (store.h: signing keys) say where each key is, and every step is a
 * conditional write, so that restarts and several instances on one database agree. The
 * private keys are files in rotation.dir, named after their kid.
 */
#ifndef IDENTITYD_TOKEN_ROTATION_H
#define IDENTITYD_TOKEN_ROTATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "identityd/config/config.h"
#include "identityd/store/store.h"

typedef enum {
    IDD_ROT_NONE,      /* nothing is due */
    IDD_ROT_BOOTSTRAP, /* no key at all: make one that signs at once */
    IDD_ROT_PREPARE,   /* make and publish the next key */
    IDD_ROT_ACTIVATE,  /* the pending key (subject) signs from now */
    IDD_ROT_RETIRE,    /* a draining key's last token has expired */
} idd_rot_action_t;

/* The step due at now for the rows keys[0..n) (any order). For ACTIVATE, *subject is the
 * pending key; *when receives the time a PREPARE'd key may sign (its activate_at). Pure:
 * what the schedule above says, nothing more. */
idd_rot_action_t idd_rotation_plan(const idd_signing_key_t *keys, size_t n, int64_t now, int every,
                                   int wait, const idd_signing_key_t **subject, int64_t *when);

/* Takes every step due now through store, making key files in cfg->rotation_dir when a step
 * needs one, and logs each. A step another instance took first is not an error. Returns 0 or
 * an IDD_E* code (logged). */
int idd_rotation_run(idd_store_t *store, const idd_config_t *cfg, int64_t now);

/* Appends the keys of the rows (active as active, pending and draining as published, retired
 * left out) to cfg->keys, their files in cfg->rotation_dir, and writes "kid:state,..." into
 * print (what a later check compares to see whether another instance moved on). With cfg
 * NULL only print is written. Returns 0 or an IDD_E* code. */
int idd_rotation_keys(idd_store_t *store, idd_config_t *cfg, char *print, size_t print_len);

/* The schema version that has the signing_keys table (migrations/0005). */
#define IDD_SIGNING_KEYS_SCHEMA 5

/* For a configuration with rotation (nothing otherwise): opens cfg->database and, unless
 * read_only, migrates it and takes the steps due at now (idd_rotation_run); then adds the
 * keys of the rows to cfg (idd_rotation_keys). read_only is for identityd -t and identityctl:
 * a database that does not exist yet, or has no signing keys table, adds nothing. Returns 0,
 * or an IDD_E* code with "FILE:LINE: why" in err. */
int idd_rotation_load(idd_config_t *cfg, bool read_only, int64_t now, char *print, size_t print_len,
                      char *err, size_t errlen);

#endif
