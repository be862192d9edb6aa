/*
 * Two-factor sign-in's backup codes (DocSpace's login-surface reference §5.8):
 *   GET  /api/2.0/settings/tfaappcodes        the caller's backup codes
 *   PUT  /api/2.0/settings/tfaappnewcodes     new backup codes
 * The other two-factor endpoints are in api/tfa.c; the rules in auth/tfa.c.
 */
#include <stdlib.h>
#include <string.h>

#include "identityd/api/api.h"
#include "identityd/auth/storeread.h"
#include "identityd/auth/tfa.h"
#include "identityd/core/buf.h"
#include "identityd/core/common.h"
#include "identityd/core/ct.h"
#include "identityd/core/log.h"
#include "identityd/http/respond.h"

#define NOT_AVAILABLE "TFA application settings are not available" /* as api/tfa.c says it */

/* Answers with the codes ([{isUsed, code}] x 5) and wipes them. */
static void respond_codes(idd_request_t *r, idd_tfa_codes_t *codes)
{
    idd_buf_t b;
    idd_buf_init(&b);
    idd_buf_putc(&b, '[');
    for (int i = 0; i < IDD_TFA_CODE_COUNT; i++) {
        idd_buf_puts(&b, i ? ",{\"isUsed\":" : "{\"isUsed\":");
        idd_buf_puts(&b, codes->used[i] ? "true" : "false");
        idd_buf_puts(&b, ",\"code\":\"");
        idd_buf_puts(&b, codes->code[i]); /* the alphabet needs no escaping */
        idd_buf_puts(&b, "\"}");
    }
    idd_buf_putc(&b, ']');
    idd_wipe(codes, sizeof(*codes));
    idd_respond_envelope(r->req, r->origin, 200, b.data, b.len, IDD_TFA_CODE_COUNT);
    idd_buf_dispose_secret(&b);
}

/* The caller's backup codes: read (and, for new ones, replaced) in one load, when the
 * tenant has two-factor sign-in on and the caller has linked an app. */
typedef struct codes_job {
    int64_t tenant_id;
    char user_id[IDD_GUID_LEN + 1];
    const idd_pepper_t *pepper; /* the app's: read-only for the process's life */
    bool renew;                 /* make new codes */
    bool linked;                /* two-factor sign-in on and an app linked */
    idd_tfa_t b;
    idd_tfa_codes_t codes; /* the new ones */
} codes_job_t;

static int codes_load(idd_store_t *store, void *arg)
{
    codes_job_t *j = arg;
    idd_tenant_tfa_t t;
    int rc = idd_store_tenant_tfa_get(store, j->tenant_id, &t);
    if (rc == 0)
        rc = idd_store_tfa_get(store, j->user_id, &j->b);
    j->linked = rc == 0 && t.enabled && j->b.codes[0] != '\0';
    if (!j->linked)
        return rc == IDD_ENOTFOUND ? 0 : rc;
    if (!j->renew)
        return 0;
    char sealed[IDD_TFA_RECORD_MAX];
    rc = idd_tfa_codes_new(&j->codes);
    if (rc == 0)
        rc = idd_tfa_seal_codes(j->pepper, j->user_id, &j->codes, sealed, sizeof(sealed));
    if (rc == 0)
        rc = idd_store_tfa_set_codes(store, j->user_id, j->b.codes, sealed, idd_now());
    idd_wipe(sealed, sizeof(sealed));
    return rc;
}

/* Answers 403 (or 503) unless the caller's app is linked; returns whether it answered. */
static bool codes_refused(idd_request_t *r, const codes_job_t *j, int rc)
{
    if (j->linked)
        return false;
    if (rc != 0)
        idd_respond_error(r->req, 503, "Service unavailable");
    else
        idd_respond_error(r->req, 403, NOT_AVAILABLE);
    return true;
}

static void codes_read(idd_request_t *r, void *arg, int rc)
{
    codes_job_t *j = arg;
    idd_tfa_codes_t codes;
    if (codes_refused(r, j, rc))
        return;
    rc = idd_tfa_open_codes(j->pepper, j->user_id, j->b.codes, &codes);
    if (rc != 0) {
        idd_log_error("tfa: backup codes of user %s: %s", j->user_id, idd_strerror(rc));
        idd_respond_error(r->req, 503, "Service unavailable");
        return;
    }
    respond_codes(r, &codes);
}

static void codes_renewed(idd_request_t *r, void *arg, int rc)
{
    codes_job_t *j = arg;
    if (codes_refused(r, j, rc))
        return;
    if (rc != 0) {
        /* IDD_EDENIED: a code was spent meanwhile; the caller may ask again. */
        idd_respond_error(r->req, rc == IDD_EDENIED ? 409 : 503,
                          rc == IDD_EDENIED ? "The backup codes changed meanwhile: try again"
                                            : "Service unavailable");
        return;
    }
    idd_log_info("user %s made new backup codes", j->user_id);
    respond_codes(r, &j->codes);
}

static void codes_release(void *arg)
{
    idd_wipe(arg, sizeof(codes_job_t));
    free(arg);
}

static void codes_start(idd_request_t *r, const idd_principal_t *p, bool renew,
                        idd_store_resume_fn resume)
{
    codes_job_t *j = idd_xcalloc(1, sizeof(*j));
    j->tenant_id = r->tenant->id;
    memcpy(j->user_id, p->user.id, sizeof(j->user_id));
    j->pepper = &r->app->pepper;
    j->renew = renew;
    idd_store_read(r, codes_load, resume, j, codes_release);
}

void idd_api_tfa_codes(idd_request_t *r, idd_principal_t *p)
{
    codes_start(r, p, false, codes_read);
}

void idd_api_tfa_new_codes(idd_request_t *r, idd_principal_t *p)
{
    codes_start(r, p, true, codes_renewed);
}
