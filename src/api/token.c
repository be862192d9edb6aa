/*
 * GET /api/2.0/security/oauth2/token: the login-to-identity token. Any principal whose
 * scopes include *:read (or *:write) gets a fresh JWT with DocSpace's claims for its user
 * and the tenant the request addressed, wrapped in the StringWrapper envelope.
 */
#include <string.h>

#include "identityd/core/common.h"
#include "identityd/api/api.h"
#include "identityd/auth/auth.h"
#include "identityd/core/log.h"
#include "identityd/http/respond.h"

void idd_api_token(idd_request_t *r, idd_principal_t *p)
{
    const idd_user_t *u = &p->user;
    int64_t now = idd_now();
    idd_claims_t claims = {
        .user_id = u->id,
        .first_name = u->first_name,
        .last_name = u->last_name,
        .email = u->email,
        .tenant_id = r->tenant->id,
        .tenant_url = r->tenant_url.base,
        .is_admin = u->role == IDD_ROLE_ADMIN,
        .is_guest = u->role == IDD_ROLE_GUEST,
        /* DocSpace: "true" unless the tenant limits developer access; identityd has no
         * such limit. */
        .is_public = true,
        .iat = now,
        .exp = now + r->gen->cfg->token_ttl,
    };
    /* The response value is the token as a JSON string: base64url and dots need no
     * escaping, so the quotes are written around it directly. */
    idd_buf_t b;
    idd_buf_init(&b);
    /* An ES256 token with DocSpace's claims is under 1 KiB: one allocation, no regrowth. */
    idd_buf_reserve(&b, 1024);
    idd_buf_putc(&b, '"');
    bool own_signer = false;
    idd_signer_t *signer = idd_request_signer(r, &own_signer);
    int rc = signer != NULL ? idd_signer_mint(signer, &claims, &b) : IDD_ECRYPTO;
    if (own_signer)
        idd_signer_free(signer);
    if (rc != 0) {
        idd_buf_dispose(&b);
        idd_log_error("token: signing failed for user %s", u->id);
        idd_respond_error(r->req, 500, "Token signing failed");
        return;
    }
    idd_buf_putc(&b, '"');
    atomic_fetch_add(&r->app->tokens_minted, 1);
    if (r->thread->metrics != NULL) {
        const idd_key_t *key = idd_signer_key(r->thread->signer);
        int slot = idd_metrics_key_slot(&r->app->minted_keys, key->kid, key->alg);
        idd_metrics_add(&r->thread->metrics->tokens[slot], 1);
    }
    idd_respond_envelope(r->req, r->origin, 200, b.data, b.len, 1);
    idd_buf_dispose(&b);
}
