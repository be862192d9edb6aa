/*
 * Replacing an outdated password record after a sign-in proved the password (see
 * record_upgrade.h). The new record is made on the event loop (one HMAC) and written like
 * the other writes nobody waits for (auth/storeread.h): inline for SQLite, on the store pool
 * for PostgreSQL. Once per user, no more than the session a sign-in writes anyway.
 */
#include "auth/record_upgrade.h"

#include <stdlib.h>

#include "identityd/auth/storeread.h"
#include "identityd/core/common.h"
#include "identityd/core/ct.h"
#include "identityd/core/log.h"

typedef struct upgrade {
    char user_id[IDD_GUID_LEN + 1];
    char old[IDD_PASSWORD_RECORD_MAX + 1];   /* secret */
    char fresh[IDD_PASSWORD_RECORD_MAX + 1]; /* secret */
} upgrade_t;

static int upgrade_write(idd_store_t *store, void *arg)
{
    upgrade_t *u = arg;
    int rc = idd_store_user_upgrade_password(store, u->user_id, u->old, u->fresh);
    if (rc == 0)
        idd_log_info("signin: password record of user %s stored the current way", u->user_id);
    else if (rc == IDD_ENOTFOUND)
        idd_log_debug("signin: password record of user %s changed meanwhile; left as it is",
                      u->user_id);
    else
        idd_log_warn("signin: cannot upgrade the password record of user %s: %s", u->user_id,
                     idd_strerror(rc));
    return 0;
}

static void upgrade_release(void *arg)
{
    idd_wipe(arg, sizeof(upgrade_t));
    free(arg);
}

void idd_signin_upgrade_record(idd_app_t *app, idd_store_t *loop_store, const idd_pepper_t *pepper,
                               const char *user_id, const char *record, const char *client_hash)
{
    unsigned iterations = 0;

    if (!idd_password_record_outdated(record))
        return;
    upgrade_t *u = idd_xcalloc(1, sizeof(*u));
    /* The client hash was derived with the record's iterations, so the new record keeps
     * them: only a password change can move a user to password.iterations. */
    int rc = idd_password_record_iterations(record, &iterations);
    if (rc == 0)
        rc = idd_password_record_make(pepper, client_hash, iterations, u->fresh, sizeof u->fresh);
    if (rc == 0 &&
        (snprintf(u->user_id, sizeof u->user_id, "%s", user_id) >= (int)sizeof u->user_id ||
         snprintf(u->old, sizeof u->old, "%s", record) >= (int)sizeof u->old))
        rc = IDD_EINVAL;
    if (rc != 0) {
        idd_log_warn("signin: cannot upgrade the password record of user %s: %s", user_id,
                     idd_strerror(rc));
        upgrade_release(u);
        return;
    }
    idd_store_later(app, loop_store, upgrade_write, u, upgrade_release, "password record");
}
