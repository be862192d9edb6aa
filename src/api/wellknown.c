/*
 * GET /.well-known/jwks.json: the public keys consumers verify identityd's tokens with.
 * The document and its entity tag are made once when the keys load; this handler only sends
 * them, or 304 when the consumer's copy is current.
 */
#include "identityd/api/api.h"

#include <string.h>

#include "identityd/core/buf.h"
#include "identityd/core/jwa.h"
#include "identityd/http/conditional.h"
#include "identityd/http/respond.h"

void idd_api_jwks(idd_request_t *r, idd_principal_t *p)
{
    (void)p;
    size_t len = 0, etag_len = 0;
    const char *jwks = idd_keyring_jwks(r->gen->keyring, &len);
    const char *etag = idd_keyring_jwks_etag(r->gen->keyring, &etag_len);
    /* Public material that changes only with the configuration: consumers may cache it for
     * jwks.max_age seconds, so that a key rotation reaches them within that time, and then
     * revalidate it cheaply with If-None-Match. */
    idd_http_cacheable(r->req, r->gen->cfg->jwks_max_age, etag, etag_len);
    if (idd_http_if_none_match(r->req, etag, etag_len)) {
        idd_http_not_modified(r->req);
        return;
    }
    idd_respond_json(r->req, 200, jwks, len);
}

/* Appends the JSON string of base + path (path: plain ASCII that needs no escaping). */
static void json_url(idd_buf_t *b, h2o_iovec_t base, const char *path)
{
    idd_buf_json_str(b, base.base, base.len);
    b->len--; /* reopen the string after the escaped base */
    idd_buf_puts(b, path);
    idd_buf_putc(b, '"');
}

/*
 * GET /.well-known/openid-configuration: where a consumer of this tenant's tokens finds the
 * keys (OpenID Connect Discovery 1.0, the parts identityd serves). The issuer is the tenant's
 * URL, as tokens minted for this request would carry it in iss; nothing is listed that
 * identityd does not serve (no authorization or userinfo endpoint).
 */
void idd_api_openid_configuration(idd_request_t *r, idd_principal_t *p)
{
    (void)p;
    static const char token_path[] = "/api/2.0/security/oauth2/token";
    static const char jwks_path[] = "/.well-known/jwks.json";
    const h2o_iovec_t issuer = r->tenant_url;
    const unsigned algs = idd_keyring_jwks_algs(r->gen->keyring);
    idd_buf_t b;
    idd_buf_init(&b);
    idd_buf_reserve(&b, 3 * issuer.len + 256);
    idd_buf_puts(&b, "{\"issuer\":");
    json_url(&b, issuer, "");
    idd_buf_puts(&b, ",\"jwks_uri\":");
    json_url(&b, issuer, jwks_path);
    idd_buf_puts(&b, ",\"token_endpoint\":");
    json_url(&b, issuer, token_path);
    idd_buf_puts(&b, ",\"id_token_signing_alg_values_supported\":[");
    int first = 1;
    for (int alg = 0; alg < IDD_ALG_COUNT; alg++) {
        if ((algs & IDD_JWA_BIT(alg)) == 0)
            continue;
        if (!first)
            idd_buf_putc(&b, ',');
        idd_buf_json_str(&b, idd_alg_name((idd_alg_t)alg), strlen(idd_alg_name((idd_alg_t)alg)));
        first = 0;
    }
    idd_buf_puts(&b, "]}");
    idd_http_cacheable(r->req, r->gen->cfg->jwks_max_age, NULL, 0);
    idd_respond_json(r->req, 200, b.data, b.len);
    idd_buf_dispose(&b);
}
