/*
 * GET /.well-known/jwks.json: the public keys consumers verify identityd's tokens with.
 * The document is rendered once when the keys load; this handler only sends it.
 */
#include "identityd/api/api.h"
#include "identityd/http/respond.h"

void idd_api_jwks(idd_request_t *r, idd_principal_t *p)
{
    (void)p;
    size_t len = 0;
    const char *jwks = idd_keyring_jwks(r->gen->keyring, &len);
    /* Public material that changes only with the configuration: let consumers cache it
     * briefly, so a key rotation reaches them within minutes. */
    h2o_add_header(&r->req->pool, &r->req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                   H2O_STRLIT("public, max-age=300"));
    idd_respond_json(r->req, 200, jwks, len);
}
