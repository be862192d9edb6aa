/*
 * Keeping stored passwords the current way (cred/password.h): a record of an older version
 * still verifies, and the first sign-in that proves the password stores it anew. Private to
 * src/auth/ (signin.c).
 */
#ifndef IDENTITYD_AUTH_RECORD_UPGRADE_H
#define IDENTITYD_AUTH_RECORD_UPGRADE_H

#include "identityd/app/app.h"
#include "identityd/cred/password.h"
#include "identityd/store/store.h"

/* After a sign-in whose client_hash matched record, the user's stored record: when record
 * is of an older version, stores a record of the current version for the same client hash
 * and iterations, replacing record only if it is still the stored one. Sessions, the
 * user's auth_version and cached Basic credentials stay valid. Nothing is written for a
 * current record, so a user's record is written once, not at every sign-in. A failure is
 * logged and leaves the old record, which goes on working: the sign-in succeeds anyway. The
 * write is one nobody waits for (auth/storeread.h: idd_store_later, with loop_store for
 * SQLite). */
void idd_signin_upgrade_record(idd_app_t *app, idd_store_t *loop_store, const idd_pepper_t *pepper,
                               const char *user_id, const char *record, const char *client_hash);

#endif
