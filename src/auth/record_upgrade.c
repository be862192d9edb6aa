/*
 * Replacing an outdated password record after a sign-in proved the password (see
 * record_upgrade.h). It runs on the event loop: one HMAC and one conditional UPDATE, once
 * per user, no more than the session a sign-in writes anyway.
 */
#include "auth/record_upgrade.h"

#include "identityd/core/common.h"
#include "identityd/core/ct.h"
#include "identityd/core/log.h"

void idd_signin_upgrade_record(idd_store_t *store, const idd_pepper_t *pepper, const char *user_id,
                               const char *record, const char *client_hash)
{
    char fresh[IDD_PASSWORD_RECORD_MAX + 1];
    unsigned iterations = 0;
    int rc;

    if (!idd_password_record_outdated(record))
        return;
    /* The client hash was derived with the record's iterations, so the new record keeps
     * them: only a password change can move a user to password.iterations. */
    rc = idd_password_record_iterations(record, &iterations);
    if (rc == 0)
        rc = idd_password_record_make(pepper, client_hash, iterations, fresh, sizeof fresh);
    if (rc == 0)
        rc = idd_store_user_upgrade_password(store, user_id, record, fresh);
    idd_wipe(fresh, sizeof fresh);
    if (rc == 0)
        idd_log_info("signin: password record of user %s stored the current way", user_id);
    else if (rc == IDD_ENOTFOUND)
        idd_log_debug("signin: password record of user %s changed meanwhile; left as it is",
                      user_id);
    else
        idd_log_warn("signin: cannot upgrade the password record of user %s: %s", user_id,
                     idd_strerror(rc));
}
